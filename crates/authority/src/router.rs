//! The authority's HTTP face (JSON over HTTPS; TLS and client authentication are the caller's).

use crate::wire::{
    CaResponse, CardStatusRequest, ErrorBody, MatchOutcomeDto, MatchRequest, MatchResponse,
    OwnerDto, OwnerRequest, OwnerResponse,
};
use crate::{
    Authority, AuthorityError, CardStatus, MatchOutcome, MatchQuery, RevocationReason,
    MAX_MATCH_BATCH,
};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use kakunin_domain::Attribute;
use std::sync::Arc;

/// Largest request body: a full match batch with long names and addresses fits.
const MAX_BODY: usize = 16 * 1024 * 1024;

#[derive(Clone)]
struct AppState {
    authority: Authority,
    agency: Arc<str>,
}

/// The routes of the authority for one agency (the pseudonyms it hands out are that agency's):
///
/// | route | body → answer |
/// |---|---|
/// | `POST /v1/match` | [`MatchRequest`] (at most [`MAX_MATCH_BATCH`] queries, else 413) → [`MatchResponse`] |
/// | `POST /v1/certificates/owner` | [`OwnerRequest`] → [`OwnerResponse`] |
/// | `GET /v1/crl` | → the DER CRL, `application/pkix-crl` |
/// | `GET /v1/ca` | → [`CaResponse`] |
/// | `POST /v1/cards/status` | [`CardStatusRequest`] → 204; 404 unknown card; 409 revoked card |
///
/// Every error is an [`ErrorBody`]. Authentication is done outside: wrap the router with the
/// role check of the caller's mTLS layer; the router trusts the agency it was built with.
/// Traces name the route and counts, never a 個人番号, a name or a serial.
pub fn router(authority: Authority, agency: String) -> Router {
    Router::new()
        .route("/v1/match", post(match_residents))
        .route("/v1/certificates/owner", post(certificate_owner))
        .route("/v1/crl", get(crl))
        .route("/v1/ca", get(ca))
        .route("/v1/cards/status", post(card_status))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(AppState {
            authority,
            agency: Arc::from(agency),
        })
}

/// An error answer.
struct ApiError {
    status: StatusCode,
    body: ErrorBody,
}

impl ApiError {
    fn new(status: StatusCode, code: &str, message: &str, detail: impl Into<String>) -> Self {
        Self {
            status,
            body: ErrorBody {
                code: code.into(),
                message: message.into(),
                detail: detail.into(),
                field: None,
            },
        }
    }

    fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "要求の形式が正しくありません。",
            detail,
        )
    }

    fn with_field(mut self, field: impl Into<String>) -> Self {
        self.body.field = Some(field.into());
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body)).into_response()
    }
}

impl From<AuthorityError> for ApiError {
    fn from(e: AuthorityError) -> Self {
        match e {
            AuthorityError::UnknownCard => Self::new(
                StatusCode::NOT_FOUND,
                "unknown_card",
                "該当する電子証明書がありません。",
                "no card has this serial number",
            ),
            AuthorityError::UnknownResident => Self::new(
                StatusCode::NOT_FOUND,
                "unknown_resident",
                "該当する住民がいません。",
                "no resident has this individual number",
            ),
            AuthorityError::CardRevoked => Self::new(
                StatusCode::CONFLICT,
                "card_revoked",
                "失効した電子証明書は再開・停止できません。",
                "the card is revoked; a revoked card cannot be resumed or suspended",
            ),
            e @ (AuthorityError::InvalidPin
            | AuthorityError::InvalidRequest(_)
            | AuthorityError::InvalidResident { .. }) => Self::bad_request(e.to_string()),
            e => {
                tracing::error!(error = %e, "authority request failed");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "システムエラーが発生しました。時間をおいて再度お試しください。",
                    "internal error of the authority; see its log",
                )
            }
        }
    }
}

fn parse<T: serde::de::DeserializeOwned>(
    body: Result<Bytes, BytesRejection>,
) -> Result<T, ApiError> {
    let bytes = body.map_err(|r| {
        let status = r.status();
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                status,
                "payload_too_large",
                "要求が大きすぎます。",
                format!("the request body exceeds {MAX_BODY} bytes"),
            )
        } else {
            ApiError::new(
                status,
                "bad_request",
                "要求の形式が正しくありません。",
                r.body_text(),
            )
        }
    })?;
    serde_json::from_slice(&bytes).map_err(|e| ApiError::bad_request(format!("bad JSON: {e}")))
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, AuthorityError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| AuthorityError::Storage(format!("worker task failed: {e}")))?
        .map_err(ApiError::from)
}

async fn match_residents(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<MatchResponse>, ApiError> {
    let request: MatchRequest = parse(body)?;
    let n = request.queries.len();
    if n > MAX_MATCH_BATCH {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_many_queries",
            "一度に照会できる件数を超えています。",
            format!("{n} queries; at most {MAX_MATCH_BATCH} per request"),
        ));
    }
    // A number that does not parse (wrong check digit, …) belongs to nobody: a mismatch, not
    // a refusal of the whole batch. Other malformed fields refuse the request.
    let mut outcomes: Vec<Option<MatchOutcome>> = vec![None; n];
    let mut queries = Vec::with_capacity(n);
    let mut positions = Vec::with_capacity(n);
    for (i, dto) in request.queries.iter().enumerate() {
        match MatchQuery::try_from(dto) {
            Ok(q) => {
                queries.push(q);
                positions.push(i);
            }
            Err(e) if e.field == "individual_number" => {
                outcomes[i] = Some(MatchOutcome::Mismatch {
                    attributes: vec![Attribute::IndividualNumber],
                });
            }
            Err(e) => {
                return Err(ApiError::bad_request(format!("query {i}: {e}"))
                    .with_field(format!("queries[{i}].{}", e.field)))
            }
        }
    }
    let (authority, agency) = (state.authority.clone(), state.agency.clone());
    let answered = blocking(move || authority.match_residents(&agency, &queries)).await?;
    for (i, outcome) in positions.into_iter().zip(answered) {
        outcomes[i] = Some(outcome);
    }
    let outcomes: Vec<MatchOutcomeDto> = outcomes
        .iter()
        .flatten()
        .map(MatchOutcomeDto::from)
        .collect();
    let matched = outcomes.iter().filter(|o| o.matched).count();
    tracing::info!(
        route = "/v1/match",
        queries = n,
        matched,
        mismatched = n - matched,
        "match"
    );
    Ok(Json(MatchResponse { outcomes }))
}

async fn certificate_owner(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<OwnerResponse>, ApiError> {
    let request: OwnerRequest = parse(body)?;
    let der = STANDARD.decode(request.certificate.trim()).map_err(|e| {
        ApiError::bad_request(format!("certificate is not base64: {e}")).with_field("certificate")
    })?;
    let (authority, agency) = (state.authority.clone(), state.agency.clone());
    let owner = blocking(move || authority.certificate_owner(&agency, &der)).await?;
    tracing::info!(
        route = "/v1/certificates/owner",
        found = owner.is_some(),
        "owner"
    );
    Ok(Json(OwnerResponse {
        owner: owner.as_ref().map(OwnerDto::from),
    }))
}

async fn crl(State(state): State<AppState>) -> Result<Response, ApiError> {
    let authority = state.authority.clone();
    let der = blocking(move || authority.crl_der()).await?;
    tracing::debug!(route = "/v1/crl", bytes = der.len(), "crl");
    Ok(([(header::CONTENT_TYPE, "application/pkix-crl")], der).into_response())
}

async fn ca(State(state): State<AppState>) -> Json<CaResponse> {
    let certs = state.authority.ca_certificates();
    Json(CaResponse {
        root: certs.root_pem(),
        issuing: certs.issuing_pem(),
    })
}

async fn card_status(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<StatusCode, ApiError> {
    let request: CardStatusRequest = parse(body)?;
    let status = CardStatus::parse(&request.status).ok_or_else(|| {
        ApiError::bad_request(format!(
            "status must be active, suspended or revoked, got {:?}",
            request.status
        ))
        .with_field("status")
    })?;
    let reason = match (&request.reason, status) {
        (None, _) => RevocationReason::Unspecified,
        (Some(r), CardStatus::Revoked) => RevocationReason::parse(r).ok_or_else(|| {
            ApiError::bad_request(format!(
                "reason must be one of unspecified, key_compromise, superseded, cessation_of_operation, got {r:?}"
            ))
            .with_field("reason")
        })?,
        (Some(_), _) => {
            return Err(
                ApiError::bad_request("a reason goes with status revoked only")
                    .with_field("reason"),
            )
        }
    };
    let authority = state.authority.clone();
    let serial = request.serial;
    blocking(move || match status {
        CardStatus::Active => authority.resume(&serial),
        CardStatus::Suspended => authority.suspend(&serial),
        CardStatus::Revoked => authority.revoke(&serial, reason),
    })
    .await?;
    tracing::info!(
        route = "/v1/cards/status",
        status = status.code(),
        "card status"
    );
    Ok(StatusCode::NO_CONTENT)
}
