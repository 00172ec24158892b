//! Medical information as stored: receipts (レセプト) with their drug and treatment lines and
//! 医療費通知 item, 特定健診 results, code masters, and the matching of receipts and checkups
//! to qualifications.
//!
//! Invariant: a receipt or checkup is matched to a qualification only when exactly one
//! qualification has its insurer number, 記号, 番号 and birth date, and the 枝番 too when the
//! source gives one ([`match_candidate`]); anything else stays unmatched (kept, counted, and
//! matched again after later roster imports), never guessed.

use crate::mapping::{get_opt_date, req_text, RowRead};
use crate::StoreError;
use kakunin_domain::{Date, Timestamp};

/// Which code master.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MasterKind {
    /// 医薬品マスター (Y).
    Drug,
    /// 診療行為マスター (S).
    Procedure,
    /// 特定器材マスター (T).
    Device,
}

impl MasterKind {
    pub fn code(self) -> &'static str {
        match self {
            Self::Drug => "drug",
            Self::Procedure => "procedure",
            Self::Device => "device",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Drug, Self::Procedure, Self::Device]
            .into_iter()
            .find(|k| k.code() == s)
    }
}

/// One edition of a code: its name (and unit) from `valid_from` to `valid_until`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MasterEntry {
    pub kind: MasterKind,
    pub code: String,
    /// `None` when the master gave no start (it then applies from the beginning).
    pub valid_from: Option<Date>,
    pub valid_until: Option<Date>,
    pub name: String,
    pub unit: Option<String>,
}

impl MasterEntry {
    /// Whether this edition applies on `day`.
    pub fn applies_on(&self, day: Date) -> bool {
        self.valid_from.is_none_or(|f| f <= day) && self.valid_until.is_none_or(|u| day <= u)
    }
}

/// The edition of `code` that applied on `day`, else the newest edition (a code used outside
/// its validity still has a name), else `None` (shown as 名称不明).
pub fn master_edition<'a>(
    entries: &'a [MasterEntry],
    kind: MasterKind,
    code: &str,
    day: Option<Date>,
) -> Option<&'a MasterEntry> {
    let mut editions = entries.iter().filter(|e| e.kind == kind && e.code == code);
    let newest = editions.clone().max_by_key(|e| e.valid_from);
    day.and_then(|d| editions.find(|e| e.applies_on(d)))
        .or(newest)
}

/// A master file to import in one transaction.
#[derive(Debug, Clone)]
pub struct MasterImport {
    pub kind: MasterKind,
    pub actor: String,
    pub received_at: Timestamp,
    pub source_sha256: String,
    pub entries: Vec<MasterEntry>,
}

/// What a master import changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MasterImportOutcome {
    pub import_id: i64,
    /// New code editions.
    pub inserted: u64,
    /// Editions whose name, unit or end date changed.
    pub updated: u64,
}

/// How a receipt or checkup names its person: the card keys as billed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PatientKey {
    /// 保険者番号 as a roster stores it (6-digit 国保 numbers without padding).
    pub insurer: String,
    /// Matching key of the 記号 ("" for none).
    pub symbol_key: String,
    pub number_key: String,
    /// 枝番 ("" when the source has none: any 枝番 then matches, if only one does).
    pub branch: String,
    pub birthdate: Option<Date>,
}

/// A qualification that could be the person of a receipt: its keys and current birth date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchCandidate {
    pub qualification_id: i64,
    pub branch: String,
    pub birthdate: Date,
}

/// The qualification a key belongs to, among the qualifications with its insurer, 記号 and
/// 番号: exactly one with the same birth date (and 枝番, when the key has one).
pub fn match_candidate(key: &PatientKey, candidates: &[MatchCandidate]) -> Option<i64> {
    let birthdate = key.birthdate?;
    let mut hits = candidates
        .iter()
        .filter(|c| c.birthdate == birthdate && (key.branch.is_empty() || c.branch == key.branch));
    let first = hits.next()?;
    hits.next().is_none().then_some(first.qualification_id)
}

/// A drug line of a receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrugRecord {
    /// 調剤日 or first 算定日.
    pub date: Option<Date>,
    pub prescribed_on: Option<Date>,
    pub code: String,
    pub quantity: Option<String>,
    pub days_or_times: Option<u32>,
    /// 診療識別 (医科) or 剤形 (調剤).
    pub category: Option<String>,
    pub usage_code: Option<String>,
    pub rp: Option<u32>,
}

/// A treatment line of a receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreatmentRecord {
    /// Stable kind code (`surgery`, `examination`, …).
    pub kind: String,
    pub code: String,
    pub dates: Vec<Date>,
    pub count: Option<u32>,
}

/// One receipt to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewReceipt {
    pub key: PatientKey,
    pub receipt_number: Option<u32>,
    /// 診療年月 / 調剤年月, as its first day.
    pub month: Date,
    /// `inpatient`, `outpatient`, `dental` or `pharmacy`.
    pub care_kind: String,
    /// 処方医療機関 (調剤), as a 10-digit code when known.
    pub prescriber: Option<String>,
    pub days: Option<u32>,
    pub total_yen: Option<u64>,
    pub patient_share_yen: Option<u64>,
    pub drugs: Vec<DrugRecord>,
    pub treatments: Vec<TreatmentRecord>,
}

/// A UKE file to import in one transaction.
#[derive(Debug, Clone)]
pub struct ReceiptImport {
    pub actor: String,
    pub received_at: Timestamp,
    pub source_sha256: String,
    pub pharmacy: bool,
    /// The billing institution's 10-digit code.
    pub institution_code: String,
    pub institution_name: Option<String>,
    pub unknown_records: u64,
    pub receipts: Vec<NewReceipt>,
}

/// What a receipt import did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReceiptImportOutcome {
    pub file_id: i64,
    pub receipts: u64,
    pub matched: u64,
    pub unmatched: u64,
    /// The same file (by digest) was imported before; nothing was written.
    pub duplicate: bool,
}

/// A stored receipt with its lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredReceipt {
    pub id: i64,
    pub qualification_id: i64,
    pub pharmacy: bool,
    pub institution_code: String,
    pub institution_name: Option<String>,
    pub month: Date,
    pub care_kind: String,
    pub prescriber: Option<String>,
    pub days: Option<u32>,
    pub total_yen: Option<u64>,
    pub patient_share_yen: Option<u64>,
    pub drugs: Vec<DrugRecord>,
    pub treatments: Vec<TreatmentRecord>,
}

/// One checkup result item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckupItem {
    pub code: String,
    pub name: String,
    /// The value as written (number, code or text); `None` when absent or not performed.
    pub value: Option<String>,
    pub unit: Option<String>,
    pub interpretation: Option<String>,
}

/// One 特定健診 to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCheckup {
    pub key: PatientKey,
    pub date: Date,
    pub institution_id: Option<String>,
    pub institution_name: Option<String>,
    pub items: Vec<CheckupItem>,
}

/// A 特定健診 package to import in one transaction.
#[derive(Debug, Clone)]
pub struct CheckupImport {
    pub actor: String,
    pub received_at: Timestamp,
    pub source_sha256: String,
    pub checkups: Vec<NewCheckup>,
}

/// What a checkup import did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CheckupImportOutcome {
    pub file_id: i64,
    pub checkups: u64,
    pub matched: u64,
    pub unmatched: u64,
    pub duplicate: bool,
}

/// A stored checkup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCheckup {
    pub id: i64,
    pub qualification_id: i64,
    pub date: Date,
    pub institution_id: Option<String>,
    pub institution_name: Option<String>,
    pub items: Vec<CheckupItem>,
}

/// What a later matching pass linked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MatchOutcome {
    pub receipts: u64,
    pub checkups: u64,
}

/// What a retention purge removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PurgeOutcome {
    pub receipts: u64,
    pub checkups: u64,
}

/// Counts for operators: what is waiting to be matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MedicalCounts {
    pub receipts: u64,
    pub unmatched_receipts: u64,
    pub checkups: u64,
    pub unmatched_checkups: u64,
    pub master_entries: u64,
}

/// `yyyyMM` of a month's first day.
pub(crate) fn month_text(d: Date) -> String {
    format!("{:04}{:02}", d.year(), d.month())
}

/// The first day of a `yyyyMM` month.
pub(crate) fn month_parse(s: &str) -> Option<Date> {
    if s.len() != 6 {
        return None;
    }
    Date::parse(&format!("{s}01")).ok()
}

/// Comma-separated `yyyyMMdd` dates.
pub(crate) fn dates_text(dates: &[Date]) -> String {
    dates
        .iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

pub(crate) fn dates_parse(s: &str) -> Option<Vec<Date>> {
    if s.is_empty() {
        return Some(Vec::new());
    }
    s.split(',').map(|d| Date::parse(d).ok()).collect()
}

/// The start of a code edition as stored ('00000000' for "from the beginning").
pub(crate) const OPEN_START: &str = "00000000";

/// `code, valid_from, valid_until, name, unit` from column 0.
pub(crate) fn master_from(r: &impl RowRead, kind: MasterKind) -> Result<MasterEntry, StoreError> {
    let from = req_text(r, 1, "valid_from")?;
    Ok(MasterEntry {
        kind,
        code: req_text(r, 0, "code")?,
        valid_from: if from == OPEN_START {
            None
        } else {
            Some(Date::parse(&from).map_err(|_| StoreError::Corrupt("valid_from".into()))?)
        },
        valid_until: get_opt_date(r, 2, "valid_until")?,
        name: req_text(r, 3, "name")?,
        unit: r.text(4)?,
    })
}

/// `dispensed_on, prescribed_on, code, quantity, days_or_times, category, usage_code, rp`.
pub(crate) fn drug_from(r: &impl RowRead) -> Result<DrugRecord, StoreError> {
    Ok(DrugRecord {
        date: get_opt_date(r, 0, "dispensed_on")?,
        prescribed_on: get_opt_date(r, 1, "prescribed_on")?,
        code: req_text(r, 2, "code")?,
        quantity: r.text(3)?,
        days_or_times: r.int(4)?.map(|v| v as u32),
        category: r.text(5)?,
        usage_code: r.text(6)?,
        rp: r.int(7)?.map(|v| v as u32),
    })
}

/// `kind, code, dates, count`.
pub(crate) fn treatment_from(r: &impl RowRead) -> Result<TreatmentRecord, StoreError> {
    Ok(TreatmentRecord {
        kind: req_text(r, 0, "kind")?,
        code: req_text(r, 1, "code")?,
        dates: dates_parse(&req_text(r, 2, "dates")?)
            .ok_or_else(|| StoreError::Corrupt("dates".into()))?,
        count: r.int(3)?.map(|v| v as u32),
    })
}

/// `item_code, item_name, value, unit, interpretation`.
pub(crate) fn checkup_item_from(r: &impl RowRead) -> Result<CheckupItem, StoreError> {
    Ok(CheckupItem {
        code: req_text(r, 0, "item_code")?,
        name: req_text(r, 1, "item_name")?,
        value: r.text(2)?,
        unit: r.text(3)?,
        interpretation: r.text(4)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Date {
        Date::parse(s).unwrap()
    }

    fn cand(id: i64, branch: &str, birth: &str) -> MatchCandidate {
        MatchCandidate {
            qualification_id: id,
            branch: branch.into(),
            birthdate: d(birth),
        }
    }

    fn key(branch: &str, birth: Option<&str>) -> PatientKey {
        PatientKey {
            insurer: "06139999".into(),
            symbol_key: "12".into(),
            number_key: "345".into(),
            branch: branch.into(),
            birthdate: birth.map(d),
        }
    }

    #[test]
    fn matching_needs_exactly_one_candidate() {
        let family = [cand(1, "00", "19800101"), cand(2, "01", "20100505")];
        assert_eq!(
            match_candidate(&key("", Some("20100505")), &family),
            Some(2)
        );
        assert_eq!(
            match_candidate(&key("01", Some("20100505")), &family),
            Some(2)
        );
        // The 枝番 disagrees with the birth date: no guess.
        assert_eq!(match_candidate(&key("00", Some("20100505")), &family), None);
        assert_eq!(match_candidate(&key("", None), &family), None);
        // Twins on one card without a 枝番 on the receipt: ambiguous.
        let twins = [cand(1, "01", "20100505"), cand(2, "02", "20100505")];
        assert_eq!(match_candidate(&key("", Some("20100505")), &twins), None);
        assert_eq!(
            match_candidate(&key("02", Some("20100505")), &twins),
            Some(2)
        );
    }

    #[test]
    fn master_editions_follow_the_day() {
        let e = |from: &str, until: Option<&str>, name: &str| MasterEntry {
            kind: MasterKind::Drug,
            code: "610406079".into(),
            valid_from: Some(d(from)),
            valid_until: until.map(d),
            name: name.into(),
            unit: None,
        };
        let all = [
            e("20200401", Some("20240331"), "旧名"),
            e("20240401", None, "新名"),
        ];
        let name =
            |day| master_edition(&all, MasterKind::Drug, "610406079", day).map(|e| e.name.as_str());
        assert_eq!(name(Some(d("20230101"))), Some("旧名"));
        assert_eq!(name(Some(d("20250101"))), Some("新名"));
        assert_eq!(
            name(Some(d("20100101"))),
            Some("新名"),
            "outside every edition: newest"
        );
        assert_eq!(name(None), Some("新名"));
        assert_eq!(
            master_edition(&all, MasterKind::Procedure, "610406079", None),
            None
        );
    }

    #[test]
    fn texts_round_trip() {
        assert_eq!(month_text(d("20240501")), "202405");
        assert_eq!(month_parse("202405"), Some(d("20240501")));
        assert_eq!(month_parse("2024"), None);
        let days = vec![d("20240501"), d("20240515")];
        assert_eq!(dates_parse(&dates_text(&days)), Some(days));
        assert_eq!(dates_parse(""), Some(vec![]));
        assert_eq!(dates_parse("2024"), None);
    }
}
