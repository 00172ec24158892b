//! Identity of a person in the card world: the 個人番号 (only ever in transit), the user-auth
//! certificate's life cycle, and which of the 基本4情報 disagree when a link is refused.

use crate::date::Date;
use crate::ids::IdError;
use crate::text::fold_width;
use std::fmt;

/// A 12-digit 個人番号 (My Number) with its check digit verified.
///
/// The central never stores one: it passes through roster imports on the way to the
/// authority's match service and is dropped. `Debug` masks all but the last 4 digits (what the
/// real system prints on notices), and there is no `Display`, so one cannot slip into a log line
/// by accident; [`IndividualNumber::expose`] is the deliberate way to read it.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IndividualNumber(String);

impl IndividualNumber {
    pub fn parse(raw: &str) -> Result<Self, IdError> {
        let s: String = raw
            .chars()
            .map(fold_width)
            .filter(|c| *c != ' ' && *c != '-')
            .collect();
        if s.is_empty() {
            return Err(IdError::Empty);
        }
        if !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(IdError::NotDigits);
        }
        if s.len() != 12 {
            return Err(IdError::Length {
                expected: "12",
                got: s.chars().count(),
            });
        }
        if individual_number_check_digit(&s[..11]) != Some(s.as_bytes()[11] - b'0') {
            return Err(IdError::CheckDigit);
        }
        Ok(Self(s))
    }

    /// Completes an 11-digit body with its check digit.
    pub fn from_body(body: &str) -> Result<Self, IdError> {
        let d = individual_number_check_digit(body).ok_or(IdError::Length {
            expected: "11",
            got: body.chars().count(),
        })?;
        Self::parse(&format!("{body}{d}"))
    }

    /// The 12 digits. Call only to hand the number to the authority.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The last 4 digits, as shown on insurers' notices and in the link review queue.
    pub fn last4(&self) -> &str {
        &self.0[8..]
    }
}

impl fmt::Debug for IndividualNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IndividualNumber(********{})", self.last4())
    }
}

/// The check digit of an 11-digit 個人番号 body (行政手続における特定の個人を識別するための番号の
/// 利用等に関する法律施行令 第8条): Pn is the n-th digit from the right, Qn = n+1 for n ≤ 6 and
/// n−5 for n ≥ 7; r = ΣPn·Qn mod 11; the digit is 0 when r ≤ 1, else 11 − r.
pub fn individual_number_check_digit(body: &str) -> Option<u8> {
    if body.len() != 11 || !body.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let sum: u32 = body
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let n = i as u32 + 1;
            let q = if n <= 6 { n + 1 } else { n - 5 };
            u32::from(b - b'0') * q
        })
        .sum();
    let r = sum % 11;
    Some(if r <= 1 { 0 } else { (11 - r) as u8 })
}

/// One of the 基本4情報 (and the number itself) that the authority compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Attribute {
    /// No resident has this 個人番号.
    IndividualNumber,
    Name,
    NameKana,
    Birthdate,
    Sex,
    Address,
}

impl Attribute {
    pub const ALL: [Attribute; 6] = [
        Self::IndividualNumber,
        Self::Name,
        Self::NameKana,
        Self::Birthdate,
        Self::Sex,
        Self::Address,
    ];
    pub fn code(self) -> &'static str {
        match self {
            Self::IndividualNumber => "individual_number",
            Self::Name => "name",
            Self::NameKana => "name_kana",
            Self::Birthdate => "birthdate",
            Self::Sex => "sex",
            Self::Address => "address",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Self::IndividualNumber => "個人番号（該当者なし）",
            Self::Name => "氏名",
            Self::NameKana => "氏名カナ",
            Self::Birthdate => "生年月日",
            Self::Sex => "性別",
            Self::Address => "住所",
        }
    }
    pub fn parse(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.code() == code)
    }
}

/// Where a user-auth certificate stands on a day (厚生労働省: a renewal alert from 3 months
/// before to 3 months after expiry; usable as an insurance card for 3 months after expiry).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertificatePhase {
    NotYetValid,
    Valid,
    /// Within 3 months before expiry: usable, renewal alert.
    ExpiresSoon,
    /// Expired less than 3 months ago: still usable, renewal alert.
    ExpiredInGrace,
    /// Expired 3 months ago or more: refused.
    Expired,
}

impl CertificatePhase {
    pub fn usable(self) -> bool {
        matches!(self, Self::Valid | Self::ExpiresSoon | Self::ExpiredInGrace)
    }
    pub fn needs_renewal_alert(self) -> bool {
        matches!(self, Self::ExpiresSoon | Self::ExpiredInGrace)
    }
}

/// The phase of a certificate valid from `not_before` to `not_after` (inclusive JST days), on `on`.
pub fn certificate_phase(not_before: Date, not_after: Date, on: Date) -> CertificatePhase {
    if on < not_before {
        return CertificatePhase::NotYetValid;
    }
    let alert_from = not_after.add_months(-3).unwrap_or(not_after);
    let grace_until = not_after.add_months(3).unwrap_or(not_after);
    if on <= not_after {
        if on >= alert_from {
            CertificatePhase::ExpiresSoon
        } else {
            CertificatePhase::Valid
        }
    } else if on <= grace_until {
        CertificatePhase::ExpiredInGrace
    } else {
        CertificatePhase::Expired
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Date {
        Date::parse(s).unwrap()
    }

    #[test]
    fn individual_number_check_digits() {
        // 12345678901 → weights from the right 2..7,2..6: see the formula in the doc comment.
        for (body, digit) in [("12345678901", 8), ("00000000000", 0), ("11111111111", 8)] {
            assert_eq!(individual_number_check_digit(body), Some(digit), "{body}");
        }
        assert!(IndividualNumber::parse("123456789018").is_ok());
        assert!(IndividualNumber::parse("１２３４ ５６７８ ９０１８").is_ok());
        assert_eq!(
            IndividualNumber::parse("123456789012"),
            Err(IdError::CheckDigit)
        );
        assert!(matches!(
            IndividualNumber::parse("12345678901"),
            Err(IdError::Length { .. })
        ));
        assert_eq!(
            IndividualNumber::parse("12345678901a"),
            Err(IdError::NotDigits)
        );
    }

    #[test]
    fn debug_masks_the_number() {
        let n = IndividualNumber::parse("123456789018").unwrap();
        let shown = format!("{n:?}");
        assert!(!shown.contains("12345678"), "{shown}");
        assert!(shown.ends_with("9018)"));
        assert_eq!(n.last4(), "9018");
    }

    #[test]
    fn certificate_phases_follow_the_three_month_rule() {
        let (from, until) = (d("20211115"), d("20261114"));
        for (on, phase) in [
            ("20211114", CertificatePhase::NotYetValid),
            ("20211115", CertificatePhase::Valid),
            ("20260813", CertificatePhase::Valid),
            ("20260814", CertificatePhase::ExpiresSoon),
            ("20261114", CertificatePhase::ExpiresSoon),
            ("20261115", CertificatePhase::ExpiredInGrace),
            ("20270214", CertificatePhase::ExpiredInGrace),
            ("20270215", CertificatePhase::Expired),
        ] {
            assert_eq!(certificate_phase(from, until, d(on)), phase, "{on}");
        }
    }

    proptest::proptest! {
        #[test]
        fn every_completed_body_parses(body in "[0-9]{11}") {
            let n = IndividualNumber::from_body(&body).unwrap();
            proptest::prop_assert_eq!(&n.expose()[..11], body.as_str());
            // Changing the check digit breaks it.
            let wrong = (n.expose().as_bytes()[11] - b'0' + 1) % 10;
            let bad = format!("{body}{wrong}");
            proptest::prop_assert!(IndividualNumber::parse(&bad).is_err());
        }
    }
}
