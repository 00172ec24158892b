//! Consent to share medical information (閲覧同意): per person, per institution, per category,
//! given at the card reader after the person proved who they are, valid 24 hours.

use crate::date::{Date, Timestamp};
use crate::ids::InstitutionCode;

/// How long a consent lasts.
pub const CONSENT_VALIDITY_MS: i64 = 24 * 60 * 60 * 1000;

/// What a consent covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ConsentCategory {
    /// 薬剤情報 (`PharmacistsInfoConsFlg`).
    Medications,
    /// 診療情報 (`DiagnosisInfoConsFlg`; procedures and tests, never diagnoses).
    Treatments,
    /// 手術情報 (`OperationInfoConsFlg`).
    Surgeries,
    /// 特定健診情報 (`SpecificHealthCheckupsInfoConsFlg`); offered from age 40.
    Checkups,
    /// 限度額適用認定証・特定疾病療養受療証の情報 (`LimitApplicationCertificateRelatedConsFlg`).
    Limit,
}

impl ConsentCategory {
    pub const ALL: [ConsentCategory; 5] = [
        Self::Medications,
        Self::Treatments,
        Self::Surgeries,
        Self::Checkups,
        Self::Limit,
    ];
    pub fn code(self) -> &'static str {
        match self {
            Self::Medications => "medications",
            Self::Treatments => "treatments",
            Self::Surgeries => "surgeries",
            Self::Checkups => "checkups",
            Self::Limit => "limit",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Self::Medications => "薬剤情報",
            Self::Treatments => "診療情報",
            Self::Surgeries => "手術情報",
            Self::Checkups => "特定健診情報",
            Self::Limit => "限度額情報",
        }
    }
    /// The OQS result element that carries this category's flag.
    pub fn oqs_flag_element(self) -> &'static str {
        match self {
            Self::Medications => "PharmacistsInfoConsFlg",
            Self::Treatments => "DiagnosisInfoConsFlg",
            Self::Surgeries => "OperationInfoConsFlg",
            Self::Checkups => "SpecificHealthCheckupsInfoConsFlg",
            Self::Limit => "LimitApplicationCertificateRelatedConsFlg",
        }
    }
    pub fn parse(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.code() == code)
    }
    /// Whether the reader offers this category to a person born on `birthdate`, on `on`
    /// (特定健診 covers ages 40–74, so its consent screen appears from 40).
    pub fn offered_to(self, birthdate: Date, on: Date) -> bool {
        self != Self::Checkups || birthdate.age_on(on) >= 40
    }
}

/// One consent as given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consent {
    /// The person's agency pseudonym (consents are given with the card).
    pub person: String,
    pub institution: InstitutionCode,
    pub category: ConsentCategory,
    pub given_at: Timestamp,
    pub expires_at: Timestamp,
}

impl Consent {
    /// A consent given at `at`, valid 24 hours.
    pub fn given(
        person: &str,
        institution: &InstitutionCode,
        category: ConsentCategory,
        at: Timestamp,
    ) -> Self {
        Self {
            person: person.to_string(),
            institution: institution.clone(),
            category,
            given_at: at,
            expires_at: Timestamp::from_unix_millis(at.unix_millis() + CONSENT_VALIDITY_MS),
        }
    }
}

/// Where a category's consent stands (OQS flag `0` 同意なし / `1` 同意あり / `2` 有効期限切れ).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsentState {
    None,
    Valid {
        given_at: Timestamp,
        expires_at: Timestamp,
    },
    Expired {
        given_at: Timestamp,
        expires_at: Timestamp,
    },
}

impl ConsentState {
    /// From the latest consent of one person, institution and category (if any), at `now`.
    pub fn of(latest: Option<&Consent>, now: Timestamp) -> Self {
        match latest {
            None => Self::None,
            Some(c) if now < c.expires_at && now >= c.given_at => Self::Valid {
                given_at: c.given_at,
                expires_at: c.expires_at,
            },
            Some(c) if now >= c.expires_at => Self::Expired {
                given_at: c.given_at,
                expires_at: c.expires_at,
            },
            // Given "in the future" (a clock step): not valid yet.
            Some(_) => Self::None,
        }
    }
    /// The OQS flag value.
    pub fn flag(self) -> &'static str {
        match self {
            Self::None => "0",
            Self::Valid { .. } => "1",
            Self::Expired { .. } => "2",
        }
    }
    pub fn is_valid(self) -> bool {
        matches!(self, Self::Valid { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inst() -> InstitutionCode {
        InstitutionCode::parse("0110113719").unwrap()
    }

    #[test]
    fn a_consent_lasts_24_hours() {
        let t0 = Timestamp::from_unix_millis(1_795_480_200_000);
        let c = Consent::given("p", &inst(), ConsentCategory::Medications, t0);
        let at = |ms: i64| Timestamp::from_unix_millis(t0.unix_millis() + ms);
        for (offset, flag) in [
            (-1, "0"),
            (0, "1"),
            (CONSENT_VALIDITY_MS - 1, "1"),
            (CONSENT_VALIDITY_MS, "2"),
            (10 * CONSENT_VALIDITY_MS, "2"),
        ] {
            assert_eq!(
                ConsentState::of(Some(&c), at(offset)).flag(),
                flag,
                "{offset}"
            );
        }
        assert_eq!(ConsentState::of(None, t0).flag(), "0");
    }

    #[test]
    fn checkups_are_offered_from_forty() {
        let d = |s: &str| Date::parse(s).unwrap();
        let on = d("20261124");
        assert!(!ConsentCategory::Checkups.offered_to(d("19861125"), on));
        assert!(ConsentCategory::Checkups.offered_to(d("19861124"), on));
        assert!(ConsentCategory::Medications.offered_to(d("20200101"), on));
    }

    #[test]
    fn codes_round_trip() {
        for c in ConsentCategory::ALL {
            assert_eq!(ConsentCategory::parse(c.code()), Some(c));
        }
        assert_eq!(ConsentCategory::parse("diagnoses"), None);
    }
}
