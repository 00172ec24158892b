//! UKE dates: 西暦 `YYYYMMDD` / `YYYYMM` and 和暦 `GYYMMDD` / `GYYMM`, plus the `MMDD` month-day
//! of the 調剤 CZ record.

use kakunin_domain::Date;
use std::fmt;

/// A calendar month (診療年月, 請求年月, 調剤年月).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct YearMonth {
    year: u16,
    month: u8,
}

impl YearMonth {
    /// `None` unless 1868 ≤ year ≤ 9999 and 1 ≤ month ≤ 12.
    pub fn new(year: u32, month: u32) -> Option<Self> {
        ((u32::from(Date::MIN_YEAR)..=9999).contains(&year) && (1..=12).contains(&month)).then_some(
            Self {
                year: year as u16,
                month: month as u8,
            },
        )
    }
    pub fn year(self) -> u32 {
        u32::from(self.year)
    }
    pub fn month(self) -> u32 {
        u32::from(self.month)
    }
    /// The first day of the month.
    pub fn first_day(self) -> Date {
        Date::from_ymd(self.year(), self.month(), 1).expect("a valid YearMonth has a first day")
    }
    /// The date of `day` in this month, when that day exists.
    pub fn day(self, day: u32) -> Option<Date> {
        Date::from_ymd(self.year(), self.month(), day).ok()
    }
}

impl fmt::Display for YearMonth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

/// A month and day without a year (調剤 CZ 処方月日 / 調剤月日 written as `MMDD`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PartialDate {
    Full(Date),
    /// `MMDD`; the year comes from the receipt's 調剤年月 (see [`PartialDate::resolve`]).
    MonthDay {
        month: u8,
        day: u8,
    },
}

impl PartialDate {
    /// The full date, taking the year from `within`: a month later than `within`'s month means the
    /// previous year (a prescription written in December and dispensed in January).
    pub fn resolve(self, within: YearMonth) -> Option<Date> {
        match self {
            Self::Full(d) => Some(d),
            Self::MonthDay { month, day } => {
                let year = if u32::from(month) > within.month() {
                    within.year().checked_sub(1)?
                } else {
                    within.year()
                };
                Date::from_ymd(year, u32::from(month), u32::from(day)).ok()
            }
        }
    }
}

/// 年号区分コード (別表4): era digit → (first year, first day as (month, day), last day).
/// 明治's true first day is 1868-10-23, but `Date` starts at 1868-01-01, so we accept from there.
/// (year, month, day).
type Ymd = (u32, u32, u32);

const ERAS: [(u32, Ymd, Ymd); 5] = [
    (1868, (1868, 1, 1), (1912, 7, 29)),   // 1 明治
    (1912, (1912, 7, 30), (1926, 12, 24)), // 2 大正
    (1926, (1926, 12, 25), (1989, 1, 7)),  // 3 昭和
    (1989, (1989, 1, 8), (2019, 4, 30)),   // 4 平成
    (2019, (2019, 5, 1), (9999, 12, 31)),  // 5 令和
];

fn digits(s: &str) -> Option<u32> {
    (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

/// Gregorian year of era `g` year `yy`, when `g` is a known era and `yy` ≥ 1.
fn era_year(g: u32, yy: u32) -> Option<(u32, usize)> {
    let i = usize::try_from(g).ok()?.checked_sub(1)?;
    let (base, _, _) = ERAS.get(i)?;
    (yy >= 1).then_some((base + yy - 1, i))
}

fn ymd_key((y, m, d): Ymd) -> u32 {
    y * 10_000 + m * 100 + d
}

/// Parses `YYYYMMDD` (西暦) or `GYYMMDD` (和暦, checked against the era's span).
pub fn parse_date(s: &str) -> Option<Date> {
    if !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    match s.len() {
        8 => Date::parse(s).ok(),
        7 => {
            let (g, yy, mm, dd) = (
                digits(&s[..1])?,
                digits(&s[1..3])?,
                digits(&s[3..5])?,
                digits(&s[5..7])?,
            );
            let (year, i) = era_year(g, yy)?;
            let date = Date::from_ymd(year, mm, dd).ok()?;
            let key = ymd_key((year, mm, dd));
            let (_, start, end) = ERAS[i];
            (ymd_key(start)..=ymd_key(end))
                .contains(&key)
                .then_some(date)
        }
        _ => None,
    }
}

/// Parses `YYYYMM` (西暦) or `GYYMM` (和暦; the month must overlap the era).
pub fn parse_year_month(s: &str) -> Option<YearMonth> {
    if !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    match s.len() {
        6 => YearMonth::new(digits(&s[..4])?, digits(&s[4..])?),
        5 => {
            let (g, yy, mm) = (digits(&s[..1])?, digits(&s[1..3])?, digits(&s[3..])?);
            let (year, i) = era_year(g, yy)?;
            let ym = YearMonth::new(year, mm)?;
            let (_, start, end) = ERAS[i];
            let key = year * 100 + mm;
            (start.0 * 100 + start.1..=end.0 * 100 + end.1)
                .contains(&key)
                .then_some(ym)
        }
        _ => None,
    }
}

/// Parses `MMDD`, or a full date as [`parse_date`] does.
pub fn parse_partial_date(s: &str) -> Option<PartialDate> {
    if !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if s.len() == 4 {
        let (month, day) = (digits(&s[..2])?, digits(&s[2..])?);
        // 2000 is a leap year, so 02-29 passes here and is checked again on resolve.
        Date::from_ymd(2000, month, day).ok()?;
        Some(PartialDate::MonthDay {
            month: month as u8,
            day: day as u8,
        })
    } else {
        parse_date(s).map(PartialDate::Full)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Option<String> {
        parse_date(s).map(Date::iso)
    }

    #[test]
    fn dates() {
        for (input, want) in [
            ("19911121", Some("1991-11-21")),
            ("4070208", Some("1995-02-08")),
            ("4310430", Some("2019-04-30")),
            ("4310501", None), // 平成31年5月1日 is 令和元年
            ("5010501", Some("2019-05-01")),
            ("5010430", None),
            ("3640107", Some("1989-01-07")),
            ("3640108", None),
            ("1450729", Some("1912-07-29")),
            ("2010730", Some("1912-07-30")),
            ("6010101", None), // no era 6
            ("0010101", None),
            ("5000101", None), // year 0
            ("20230229", None),
            ("2023022", None),
            ("", None),
            ("２０２３０１０１", None),
        ] {
            assert_eq!(d(input).as_deref(), want, "{input}");
        }
    }

    #[test]
    fn months() {
        for (input, want) in [
            ("202110", Some("2021-10")),
            ("43101", Some("2019-01")),
            ("43104", Some("2019-04")),
            ("43105", None),
            ("50105", Some("2019-05")),
            ("50104", None),
            ("36401", Some("1989-01")), // 昭和64年1月 (1–7日)
            ("202113", None),
            ("８ア", None),
            ("2０2１1", None),
            ("20211", Some("1913-11")), // 大正2年11月
            ("2021", None),
        ] {
            assert_eq!(
                parse_year_month(input).map(|m| m.to_string()).as_deref(),
                want,
                "{input}"
            );
        }
    }

    #[test]
    fn partial() {
        let jan = YearMonth::new(2024, 1).unwrap();
        let p = parse_partial_date("1228").unwrap();
        assert_eq!(p.resolve(jan).map(Date::iso).as_deref(), Some("2023-12-28"));
        assert_eq!(
            parse_partial_date("0229")
                .unwrap()
                .resolve(YearMonth::new(2023, 3).unwrap()),
            None
        );
        assert_eq!(parse_partial_date("1332"), None);
    }
}
