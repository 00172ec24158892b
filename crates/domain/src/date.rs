//! Calendar dates (`yyyyMMdd`, as every Japanese insurance format writes them) and instants.
//!
//! Dates are proleptic Gregorian civil dates without a time zone. The domain never reads the
//! clock: callers pass "today" in, which keeps every rule a pure function of its inputs.

use std::fmt;

/// A civil date between 1868-01-01 (明治) and 9999-12-31.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    year: u16,
    month: u8,
    day: u8,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DateError {
    #[error("date must be 8 digits yyyyMMdd, got {0} characters")]
    Length(usize),
    #[error("date must contain only digits")]
    NotDigits,
    #[error("no such calendar date")]
    Impossible,
}

const fn is_leap(y: u32) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

const fn days_in_month(y: u32, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(y) => 29,
        2 => 28,
        _ => 0,
    }
}

impl Date {
    pub const MIN_YEAR: u16 = 1868;

    /// Builds a date from its parts, refusing impossible ones (2023-02-29, month 13, …).
    pub fn from_ymd(year: u32, month: u32, day: u32) -> Result<Self, DateError> {
        if !(u32::from(Self::MIN_YEAR)..=9999).contains(&year)
            || !(1..=12).contains(&month)
            || day == 0
            || day > days_in_month(year, month)
        {
            return Err(DateError::Impossible);
        }
        Ok(Self {
            year: year as u16,
            month: month as u8,
            day: day as u8,
        })
    }

    /// Parses `yyyyMMdd` (half-width digits only; callers normalise full-width input first).
    pub fn parse(s: &str) -> Result<Self, DateError> {
        if s.len() != 8 {
            return Err(DateError::Length(s.chars().count()));
        }
        if !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(DateError::NotDigits);
        }
        let n = |r: std::ops::Range<usize>| s[r].parse::<u32>().map_err(|_| DateError::NotDigits);
        Self::from_ymd(n(0..4)?, n(4..6)?, n(6..8)?)
    }

    pub fn year(self) -> u32 {
        u32::from(self.year)
    }
    pub fn month(self) -> u32 {
        u32::from(self.month)
    }
    pub fn day(self) -> u32 {
        u32::from(self.day)
    }

    /// Days since 1970-01-01 (negative before).
    pub fn to_days(self) -> i64 {
        // Howard Hinnant's days_from_civil.
        let (y, m, d) = (
            i64::from(self.year),
            i64::from(self.month),
            i64::from(self.day),
        );
        let y = if m <= 2 { y - 1 } else { y };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let mp = (m + 9) % 12;
        let doy = (153 * mp + 2) / 5 + d - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }

    /// The date `days` after 1970-01-01; `None` outside the supported range.
    pub fn from_days(days: i64) -> Option<Self> {
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = doy - (153 * mp + 2) / 5 + 1;
        let m = if mp < 10 { mp + 3 } else { mp - 9 };
        let y = yoe + era * 400 + i64::from(m <= 2);
        Self::from_ymd(u32::try_from(y).ok()?, m as u32, d as u32).ok()
    }

    pub fn add_days(self, n: i64) -> Option<Self> {
        Self::from_days(self.to_days() + n)
    }

    /// The same month and day `years` later; 29 February becomes 1 March in common years
    /// (the 民法 rule for anniversaries that do not exist).
    pub fn add_years(self, years: u32) -> Option<Self> {
        let y = self.year() + years;
        Self::from_ymd(y, self.month(), self.day())
            .or_else(|_| Self::from_ymd(y, 3, 1))
            .ok()
    }

    /// The same day `months` later (or earlier when negative), clamped to the month's last day
    /// (31 May − 3 months = 28/29 February).
    pub fn add_months(self, months: i32) -> Option<Self> {
        let index = i64::from(self.year()) * 12 + i64::from(self.month()) - 1 + i64::from(months);
        let (y, m) = (index.div_euclid(12), index.rem_euclid(12) as u32 + 1);
        let y = u32::try_from(y).ok()?;
        (1..=self.day())
            .rev()
            .find_map(|d| Self::from_ymd(y, m, d).ok())
    }

    /// First day of the month after this date's month.
    pub fn first_of_next_month(self) -> Option<Self> {
        let (y, m) = if self.month == 12 {
            (self.year() + 1, 1)
        } else {
            (self.year(), self.month() + 1)
        };
        Self::from_ymd(y, m, 1).ok()
    }

    /// Age in completed years on `on` (the everyday sense: it goes up on the birthday).
    pub fn age_on(self, on: Date) -> u32 {
        if on < self {
            return 0;
        }
        let mut age = on.year() - self.year();
        if (on.month(), on.day()) < (self.month(), self.day()) {
            age -= 1;
        }
        age
    }

    /// The day a person born on this date "reaches" `years` of age in law
    /// (年齢計算ニ関スル法律: the day before the birthday).
    pub fn reaches_age(self, years: u32) -> Option<Self> {
        self.add_years(years)?.add_days(-1)
    }

    /// `yyyyMMdd`.
    pub fn compact(self) -> String {
        self.to_string()
    }

    /// `yyyy-MM-dd`.
    pub fn iso(self) -> String {
        format!("{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}{:02}{:02}", self.year, self.month, self.day)
    }
}

impl fmt::Debug for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Date({})", self.iso())
    }
}

/// An instant, as milliseconds since the Unix epoch (UTC).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Timestamp(i64);

const JST_OFFSET_MS: i64 = 9 * 3_600_000;

impl Timestamp {
    pub const fn from_unix_millis(ms: i64) -> Self {
        Self(ms)
    }
    pub const fn unix_millis(self) -> i64 {
        self.0
    }

    /// The calendar date in Japan (JST, UTC+9, no daylight saving).
    pub fn jst_date(self) -> Date {
        let days = (self.0 + JST_OFFSET_MS).div_euclid(86_400_000);
        Date::from_days(days).unwrap_or(Date {
            year: 1970,
            month: 1,
            day: 1,
        })
    }

    /// `yyyyMMddHHmmss` in JST, the form of `ProcessExecutionTime`.
    pub fn jst_compact(self) -> String {
        let ms = self.0 + JST_OFFSET_MS;
        let secs = ms.div_euclid(1000).rem_euclid(86_400);
        format!(
            "{}{:02}{:02}{:02}",
            self.jst_date(),
            secs / 3600,
            secs / 60 % 60,
            secs % 60
        )
    }

    /// The instant of a JST `yyyyMMddHHmmss` (the inverse of [`Timestamp::jst_compact`]).
    pub fn parse_jst_compact(s: &str) -> Option<Self> {
        if s.len() != 14 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let date = Date::parse(&s[..8]).ok()?;
        let field = |r: std::ops::Range<usize>| s[r].parse::<i64>().ok();
        let (h, m, sec) = (field(8..10)?, field(10..12)?, field(12..14)?);
        if h > 23 || m > 59 || sec > 59 {
            return None;
        }
        let ms = date.to_days() * 86_400_000 + ((h * 60 + m) * 60 + sec) * 1000 - JST_OFFSET_MS;
        Some(Self(ms))
    }

    /// RFC 3339 in JST with milliseconds, e.g. `2026-11-24T09:30:00.123+09:00`.
    pub fn jst_rfc3339(self) -> String {
        let ms = self.0 + JST_OFFSET_MS;
        let secs = ms.div_euclid(1000).rem_euclid(86_400);
        format!(
            "{}T{:02}:{:02}:{:02}.{:03}+09:00",
            self.jst_date().iso(),
            secs / 3600,
            secs / 60 % 60,
            secs % 60,
            ms.rem_euclid(1000)
        )
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn jst_compact_round_trips() {
        use super::Timestamp;
        for ms in [0, 1_795_480_200_000, 1_795_532_399_000] {
            let t = Timestamp::from_unix_millis(ms);
            assert_eq!(Timestamp::parse_jst_compact(&t.jst_compact()), Some(t));
        }
        for bad in [
            "",
            "20261203",
            "2026120309300",
            "20261203246000",
            "20261232093000",
            "2026120309300x",
        ] {
            assert_eq!(Timestamp::parse_jst_compact(bad), None, "{bad}");
        }
    }

    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parse_cases() {
        for (s, ok) in [
            ("20240229", true),
            ("20230229", false),
            ("19000229", false),
            ("20000229", true),
            ("20241301", false),
            ("20240100", false),
            ("20240431", false),
            ("2024041", false),
            ("2024-4-1", false),
            ("18671231", false),
            ("18680101", true),
            ("２０２４０１０１", false),
        ] {
            assert_eq!(Date::parse(s).is_ok(), ok, "{s}");
        }
    }

    #[test]
    fn ages_and_reaching() {
        let b = Date::parse("20000229").unwrap();
        assert_eq!(b.age_on(Date::parse("20010228").unwrap()), 0);
        assert_eq!(b.age_on(Date::parse("20010301").unwrap()), 1);
        let b = Date::parse("19550401").unwrap();
        assert_eq!(b.reaches_age(70).unwrap(), Date::parse("20250331").unwrap());
    }

    #[test]
    fn jst_rendering() {
        // 2026-11-24T00:30:00Z is 09:30 in Japan.
        let t = Timestamp::from_unix_millis(1_795_480_200_000);
        assert_eq!(t.jst_compact(), "20261124093000");
        assert_eq!(t.jst_rfc3339(), "2026-11-24T09:30:00.000+09:00");
        // 15:00Z is already the next day in Japan.
        let t = Timestamp::from_unix_millis(1_795_532_400_000);
        assert_eq!(t.jst_date().compact(), "20261125");
    }

    proptest! {
        #[test]
        fn days_round_trip(days in -36_000i64..2_900_000) {
            let d = Date::from_days(days).unwrap();
            prop_assert_eq!(d.to_days(), days);
            prop_assert_eq!(Date::parse(&d.compact()).unwrap(), d);
        }
    }
}
