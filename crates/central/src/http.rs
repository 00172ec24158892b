//! The HTTP API: routes, role checks, error mapping and the OpenAPI document.

use crate::pki::Role;
use crate::service::{self, CheckError, Scope};
use crate::tls::{AuthFailure, Peer};
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Extension, MatchedPath, Query, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use kakunin_api::{
    access_record, AccessLogRecord, ApiError, ElderlyCertificateInfo, EligibilityCheckRequest,
    EligibilityCheckResponse, Health, LimitCertificateInfo, ProcessingResult, QualificationResult,
    RosterImportReport, RosterLineError, SpecificDiseaseCertificateInfo, StoreNodeInfo,
    StoreStatusInfo,
};
use kakunin_domain::InstitutionCode;
use kakunin_store::{Store, StoreError};
use serde::Deserialize;
use std::sync::Arc;
use utoipa::OpenApi;

/// Largest roster accepted in one upload.
pub const MAX_ROSTER_BYTES: usize = 1 << 30;

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
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
    let Role::Institution(institution) = authorize(&peer, "institution")? else {
        unreachable!("authorize checked the role")
    };
    let request: EligibilityCheckRequest = serde_json::from_slice(&body).map_err(|e| {
        AppError(
            StatusCode::BAD_REQUEST,
            ApiError::new(
                "invalid_json",
                "照会内容の形式が正しくありません。",
                format!("Request body is not a valid check request: {e}"),
            ),
        )
    })?;
    answer_check(&app, &institution, &request).await.map(Json)
}

async fn answer_check(
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
    let report = service::import_roster(
        &*app.store,
        &Scope::Only(vec![insurer]),
        &actor,
        &body,
        partial,
        service::now(),
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

/// Logs method, route template, status and latency: never a path with data, never a body.
async fn trace(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |p| p.as_str())
        .to_string();
    let method = req.method().clone();
    let started = std::time::Instant::now();
    let resp = next.run(req).await;
    tracing::debug!(%method, route, status = resp.status().as_u16(), micros = started.elapsed().as_micros() as u64, "request");
    resp
}

/// The central's routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/v1/openapi.json", get(openapi))
        .route("/v1/eligibility/check", post(check))
        .route(
            "/v1/rosters",
            post(import_roster).layer(DefaultBodyLimit::max(MAX_ROSTER_BYTES)),
        )
        .route("/v1/admin/access-log", get(access_log))
        .route("/v1/admin/store", get(store_status))
        .fallback(not_found)
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
    paths(health, check, import_roster, access_log, store_status),
    components(schemas(
        ApiError,
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
        AccessLogRecord
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
