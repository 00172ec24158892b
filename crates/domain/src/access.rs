//! Access-log entries: every read of personal data leaves one, written before the answer.

use crate::consent::ConsentCategory;
use crate::date::{Date, Timestamp};
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
    /// Viewing 薬剤・診療・手術・特定健診 information (the entry's `information` says which).
    MedicalInformation,
    /// Consents given on the reader's screens after a card check (画面④⑥).
    ConsentRegistration,
    /// 資格確認 by insurance numbers within a 一括照会 (batch inquiry, e.g. for appointments).
    EligibilityBatch,
    /// 照会番号 registration: the institution stored its own patient id for the person.
    ReferenceRegistration,
    /// 災害時: the person was found without a card, by the 4 attributes or numbers.
    EmergencyCheck,
}

impl AccessPurpose {
    pub fn code(self) -> &'static str {
        match self {
            Self::EligibilityByNumbers => "eligibility_by_numbers",
            Self::EligibilityByCard => "eligibility_by_card",
            Self::CardRegistration => "card_registration",
            Self::MedicalInformation => "medical_information",
            Self::ConsentRegistration => "consent_registration",
            Self::EligibilityBatch => "eligibility_batch",
            Self::ReferenceRegistration => "reference_registration",
            Self::EmergencyCheck => "emergency_check",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Self::EligibilityByNumbers => "資格確認（保険証情報）",
            Self::EligibilityByCard => "資格確認（マイナンバーカード）",
            Self::CardRegistration => "マイナ保険証の利用登録",
            Self::MedicalInformation => "診療・薬剤・健診情報の閲覧",
            Self::ConsentRegistration => "閲覧同意の登録",
            Self::EligibilityBatch => "資格確認（一括照会）",
            Self::ReferenceRegistration => "照会番号の登録",
            Self::EmergencyCheck => "災害時の資格確認",
        }
    }
    pub fn parse(code: &str) -> Option<Self> {
        [
            Self::EligibilityByNumbers,
            Self::EligibilityByCard,
            Self::CardRegistration,
            Self::MedicalInformation,
            Self::ConsentRegistration,
            Self::EligibilityBatch,
            Self::ReferenceRegistration,
            Self::EmergencyCheck,
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
    /// Medical information was shown: this many items (drug lines, treatments, checkups).
    Disclosed(u32),
}

impl AccessResult {
    pub fn code(&self) -> String {
        match self {
            Self::Answered(v) => format!("validity:{}", v.code()),
            Self::Refused(code) => format!("refused:{code}"),
            Self::Registered => "registered".into(),
            Self::Disclosed(n) => format!("disclosed:{n}"),
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        if let Some(v) = s.strip_prefix("validity:") {
            return Validity::parse(v).map(Self::Answered);
        }
        if let Some(code) = s.strip_prefix("refused:") {
            return Some(Self::Refused(code.to_string()));
        }
        if let Some(n) = s.strip_prefix("disclosed:") {
            return n.parse().ok().map(Self::Disclosed);
        }
        (s == "registered").then_some(Self::Registered)
    }
}

/// On what ground medical information was shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AccessBasis {
    /// The patient's consent at the card reader (閲覧同意).
    Consent,
    /// 災害時モード: emergency access without consent.
    Emergency,
    /// Identity checked by staff (目視確認) rather than PIN or face.
    Visual,
}

impl AccessBasis {
    pub fn code(self) -> &'static str {
        match self {
            Self::Consent => "consent",
            Self::Emergency => "emergency",
            Self::Visual => "visual",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Self::Consent => "本人同意",
            Self::Emergency => "災害時",
            Self::Visual => "目視確認",
        }
    }
    pub fn parse(code: &str) -> Option<Self> {
        [Self::Consent, Self::Emergency, Self::Visual]
            .into_iter()
            .find(|b| b.code() == code)
    }
}

/// What medical information a read asked for: the category, the period and the ground.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InformationAccess {
    pub category: ConsentCategory,
    pub from: Date,
    pub to: Date,
    pub basis: AccessBasis,
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
    /// For [`AccessPurpose::MedicalInformation`]: what was asked for (also on refusals).
    pub information: Option<InformationAccess>,
}
