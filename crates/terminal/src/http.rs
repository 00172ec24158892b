//! The terminal's pages and their JSON: the kiosk (`/kiosk`) and the staff console
//! (`/console`), served on loopback. Screens and receptions are pushed with Server-Sent Events.
//!
//! Invariant: no personal data in a URL (checks, information requests, 照会番号 registrations
//! and batch uploads are POST bodies; a batch is fetched by its 受付番号, which names no one);
//! the console relays to the central with the institution's certificate, so the central's rules
//! (consent, today's check, the access log) apply to everything the console shows.

use crate::kiosk::{Action, Method};
use crate::offline::PatientNote;
use crate::visit::{NumbersOutcome, Terminal};
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::stream::{self, Stream};
use kakunin_api::client::ClientError;
use kakunin_api::{
    ApiError, BatchInquiryRequest, EligibilityCheckRequest, EmergencyRequest,
    MedicalInformationRequest, ReferenceNumberRequest,
};
use serde::{Deserialize, Serialize};
use std::convert::Infallible;
use std::sync::Arc;
use tokio::sync::broadcast;

const KIOSK_HTML: &str = include_str!("../assets/kiosk.html");
const CONSOLE_HTML: &str = include_str!("../assets/console.html");
const KIOSK_JS: &str = include_str!("../assets/kiosk.js");
const CONSOLE_JS: &str = include_str!("../assets/console.js");
const STYLE_CSS: &str = include_str!("../assets/style.css");

/// Largest batch upload body: 5,000 lines of the longest 記号 and 番号 fit with room to spare.
pub const MAX_BATCH_BYTES: usize = 8 << 20;

type App = State<Arc<Terminal>>;

/// How often the terminal probes an unreachable central and looks for visits to reconcile.
pub const RECONCILE_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

/// The terminal's routes.
pub fn router(terminal: Arc<Terminal>) -> Router {
    Router::new()
        .route(
            "/",
            get(|| async { axum::response::Redirect::to("/kiosk") }),
        )
        .route("/kiosk", get(|| async { html(KIOSK_HTML) }))
        .route("/console", get(|| async { html(CONSOLE_HTML) }))
        .route("/assets/{file}", get(asset))
        .route("/kiosk/state", get(kiosk_state))
        .route("/kiosk/events", get(kiosk_events))
        .route("/kiosk/action", post(kiosk_action))
        .route("/console/kiosk", get(kiosk_state))
        .route("/console/receptions", get(receptions))
        .route("/console/events", get(reception_events))
        .route("/console/check", post(check))
        .route("/console/offline", get(offline_status))
        .route("/console/face", get(face_status))
        .route("/console/offline/{id}/note", post(offline_note))
        .route("/console/offline/{id}/resolve", post(offline_resolve))
        .route("/console/medical/{category}", post(medical))
        .route("/console/emergency", get(emergencies))
        .route("/console/emergency/check", post(emergency_check))
        .route(
            "/console/emergency/medical/{category}",
            post(emergency_medical),
        )
        .route("/console/reference-numbers", post(reference_number))
        .route(
            "/console/batches",
            post(submit_batch)
                .layer(DefaultBodyLimit::max(MAX_BATCH_BYTES))
                .get(batches),
        )
        .route("/console/batches/{reception_number}", get(batch))
        .route("/console/visual/confirm", post(visual_confirm))
        .route("/console/visual/reject", post(visual_reject))
        .route("/console/cards", get(cards))
        .route("/console/cards/insert", post(insert_card))
        .route("/console/cards/remove", post(remove_card))
        .with_state(terminal)
}

fn html(body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

async fn asset(Path(file): Path<String>) -> Response {
    let (body, kind) = match file.as_str() {
        "kiosk.js" => (KIOSK_JS, "text/javascript; charset=utf-8"),
        "console.js" => (CONSOLE_JS, "text/javascript; charset=utf-8"),
        "style.css" => (STYLE_CSS, "text/css; charset=utf-8"),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    ([(header::CONTENT_TYPE, kind)], body).into_response()
}

fn json_text(body: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

async fn kiosk_state(State(t): App) -> Response {
    json_text(t.kiosk_state())
}

/// An SSE stream of a broadcast channel, starting with `first` when given.
fn events(
    first: Option<String>,
    rx: broadcast::Receiver<String>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let head = stream::iter(first.map(|f| Ok(Event::default().data(f))));
    let tail = stream::unfold(rx, |mut rx| async move {
        loop {
            match rx.recv().await {
                Ok(data) => return Some((Ok(Event::default().data(data)), rx)),
                // A slow page missed some: it gets the next ones (the kiosk state is whole).
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    Sse::new(futures_util::StreamExt::chain(head, tail)).keep_alive(KeepAlive::default())
}

async fn kiosk_events(State(t): App) -> impl IntoResponse {
    let rx = t.subscribe_kiosk();
    events(Some(t.kiosk_state()), rx)
}

async fn reception_events(State(t): App) -> impl IntoResponse {
    events(None, t.subscribe_receptions())
}

#[derive(Deserialize)]
struct KioskAction {
    seq: u64,
    action: String,
    method: Option<String>,
    digit: Option<u8>,
    yes: Option<bool>,
}

fn bad_request(code: &str, message: &str, detail: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(ApiError::new(code, message, detail)),
    )
        .into_response()
}

async fn kiosk_action(State(t): App, body: Bytes) -> Response {
    let Ok(a) = serde_json::from_slice::<KioskAction>(&body) else {
        return bad_request(
            "invalid_json",
            "操作の形式が正しくありません。",
            "expected {seq, action, …}",
        );
    };
    let action = match (a.action.as_str(), a.method.as_deref(), a.digit, a.yes) {
        ("choose", Some("pin"), _, _) => Action::Choose(Method::Pin),
        ("choose", Some("face"), _, _) => Action::Choose(Method::Face),
        ("choose", Some("visual"), _, _) => Action::Choose(Method::Visual),
        ("quit", _, _, _) => Action::Quit,
        ("digit", _, Some(d), _) if d <= 9 => Action::Digit(d),
        ("backspace", _, _, _) => Action::Backspace,
        ("answer", _, _, Some(yes)) => Action::Answer(yes),
        ("want_limit", _, _, _) => Action::WantLimit,
        _ => {
            return bad_request(
                "invalid_action",
                "操作が正しくありません。",
                "unknown kiosk action",
            )
        }
    };
    // The card and central work runs in the background; the page follows the events.
    tokio::spawn(async move { t.act(a.seq, action).await });
    StatusCode::NO_CONTENT.into_response()
}

async fn visual_confirm(State(t): App) -> Response {
    let seq = current_seq(&t);
    tokio::spawn(async move { t.act(seq, Action::StaffConfirmed).await });
    StatusCode::NO_CONTENT.into_response()
}

async fn visual_reject(State(t): App) -> Response {
    let seq = current_seq(&t);
    tokio::spawn(async move { t.act(seq, Action::StaffRejected).await });
    StatusCode::NO_CONTENT.into_response()
}

fn current_seq(t: &Terminal) -> u64 {
    serde_json::from_str::<serde_json::Value>(&t.kiosk_state())
        .ok()
        .and_then(|v| v["seq"].as_u64())
        .unwrap_or(0)
}

async fn receptions(State(t): App) -> Response {
    Json(t.receptions()).into_response()
}

/// A central error as the console shows it: the central's own answer, or 503
/// `central_unavailable` when it could not be reached.
fn central_error(e: ClientError) -> Response {
    match e {
        ClientError::Api(api, status) => (
            StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY),
            Json(api),
        )
            .into_response(),
        other => {
            tracing::warn!(error = %other, "central unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(ApiError::new(
                    "central_unavailable",
                    "中央サーバに接続できません。しばらく待って再試行するか、保険証・資格確認書で確認してください。",
                    "the central could not be reached",
                )),
            )
                .into_response()
        }
    }
}

async fn check(State(t): App, body: Bytes) -> Response {
    let Ok(req) = serde_json::from_slice::<EligibilityCheckRequest>(&body) else {
        return bad_request(
            "invalid_json",
            "入力の形式が正しくありません。",
            "expected an EligibilityCheckRequest",
        );
    };
    match t.check_numbers("console", req, None).await {
        Ok(NumbersOutcome::Answered(reception)) => Json(reception).into_response(),
        // Recorded for a later check: 202 with the visit, so staff can note the patient's
        // details and declared co-pay.
        Ok(NumbersOutcome::Offline(visit)) => (
            StatusCode::ACCEPTED,
            Json(serde_json::json!({ "offline": true, "visit": visit })),
        )
            .into_response(),
        Err(e) => central_error(e),
    }
}

/// 顔認証's state: offered or not, the threshold, the outcomes since start, and the face
/// buffers alive in the terminal (none between comparisons).
async fn face_status(State(t): App) -> Response {
    ([(header::CACHE_CONTROL, "no-store")], Json(t.face_status())).into_response()
}

/// The offline reception state: whether the central is reachable, the visits recorded during
/// outages (newest first) and their counts.
async fn offline_status(State(t): App) -> Response {
    let queue = t.queue();
    match (queue.counts(), queue.all(500)) {
        (Ok(counts), Ok(visits)) => (
            [(header::CACHE_CONTROL, "no-store")],
            Json(serde_json::json!({
                "central": t.central_state(),
                "counts": counts,
                "visits": visits,
            })),
        )
            .into_response(),
        (Err(e), _) | (_, Err(e)) => {
            tracing::error!(error = %e, "cannot read the offline visits");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Json(ApiError::new(
                    "terminal_storage",
                    "端末の記録を読み出せません。端末の管理者に連絡してください。",
                    "the terminal's database failed",
                )),
            )
                .into_response()
        }
    }
}

/// Staff's note on an offline visit: the patient's 4 attributes and the declared co-pay.
async fn offline_note(State(t): App, Path(id): Path<String>, body: Bytes) -> Response {
    let Ok(note) = serde_json::from_slice::<PatientNote>(&body) else {
        return bad_request(
            "invalid_json",
            "入力の形式が正しくありません。",
            "expected {name, name_kana, sex, birthdate, address, declared_copay}",
        );
    };
    if let Err((field, message)) = check_note(&note) {
        return (
            StatusCode::BAD_REQUEST,
            Json(
                ApiError::new("invalid_note", message, format!("{field} is malformed"))
                    .with_field(field),
            ),
        )
            .into_response();
    }
    match t.annotate_visit(&id, &note) {
        Ok(Some(visit)) => Json(visit).into_response(),
        Err(crate::offline::OfflineError::Settled) => (
            StatusCode::CONFLICT,
            Json(ApiError::new(
                "visit_settled",
                "この受付はすでに後日確認が済んでいます。申告内容は確認結果と比べられません。",
                "the visit was reconciled before the note arrived",
            )),
        )
            .into_response(),
        Ok(None) => (
            StatusCode::NOT_FOUND,
            Json(ApiError::new(
                "visit_not_found",
                "この受付記録はありません。",
                "no offline visit has this id",
            )),
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "cannot note an offline visit");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Json(ApiError::new(
                    "terminal_storage",
                    "端末に記録できません。端末の管理者に連絡してください。",
                    "the terminal's database failed",
                )),
            )
                .into_response()
        }
    }
}

/// `POST /console/offline/{id}/resolve`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Resolution {
    /// What staff did (e.g. 差額を徴収した, 保険証で確認した), 1–200 characters.
    resolution: String,
}

/// Marks a discrepancy or failure as dealt with.
async fn offline_resolve(State(t): App, Path(id): Path<String>, body: Bytes) -> Response {
    let Ok(r) = serde_json::from_slice::<Resolution>(&body) else {
        return bad_request(
            "invalid_json",
            "入力の形式が正しくありません。",
            "expected {resolution}",
        );
    };
    let text = r.resolution.trim();
    if text.is_empty() || text.chars().count() > 200 || text.chars().any(char::is_control) {
        return (
            StatusCode::BAD_REQUEST,
            Json(
                ApiError::new(
                    "invalid_resolution",
                    "対応内容を200文字以内で入力してください。",
                    "resolution must be 1-200 characters without control characters",
                )
                .with_field("resolution"),
            ),
        )
            .into_response();
    }
    match t.resolve_visit(&id, text) {
        Ok(Some(true)) => match t.queue().get(&id) {
            Ok(Some(v)) => Json(v).into_response(),
            _ => StatusCode::NO_CONTENT.into_response(),
        },
        Ok(Some(false)) => (
            StatusCode::CONFLICT,
            Json(ApiError::new(
                "nothing_to_resolve",
                "この受付には対応が必要な相違はありません。",
                "the visit is not a discrepancy or failure awaiting action",
            )),
        )
            .into_response(),
        Ok(None) => (
            StatusCode::NOT_FOUND,
            Json(ApiError::new(
                "visit_not_found",
                "この受付記録はありません。",
                "no offline visit has this id",
            )),
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "cannot resolve an offline visit");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Json(ApiError::new(
                    "terminal_storage",
                    "端末に記録できません。端末の管理者に連絡してください。",
                    "the terminal's database failed",
                )),
            )
                .into_response()
        }
    }
}

/// The field at fault in a note, with what staff should fix.
fn check_note(n: &PatientNote) -> Result<(), (&'static str, &'static str)> {
    let text_ok = |v: &Option<String>, max: usize| {
        v.as_deref()
            .is_none_or(|s| s.chars().count() <= max && !s.chars().any(char::is_control))
    };
    if !text_ok(&n.name, 100) {
        return Err(("name", "氏名は100文字以内で入力してください。"));
    }
    if !text_ok(&n.name_kana, 100) {
        return Err(("name_kana", "カナ氏名は100文字以内で入力してください。"));
    }
    if !text_ok(&n.address, 200) {
        return Err(("address", "住所は200文字以内で入力してください。"));
    }
    if n.sex
        .as_deref()
        .is_some_and(|s| !matches!(s, "1" | "2" | "3"))
    {
        return Err(("sex", "性別を選んでください。"));
    }
    if n.birthdate
        .as_deref()
        .is_some_and(|d| kakunin_domain::Date::parse(d).is_err())
    {
        return Err(("birthdate", "生年月日が正しくありません（YYYYMMDD）。"));
    }
    if n.declared_copay
        .as_deref()
        .is_some_and(|c| !matches!(c, "000" | "010" | "020" | "030"))
    {
        return Err(("declared_copay", "負担割合を選んでください。"));
    }
    Ok(())
}

async fn medical(State(t): App, Path(category): Path<String>, body: Bytes) -> Response {
    let Ok(req) = serde_json::from_slice::<MedicalInformationRequest>(&body) else {
        return bad_request(
            "invalid_json",
            "入力の形式が正しくありません。",
            "expected a MedicalInformationRequest",
        );
    };
    match t.client().medical_information(&category, &req).await {
        Ok(answer) => Json(answer).into_response(),
        Err(e) => central_error(e),
    }
}

/// 災害時モード: the declarations in force for the institution's area (the console offers the
/// search without a card only then).
async fn emergencies(State(t): App) -> Response {
    match t.client().emergencies_in_force().await {
        Ok(list) => no_store(Json(list)),
        Err(e) => central_error(e),
    }
}

fn invalid_emergency_request() -> Response {
    bad_request(
        "invalid_json",
        "入力の形式が正しくありません。",
        "expected an EmergencyRequest {person, consent}",
    )
}

/// 災害時: eligibility without a card; the central decides (declaration, one person, consent
/// ground) and logs it.
async fn emergency_check(State(t): App, body: Bytes) -> Response {
    let Ok(req) = serde_json::from_slice::<EmergencyRequest>(&body) else {
        return invalid_emergency_request();
    };
    match t.client().emergency_check(&req).await {
        Ok(answer) => no_store(Json(answer)),
        Err(e) => central_error(e),
    }
}

/// 災害時: medical information without a card (emergency basis).
async fn emergency_medical(State(t): App, Path(category): Path<String>, body: Bytes) -> Response {
    // A path segment may hold a decoded `/`: only a plain word goes on to the central.
    if category.is_empty() || !category.bytes().all(|b| b.is_ascii_lowercase()) {
        return bad_request(
            "invalid_category",
            "情報の種類が正しくありません。",
            "category must be medications, treatments, surgeries or checkups",
        );
    }
    let Ok(req) = serde_json::from_slice::<EmergencyRequest>(&body) else {
        return invalid_emergency_request();
    };
    match t.client().emergency_medical(&category, &req).await {
        Ok(answer) => no_store(Json(answer)),
        Err(e) => central_error(e),
    }
}

async fn reference_number(State(t): App, body: Bytes) -> Response {
    let Ok(req) = serde_json::from_slice::<ReferenceNumberRequest>(&body) else {
        return bad_request(
            "invalid_json",
            "入力の形式が正しくありません。",
            "expected a ReferenceNumberRequest",
        );
    };
    match t.client().register_reference_number(&req).await {
        Ok(answer) => {
            t.note_reference_number(&req, &answer.reference_number);
            Json(answer).into_response()
        }
        Err(e) => central_error(e),
    }
}

/// A batch upload from the console: the 資格確認日 and the lines as text (the page decodes
/// the file).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BatchUpload {
    #[serde(default)]
    qualification_confirmation_date: Option<String>,
    csv: String,
}

/// An upload refused before anything was sent: every line's problem.
#[derive(Serialize)]
struct BatchRefusal {
    #[serde(flatten)]
    error: ApiError,
    errors: Vec<crate::batch::LineError>,
}

async fn submit_batch(State(t): App, body: Bytes) -> Response {
    let Ok(upload) = serde_json::from_slice::<BatchUpload>(&body) else {
        return bad_request(
            "invalid_json",
            "入力の形式が正しくありません。",
            "expected {qualification_confirmation_date, csv}",
        );
    };
    let date = match upload
        .qualification_confirmation_date
        .as_deref()
        .filter(|d| !d.trim().is_empty())
        .map(|d| kakunin_api::date_input(d, "qualification_confirmation_date", "資格確認日"))
        .transpose()
    {
        Ok(d) => d,
        Err(e) => return (StatusCode::BAD_REQUEST, Json(e)).into_response(),
    };
    let items = match crate::batch::parse(&upload.csv, date) {
        Ok(items) => items,
        Err(errors) => {
            let lines = errors
                .iter()
                .map(|e| e.line)
                .collect::<std::collections::BTreeSet<_>>()
                .len();
            let message = if errors.iter().all(|e| e.line == 0) {
                format!("{}何も送信していません。", errors[0].message)
            } else {
                format!(
                    "{lines}行に誤りがあります。直してからもう一度送信してください（何も送信していません）。"
                )
            };
            let error = ApiError::new(
                "invalid_batch_lines",
                &message,
                format!(
                    "{} problems on {lines} lines; nothing was sent",
                    errors.len()
                ),
            )
            .with_field("csv");
            return (
                StatusCode::BAD_REQUEST,
                Json(BatchRefusal { error, errors }),
            )
                .into_response();
        }
    };
    let req = BatchInquiryRequest {
        qualification_confirmation_date: date.map(|d| d.compact()),
        items,
    };
    match t.client().submit_batch_inquiry(&req).await {
        Ok(accepted) => (StatusCode::ACCEPTED, Json(accepted)).into_response(),
        Err(e) => central_error(e),
    }
}

/// A JSON answer the browser must not keep (batch results name patients).
fn no_store(body: impl IntoResponse) -> Response {
    ([(header::CACHE_CONTROL, "no-store")], body).into_response()
}

async fn batches(State(t): App) -> Response {
    match t.client().batch_inquiries().await {
        Ok(list) => no_store(Json(list)),
        Err(e) => central_error(e),
    }
}

async fn batch(State(t): App, Path(reception_number): Path<String>) -> Response {
    if reception_number.is_empty()
        || reception_number.len() > 18
        || !reception_number.bytes().all(|b| b.is_ascii_digit())
    {
        return bad_request(
            "invalid_reception_number",
            "受付番号が正しくありません（数字のみ）。",
            "the reception number is 1-18 digits",
        );
    }
    match t.client().batch_inquiry(&reception_number).await {
        Ok(b) => no_store(Json(b)),
        Err(e) => central_error(e),
    }
}

async fn cards(State(t): App) -> Response {
    match t.virtual_cards() {
        Some((cards, inserted)) => {
            Json(serde_json::json!({ "cards": cards, "inserted": inserted })).into_response()
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

#[derive(Deserialize)]
struct Insert {
    card: String,
}

async fn insert_card(State(t): App, body: Bytes) -> Response {
    let Ok(i) = serde_json::from_slice::<Insert>(&body) else {
        return bad_request(
            "invalid_json",
            "カードの指定が正しくありません。",
            "expected {card}",
        );
    };
    if t.place_virtual(Some(&i.card)) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        bad_request(
            "unknown_card",
            "そのカードはありません。",
            "no such virtual card",
        )
    }
}

async fn remove_card(State(t): App) -> Response {
    if t.place_virtual(None) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        StatusCode::NOT_FOUND.into_response()
    }
}

/// Serves the pages on `listener` until `shutdown`, with the reader watched meanwhile.
pub async fn serve(
    terminal: Arc<Terminal>,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let watcher = tokio::spawn(terminal.clone().watch());
    let reconciler = tokio::spawn(terminal.clone().reconcile(RECONCILE_EVERY));
    let result = axum::serve(listener, router(terminal))
        .with_graceful_shutdown(shutdown)
        .await;
    watcher.abort();
    reconciler.abort();
    result
}
