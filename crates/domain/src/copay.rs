//! 一部負担金割合 (co-pay) rules of DESIGN.md §4.
//!
//! 未就学 20 %; 70–74 (高齢受給者) 20 % or 30 % (現役並み); 75+ and 後期高齢 (法別39)
//! 10/20/30 %; otherwise 30 %.

use crate::date::Date;
use crate::ids::InsurerKind;
use std::fmt;

/// A co-pay ratio in percent, written as 3 digits in the XML (`030` = 3割).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CopayRatio(u8);

impl CopayRatio {
    pub const TEN: Self = Self(10);
    pub const TWENTY: Self = Self(20);
    pub const THIRTY: Self = Self(30);

    /// Accepts `010`/`020`/`030` and the short forms `10`/`20`/`30`.
    pub fn parse(raw: &str) -> Option<Self> {
        let s = crate::text::half_width_trimmed(raw);
        if s.is_empty() || s.len() > 3 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        match s.parse::<u8>().ok()? {
            v @ (10 | 20 | 30) => Some(Self(v)),
            _ => None,
        }
    }
    pub fn percent(self) -> u8 {
        self.0
    }
    /// The 3-digit form, e.g. `030`.
    pub fn code(self) -> String {
        format!("{:03}", self.0)
    }
}

impl fmt::Debug for CopayRatio {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CopayRatio({:03})", self.0)
    }
}

/// The ratios the law allows for a person on a date, and the default when none is registered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopayRule {
    pub default: CopayRatio,
    pub allowed: &'static [CopayRatio],
    pub band: &'static str,
}

impl CopayRule {
    /// Ratios that may be registered whatever the age band (none today; kept for 公費 rules).
    pub fn any_age_allowed(&self, _c: CopayRatio) -> bool {
        false
    }
}

/// 未就学: on or before the first 31 March on or after the day the child reaches 6.
pub fn is_preschool(birthdate: Date, on: Date) -> bool {
    let Some(reach6) = birthdate.reaches_age(6) else {
        return false;
    };
    let year = if (reach6.month(), reach6.day()) <= (3, 31) {
        reach6.year()
    } else {
        reach6.year() + 1
    };
    Date::from_ymd(year, 3, 31).is_ok_and(|end| on <= end)
}

/// First day of 高齢受給者 status: the 1st of the month after reaching 70
/// (for people born on the 1st, the month of the birthday).
pub fn elderly_from(birthdate: Date) -> Option<Date> {
    birthdate.reaches_age(70)?.first_of_next_month()
}

/// The statutory co-pay for a person born on `birthdate`, on `on`, insured by `kind`.
pub fn standard_copay(birthdate: Date, on: Date, kind: InsurerKind) -> CopayRule {
    const LATE: &[CopayRatio] = &[CopayRatio::TEN, CopayRatio::TWENTY, CopayRatio::THIRTY];
    const ELDERLY: &[CopayRatio] = &[CopayRatio::TWENTY, CopayRatio::THIRTY];
    const PRESCHOOL: &[CopayRatio] = &[CopayRatio::TWENTY];
    const GENERAL: &[CopayRatio] = &[CopayRatio::THIRTY];
    if kind == InsurerKind::LateElderly || birthdate.add_years(75).is_some_and(|d| on >= d) {
        return CopayRule {
            default: CopayRatio::TEN,
            allowed: LATE,
            band: "後期高齢者",
        };
    }
    if elderly_from(birthdate).is_some_and(|d| on >= d) {
        return CopayRule {
            default: CopayRatio::TWENTY,
            allowed: ELDERLY,
            band: "70〜74歳",
        };
    }
    if is_preschool(birthdate, on) {
        return CopayRule {
            default: CopayRatio::TWENTY,
            allowed: PRESCHOOL,
            band: "未就学",
        };
    }
    CopayRule {
        default: CopayRatio::THIRTY,
        allowed: GENERAL,
        band: "一般",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Date {
        Date::parse(s).unwrap()
    }

    #[test]
    fn preschool_boundary() {
        // Born 1 April: reaches 6 on 31 March, so school starts that April.
        assert!(is_preschool(d("20190401"), d("20250331")));
        assert!(!is_preschool(d("20190401"), d("20250401")));
        // Born 2 April: one more year.
        assert!(is_preschool(d("20190402"), d("20260331")));
        assert!(!is_preschool(d("20190402"), d("20260401")));
    }

    #[test]
    fn table() {
        let g = InsurerKind::Kyokai;
        for (birth, on, kind, default, band) in [
            ("20220510", "20261124", g, 20, "未就学"),
            ("19900101", "20261124", g, 30, "一般"),
            // Turning 70 on 15 Oct 1956 + 70: 高齢受給者 from 1 Nov 2026.
            ("19561015", "20261031", g, 30, "一般"),
            ("19561015", "20261101", g, 20, "70〜74歳"),
            // Born on the 1st: from the birthday month.
            ("19561101", "20261101", g, 20, "70〜74歳"),
            ("19561101", "20261031", g, 30, "一般"),
            (
                "19500101",
                "20261124",
                InsurerKind::LateElderly,
                10,
                "後期高齢者",
            ),
            ("19511124", "20261124", g, 10, "後期高齢者"),
            ("19511125", "20261124", g, 20, "70〜74歳"),
        ] {
            let r = standard_copay(d(birth), d(on), kind);
            assert_eq!(
                (r.default.percent(), r.band),
                (default, band),
                "{birth} on {on}"
            );
        }
    }

    #[test]
    fn parse_ratio() {
        assert_eq!(CopayRatio::parse("030"), Some(CopayRatio::THIRTY));
        assert_eq!(CopayRatio::parse("30"), Some(CopayRatio::THIRTY));
        assert_eq!(CopayRatio::parse("０１０"), Some(CopayRatio::TEN));
        assert_eq!(CopayRatio::parse("040"), None);
        assert_eq!(CopayRatio::parse("3"), None);
        assert_eq!(CopayRatio::THIRTY.code(), "030");
    }
}
