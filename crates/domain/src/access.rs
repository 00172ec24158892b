//! Access-log entries: every read of personal data leaves one, written before the answer.

use crate::date::Timestamp;
use crate::ids::InstitutionCode;
use crate::validity::Validity;

/// Why personal data was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AccessPurpose {
    /// 資格確認 by insurance numbers (照会区分 2).
    EligibilityByNumbers,
    /// 資格確認 with the My Number card (照会区分 1).
    EligibilityByCard,
    /// 利用登録: the person registered their card for insurance use.
    CardRegistration,
}

impl AccessPurpose {
    pub fn code(self) -> &'static str {
        match self {
            Self::EligibilityByNumbers => "eligibility_by_numbers",
            Self::EligibilityByCard => "eligibility_by_card",
            Self::CardRegistration => "card_registration",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Self::EligibilityByNumbers => "資格確認（保険証情報）",
            Self::EligibilityByCard => "資格確認（マイナンバーカード）",
            Self::CardRegistration => "マイナ保険証の利用登録",
        }
    }
    pub fn parse(code: &str) -> Option<Self> {
        [
            Self::EligibilityByNumbers,
            Self::EligibilityByCard,
            Self::CardRegistration,
        ]
        .into_iter()
        .find(|p| p.code() == code)
    }
}

/// What the caller was told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessResult {
    /// An eligibility answer with this validity.
    Answered(Validity),
    /// The request was refused; the stable refusal code (e.g. `pin_signature_invalid`).
    Refused(String),
    /// A card registration (利用登録) was recorded.
    Registered,
}

impl AccessResult {
    pub fn code(&self) -> String {
        match self {
            Self::Answered(v) => format!("validity:{}", v.code()),
            Self::Refused(code) => format!("refused:{code}"),
            Self::Registered => "registered".into(),
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        if let Some(v) = s.strip_prefix("validity:") {
            return Validity::parse(v).map(Self::Answered);
        }
        if let Some(code) = s.strip_prefix("refused:") {
            return Some(Self::Refused(code.to_string()));
        }
        (s == "registered").then_some(Self::Registered)
    }
}

/// One access: who read whose data, when, why, and with what outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessLogEntry {
    pub at: Timestamp,
    pub institution: InstitutionCode,
    pub purpose: AccessPurpose,
    /// Store ids of the qualifications whose data was returned (or matched).
    pub qualification_ids: Vec<i64>,
    pub result: AccessResult,
    /// The processing-result code returned (stable, see the API).
    pub processing_code: String,
}
