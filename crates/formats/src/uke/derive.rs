//! What the central shows from a receipt (data-formats.md §1.6, §4): drug lines (薬剤情報),
//! treatment lines (診療情報, 手術 flagged; diagnoses never), and the 医療費通知 item.
//!
//! The mapping from 診療識別 to the categories shown is inferred from the claim structure (the
//! official list was not found, §4.2): drugs are IY lines under 21–23 (内服・屯服・外用) and
//! 31–33 (注射) in 医科 files and every IY line in 調剤 files; treatments are SI lines under
//! 13 医学管理, 14 在宅, 40 処置, 50 手術, 54 麻酔, 60 検査・病理, 70 画像診断 and 80 その他.

use super::{FileKind, LineKind, Receipt, YearMonth};
use kakunin_domain::Date;

/// One drug as dispensed or administered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrugLine {
    pub month: Option<YearMonth>,
    /// 調剤日 (調剤) or the first 算定日 (医科), when known.
    pub date: Option<Date>,
    /// 処方日 (調剤 CZ), when known.
    pub prescribed_on: Option<Date>,
    /// 医薬品コード (name it with the drug master; unknown codes show as 名称不明).
    pub code: String,
    /// 使用量 exactly as written.
    pub quantity: Option<String>,
    /// 日数・回数 (医科 回数, 調剤 調剤数量).
    pub days_or_times: Option<u32>,
    /// 診療識別 (医科) or 剤形 (調剤 SH).
    pub category: Option<String>,
    /// 用法コード (調剤 SH).
    pub usage_code: Option<String>,
    /// RP number (調剤).
    pub rp: Option<u32>,
}

/// What a treatment line is, by 診療識別.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TreatmentKind {
    /// 13 医学管理.
    Management,
    /// 14 在宅.
    HomeCare,
    /// 40 処置 (人工腎臓 = dialysis is here).
    Procedure,
    /// 50 手術 (shown under its own consent, 手術情報).
    Surgery,
    /// 54 麻酔.
    Anesthesia,
    /// 60 検査・病理.
    Examination,
    /// 70 画像診断.
    Imaging,
    /// 80 その他 (放射線治療 etc.).
    Other,
}

impl TreatmentKind {
    fn of(category: &str) -> Option<Self> {
        Some(match category {
            "13" => Self::Management,
            "14" => Self::HomeCare,
            "40" => Self::Procedure,
            "50" => Self::Surgery,
            "54" => Self::Anesthesia,
            "60" => Self::Examination,
            "70" => Self::Imaging,
            "80" => Self::Other,
            _ => return None,
        })
    }
    pub fn code(self) -> &'static str {
        match self {
            Self::Management => "management",
            Self::HomeCare => "home_care",
            Self::Procedure => "procedure",
            Self::Surgery => "surgery",
            Self::Anesthesia => "anesthesia",
            Self::Examination => "examination",
            Self::Imaging => "imaging",
            Self::Other => "other",
        }
    }
    /// The kind of a [`code`](Self::code).
    pub fn parse(code: &str) -> Option<Self> {
        [
            Self::Management,
            Self::HomeCare,
            Self::Procedure,
            Self::Surgery,
            Self::Anesthesia,
            Self::Examination,
            Self::Imaging,
            Self::Other,
        ]
        .into_iter()
        .find(|k| k.code() == code)
    }
    pub fn label(self) -> &'static str {
        match self {
            Self::Management => "医学管理",
            Self::HomeCare => "在宅",
            Self::Procedure => "処置",
            Self::Surgery => "手術",
            Self::Anesthesia => "麻酔",
            Self::Examination => "検査・病理",
            Self::Imaging => "画像診断",
            Self::Other => "その他",
        }
    }
}

/// One treatment (診療行為) with the days it was done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreatmentLine {
    pub month: Option<YearMonth>,
    pub kind: TreatmentKind,
    /// 診療行為コード (named with the procedure master).
    pub code: String,
    /// The 算定日 in the month.
    pub dates: Vec<Date>,
    /// 回数.
    pub count: Option<u32>,
}

/// The kind of care on a 医療費通知 line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CareKind {
    Inpatient,
    Outpatient,
    Dental,
    Pharmacy,
}

/// One 医療費通知 line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpenseItem {
    pub month: Option<YearMonth>,
    pub kind: CareKind,
    /// 診療実日数 or 処方箋受付回数.
    pub days: Option<u32>,
    /// 医療費の額 (10割): 点数 × 10 円.
    pub total_yen: Option<u64>,
    /// 負担金額 as claimed (the patient's share before 公費 and rounding at the counter).
    pub patient_share_yen: Option<u64>,
}

/// Everything shown from one receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Derived {
    pub drugs: Vec<DrugLine>,
    pub treatments: Vec<TreatmentLine>,
    pub expense: ExpenseItem,
}

fn is_drug_category(c: &str) -> bool {
    matches!(c, "21" | "22" | "23" | "31" | "32" | "33")
}

/// The care kind from the レセプト種別 (1xxx 医科, 3xxx 歯科, 4xxx 調剤; in 医科 an odd last digit
/// is 入院 — inferred from the code table's layout, unverified).
fn care_kind(file: FileKind, receipt_type: &str) -> CareKind {
    if file == FileKind::Pharmacy || receipt_type.starts_with('4') {
        return CareKind::Pharmacy;
    }
    if receipt_type.starts_with('3') {
        return CareKind::Dental;
    }
    match receipt_type.chars().last().and_then(|c| c.to_digit(10)) {
        Some(d) if d % 2 == 1 => CareKind::Inpatient,
        _ => CareKind::Outpatient,
    }
}

/// Derives what the central shows from one receipt of a file of `kind`.
pub fn derive(kind: FileKind, receipt: &Receipt) -> Derived {
    let month = receipt.month();
    let day = |d: u8| month.and_then(|m| m.day(u32::from(d)));
    let items = receipt.line_items();
    let mut drugs = Vec::new();
    let mut treatments = Vec::new();
    // 調剤: the SH of the RP gives 剤形 and 用法, the CZ its dates and quantity.
    let mut sh: Option<&super::Record> = None;
    let mut cz: Option<&super::Cz> = None;
    for item in &items {
        match (kind, item.kind) {
            (FileKind::Pharmacy, LineKind::Prescription) => {
                sh = Some(item.record);
                cz = None;
            }
            (FileKind::Pharmacy, LineKind::Dispensing) => {
                if let super::Record::Cz(c) = item.record {
                    cz = Some(c);
                }
            }
            (FileKind::Pharmacy, LineKind::Drug) => {
                let (dosage_form, usage) = match sh {
                    Some(super::Record::Sh(s)) => (s.dosage_form.clone(), s.usage_code.clone()),
                    _ => (None, None),
                };
                let resolve = |p: Option<super::PartialDate>| {
                    p.and_then(|p| month.and_then(|m| p.resolve(m)))
                };
                drugs.push(DrugLine {
                    month,
                    date: resolve(cz.and_then(|c| c.dispensed_on)),
                    prescribed_on: resolve(cz.and_then(|c| c.prescribed_on)),
                    code: item.code.unwrap_or_default().to_string(),
                    quantity: item.quantity.map(|q| q.as_str().to_string()),
                    days_or_times: cz.and_then(|c| c.quantity),
                    category: dosage_form,
                    usage_code: usage,
                    rp: item.rp,
                });
            }
            (FileKind::Medical, LineKind::Drug) if item.category.is_some_and(is_drug_category) => {
                drugs.push(DrugLine {
                    month,
                    date: item.days.first().and_then(|d| day(d.day)),
                    prescribed_on: None,
                    code: item.code.unwrap_or_default().to_string(),
                    quantity: item.quantity.map(|q| q.as_str().to_string()),
                    days_or_times: item.count,
                    category: item.category.map(str::to_string),
                    usage_code: None,
                    rp: None,
                });
            }
            (FileKind::Medical, LineKind::Procedure) => {
                if let Some(kind) = item.category.and_then(TreatmentKind::of) {
                    treatments.push(TreatmentLine {
                        month,
                        kind,
                        code: item.code.unwrap_or_default().to_string(),
                        dates: item.days.iter().filter_map(|d| day(d.day)).collect(),
                        count: item.count,
                    });
                }
            }
            _ => {}
        }
    }
    let ho = receipt.insurance();
    Derived {
        drugs,
        treatments,
        expense: ExpenseItem {
            month,
            kind: care_kind(kind, &receipt.re.receipt_type),
            days: ho.and_then(|h| h.days),
            total_yen: ho.and_then(|h| h.total_points).map(|p| u64::from(p) * 10),
            patient_share_yen: ho.and_then(|h| h.copay).map(u64::from),
        },
    }
}
