//! Result messages from the central's JSON answers: pure functions, one per part of a result
//! (research `jp-system.md` §2.4, §2.6–§2.8). Every value is written as a string, leading zeros
//! kept; an absent value is an absent element.

use super::codes::Code;
use kakunin_api::{
    BatchConfirmUnit, CheckupRecord, ConsentFlag, EligibilityCheckRequest,
    EligibilityCheckResponse, MedicationRecord, PatientHeader, QualificationResult, TreatmentInfo,
};
use kakunin_formats::oqs::{CharacterCode, Element};

/// `SegmentOfResult` 処理結果区分 (OQSCD003) with its error, when there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// `1` 正常終了.
    Normal,
    /// `2` 処理中, with its `ErrorCode`/`ErrorMessage`.
    Processing(Code),
    /// `9` 異常終了, with `ErrorCode` and `ErrorMessage`.
    Failed { code: &'static str, message: String },
}

impl Segment {
    pub fn failed(code: Code) -> Self {
        Segment::Failed {
            code: code.code,
            message: code.message.to_string(),
        }
    }

    /// A failure with the code's message followed by a detail (`…（detail）`).
    pub fn failed_with(code: Code, detail: &str) -> Self {
        Segment::Failed {
            code: code.code,
            message: format!("{}（{detail}）", code.message.trim_end_matches('。')),
        }
    }

    fn value(&self) -> &'static str {
        match self {
            Segment::Normal => "1",
            Segment::Processing(_) => "2",
            Segment::Failed { .. } => "9",
        }
    }
}

/// The `MessageHeader` of a result, in the layout's order.
#[derive(Debug, Clone)]
pub struct Head {
    /// 処理実行日時 `yyyyMMddHHmmss`.
    pub process_time: String,
    /// 資格確認日 `yyyyMMdd` (eligibility results).
    pub confirmation_date: Option<String>,
    pub institution: String,
    /// The request's `ArbitraryFileIdentifier`, echoed.
    pub file_identifier: Option<String>,
    /// 照会区分 `1` card / `2` numbers (eligibility results).
    pub reference_classification: Option<String>,
    /// 受付番号 (bulk download results).
    pub reception_number: Option<String>,
    pub segment: Segment,
    /// `NumberOfProcessingResult`, `NumberOfNormalProcessing`, `NumberOfError` (bulk download
    /// results).
    pub counts: Option<(u32, u32, u32)>,
    pub character_code: CharacterCode,
}

impl Head {
    pub fn new(
        process_time: &str,
        institution: &str,
        file_identifier: Option<&str>,
        character_code: CharacterCode,
    ) -> Self {
        Self {
            process_time: process_time.to_string(),
            confirmation_date: None,
            institution: institution.to_string(),
            file_identifier: file_identifier.map(str::to_string),
            reference_classification: None,
            reception_number: None,
            segment: Segment::Normal,
            counts: None,
            character_code,
        }
    }

    pub fn element(&self) -> Element {
        let (error_code, error_message) = match &self.segment {
            Segment::Normal => (None, None),
            Segment::Processing(c) => (Some(c.code), Some(c.message.to_string())),
            Segment::Failed { code, message } => (Some(*code), Some(message.clone())),
        };
        let counts = self.counts;
        Element::new("MessageHeader")
            .child("ProcessExecutionTime", &self.process_time)
            .child("QualificationConfirmationDate", &self.confirmation_date)
            .child("MedicalInstitutionCode", &self.institution)
            .child("ArbitraryFileIdentifier", &self.file_identifier)
            .child("ReferenceClassification", &self.reference_classification)
            .child("ReceptionNumber", &self.reception_number)
            .child("SegmentOfResult", self.segment.value())
            .child("ErrorCode", error_code)
            .child("ErrorMessage", error_message)
            .child("NumberOfProcessingResult", counts.map(|c| c.0.to_string()))
            .child("NumberOfNormalProcessing", counts.map(|c| c.1.to_string()))
            .child("NumberOfError", counts.map(|c| c.2.to_string()))
            .child("CharacterCodeIdentifier", self.character_code.identifier())
    }
}

/// `XmlMsg` of a header and a body.
pub fn message(head: Element, body: Element) -> Element {
    Element::new("XmlMsg").push(head).push(body)
}

/// A result that failed as a whole: the header and an empty body.
pub fn failure(head: &Head) -> Element {
    message(head.element(), Element::new("MessageBody"))
}

/// A 保険者番号 as results write it: a 6-digit 国保 number padded with leading spaces to 8.
pub fn padded_insurer(number: &str) -> String {
    let n = number.trim();
    if n.len() == 6 {
        format!("  {n}")
    } else {
        n.to_string()
    }
}

/// `ProcessingResultStatus`, `ProcessingResultCode`, `ProcessingResultMessage`.
pub fn processing(e: Element, status: &str, code: Option<&str>, message: Option<&str>) -> Element {
    e.child("ProcessingResultStatus", status)
        .child("ProcessingResultCode", code)
        .child("ProcessingResultMessage", message.filter(|m| !m.is_empty()))
}

/// `QualificationConfirmSearchInfo` echoed from a check request (bulk results), with the
/// レセコン's `ArbitraryIdentifier` and its 保険者番号 as written when the terminal kept them.
pub fn search_info(
    r: &EligibilityCheckRequest,
    insurer_as_written: Option<&str>,
    identifier: Option<&str>,
) -> Element {
    let insurer = insurer_as_written
        .map(str::to_string)
        .unwrap_or_else(|| padded_insurer(&r.insurer_number));
    Element::new("QualificationConfirmSearchInfo")
        .child("InsurerNumber", insurer)
        .child("InsuredCardSymbol", &r.symbol)
        .child("InsuredIdentificationNumber", &r.number)
        .child("InsuredBranchNumber", &r.branch)
        .child("Birthdate", &r.birthdate)
        .child(
            "LimitApplicationCertificateRelatedConsFlg",
            &r.limit_application_certificate_related_cons_flg,
        )
        .child("ArbitraryIdentifier", identifier)
}

fn consent<'a>(consents: &'a [ConsentFlag], category: &str) -> Option<&'a ConsentFlag> {
    consents.iter().find(|c| c.category == category)
}

/// `…ConsFlg` → `…ConsTime` / `…AvailableTime`.
fn consent_element(flag_element: &str, suffix: &str) -> String {
    format!(
        "{}{suffix}",
        flag_element.strip_suffix("ConsFlg").unwrap_or(flag_element)
    )
}

/// One `ResultOfQualificationConfirmation`. With `consents` (card checks, 照会区分 1) the
/// consent flags, times and expiry of each category are written too.
pub fn qualification(q: &QualificationResult, consents: &[ConsentFlag]) -> Element {
    let card = !consents.is_empty();
    let limit = consent(consents, "limit");
    // A valid 限度額 consent at the reader shows the certificates as the request flag does.
    let limit_flag = match limit {
        Some(c) if q.limit_consent_flag != "1" => c.flag.clone(),
        _ => q.limit_consent_flag.clone(),
    };
    let limit_time = limit.and_then(|c| c.consented_at.clone());
    let mut e = Element::new("ResultOfQualificationConfirmation")
        .child("InsuredCardClassification", &q.card_classification)
        .child("InsurerNumber", padded_insurer(&q.insurer_number))
        .child("InsuredCardSymbol", &q.symbol)
        .child("InsuredIdentificationNumber", &q.number)
        .child("InsuredBranchNumber", &q.branch)
        .child("PersonalFamilyClassification", &q.relationship)
        .child("InsuredName", &q.insured_name)
        .child("Name", &q.name)
        .child("NameKana", &q.name_kana)
        .child("Sex1", &q.sex)
        .child("Birthdate", &q.birthdate)
        .child("Address", &q.address)
        .child("PostNumber", &q.post_number)
        .child("QualificationDate", &q.qualification_date)
        .child("DisqualificationDate", &q.disqualification_date)
        .child("InsuredCertificateIssuanceDate", &q.card_issue_date)
        .child("InsuredCardValidDate", &q.card_valid_from)
        .child("InsuredCardExpirationDate", &q.card_valid_until)
        .child("InsuredPartialContributionRatio", &q.copay_ratio)
        .child("PreschoolClassification", &q.preschool)
        .child("ReasonOfLoss", &q.disqualification_reason)
        .child("InsurerName", &q.insurer_name)
        .push(q.elderly_certificate.as_ref().map(|c| {
            Element::new("ElderlyRecipientCertificateInfo")
                .child("ElderlyRecipientCertificateDate", &c.issue_date)
                .child("ElderlyRecipientValidStartDate", &c.valid_from)
                .child("ElderlyRecipientValidEndDate", &c.valid_until)
                .child("ElderlyRecipientContributionRatio", &c.copay_ratio)
        }))
        .child("LimitApplicationCertificateRelatedConsFlg", &limit_flag)
        .child(
            "LimitApplicationCertificateRelatedConsTime",
            limit_time.as_deref(),
        )
        .push(q.limit_certificate.as_ref().map(|c| {
            Element::new("LimitApplicationCertificateRelatedInfo")
                .child(
                    "LimitApplicationCertificateClassification",
                    &c.classification,
                )
                .child("LimitApplicationCertificateClassificationFlag", &c.bracket)
                .child("LimitApplicationCertificateDate", &c.issue_date)
                .child("LimitApplicationCertificateValidStartDate", &c.valid_from)
                .child("LimitApplicationCertificateValidEndDate", &c.valid_until)
                .child("LimitApplicationCertificateLongTermDate", &c.long_term_date)
        }))
        .child("SpecificDiseasesCertificateRelatedConsFlg", &limit_flag)
        .child(
            "SpecificDiseasesCertificateRelatedConsTime",
            limit_time.as_deref(),
        );
    if !q.specific_disease_certificates.is_empty() {
        e = e.push(Element::new("SpecificDiseasesCertificateList").push_all(
            q.specific_disease_certificates.iter().map(|c| {
                Element::new("SpecificDiseasesCertificateInfo")
                    .child("SpecificDiseasesDiseaseCategory", &c.disease_category)
                    .child("SpecificDiseasesCertificateDate", &c.issue_date)
                    .child("SpecificDiseasesValidStartDate", &c.valid_from)
                    .child("SpecificDiseasesValidEndDate", &c.valid_until)
                    .child("SpecificDiseasesSelfPay", &c.self_pay)
            }),
        ));
    }
    if card {
        for category in ["checkups", "medications", "treatments", "surgeries"] {
            if let Some(c) = consent(consents, category) {
                e = e
                    .child(&c.element, &c.flag)
                    .child(&consent_element(&c.element, "ConsTime"), &c.consented_at)
                    .child(
                        &consent_element(&c.element, "AvailableTime"),
                        &c.available_until,
                    );
            }
        }
    }
    e.child("ReferenceNumber", &q.reference_number)
}

/// The `MessageBody` of an eligibility result: 処理結果, 資格有効性, the search echoed (照会区分
/// 2) and the results.
pub fn eligibility_body(answer: &EligibilityCheckResponse, search: Option<Element>) -> Element {
    let p = &answer.processing_result;
    let body = processing(
        Element::new("MessageBody"),
        &p.status,
        supplementary(&p.code),
        Some(&p.message),
    )
    .child("QualificationValidity", &answer.validity)
    .push(search);
    body.push(results(answer))
}

/// The central's processing code when it says more than `ok` (the real result sets the code on
/// errors and on supplementary information only).
fn supplementary(code: &str) -> Option<&str> {
    (code != "ok").then_some(code)
}

fn results(answer: &EligibilityCheckResponse) -> Option<Element> {
    (!answer.results.is_empty()).then(|| {
        Element::new("ResultList").push_all(
            answer
                .results
                .iter()
                .map(|q| qualification(q, &answer.consents)),
        )
    })
}

/// One `BulkConfirmUnit` of a bulk download result.
pub fn bulk_unit(
    unit: &BatchConfirmUnit,
    insurer_as_written: Option<&str>,
    identifier: Option<&str>,
) -> Element {
    let p = &unit.processing_result;
    let mut e = Element::new("BulkConfirmUnit").push(search_info(
        &unit.request,
        insurer_as_written,
        identifier,
    ));
    e = match (&unit.response, &unit.error) {
        (_, Some(err)) => processing(e, "2", Some(&err.code), Some(&err.message)),
        _ => processing(e, &p.status, supplementary(&p.code), Some(&p.message)),
    };
    if let Some(r) = &unit.response {
        e = e.child("QualificationValidity", &r.validity);
        e = e.push_all(r.results.iter().map(|q| qualification(q, &r.consents)));
        e = e.child(
            "ReferenceNumber",
            r.results.iter().find_map(|q| q.reference_number.clone()),
        );
    }
    e
}

/// `MessageHeader/QuaInf` of a 薬剤情報 result.
pub fn qua_inf(p: &PatientHeader) -> Element {
    Element::new("QuaInf")
        .child("Name", &p.name)
        .child("KanaName", &p.name_kana)
        .child("Birth", &p.birthdate)
        .child("AdmGendCode", &p.sex)
}

/// `MessageHeader/QualificationsInfo` of a 特定健診 result.
pub fn qualifications_info(p: &PatientHeader) -> Element {
    Element::new("QualificationsInfo")
        .child("Name", &p.name)
        .child("KanasName", &p.name_kana)
        .child("Birthday", &p.birthdate)
        .child("AdministrativeGenderCode", &p.sex)
}

/// 診療識別 of a treatment kind (`MeTrIdCl`).
fn treatment_class(kind: &str) -> &'static str {
    match kind {
        "management" => "13",
        "home_care" => "14",
        "procedure" => "40",
        "surgery" => "50",
        "anesthesia" => "54",
        "examination" => "60",
        "imaging" => "70",
        _ => "80",
    }
}

/// One month of one institution (`MeTrMonthInf`) while it is being built.
struct Month {
    month: String,
    institution: String,
    name: Option<String>,
    pharmacy: bool,
    prescriber: Option<String>,
    inpatient: Option<bool>,
    days: Vec<Day>,
}

struct Day {
    date: Option<String>,
    prescribed: Option<String>,
    drugs: Vec<Element>,
    treatments: Vec<Element>,
}

impl Month {
    fn day(&mut self, date: Option<&str>, prescribed: Option<&str>) -> &mut Day {
        let at = self.days.iter().position(|d| {
            d.date.as_deref() == date
                && (prescribed.is_none() || d.prescribed.as_deref() == prescribed)
        });
        let i = at.unwrap_or_else(|| {
            self.days.push(Day {
                date: date.map(str::to_string),
                prescribed: prescribed.map(str::to_string),
                drugs: Vec::new(),
                treatments: Vec::new(),
            });
            self.days.len() - 1
        });
        &mut self.days[i]
    }

    fn element(self, own_institution: &str) -> Element {
        let origin = self.prescriber.as_deref().unwrap_or(&self.institution);
        Element::new("MeTrMonthInf")
            .child("DiOrg", if self.pharmacy { "2" } else { "1" })
            .child("MeTrDiHCd", &self.institution)
            .child("PrlsHCd", &self.prescriber)
            .child("MeTrDiHNm", &self.name)
            .child("MeTrMonth", &self.month)
            .child("PrIsOrg", if origin == own_institution { "1" } else { "2" })
            .child("InOut", self.inpatient.map(|i| if i { "1" } else { "2" }))
            .push(
                Element::new("DiDateInfs").push_all(self.days.into_iter().map(|d| {
                    let mut e = Element::new("DiDateInf")
                        .child("DiDate", d.date)
                        .child("PrDate", d.prescribed);
                    if !d.drugs.is_empty() {
                        e = e.push(Element::new("DrugInfs").push_all(d.drugs));
                    }
                    if !d.treatments.is_empty() {
                        e = e.push(Element::new("MeTrInfs").push_all(d.treatments));
                    }
                    e
                })),
            )
    }
}

/// `MessageBody/MeTrMonthInf` elements: drugs grouped by month, institution (and, for 調剤, the
/// prescriber) and date, newest first as the central gives them; treatments (診療行為) under the
/// dates of the same month and institution. `DiOrg` is `1` for a 医療機関's receipt and `2` for
/// a 薬局's; `PrIsOrg` `1` when the prescriber (or the institution) is this one; `InOut` `1`
/// 入院 / `2` 外来.
pub fn medication_months(
    medications: &[MedicationRecord],
    treatments: &[TreatmentInfo],
    own_institution: &str,
) -> Vec<Element> {
    let mut months: Vec<Month> = Vec::new();
    let find = |months: &mut Vec<Month>,
                month: &str,
                institution: &str,
                pharmacy: bool,
                prescriber: Option<&str>|
     -> usize {
        match months.iter().position(|m| {
            m.month == month
                && m.institution == institution
                && m.pharmacy == pharmacy
                && (pharmacy || prescriber.is_none())
                && m.prescriber.as_deref() == prescriber
        }) {
            Some(i) => i,
            None => {
                months.push(Month {
                    month: month.to_string(),
                    institution: institution.to_string(),
                    name: None,
                    pharmacy,
                    prescriber: prescriber.map(str::to_string),
                    inpatient: None,
                    days: Vec::new(),
                });
                months.len() - 1
            }
        }
    };
    for m in medications {
        let pharmacy = m.care_kind == "pharmacy";
        let prescriber = if pharmacy {
            m.prescriber_code.as_deref()
        } else {
            None
        };
        let i = find(
            &mut months,
            &m.month,
            &m.institution_code,
            pharmacy,
            prescriber,
        );
        let month = &mut months[i];
        if month.name.is_none() {
            month.name = m.institution_name.clone();
        }
        month.inpatient = Some(m.care_kind == "inpatient");
        let drug = Element::new("DrugInf")
            .child("DrugC", &m.drug_code)
            .child("Qua1", &m.quantity)
            .child("Times", m.days_or_times.map(|t| t.to_string()))
            .child("MeTrIdCl", &m.category)
            .child("Unit", &m.unit)
            .child("DrugN", &m.drug_name);
        month
            .day(m.dispensed_on.as_deref(), m.prescribed_on.as_deref())
            .drugs
            .push(drug);
    }
    for t in treatments {
        let i = find(&mut months, &t.month, &t.institution_code, false, None);
        let month = &mut months[i];
        if month.name.is_none() {
            month.name = t.institution_name.clone();
        }
        let times = (t.dates.len() <= 1).then_some(t.count).flatten();
        let item = || {
            Element::new("MeTrInf")
                .child("SinInfCd", &t.code)
                .child("SinInfN", &t.name)
                .child("MeTrIdCl", treatment_class(&t.kind))
                .child("Times", times.map(|c| c.to_string()))
        };
        if t.dates.is_empty() {
            month.day(None, None).treatments.push(item());
        }
        for d in &t.dates {
            month.day(Some(d), None).treatments.push(item());
        }
    }
    months
        .into_iter()
        .map(|m| m.element(own_institution))
        .collect()
}

/// `MessageBody/SpecificHealthCheckupInfo` elements. `DataType` is the item table's (`PQ`,
/// `CD`, `CO`, `ST`), else `PQ` for a value with a unit and `ST` otherwise; coded values carry
/// the table's `Oid` and repeat the value as `DataValueName`.
pub fn checkups(records: &[CheckupRecord]) -> Vec<Element> {
    use kakunin_formats::checkup::items::{item, ValueType};
    records
        .iter()
        .map(|c| {
            Element::new("SpecificHealthCheckupInfo")
                .child("EffectiveTime", &c.date)
                .push(
                    Element::new("HealthCheckupResultAndQuestionInfos").push_all(
                        c.items.iter().map(|i| {
                            let def = item(&i.code);
                            let kind = match def.map(|d| d.value_type) {
                                Some(t) => t,
                                None if i.unit.is_some() => ValueType::Pq,
                                None => ValueType::St,
                            };
                            let coded = matches!(kind, ValueType::Cd | ValueType::Co);
                            Element::new("HealthCheckupResultAndQuestionInfo")
                                .child("ItemCode", &i.code)
                                .child("ItemName", &i.name)
                                .child("DataType", kind.as_str())
                                .child("DataValue", &i.value)
                                .child("Unit", &i.unit)
                                .child("Oid", def.and_then(|d| d.result_oid).filter(|_| coded))
                                .child("DataValueName", i.value.as_ref().filter(|_| coded))
                        }),
                    ),
                )
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use kakunin_api::{
        ElderlyCertificateInfo, LimitCertificateInfo, ProcessingResult,
        SpecificDiseaseCertificateInfo,
    };

    pub(crate) fn full_result() -> QualificationResult {
        QualificationResult {
            card_classification: "01".into(),
            insurer_number: "138230".into(),
            symbol: Some("記号１".into()),
            number: "0012".into(),
            branch: Some("01".into()),
            relationship: "1".into(),
            insured_name: Some("試験　太郎".into()),
            name: "試験　太郎".into(),
            name_kana: "ｼｹﾝ ﾀﾛｳ".into(),
            sex: "1".into(),
            birthdate: "19500101".into(),
            address: Some("東京都千代田区".into()),
            post_number: Some("1000001".into()),
            qualification_date: "20200401".into(),
            disqualification_date: Some("20270331".into()),
            disqualification_reason: Some("99".into()),
            card_issue_date: Some("20200401".into()),
            card_valid_from: Some("20200401".into()),
            card_valid_until: Some("20270731".into()),
            copay_ratio: "020".into(),
            preschool: None,
            insurer_name: "架空市".into(),
            elderly_certificate: Some(ElderlyCertificateInfo {
                issue_date: Some("20250801".into()),
                valid_from: "20250801".into(),
                valid_until: Some("20260731".into()),
                copay_ratio: "020".into(),
            }),
            limit_consent_flag: "1".into(),
            limit_certificate: Some(LimitCertificateInfo {
                classification: "01".into(),
                bracket: "A03".into(),
                bracket_label: "区分ウ".into(),
                issue_date: Some("20250401".into()),
                valid_from: "20250401".into(),
                valid_until: Some("20260331".into()),
                long_term_date: None,
            }),
            specific_disease_certificates: vec![SpecificDiseaseCertificateInfo {
                disease_category: "1".into(),
                issue_date: None,
                valid_from: "20240101".into(),
                valid_until: None,
                self_pay: "10000".into(),
            }],
            reference_number: Some("P-0001".into()),
        }
    }

    fn flag(category: &str, element: &str, flag: &str) -> ConsentFlag {
        ConsentFlag {
            category: category.into(),
            element: element.into(),
            flag: flag.into(),
            consented_at: (flag != "0").then(|| "20261203091500".into()),
            available_until: (flag != "0").then(|| "20261204091500".into()),
        }
    }

    /// (path below ResultOfQualificationConfirmation, expected value or None for absent).
    const NUMBERS: &[(&str, Option<&str>)] = &[
        ("InsuredCardClassification", Some("01")),
        ("InsurerNumber", Some("138230")),
        ("InsuredCardSymbol", Some("記号１")),
        ("InsuredIdentificationNumber", Some("0012")),
        ("InsuredBranchNumber", Some("01")),
        ("PersonalFamilyClassification", Some("1")),
        ("InsuredName", Some("試験　太郎")),
        ("Name", Some("試験　太郎")),
        ("NameKana", Some("ｼｹﾝ ﾀﾛｳ")),
        ("Sex1", Some("1")),
        ("Birthdate", Some("19500101")),
        ("Address", Some("東京都千代田区")),
        ("PostNumber", Some("1000001")),
        ("QualificationDate", Some("20200401")),
        ("DisqualificationDate", Some("20270331")),
        ("ReasonOfLoss", Some("99")),
        ("InsuredCertificateIssuanceDate", Some("20200401")),
        ("InsuredCardValidDate", Some("20200401")),
        ("InsuredCardExpirationDate", Some("20270731")),
        ("InsuredPartialContributionRatio", Some("020")),
        ("PreschoolClassification", None),
        ("InsurerName", Some("架空市")),
        ("ElderlyRecipientCertificateInfo/ElderlyRecipientCertificateDate", Some("20250801")),
        ("ElderlyRecipientCertificateInfo/ElderlyRecipientValidStartDate", Some("20250801")),
        ("ElderlyRecipientCertificateInfo/ElderlyRecipientValidEndDate", Some("20260731")),
        ("ElderlyRecipientCertificateInfo/ElderlyRecipientContributionRatio", Some("020")),
        ("LimitApplicationCertificateRelatedConsFlg", Some("1")),
        ("LimitApplicationCertificateRelatedConsTime", None),
        ("LimitApplicationCertificateRelatedInfo/LimitApplicationCertificateClassification", Some("01")),
        ("LimitApplicationCertificateRelatedInfo/LimitApplicationCertificateClassificationFlag", Some("A03")),
        ("LimitApplicationCertificateRelatedInfo/LimitApplicationCertificateDate", Some("20250401")),
        ("LimitApplicationCertificateRelatedInfo/LimitApplicationCertificateValidStartDate", Some("20250401")),
        ("LimitApplicationCertificateRelatedInfo/LimitApplicationCertificateValidEndDate", Some("20260331")),
        ("LimitApplicationCertificateRelatedInfo/LimitApplicationCertificateLongTermDate", None),
        ("SpecificDiseasesCertificateRelatedConsFlg", Some("1")),
        ("SpecificDiseasesCertificateList/SpecificDiseasesCertificateInfo/SpecificDiseasesDiseaseCategory", Some("1")),
        ("SpecificDiseasesCertificateList/SpecificDiseasesCertificateInfo/SpecificDiseasesValidStartDate", Some("20240101")),
        ("SpecificDiseasesCertificateList/SpecificDiseasesCertificateInfo/SpecificDiseasesSelfPay", Some("10000")),
        ("PharmacistsInfoConsFlg", None),
        ("ReferenceNumber", Some("P-0001")),
    ];

    #[test]
    fn a_number_check_result_carries_every_element() {
        let e = qualification(&full_result(), &[]);
        for (path, expected) in NUMBERS {
            assert_eq!(e.value(path), *expected, "{path}");
        }
        // A 6-digit 国保 number is padded with spaces (the view above trims).
        assert_eq!(e.find("InsurerNumber").map(Element::text), Some("  138230"));
    }

    /// (path, expected) for a card result with consents.
    const CARD: &[(&str, Option<&str>)] = &[
        ("LimitApplicationCertificateRelatedConsFlg", Some("1")),
        (
            "LimitApplicationCertificateRelatedConsTime",
            Some("20261203091500"),
        ),
        (
            "SpecificDiseasesCertificateRelatedConsTime",
            Some("20261203091500"),
        ),
        ("PharmacistsInfoConsFlg", Some("1")),
        ("PharmacistsInfoConsTime", Some("20261203091500")),
        ("PharmacistsInfoAvailableTime", Some("20261204091500")),
        ("DiagnosisInfoConsFlg", Some("1")),
        ("DiagnosisInfoConsTime", Some("20261203091500")),
        ("DiagnosisInfoAvailableTime", Some("20261204091500")),
        ("OperationInfoConsFlg", Some("2")),
        ("SpecificHealthCheckupsInfoConsFlg", Some("0")),
        ("SpecificHealthCheckupsInfoConsTime", None),
        ("SpecificHealthCheckupsInfoAvailableTime", None),
    ];

    #[test]
    fn a_card_result_carries_the_consents() {
        let mut q = full_result();
        q.limit_consent_flag = "0".into();
        let consents = [
            flag("medications", "PharmacistsInfoConsFlg", "1"),
            flag("treatments", "DiagnosisInfoConsFlg", "1"),
            flag("surgeries", "OperationInfoConsFlg", "2"),
            flag("checkups", "SpecificHealthCheckupsInfoConsFlg", "0"),
            flag("limit", "LimitApplicationCertificateRelatedConsFlg", "1"),
        ];
        let e = qualification(&q, &consents);
        for (path, expected) in CARD {
            assert_eq!(e.value(path), *expected, "{path}");
        }
        // The layout's order: the consent blocks follow the certificates, 照会番号 last.
        let names: Vec<&str> = e.children().iter().map(|c| c.name()).collect();
        let at = |n: &str| names.iter().position(|x| *x == n).unwrap();
        assert!(at("SpecificDiseasesCertificateList") < at("SpecificHealthCheckupsInfoConsFlg"));
        assert!(at("OperationInfoAvailableTime") < at("ReferenceNumber"));
        assert_eq!(names.last(), Some(&"ReferenceNumber"));
    }

    #[test]
    fn insurer_numbers_are_space_padded() {
        for (given, written) in [
            ("138230", "  138230"),
            ("06139992", "06139992"),
            (" 138230 ", "  138230"),
        ] {
            assert_eq!(padded_insurer(given), written);
        }
    }

    #[test]
    fn headers_in_order() {
        let mut head = Head::new(
            "20261203091500",
            "1310000003",
            Some("F-1"),
            CharacterCode::ShiftJis,
        );
        head.segment = Segment::failed_with(super::super::codes::OTHER_INSTITUTION, "1320000002");
        let e = head.element();
        let names: Vec<&str> = e.children().iter().map(|c| c.name()).collect();
        assert_eq!(
            names,
            [
                "ProcessExecutionTime",
                "MedicalInstitutionCode",
                "ArbitraryFileIdentifier",
                "SegmentOfResult",
                "ErrorCode",
                "ErrorMessage",
                "CharacterCodeIdentifier"
            ]
        );
        assert_eq!(e.value("SegmentOfResult"), Some("9"));
        assert_eq!(e.value("CharacterCodeIdentifier"), Some("1"));
        assert_eq!(
            e.value("ErrorMessage"),
            Some("医療機関コードがこの端末の医療機関と異なります（1320000002）")
        );
    }

    #[test]
    fn processing_codes() {
        let answer = EligibilityCheckResponse {
            validity: "4".into(),
            validity_label: "該当資格なし".into(),
            reference_classification: "2".into(),
            qualification_confirmation_date: "20261203".into(),
            process_execution_time: "20261203091500".into(),
            results: vec![],
            processing_result: ProcessingResult {
                status: "1".into(),
                code: "not_found".into(),
                message: "該当する資格がありません。".into(),
                detail: String::new(),
            },
            certificate_notice: None,
            next_nonce: None,
            consents: vec![],
        };
        let body = eligibility_body(&answer, None);
        assert_eq!(body.value("ProcessingResultStatus"), Some("1"));
        assert_eq!(body.value("ProcessingResultCode"), Some("not_found"));
        assert_eq!(body.value("QualificationValidity"), Some("4"));
        assert!(body.find("ResultList").is_none());
        let mut ok = answer.clone();
        ok.processing_result.code = "ok".into();
        assert_eq!(
            eligibility_body(&ok, None).value("ProcessingResultCode"),
            None
        );
    }

    fn drug(month: &str, day: &str, institution: &str, kind: &str, code: &str) -> MedicationRecord {
        MedicationRecord {
            month: month.into(),
            dispensed_on: Some(day.into()),
            prescribed_on: (kind == "pharmacy").then(|| day.into()),
            institution_code: institution.into(),
            institution_name: Some("架空薬局".into()),
            care_kind: kind.into(),
            prescriber_code: (kind == "pharmacy").then(|| "1310000003".into()),
            drug_code: code.into(),
            drug_name: "架空錠".into(),
            known: true,
            quantity: Some("1".into()),
            unit: Some("錠".into()),
            days_or_times: Some(14),
            category: Some("21".into()),
            usage_code: None,
        }
    }

    #[test]
    fn medications_group_by_month_institution_and_day() {
        let meds = [
            drug("202611", "20261110", "1340000001", "pharmacy", "690000001"),
            drug("202611", "20261110", "1340000001", "pharmacy", "690000002"),
            drug("202611", "20261102", "1340000001", "pharmacy", "690000003"),
            drug(
                "202610",
                "20261001",
                "1310000003",
                "outpatient",
                "690000004",
            ),
        ];
        let treatments = [TreatmentInfo {
            month: "202610".into(),
            dates: vec!["20261001".into(), "20261015".into()],
            institution_code: "1310000003".into(),
            institution_name: None,
            kind: "examination".into(),
            kind_label: "検査".into(),
            code: "160000001".into(),
            name: "架空検査".into(),
            known: true,
            count: Some(2),
        }];
        let months = medication_months(&meds, &treatments, "1310000003");
        assert_eq!(months.len(), 2);
        let (ph, own) = (&months[0], &months[1]);
        assert_eq!(ph.value("DiOrg"), Some("2"));
        assert_eq!(ph.value("PrlsHCd"), Some("1310000003"));
        assert_eq!(ph.value("PrIsOrg"), Some("1"), "prescribed here");
        assert_eq!(ph.value("InOut"), Some("2"));
        assert_eq!(ph.all("DiDateInfs/DiDateInf").len(), 2);
        assert_eq!(ph.all("DiDateInfs/DiDateInf/DrugInfs/DrugInf").len(), 3);
        assert_eq!(
            ph.value("DiDateInfs/DiDateInf/DrugInfs/DrugInf/Times"),
            Some("14")
        );
        assert_eq!(own.value("DiOrg"), Some("1"));
        assert_eq!(own.value("MeTrMonth"), Some("202610"));
        let days = own.all("DiDateInfs/DiDateInf");
        assert_eq!(days.len(), 2, "the drug's day and the second test day");
        assert_eq!(days[0].all("MeTrInfs/MeTrInf").len(), 1);
        assert_eq!(days[0].value("MeTrInfs/MeTrInf/MeTrIdCl"), Some("60"));
        assert_eq!(
            days[0].value("MeTrInfs/MeTrInf/Times"),
            None,
            "a count over 2 days"
        );
        assert_eq!(days[1].value("DiDate"), Some("20261015"));
    }

    #[test]
    fn checkup_items() {
        let records = [CheckupRecord {
            date: "20260610".into(),
            institution_id: None,
            institution_name: None,
            items: vec![
                kakunin_api::CheckupItemInfo {
                    code: "9N001000000000001".into(),
                    name: "身長".into(),
                    value: Some("170.1".into()),
                    unit: Some("cm".into()),
                    interpretation: None,
                },
                kakunin_api::CheckupItemInfo {
                    code: "ZZZ".into(),
                    name: "不明".into(),
                    value: Some("あり".into()),
                    unit: None,
                    interpretation: None,
                },
            ],
        }];
        let e = &checkups(&records)[0];
        assert_eq!(e.value("EffectiveTime"), Some("20260610"));
        let items = e.all("HealthCheckupResultAndQuestionInfos/HealthCheckupResultAndQuestionInfo");
        assert_eq!(items[0].value("DataType"), Some("PQ"));
        assert_eq!(items[0].value("Unit"), Some("cm"));
        assert_eq!(items[1].value("DataType"), Some("ST"));
    }
}
