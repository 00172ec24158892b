//! Medical information as FHIR: drugs as `MedicationDispense` (with the prescription as a
//! contained `MedicationRequest` where the receipt names one), treatments and surgeries as
//! `Procedure`, 特定健診 results as `Observation` (JLAC10 item codes). Institutions search them
//! with `POST …/_search` (identifiers in the form body, never in the URL), under the same
//! consent rules and access log as `POST /v1/medical/{category}`.

use super::model::*;
use super::{compact_date, invalid, Fhir, WithField};
use crate::http::{institution_of, AppError, AppState};
use crate::medical;
use axum::body::Bytes;
use axum::extract::State;
use kakunin_api::{
    CheckupRecord, MedicalInformationRequest, MedicalInformationResponse, MedicationRecord,
    PatientHeader, TreatmentInfo,
};
use kakunin_domain::{ConsentCategory, Date};

/// 特定健診 item codes (JLAC10, 17 characters) as the MHLW XML names them.
pub const CHECKUP_ITEM: &str = "urn:oid:1.2.392.200119.6.1005";
/// 健診機関番号.
pub const CHECKUP_INSTITUTION: &str = "urn:oid:1.2.392.200119.6.102";
/// 医療機関コード / 薬局コード (10 digits: 都道府県, 点数表, 機関).
pub const INSTITUTION_CODE: &str = "urn:kakunin:fhir:NamingSystem:institution-code";
/// レセプト電算処理システム用 医薬品コード (9 digits).
pub const RECEIPT_DRUG: &str = "urn:kakunin:fhir:CodeSystem:receipt-drug-code";
/// レセプト電算処理システム用 診療行為コード (9 digits).
pub const RECEIPT_PROCEDURE: &str = "urn:kakunin:fhir:CodeSystem:receipt-procedure-code";
/// Our treatment kinds (医学管理, 手術, …).
pub const TREATMENT_KIND: &str = "urn:kakunin:fhir:CodeSystem:treatment-kind";
/// 外来 / 入院 / 歯科 / 調剤.
pub const CARE_KIND: &str = "urn:kakunin:fhir:CodeSystem:care-kind";
/// On a `Procedure`: 回数, `valueInteger`.
pub const COUNT: &str = "urn:kakunin:fhir:StructureDefinition:count";
const OBSERVATION_CATEGORY: &str = "http://terminology.hl7.org/CodeSystem/observation-category";
const INTERPRETATION: &str = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation";
const UCUM: &str = "http://unitsofmeasure.org";

/// An institution by its 医療機関コード.
pub(super) fn organization(code: &str, name: Option<&String>) -> Reference {
    Reference::logical(
        "Organization",
        Identifier::new(INSTITUTION_CODE, code),
        name.cloned(),
    )
}

/// `yyyyMMdd` as a FHIR date, or `yyyyMM` as a year-month dateTime.
fn when(date: Option<&str>, month: &str) -> String {
    date.and_then(|d| Date::parse(d).ok())
        .map(Date::iso)
        .unwrap_or_else(|| match (month.get(..4), month.get(4..6)) {
            (Some(y), Some(m)) => format!("{y}-{m}"),
            _ => month.to_string(),
        })
}

fn number(s: &str) -> Option<serde_json::Number> {
    s.trim().parse::<serde_json::Number>().ok()
}

/// A drug given to the patient. 調剤 records carry the prescription they filled.
pub fn medication_dispense(m: &MedicationRecord, patient: &Reference) -> MedicationDispense {
    let medication = CodeableConcept {
        coding: vec![Coding {
            system: Some(RECEIPT_DRUG.into()),
            code: Some(m.drug_code.clone()),
            display: m.known.then(|| m.drug_name.clone()),
        }],
        text: Some(m.drug_name.clone()),
    };
    let mut contained = Vec::new();
    let mut authorizing = Vec::new();
    if m.prescribed_on.is_some() || m.prescriber_code.is_some() {
        contained.push(Resource::MedicationRequest(Box::new(MedicationRequest {
            id: Some("prescription".into()),
            status: "completed".into(),
            intent: "order".into(),
            medication_codeable_concept: medication.clone(),
            subject: patient.clone(),
            authored_on: m
                .prescribed_on
                .as_deref()
                .and_then(|d| Date::parse(d).ok())
                .map(Date::iso),
            requester: m.prescriber_code.as_deref().map(|c| organization(c, None)),
        })));
        authorizing.push(Reference::to("#prescription"));
    }
    MedicationDispense {
        contained,
        extension: vec![],
        status: "completed".into(),
        category: Some(CodeableConcept::coded(CARE_KIND, &m.care_kind, None)),
        medication_codeable_concept: medication,
        subject: patient.clone(),
        performer: vec![Performer {
            actor: organization(&m.institution_code, m.institution_name.as_ref()),
        }],
        authorizing_prescription: authorizing,
        quantity: m
            .quantity
            .as_deref()
            .and_then(number)
            .map(|value| Quantity {
                value: Some(value),
                unit: m.unit.clone(),
                ..Default::default()
            }),
        days_supply: m.days_or_times.map(|d| Quantity {
            value: Some(d.into()),
            unit: Some("日".into()),
            system: Some(UCUM.into()),
            code: Some("d".into()),
        }),
        when_handed_over: Some(when(m.dispensed_on.as_deref(), &m.month)),
        dosage_instruction: m
            .usage_code
            .as_ref()
            .map(|u| Dosage {
                text: Some(format!("用法コード {u}")),
            })
            .into_iter()
            .collect(),
    }
}

/// A treatment or surgery on its 算定日.
pub fn procedure(t: &TreatmentInfo, patient: &Reference) -> Procedure {
    let mut dates: Vec<String> = t
        .dates
        .iter()
        .filter_map(|d| Date::parse(d).ok())
        .map(Date::iso)
        .collect();
    dates.sort();
    let (performed_date_time, performed_period) = match dates.as_slice() {
        [] => (Some(when(None, &t.month)), None),
        [one] => (Some(one.clone()), None),
        [first, .., last] => (
            None,
            Some(Period {
                start: Some(first.clone()),
                end: Some(last.clone()),
            }),
        ),
    };
    Procedure {
        extension: t
            .count
            .map(|c| Extension {
                url: COUNT.into(),
                value_integer: Some(c.into()),
                ..Default::default()
            })
            .into_iter()
            .collect(),
        status: "completed".into(),
        category: Some(CodeableConcept::coded(
            TREATMENT_KIND,
            &t.kind,
            Some(&t.kind_label),
        )),
        code: CodeableConcept {
            coding: vec![Coding {
                system: Some(RECEIPT_PROCEDURE.into()),
                code: Some(t.code.clone()),
                display: t.known.then(|| t.name.clone()),
            }],
            text: Some(t.name.clone()),
        },
        subject: patient.clone(),
        performed_date_time,
        performed_period,
        performer: vec![Performer {
            actor: organization(&t.institution_code, t.institution_name.as_ref()),
        }],
    }
}

/// Each result item of a 特定健診.
pub fn observations(c: &CheckupRecord, patient: &Reference) -> Vec<Observation> {
    let performer: Vec<Reference> = match (&c.institution_id, &c.institution_name) {
        (None, None) => vec![],
        (id, name) => vec![Reference {
            type_: Some("Organization".into()),
            identifier: id
                .as_deref()
                .map(|i| Identifier::new(CHECKUP_INSTITUTION, i)),
            display: name.clone(),
            ..Default::default()
        }],
    };
    c.items
        .iter()
        .map(|i| {
            let numeric = i.value.as_deref().and_then(number);
            let (value_quantity, value_string) = match (&i.value, numeric, &i.unit) {
                (Some(_), Some(n), Some(unit)) => (
                    Some(Quantity {
                        value: Some(n),
                        unit: Some(unit.clone()),
                        system: Some(UCUM.into()),
                        code: Some(unit.clone()),
                    }),
                    None,
                ),
                (Some(v), _, _) => (None, Some(v.clone())),
                (None, _, _) => (None, None),
            };
            let absent = i.value.is_none().then(|| {
                CodeableConcept::coded(
                    "http://terminology.hl7.org/CodeSystem/data-absent-reason",
                    "not-performed",
                    Some("Not Performed"),
                )
            });
            Observation {
                status: "final".into(),
                category: vec![CodeableConcept::coded(
                    OBSERVATION_CATEGORY,
                    "exam",
                    Some("Exam"),
                )],
                code: CodeableConcept {
                    coding: vec![Coding {
                        system: Some(CHECKUP_ITEM.into()),
                        code: Some(i.code.clone()),
                        display: Some(i.name.clone()),
                    }],
                    text: Some(i.name.clone()),
                },
                subject: patient.clone(),
                effective_date_time: Date::parse(&c.date).ok().map(Date::iso),
                performer: performer.clone(),
                value_quantity,
                value_string,
                data_absent_reason: absent,
                interpretation: i
                    .interpretation
                    .as_deref()
                    .map(|x| match x {
                        "H" | "L" | "N" | "A" => CodeableConcept::coded(INTERPRETATION, x, None),
                        other => CodeableConcept {
                            coding: vec![],
                            text: Some(other.to_string()),
                        },
                    })
                    .into_iter()
                    .collect(),
            }
        })
        .collect()
}

/// The resources of one category's answer.
pub fn resources_of(r: &MedicalInformationResponse, patient: &Reference) -> Vec<Resource> {
    let mut out: Vec<Resource> = r
        .medications
        .iter()
        .map(|m| Resource::MedicationDispense(Box::new(medication_dispense(m, patient))))
        .collect();
    out.extend(
        r.treatments
            .iter()
            .map(|t| Resource::Procedure(Box::new(procedure(t, patient)))),
    );
    for c in &r.checkups {
        out.extend(
            observations(c, patient)
                .into_iter()
                .map(|o| Resource::Observation(Box::new(o))),
        );
    }
    out
}

/// The JP_Patient of a medical answer's header.
pub fn patient_of_header(id: &str, h: &PatientHeader) -> Patient {
    super::jp_patient(
        id,
        &h.name,
        &h.name_kana,
        &h.sex,
        &h.birthdate,
        (None, None),
    )
}

/// A form body (`application/x-www-form-urlencoded`) as name/value pairs.
pub(super) fn form(body: &[u8]) -> Result<Vec<(String, String)>, AppError> {
    let decode = |s: &str| -> Option<String> {
        let mut out = Vec::with_capacity(s.len());
        let b = s.as_bytes();
        let mut i = 0;
        while i < b.len() {
            match b[i] {
                b'+' => out.push(b' '),
                b'%' => {
                    let hex = s.get(i + 1..i + 3)?;
                    out.push(u8::from_str_radix(hex, 16).ok()?);
                    i += 2;
                }
                c => out.push(c),
            }
            i += 1;
        }
        String::from_utf8(out).ok()
    };
    let text = std::str::from_utf8(body).map_err(|_| {
        invalid(
            "invalid_form",
            "検索条件の形式が正しくありません。",
            "the search body is not UTF-8",
        )
    })?;
    text.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            match (decode(k), decode(v)) {
                (Some(k), Some(v)) => Ok((k, v)),
                _ => Err(invalid(
                    "invalid_form",
                    "検索条件の形式が正しくありません。",
                    format!("the search parameter {pair:?} is not form-encoded"),
                )),
            }
        })
        .collect()
}

/// The search parameters every clinical search takes.
pub const SEARCH_PARAMS: [(&str, &str, &str); 4] = [
    (
        "coverage-identifier",
        "token",
        "The patient's card as a JP_Insurance_SubscriberID token (system|insurer:symbol:number:branch); required.",
    ),
    (
        "birthdate",
        "date",
        "The patient's birth date (yyyy-MM-dd); required, so that numbers alone never reveal anything.",
    ),
    (
        "date",
        "date",
        "The period: ge<date> and/or le<date>; default the 5 years before today.",
    ),
    (
        "category",
        "token",
        "Procedure only: treatment (default) or surgery.",
    ),
];

/// The JSON API's request of a clinical search, and the category it asks for.
fn search_input(
    body: &[u8],
    kind: &str,
) -> Result<(MedicalInformationRequest, ConsentCategory), AppError> {
    let mut card = None;
    let mut birth = None;
    let (mut from, mut to) = (None, None);
    let mut category = match kind {
        "MedicationDispense" => ConsentCategory::Medications,
        "Observation" => ConsentCategory::Checkups,
        _ => ConsentCategory::Treatments,
    };
    for (name, value) in form(body)? {
        match name.as_str() {
            "coverage-identifier" => card = Some(super::card_of_token(&value)?),
            "birthdate" => birth = Some(compact_date(&value, "birthdate")?),
            "date" => {
                let (prefix, d) = value.split_at(value.len().min(2));
                match prefix {
                    "ge" => from = Some(compact_date(d, "date")?),
                    "le" => to = Some(compact_date(d, "date")?),
                    _ => {
                        return Err(invalid(
                            "unsupported_date_prefix",
                            "期間の指定方法に対応していません。",
                            format!("date takes ge<date> or le<date>, got {value:?}"),
                        )
                        .with_field("date"))
                    }
                }
            }
            "category" if kind == "Procedure" => {
                category = match value.as_str() {
                    "treatment" => ConsentCategory::Treatments,
                    "surgery" => ConsentCategory::Surgeries,
                    _ => {
                        return Err(invalid(
                            "unsupported_category",
                            "情報の種類が正しくありません。",
                            format!("category is treatment or surgery, got {value:?}"),
                        )
                        .with_field("category"))
                    }
                }
            }
            "_format" if value == "json" || value == super::FHIR_JSON => {}
            other => {
                return Err(invalid(
                    "unsupported_parameter",
                    "この検索条件には対応していません。",
                    format!(
                        "{kind} search takes coverage-identifier, birthdate, date{}; not {other:?}",
                        if kind == "Procedure" {
                            " and category"
                        } else {
                            ""
                        }
                    ),
                )
                .with_field(other))
            }
        }
    }
    let Some((insurer_number, symbol, number, branch)) = card else {
        return Err(invalid(
            "coverage_numbers_required",
            "保険者番号と被保険者証番号を入力してください。",
            "coverage-identifier is required",
        )
        .with_field("coverage-identifier"));
    };
    let Some(birthdate) = birth else {
        return Err(invalid(
            "birthdate_required",
            "生年月日を入力してください。",
            "birthdate is required",
        )
        .with_field("birthdate"));
    };
    Ok((
        MedicalInformationRequest {
            insurer_number,
            symbol,
            number,
            branch,
            birthdate,
            start_date: from,
            end_date: to,
        },
        category,
    ))
}

/// A searchset of `resources` about one patient, the patient included (at `patient_url`, which
/// the resources' subjects point to).
pub fn searchset(patient: Patient, patient_url: String, resources: Vec<Resource>) -> Bundle {
    let total = resources.len() as u64;
    let mut entry: Vec<BundleEntry> = resources
        .into_iter()
        .map(|r| BundleEntry::new(super::entry_url(), r, "match"))
        .collect();
    entry.push(BundleEntry::new(
        patient_url,
        Resource::Patient(patient),
        "include",
    ));
    super::searchset(entry, total)
}

async fn search(
    app: &AppState,
    peer: &crate::tls::Peer,
    body: &[u8],
    kind: &str,
) -> Result<Fhir, AppError> {
    let institution = institution_of(peer)?;
    let (request, category) = search_input(body, kind)?;
    let answer = medical::information(
        &*app.store,
        &institution,
        category,
        &request,
        crate::service::now(),
    )
    .await
    .map_err(AppError::from);
    crate::metrics::view(category.code(), "fhir", answer.is_ok());
    let answer = answer?;
    let patient_url = super::entry_url();
    let resources = resources_of(&answer, &Reference::to(&patient_url));
    let bundle = searchset(
        patient_of_header("patient", &answer.patient),
        patient_url,
        resources,
    );
    Ok(Fhir(Resource::Bundle(Box::new(bundle))))
}

pub(super) async fn medication_dispenses(
    State(app): State<AppState>,
    axum::Extension(peer): axum::Extension<crate::tls::Peer>,
    body: Bytes,
) -> Result<Fhir, AppError> {
    search(&app, &peer, &body, "MedicationDispense").await
}

pub(super) async fn procedures(
    State(app): State<AppState>,
    axum::Extension(peer): axum::Extension<crate::tls::Peer>,
    body: Bytes,
) -> Result<Fhir, AppError> {
    search(&app, &peer, &body, "Procedure").await
}

pub(super) async fn observations_search(
    State(app): State<AppState>,
    axum::Extension(peer): axum::Extension<crate::tls::Peer>,
    body: Bytes,
) -> Result<Fhir, AppError> {
    search(&app, &peer, &body, "Observation").await
}
