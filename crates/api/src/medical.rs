//! JSON bodies of medical information: receipt, master and 特定健診 imports (payer and admin
//! side) and the consent-gated retrieval for institutions (the structured counterpart of
//! `YZKsiquc01res` / `TKKsiquc01res`).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// One problem in an imported file (UKE record, master row, CDA document).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FileProblem {
    /// 1-based line (0 for the whole file), or the row of a master.
    pub line: u64,
    /// The record id (UKE) or the file in a package (CDA).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<String>,
    /// 1-based field, or the element, at fault.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Stable code.
    pub code: String,
    /// Japanese, for the people who fix the file.
    pub message: String,
}

/// `POST /v1/admin/receipts`: what a UKE import did. `receipts`, `matched`, `unmatched` and
/// `unknown_records` are the counts `kakunin import receipts --json` prints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ReceiptImportReport {
    /// True when the file was stored (or had been stored before: `duplicate`).
    pub accepted: bool,
    /// `medical` (医科, IR) or `pharmacy` (調剤, YK), when the header could be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_kind: Option<String>,
    /// 医療機関コード / 薬局コード with 都道府県 and 点数表 (10 digits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub institution_code: Option<String>,
    pub receipts: u64,
    /// Receipts matched to a qualification.
    pub matched: u64,
    /// Receipts kept for later matching (no qualification fits yet).
    pub unmatched: u64,
    /// Records of an unknown type, kept and counted.
    pub unknown_records: u64,
    /// Records read, header and trailer included.
    pub records: u64,
    /// The same file was imported before; nothing was written again.
    #[serde(default)]
    pub duplicate: bool,
    /// Problems that refused the file (nothing was written).
    pub errors: Vec<FileProblem>,
    /// Problems that did not (unknown records, a newer layout version, …).
    pub warnings: Vec<FileProblem>,
}

/// `POST /v1/admin/masters?kind=drug|procedure|device`: what a master import did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MasterImportReport {
    pub accepted: bool,
    /// `drug`, `procedure` or `device`.
    pub kind: String,
    /// Rows read.
    pub entries: u64,
    /// New code editions.
    pub inserted: u64,
    /// Editions whose name, unit or end date changed.
    pub updated: u64,
    pub errors: Vec<FileProblem>,
}

/// `POST /v1/checkups`: a 特定健診 package, each file base64-encoded under its path in the
/// package (`index.xml`, `summary.xml`, `DATA/….xml`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckupPackageUpload {
    pub files: BTreeMap<String, String>,
}

/// What a 特定健診 import did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CheckupImportReport {
    pub accepted: bool,
    /// Checkup documents read.
    pub documents: u64,
    pub matched: u64,
    /// Kept for later matching.
    pub unmatched: u64,
    #[serde(default)]
    pub duplicate: bool,
    pub errors: Vec<FileProblem>,
    pub warnings: Vec<FileProblem>,
}

/// `POST /v1/medical/{category}` (`medications`, `treatments`, `surgeries`, `checkups`): a
/// patient's information, for an institution that checked them today and holds their consent
/// for the category (like `YZKsiquc01req` / `TKKsiquc01req`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MedicalInformationRequest {
    /// 保険者番号 (`InsurerNumber`).
    pub insurer_number: String,
    /// 記号 (`InsuranceCardSymbol`), omitted when the card has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symbol: Option<String>,
    /// 番号 (`InsuredPersonIdentificationNumber`).
    pub number: String,
    /// 枝番 (`BranchNumber`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// 生年月日 `yyyyMMdd`: required, as in an eligibility check, so that numbers alone never
    /// reveal anything (a terminal answering `YZKsiquc01req` takes it from its check).
    #[schema(example = "19800101")]
    pub birthdate: String,
    /// 開始日 `yyyyMMdd` (`StartDate`); default 5 years before `end_date`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_date: Option<String>,
    /// 終了日 `yyyyMMdd` (`EndDate`); default today.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_date: Option<String>,
}

/// The patient the information is about (like `QuaInf`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PatientHeader {
    pub name: String,
    pub name_kana: String,
    /// `yyyyMMdd`.
    pub birthdate: String,
    /// `1` 男, `2` 女.
    pub sex: String,
}

/// One drug as dispensed or administered (like `DrugInf` under `DiDateInf`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MedicationRecord {
    /// 診療年月 / 調剤年月 `yyyyMM` (`MeTrMonth`).
    pub month: String,
    /// 調剤日 (調剤) or first 算定日 (医科) `yyyyMMdd` (`DiDate`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dispensed_on: Option<String>,
    /// 処方日 `yyyyMMdd` (`PrDate`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prescribed_on: Option<String>,
    /// 医療機関・薬局コード (10 digits).
    pub institution_code: String,
    /// 医療機関・薬局名 (`MeTrDiHNm`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub institution_name: Option<String>,
    /// `pharmacy` (調剤), `outpatient`, `inpatient` or `dental` (`InOut`).
    pub care_kind: String,
    /// 処方医療機関コード (調剤).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prescriber_code: Option<String>,
    /// 医薬品コード (`DrugC`).
    pub drug_code: String,
    /// 薬剤名 (`DrugN`); `名称不明（コード）` when the code is not in the master.
    pub drug_name: String,
    /// Whether the master knew the code.
    pub known: bool,
    /// 用量 (`Qua1`), as billed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantity: Option<String>,
    /// 単位 (`Unit`), from the master.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// 日数・回数 (`Times`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days_or_times: Option<u32>,
    /// 診療識別 (医科) or 剤形 (調剤) (`MeTrIdCl`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// 用法コード (調剤).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage_code: Option<String>,
}

/// One treatment (診療行為) with its dates (like `MeTrInf`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TreatmentInfo {
    /// 診療年月 `yyyyMM`.
    pub month: String,
    /// 算定日 `yyyyMMdd`.
    pub dates: Vec<String>,
    pub institution_code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub institution_name: Option<String>,
    /// `management`, `home_care`, `procedure`, `surgery`, `anesthesia`, `examination`,
    /// `imaging` or `other`.
    pub kind: String,
    /// Japanese label of `kind` (医学管理, 手術, …).
    pub kind_label: String,
    /// 診療行為コード.
    pub code: String,
    /// 診療行為名称; `名称不明（コード）` when the code is not in the master.
    pub name: String,
    pub known: bool,
    /// 回数.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
}

/// One result item of a checkup (like `HealthCheckupResultAndQuestionInfo`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CheckupItemInfo {
    /// 項目コード (`ItemCode`, 17 characters).
    pub code: String,
    /// 項目名 (`ItemName`).
    pub name: String,
    /// 結果値 (`DataValue`); absent when not measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// 単位 (`Unit`, UCUM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// 判定 (H/L/N…), when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interpretation: Option<String>,
}

/// One 特定健診 (like `SpecificHealthCheckupInfo`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CheckupRecord {
    /// 実施日 `yyyyMMdd` (`EffectiveTime`).
    pub date: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub institution_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub institution_name: Option<String>,
    pub items: Vec<CheckupItemInfo>,
}

/// The answer of `POST /v1/medical/{category}`: only the requested category's list is filled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MedicalInformationResponse {
    /// `medications`, `treatments`, `surgeries` or `checkups`.
    pub category: String,
    /// 薬剤情報, 診療情報, 手術情報 or 特定健診情報.
    pub category_label: String,
    /// The period shown, `yyyyMMdd`.
    pub start_date: String,
    pub end_date: String,
    pub patient: PatientHeader,
    /// The consent this answer rests on.
    pub consent: crate::ConsentFlag,
    /// Newest first.
    #[serde(default)]
    pub medications: Vec<MedicationRecord>,
    #[serde(default)]
    pub treatments: Vec<TreatmentInfo>,
    #[serde(default)]
    pub checkups: Vec<CheckupRecord>,
}
