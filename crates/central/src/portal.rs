//! The patient portal (`/portal`): a person logs in with their My Number card (the card signs a
//! portal nonce after its PIN, like Mynaportal) and sees everything about themselves: their
//! qualifications, medications, treatments, surgeries and checkups, every access by anyone
//! (checks, views, refusals), their consents; and controls sharing (block an institution, opt
//! out, withdraw a consent) and exports their data.
//!
//! Invariants: a session names one person (the agency pseudonym the authority gave for the
//! card) and is a MAC'd cookie, so no node keeps state and a forged or expired one is refused;
//! every answer is computed from that pseudonym only, never from an identifier in the request;
//! nothing personal appears in a URL.

use crate::cardcheck::CardServices;
use crate::cards::{self, Refusal, PORTAL_AUDIENCE};
use crate::http::{AppError, AppState};
use crate::medical;
use crate::service;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use kakunin_api::{
    consent_flag, qualification_result, ApiError, CardNonce, MedicalInformationResponse,
    QualificationResult,
};
use kakunin_domain::{
    AccessPurpose, AccessResult, Consent, ConsentCategory, ConsentState, InstitutionCode, Timestamp,
};
use kakunin_store::{Store, StoredAccess, StoredQualification};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// How long a portal session lasts.
pub const SESSION_TTL_MS: i64 = 30 * 60 * 1000;
/// The session cookie.
pub const COOKIE: &str = "kakunin_portal";

const PORTAL_HTML: &str = include_str!("../assets/portal.html");
const PORTAL_JS: &str = include_str!("../assets/portal.js");
const PORTAL_CSS: &str = include_str!("../assets/portal.css");

/// The portal's routes (mounted under `/portal`).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/portal", get(portal_page))
        .route("/portal/assets/{file}", get(asset))
        .route("/portal/api/config", get(config))
        .route("/portal/api/login/nonce", post(login_nonce))
        .route("/portal/api/login", post(login))
        .route("/portal/api/logout", post(logout))
        .route("/portal/api/me", get(me))
        .route("/portal/api/access-log", get(access_log))
        .route("/portal/api/consents", get(consents))
        .route("/portal/api/consents/withdraw", post(withdraw))
        .route("/portal/api/blocks", get(blocks).post(set_block))
        .route("/portal/api/sharing", get(sharing).post(set_sharing))
        .route("/portal/api/medical/{category}", get(medical_records))
        .route("/portal/api/export", get(export))
        .route("/portal/api/fhir/Patient/$everything", get(everything))
        .route("/portal/notice", get(notice))
}

fn page(body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

/// The portal page, allowed to call this central and the local card helper only.
async fn portal_page(State(app): State<AppState>) -> Response {
    let helper = &*app.portal_card_helper;
    // Only a plain URL goes into the policy (it is configuration, but a policy is no place
    // for surprises).
    let helper = if helper
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || ":/.-[]".contains(c))
    {
        helper
    } else {
        ""
    };
    let policy = format!(
        "default-src 'self'; connect-src 'self' {helper}; img-src 'self' data:; \
         frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    );
    let mut response = page(PORTAL_HTML);
    if let Ok(v) = header::HeaderValue::from_str(&policy) {
        response
            .headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, v);
    }
    response.headers_mut().insert(
        header::REFERRER_POLICY,
        header::HeaderValue::from_static("no-referrer"),
    );
    response
}

/// What the page needs to know before login.
#[derive(Debug, Serialize)]
struct PortalConfig {
    /// The local card helper (`kakunin card-helper`), as the patient's browser reaches it.
    card_helper: String,
}

async fn config(State(app): State<AppState>) -> Json<PortalConfig> {
    Json(PortalConfig {
        card_helper: app.portal_card_helper.to_string(),
    })
}

async fn asset(Path(file): Path<String>) -> Response {
    let (body, kind) = match file.as_str() {
        "portal.js" => (PORTAL_JS, "text/javascript; charset=utf-8"),
        "portal.css" => (PORTAL_CSS, "text/css; charset=utf-8"),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    ([(header::CONTENT_TYPE, kind)], body).into_response()
}

fn error(status: StatusCode, code: &str, message: &str, detail: &str) -> AppError {
    AppError(status, ApiError::new(code, message, detail))
}

fn cards(app: &AppState) -> Result<&CardServices, AppError> {
    app.cards.as_deref().ok_or_else(|| {
        error(
            StatusCode::SERVICE_UNAVAILABLE,
            "card_checks_unavailable",
            "現在マイナンバーカードでのログインはできません。",
            "This central runs without an authority.",
        )
    })
}

fn refused(r: Refusal) -> AppError {
    AppError(
        StatusCode::FORBIDDEN,
        ApiError::new(r.code, r.message, r.detail),
    )
}

// ---------------------------------------------------------------------------------------------
// Login and sessions

/// A nonce for the card to sign (5 minutes).
async fn login_nonce(State(app): State<AppState>) -> Result<Json<CardNonce>, AppError> {
    let (nonce, expires) = cards(&app)?
        .nonces
        .issue_for(PORTAL_AUDIENCE, service::now());
    Ok(Json(CardNonce {
        nonce,
        expires_at: expires.jst_rfc3339(),
    }))
}

/// `POST /portal/api/login`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginRequest {
    /// Base64 DER of the card's 利用者証明用電子証明書.
    certificate: String,
    nonce: String,
    /// Base64 of the card's signature over `portal_challenge(nonce)` (after its PIN).
    signature: String,
}

#[derive(Debug, Serialize)]
struct LoginAnswer {
    /// Until when the session lasts (RFC 3339, JST).
    expires_at: String,
}

async fn login(State(app): State<AppState>, body: Bytes) -> Result<Response, AppError> {
    let cards = cards(&app)?;
    let request: LoginRequest = serde_json::from_slice(&body).map_err(|e| {
        error(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            "ログインの形式が正しくありません。",
            &format!("expected {{certificate, nonce, signature}}: {e}"),
        )
    })?;
    let at = service::now();
    let nonce = cards
        .nonces
        .check_for(&request.nonce, PORTAL_AUDIENCE, at)
        .map_err(refused)?;
    let der = cards::b64(&request.certificate).ok_or_else(|| {
        error(
            StatusCode::BAD_REQUEST,
            "invalid_certificate_encoding",
            "カードの情報の形式が正しくありません。",
            "certificate must be base64 DER",
        )
    })?;
    let cert = cards.trust.verify(&der, at).map_err(refused)?;
    cards::verify_portal_proof(&cert, &nonce.nonce, &request.signature).map_err(refused)?;
    let pseudonym = cards.owner_of(&cert, &der).await.map_err(AppError::from)?;
    let expires = Timestamp::from_unix_millis(at.unix_millis() + SESSION_TTL_MS);
    let token = cards.nonces.sign_session(&pseudonym, expires);
    let cookie = format!(
        "{COOKIE}={token}; Path=/portal; HttpOnly; Secure; SameSite=Strict; Max-Age={}",
        SESSION_TTL_MS / 1000
    );
    Ok((
        [(header::SET_COOKIE, cookie)],
        Json(LoginAnswer {
            expires_at: expires.jst_rfc3339(),
        }),
    )
        .into_response())
}

async fn logout() -> Response {
    (
        [(
            header::SET_COOKIE,
            format!("{COOKIE}=; Path=/portal; HttpOnly; Secure; SameSite=Strict; Max-Age=0"),
        )],
        StatusCode::NO_CONTENT,
    )
        .into_response()
}

/// The person of the request's session cookie.
fn person(app: &AppState, headers: &HeaderMap) -> Result<String, AppError> {
    let unauthorized = || {
        error(
            StatusCode::UNAUTHORIZED,
            "session_required",
            "ログインしてください（30分で自動的にログアウトします）。",
            "no valid portal session cookie",
        )
    };
    let token = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_string())
        .ok_or_else(unauthorized)?;
    cards(app)?
        .nonces
        .open_session(&token, service::now())
        .ok_or_else(unauthorized)
}

// ---------------------------------------------------------------------------------------------
// What the person sees

/// The person's qualifications (current ones first) as of today.
async fn linked(store: &dyn Store, pseudonym: &str) -> Result<Vec<StoredQualification>, AppError> {
    Ok(store.find_by_person(pseudonym).await?)
}

#[derive(Debug, Serialize)]
struct Me {
    /// Every qualification linked to the person, as of today (newest acquisition first).
    qualifications: Vec<QualificationView>,
}

#[derive(Debug, Serialize)]
struct QualificationView {
    /// `1` in effect today, `0` not.
    in_effect: bool,
    #[serde(flatten)]
    result: QualificationResult,
}

async fn me(State(app): State<AppState>, headers: HeaderMap) -> Result<Json<Me>, AppError> {
    let pseudonym = person(&app, &headers)?;
    Ok(Json(me_of(&*app.store, &pseudonym).await?))
}

async fn me_of(store: &dyn Store, pseudonym: &str) -> Result<Me, AppError> {
    let today = service::now().jst_date();
    let mut found = linked(store, pseudonym).await?;
    found.sort_by(|a, b| {
        b.qualification
            .qualification_date
            .cmp(&a.qualification.qualification_date)
    });
    Ok(Me {
        qualifications: found
            .iter()
            .map(|f| QualificationView {
                in_effect: f.qualification.is_in_effect(today),
                // The person sees their own 限度額 and 特定疾病 certificates.
                result: qualification_result(&f.qualification, today, true),
            })
            .collect(),
    })
}

/// One access as the person sees it.
#[derive(Debug, Serialize)]
pub(crate) struct AccessView {
    pub(crate) id: i64,
    /// RFC 3339, JST.
    pub(crate) at: String,
    pub(crate) institution_code: String,
    /// 医療機関名 when the institution is registered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) institution_name: Option<String>,
    pub(crate) purpose: &'static str,
    pub(crate) purpose_label: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) category: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) category_label: Option<&'static str>,
    /// `consent`, `emergency`, `visual`, `card` or `numbers`.
    pub(crate) basis: &'static str,
    pub(crate) basis_label: &'static str,
    /// `answered`, `disclosed`, `refused` or `registered`.
    pub(crate) outcome: &'static str,
    pub(crate) outcome_label: String,
}

fn access_view(a: &StoredAccess, names: &BTreeMap<String, String>) -> AccessView {
    let e = &a.entry;
    let info = e.information;
    let (basis, basis_label) = match (info, e.purpose, e.processing_code.as_str()) {
        (_, _, "emergency_verbal") => ("emergency", "災害時（口頭で同意）"),
        (_, _, "emergency_life_protection") => ("emergency", "災害時（同意なし・生命保護）"),
        (_, AccessPurpose::EmergencyCheck, _) => ("emergency", "災害時"),
        (Some(i), _, _) => (i.basis.code(), i.basis.label()),
        // Card checks, 利用登録 and consents given at the reader: the card was presented.
        (
            None,
            AccessPurpose::EligibilityByCard
            | AccessPurpose::CardRegistration
            | AccessPurpose::ConsentRegistration,
            _,
        ) => ("card", "マイナンバーカード"),
        (None, _, _) => ("numbers", "保険証等の番号"),
    };
    let (outcome, outcome_label) = match &e.result {
        AccessResult::Answered(v) => ("answered", format!("回答（{}）", v.label())),
        AccessResult::Disclosed(n) => ("disclosed", format!("{n}件を表示")),
        AccessResult::Registered => ("registered", "登録".to_string()),
        AccessResult::Refused(code) => ("refused", format!("拒否（{}）", refusal_label(code))),
    };
    let code = e.institution.as_str().to_string();
    AccessView {
        id: a.id,
        at: e.at.jst_rfc3339(),
        institution_name: names.get(&code).cloned(),
        institution_code: code,
        purpose: e.purpose.code(),
        purpose_label: e.purpose.label(),
        category: info.map(|i| i.category.code()),
        category_label: info.map(|i| i.category.label()),
        basis,
        basis_label,
        outcome,
        outcome_label,
    }
}

/// The reason of a refusal, for the person.
fn refusal_label(code: &str) -> &'static str {
    match code {
        "institution_blocked" => "ご本人の設定でブロック中",
        "sharing_opted_out" => "ご本人の設定で提供停止中",
        "consent_missing" | "category_not_consented" => "同意なし",
        "consent_expired" => "同意の期限切れ",
        "consent_withdrawn" => "同意を撤回済み",
        "not_checked_today" => "当日の資格確認なし",
        "registration_required" => "利用登録なし",
        "emergency_not_declared" => "災害時モードの対象外",
        "qualification_not_found" | "multiple_matches" => "本人を特定できず",
        c if c.starts_with("certificate_") => "電子証明書が無効",
        c if c.starts_with("nonce_") || c.contains("signature") => "カードの確認に失敗",
        _ => "その他",
    }
}

#[derive(Debug, Deserialize)]
struct AccessQuery {
    /// Only this purpose (`eligibility_by_card`, `medical_information`, …).
    purpose: Option<String>,
    /// Only this institution.
    institution: Option<String>,
    /// At most this many (default 500, at most 5,000).
    limit: Option<u32>,
}

async fn access_entries(
    store: &dyn Store,
    pseudonym: &str,
    limit: u32,
) -> Result<Vec<AccessView>, AppError> {
    let ids: Vec<i64> = linked(store, pseudonym)
        .await?
        .iter()
        .map(|f| f.id)
        .collect();
    if ids.is_empty() {
        return Ok(vec![]);
    }
    let entries = store.access_for_qualifications(ids, limit).await?;
    let codes: BTreeSet<InstitutionCode> = entries
        .iter()
        .map(|a| a.entry.institution.clone())
        .collect();
    let names = institution_names(store, codes).await?;
    Ok(entries.iter().map(|a| access_view(a, &names)).collect())
}

async fn institution_names(
    store: &dyn Store,
    codes: BTreeSet<InstitutionCode>,
) -> Result<BTreeMap<String, String>, AppError> {
    Ok(store
        .institutions(codes.into_iter().collect())
        .await?
        .into_iter()
        .map(|i| (i.code.as_str().to_string(), i.name))
        .collect())
}

/// Every access to the person's data, newest first, filterable by purpose and institution.
async fn access_log(
    State(app): State<AppState>,
    headers: HeaderMap,
    axum::extract::Query(q): axum::extract::Query<AccessQuery>,
) -> Result<Json<Vec<AccessView>>, AppError> {
    let pseudonym = person(&app, &headers)?;
    let limit = q.limit.unwrap_or(500).clamp(1, 5_000);
    let mut entries = access_entries(&*app.store, &pseudonym, limit).await?;
    entries.retain(|e| {
        q.purpose.as_deref().is_none_or(|p| e.purpose == p)
            && q.institution
                .as_deref()
                .is_none_or(|i| e.institution_code == i)
    });
    Ok(Json(entries))
}

#[derive(Debug, Serialize)]
pub(crate) struct ConsentView {
    pub(crate) institution_code: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) institution_name: Option<String>,
    pub(crate) category: &'static str,
    pub(crate) category_label: &'static str,
    /// RFC 3339, JST.
    pub(crate) given_at: String,
    pub(crate) expires_at: String,
    /// `active`, `expired` or `withdrawn`.
    pub(crate) state: &'static str,
    pub(crate) state_label: &'static str,
}

async fn consent_views(store: &dyn Store, pseudonym: &str) -> Result<Vec<ConsentView>, AppError> {
    let history = store.consent_history(pseudonym, 1_000).await?;
    let names = institution_names(
        store,
        history.iter().map(|c| c.institution.clone()).collect(),
    )
    .await?;
    let now = service::now();
    // A consent is withdrawn when a later withdrawal of the same institution and category
    // exists, or when it is the withdrawal itself.
    let withdrawals: Vec<&Consent> = history
        .iter()
        .filter(|c| c.expires_at == c.given_at)
        .collect();
    Ok(history
        .iter()
        .map(|c| {
            let withdrawn = c.expires_at == c.given_at
                || withdrawals.iter().any(|w| {
                    w.institution == c.institution
                        && w.category == c.category
                        && w.given_at > c.given_at
                        && w.given_at < c.expires_at
                });
            let (state, state_label) = if withdrawn {
                ("withdrawn", "撤回")
            } else if ConsentState::of(Some(c), now).is_valid() {
                ("active", "有効")
            } else {
                ("expired", "期限切れ")
            };
            let code = c.institution.as_str().to_string();
            ConsentView {
                institution_name: names.get(&code).cloned(),
                institution_code: code,
                category: c.category.code(),
                category_label: c.category.label(),
                given_at: c.given_at.jst_rfc3339(),
                expires_at: c.expires_at.jst_rfc3339(),
                state,
                state_label,
            }
        })
        .collect())
}

async fn consents(
    State(app): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Vec<ConsentView>>, AppError> {
    let pseudonym = person(&app, &headers)?;
    Ok(Json(consent_views(&*app.store, &pseudonym).await?))
}

fn institution_input(raw: &str) -> Result<InstitutionCode, AppError> {
    InstitutionCode::parse(raw.trim()).map_err(|e| {
        AppError(
            StatusCode::BAD_REQUEST,
            ApiError::new(
                "invalid_institution_code",
                "医療機関コードが正しくありません（10桁）。",
                format!("institution_code: {e}"),
            )
            .with_field("institution_code"),
        )
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WithdrawRequest {
    institution_code: String,
    /// One category, or every category when omitted.
    category: Option<String>,
}

/// Withdraws the person's consents to an institution: each category's consent ends now.
async fn withdraw(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Vec<ConsentView>>, AppError> {
    let pseudonym = person(&app, &headers)?;
    let request: WithdrawRequest = json(&body)?;
    let institution = institution_input(&request.institution_code)?;
    let categories = match request.category.as_deref() {
        None => ConsentCategory::ALL.to_vec(),
        Some(c) => vec![ConsentCategory::parse(c).ok_or_else(|| {
            AppError(
                StatusCode::BAD_REQUEST,
                ApiError::new(
                    "invalid_category",
                    "情報の種類が正しくありません。",
                    "category must be medications, treatments, surgeries, checkups or limit",
                )
                .with_field("category"),
            )
        })?],
    };
    let at = service::now();
    app.store
        .record_consents(
            categories
                .into_iter()
                .map(|category| Consent {
                    person: pseudonym.clone(),
                    institution: institution.clone(),
                    category,
                    given_at: at,
                    expires_at: at,
                })
                .collect(),
        )
        .await?;
    Ok(Json(consent_views(&*app.store, &pseudonym).await?))
}

fn json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, AppError> {
    serde_json::from_slice(body).map_err(|e| {
        error(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            "入力の形式が正しくありません。",
            &e.to_string(),
        )
    })
}

#[derive(Debug, Serialize)]
struct BlockView {
    institution_code: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    institution_name: Option<String>,
    blocked: bool,
    /// RFC 3339, JST.
    since: String,
}

async fn block_views(store: &dyn Store, pseudonym: &str) -> Result<Vec<BlockView>, AppError> {
    let states = store.institution_blocks(pseudonym).await?;
    let names = institution_names(
        store,
        states.iter().map(|b| b.institution.clone()).collect(),
    )
    .await?;
    Ok(states
        .into_iter()
        .map(|b| {
            let code = b.institution.as_str().to_string();
            BlockView {
                institution_name: names.get(&code).cloned(),
                institution_code: code,
                blocked: b.blocked,
                since: b.at.jst_rfc3339(),
            }
        })
        .collect())
}

async fn blocks(
    State(app): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Vec<BlockView>>, AppError> {
    let pseudonym = person(&app, &headers)?;
    Ok(Json(block_views(&*app.store, &pseudonym).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BlockRequest {
    institution_code: String,
    blocked: bool,
}

/// Blocks (or unblocks) an institution: it is shown no medical information of the person
/// (eligibility checks still work, so care is never refused for it).
async fn set_block(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Vec<BlockView>>, AppError> {
    let pseudonym = person(&app, &headers)?;
    let request: BlockRequest = json(&body)?;
    let institution = institution_input(&request.institution_code)?;
    app.store
        .set_institution_block(&pseudonym, &institution, request.blocked, service::now())
        .await?;
    Ok(Json(block_views(&*app.store, &pseudonym).await?))
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Sharing {
    /// No medical information is shown to any institution (eligibility checks still work).
    opted_out: bool,
}

async fn sharing(
    State(app): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Sharing>, AppError> {
    let pseudonym = person(&app, &headers)?;
    Ok(Json(Sharing {
        opted_out: app.store.sharing_opted_out(&pseudonym).await?,
    }))
}

async fn set_sharing(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Sharing>, AppError> {
    let pseudonym = person(&app, &headers)?;
    let request: Sharing = json(&body)?;
    app.store
        .set_sharing_opt_out(&pseudonym, request.opted_out, service::now())
        .await?;
    Ok(Json(Sharing {
        opted_out: app.store.sharing_opted_out(&pseudonym).await?,
    }))
}

/// The person's own records of a category over the 5 years kept.
async fn own_records(
    store: &dyn Store,
    pseudonym: &str,
    category: ConsentCategory,
) -> Result<Option<MedicalInformationResponse>, AppError> {
    let found = linked(store, pseudonym).await?;
    let Some(newest) = found
        .iter()
        .max_by_key(|f| f.qualification.qualification_date)
    else {
        return Ok(None);
    };
    let ids: Vec<i64> = found.iter().map(|f| f.id).collect();
    let today = service::now().jst_date();
    let own = consent_flag(category, ConsentState::None);
    Ok(medical::records(
        store,
        &ids,
        category,
        (medical::retention_start(today), today),
        &newest.qualification,
        own,
    )
    .await?)
}

async fn medical_records(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(category): Path<String>,
) -> Result<Json<MedicalInformationResponse>, AppError> {
    let pseudonym = person(&app, &headers)?;
    let category = medical::category_of(&category).ok_or_else(|| {
        error(
            StatusCode::NOT_FOUND,
            "invalid_category",
            "情報の種類が正しくありません。",
            "category must be medications, treatments, surgeries or checkups",
        )
    })?;
    own_records(&*app.store, &pseudonym, category)
        .await?
        .map(Json)
        .ok_or_else(|| {
            error(
                StatusCode::NOT_FOUND,
                "no_qualification",
                "このカードに紐付いた資格がありません。",
                "no qualification is linked to this person",
            )
        })
}

/// Everything the central holds about the person, as one JSON document.
async fn export(State(app): State<AppState>, headers: HeaderMap) -> Result<Response, AppError> {
    let pseudonym = person(&app, &headers)?;
    let store = &*app.store;
    let mut medical = serde_json::Map::new();
    for category in [
        ConsentCategory::Medications,
        ConsentCategory::Treatments,
        ConsentCategory::Surgeries,
        ConsentCategory::Checkups,
    ] {
        if let Some(r) = own_records(store, &pseudonym, category).await? {
            medical.insert(
                category.code().into(),
                serde_json::to_value(r).unwrap_or_default(),
            );
        }
    }
    let document = serde_json::json!({
        "exported_at": service::now().jst_rfc3339(),
        "format": "kakunin-portal-export/1",
        "qualifications": me_of(store, &pseudonym).await?.qualifications,
        "access_log": access_entries(store, &pseudonym, 100_000).await?,
        "consents": consent_views(store, &pseudonym).await?,
        "blocks": block_views(store, &pseudonym).await?,
        "sharing": Sharing { opted_out: store.sharing_opted_out(&pseudonym).await? },
        "medical": medical,
    });
    Ok((
        [
            (header::CONTENT_TYPE, "application/json"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"kakunin-my-data.json\"",
            ),
            (header::CACHE_CONTROL, "no-store"),
        ],
        serde_json::to_string_pretty(&document).unwrap_or_default(),
    )
        .into_response())
}

/// Everything the central holds about the person as one FHIR `Bundle` (`Patient/$everything`):
/// JP_Patient, a JP_Coverage per qualification, the medical records, the consents and every
/// access as an `AuditEvent`.
async fn everything(State(app): State<AppState>, headers: HeaderMap) -> Result<Response, AppError> {
    let pseudonym = person(&app, &headers)?;
    let store = &*app.store;
    let today = service::now().jst_date();
    let qualifications = me_of(store, &pseudonym).await?.qualifications;
    let Some(newest) = qualifications.first() else {
        return Err(error(
            StatusCode::NOT_FOUND,
            "no_qualification",
            "このカードに紐付いた資格がありません。",
            "no qualification is linked to this person",
        ));
    };
    let mut medical = Vec::new();
    for category in [
        ConsentCategory::Medications,
        ConsentCategory::Treatments,
        ConsentCategory::Surgeries,
        ConsentCategory::Checkups,
    ] {
        medical.extend(own_records(store, &pseudonym, category).await?);
    }
    let bundle = crate::fhir::everything::bundle(crate::fhir::everything::Everything {
        qualifications: qualifications.iter().map(|q| &q.result).collect(),
        newest: &newest.result,
        today: &today.compact(),
        medical: &medical,
        consents: &consent_views(store, &pseudonym).await?,
        access: &access_entries(store, &pseudonym, 100_000).await?,
    });
    let mut resp =
        crate::fhir::Fhir(crate::fhir::model::Resource::Bundle(Box::new(bundle))).into_response();
    resp.headers_mut().insert(
        header::CONTENT_DISPOSITION,
        header::HeaderValue::from_static("attachment; filename=\"kakunin-my-data.fhir.json\""),
    );
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    Ok(resp)
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// `yyyyMMdd` as `yyyy年M月d日` (anything else as it is).
fn date_ja(d: &str) -> String {
    match (d.get(..4), d.get(4..6), d.get(6..8)) {
        (Some(y), Some(m), Some(day)) if d.len() == 8 && d.bytes().all(|b| b.is_ascii_digit()) => {
            format!(
                "{y}年{}月{}日",
                m.trim_start_matches('0'),
                day.trim_start_matches('0')
            )
        }
        _ => d.to_string(),
    }
}

/// 資格情報のお知らせ: the person's current qualifications as a printable page.
async fn notice(State(app): State<AppState>, headers: HeaderMap) -> Result<Response, AppError> {
    let pseudonym = person(&app, &headers)?;
    let me = me_of(&*app.store, &pseudonym).await?;
    let mut cards_html = String::new();
    for q in me.qualifications.iter().filter(|q| q.in_effect) {
        let r = &q.result;
        let row = |label: &str, value: &str| {
            format!("<tr><th>{}</th><td>{}</td></tr>", label, escape(value))
        };
        let ratio = r
            .copay_ratio
            .parse::<u32>()
            .map_or(r.copay_ratio.clone(), |p| format!("{}割", p / 10));
        let birthdate = date_ja(&r.birthdate);
        let qualified = date_ja(&r.qualification_date);
        cards_html.push_str("<section class=\"notice\"><table>");
        for (label, value) in [
            ("氏名", r.name.as_str()),
            ("生年月日", birthdate.as_str()),
            ("保険者名称", r.insurer_name.as_str()),
            ("保険者番号", r.insurer_number.as_str()),
            ("記号", r.symbol.as_deref().unwrap_or("—")),
            ("番号", r.number.as_str()),
            ("枝番", r.branch.as_deref().unwrap_or("—")),
            ("一部負担金の割合", ratio.as_str()),
            ("資格取得年月日", qualified.as_str()),
        ] {
            cards_html.push_str(&row(label, value));
        }
        cards_html.push_str("</table></section>");
    }
    if cards_html.is_empty() {
        cards_html = "<p>現在有効な資格はありません。</p>".into();
    }
    let now = service::now();
    let issued = format!(
        "{} {}",
        date_ja(&now.jst_date().compact()),
        now.jst_rfc3339().get(11..16).unwrap_or_default()
    );
    Ok(Html(format!(
        "<!doctype html><html lang=\"ja\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>資格情報のお知らせ</title>\
         <link rel=\"stylesheet\" href=\"/portal/assets/portal.css\"></head>\
         <body class=\"print\"><h1>資格情報のお知らせ</h1>\
         <p>あなたの医療保険の資格情報です。マイナ保険証で受診できない医療機関等では、マイナンバーカードとあわせて提示してください。</p>\
         {cards_html}<p class=\"small\">発行: kakunin 患者ポータル（{}）</p>\
         <button onclick=\"window.print()\" class=\"no-print\">印刷する</button></body></html>",
        escape(&issued)
    ))
    .into_response())
}
