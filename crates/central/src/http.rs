//! The HTTP API: routes, role checks, error mapping and the OpenAPI document.

use crate::cardcheck::{self, CardError, CardServices};
use crate::emergency::{self, EmergencyError};
use crate::medical::{self, InfoError};
use crate::ops::{self, OpsError};
use crate::pki::Role;
use crate::reception::{self, BatchQueue, ReceptionError};
use crate::service::{self, CheckError, ImportError, Scope};
use crate::tls::{AuthFailure, Peer};
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Extension, MatchedPath, Path, Query, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use kakunin_api::{
    access_record, AccessLogRecord, ApiError, BatchConfirmUnit, BatchInquiryAccepted,
    BatchInquiryRequest, BatchInquiryResponse, BatchInquirySummary, CardCheckRequest,
    CardConsentRequest, CardConsentResponse, CardNonce, CardProof, CardRegistrationRequest,
    CardRegistrationResponse, CertificateNotice, CheckupImportReport, CheckupItemInfo,
    CheckupPackageUpload, CheckupRecord, ConsentFlag, DeclarationRecord, DeclarationRequest,
    DismissLinkReviewRequest, ElderlyCertificateInfo, EligibilityCheckRequest,
    EligibilityCheckResponse, EmergencyPerson, EmergencyRequest, FileProblem, Health,
    LimitCertificateInfo, LinkReviewRecord, MasterImportReport, MedicalInformationRequest,
    MedicalInformationResponse, MedicationRecord, OfflineCardCheckRequest, PatientHeader,
    ProcessingResult, QualificationResult, ReceiptImportReport, ReferenceNumberRequest,
    ReferenceNumberResponse, RosterImportReport, RosterLineError, SpecificDiseaseCertificateInfo,
    StoreNodeInfo, StoreStatusInfo, TreatmentInfo,
};
use kakunin_api::{
    CertificateRecord, CertificateRequest, IssuedCertificate, RevocationRecord, RevocationRequest,
};
use kakunin_api::{
    FreshnessReport, InstitutionRecord, InstitutionRequest, InsurerFreshnessRecord, KindUsage,
    LagRecord, MonthTotals, UsageFigures, UsageStatistics,
};
use kakunin_domain::InstitutionCode;
use kakunin_store::MasterKind;
use kakunin_store::{RevokeOutcome, Store, StoreError};
use serde::Deserialize;
use std::sync::Arc;
use utoipa::OpenApi;

/// Largest roster accepted in one upload.
pub const MAX_ROSTER_BYTES: usize = 1 << 30;
/// Largest 一括照会 upload (5,000 items of a few hundred bytes each, with room to spare).
pub const MAX_BATCH_BYTES: usize = 8 << 20;
/// Largest UKE file, master or 特定健診 package accepted in one upload.
pub const MAX_MEDICAL_BYTES: usize = 512 << 20;

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    /// Card checks and linking; `None` when no authority is configured.
    pub cards: Option<Arc<CardServices>>,
    /// This node's 一括照会 worker.
    pub batches: BatchQueue,
    /// The patient portal's local card helper URL (`GET /portal/api/config`).
    pub portal_card_helper: Arc<str>,
    /// Finished months' usage counts (`GET /v1/admin/statistics`).
    pub stats: ops::StatsCache,
    /// The client-certificate registry (`/v1/admin/certificates`).
    pub certificates: Arc<crate::clientcerts::Registry>,
    /// Issues client certificates, when this node holds the CA key.
    pub ca: Option<Arc<crate::pki::Ca>>,
    /// Per-institution rate limits.
    pub limiter: Arc<crate::limits::Limiter>,
}

impl AppState {
    pub(crate) fn cards(&self) -> Result<&CardServices, AppError> {
        self.cards.as_deref().ok_or_else(|| {
            AppError(
                StatusCode::SERVICE_UNAVAILABLE,
                ApiError::new(
                    "card_checks_unavailable",
                    "マイナンバーカードでの確認は現在利用できません。保険証情報で確認してください。",
                    "This central runs without an authority; card checks are disabled.",
                ),
            )
        })
    }
}

fn authority_unavailable(detail: String) -> AppError {
    tracing::warn!(error = %detail, "authority unavailable");
    AppError(
        StatusCode::SERVICE_UNAVAILABLE,
        ApiError::new(
            "authority_unavailable",
            "本人確認の照会先に接続できません。しばらくしてから再度お試しください。",
            "The authority (J-LIS) could not be reached; retry later.",
        ),
    )
}

impl From<ImportError> for AppError {
    fn from(e: ImportError) -> Self {
        match e {
            ImportError::Store(e) => e.into(),
            ImportError::Authority(d) => authority_unavailable(d),
        }
    }
}

impl From<InfoError> for AppError {
    fn from(e: InfoError) -> Self {
        match e {
            InfoError::Invalid(e) => AppError(StatusCode::BAD_REQUEST, e),
            InfoError::Refused(e) if e.code == medical::refusal::NOT_FOUND.0 => {
                AppError(StatusCode::NOT_FOUND, e)
            }
            InfoError::Refused(e) => AppError(StatusCode::FORBIDDEN, e),
            InfoError::Store(e) => e.into(),
        }
    }
}

impl From<ReceptionError> for AppError {
    fn from(e: ReceptionError) -> Self {
        match e {
            ReceptionError::Invalid(e) => AppError(StatusCode::BAD_REQUEST, e),
            ReceptionError::Refused(e) if e.code == medical::refusal::AMBIGUOUS.0 => {
                AppError(StatusCode::CONFLICT, e)
            }
            ReceptionError::Refused(e) => AppError(StatusCode::NOT_FOUND, e),
            ReceptionError::Store(e) => e.into(),
        }
    }
}

/// 照会番号 registration (institution role, like `OQSsiimm01req`): the institution's own id
/// for the patient the numbers and birth date name, returned in its later results
/// (`results[].reference_number`) for that person, by numbers, card or batch. Registering
/// again replaces it. Logged in the patient's access log.
#[utoipa::path(
    post,
    path = "/v1/reference-numbers",
    request_body = ReferenceNumberRequest,
    responses(
        (status = 200, body = ReferenceNumberResponse),
        (status = 400, body = ApiError, description = "A field is malformed (`field` says which)."),
        (status = 404, body = ApiError, description = "qualification_not_found."),
        (status = 409, body = ApiError, description = "multiple_matches: give the branch number."),
        (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 503, body = ApiError)
    )
)]
async fn register_reference_number(
    State(app): State<AppState>,
    Extension(peer): Extension<Peer>,
    body: Bytes,
) -> Result<Json<ReferenceNumberResponse>, AppError> {
    let institution = institution_of(&peer)?;
    let request: ReferenceNumberRequest = json_body(&body)?;
    Ok(Json(
        reception::register_reference_number(&*app.store, &institution, &request, service::now())
            .await?,
    ))
}

/// 一括照会 (institution role, like `OQSmuquc01req`): up to 5,000 checks by insurance numbers,
/// e.g. tomorrow's appointments. Answered at once with a 受付番号; the results follow at
/// `GET /v1/batch-inquiries/{reception_number}`. Each item is checked and logged like a single
/// check; a malformed item gets its own error in the results.
#[utoipa::path(
    post,
    path = "/v1/batch-inquiries",
    request_body = BatchInquiryRequest,
    responses(
        (status = 202, body = BatchInquiryAccepted),
        (status = 400, body = ApiError, description = "batch_empty, batch_too_large, invalid_qualification_confirmation_date, invalid_json."),
        (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 503, body = ApiError)
    )
)]
async fn submit_batch_inquiry(
    State(app): State<AppState>,
    Extension(peer): Extension<Peer>,
    body: Bytes,
) -> Result<(StatusCode, Json<BatchInquiryAccepted>), AppError> {
    let institution = institution_of(&peer)?;
    let request: BatchInquiryRequest = json_body(&body)?;
    let accepted = reception::submit_batch(
        &*app.store,
        &app.batches,
        &institution,
        &request,
        service::now(),
    )
    .await?;
    Ok((StatusCode::ACCEPTED, Json(accepted)))
}

/// The institution's 一括照会 of the last 7 days, newest first, without results.
#[utoipa::path(
    get,
    path = "/v1/batch-inquiries",
    responses((status = 200, body = Vec<BatchInquirySummary>), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 503, body = ApiError))
)]
async fn batch_inquiries(
    State(app): State<AppState>,
    Extension(peer): Extension<Peer>,
) -> Result<Json<Vec<BatchInquirySummary>>, AppError> {
    let institution = institution_of(&peer)?;
    Ok(Json(
        reception::list_batches(&*app.store, &institution, service::now()).await?,
    ))
}

/// One 一括照会 of the institution (like `OQSmuquc02res`): `processing` (SegmentOfResult 2)
/// without units, or `done` with one `BatchConfirmUnit` per item in the order submitted.
#[utoipa::path(
    get,
    path = "/v1/batch-inquiries/{reception_number}",
    params(("reception_number" = String, Path, description = "受付番号 from the upload's answer.")),
    responses(
        (status = 200, body = BatchInquiryResponse),
        (status = 404, body = ApiError, description = "batch_not_found: unknown, another institution's, or past the 7 days."),
        (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 503, body = ApiError)
    )
)]
async fn batch_inquiry(
    State(app): State<AppState>,
    Extension(peer): Extension<Peer>,
    Path(reception_number): Path<String>,
) -> Result<Json<BatchInquiryResponse>, AppError> {
    let institution = institution_of(&peer)?;
    Ok(Json(
        reception::get_batch(&*app.store, &institution, &reception_number).await?,
    ))
}

impl From<EmergencyError> for AppError {
    fn from(e: EmergencyError) -> Self {
        match e {
            EmergencyError::Invalid(e) => AppError(StatusCode::BAD_REQUEST, e),
            EmergencyError::Refused(e) => AppError(StatusCode::FORBIDDEN, e),
            EmergencyError::NotIdentified(e, status) => AppError(
                StatusCode::from_u16(status).unwrap_or(StatusCode::NOT_FOUND),
                e,
            ),
            EmergencyError::Store(e) => e.into(),
        }
    }
}

/// Declares 災害時モード for areas and a period (admin role). Institutions located there may
/// find people without a card until it ends (by itself at `ends_at`, or early).
#[utoipa::path(
    post,
    path = "/v1/admin/emergencies",
    request_body = DeclarationRequest,
    responses((status = 201, body = DeclarationRecord), (status = 400, body = ApiError), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 503, body = ApiError))
)]
async fn declare_emergency(
    State(app): State<AppState>,
    Extension(peer): Extension<Peer>,
    body: Bytes,
) -> Result<(StatusCode, Json<DeclarationRecord>), AppError> {
    let role = authorize(&peer, "admin")?;
    let request: DeclarationRequest = json_body(&body)?;
    let by = format!("admin:{}", role.id());
    let record = emergency::declare(&*app.store, &by, &request, service::now()).await?;
    audit_event(
        &app,
        &by,
        "emergency_declared",
        &record.id.to_string(),
        serde_json::json!({"areas": record.areas, "starts_at": record.starts_at, "ends_at": record.ends_at}),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(record)))
}

/// Every declaration, newest first (admin role).
#[utoipa::path(
    get,
    path = "/v1/admin/emergencies",
    responses((status = 200, body = Vec<DeclarationRecord>), (status = 401, body = ApiError), (status = 403, body = ApiError))
)]
async fn emergencies(
    State(app): State<AppState>,
    Extension(peer): Extension<Peer>,
) -> Result<Json<Vec<DeclarationRecord>>, AppError> {
    authorize(&peer, "admin")?;
    Ok(Json(emergency::list(&*app.store, service::now()).await?))
}

/// Ends a declaration early (admin role).
#[utoipa::path(
    post,
    path = "/v1/admin/emergencies/{id}/end",
    params(("id" = i64, Path, description = "The declaration's id.")),
    responses((status = 204), (status = 400, body = ApiError, description = "invalid_request: the id is not a number."), (status = 404, body = ApiError), (status = 401, body = ApiError), (status = 403, body = ApiError))
)]
async fn end_emergency(
    State(app): State<AppState>,
    Extension(peer): Extension<Peer>,
    Path(id): Path<i64>,
) -> Result<StatusCode, AppError> {
    let role = authorize(&peer, "admin")?;
    if emergency::end(&*app.store, id, service::now()).await? {
        let by = format!("admin:{}", role.id());
        audit_event(
            &app,
            &by,
            "emergency_ended",
            &id.to_string(),
            serde_json::json!({}),
        )
        .await?;
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(AppError(
            StatusCode::NOT_FOUND,
            ApiError::new(
                "declaration_not_active",
                "実施中の災害時モードの宣言ではありません。",
                "no running declaration has this id",
            ),
        ))
    }
}

/// The declarations in force for the calling institution's area (institution role): the
/// terminal offers the emergency search only then.
#[utoipa::path(
    get,
    path = "/v1/emergency",
    responses((status = 200, body = Vec<DeclarationRecord>), (status = 401, body = ApiError), (status = 403, body = ApiError))
)]
async fn emergency_status(
    State(app): State<AppState>,
    Extension(peer): Extension<Peer>,
) -> Result<Json<Vec<DeclarationRecord>>, AppError> {
    let institution = institution_of(&peer)?;
    Ok(Json(
        emergency::for_institution(&*app.store, &institution).await?,
    ))
}

/// 災害時: eligibility of a person found without a card, by the 4 attributes (name, sex, birth
/// date, address) or insurance numbers, with verbal consent or 同意なし（生命保護）
/// (institution role, inside a declared area and period). Several matches are refused without
/// a list. Logged with the emergency basis; the person sees it flagged in the portal.
#[utoipa::path(
    post,
    path = "/v1/emergency/check",
    request_body = EmergencyRequest,
    responses(
        (status = 200, body = EligibilityCheckResponse),
        (status = 400, body = ApiError, description = "attributes_required, invalid_consent, a malformed field."),
        (status = 403, body = ApiError, description = "emergency_not_declared."),
        (status = 404, body = ApiError, description = "qualification_not_found."),
        (status = 409, body = ApiError, description = "multiple_matches: give more attributes."),
        (status = 401, body = ApiError), (status = 503, body = ApiError)
    )
)]
async fn emergency_check(
    State(app): State<AppState>,
    Extension(peer): Extension<Peer>,
    body: Bytes,
) -> Result<Json<EligibilityCheckResponse>, AppError> {
    let institution = institution_of(&peer)?;
    let request: EmergencyRequest = json_body(&body)?;
    let started = std::time::Instant::now();
    let answer = emergency::check(&*app.store, &institution, &request, service::now())
        .await
        .map_err(AppError::from);
    count_check("emergency", started, &answer);
    answer.map(Json)
}

/// 災害時: a person's medical information without a card or consent screen (institution
/// role, inside a declared area and period), the 5 years kept. Logged with the emergency basis.
#[utoipa::path(
    post,
    path = "/v1/emergency/medical/{category}",
    params(("category" = String, Path, description = "`medications`, `treatments`, `surgeries` or `checkups`")),
    request_body = EmergencyRequest,
    responses(
        (status = 200, body = MedicalInformationResponse),
        (status = 400, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError),
        (status = 409, body = ApiError), (status = 401, body = ApiError), (status = 503, body = ApiError)
    )
)]
async fn emergency_medical(
    State(app): State<AppState>,
    Extension(peer): Extension<Peer>,
    Path(category): Path<String>,
    body: Bytes,
) -> Result<Json<MedicalInformationResponse>, AppError> {
    let institution = institution_of(&peer)?;
    let category = medical::category_of(&category).ok_or_else(|| {
        AppError(
            StatusCode::NOT_FOUND,
            ApiError::new(
                "invalid_category",
                "情報の種類が正しくありません。",
                "category must be medications, treatments, surgeries or checkups",
            ),
        )
    })?;
    let request: EmergencyRequest = json_body(&body)?;
    let answer = emergency::information(
        &*app.store,
        &institution,
        category,
        &request,
        service::now(),
    )
    .await
    .map_err(AppError::from);
    count_view(category.code(), "emergency", &answer);
    answer.map(Json)
}

impl From<CardError> for AppError {
    fn from(e: CardError) -> Self {
        match e {
            CardError::Invalid(e) => AppError(StatusCode::BAD_REQUEST, e),
            CardError::Refused(r) => AppError(
                StatusCode::FORBIDDEN,
                ApiError::new(r.code, r.message, r.detail),
            ),
            CardError::Replayed(r) => AppError(
                StatusCode::CONFLICT,
                ApiError::new(r.code, r.message, r.detail),
            ),
            CardError::Store(e) => e.into(),
            CardError::Authority(d) => authority_unavailable(d),
        }
    }
}

fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, AppError> {
    serde_json::from_slice(body).map_err(|e| {
        AppError(
            StatusCode::BAD_REQUEST,
            ApiError::new(
                "invalid_json",
                "照会内容の形式が正しくありません。",
                format!("Request body does not match the schema: {e}"),
            ),
        )
    })
}

pub(crate) fn institution_of(peer: &Peer) -> Result<kakunin_domain::InstitutionCode, AppError> {
    match authorize(peer, "institution")? {
        Role::Institution(i) => Ok(i),
        _ => unreachable!("authorize checked the role"),
    }
}

/// A single-use challenge for a card check or registration (institution role).
#[utoipa::path(
    post,
    path = "/v1/card-checks/nonce",
    responses((status = 200, body = CardNonce), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 503, body = ApiError))
)]
async fn card_nonce(
    State(app): State<AppState>,
    Extension(peer): Extension<Peer>,
) -> Result<Json<CardNonce>, AppError> {
    let institution = institution_of(&peer)?;
    Ok(Json(cardcheck::issue_nonce(
        app.cards()?,
        &institution,
        service::now(),
    )))
}

/// Eligibility check with the My Number card (照会区分 1, institution role). The card's
/// certificate, the nonce and a proof: the card's PIN signature, or a terminal attestation of
/// a face or visual check.
#[utoipa::path(
    post,
    path = "/v1/card-checks",
    request_body = CardCheckRequest,
    responses(
        (status = 200, body = EligibilityCheckResponse),
        (status = 400, body = ApiError, description = "A field is malformed."),
        (status = 403, body = ApiError, description = "Refused: the card, certificate or proof is not acceptable (`code` says why: certificate_revoked, certificate_suspended, certificate_expired, certificate_unknown_issuer, card_signature_invalid, nonce_invalid, nonce_expired, registration_required, …)."),
        (status = 409, body = ApiError, description = "The nonce was used before."),
        (status = 503, body = ApiError, description = "The check could not be logged or the authority is unreachable, so it was not answered."),
    )
)]
async fn card_check(
    State(app): State<AppState>,
    Extension(peer): Extension<Peer>,
    body: Bytes,
) -> Result<Json<EligibilityCheckResponse>, AppError> {
    let institution = institution_of(&peer)?;
    let cards = app.cards()?;
    let request: CardCheckRequest = json_body(&body)?;
    let started = std::time::Instant::now();
    let answer = cardcheck::card_check(&*app.store, cards, &institution, &request, service::now())
        .await
        .map_err(AppError::from);
    count_check("card", started, &answer);
    answer.map(Json)
}

/// The later check of a card visit recorded while the central could not be reached
/// (institution role): the card signed the visit's offline challenge then (PIN, or the
/// terminal's 目視 attestation). Answered as of the visit's date, within 7 days (the same visit
/// sent again gets the same answer); refusals as for card checks, plus `offline_visit_invalid`
/// and `offline_visit_expired`.
#[utoipa::path(
    post,
    path = "/v1/card-checks/offline",
    request_body = OfflineCardCheckRequest,
    responses(
        (status = 200, body = EligibilityCheckResponse),
        (status = 400, body = ApiError),
        (status = 403, body = ApiError),
        (status = 503, body = ApiError),
    )
)]
async fn offline_card_check(
    State(app): State<AppState>,
    Extension(peer): Extension<Peer>,
    body: Bytes,
) -> Result<Json<EligibilityCheckResponse>, AppError> {
    let institution = institution_of(&peer)?;
    let cards = app.cards()?;
    let request: OfflineCardCheckRequest = json_body(&body)?;
    let started = std::time::Instant::now();
    let answer =
        cardcheck::offline_card_check(&*app.store, cards, &institution, &request, service::now())
            .await
            .map_err(AppError::from);
    count_check("offline_card", started, &answer);
    answer.map(Json)
}

/// 利用登録: register the card for insurance use (card + PIN; institution role, from the
/// reader's screen).
#[utoipa::path(
    post,
    path = "/v1/card-registrations",
    request_body = CardRegistrationRequest,
    responses(
        (status = 200, body = CardRegistrationResponse),
        (status = 400, body = ApiError),
        (status = 403, body = ApiError),
        (status = 409, body = ApiError),
        (status = 503, body = ApiError),
    )
)]
async fn card_registration(
    State(app): State<AppState>,
    Extension(peer): Extension<Peer>,
    body: Bytes,
) -> Result<Json<CardRegistrationResponse>, AppError> {
    let institution = institution_of(&peer)?;
    let cards = app.cards()?;
    let request: CardRegistrationRequest = json_body(&body)?;
    Ok(Json(
        cardcheck::register_card(&*app.store, cards, &institution, &request, service::now())
            .await?,
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
struct LinkReviewParams {
    /// `open` (default) or `all`.
    status: Option<String>,
    /// At most this many, newest first (default 100, at most 10,000).
    limit: Option<u32>,
}

/// Roster rows whose 個人番号 the authority did not confirm (admin role).
#[utoipa::path(
    get,
    path = "/v1/admin/link-reviews",
    params(LinkReviewParams),
    responses((status = 200, body = Vec<LinkReviewRecord>), (status = 400, body = ApiError), (status = 401, body = ApiError), (status = 403, body = ApiError))
)]
async fn link_reviews(
    State(app): State<AppState>,
    Extension(peer): Extension<Peer>,
    Query(params): Query<LinkReviewParams>,
) -> Result<Json<Vec<LinkReviewRecord>>, AppError> {
    authorize(&peer, "admin")?;
    let open_only = match params.status.as_deref() {
        None | Some("open") => true,
        Some("all") => false,
        Some(other) => {
            return Err(AppError(
                StatusCode::BAD_REQUEST,
                ApiError::new(
                    "invalid_status",
                    "状態の指定が正しくありません。",
                    format!("status must be `open` or `all`, got {other:?}"),
                )
                .with_field("status"),
            ))
        }
    };
    let reviews = app
        .store
        .link_reviews(open_only, params.limit.unwrap_or(100).min(10_000))
        .await?;
    Ok(Json(reviews.iter().map(review_record).collect()))
}

fn review_record(r: &kakunin_store::LinkReview) -> LinkReviewRecord {
    LinkReviewRecord {
        id: r.id,
        qualification_id: r.qualification_id,
        insurer_number: r.insurer.as_str().to_string(),
        import_id: r.import_id,
        created_at: r.created_at.jst_rfc3339(),
        mismatched: r.attributes.iter().map(|a| a.code().to_string()).collect(),
        mismatched_labels: r.attributes.iter().map(|a| a.label().to_string()).collect(),
        number_last4: r.number_last4.clone(),
        status: r.status.code().to_string(),
        resolved_at: r.resolved_at.map(|t| t.jst_rfc3339()),
        resolved_by: r.resolved_by.clone(),
        note: r.note.clone(),
    }
}

/// Closes an open link review without linking (admin role); the qualification stays
/// number-only until the insurer sends a 個人番号 that matches.
#[utoipa::path(
    post,
    path = "/v1/admin/link-reviews/dismiss",
    request_body = DismissLinkReviewRequest,
    responses((status = 204), (status = 404, body = ApiError), (status = 400, body = ApiError), (status = 401, body = ApiError), (status = 403, body = ApiError))
)]
async fn dismiss_link_review(
    State(app): State<AppState>,
    Extension(peer): Extension<Peer>,
    body: Bytes,
) -> Result<StatusCode, AppError> {
    let role = authorize(&peer, "admin")?;
    let request: DismissLinkReviewRequest = json_body(&body)?;
    let done = app
        .store
        .dismiss_link_review(
            request.id,
            &format!("admin:{}", role.id()),
            &request.note,
            service::now(),
        )
        .await?;
    if done {
        let by = format!("admin:{}", role.id());
        audit_event(
            &app,
            &by,
            "link_review_dismissed",
            &request.id.to_string(),
            serde_json::json!({}),
        )
        .await?;
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(AppError(
            StatusCode::NOT_FOUND,
            ApiError::new(
                "review_not_open",
                "該当する未処理の確認依頼がありません。",
                "No open link review has this id.",
            ),
        ))
    }
}

/// An error answer with its HTTP status.
#[derive(Debug)]
pub struct AppError(pub StatusCode, pub ApiError);

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        (self.0, Json(self.1)).into_response()
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        // Internals go to the log, never to the caller.
        tracing::error!(error = %e, "store failure");
        AppError(
            StatusCode::SERVICE_UNAVAILABLE,
            ApiError::new(
                "store_unavailable",
                "システムが一時的に利用できません。しばらくしてから再度お試しください。",
                "The central store could not complete the request; retry later.",
            ),
        )
    }
}

fn authorize(peer: &Peer, want: &'static str) -> Result<Role, AppError> {
    let unauthorized = |code: &str, message: &str, detail: String| {
        AppError(
            StatusCode::UNAUTHORIZED,
            ApiError::new(code, message, detail),
        )
    };
    match &peer.0 {
        Err(AuthFailure::NoCertificate) => Err(unauthorized(
            "certificate_required",
            "クライアント証明書が必要です。",
            "This endpoint needs a client certificate issued by the kakunin CA.".into(),
        )),
        Err(AuthFailure::Untrusted(why)) => Err(unauthorized(
            "certificate_untrusted",
            "クライアント証明書が認証局で確認できません（発行元・有効期限をご確認ください）。",
            format!("The client certificate does not verify against the kakunin CA: {why}"),
        )),
        Err(AuthFailure::BadSubject(why)) => Err(unauthorized(
            "certificate_subject",
            "クライアント証明書の内容が正しくありません。",
            format!("The client certificate subject does not name a valid role: {why}"),
        )),
        Err(AuthFailure::Revoked) => Err(unauthorized(
            "certificate_revoked",
            "このクライアント証明書は失効しています。新しい証明書を運用者に依頼してください。",
            "The client certificate was revoked by an operator.".into(),
        )),
        Ok(role) if role.kind() == want => Ok(role.clone()),
        Ok(role) => Err(AppError(
            StatusCode::FORBIDDEN,
            ApiError::new(
                "forbidden_role",
                "この操作は許可されていません。",
                format!(
                    "This endpoint is for the {want} role; the certificate is for {}.",
                    role.kind()
                ),
            ),
        )),
    }
}

#[utoipa::path(get, path = "/health", responses((status = 200, body = Health)))]
async fn health() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
        version: env!("CARGO_PKG_VERSION").into(),
    })
}

/// Eligibility check by insurance numbers (institution role).
#[utoipa::path(
    post,
    path = "/v1/eligibility/check",
    request_body = EligibilityCheckRequest,
    responses(
        (status = 200, body = EligibilityCheckResponse),
        (status = 400, body = ApiError, description = "A field is malformed; `field` names it."),
        (status = 401, body = ApiError, description = "No or untrusted client certificate."),
        (status = 403, body = ApiError, description = "The certificate is not an institution's."),
        (status = 503, body = ApiError, description = "The check could not be logged, so it was not answered."),
    )
)]
async fn check(
    State(app): State<AppState>,
    Extension(peer): Extension<Peer>,
    body: Bytes,
) -> Result<Json<EligibilityCheckResponse>, AppError> {
    let institution = institution_of(&peer)?;
    let request: EligibilityCheckRequest = json_body(&body)?;
    let started = std::time::Instant::now();
    let answer = answer_check(&app, &institution, &request).await;
    count_check("numbers", started, &answer);
    answer.map(Json)
}

/// Counts a check in the metrics: its validity, or why it was not answered.
pub(crate) fn count_check(
    kind: &'static str,
    started: std::time::Instant,
    answer: &Result<EligibilityCheckResponse, AppError>,
) {
    let result = match answer {
        Ok(a) => a.validity.as_str(),
        Err(AppError(status, _)) if status.is_server_error() => "error",
        Err(_) => "refused",
    };
    crate::metrics::check(kind, result, started.elapsed());
}

/// Counts a medical information request in the metrics.
fn count_view<T>(category: &str, basis: &'static str, answer: &Result<T, AppError>) {
    crate::metrics::view(category, basis, answer.is_ok());
}

pub(crate) async fn answer_check(
    app: &AppState,
    institution: &InstitutionCode,
    request: &EligibilityCheckRequest,
) -> Result<EligibilityCheckResponse, AppError> {
    match service::check(&*app.store, institution, request, service::now()).await {
        Ok(r) => Ok(r),
        Err(CheckError::Invalid(e)) => Err(AppError(StatusCode::BAD_REQUEST, e)),
        Err(CheckError::Store(e)) => Err(e.into()),
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
struct RosterParams {
    /// `partial`: import the valid rows and report the others. Default: all or nothing.
    mode: Option<String>,
}

/// Roster import (insurer role): CSV in UTF-8 or Shift_JIS, see docs/roster-format.md.
#[utoipa::path(
    post,
    path = "/v1/rosters",
    params(RosterParams),
    request_body(content = String, content_type = "text/csv"),
    responses(
        (status = 200, body = RosterImportReport, description = "Accepted and written."),
        (status = 422, body = RosterImportReport, description = "Refused: nothing was written; `errors` lists every problem."),
        (status = 401, body = ApiError),
        (status = 403, body = ApiError, description = "The certificate is not an insurer's."),
    )
)]
async fn import_roster(
    State(app): State<AppState>,
    Extension(peer): Extension<Peer>,
    Query(params): Query<RosterParams>,
    body: Bytes,
) -> Result<(StatusCode, Json<RosterImportReport>), AppError> {
    let Role::Insurer(insurer) = authorize(&peer, "insurer")? else {
        unreachable!("authorize checked the role")
    };
    let partial = match params.mode.as_deref() {
        None | Some("all") => false,
        Some("partial") => true,
        Some(other) => {
            return Err(AppError(
                StatusCode::BAD_REQUEST,
                ApiError::new(
                    "invalid_mode",
                    "取込モードが正しくありません。",
                    format!("mode must be `all` or `partial`, got {other:?}"),
                )
                .with_field("mode"),
            ))
        }
    };
    let actor = format!("insurer:{insurer}");
    let authority = app.cards.as_ref().map(|c| &*c.authority);
    let report = service::import_roster(
        &*app.store,
        authority,
        &Scope::Only(vec![insurer]),
        &actor,
        &body,
        partial,
        service::now(),
    )
    .await?;
    crate::metrics::import("roster", report.accepted, report.rows);
    audit_event(
        &app,
        &actor,
        "roster_import",
        &actor["insurer:".len()..],
        serde_json::json!({
            "accepted": report.accepted, "mode": if partial { "partial" } else { "all" },
            "rows": report.rows, "inserted": report.inserted, "updated": report.updated,
            "unchanged": report.unchanged, "skipped": report.skipped, "linked": report.linked,
            "link_reviews": report.link_reviews, "import_id": report.import_id,
            "errors": report.errors.len(),
        }),
    )
    .await?;
    let status = if report.accepted {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    Ok((status, Json(report)))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
struct AccessLogParams {
    /// Newest entries to return (default 100, at most 10,000).
    limit: Option<u32>,
}

/// The newest access-log entries (admin role).
#[utoipa::path(
    get,
    path = "/v1/admin/access-log",
    params(AccessLogParams),
    responses((status = 200, body = Vec<AccessLogRecord>), (status = 401, body = ApiError), (status = 403, body = ApiError))
)]
async fn access_log(
    State(app): State<AppState>,
    Extension(peer): Extension<Peer>,
    Query(params): Query<AccessLogParams>,
) -> Result<Json<Vec<AccessLogRecord>>, AppError> {
    authorize(&peer, "admin")?;
    let entries = app
        .store
        .recent_access(params.limit.unwrap_or(100).min(10_000))
        .await?;
    Ok(Json(
        entries
            .iter()
            .map(|a| access_record(a.id, &a.entry))
            .collect(),
    ))
}

/// The store's backend and nodes: roles, replica lag, where reads went (admin role).
#[utoipa::path(
    get,
    path = "/v1/admin/store",
    responses((status = 200, body = StoreStatusInfo), (status = 401, body = ApiError), (status = 403, body = ApiError))
)]
async fn store_status(
    State(app): State<AppState>,
    Extension(peer): Extension<Peer>,
) -> Result<Json<StoreStatusInfo>, AppError> {
    authorize(&peer, "admin")?;
    let s = app.store.status().await?;
    Ok(Json(StoreStatusInfo {
        backend: s.backend,
        nodes: s
            .nodes
            .into_iter()
            .map(|n| StoreNodeInfo {
                name: n.name,
                role: n.role,
                lag_ms: n.lag_ms,
                reads: n.reads,
            })
            .collect(),
    }))
}

impl From<OpsError> for AppError {
    fn from(e: OpsError) -> Self {
        match e {
            OpsError::Invalid(e) => AppError(StatusCode::BAD_REQUEST, e),
            OpsError::Store(e) => e.into(),
        }
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
struct StatisticsParams {
    /// `yyyyMM` (JST), not after the current month; default the current month.
    month: Option<String>,
}

/// A month's usage in the form MHLW publishes it (admin role): eligibility checks by My
/// Number card and by insurance numbers (一括照会 items included) and the card share;
/// medication, treatment (手術 included, also given apart) and checkup views; refusals; all
/// by institution type (病院・医科診療所・歯科・薬局: the registry's type, else the code's),
/// with the 12 months before for a trend. Counted from the access log.
#[utoipa::path(
    get,
    path = "/v1/admin/statistics",
    params(StatisticsParams),
    responses(
        (status = 200, body = UsageStatistics),
        (status = 400, body = ApiError, description = "invalid_month."),
        (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 503, body = ApiError)
    )
)]
async fn statistics(
    State(app): State<AppState>,
    Extension(peer): Extension<Peer>,
    Query(params): Query<StatisticsParams>,
) -> Result<Json<UsageStatistics>, AppError> {
    authorize(&peer, "admin")?;
    Ok(Json(
        ops::statistics(
            &*app.store,
            &app.stats,
            params.month.as_deref(),
            service::now(),
        )
        .await?,
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
struct FreshnessParams {
    /// The period in days, 1–366 (default 30).
    days: Option<String>,
}

/// Data freshness per insurer (admin role): the last roster import, the imports and rows of
/// the period, and how many days after 資格取得日 / 資格喪失日 the rows arrived (median and
/// 90th percentile of the newest 1,000).
#[utoipa::path(
    get,
    path = "/v1/admin/freshness",
    params(FreshnessParams),
    responses(
        (status = 200, body = FreshnessReport),
        (status = 400, body = ApiError, description = "invalid_days."),
        (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 503, body = ApiError)
    )
)]
async fn freshness(
    State(app): State<AppState>,
    Extension(peer): Extension<Peer>,
    Query(params): Query<FreshnessParams>,
) -> Result<Json<FreshnessReport>, AppError> {
    authorize(&peer, "admin")?;
    Ok(Json(
        ops::freshness(&*app.store, params.days.as_deref(), service::now()).await?,
    ))
}

/// The institution registry, by code (admin role).
#[utoipa::path(
    get,
    path = "/v1/admin/institutions",
    responses((status = 200, body = Vec<InstitutionRecord>), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 503, body = ApiError))
)]
async fn institutions(
    State(app): State<AppState>,
    Extension(peer): Extension<Peer>,
) -> Result<Json<Vec<InstitutionRecord>>, AppError> {
    authorize(&peer, "admin")?;
    Ok(Json(ops::institutions(&*app.store).await?))
}

/// Registers an institution or replaces its registration (admin role): its name (patients
/// read it in their access log), type (the statistics) and municipality (災害時 areas).
#[utoipa::path(
    post,
    path = "/v1/admin/institutions",
    request_body = InstitutionRequest,
    responses(
        (status = 200, body = InstitutionRecord),
        (status = 400, body = ApiError, description = "invalid_institution_code, invalid_name, invalid_kind, kind_mismatch, invalid_municipality, invalid_json."),
        (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 503, body = ApiError)
    )
)]
async fn register_institution(
    State(app): State<AppState>,
    Extension(peer): Extension<Peer>,
    body: Bytes,
) -> Result<Json<InstitutionRecord>, AppError> {
    let role = authorize(&peer, "admin")?;
    let request: InstitutionRequest = json_body(&body)?;
    let by = format!("admin:{}", role.id());
    let record = ops::register_institution(&*app.store, &by, &request).await?;
    audit_event(
        &app,
        &by,
        "institution_registered",
        &record.code,
        serde_json::json!({"kind": record.kind, "municipality": record.municipality}),
    )
    .await?;
    Ok(Json(record))
}

/// Records an administrative event in the audit chain (after the action succeeded; a failure
/// to record answers 503 so that the caller retries an idempotent action).
async fn audit_event(
    app: &AppState,
    actor: &str,
    action: &str,
    target: &str,
    detail: serde_json::Value,
) -> Result<(), AppError> {
    crate::audit::record(&*app.store, actor, action, target, detail).await?;
    Ok(())
}

/// Most certificates the registry lists at once.
const CERTIFICATE_LIST_LIMIT: u32 = 10_000;

/// The client-certificate registry (admin role): every certificate issued through the API,
/// and those issued elsewhere once used; most recently recorded first, with its status.
#[utoipa::path(
    get,
    path = "/v1/admin/certificates",
    responses((status = 200, body = Vec<CertificateRecord>), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 503, body = ApiError))
)]
async fn certificates(
    State(app): State<AppState>,
    Extension(peer): Extension<Peer>,
) -> Result<Json<Vec<CertificateRecord>>, AppError> {
    authorize(&peer, "admin")?;
    let now = service::now();
    let list = app
        .certificates
        .store()
        .client_certificates(CERTIFICATE_LIST_LIMIT)
        .await?;
    Ok(Json(
        list.iter()
            .map(|c| crate::clientcerts::record(c, now))
            .collect(),
    ))
}

/// Issues a client certificate (admin role) for an institution, an insurer, a clinic
/// terminal's device key or an operator, valid 2 years; the answer holds the private key (the
/// central keeps no copy). Needs the CA key on this node.
#[utoipa::path(
    post,
    path = "/v1/admin/certificates",
    request_body = CertificateRequest,
    responses(
        (status = 200, body = IssuedCertificate),
        (status = 400, body = ApiError, description = "invalid_certificate_subject, invalid_json."),
        (status = 401, body = ApiError), (status = 403, body = ApiError),
        (status = 503, body = ApiError, description = "issuing_unavailable (no CA key on this node), store_unavailable.")
    )
)]
async fn issue_certificate(
    State(app): State<AppState>,
    Extension(peer): Extension<Peer>,
    body: Bytes,
) -> Result<Response, AppError> {
    let admin = authorize(&peer, "admin")?;
    let request: CertificateRequest = json_body(&body)?;
    let role = Role::parse(request.kind.trim(), request.subject.trim()).map_err(|e| {
        AppError(
            StatusCode::BAD_REQUEST,
            ApiError::new(
                "invalid_certificate_subject",
                "種別と番号（医療機関コード・保険者番号・運用者ID）を確認してください。",
                format!(
                    "kind must be institution, insurer, terminal or admin, with a valid id: {e}"
                ),
            )
            .with_field("subject"),
        )
    })?;
    let Some(ca) = app.ca.as_deref() else {
        return Err(AppError(
            StatusCode::SERVICE_UNAVAILABLE,
            ApiError::new(
                "issuing_unavailable",
                "この中央システムでは証明書を発行できません（認証局の鍵がありません）。",
                "This node has no CA key (ca-key.pem in its data directory).",
            ),
        ));
    };
    let by = format!("admin:{}", admin.id());
    let kind = role.kind();
    let (cert, pem) =
        app.certificates.issue(ca, role, &by).await.map_err(|e| {
            match e.downcast::<StoreError>() {
                Ok(e) => AppError::from(e),
                Err(e) => {
                    tracing::error!(error = %e, "issuing a client certificate failed");
                    AppError(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        ApiError::new(
                            "issuing_failed",
                            "証明書を発行できませんでした。",
                            "The certificate could not be issued; see the central's log.",
                        ),
                    )
                }
            }
        })?;
    tracing::info!(by, kind, "client certificate issued");
    audit_event(
        &app,
        &by,
        "certificate_issued",
        &cert.serial,
        serde_json::json!({"kind": cert.kind, "subject": cert.subject, "not_after": cert.not_after.jst_rfc3339()}),
    )
    .await?;
    let mut resp = Json(IssuedCertificate {
        certificate: crate::clientcerts::record(&cert, service::now()),
        pem,
    })
    .into_response();
    resp.extensions_mut().insert(NotReplayable);
    Ok(resp)
}

/// Revokes a client certificate (admin role): final; every node refuses it within seconds
/// (this node at once), even on connections already open. An operator cannot revoke the
/// certificate the request comes with.
#[utoipa::path(
    post,
    path = "/v1/admin/certificates/{serial}/revoke",
    params(("serial" = String, Path, description = "Serial number, hex.")),
    request_body = RevocationRequest,
    responses(
        (status = 200, body = RevocationRecord),
        (status = 400, body = ApiError, description = "invalid_serial, invalid_reason, invalid_json."),
        (status = 404, body = ApiError, description = "certificate_not_found."),
        (status = 409, body = ApiError, description = "already_revoked, own_certificate."),
        (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 503, body = ApiError)
    )
)]
async fn revoke_certificate(
    State(app): State<AppState>,
    Extension(peer): Extension<Peer>,
    caller: Option<Extension<crate::tls::CallerSerial>>,
    Path(serial): Path<String>,
    body: Bytes,
) -> Result<Json<RevocationRecord>, AppError> {
    let admin = authorize(&peer, "admin")?;
    let bad = |code: &str, message: &str, detail: &str, field: &str| {
        AppError(
            StatusCode::BAD_REQUEST,
            ApiError::new(code, message, detail).with_field(field),
        )
    };
    let Some(serial) = crate::clientcerts::parse_serial(&serial) else {
        return Err(bad(
            "invalid_serial",
            "シリアル番号が正しくありません。",
            "serial must be 1-40 hex digits",
            "serial",
        ));
    };
    let request: RevocationRequest = json_body(&body)?;
    if !kakunin_api::REVOCATION_REASONS
        .iter()
        .any(|(c, _)| *c == request.reason)
    {
        return Err(bad(
            "invalid_reason",
            "失効の理由を選んでください。",
            "reason must be key_compromise, affiliation_changed, superseded, cessation_of_operation or unspecified",
            "reason",
        ));
    }
    let conflict = |code: &str, message: &str, detail: &str| {
        AppError(StatusCode::CONFLICT, ApiError::new(code, message, detail))
    };
    if caller.is_some_and(|Extension(c)| c.0 == serial) {
        return Err(conflict(
            "own_certificate",
            "操作中の運用者自身の証明書は失効できません。別の運用者の証明書で操作してください。",
            "An operator cannot revoke the certificate of the request itself.",
        ));
    }
    let by = format!("admin:{}", admin.id());
    match app
        .certificates
        .revoke(&serial, &request.reason, &by)
        .await?
    {
        RevokeOutcome::Revoked => {
            tracing::info!(by, reason = %request.reason, "client certificate revoked");
            audit_event(
                &app,
                &by,
                "certificate_revoked",
                &serial,
                serde_json::json!({"reason": request.reason}),
            )
            .await?;
            Ok(Json(crate::clientcerts::revocation_record(
                &kakunin_store::CertificateRevocation {
                    at: service::now(),
                    reason: request.reason,
                    by,
                },
            )))
        }
        RevokeOutcome::AlreadyRevoked => Err(conflict(
            "already_revoked",
            "この証明書はすでに失効しています。",
            "The certificate was revoked before; the first revocation stands.",
        )),
        RevokeOutcome::Unknown => Err(AppError(
            StatusCode::NOT_FOUND,
            ApiError::new(
                "certificate_not_found",
                "このシリアル番号の証明書は登録されていません。",
                "No certificate with this serial in the registry (certificates issued elsewhere are recorded on first use).",
            ),
        )),
    }
}

async fn openapi() -> Response {
    ([("content-type", "application/json")], openapi_json()).into_response()
}

async fn not_found() -> AppError {
    AppError(
        StatusCode::NOT_FOUND,
        ApiError::new(
            "not_found",
            "該当する機能がありません。",
            "No such endpoint.",
        ),
    )
}

/// How long a rate-limit refusal is held before it is sent: until a token is due, at least a
/// quarter of a second, at most a second.
const REFUSAL_DELAY_MIN: std::time::Duration = std::time::Duration::from_millis(250);
const REFUSAL_DELAY_MAX: std::time::Duration = std::time::Duration::from_secs(1);

/// Per-institution rate limits on checks and views (see `limits.rs`): 429 `rate_limited` with
/// `Retry-After` (whole seconds, at least 1) when the institution's bucket is empty.
async fn limit(State(app): State<AppState>, req: Request, next: Next) -> Response {
    let class = req
        .extensions()
        .get::<MatchedPath>()
        .and_then(|p| crate::limits::class_of(p.as_str()));
    let who = match req.extensions().get::<Peer>() {
        Some(Peer(Ok(Role::Institution(code) | Role::Terminal(code)))) => Some(code.as_str()),
        _ => None,
    };
    if let (Some(class), Some(who)) = (class, who) {
        if let Err(wait) = app.limiter.take(who, class, std::time::Instant::now()) {
            let (label, what) = class.label();
            crate::metrics::rate_limited(label);
            let mut resp = AppError(
                StatusCode::TOO_MANY_REQUESTS,
                ApiError::new(
                    "rate_limited",
                    "アクセスが集中しています。少し待ってから再度お試しください。",
                    format!(
                        "This institution exceeded its rate of {what}; retry after the Retry-After seconds."
                    ),
                ),
            )
            .into_response();
            let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
            if let Ok(v) = axum::http::HeaderValue::from_str(&secs.to_string()) {
                resp.headers_mut().insert("retry-after", v);
            }
            // The refusal itself waits (up to a second, no CPU spent): a client that ignores
            // Retry-After and loops cannot turn cheap refusals into a flood that takes the
            // cores from other institutions.
            tokio::time::sleep(wait.clamp(REFUSAL_DELAY_MIN, REFUSAL_DELAY_MAX)).await;
            return resp;
        }
    }
    next.run(req).await
}

/// Marks an answer that must not be kept for replay (it holds a secret).
#[derive(Debug, Clone, Copy)]
pub struct NotReplayable;

/// The role a route needs before its body is read (the handlers check again, with the
/// detail): operators' routes need an operator, roster uploads an insurer, every other `/v1`
/// route a valid certificate. So nobody without the right certificate gets a large body
/// buffered (a roster may be 1 GiB), and a revoked certificate stops at the door.
fn required_role(path: &str) -> Option<Option<&'static str>> {
    let fhir = path.starts_with("/fhir/") && path != "/fhir/R4/metadata";
    if !fhir && (!path.starts_with("/v1/") || path == "/v1/openapi.json") {
        return None;
    }
    Some(if path.starts_with("/v1/admin/") {
        Some("admin")
    } else if path == "/v1/rosters" {
        Some("insurer")
    } else {
        None
    })
}

async fn authenticated(req: Request, next: Next) -> Response {
    let Some(role) = required_role(req.uri().path()) else {
        return next.run(req).await;
    };
    let no_peer = Peer(Err(AuthFailure::NoCertificate));
    let peer = req.extensions().get::<Peer>().unwrap_or(&no_peer);
    let refused = match (role, &peer.0) {
        (_, Err(_)) => authorize(peer, "admin").err(),
        (Some(want), Ok(_)) => authorize(peer, want).err(),
        (None, Ok(_)) => None,
    };
    match refused {
        Some(e) => e.into_response(),
        None => next.run(req).await,
    }
}

/// Answers the framework's own refusals (a path segment or query that does not parse, a body
/// over its limit, a wrong method or media type) in our JSON error form like every other
/// refusal, the plain-text reason going to `detail`.
async fn json_rejections(req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    let status = resp.status();
    let plain = resp
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("text/plain"));
    if !status.is_client_error() || !plain {
        return resp;
    }
    let text = match axum::body::to_bytes(resp.into_body(), 4096).await {
        Ok(b) => String::from_utf8_lossy(&b)
            .chars()
            .take(300)
            .collect::<String>(),
        Err(_) => String::new(),
    };
    let (code, message) = match status {
        StatusCode::PAYLOAD_TOO_LARGE => ("body_too_large", "送信データが大きすぎます。"),
        StatusCode::METHOD_NOT_ALLOWED => ("method_not_allowed", "この操作はできません。"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (
            "unsupported_media_type",
            "送信データの形式が正しくありません。",
        ),
        _ => ("invalid_request", "入力の形式が正しくありません。"),
    };
    AppError(status, ApiError::new(code, message, text)).into_response()
}

/// The header of idempotent writes.
pub const IDEMPOTENCY_HEADER: &str = "idempotency-key";
/// A running request refreshes its claim this often; a claim not refreshed for
/// [`IDEMPOTENCY_STALE_MS`] is taken for dead (its node stopped) and a retry runs.
const IDEMPOTENCY_HEARTBEAT: std::time::Duration = std::time::Duration::from_secs(2);
const IDEMPOTENCY_STALE_MS: i64 = 6_000;
/// Largest answer kept for replay; larger answers are not kept (a retry runs again).
const MAX_REPLAY_BODY: usize = 1 << 20;

/// `Idempotency-Key` on a POST: the first request with a key (per client certificate) runs and
/// its answer is kept a day; a retry with the same key and the same request gets that answer
/// (`Idempotent-Replayed: true`) without running again; the key with another request is
/// refused (422); while the first still runs, 409 with `Retry-After`. Answers that a retry
/// should not repeat (5xx, 401, 403, 408, 409, 429) are not kept.
async fn idempotency(State(app): State<AppState>, req: Request, next: Next) -> Response {
    use sha2::{Digest, Sha256};
    if req.method() != axum::http::Method::POST {
        return next.run(req).await;
    }
    let Some(key) = req.headers().get(IDEMPOTENCY_HEADER) else {
        return next.run(req).await;
    };
    let key = match key.to_str() {
        Ok(k) if !k.is_empty() && k.len() <= 100 && k.bytes().all(|b| b.is_ascii_graphic()) => {
            k.to_string()
        }
        _ => {
            return AppError(
                StatusCode::BAD_REQUEST,
                ApiError::new(
                    "invalid_idempotency_key",
                    "再送用のキーが正しくありません。",
                    "Idempotency-Key must be 1-100 visible ASCII characters.",
                ),
            )
            .into_response()
        }
    };
    let caller = match req.extensions().get::<Peer>() {
        Some(Peer(Ok(role))) => format!("{}:{}", role.kind(), role.id()),
        // Refused by the handler anyway.
        _ => return next.run(req).await,
    };
    let (parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_ROSTER_BYTES).await else {
        return AppError(
            StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::new(
                "body_too_large",
                "送信データが大きすぎます。",
                "The request body could not be read within the size limit.",
            ),
        )
        .into_response();
    };
    let mut h = Sha256::new();
    h.update(parts.method.as_str().as_bytes());
    h.update(b"\n");
    h.update(parts.uri.path().as_bytes());
    h.update(b"?");
    h.update(parts.uri.query().unwrap_or("").as_bytes());
    h.update(b"\n");
    h.update(&bytes);
    let fingerprint = crate::cards::hex(&h.finalize());
    let begun = app
        .store
        .idempotency_begin(
            &caller,
            &key,
            &fingerprint,
            service::now(),
            IDEMPOTENCY_STALE_MS,
        )
        .await;
    match begun {
        Err(e) => AppError::from(e).into_response(),
        Ok(kakunin_store::IdempotencyBegin::Replay {
            status,
            content_type,
            body,
        }) => {
            let mut resp =
                (StatusCode::from_u16(status).unwrap_or(StatusCode::OK), body).into_response();
            if let Ok(v) = axum::http::HeaderValue::from_str(&content_type) {
                resp.headers_mut()
                    .insert(axum::http::header::CONTENT_TYPE, v);
            }
            resp.headers_mut().insert(
                "idempotent-replayed",
                axum::http::HeaderValue::from_static("true"),
            );
            resp
        }
        Ok(kakunin_store::IdempotencyBegin::Mismatch) => AppError(
            StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::new(
                "idempotency_key_reused",
                "この再送用のキーは別の送信に使われています。新しいキーで送信してください。",
                "The Idempotency-Key was used with a different request (method, path or body).",
            ),
        )
        .into_response(),
        Ok(kakunin_store::IdempotencyBegin::InProgress) => {
            let mut resp = AppError(
                StatusCode::CONFLICT,
                ApiError::new(
                    "request_in_progress",
                    "同じ送信を処理中です。少し待ってから再送してください。",
                    "The first request with this Idempotency-Key is still running; retry later.",
                ),
            )
            .into_response();
            resp.headers_mut()
                .insert("retry-after", axum::http::HeaderValue::from_static("1"));
            resp
        }
        Ok(kakunin_store::IdempotencyBegin::Fresh) => {
            let heartbeat = {
                let (store, caller, key) = (app.store.clone(), caller.clone(), key.clone());
                tokio::spawn(async move {
                    loop {
                        tokio::time::sleep(IDEMPOTENCY_HEARTBEAT).await;
                        let _ = store.idempotency_touch(&caller, &key, service::now()).await;
                    }
                })
            };
            let resp = next
                .run(Request::from_parts(parts, axum::body::Body::from(bytes)))
                .await;
            heartbeat.abort();
            let status = resp.status();
            let keep = (status.is_success() || status.is_client_error())
                && ![401, 403, 408, 409, 429].contains(&status.as_u16());
            let (parts, body) = resp.into_parts();
            // Answers are built in memory: reading them whole costs nothing more.
            let body = match axum::body::to_bytes(body, usize::MAX).await {
                Ok(b) => b,
                Err(e) => {
                    tracing::warn!(error = %e, "reading an answer failed");
                    let _ = app.store.idempotency_finish(&caller, &key, None).await;
                    return StatusCode::INTERNAL_SERVER_ERROR.into_response();
                }
            };
            let keep = keep && body.len() <= MAX_REPLAY_BODY;
            // An answer holding a secret (an issued private key) is not kept: a retry learns
            // that the work was done, not the secret.
            let answer = if keep && parts.extensions.get::<NotReplayable>().is_some() {
                Some(kakunin_store::IdempotentAnswer {
                    status: StatusCode::CONFLICT.as_u16(),
                    content_type: "application/json".into(),
                    body: serde_json::to_vec(&ApiError::new(
                        "answer_not_kept",
                        "この送信は処理済みです。応答（秘密鍵を含む）は再表示できません。証明書の一覧で確認し、必要なら失効させて発行し直してください。",
                        "The request with this Idempotency-Key was done; its answer held a private key and is not kept.",
                    ))
                    .unwrap_or_default(),
                })
            } else {
                keep.then(|| kakunin_store::IdempotentAnswer {
                    status: status.as_u16(),
                    content_type: parts
                        .headers
                        .get(axum::http::header::CONTENT_TYPE)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("application/json")
                        .to_string(),
                    body: body.to_vec(),
                })
            };
            if let Err(e) = app.store.idempotency_finish(&caller, &key, answer).await {
                tracing::warn!(error = %e, "keeping an idempotent answer failed; a retry runs again");
            }
            Response::from_parts(parts, axum::body::Body::from(body))
        }
    }
}

/// Logs method, route template, status and latency: never a path with data, never a body.
async fn trace(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |p| p.as_str())
        .to_string();
    let method = req.method().clone();
    if let Some(Peer(Ok(Role::Institution(code) | Role::Terminal(code)))) =
        req.extensions().get::<Peer>()
    {
        crate::metrics::seen(code.as_str());
    }
    let started = std::time::Instant::now();
    let resp = next.run(req).await;
    let took = started.elapsed();
    crate::metrics::http(&route, method.as_str(), resp.status().as_u16(), took);
    tracing::debug!(%method, route, status = resp.status().as_u16(), micros = took.as_micros() as u64, "request");
    resp
}

/// Consents given on the reader's screens after a card check (④ 診療・薬剤, 特定健診 from 40;
/// ⑥ 限度額), proven again with the card over a fresh nonce (institution role).
#[utoipa::path(
    post,
    path = "/v1/card-consents",
    request_body = CardConsentRequest,
    responses(
        (status = 200, body = CardConsentResponse),
        (status = 400, body = ApiError),
        (status = 403, body = ApiError, description = "Refused like a card check (nonce, certificate, proof, registration_required)."),
        (status = 409, body = ApiError, description = "nonce_used: a double submission; nothing was recorded twice."),
        (status = 401, body = ApiError), (status = 503, body = ApiError)
    )
)]
async fn card_consents(
    State(app): State<AppState>,
    Extension(peer): Extension<Peer>,
    body: Bytes,
) -> Result<Json<CardConsentResponse>, AppError> {
    let institution = institution_of(&peer)?;
    let request: CardConsentRequest = json_body(&body)?;
    Ok(Json(
        cardcheck::give_consents(
            &*app.store,
            app.cards()?,
            &institution,
            &request,
            service::now(),
        )
        .await?,
    ))
}

fn import_status(accepted: bool) -> StatusCode {
    if accepted {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    }
}

/// Imports a UKE receipt file (医科 or 調剤; admin role, the payer side). A file with an
/// error is refused whole (422, with the errors); receipts nobody on the rosters fits are kept
/// and matched after later roster imports.
#[utoipa::path(
    post,
    path = "/v1/admin/receipts",
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "The UKE file as sent (CP932)."),
    responses((status = 200, body = ReceiptImportReport), (status = 422, body = ReceiptImportReport), (status = 401, body = ApiError), (status = 403, body = ApiError))
)]
async fn import_receipts(
    State(app): State<AppState>,
    Extension(peer): Extension<Peer>,
    body: Bytes,
) -> Result<(StatusCode, Json<ReceiptImportReport>), AppError> {
    let role = authorize(&peer, "admin")?;
    let actor = format!("admin:{}", role.id());
    let report = medical::import_receipts(&*app.store, &actor, &body, service::now()).await?;
    audit_event(
        &app,
        &actor,
        "receipt_import",
        report.institution_code.as_deref().unwrap_or(""),
        serde_json::json!({
            "accepted": report.accepted, "file_kind": report.file_kind,
            "receipts": report.receipts, "matched": report.matched, "unmatched": report.unmatched,
        }),
    )
    .await?;
    crate::metrics::import("receipts", report.accepted, report.receipts);
    Ok((import_status(report.accepted), Json(report)))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
struct MasterParams {
    /// `drug` (y_ALL), `procedure` (s_ALL) or `device` (t_ALL).
    kind: String,
}

/// Imports an official code master (quoted CP932 CSV; admin role). New code editions are
/// added, so old receipts keep the names they had.
#[utoipa::path(
    post,
    path = "/v1/admin/masters",
    params(MasterParams),
    request_body(content = Vec<u8>, content_type = "text/csv"),
    responses((status = 200, body = MasterImportReport), (status = 422, body = MasterImportReport), (status = 400, body = ApiError), (status = 401, body = ApiError), (status = 403, body = ApiError))
)]
async fn import_masters(
    State(app): State<AppState>,
    Extension(peer): Extension<Peer>,
    Query(params): Query<MasterParams>,
    body: Bytes,
) -> Result<(StatusCode, Json<MasterImportReport>), AppError> {
    let role = authorize(&peer, "admin")?;
    let kind = MasterKind::parse(&params.kind).ok_or_else(|| {
        AppError(
            StatusCode::BAD_REQUEST,
            ApiError::new(
                "invalid_kind",
                "マスターの種類が正しくありません。",
                format!(
                    "kind must be drug, procedure or device, got {:?}",
                    params.kind
                ),
            )
            .with_field("kind"),
        )
    })?;
    let actor = format!("admin:{}", role.id());
    let report = medical::import_masters(&*app.store, &actor, kind, &body, service::now()).await?;
    audit_event(
        &app,
        &actor,
        "master_import",
        &report.kind,
        serde_json::json!({
            "accepted": report.accepted, "entries": report.entries,
            "inserted": report.inserted, "updated": report.updated, "errors": report.errors.len(),
        }),
    )
    .await?;
    crate::metrics::import("masters", report.accepted, report.entries);
    Ok((import_status(report.accepted), Json(report)))
}

/// Imports a 特定健診 package (insurer role: only its own insured; admin: any).
#[utoipa::path(
    post,
    path = "/v1/checkups",
    request_body = CheckupPackageUpload,
    responses((status = 200, body = CheckupImportReport), (status = 422, body = CheckupImportReport), (status = 400, body = ApiError), (status = 401, body = ApiError), (status = 403, body = ApiError))
)]
async fn import_checkups(
    State(app): State<AppState>,
    Extension(peer): Extension<Peer>,
    body: Bytes,
) -> Result<(StatusCode, Json<CheckupImportReport>), AppError> {
    let (scope, actor) = match authorize(&peer, "insurer") {
        Ok(Role::Insurer(n)) => (Scope::Only(vec![n.clone()]), format!("insurer:{n}")),
        _ => {
            let role = authorize(&peer, "admin")?;
            (Scope::Any, format!("admin:{}", role.id()))
        }
    };
    let upload: CheckupPackageUpload = json_body(&body)?;
    let mut files = std::collections::BTreeMap::new();
    for (path, b64) in upload.files {
        let bytes = crate::cards::b64(&b64).ok_or_else(|| {
            AppError(
                StatusCode::BAD_REQUEST,
                ApiError::new(
                    "invalid_base64",
                    "健診ファイルの形式が正しくありません。",
                    format!("files[{path:?}] is not base64"),
                )
                .with_field("files"),
            )
        })?;
        files.insert(path, bytes);
    }
    let report =
        medical::import_checkups(&*app.store, &scope, &actor, &files, service::now()).await?;
    audit_event(
        &app,
        &actor,
        "checkup_import",
        "",
        serde_json::json!({
            "accepted": report.accepted, "documents": report.documents,
            "matched": report.matched, "unmatched": report.unmatched,
            "duplicate": report.duplicate, "errors": report.errors.len(),
        }),
    )
    .await?;
    crate::metrics::import("checkups", report.accepted, report.documents);
    Ok((import_status(report.accepted), Json(report)))
}

/// A patient's 薬剤・診療・手術・特定健診 information (institution role), only for a patient
/// this institution checked today and who consented to the category at the card reader within
/// the last 24 hours. Every answer and every refusal is in the patient's access log.
#[utoipa::path(
    post,
    path = "/v1/medical/{category}",
    params(("category" = String, Path, description = "`medications`, `treatments`, `surgeries` or `checkups`")),
    request_body = MedicalInformationRequest,
    responses(
        (status = 200, body = MedicalInformationResponse),
        (status = 400, body = ApiError, description = "A field is malformed."),
        (status = 403, body = ApiError, description = "Refused; `code` says why: not_checked_today, consent_missing, category_not_consented, consent_expired, institution_blocked, multiple_matches."),
        (status = 404, body = ApiError, description = "qualification_not_found, or an unknown category."),
        (status = 401, body = ApiError), (status = 503, body = ApiError)
    )
)]
async fn medical_information(
    State(app): State<AppState>,
    Extension(peer): Extension<Peer>,
    Path(category): Path<String>,
    body: Bytes,
) -> Result<Json<MedicalInformationResponse>, AppError> {
    let institution = institution_of(&peer)?;
    let category = medical::category_of(&category).ok_or_else(|| {
        AppError(
            StatusCode::NOT_FOUND,
            ApiError::new(
                "invalid_category",
                "情報の種類が正しくありません。",
                format!(
                    "category must be medications, treatments, surgeries or checkups, got {category:?}"
                ),
            ),
        )
    })?;
    let request: MedicalInformationRequest = json_body(&body)?;
    let answer = medical::information(
        &*app.store,
        &institution,
        category,
        &request,
        service::now(),
    )
    .await
    .map_err(AppError::from);
    count_view(category.code(), "consent", &answer);
    answer.map(Json)
}

/// The central's routes.
pub fn router(state: AppState) -> Router {
    let idempotent = middleware::from_fn_with_state(state.clone(), idempotency);
    let limited = middleware::from_fn_with_state(state.clone(), limit);
    Router::new()
        .route("/health", get(health))
        .route("/v1/openapi.json", get(openapi))
        .route("/v1/eligibility/check", post(check))
        .route(
            "/v1/rosters",
            post(import_roster).layer(DefaultBodyLimit::max(MAX_ROSTER_BYTES)),
        )
        .route("/v1/card-checks/nonce", post(card_nonce))
        .route("/v1/card-checks", post(card_check))
        .route("/v1/card-checks/offline", post(offline_card_check))
        .route("/v1/card-registrations", post(card_registration))
        .route("/v1/card-consents", post(card_consents))
        .route("/v1/admin/link-reviews", get(link_reviews))
        .route("/v1/admin/link-reviews/dismiss", post(dismiss_link_review))
        .route("/v1/admin/access-log", get(access_log))
        .route(
            "/v1/admin/receipts",
            post(import_receipts).layer(DefaultBodyLimit::max(MAX_MEDICAL_BYTES)),
        )
        .route(
            "/v1/admin/masters",
            post(import_masters).layer(DefaultBodyLimit::max(MAX_MEDICAL_BYTES)),
        )
        .route(
            "/v1/checkups",
            post(import_checkups).layer(DefaultBodyLimit::max(MAX_MEDICAL_BYTES)),
        )
        .route("/v1/medical/{category}", post(medical_information))
        .route("/v1/reference-numbers", post(register_reference_number))
        .route(
            "/v1/batch-inquiries",
            post(submit_batch_inquiry)
                .layer(DefaultBodyLimit::max(MAX_BATCH_BYTES))
                .get(batch_inquiries),
        )
        .route("/v1/batch-inquiries/{reception_number}", get(batch_inquiry))
        .route("/v1/admin/store", get(store_status))
        .route(
            "/v1/admin/emergencies",
            post(declare_emergency).get(emergencies),
        )
        .route("/v1/admin/emergencies/{id}/end", post(end_emergency))
        .route("/v1/admin/statistics", get(statistics))
        .route("/v1/admin/freshness", get(freshness))
        .route(
            "/v1/admin/institutions",
            get(institutions).post(register_institution),
        )
        .route(
            "/v1/admin/certificates",
            get(certificates).post(issue_certificate),
        )
        .route(
            "/v1/admin/certificates/{serial}/revoke",
            post(revoke_certificate),
        )
        .route("/v1/emergency", get(emergency_status))
        .route("/v1/emergency/check", post(emergency_check))
        .route("/v1/emergency/medical/{category}", post(emergency_medical))
        .merge(crate::portal::router())
        .merge(crate::fhir::router())
        .fallback(not_found)
        .layer(idempotent)
        .layer(limited)
        .layer(middleware::from_fn(authenticated))
        .layer(middleware::from_fn(json_rejections))
        .layer(middleware::from_fn(crate::fhir::outcomes))
        .layer(middleware::from_fn(trace))
        .with_state(state)
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "kakunin central API",
        description = "Online eligibility verification (オンライン資格確認). Every endpoint under /v1 needs a client certificate issued by the kakunin CA; the role is in the certificate. No personal identifier ever appears in a URL.",
        license(name = "Apache-2.0")
    ),
    paths(
        health,
        check,
        card_nonce,
        card_check,
        offline_card_check,
        card_registration,
        card_consents,
        import_roster,
        link_reviews,
        dismiss_link_review,
        access_log,
        store_status,
        import_receipts,
        import_masters,
        import_checkups,
        medical_information,
        register_reference_number,
        submit_batch_inquiry,
        batch_inquiries,
        batch_inquiry,
        declare_emergency,
        emergencies,
        end_emergency,
        emergency_status,
        emergency_check,
        emergency_medical,
        statistics,
        freshness,
        institutions,
        register_institution,
        certificates,
        issue_certificate,
        revoke_certificate
    ),
    components(schemas(
        ApiError,
        CertificateRecord,
        RevocationRecord,
        CertificateRequest,
        IssuedCertificate,
        RevocationRequest,
        Health,
        EligibilityCheckRequest,
        EligibilityCheckResponse,
        ProcessingResult,
        QualificationResult,
        ElderlyCertificateInfo,
        LimitCertificateInfo,
        SpecificDiseaseCertificateInfo,
        RosterImportReport,
        RosterLineError,
        AccessLogRecord,
        CardNonce,
        CardProof,
        CardCheckRequest,
        OfflineCardCheckRequest,
        CertificateNotice,
        ConsentFlag,
        CardRegistrationRequest,
        CardRegistrationResponse,
        CardConsentRequest,
        CardConsentResponse,
        LinkReviewRecord,
        DismissLinkReviewRequest,
        FileProblem,
        ReceiptImportReport,
        MasterImportReport,
        CheckupPackageUpload,
        CheckupImportReport,
        MedicalInformationRequest,
        MedicalInformationResponse,
        PatientHeader,
        MedicationRecord,
        TreatmentInfo,
        CheckupRecord,
        CheckupItemInfo,
        ReferenceNumberRequest,
        ReferenceNumberResponse,
        BatchInquiryRequest,
        BatchInquiryAccepted,
        BatchInquirySummary,
        BatchInquiryResponse,
        BatchConfirmUnit,
        DeclarationRequest,
        DeclarationRecord,
        EmergencyPerson,
        EmergencyRequest,
        UsageStatistics,
        UsageFigures,
        KindUsage,
        MonthTotals,
        FreshnessReport,
        InsurerFreshnessRecord,
        LagRecord,
        InstitutionRequest,
        InstitutionRecord
    ))
)]
struct ApiDoc;

/// The OpenAPI document, as committed in `docs/openapi.json`.
pub fn openapi_json() -> String {
    let mut doc = ApiDoc::openapi();
    doc.info.version = "1".into();
    let mut s = doc.to_pretty_json().unwrap_or_default();
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::required_role;

    #[test]
    fn roles_checked_before_a_body_is_read() {
        assert_eq!(required_role("/health"), None);
        assert_eq!(required_role("/v1/openapi.json"), None);
        assert_eq!(required_role("/portal/api/login"), None);
        assert_eq!(required_role("/v1/admin/receipts"), Some(Some("admin")));
        assert_eq!(required_role("/v1/rosters"), Some(Some("insurer")));
        assert_eq!(required_role("/v1/eligibility/check"), Some(None));
        assert_eq!(required_role("/v1/no-such-thing"), Some(None));
    }
}
