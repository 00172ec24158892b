//! What the operators' statistics read: access-log counts grouped the way MHLW publishes
//! monthly usage, and how fresh each insurer's roster data is.

use crate::mapping::{req_int, req_text, RowRead};
use crate::StoreError;
use kakunin_domain::{
    AccessPurpose, ConsentCategory, Date, InstitutionCode, InsurerNumber, Timestamp,
};

/// What an access-log entry's result was, without its detail (the `result` column's prefix).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ResultKind {
    /// An eligibility answer (`validity:…`), whatever the validity.
    Answered,
    /// Medical information shown (`disclosed:…`), even when there was nothing to show.
    Disclosed,
    /// Refused (`refused:…`).
    Refused,
    /// A 利用登録 recorded (`registered`).
    Registered,
}

impl ResultKind {
    pub fn code(self) -> &'static str {
        match self {
            Self::Answered => "answered",
            Self::Disclosed => "disclosed",
            Self::Refused => "refused",
            Self::Registered => "registered",
        }
    }

    /// The kind of a stored result's prefix (the text before the first `:`).
    pub(crate) fn from_prefix(prefix: &str) -> Option<Self> {
        match prefix {
            "validity" => Some(Self::Answered),
            "disclosed" => Some(Self::Disclosed),
            "refused" => Some(Self::Refused),
            "registered" => Some(Self::Registered),
            _ => None,
        }
    }
}

/// How many access-log entries of a period share an institution, purpose, information
/// category and result kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessCount {
    pub institution: InstitutionCode,
    pub purpose: AccessPurpose,
    /// For medical-information entries; `None` for every other purpose.
    pub category: Option<ConsentCategory>,
    pub result: ResultKind,
    pub count: u64,
}

/// Most recent new qualifications (and losses) per insurer whose lag is measured: the median
/// and 90th percentile of a bounded sample, so the query stays cheap for the largest insurers.
pub const LAG_SAMPLE: u32 = 1_000;

/// The delay between an event a roster row states and the import that brought it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LagSummary {
    /// Rows measured (at most [`LAG_SAMPLE`], the newest).
    pub sampled: u64,
    /// In days, nearest-rank; `None` without rows.
    pub median_days: Option<i64>,
    pub p90_days: Option<i64>,
}

impl LagSummary {
    /// The summary of lags in days (any order). Nearest-rank percentiles: the p-th percentile
    /// of n sorted values is the ⌈p·n/100⌉-th.
    pub fn of(mut lags: Vec<i64>) -> Self {
        lags.sort_unstable();
        let rank = |p: usize| {
            let n = lags.len();
            (n > 0).then(|| lags[(p * n).div_ceil(100).max(1) - 1])
        };
        Self {
            sampled: lags.len() as u64,
            median_days: rank(50),
            p90_days: rank(90),
        }
    }
}

/// How fresh one insurer's data is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InsurerFreshness {
    pub insurer: InsurerNumber,
    /// The newest roster import that carried the insurer's rows: any upload by the insurer
    /// itself, or (since `since`) an import by someone else (e.g. the seed) that wrote rows of
    /// it. `None` when neither is known.
    pub last_import_at: Option<Timestamp>,
    /// Imports since `since` that carried the insurer's rows (its own uploads, changed or not,
    /// and other imports that wrote its rows).
    pub imports: u64,
    /// Qualification versions written since `since` (new qualifications and changes).
    pub rows: u64,
    /// From 資格取得日 (qualification_date) to the import that brought a new qualification,
    /// in JST days; a row sent before its date counts 0.
    pub acquired: LagSummary,
    /// From 資格喪失日 to the import that first carried it.
    pub lost: LagSummary,
}

/// Whether a lag sample row is a new qualification or a loss.
pub(crate) const LAG_ACQUIRED: &str = "acquired";

/// The lag in days from `event` to `imported_at` (JST dates), never negative.
pub(crate) fn lag_days(event: Date, imported_at: Timestamp) -> i64 {
    (imported_at.jst_date().to_days() - event.to_days()).max(0)
}

/// `institution_code, purpose, category, result prefix, count` from column 0.
pub(crate) fn access_count_from(r: &impl RowRead) -> Result<AccessCount, StoreError> {
    let purpose = req_text(r, 1, "purpose")?;
    let category = r.text(2)?;
    let prefix = req_text(r, 3, "result")?;
    Ok(AccessCount {
        institution: InstitutionCode::parse(&req_text(r, 0, "institution_code")?)
            .map_err(|_| corrupt("access_log.institution_code"))?,
        purpose: AccessPurpose::parse(&purpose)
            .ok_or_else(|| corrupt(&format!("access_log.purpose {purpose:?}")))?,
        category: category
            .map(|c| {
                ConsentCategory::parse(&c)
                    .ok_or_else(|| corrupt(&format!("access_log.category {c:?}")))
            })
            .transpose()?,
        result: ResultKind::from_prefix(&prefix)
            .ok_or_else(|| corrupt(&format!("access_log.result {prefix:?}")))?,
        count: u64::try_from(req_int(r, 4, "count")?).map_err(|_| corrupt("count"))?,
    })
}

/// Counts in one order on every backend: institution, purpose, category (none first), result.
pub(crate) fn sort_counts(counts: &mut [AccessCount]) {
    counts.sort_by(|a, b| {
        (
            a.institution.as_str(),
            a.purpose.code(),
            a.category.map(ConsentCategory::code),
            a.result,
        )
            .cmp(&(
                b.institution.as_str(),
                b.purpose.code(),
                b.category.map(ConsentCategory::code),
                b.result,
            ))
    });
}

/// What the backends read for [`InsurerFreshness`], put together here so both agree.
#[derive(Debug, Default)]
pub(crate) struct FreshnessParts {
    /// Every insurer number with qualifications ([`INSURERS_SQL`]).
    pub insurers: Vec<String>,
    /// Per insurer, the newest upload it sent itself, ever ([`OWN_LAST_SQL`]).
    pub own_last: Vec<(String, i64)>,
    /// (insurer, import id, received_at_ms) of its own uploads since `since` ([`own_since_sql`]).
    pub own_since: Vec<(String, i64, i64)>,
    /// (insurer, import id, received_at_ms, versions) of the imports since `since` that wrote
    /// versions of the insurer ([`written_since_sql`]).
    pub written_since: Vec<(String, i64, i64, i64)>,
    /// (insurer, `acquired` | `lost`, event date `yyyyMMdd`, import received_at_ms), at most
    /// [`LAG_SAMPLE`] per insurer and kind, the newest ([`lag_sample_sql`]).
    pub lag_sample: Vec<(String, String, String, i64)>,
}

impl FreshnessParts {
    pub(crate) fn assemble(self) -> Result<Vec<InsurerFreshness>, StoreError> {
        use std::collections::{BTreeMap, BTreeSet};
        #[derive(Default)]
        struct Acc {
            last: Option<i64>,
            imports: BTreeSet<i64>,
            rows: u64,
            acquired: Vec<i64>,
            lost: Vec<i64>,
        }
        let mut by: BTreeMap<String, Acc> = self
            .insurers
            .into_iter()
            .map(|i| (i, Acc::default()))
            .collect();
        for (insurer, at) in self.own_last {
            let a = by.entry(insurer).or_default();
            a.last = a.last.max(Some(at));
        }
        for (insurer, id, at) in self.own_since {
            let a = by.entry(insurer).or_default();
            a.imports.insert(id);
            a.last = a.last.max(Some(at));
        }
        for (insurer, id, at, versions) in self.written_since {
            let a = by.entry(insurer).or_default();
            a.imports.insert(id);
            a.last = a.last.max(Some(at));
            a.rows += u64::try_from(versions).unwrap_or(0);
        }
        for (insurer, kind, date, at) in self.lag_sample {
            let date = Date::parse(&date).map_err(|_| corrupt("qualification date"))?;
            let lag = lag_days(date, Timestamp::from_unix_millis(at));
            let a = by.entry(insurer).or_default();
            if kind == LAG_ACQUIRED {
                a.acquired.push(lag);
            } else {
                a.lost.push(lag);
            }
        }
        by.into_iter()
            .map(|(insurer, a)| {
                Ok(InsurerFreshness {
                    insurer: InsurerNumber::parse(&insurer)
                        .map_err(|_| corrupt("qualifications.insurer_number"))?,
                    last_import_at: a.last.map(Timestamp::from_unix_millis),
                    imports: a.imports.len() as u64,
                    rows: a.rows,
                    acquired: LagSummary::of(a.acquired),
                    lost: LagSummary::of(a.lost),
                })
            })
            .collect()
    }
}

/// The loose index scan that lists the distinct insurer numbers of `qualifications` with one
/// index probe each (a plain DISTINCT would read every qualification).
pub(crate) const INSURERS_SQL: &str = "WITH RECURSIVE ins(n) AS (
        SELECT min(insurer_number) FROM qualifications
        UNION ALL
        SELECT (SELECT min(insurer_number) FROM qualifications WHERE insurer_number > ins.n)
        FROM ins WHERE ins.n IS NOT NULL)
    SELECT n FROM ins WHERE n IS NOT NULL";

/// Per insurer, its newest own upload ever (`imports` has one row per file; an insurer's own
/// uploads are `insurer:<number>`).
pub(crate) const OWN_LAST_SQL: &str = "SELECT substr(actor, 9), max(received_at_ms) FROM imports
    WHERE actor LIKE 'insurer:%' GROUP BY actor";

/// An insurer's own uploads since `since` (the backend's parameter, `?1` or `$1`).
pub(crate) fn own_since_sql(since: &str) -> String {
    format!(
        "SELECT substr(actor, 9), id, received_at_ms FROM imports
         WHERE actor LIKE 'insurer:%' AND received_at_ms >= {since}"
    )
}

/// The versions written by imports since `since`, found through the import-id index: the
/// imports (one row per file) drive the join (`CROSS JOIN` keeps that order in SQLite, whose
/// planner would otherwise read every version; PostgreSQL plans it as an inner join).
fn versions_since(since: &str) -> String {
    format!(
        "SELECT q.insurer_number AS insurer, v.id AS vid, i.id AS import_id,
                i.received_at_ms AS received_at_ms, v.version_no AS version_no,
                v.qualification_date AS qualification_date,
                v.disqualification_date AS disqualification_date,
                v.qualification_id AS qualification_id
         FROM imports i
         CROSS JOIN qualification_versions v
         JOIN qualifications q ON q.id = v.qualification_id
         WHERE v.import_id = i.id AND i.received_at_ms >= {since}"
    )
}

/// Per insurer and import since `since`, the versions it wrote.
pub(crate) fn written_since_sql(since: &str) -> String {
    format!(
        "SELECT insurer, import_id, max(received_at_ms), count(*) FROM ({}) s
         GROUP BY insurer, import_id",
        versions_since(since)
    )
}

/// The newest new qualifications (their 資格取得日) and newly stated losses (資格喪失日, absent
/// from the version before) written since `since`, at most `limit` per insurer and kind.
pub(crate) fn lag_sample_sql(since: &str, limit: &str) -> String {
    format!(
        "SELECT insurer, kind, event_date, received_at_ms FROM (
            SELECT s.insurer, s.received_at_ms,
                   CASE WHEN s.version_no = 1 THEN '{LAG_ACQUIRED}' ELSE 'lost' END AS kind,
                   CASE WHEN s.version_no = 1 THEN s.qualification_date
                        ELSE s.disqualification_date END AS event_date,
                   ROW_NUMBER() OVER (
                       PARTITION BY s.insurer, CASE WHEN s.version_no = 1 THEN 0 ELSE 1 END
                       ORDER BY s.vid DESC) AS rn
            FROM ({}) s
            LEFT JOIN qualification_versions p
                   ON p.qualification_id = s.qualification_id AND p.version_no = s.version_no - 1
            WHERE s.version_no = 1
               OR (s.disqualification_date IS NOT NULL AND p.disqualification_date IS NULL)
         ) t WHERE rn <= {limit}",
        versions_since(since)
    )
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(format!("bad stored value in {what}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let check = |lags: &[i64], median: Option<i64>, p90: Option<i64>| {
            let s = LagSummary::of(lags.to_vec());
            assert_eq!(
                (s.sampled, s.median_days, s.p90_days),
                (lags.len() as u64, median, p90),
                "{lags:?}"
            );
        };
        check(&[], None, None);
        check(&[7], Some(7), Some(7));
        check(&[3, 1], Some(1), Some(3));
        check(&[5, 1, 3], Some(3), Some(5));
        check(&[10, 9, 8, 7, 6, 5, 4, 3, 2, 1], Some(5), Some(9));
        check(&(1..=11).collect::<Vec<_>>(), Some(6), Some(10));
        check(&(1..=100).collect::<Vec<_>>(), Some(50), Some(90));
    }

    #[test]
    fn result_prefixes() {
        for k in [
            ResultKind::Answered,
            ResultKind::Disclosed,
            ResultKind::Refused,
            ResultKind::Registered,
        ] {
            let stored = match k {
                ResultKind::Answered => "validity",
                other => other.code(),
            };
            assert_eq!(ResultKind::from_prefix(stored), Some(k));
        }
        assert_eq!(ResultKind::from_prefix("answered"), None);
    }

    #[test]
    fn lag_counts_jst_days_and_never_goes_negative() {
        let d = |s: &str| Date::parse(s).unwrap();
        // 2026-04-01 00:30 JST is 2026-03-31 15:30 UTC.
        let at = Timestamp::parse_jst_compact("20260401003000").unwrap();
        assert_eq!(lag_days(d("20260401"), at), 0);
        assert_eq!(lag_days(d("20260331"), at), 1);
        assert_eq!(lag_days(d("20260301"), at), 31);
        assert_eq!(lag_days(d("20260410"), at), 0, "sent ahead of its date");
    }
}
