//! The person's own export as FHIR (`Patient/$everything` in the portal): a `Bundle` with their
//! JP_Patient, a JP_Coverage per qualification, their medical records, their consents
//! (`Consent`) and every access to their data as an `AuditEvent` in the IHE BALP style.

use super::clinical::{self, organization};
use super::model::*;
use super::{coverage_of, entry_url, patient_of, searchset};
use crate::portal::{AccessView, ConsentView};
use kakunin_api::{MedicalInformationResponse, QualificationResult};

/// Our categories of medical information (薬剤情報, 診療情報, 手術情報, 特定健診情報, 限度額).
pub const CONSENT_CATEGORY: &str = "urn:kakunin:fhir:CodeSystem:consent-category";
/// Why an institution read the data (資格確認 by card, by numbers, 閲覧, …).
pub const ACCESS_PURPOSE: &str = "urn:kakunin:fhir:CodeSystem:access-purpose";
/// The rule every consent follows: given at the card reader, per institution and category,
/// for a limited time, withdrawable in the portal.
pub const CONSENT_POLICY: &str = "urn:kakunin:fhir:policy:reader-consent";
const DICOM: &str = "http://dicom.nema.org/resources/ontology/DCM";

/// What the export holds, as the portal reads it.
pub(crate) struct Everything<'a> {
    /// Newest first.
    pub(crate) qualifications: Vec<&'a QualificationResult>,
    pub(crate) newest: &'a QualificationResult,
    /// `yyyyMMdd`.
    pub(crate) today: &'a str,
    pub(crate) medical: &'a [MedicalInformationResponse],
    pub(crate) consents: &'a [ConsentView],
    pub(crate) access: &'a [AccessView],
}

/// A consent given at the reader.
pub(crate) fn consent(c: &ConsentView, patient: &Reference) -> Consent {
    let institution = organization(&c.institution_code, c.institution_name.as_ref());
    Consent {
        status: if c.state == "active" {
            "active"
        } else {
            "inactive"
        }
        .into(),
        scope: CodeableConcept::coded(
            "http://terminology.hl7.org/CodeSystem/consentscope",
            "patient-privacy",
            Some("Privacy Consent"),
        ),
        category: vec![CodeableConcept::coded(
            "http://loinc.org",
            "59284-0",
            Some("Patient Consent"),
        )],
        patient: Some(patient.clone()),
        date_time: Some(c.given_at.clone()),
        organization: vec![institution.clone()],
        policy: vec![ConsentPolicy {
            uri: Some(CONSENT_POLICY.into()),
        }],
        provision: Some(Provision {
            type_: Some("permit".into()),
            period: Some(Period {
                start: Some(c.given_at.clone()),
                end: Some(c.expires_at.clone()),
            }),
            actor: vec![ConsentActor {
                role: CodeableConcept::coded(
                    "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                    "IRCP",
                    Some("information recipient"),
                ),
                reference: institution,
            }],
            class_: vec![Coding {
                system: Some(CONSENT_CATEGORY.into()),
                code: Some(c.category.into()),
                display: Some(c.category_label.into()),
            }],
        }),
    }
}

/// An access to the person's data, in the pattern of IHE BALP's "read with a known patient":
/// the institution as the requesting client, kakunin as the observer, the patient as the
/// entity; a refusal is a failed event with its reason.
pub(crate) fn audit_event(a: &AccessView, patient: &Reference) -> AuditEvent {
    let read = a.category.is_some();
    AuditEvent {
        meta: None,
        type_: Coding {
            system: Some("http://terminology.hl7.org/CodeSystem/audit-event-type".into()),
            code: Some("rest".into()),
            display: Some("Restful Operation".into()),
        },
        subtype: vec![Coding {
            system: Some("http://hl7.org/fhir/restful-interaction".into()),
            code: Some(if read { "read" } else { "search-type" }.into()),
            display: None,
        }],
        action: Some(
            if a.outcome == "registered" {
                "C"
            } else if read {
                "R"
            } else {
                "E"
            }
            .into(),
        ),
        recorded: a.at.clone(),
        outcome: Some(if a.outcome == "refused" { "4" } else { "0" }.into()),
        outcome_desc: Some(a.outcome_label.clone()),
        purpose_of_event: vec![CodeableConcept {
            coding: vec![Coding {
                system: Some(ACCESS_PURPOSE.into()),
                code: Some(a.purpose.into()),
                display: Some(a.purpose_label.into()),
            }],
            text: Some(match a.category_label {
                Some(c) => format!("{}（{c}、{}）", a.purpose_label, a.basis_label),
                None => format!("{}（{}）", a.purpose_label, a.basis_label),
            }),
        }],
        agent: vec![
            AuditAgent {
                type_: Some(CodeableConcept::coded(
                    DICOM,
                    "110153",
                    Some("Source Role ID"),
                )),
                who: Some(organization(
                    &a.institution_code,
                    a.institution_name.as_ref(),
                )),
                requestor: true,
                purpose_of_use: vec![],
            },
            AuditAgent {
                type_: Some(CodeableConcept::coded(
                    DICOM,
                    "110152",
                    Some("Destination Role ID"),
                )),
                who: Some(Reference {
                    display: Some("kakunin central".into()),
                    ..Default::default()
                }),
                requestor: false,
                purpose_of_use: vec![],
            },
        ],
        source: AuditSource {
            site: None,
            observer: Reference {
                display: Some("kakunin central".into()),
                ..Default::default()
            },
        },
        entity: vec![AuditEntity {
            what: Some(patient.clone()),
            type_: Some(Coding {
                system: Some("http://terminology.hl7.org/CodeSystem/audit-entity-type".into()),
                code: Some("1".into()),
                display: Some("Person".into()),
            }),
            role: Some(Coding {
                system: Some("http://terminology.hl7.org/CodeSystem/object-role".into()),
                code: Some("1".into()),
                display: Some("Patient".into()),
            }),
        }],
    }
}

/// The export.
pub(crate) fn bundle(e: Everything<'_>) -> Bundle {
    let patient_url = entry_url();
    let patient = Reference::to(&patient_url);
    let mut entries = vec![BundleEntry::new(
        patient_url.clone(),
        Resource::Patient(patient_of("patient", e.newest)),
        "match",
    )];
    let mut push = |r: Resource| entries.push(BundleEntry::new(entry_url(), r, "match"));
    for (i, q) in e.qualifications.iter().enumerate() {
        let mut c = coverage_of(&format!("coverage-{}", i + 1), "patient", q, e.today);
        c.beneficiary = Some(patient.clone());
        push(Resource::Coverage(Box::new(c)));
    }
    for m in e.medical {
        for r in clinical::resources_of(m, &patient) {
            push(r);
        }
    }
    for c in e.consents {
        push(Resource::Consent(Box::new(consent(c, &patient))));
    }
    for a in e.access {
        push(Resource::AuditEvent(Box::new(audit_event(a, &patient))));
    }
    let total = entries.len() as u64;
    searchset(entries, total)
}
