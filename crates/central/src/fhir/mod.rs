//! The FHIR R4 face of the central, under `/fhir/R4`, with JP Core profiles.
//!
//! It answers with the same service as the JSON API (same roles from the client certificate,
//! same access log, same consent rules) and maps the answers to FHIR resources. Every refusal,
//! ours or the framework's, leaves as an `OperationOutcome` carrying the JSON API's stable code.
//! Identifiers never appear in URLs: an eligibility check is a POST of a
//! `CoverageEligibilityRequest`.

pub mod clinical;
pub mod everything;
pub mod model;

use crate::http::{institution_of, AppError, AppState};
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use kakunin_api::{
    ApiError, EligibilityCheckRequest, EligibilityCheckResponse, QualificationResult,
};
use kakunin_domain::Date;
use model::*;

/// Where the FHIR API lives.
pub const BASE: &str = "/fhir/R4";
/// The media type of FHIR JSON.
pub const FHIR_JSON: &str = "application/fhir+json";

/// JP Core profiles, extensions and identifier systems (JAMI FHIR JP WG, JP Core v1).
pub mod jp {
    pub const COVERAGE: &str = "http://jpfhir.jp/fhir/core/StructureDefinition/JP_Coverage";
    pub const PATIENT: &str = "http://jpfhir.jp/fhir/core/StructureDefinition/JP_Patient";
    pub const SYMBOL: &str =
        "http://jpfhir.jp/fhir/core/Extension/StructureDefinition/JP_Coverage_InsuredPersonSymbol";
    pub const NUMBER: &str =
        "http://jpfhir.jp/fhir/core/Extension/StructureDefinition/JP_Coverage_InsuredPersonNumber";
    pub const SUB_NUMBER: &str = "http://jpfhir.jp/fhir/core/Extension/StructureDefinition/JP_Coverage_InsuredPersonSubNumber";
    /// `insurer:symbol:number:branch`, empty parts kept (see ARCHITECTURE.md on the colon).
    pub const SUBSCRIBER_ID: &str = "http://jpfhir.jp/fhir/core/Idsystem/JP_Insurance_SubscriberID";
    /// 保険者番号 (OID 1.2.392.100495.20.3.61), as we write it.
    pub const INSURER_NUMBER: &str = "urn:oid:1.2.392.100495.20.3.61";
    /// The same system under the URI JP Core prefers; accepted in requests.
    pub const INSURER_NUMBER_URI: &str = "http://jpfhir.jp/fhir/core/mhlw/IdSystem/InsurerNumber";
    /// 被保険者区分 1 本人 / 2 家族: the code system JP_Coverage binds `relationship` to (the
    /// text also names …20.2.51; see ARCHITECTURE.md for which we follow and why).
    pub const RELATIONSHIP: &str = "urn:oid:1.2.392.100495.20.2.62";
    /// Which representation a name is: `IDE` (漢字) or `SYL` (カナ).
    pub const NAME_REPRESENTATION: &str =
        "http://hl7.org/fhir/StructureDefinition/iso21090-EN-representation";
}

/// kakunin's own code systems and extensions.
pub mod own {
    /// The stable codes of the JSON API's errors, in `OperationOutcome.issue.details`.
    pub const ERROR_CODE: &str = "urn:kakunin:fhir:CodeSystem:error-code";
    /// 資格有効性 `1`–`5`.
    pub const VALIDITY: &str = "urn:kakunin:fhir:CodeSystem:validity";
    /// 適用区分 of a 限度額適用認定証 (`A01`–`A06`, `B01`–`B10`).
    pub const LIMIT_BRACKET: &str = "urn:kakunin:fhir:CodeSystem:limit-bracket";
    /// 特定疾病区分 `1`–`3`.
    pub const SPECIFIC_DISEASE: &str = "urn:kakunin:fhir:CodeSystem:specific-disease";
    /// On a `CoverageEligibilityRequest`: the patient consented to showing the 限度額適用認定証
    /// (限度額適用認定証提供同意フラグ), `valueBoolean`.
    pub const LIMIT_CONSENT: &str =
        "urn:kakunin:fhir:StructureDefinition:limit-certificate-consent";
    /// On a `CoverageEligibilityRequest`: the My Number card's proof, instead of the card
    /// numbers (照会区分 1). Parts: `certificate` and `signature` (`valueBase64Binary`), `nonce`
    /// (`valueString`), `method` (`valueCode` pin, face or visual), and for face and visual the
    /// terminal's `deviceCertificate` (`valueBase64Binary`); the same values as
    /// `POST /v1/card-checks`.
    pub const CARD_PROOF: &str = "urn:kakunin:fhir:StructureDefinition:card-proof";
    /// On a `CoverageEligibilityResponse`: 資格有効性, `valueCode`.
    pub const VALIDITY_EXTENSION: &str = "urn:kakunin:fhir:StructureDefinition:validity";
}

const BENEFIT_TYPE: &str = "http://terminology.hl7.org/CodeSystem/benefit-type";
const BENEFIT_CATEGORY: &str = "http://terminology.hl7.org/CodeSystem/ex-benefitcategory";
const COPAY_TYPE: &str = "http://terminology.hl7.org/CodeSystem/coverage-copay-type";

/// A resource answered as `application/fhir+json`.
pub struct Fhir(pub Resource);

impl IntoResponse for Fhir {
    fn into_response(self) -> Response {
        match serde_json::to_vec(&self.0) {
            Ok(body) => (
                [(header::CONTENT_TYPE, HeaderValue::from_static(FHIR_JSON))],
                body,
            )
                .into_response(),
            Err(e) => {
                tracing::error!(error = %e, "a FHIR resource did not serialise");
                StatusCode::INTERNAL_SERVER_ERROR.into_response()
            }
        }
    }
}

/// The FHIR routes (merged into the central's router, behind the same authentication).
pub fn router() -> Router<AppState> {
    Router::new()
        .route(&format!("{BASE}/metadata"), get(metadata))
        .route(
            &format!("{BASE}/CoverageEligibilityRequest"),
            post(eligibility),
        )
        .route(&format!("{BASE}/Coverage/_search"), post(coverages))
        .route(
            &format!("{BASE}/MedicationDispense/_search"),
            post(clinical::medication_dispenses),
        )
        .route(
            &format!("{BASE}/Procedure/_search"),
            post(clinical::procedures),
        )
        .route(
            &format!("{BASE}/Observation/_search"),
            post(clinical::observations_search),
        )
}

/// Turns every JSON error answer under [`BASE`] (a refused check, a missing certificate, a
/// rate limit, an unknown path) into an `OperationOutcome`, status and headers kept.
pub async fn outcomes(req: Request, next: Next) -> Response {
    let path = req.uri().path();
    let fhir = path.starts_with("/fhir/") || path.starts_with("/portal/api/fhir/");
    let resp = next.run(req).await;
    let status = resp.status();
    let json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/json"));
    if !fhir || !json || !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let error = match axum::body::to_bytes(body, 64 * 1024).await {
        Ok(b) => serde_json::from_slice::<ApiError>(&b).unwrap_or_else(|_| {
            ApiError::new(
                "internal",
                "システムエラーが発生しました。",
                "the error answer could not be read",
            )
        }),
        Err(_) => ApiError::new(
            "internal",
            "システムエラーが発生しました。",
            "the error answer could not be read",
        ),
    };
    let outcome = Resource::OperationOutcome(outcome_of(status, &error));
    let body = serde_json::to_vec(&outcome).unwrap_or_default();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts
        .headers
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(FHIR_JSON));
    Response::from_parts(parts, Body::from(body))
}

/// The `OperationOutcome` of a JSON API error: issue type from the status (or the code), the
/// stable code in `details.coding`, the Japanese message as `details.text`, the English detail
/// as `diagnostics`.
pub fn outcome_of(status: StatusCode, e: &ApiError) -> OperationOutcome {
    let code = if e.code.starts_with("unsupported_") {
        "not-supported"
    } else {
        match status {
            StatusCode::UNAUTHORIZED => "login",
            StatusCode::FORBIDDEN => "forbidden",
            StatusCode::NOT_FOUND => "not-found",
            StatusCode::METHOD_NOT_ALLOWED | StatusCode::UNSUPPORTED_MEDIA_TYPE => "not-supported",
            StatusCode::CONFLICT => "conflict",
            StatusCode::PAYLOAD_TOO_LARGE => "too-costly",
            StatusCode::TOO_MANY_REQUESTS => "throttled",
            StatusCode::SERVICE_UNAVAILABLE => "transient",
            s if s.is_server_error() => "exception",
            _ => "invalid",
        }
    };
    OperationOutcome {
        issue: vec![Issue {
            severity: "error".into(),
            code: code.into(),
            details: Some(CodeableConcept {
                coding: vec![Coding {
                    system: Some(own::ERROR_CODE.into()),
                    code: Some(e.code.clone()),
                    display: None,
                }],
                text: Some(e.message.clone()),
            }),
            diagnostics: Some(e.detail.clone()),
            expression: vec![],
        }],
    }
}

pub(crate) fn invalid(code: &str, message: &str, detail: impl Into<String>) -> AppError {
    AppError(
        StatusCode::BAD_REQUEST,
        ApiError::new(code, message, detail.into()),
    )
}

/// Parses a request body as the one resource type an endpoint takes.
fn resource_body<T: serde::de::DeserializeOwned>(body: &[u8], kind: &str) -> Result<T, AppError> {
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
        invalid(
            "invalid_json",
            "送信データの形式が正しくありません。",
            format!("the body is not JSON: {e}"),
        )
    })?;
    match value.get("resourceType").and_then(|t| t.as_str()) {
        Some(t) if t == kind => {}
        other => {
            return Err(invalid(
                "wrong_resource_type",
                "送信データの形式が正しくありません。",
                format!("expected resourceType {kind:?}, got {other:?}"),
            ))
        }
    }
    let mut value = value;
    if let Some(o) = value.as_object_mut() {
        o.remove("resourceType");
    }
    serde_json::from_value(value).map_err(|e| {
        invalid(
            "invalid_json",
            "送信データの形式が正しくありません。",
            format!("the {kind} does not match the resource definition: {e}"),
        )
    })
}

/// The id of a local reference `#id`.
fn local(r: Option<&Reference>) -> Option<&str> {
    r?.reference.as_deref()?.strip_prefix('#')
}

/// `yyyy-MM-dd` (a FHIR date) as our `yyyyMMdd`.
pub(crate) fn compact_date(fhir: &str, field: &str) -> Result<String, AppError> {
    let digits: String = fhir.chars().filter(|c| *c != '-').collect();
    match Date::parse(&digits) {
        Ok(d) if fhir.len() == 10 => Ok(d.compact()),
        _ => Err(invalid(
            "invalid_date",
            "日付の形式が正しくありません。",
            format!("{field} must be a FHIR date yyyy-MM-dd, got {fhir:?}"),
        )
        .with_field(field)),
    }
}

pub(crate) trait WithField {
    fn with_field(self, field: &str) -> Self;
}

impl WithField for AppError {
    fn with_field(mut self, field: &str) -> Self {
        self.1.field = Some(field.to_string());
        self
    }
}

/// 保険者番号, 記号, 番号, 枝番.
pub(crate) type CardNumbers = (String, Option<String>, String, Option<String>);

/// The card numbers of a (JP_Coverage) `Coverage`: from its `JP_Insurance_SubscriberID`
/// identifier, or else from the JP Core extensions and the payor's insurer number.
pub(crate) fn card_numbers(c: &Coverage) -> Result<CardNumbers, AppError> {
    let nonempty = |s: &str| (!s.is_empty()).then(|| s.to_string());
    if let Some(value) = c
        .identifier
        .iter()
        .find(|i| i.system.as_deref() == Some(jp::SUBSCRIBER_ID))
        .and_then(|i| i.value.as_deref())
    {
        let parts: Vec<&str> = value.split(':').collect();
        let [insurer, symbol, number, branch] = parts.as_slice() else {
            return Err(invalid(
                "invalid_subscriber_id",
                "保険者番号・記号・番号・枝番の形式が正しくありません。",
                format!(
                    "a {} identifier is insurer:symbol:number:branch (4 parts), got {} parts",
                    jp::SUBSCRIBER_ID,
                    parts.len()
                ),
            )
            .with_field("Coverage.identifier"));
        };
        return Ok((
            insurer.to_string(),
            nonempty(symbol),
            number.to_string(),
            nonempty(branch),
        ));
    }
    let ext = |url: &str| {
        c.extension
            .iter()
            .find(|e| e.url == url)
            .and_then(|e| e.value_string.clone())
    };
    let insurer = c
        .payor
        .iter()
        .filter_map(|p| p.identifier.as_ref())
        .find(|i| {
            matches!(
                i.system.as_deref(),
                Some(jp::INSURER_NUMBER | jp::INSURER_NUMBER_URI)
            )
        })
        .and_then(|i| i.value.clone());
    match (insurer, ext(jp::NUMBER)) {
        (Some(insurer), Some(number)) => Ok((insurer, ext(jp::SYMBOL), number, ext(jp::SUB_NUMBER))),
        _ => Err(invalid(
            "coverage_numbers_required",
            "保険者番号と被保険者証番号を入力してください。",
            format!(
                "the Coverage needs a {} identifier, or the JP_Coverage_InsuredPersonNumber extension and a payor with a {} identifier",
                jp::SUBSCRIBER_ID,
                jp::INSURER_NUMBER
            ),
        )
        .with_field("Coverage")),
    }
}

/// The card check of a request carrying [`own::CARD_PROOF`], if it does.
fn card_proof(
    r: &CoverageEligibilityRequest,
    limit_consent: bool,
) -> Result<Option<kakunin_api::CardCheckRequest>, AppError> {
    let Some(proof) = r.extension.iter().find(|e| e.url == own::CARD_PROOF) else {
        return Ok(None);
    };
    let part = |name: &str| proof.extension.iter().find(|e| e.url == name);
    let missing = |name: &str| {
        invalid(
            "card_proof_incomplete",
            "カードの確認情報が不足しています。",
            format!("the {} extension needs its {name:?} part", own::CARD_PROOF),
        )
        .with_field("CoverageEligibilityRequest.extension")
    };
    let binary = |name: &str| {
        part(name)
            .and_then(|e| e.value_base64_binary.clone())
            .ok_or_else(|| missing(name))
    };
    let method = part("method")
        .and_then(|e| e.value_code.clone())
        .ok_or_else(|| missing("method"))?;
    let signature = binary("signature")?;
    let proof = match method.as_str() {
        "pin" => kakunin_api::CardProof::Pin { signature },
        "face" => kakunin_api::CardProof::Face {
            device_certificate: binary("deviceCertificate")?,
            signature,
        },
        "visual" => kakunin_api::CardProof::Visual {
            device_certificate: binary("deviceCertificate")?,
            signature,
        },
        other => {
            return Err(invalid(
                "unsupported_card_proof_method",
                "本人確認の方法が正しくありません。",
                format!("method is pin, face or visual, got {other:?}"),
            )
            .with_field("CoverageEligibilityRequest.extension"))
        }
    };
    Ok(Some(kakunin_api::CardCheckRequest {
        certificate: binary("certificate")?,
        nonce: part("nonce")
            .and_then(|e| e.value_string.clone())
            .ok_or_else(|| missing("nonce"))?,
        proof,
        limit_application_certificate_related_cons_flg: Some(
            if limit_consent { "1" } else { "0" }.into(),
        ),
        consents: vec![],
    }))
}

fn check_purpose(r: &CoverageEligibilityRequest) -> Result<bool, AppError> {
    if r.purpose.is_empty() {
        return Err(invalid(
            "purpose_required",
            "照会の目的を指定してください。",
            "purpose must hold validation (and may hold benefits)",
        )
        .with_field("CoverageEligibilityRequest.purpose"));
    }
    if let Some(p) = r
        .purpose
        .iter()
        .find(|p| !matches!(p.as_str(), "validation" | "benefits"))
    {
        return Err(invalid(
            "unsupported_purpose",
            "この照会の目的には対応していません。",
            format!("purpose {p:?} is not supported: only validation and benefits are"),
        )
        .with_field("CoverageEligibilityRequest.purpose"));
    }
    Ok(r.purpose.iter().any(|p| p == "benefits"))
}

fn limit_consent(r: &CoverageEligibilityRequest) -> bool {
    r.extension
        .iter()
        .any(|e| e.url == own::LIMIT_CONSENT && e.value_boolean == Some(true))
}

/// The card numbers of a search's JP_Insurance_SubscriberID token (`system|value` or `value`).
pub(crate) fn card_of_token(token: &str) -> Result<CardNumbers, AppError> {
    let value = token
        .strip_prefix(jp::SUBSCRIBER_ID)
        .and_then(|v| v.strip_prefix('|'))
        .unwrap_or(token);
    card_numbers(&Coverage {
        identifier: vec![Identifier::new(jp::SUBSCRIBER_ID, value)],
        ..Default::default()
    })
}

/// A new `urn:uuid:` for a Bundle entry's `fullUrl`.
pub(crate) fn entry_url() -> String {
    format!("urn:uuid:{}", uuid())
}

/// A searchset Bundle of `entry`, `total` of them matches.
pub(crate) fn searchset(entry: Vec<BundleEntry>, total: u64) -> Bundle {
    Bundle {
        id: Some(uuid()),
        type_: "searchset".into(),
        timestamp: Some(crate::service::now().jst_rfc3339()),
        total: Some(total),
        entry,
    }
}

/// The JSON API's check request of a `CoverageEligibilityRequest`, and whether benefits (co-pay
/// and certificates) were asked for.
fn eligibility_input(
    r: &CoverageEligibilityRequest,
) -> Result<(EligibilityCheckRequest, bool), AppError> {
    let benefits = check_purpose(r)?;
    let contained = |id: Option<&str>| {
        r.contained.iter().find(|c| match (c, id) {
            (Resource::Patient(p), Some(id)) => p.id.as_deref() == Some(id),
            (Resource::Coverage(c), Some(id)) => c.id.as_deref() == Some(id),
            _ => false,
        })
    };
    let Some(Resource::Patient(patient)) = contained(local(r.patient.as_ref())) else {
        return Err(invalid(
            "patient_required",
            "患者の生年月日を入力してください。",
            "patient must reference a contained Patient (#id) with a birthDate",
        )
        .with_field("CoverageEligibilityRequest.patient"));
    };
    let Some(birth) = patient.birth_date.as_deref() else {
        return Err(invalid(
            "birthdate_required",
            "生年月日を入力してください。",
            "the contained Patient has no birthDate",
        )
        .with_field("Patient.birthDate"));
    };
    let [insurance] = r.insurance.as_slice() else {
        return Err(invalid(
            "one_insurance_required",
            "保険の情報を1件入力してください。",
            format!(
                "insurance must hold exactly one entry, got {}",
                r.insurance.len()
            ),
        )
        .with_field("CoverageEligibilityRequest.insurance"));
    };
    let Some(Resource::Coverage(coverage)) = contained(local(Some(&insurance.coverage))) else {
        return Err(invalid(
            "coverage_required",
            "保険者番号と被保険者証番号を入力してください。",
            "insurance.coverage must reference a contained Coverage (#id)",
        )
        .with_field("CoverageEligibilityRequest.insurance.coverage"));
    };
    let (insurer_number, symbol, number, branch) = card_numbers(coverage)?;
    let confirmation = r
        .serviced_date
        .as_deref()
        .map(|d| compact_date(d, "CoverageEligibilityRequest.servicedDate"))
        .transpose()?;
    let consent = limit_consent(r);
    Ok((
        EligibilityCheckRequest {
            insurer_number,
            symbol,
            number,
            branch,
            birthdate: compact_date(birth, "Patient.birthDate")?,
            qualification_confirmation_date: confirmation,
            limit_application_certificate_related_cons_flg: Some(
                if consent { "1" } else { "0" }.into(),
            ),
        },
        benefits,
    ))
}

async fn metadata() -> Fhir {
    Fhir(Resource::CapabilityStatement(Box::new(
        capability_statement(),
    )))
}

/// What this server does, for `GET /fhir/R4/metadata`.
pub fn capability_statement() -> CapabilityStatement {
    let version = env!("CARGO_PKG_VERSION");
    CapabilityStatement {
        status: "active".into(),
        date: "2026-12-03".into(),
        kind: "instance".into(),
        software: Software {
            name: "kakunin".into(),
            version: Some(version.into()),
        },
        fhir_version: "4.0.1".into(),
        format: vec![FHIR_JSON.into(), "json".into()],
        rest: vec![Rest {
            mode: "server".into(),
            documentation: Some(
                "オンライン資格確認: eligibility checks by insurance numbers or the My Number card, and consented medical information; the same roles, consent rules and access log as the JSON API under /v1. A patient exports their own data as a Bundle from the portal (GET /portal/api/fhir/Patient/$everything, with the portal session).".into(),
            ),
            security: Some(Security {
                description: Some(
                    "Mutual TLS: a client certificate issued by the kakunin CA, whose role (institution, insurer, admin) decides what may be read. No identifier ever appears in a URL.".into(),
                ),
            }),
            resource: vec![RestResource {
                type_: "CoverageEligibilityRequest".into(),
                profile: None,
                documentation: Some(
                    "POST a CoverageEligibilityRequest (purpose validation, optionally benefits) with a contained Patient (birthDate) and a contained JP_Coverage (JP_Insurance_SubscriberID identifier, or the JP Core number extensions and a payor with the insurer number); or, instead of the numbers, the urn:kakunin:fhir:StructureDefinition:card-proof extension (a My Number card check, 照会区分 1; the nonce from POST /v1/card-checks/nonce). The answer is a CoverageEligibilityResponse with the matching JP_Coverage and JP_Patient contained. Every check is written to the access log.".into(),
                ),
                interaction: vec![Interaction {
                    code: "create".into(),
                }],
                ..Default::default()
            }]
            .into_iter()
            .chain(
                [(
                    "Coverage",
                    "The JP_Coverage of a patient by card numbers and birth date (an eligibility check by numbers, logged as one).",
                )]
                .map(|(kind, what)| RestResource {
                    type_: kind.into(),
                    profile: Some(jp::COVERAGE.into()),
                    documentation: Some(format!(
                        "{what} POST {BASE}/Coverage/_search with identifier (JP_Insurance_SubscriberID token) and birthdate in the form body."
                    )),
                    interaction: vec![Interaction {
                        code: "search-type".into(),
                    }],
                    search_param: vec![
                        SearchParam {
                            name: "identifier".into(),
                            type_: "token".into(),
                            documentation: Some("JP_Insurance_SubscriberID: insurer:symbol:number:branch; required.".into()),
                        },
                        SearchParam {
                            name: "birthdate".into(),
                            type_: "date".into(),
                            documentation: Some("The patient's birth date; required.".into()),
                        },
                    ],
                    operation: vec![],
                }),
            )
            .chain(
                [
                    ("MedicationDispense", "薬剤情報: drugs dispensed or administered, newest first; a 調剤 record carries its prescription as a contained MedicationRequest."),
                    ("Procedure", "診療情報 (category=treatment) and 手術情報 (category=surgery)."),
                    ("Observation", "特定健診情報: each result item, coded with its JLAC10 item code."),
                ]
                .map(|(kind, what)| RestResource {
                    type_: kind.into(),
                    profile: None,
                    documentation: Some(format!(
                        "{what} POST {BASE}/{kind}/_search with the parameters in the form body: only for a patient this institution checked today and who consented to the category here; every search is written to the patient's access log."
                    )),
                    interaction: vec![Interaction {
                        code: "search-type".into(),
                    }],
                    search_param: clinical::SEARCH_PARAMS
                        .iter()
                        .filter(|(name, _, _)| *name != "category" || kind == "Procedure")
                        .map(|(name, type_, doc)| SearchParam {
                            name: (*name).into(),
                            type_: (*type_).into(),
                            documentation: Some((*doc).into()),
                        })
                        .collect(),
                    operation: vec![],
                }),
            )
            .collect(),
        }],
    }
}

async fn eligibility(
    State(app): State<AppState>,
    axum::Extension(peer): axum::Extension<crate::tls::Peer>,
    body: Bytes,
) -> Result<Fhir, AppError> {
    let institution = institution_of(&peer)?;
    let request: CoverageEligibilityRequest = resource_body(&body, "CoverageEligibilityRequest")?;
    let started = std::time::Instant::now();
    if let Some(card) = card_proof(&request, limit_consent(&request))? {
        let benefits = check_purpose(&request)?;
        let answer = crate::cardcheck::card_check(
            &*app.store,
            app.cards()?,
            &institution,
            &card,
            crate::service::now(),
        )
        .await
        .map_err(AppError::from);
        crate::http::count_check("fhir_card", started, &answer);
        let answer = answer?;
        let insurer = answer.results.first().map(|r| r.insurer_number.clone());
        return Ok(Fhir(Resource::CoverageEligibilityResponse(Box::new(
            eligibility_response(insurer.as_deref(), None, &answer, benefits),
        ))));
    }
    let (check, benefits) = eligibility_input(&request)?;
    let answer = crate::http::answer_check(&app, &institution, &check).await;
    crate::http::count_check("fhir", started, &answer);
    let answer = answer?;
    Ok(Fhir(Resource::CoverageEligibilityResponse(Box::new(
        eligibility_response(
            Some(&check.insurer_number),
            Some(&check.birthdate),
            &answer,
            benefits,
        ),
    ))))
}

pub(crate) fn uuid() -> String {
    use ring::rand::SecureRandom;
    let mut b = [0u8; 16];
    if ring::rand::SystemRandom::new().fill(&mut b).is_err() {
        // No randomness: still a unique-enough id for a response that is never stored.
        let now = crate::service::now().unix_millis().to_be_bytes();
        b[..8].copy_from_slice(&now);
    }
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

fn iso(compact: &str) -> String {
    Date::parse(compact).map_or_else(|_| compact.to_string(), Date::iso)
}

/// `yyyyMMddHHmmss` (JST) as a FHIR dateTime.
fn date_time(compact: &str) -> String {
    kakunin_domain::Timestamp::parse_jst_compact(compact).map_or_else(
        || iso(&compact[..compact.len().min(8)]),
        |t| {
            let s = t.jst_rfc3339();
            // Whole seconds: yyyy-MM-ddTHH:mm:ss+09:00.
            format!("{}{}", &s[..19], &s[23..])
        },
    )
}

fn insurer_identifier(number: &str) -> Identifier {
    Identifier::new(jp::INSURER_NUMBER, &format!("{number:0>8}"))
}

/// Whether a result's qualification covers the confirmation date.
fn in_force(r: &QualificationResult, on: &str) -> bool {
    r.qualification_date.as_str() <= on && r.disqualification_date.as_deref().is_none_or(|d| d > on)
}

/// A JP_Patient of a check result: the name in 漢字 and in full-width カナ.
pub fn patient_of(id: &str, r: &QualificationResult) -> Patient {
    jp_patient(
        id,
        &r.name,
        &r.name_kana,
        &r.sex,
        &r.birthdate,
        (r.address.as_ref(), r.post_number.as_ref()),
    )
}

/// A JP_Patient: the name in 漢字 and in full-width カナ (from the half-width kana we store),
/// sex and birth date in our codes, the address when known.
pub fn jp_patient(
    id: &str,
    name: &str,
    half_kana: &str,
    sex: &str,
    birthdate: &str,
    (address, post_number): (Option<&String>, Option<&String>),
) -> Patient {
    let split = |name: &str| -> (Option<String>, Vec<String>) {
        let mut parts = name.splitn(2, '\u{3000}');
        let family = parts.next().map(str::to_string);
        (
            family,
            parts
                .next()
                .map(|g| vec![g.to_string()])
                .unwrap_or_default(),
        )
    };
    let kana = kakunin_domain::text::full_width_kana(half_kana);
    let human = |text: &str, representation: &str| {
        let (family, given) = split(text);
        HumanName {
            extension: vec![Extension::code(jp::NAME_REPRESENTATION, representation)],
            use_: Some("official".into()),
            text: Some(text.to_string()),
            family,
            given,
        }
    };
    Patient {
        id: Some(id.into()),
        meta: Meta::profile(jp::PATIENT),
        name: vec![human(name, "IDE"), human(&kana, "SYL")],
        gender: Some(
            match sex {
                "1" => "male",
                "2" => "female",
                _ => "unknown",
            }
            .into(),
        ),
        birth_date: Some(iso(birthdate)),
        address: match (address, post_number) {
            (None, None) => vec![],
            (text, post) => vec![Address {
                text: text.cloned(),
                postal_code: post.cloned(),
                country: Some("JP".into()),
            }],
        },
    }
}

/// A JP_Coverage of a check result.
pub fn coverage_of(id: &str, patient: &str, r: &QualificationResult, on: &str) -> Coverage {
    let symbol = r.symbol.clone().unwrap_or_default();
    let branch = r.branch.clone().unwrap_or_default();
    let mut extension = Vec::new();
    if !symbol.is_empty() {
        extension.push(Extension::string(jp::SYMBOL, &symbol));
    }
    extension.push(Extension::string(jp::NUMBER, &r.number));
    if !branch.is_empty() {
        extension.push(Extension::string(jp::SUB_NUMBER, &branch));
    }
    let end = r
        .disqualification_date
        .as_deref()
        .and_then(|d| Date::parse(d).ok())
        .and_then(|d| d.add_days(-1))
        .map(Date::iso);
    let copay = r.copay_ratio.trim_start_matches('0');
    Coverage {
        id: Some(id.into()),
        meta: Meta::profile(jp::COVERAGE),
        extension,
        identifier: vec![Identifier::new(
            jp::SUBSCRIBER_ID,
            &format!("{:0>8}:{symbol}:{}:{branch}", r.insurer_number, r.number),
        )],
        status: Some(
            if in_force(r, on) {
                "active"
            } else {
                "cancelled"
            }
            .into(),
        ),
        type_: None,
        subscriber_id: None,
        beneficiary: Some(Reference::to(&format!("#{patient}"))),
        dependent: r.branch.clone(),
        relationship: Some(CodeableConcept::coded(
            jp::RELATIONSHIP,
            &r.relationship,
            Some(if r.relationship == "1" {
                "本人"
            } else {
                "家族"
            }),
        )),
        period: Some(Period {
            start: Some(iso(&r.qualification_date)),
            end,
        }),
        payor: vec![Reference::logical(
            "Organization",
            insurer_identifier(&r.insurer_number),
            Some(r.insurer_name.clone()),
        )],
        cost_to_beneficiary: vec![CostToBeneficiary {
            type_: Some(CodeableConcept::coded(
                COPAY_TYPE,
                "copaypct",
                Some("Copay Percentage"),
            )),
            value_quantity: Some(Quantity {
                value: Some(copay.parse::<u64>().unwrap_or(0).into()),
                unit: Some("%".into()),
                system: Some("http://unitsofmeasure.org".into()),
                code: Some("%".into()),
            }),
            value_money: None,
        }],
    }
}

/// The benefits of a result: the co-pay, and with consent the 限度額 bracket and the 特定疾病
/// limits.
fn benefits_of(r: &QualificationResult) -> Vec<BenefitItem> {
    let category = Some(CodeableConcept::coded(
        BENEFIT_CATEGORY,
        "30",
        Some("Health Benefit Plan Coverage"),
    ));
    let mut items = vec![BenefitItem {
        category: category.clone(),
        name: Some("一部負担金割合".into()),
        term: None,
        benefit: vec![Benefit {
            type_: CodeableConcept::coded(
                BENEFIT_TYPE,
                "copay-percent",
                Some("Copayment Percent per service"),
            ),
            allowed_unsigned_int: Some(r.copay_ratio.parse().unwrap_or(0)),
            ..Default::default()
        }],
    }];
    if let Some(l) = &r.limit_certificate {
        items.push(BenefitItem {
            category: category.clone(),
            name: Some("限度額適用認定証".into()),
            term: Some(CodeableConcept::coded(
                own::LIMIT_BRACKET,
                &l.bracket,
                Some(&l.bracket_label),
            )),
            benefit: vec![Benefit {
                type_: CodeableConcept::coded(
                    BENEFIT_TYPE,
                    "copay-maximum",
                    Some("Copayment maximum per service"),
                ),
                allowed_string: Some(l.bracket.clone()),
                ..Default::default()
            }],
        });
    }
    for s in &r.specific_disease_certificates {
        items.push(BenefitItem {
            category: category.clone(),
            name: Some("特定疾病療養受療証".into()),
            term: Some(CodeableConcept::coded(
                own::SPECIFIC_DISEASE,
                &s.disease_category,
                None,
            )),
            benefit: vec![Benefit {
                type_: CodeableConcept::coded(
                    BENEFIT_TYPE,
                    "copay-maximum",
                    Some("Copayment maximum per service"),
                ),
                allowed_money: Some(Money {
                    value: Some(s.self_pay.parse::<u64>().unwrap_or(0).into()),
                    currency: Some("JPY".into()),
                }),
                ..Default::default()
            }],
        });
    }
    items
}

/// The `CoverageEligibilityResponse` of a check's answer.
/// `insurer` and `birthdate` are what was asked (a card check asks neither).
pub fn eligibility_response(
    insurer: Option<&str>,
    birthdate: Option<&str>,
    answer: &EligibilityCheckResponse,
    benefits: bool,
) -> CoverageEligibilityResponse {
    let on = answer.qualification_confirmation_date.as_str();
    let mut contained = Vec::new();
    let mut insurance = Vec::new();
    for (i, r) in answer.results.iter().enumerate() {
        let (patient, coverage) = (format!("patient-{}", i + 1), format!("coverage-{}", i + 1));
        contained.push(Resource::Patient(patient_of(&patient, r)));
        contained.push(Resource::Coverage(Box::new(coverage_of(
            &coverage, &patient, r, on,
        ))));
        insurance.push(ResponseInsurance {
            coverage: Reference::to(&format!("#{coverage}")),
            inforce: Some(in_force(r, on)),
            benefit_period: None,
            item: if benefits { benefits_of(r) } else { vec![] },
        });
    }
    if answer.results.is_empty() {
        contained.push(Resource::Patient(Patient {
            id: Some("patient".into()),
            birth_date: birthdate.map(iso),
            ..Default::default()
        }));
    }
    let patient = if answer.results.is_empty() {
        "#patient"
    } else {
        "#patient-1"
    };
    let mut purpose = vec!["validation".to_string()];
    if benefits {
        purpose.push("benefits".into());
    }
    let error = match answer.validity.as_str() {
        "1" | "2" | "3" => vec![],
        code => vec![EligibilityError {
            code: CodeableConcept::coded(own::VALIDITY, code, Some(&answer.validity_label)),
        }],
    };
    CoverageEligibilityResponse {
        id: Some(uuid()),
        contained,
        extension: vec![Extension::code(own::VALIDITY_EXTENSION, &answer.validity)],
        status: "active".into(),
        purpose,
        patient: Reference::to(patient),
        serviced_date: Some(iso(on)),
        created: date_time(&answer.process_execution_time),
        request: Reference::logical(
            "CoverageEligibilityRequest",
            Identifier::new("urn:ietf:rfc:3986", &format!("urn:uuid:{}", uuid())),
            None,
        ),
        outcome: if answer.processing_result.status == "1" {
            "complete"
        } else {
            "error"
        }
        .into(),
        disposition: Some(answer.validity_label.clone()),
        insurer: match insurer {
            Some(i) => Reference::logical("Organization", insurer_identifier(i), None),
            None => Reference {
                type_: Some("Organization".into()),
                display: Some("保険者（カードの持ち主の資格なし）".into()),
                ..Default::default()
            },
        },
        insurance,
        error,
    }
}

/// `POST /fhir/R4/Coverage/_search`: the JP_Coverage of a patient the institution knows by card
/// numbers and birth date. It is an eligibility check by numbers (logged as one), answered as a
/// searchset: each matching qualification's Coverage, and the patients included.
async fn coverages(
    State(app): State<AppState>,
    axum::Extension(peer): axum::Extension<crate::tls::Peer>,
    body: Bytes,
) -> Result<Fhir, AppError> {
    let institution = institution_of(&peer)?;
    let mut card = None;
    let mut birth = None;
    for (name, value) in clinical::form(&body)? {
        match name.as_str() {
            "identifier" => card = Some(card_of_token(&value)?),
            "birthdate" => birth = Some(compact_date(&value, "birthdate")?),
            "_format" if value == "json" || value == FHIR_JSON => {}
            other => {
                return Err(invalid(
                    "unsupported_parameter",
                    "この検索条件には対応していません。",
                    format!("Coverage search takes identifier and birthdate; not {other:?}"),
                )
                .with_field(other))
            }
        }
    }
    let (Some((insurer_number, symbol, number, branch)), Some(birthdate)) = (card, birth) else {
        return Err(invalid(
            "coverage_numbers_required",
            "保険者番号・被保険者証番号と生年月日を入力してください。",
            "Coverage search needs identifier (JP_Insurance_SubscriberID) and birthdate",
        ));
    };
    let check = EligibilityCheckRequest {
        insurer_number,
        symbol,
        number,
        branch,
        birthdate,
        qualification_confirmation_date: None,
        limit_application_certificate_related_cons_flg: None,
    };
    let started = std::time::Instant::now();
    let answer = crate::http::answer_check(&app, &institution, &check).await;
    crate::http::count_check("fhir_coverage", started, &answer);
    let answer = answer?;
    let on = answer.qualification_confirmation_date.as_str();
    let mut entry = Vec::new();
    for r in &answer.results {
        let patient_url = entry_url();
        let mut coverage = coverage_of("coverage", "patient", r, on);
        coverage.id = None;
        coverage.beneficiary = Some(Reference::to(&patient_url));
        let mut patient = patient_of("patient", r);
        patient.id = None;
        entry.push(BundleEntry::new(
            entry_url(),
            Resource::Coverage(Box::new(coverage)),
            "match",
        ));
        entry.push(BundleEntry::new(
            patient_url,
            Resource::Patient(patient),
            "include",
        ));
    }
    Ok(Fhir(Resource::Bundle(Box::new(searchset(
        entry,
        answer.results.len() as u64,
    )))))
}
