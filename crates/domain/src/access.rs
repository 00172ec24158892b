//! Access-log entries: every read of personal data leaves one, written before the answer.

use crate::date::Timestamp;
use crate::ids::InstitutionCode;
use crate::validity::Validity;

/// Why personal data was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AccessPurpose {
    /// 資格確認 by insurance numbers (照会区分 2).
    EligibilityByNumbers,
}

impl AccessPurpose {
    pub fn code(self) -> &'static str {
        match self {
            Self::EligibilityByNumbers => "eligibility_by_numbers",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Self::EligibilityByNumbers => "資格確認（保険証情報）",
        }
    }
    pub fn parse(code: &str) -> Option<Self> {
        (code == "eligibility_by_numbers").then_some(Self::EligibilityByNumbers)
    }
}

/// What the caller was told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessResult {
    /// An eligibility answer with this validity.
    Answered(Validity),
}

impl AccessResult {
    pub fn code(&self) -> String {
        match self {
            Self::Answered(v) => format!("validity:{}", v.code()),
        }
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
