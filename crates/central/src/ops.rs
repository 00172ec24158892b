//! What operators read and keep: monthly usage in the form MHLW publishes it (from the access
//! log), data freshness per insurer, and the institution registry. HTTP-free.
//!
//! Invariants: figures come from the access log only (every check and view is one entry, so
//! the statistics cannot count what was not logged); a finished month's counts are read once
//! per node and kept (the log is append-only and entries carry the time they were written),
//! the running month's are read on every request.

use kakunin_api::{
    institution_input, institution_record, ApiError, FreshnessReport, InstitutionRecord,
    InstitutionRequest, InsurerFreshnessRecord, KindUsage, LagRecord, MonthTotals, UsageFigures,
    UsageStatistics,
};
use kakunin_domain::{
    AccessPurpose, ConsentCategory, Date, InstitutionCode, InstitutionKind, Timestamp,
};
use kakunin_store::{AccessCount, LagSummary, ResultKind, Store, StoreError};
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

/// Months in the trend before the asked month.
pub const TREND_MONTHS: u32 = 12;
/// Default and longest freshness periods, in days.
pub const FRESHNESS_DEFAULT_DAYS: u32 = 30;
pub const FRESHNESS_MAX_DAYS: u32 = 366;
/// A finished month is cached only once it ended this long ago (entries written by a node
/// whose clock lags may still arrive just after the boundary).
const SETTLED_MS: i64 = 3_600_000;
/// Months kept in the cache (ten years).
const CACHE_MONTHS: usize = 120;

/// Why an operator's request got no answer.
#[derive(Debug)]
pub enum OpsError {
    Invalid(ApiError),
    Store(StoreError),
}

impl From<StoreError> for OpsError {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

/// Finished months' access counts, per node.
#[derive(Clone, Default)]
pub struct StatsCache(Arc<Mutex<HashMap<Month, Arc<Vec<AccessCount>>>>>);

impl std::fmt::Debug for StatsCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StatsCache")
    }
}

/// A calendar month in Japan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Month {
    year: u32,
    month: u32,
}

impl Month {
    /// `yyyyMM`.
    pub fn parse(s: &str) -> Option<Self> {
        if s.len() != 6 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let (year, month) = (s[..4].parse().ok()?, s[4..].parse().ok()?);
        Date::from_ymd(year, month, 1).ok()?;
        Some(Self { year, month })
    }

    /// The month `at` falls in, in JST.
    pub fn of(at: Timestamp) -> Self {
        let d = at.jst_date();
        Self {
            year: d.year(),
            month: d.month(),
        }
    }

    pub fn code(self) -> String {
        format!("{:04}{:02}", self.year, self.month)
    }

    /// The first instant of the month (00:00 JST on the 1st).
    pub fn start(self) -> Timestamp {
        Timestamp::parse_jst_compact(&format!("{}01000000", self.code()))
            .unwrap_or(Timestamp::from_unix_millis(0))
    }

    pub fn next(self) -> Self {
        if self.month == 12 {
            Self {
                year: self.year + 1,
                month: 1,
            }
        } else {
            Self {
                year: self.year,
                month: self.month + 1,
            }
        }
    }

    pub fn prev(self) -> Self {
        if self.month == 1 {
            Self {
                year: self.year.saturating_sub(1),
                month: 12,
            }
        } else {
            Self {
                year: self.year,
                month: self.month - 1,
            }
        }
    }
}

fn invalid(code: &str, message: &str, detail: &str, field: &str) -> OpsError {
    OpsError::Invalid(ApiError::new(code, message, detail).with_field(field))
}

/// `by_card / checks` in percent, two decimals, rounded half up; `None` without checks.
pub fn share(by_card: u64, checks: u64) -> Option<String> {
    (checks > 0).then(|| {
        let (part, whole) = (u128::from(by_card), u128::from(checks));
        let basis_points = (part * 20_000 + whole) / (2 * whole);
        format!("{}.{:02}", basis_points / 100, basis_points % 100)
    })
}

/// Adds one count to the figures (the MHLW categories; other purposes are not counted).
fn add(f: &mut UsageFigures, c: &AccessCount) {
    use AccessPurpose::*;
    let n = c.count;
    match (c.purpose, c.result) {
        (EligibilityByCard, ResultKind::Answered) => f.by_card += n,
        (EligibilityByNumbers, ResultKind::Answered) => f.by_numbers += n,
        (EligibilityBatch, ResultKind::Answered) => {
            f.by_numbers += n;
            f.batch += n;
        }
        (EligibilityByCard | EligibilityByNumbers | EligibilityBatch, ResultKind::Refused) => {
            f.refused_checks += n
        }
        (EmergencyCheck, ResultKind::Answered) => f.emergency_checks += n,
        (MedicalInformation, ResultKind::Disclosed) => match c.category {
            Some(ConsentCategory::Medications) => f.medications += n,
            Some(ConsentCategory::Treatments) => f.treatments += n,
            Some(ConsentCategory::Surgeries) => {
                f.treatments += n;
                f.surgeries += n;
            }
            Some(ConsentCategory::Checkups) => f.checkups += n,
            Some(ConsentCategory::Limit) | None => {}
        },
        (MedicalInformation, ResultKind::Refused) => f.refused_views += n,
        (CardRegistration, ResultKind::Registered) => f.card_registrations += n,
        _ => {}
    }
    f.checks = f.by_card + f.by_numbers;
    f.card_share_percent = share(f.by_card, f.checks);
}

/// The counts of a month: from the cache when it is settled and was read before.
async fn month_counts(
    store: &dyn Store,
    cache: &StatsCache,
    month: Month,
    now: Timestamp,
) -> Result<Arc<Vec<AccessCount>>, StoreError> {
    let end = month.next().start();
    let settled = end.unix_millis() + SETTLED_MS <= now.unix_millis();
    if settled {
        if let Some(c) = cache.0.lock().ok().and_then(|m| m.get(&month).cloned()) {
            return Ok(c);
        }
    }
    let counts = Arc::new(store.access_counts(month.start(), end).await?);
    if settled {
        if let Ok(mut m) = cache.0.lock() {
            if m.len() >= CACHE_MONTHS {
                m.clear();
            }
            m.insert(month, counts.clone());
        }
    }
    Ok(counts)
}

/// A month's usage (`yyyyMM`, default the current month in JST), by institution type, with
/// the 12 months before it.
pub async fn statistics(
    store: &dyn Store,
    cache: &StatsCache,
    month: Option<&str>,
    now: Timestamp,
) -> Result<UsageStatistics, OpsError> {
    let current = Month::of(now);
    let month = match month.map(str::trim).filter(|m| !m.is_empty()) {
        None => current,
        Some(m) => Month::parse(m).filter(|m| *m <= current).ok_or_else(|| {
            invalid(
                "invalid_month",
                "対象月は yyyyMM（今月以前）で指定してください。",
                "month must be yyyyMM, not after the current month (JST)",
                "month",
            )
        })?,
    };
    let registry: HashMap<InstitutionCode, InstitutionKind> = store
        .all_institutions()
        .await?
        .into_iter()
        .map(|i| (i.code, i.kind))
        .collect();
    let kind_of = |code: &InstitutionCode| {
        registry
            .get(code)
            .copied()
            .unwrap_or_else(|| InstitutionKind::from_code(code))
    };

    let counts = month_counts(store, cache, month, now).await?;
    let mut total = UsageFigures::default();
    let mut by_kind: Vec<(InstitutionKind, UsageFigures, BTreeSet<&str>)> = InstitutionKind::ALL
        .into_iter()
        .map(|k| (k, UsageFigures::default(), BTreeSet::new()))
        .collect();
    for c in counts.iter() {
        add(&mut total, c);
        let kind = kind_of(&c.institution);
        if let Some((_, figures, seen)) = by_kind.iter_mut().find(|(k, ..)| *k == kind) {
            add(figures, c);
            seen.insert(c.institution.as_str());
        }
    }
    let by_kind = by_kind
        .into_iter()
        .map(|(kind, figures, seen)| KindUsage {
            kind: kind.code().to_string(),
            label: kind.label().to_string(),
            institutions: seen.len() as u64,
            figures,
        })
        .collect();

    let mut first = month;
    for _ in 0..TREND_MONTHS {
        first = first.prev();
    }
    let mut trend = Vec::with_capacity(TREND_MONTHS as usize + 1);
    let mut m = first;
    while m <= month {
        let figures = if m == month {
            total.clone()
        } else {
            let mut f = UsageFigures::default();
            for c in month_counts(store, cache, m, now).await?.iter() {
                add(&mut f, c);
            }
            f
        };
        trend.push(MonthTotals {
            month: m.code(),
            checks: figures.checks,
            by_card: figures.by_card,
            by_numbers: figures.by_numbers,
            card_share_percent: figures.card_share_percent,
        });
        m = m.next();
    }
    let end = month.next().start();
    Ok(UsageStatistics {
        month: month.code(),
        from: month.start().jst_rfc3339(),
        to: end.jst_rfc3339(),
        complete: end <= now,
        total,
        by_kind,
        trend,
    })
}

fn lag_record(l: &LagSummary) -> LagRecord {
    LagRecord {
        sampled: l.sampled,
        median_days: l.median_days,
        p90_days: l.p90_days,
    }
}

/// Data freshness per insurer over the last `days` days (default 30, at most 366).
pub async fn freshness(
    store: &dyn Store,
    days: Option<&str>,
    now: Timestamp,
) -> Result<FreshnessReport, OpsError> {
    let days = match days.map(str::trim).filter(|d| !d.is_empty()) {
        None => FRESHNESS_DEFAULT_DAYS,
        Some(d) => d
            .parse::<u32>()
            .ok()
            .filter(|d| (1..=FRESHNESS_MAX_DAYS).contains(d))
            .ok_or_else(|| {
                invalid(
                    "invalid_days",
                    "期間は1〜366日で指定してください。",
                    "days must be a whole number from 1 to 366",
                    "days",
                )
            })?,
    };
    let since = Timestamp::from_unix_millis(now.unix_millis() - i64::from(days) * 86_400_000);
    let insurers = store
        .insurer_freshness(since)
        .await?
        .into_iter()
        .map(|f| InsurerFreshnessRecord {
            insurer_number: f.insurer.as_str().to_string(),
            last_import_at: f.last_import_at.map(|t| t.jst_rfc3339()),
            days_since_import: f
                .last_import_at
                .map(|t| (now.unix_millis() - t.unix_millis()).max(0) / 86_400_000),
            imports: f.imports,
            rows: f.rows,
            acquired: lag_record(&f.acquired),
            lost: lag_record(&f.lost),
        })
        .collect();
    Ok(FreshnessReport {
        days,
        since: since.jst_rfc3339(),
        insurers,
    })
}

/// Every registered institution, by code.
pub async fn institutions(store: &dyn Store) -> Result<Vec<InstitutionRecord>, OpsError> {
    Ok(store
        .all_institutions()
        .await?
        .iter()
        .map(institution_record)
        .collect())
}

/// Registers an institution or replaces its registration.
pub async fn register_institution(
    store: &dyn Store,
    by: &str,
    request: &InstitutionRequest,
) -> Result<InstitutionRecord, OpsError> {
    let institution = institution_input(request).map_err(OpsError::Invalid)?;
    store.upsert_institution(institution.clone()).await?;
    tracing::info!(by, kind = institution.kind.code(), "institution registered");
    Ok(institution_record(&institution))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_parse_and_step() {
        assert_eq!(
            Month::parse("202601").map(Month::code).as_deref(),
            Some("202601")
        );
        for bad in [
            "20261", "2026-01", "202600", "202613", "18000101", "abcdef", "",
        ] {
            assert_eq!(Month::parse(bad), None, "{bad}");
        }
        let dec = Month::parse("202512").unwrap();
        assert_eq!(dec.next().code(), "202601");
        assert_eq!(dec.next().prev(), dec);
        assert_eq!(Month::parse("202601").unwrap().prev().code(), "202512");
        // 2026-01-01 00:00 JST is 2025-12-31 15:00 UTC.
        assert_eq!(
            Month::parse("202601").unwrap().start().unix_millis(),
            1_767_193_200_000
        );
        assert_eq!(
            Month::of(Timestamp::from_unix_millis(1_767_193_200_000 - 1)).code(),
            "202512"
        );
    }

    #[test]
    fn card_share_rounds_half_up() {
        for (card, checks, expected) in [
            (0, 0, None),
            (0, 5, Some("0.00")),
            (5, 5, Some("100.00")),
            (1, 3, Some("33.33")),
            (2, 3, Some("66.67")),
            (1, 8, Some("12.50")),
            (1, 80_000, Some("0.00")),
            (1, 20_000, Some("0.01")),
            (10_199, 27_460, Some("37.14")),
        ] {
            assert_eq!(share(card, checks).as_deref(), expected, "{card}/{checks}");
        }
    }
}
