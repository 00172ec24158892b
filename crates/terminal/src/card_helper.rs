//! The local card helper: a small HTTP service on the patient's own machine through which the
//! patient portal (a web page, which cannot speak PC/SC) logs in with a My Number card, like
//! Mynaportal's JPKI app.
//!
//! It lists the virtual cards of a demo directory, reads a card's 利用者証明用電子証明書 (no PIN)
//! and signs a portal login: given the portal's nonce and the PIN, it verifies the PIN on the
//! card and has the card sign [`kakunin_api::portal_challenge`] of that nonce.
//!
//! Invariants: it signs nothing but a portal login challenge that it builds itself (so it is
//! no signing oracle for card checks, whose challenge has another label); the PIN goes to the
//! card and nowhere else (never logged, never kept); only the configured origins may call it
//! from a browser (CORS, with Private Network Access preflights answered), and only under a
//! loopback or IP-literal `Host` (so a DNS-rebound page cannot reach it); it listens on
//! loopback unless told otherwise.

use axum::body::Bytes;
use axum::extract::{Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use kakunin_api::ApiError;
use kakunin_card::{open_card, CardError, Jpki, JpkiError};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// Where the helper listens by default (and where the portal looks for it by default).
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8091";

/// Longest portal nonce the helper accepts (the central's are about 100 characters).
pub const MAX_NONCE_LEN: usize = 512;

/// Where the cards come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CardSource {
    /// A directory of virtual card files (`*.vcard`); the page chooses one (a demo).
    Directory(PathBuf),
    /// One virtual card file.
    File(PathBuf),
    /// A PC/SC reader: `pcsc` (the first with a card) or `pcsc:READER NAME`.
    Pcsc(String),
}

impl CardSource {
    /// `virtual:DIR`, `virtual:FILE`, `pcsc` or `pcsc:NAME`.
    pub fn parse(spec: &str) -> Result<Self, String> {
        if let Some(path) = spec.strip_prefix("virtual:") {
            if path.is_empty() {
                return Err("virtual: needs a card file or a directory of cards".into());
            }
            let path = PathBuf::from(path);
            return Ok(if path.is_dir() {
                Self::Directory(path)
            } else {
                Self::File(path)
            });
        }
        if spec == "pcsc" || spec.strip_prefix("pcsc:").is_some_and(|n| !n.is_empty()) {
            return Ok(Self::Pcsc(spec.to_string()));
        }
        Err(format!(
            "unknown reader {spec:?}: expected virtual:DIR, virtual:FILE, pcsc or pcsc:NAME"
        ))
    }

    fn kind(&self) -> &'static str {
        match self {
            Self::Directory(_) => "virtual-directory",
            Self::File(_) => "virtual-file",
            Self::Pcsc(_) => "pcsc",
        }
    }
}

/// An origin as browsers send it: `scheme://host[:port]`, nothing after. Returns it without a
/// trailing slash.
pub fn parse_origin(raw: &str) -> Result<String, String> {
    let origin = raw.trim().trim_end_matches('/');
    let rest = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))
        .ok_or_else(|| format!("{raw:?}: an origin starts with https:// or http://"))?;
    let ok = !rest.is_empty()
        && rest
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-.:[]".contains(c));
    if !ok {
        return Err(format!(
            "{raw:?}: an origin is scheme://host[:port], without a path"
        ));
    }
    Ok(origin.to_string())
}

/// How to run a helper.
#[derive(Debug, Clone)]
pub struct HelperConfig {
    pub source: CardSource,
    /// Browser origins allowed to call the helper (the portal's), e.g. `https://127.0.0.1:8443`.
    pub allowed_origins: Vec<String>,
}

struct Helper {
    config: HelperConfig,
    /// One card operation at a time: a card (and a card file's PIN counter) has one session.
    card: Mutex<()>,
}

type App = State<Arc<Helper>>;

/// The helper's routes, behind its origin and host checks.
pub fn router(config: HelperConfig) -> Router {
    let helper = Arc::new(Helper {
        config,
        card: Mutex::new(()),
    });
    Router::new()
        .route("/status", get(status))
        .route("/cards", get(cards))
        .route("/certificate", get(certificate))
        .route("/portal-login", post(portal_login))
        .fallback(|| async {
            error(
                StatusCode::NOT_FOUND,
                "not_found",
                "そのような機能はありません。",
                "unknown path",
            )
        })
        .layer(middleware::from_fn_with_state(helper.clone(), guard))
        .with_state(helper)
}

/// Serves the helper on `listener` until `shutdown`.
pub async fn serve(
    config: HelperConfig,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(config))
        .with_graceful_shutdown(shutdown)
        .await
}

// ---------------------------------------------------------------------------------------------
// Origin, host and preflight checks

/// True for `localhost`, `*.localhost` and IP literals, with or without a port: names a
/// DNS-rebinding page cannot take over.
fn host_allowed(host: &str) -> bool {
    if let Some(rest) = host.strip_prefix('[') {
        // [v6] or [v6]:port
        return rest
            .split_once(']')
            .is_some_and(|(ip, _)| ip.parse::<std::net::Ipv6Addr>().is_ok());
    }
    let name = host
        .rsplit_once(':')
        .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
        .map_or(host, |(name, _)| name)
        .to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost") || name.parse::<std::net::IpAddr>().is_ok()
}

async fn guard(State(helper): App, request: Request, next: Next) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !host_allowed(host) {
        return error(
            StatusCode::MISDIRECTED_REQUEST,
            "host_not_allowed",
            "このアドレスからは利用できません。",
            "the Host header must be localhost or an IP address",
        )
        .into_response();
    }
    let origin = request
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    if let Some(o) = &origin {
        if !helper.config.allowed_origins.iter().any(|a| a == o) {
            tracing::warn!(origin = %o, "card helper: origin not allowed");
            return error(
                StatusCode::FORBIDDEN,
                "origin_not_allowed",
                "このページからはカード読み取りアプリを利用できません。",
                "the Origin is not in --allow-origin",
            )
            .into_response();
        }
    }
    let preflight = request.method() == Method::OPTIONS;
    let mut response = if preflight {
        StatusCode::NO_CONTENT.into_response()
    } else if request.method() == Method::POST && !is_json(request.headers()) {
        error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "json_required",
            "入力の形式が正しくありません。",
            "POST bodies are application/json",
        )
        .into_response()
    } else {
        next.run(request).await
    };
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::VARY, HeaderValue::from_static("Origin"));
    if let Some(value) = origin.and_then(|o| HeaderValue::from_str(&o).ok()) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
        if preflight {
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static("GET, POST"),
            );
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static("content-type"),
            );
            headers.insert(
                header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from_static("600"),
            );
            // Private Network Access: a public page may call this loopback service.
            headers.insert(
                "access-control-allow-private-network",
                HeaderValue::from_static("true"),
            );
        }
    }
    response
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';')
                .next()
                .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
        })
}

// ---------------------------------------------------------------------------------------------
// Errors

/// An error answer: the API's error shape, with the PIN tries left when a PIN was wrong.
#[derive(Debug, Serialize)]
struct HelperError {
    #[serde(skip)]
    status: StatusCode,
    #[serde(flatten)]
    error: ApiError,
    #[serde(skip_serializing_if = "Option::is_none")]
    tries_left: Option<u8>,
}

impl IntoResponse for HelperError {
    fn into_response(self) -> Response {
        (self.status, Json(self)).into_response()
    }
}

fn error(status: StatusCode, code: &str, message: &str, detail: &str) -> HelperError {
    HelperError {
        status,
        error: ApiError::new(code, message, detail),
        tries_left: None,
    }
}

fn card_error(e: &JpkiError) -> HelperError {
    let (status, code) = match e {
        JpkiError::WrongPin { .. } => (StatusCode::UNAUTHORIZED, "pin_incorrect"),
        JpkiError::PinLocked => (StatusCode::LOCKED, "pin_locked"),
        JpkiError::PinFormat => (StatusCode::BAD_REQUEST, "pin_format"),
        JpkiError::NotJpki => (StatusCode::UNPROCESSABLE_ENTITY, "not_my_number_card"),
        JpkiError::Card(CardError::NoCard | CardError::Removed) => {
            (StatusCode::NOT_FOUND, "no_card")
        }
        JpkiError::Card(CardError::NoReader) => (StatusCode::SERVICE_UNAVAILABLE, "no_reader"),
        JpkiError::Card(
            CardError::Unsupported(_) | CardError::InvalidSpec(_) | CardError::VirtualCard(_),
        ) => (StatusCode::SERVICE_UNAVAILABLE, "reader_misconfigured"),
        _ => (StatusCode::BAD_GATEWAY, "card_unreadable"),
    };
    if status.is_server_error() {
        tracing::warn!(error = %e, "card helper: card operation failed");
    }
    let tries_left = match e {
        JpkiError::WrongPin { tries_left } => Some(*tries_left),
        JpkiError::PinLocked => Some(0),
        _ => None,
    };
    HelperError {
        status,
        error: ApiError::new(code, &e.message_ja(), e.to_string()),
        tries_left,
    }
}

// ---------------------------------------------------------------------------------------------
// Cards

/// The `*.vcard` files of a directory, sorted.
fn virtual_cards(dir: &std::path::Path) -> Vec<String> {
    let mut cards: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().to_str().map(str::to_string))
                .filter(|n| n.ends_with(".vcard"))
                .collect()
        })
        .unwrap_or_default();
    cards.sort();
    cards
}

/// The `open_card` specification of the chosen card, or the error to answer.
fn card_spec(source: &CardSource, card: Option<&str>) -> Result<String, HelperError> {
    match (source, card) {
        (CardSource::Directory(dir), Some(name)) => {
            // Only a listed file name: never a path.
            if virtual_cards(dir).iter().any(|c| c == name) {
                Ok(format!("virtual:{}", dir.join(name).display()))
            } else {
                Err(error(
                    StatusCode::NOT_FOUND,
                    "unknown_card",
                    "そのカードはありません。",
                    "no such virtual card in the directory",
                ))
            }
        }
        (CardSource::Directory(dir), None) => match virtual_cards(dir).as_slice() {
            [only] => Ok(format!("virtual:{}", dir.join(only).display())),
            _ => Err(error(
                StatusCode::BAD_REQUEST,
                "card_required",
                "カードを選んでください。",
                "the reader is a directory of cards: give `card`",
            )),
        },
        (CardSource::File(path), _) => Ok(format!("virtual:{}", path.display())),
        (CardSource::Pcsc(spec), _) => Ok(spec.clone()),
    }
}

impl Helper {
    /// Runs `work` on the chosen card's JPKI AP, one card operation at a time, off the async
    /// threads (card I/O blocks).
    async fn with_card<T: Send + 'static>(
        self: &Arc<Self>,
        card: Option<&str>,
        work: impl FnOnce(&mut Jpki<'_>) -> Result<T, JpkiError> + Send + 'static,
    ) -> Result<T, HelperError> {
        let spec = card_spec(&self.config.source, card)?;
        let helper = self.clone();
        let outcome = tokio::task::spawn_blocking(move || {
            let _one = helper.card.lock().unwrap_or_else(|p| p.into_inner());
            let mut card = open_card(&spec)?;
            let mut jpki = Jpki::open(card.as_mut())?;
            work(&mut jpki)
        })
        .await;
        match outcome {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(card_error(&e)),
            Err(_) => Err(error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "helper_failed",
                "カードの処理中にエラーが発生しました。",
                "the card task failed",
            )),
        }
    }
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[derive(Serialize)]
struct Status {
    service: &'static str,
    version: &'static str,
    /// `virtual-directory`, `virtual-file` or `pcsc`.
    reader: &'static str,
}

async fn status(State(h): App) -> Json<Status> {
    Json(Status {
        service: "kakunin-card-helper",
        version: env!("CARGO_PKG_VERSION"),
        reader: h.config.source.kind(),
    })
}

#[derive(Serialize)]
struct Cards {
    reader: &'static str,
    /// The virtual cards to choose from (a directory reader only; empty otherwise).
    cards: Vec<String>,
}

async fn cards(State(h): App) -> Json<Cards> {
    let cards = match &h.config.source {
        CardSource::Directory(dir) => virtual_cards(dir),
        _ => vec![],
    };
    Json(Cards {
        reader: h.config.source.kind(),
        cards,
    })
}

#[derive(Deserialize)]
struct CardQuery {
    card: Option<String>,
}

#[derive(Serialize)]
struct Certificate {
    /// Base64 DER of the 利用者証明用電子証明書 (no personal data in it).
    certificate: String,
}

/// The card's 利用者証明用電子証明書, read without a PIN.
async fn certificate(
    State(h): App,
    Query(q): Query<CardQuery>,
) -> Result<Json<Certificate>, HelperError> {
    let der = h
        .with_card(q.card.as_deref(), |jpki| jpki.read_auth_certificate())
        .await?;
    Ok(Json(Certificate {
        certificate: b64(&der),
    }))
}

/// `POST /portal-login`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginRequest {
    /// The portal's login nonce (`POST /portal/api/login/nonce`).
    nonce: String,
    /// The card's 4-digit 利用者証明用 PIN: sent to the card, nowhere else.
    pin: String,
    /// The virtual card to use, for a directory reader.
    #[serde(default)]
    card: Option<String>,
}

impl std::fmt::Debug for LoginRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginRequest")
            .field("nonce", &self.nonce)
            .field("card", &self.card)
            .finish_non_exhaustive()
    }
}

#[derive(Serialize)]
struct LoginProof {
    /// Base64 DER of the card's 利用者証明用電子証明書.
    certificate: String,
    /// Base64 of the card's signature over `portal_challenge(nonce)`.
    signature: String,
}

/// A nonce the helper will put in a challenge: printable ASCII, no spaces, bounded.
fn nonce_ok(nonce: &str) -> bool {
    !nonce.is_empty() && nonce.len() <= MAX_NONCE_LEN && nonce.bytes().all(|b| b.is_ascii_graphic())
}

/// Verifies the PIN on the card and has it sign the portal login challenge of the nonce.
async fn portal_login(State(h): App, body: Bytes) -> Result<Json<LoginProof>, HelperError> {
    let Ok(request) = serde_json::from_slice::<LoginRequest>(&body) else {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            "入力の形式が正しくありません。",
            "expected {nonce, pin, card?}",
        ));
    };
    drop(body);
    if !nonce_ok(&request.nonce) {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "invalid_nonce",
            "ログインの準備に失敗しました。ページを読み込み直してください。",
            "the nonce must be 1-512 printable ASCII characters",
        ));
    }
    if !kakunin_card::is_valid_auth_pin(&request.pin) {
        return Err(card_error(&JpkiError::PinFormat));
    }
    // The only message this helper ever has the card sign: the portal login label + nonce.
    let challenge = kakunin_api::portal_challenge(&request.nonce);
    let hash: [u8; 32] = Sha256::digest(&challenge).into();
    let LoginRequest { pin, card, .. } = request;
    let (certificate, signature) = h
        .with_card(card.as_deref(), move |jpki| {
            let certificate = jpki.read_auth_certificate()?;
            // A locked card is said so without spending anything.
            if jpki.auth_pin_tries_left()? == 0 {
                return Err(JpkiError::PinLocked);
            }
            jpki.verify_auth_pin(&pin)?;
            drop(pin);
            let signature = jpki.sign_sha256(&hash)?;
            Ok((certificate, signature))
        })
        .await?;
    Ok(Json(LoginProof {
        certificate: b64(&certificate),
        signature: b64(&signature),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use kakunin_card::{
        generate_rsa2048_pkcs8, public_key_der_from_pkcs8, VirtualCard, VirtualCardSpec,
    };
    use std::sync::OnceLock;
    use tower::ServiceExt;

    const ORIGIN: &str = "https://127.0.0.1:8443";

    /// One RSA-2048 key per test binary (generation is the slow part) and a "certificate":
    /// a DER SEQUENCE around the key's SubjectPublicKeyInfo is all a virtual card checks.
    fn key() -> &'static (Vec<u8>, Vec<u8>) {
        static KEY: OnceLock<(Vec<u8>, Vec<u8>)> = OnceLock::new();
        KEY.get_or_init(|| {
            let pkcs8 = generate_rsa2048_pkcs8().unwrap();
            let spki = public_key_der_from_pkcs8(&pkcs8).unwrap();
            let len = u16::try_from(spki.len()).unwrap().to_be_bytes();
            let mut cert = vec![0x30, 0x82, len[0], len[1]];
            cert.extend_from_slice(&spki);
            (pkcs8, cert)
        })
    }

    fn issue(dir: &std::path::Path, name: &str) -> PathBuf {
        let (pkcs8, cert) = key();
        let path = dir.join(name);
        VirtualCard::create(
            &path,
            VirtualCardSpec {
                auth_key_pkcs8_der: pkcs8.clone(),
                auth_cert_der: cert.clone(),
                auth_ca_cert_der: cert.clone(),
                pin: "1234".into(),
            },
        )
        .unwrap();
        path
    }

    fn helper(source: CardSource) -> Router {
        router(HelperConfig {
            source,
            allowed_origins: vec![ORIGIN.into()],
        })
    }

    async fn call(
        app: &Router,
        method: &str,
        uri: &str,
        origin: Option<&str>,
        body: Option<serde_json::Value>,
    ) -> (StatusCode, HeaderMap, serde_json::Value) {
        let mut req = Request::builder()
            .method(method)
            .uri(uri)
            .header("host", "127.0.0.1:8091");
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        if body.is_some() {
            req = req.header("content-type", "application/json");
        }
        let req = req
            .body(Body::from(body.map(|b| b.to_string()).unwrap_or_default()))
            .unwrap();
        let resp = app.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap();
        (
            status,
            headers,
            serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
        )
    }

    fn unb64(s: &serde_json::Value) -> Vec<u8> {
        base64::engine::general_purpose::STANDARD
            .decode(s.as_str().unwrap())
            .unwrap()
    }

    /// The signature verifies over exactly `message` with the card's key.
    fn signed(message: &[u8], signature: &[u8]) -> bool {
        let (_, cert) = key();
        // SubjectPublicKeyInfo = SEQUENCE { AlgorithmIdentifier, BIT STRING { 00, RSAPublicKey } }
        let spki = &cert[4..];
        let rsa = &spki[spki.len() - 270..];
        ring::signature::UnparsedPublicKey::new(&ring::signature::RSA_PKCS1_2048_8192_SHA256, rsa)
            .verify(message, signature)
            .is_ok()
    }

    #[test]
    fn sources_and_origins_parse() {
        let dir = tempfile::tempdir().unwrap();
        let d = format!("virtual:{}", dir.path().display());
        assert_eq!(
            CardSource::parse(&d),
            Ok(CardSource::Directory(dir.path().into()))
        );
        assert!(matches!(
            CardSource::parse("virtual:/x/card.vcard"),
            Ok(CardSource::File(_))
        ));
        assert_eq!(
            CardSource::parse("pcsc"),
            Ok(CardSource::Pcsc("pcsc".into()))
        );
        assert!(CardSource::parse("pcsc:").is_err());
        assert!(CardSource::parse("virtual:").is_err());
        assert!(CardSource::parse("usb").is_err());
        assert_eq!(parse_origin("https://127.0.0.1:8443/"), Ok(ORIGIN.into()));
        assert!(parse_origin("https://a.example/portal").is_err());
        assert!(parse_origin("ftp://a").is_err());
        for (host, ok) in [
            ("127.0.0.1:8091", true),
            ("localhost:8091", true),
            ("[::1]:8091", true),
            ("127.0.0.1", true),
            ("evil.example:8091", false),
            ("", false),
        ] {
            assert_eq!(host_allowed(host), ok, "{host}");
        }
    }

    #[tokio::test]
    async fn lists_reads_and_signs_only_portal_logins() {
        let dir = tempfile::tempdir().unwrap();
        let path = issue(dir.path(), "000001.vcard");
        issue(dir.path(), "000002.vcard");
        std::fs::write(dir.path().join("notes.txt"), "x").unwrap();
        let app = helper(CardSource::Directory(dir.path().into()));

        let (s, h, v) = call(&app, "GET", "/cards", Some(ORIGIN), None).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(
            v["cards"],
            serde_json::json!(["000001.vcard", "000002.vcard"])
        );
        assert_eq!(v["reader"], "virtual-directory");
        assert_eq!(h["access-control-allow-origin"], ORIGIN);
        assert_eq!(h["cache-control"], "no-store");

        let (s, _, v) = call(&app, "GET", "/certificate?card=000001.vcard", None, None).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(unb64(&v["certificate"]), key().1);
        // Two cards: one must be chosen; never a path.
        let (s, _, v) = call(&app, "GET", "/certificate", None, None).await;
        assert_eq!(
            (s, v["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("card_required"))
        );
        let (s, _, v) = call(&app, "GET", "/certificate?card=../000001.vcard", None, None).await;
        assert_eq!(
            (s, v["code"].as_str()),
            (StatusCode::NOT_FOUND, Some("unknown_card"))
        );

        let login =
            |pin: &str| serde_json::json!({"nonce": "abc.def", "pin": pin, "card": "000001.vcard"});
        let (s, _, v) = call(
            &app,
            "POST",
            "/portal-login",
            Some(ORIGIN),
            Some(login("1234")),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let signature = unb64(&v["signature"]);
        assert!(signed(
            &kakunin_api::portal_challenge("abc.def"),
            &signature
        ));
        assert!(
            !signed(&kakunin_api::card_challenge("abc.def"), &signature),
            "a portal login is no card check"
        );
        assert_eq!(unb64(&v["certificate"]), key().1);

        // A nonce that would smuggle another line, or none, is refused before the card.
        for nonce in ["a\nkakunin/card-check/v1", "", "a b"] {
            let (s, _, v) = call(
                &app,
                "POST",
                "/portal-login",
                None,
                Some(serde_json::json!({"nonce": nonce, "pin": "1234", "card": "000001.vcard"})),
            )
            .await;
            assert_eq!(
                (s, v["code"].as_str()),
                (StatusCode::BAD_REQUEST, Some("invalid_nonce"))
            );
        }
        // No other fields (nothing else to sign).
        let (s, _, v) = call(
            &app,
            "POST",
            "/portal-login",
            None,
            Some(serde_json::json!({"nonce": "n", "pin": "1234", "card": "000001.vcard", "message": "x"})),
        )
        .await;
        assert_eq!(
            (s, v["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_json"))
        );

        // A malformed PIN costs no try; wrong PINs say the tries left, then the card locks.
        let (s, _, v) = call(&app, "POST", "/portal-login", None, Some(login("12a4"))).await;
        assert_eq!(
            (s, v["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("pin_format"))
        );
        for left in [2, 1] {
            let (s, _, v) = call(&app, "POST", "/portal-login", None, Some(login("9999"))).await;
            assert_eq!(s, StatusCode::UNAUTHORIZED);
            assert_eq!(v["code"], "pin_incorrect");
            assert_eq!(v["tries_left"], left);
            let message = v["message"].as_str().unwrap();
            assert!(message.contains(&format!("あと{left}回")), "{message}");
        }
        let (s, _, v) = call(&app, "POST", "/portal-login", None, Some(login("9999"))).await;
        assert_eq!(
            (s, v["code"].as_str()),
            (StatusCode::LOCKED, Some("pin_locked"))
        );
        // Locked stays locked, even with the right PIN.
        let (s, _, v) = call(&app, "POST", "/portal-login", None, Some(login("1234"))).await;
        assert_eq!(
            (s, v["code"].as_str()),
            (StatusCode::LOCKED, Some("pin_locked"))
        );
        assert!(v["message"].as_str().unwrap().contains("ロック"));
        assert_eq!(VirtualCard::open(&path).unwrap().pin_tries_left(), 0);
    }

    #[tokio::test]
    async fn only_the_portal_origin_and_loopback_hosts() {
        let dir = tempfile::tempdir().unwrap();
        let path = issue(dir.path(), "card.vcard");
        let app = helper(CardSource::File(path));

        // Preflight of the portal: allowed, with Private Network Access.
        let req = Request::builder()
            .method("OPTIONS")
            .uri("/portal-login")
            .header("host", "127.0.0.1:8091")
            .header("origin", ORIGIN)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .header("access-control-request-private-network", "true")
            .body(Body::empty())
            .unwrap();
        let resp = app.clone().oneshot(req).await.unwrap();
        assert_eq!(resp.status(), StatusCode::NO_CONTENT);
        let h = resp.headers();
        assert_eq!(h["access-control-allow-origin"], ORIGIN);
        assert_eq!(h["access-control-allow-private-network"], "true");
        assert!(h["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("POST"));
        assert_eq!(h["access-control-allow-headers"], "content-type");

        // Another site: refused, preflight and request alike, with no CORS headers.
        for method in ["OPTIONS", "GET"] {
            let (s, h, v) = call(&app, method, "/cards", Some("https://evil.example"), None).await;
            assert_eq!(s, StatusCode::FORBIDDEN, "{method}");
            assert_eq!(v["code"], "origin_not_allowed");
            assert!(h.get("access-control-allow-origin").is_none());
        }
        let (s, _, _) = call(
            &app,
            "POST",
            "/portal-login",
            Some("https://evil.example"),
            Some(serde_json::json!({"nonce": "n", "pin": "1234"})),
        )
        .await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        // A form post (no JSON, so no preflight) is refused.
        let req = Request::builder()
            .method("POST")
            .uri("/portal-login")
            .header("host", "127.0.0.1:8091")
            .header("content-type", "text/plain")
            .body(Body::from(r#"{"nonce":"n","pin":"1234"}"#))
            .unwrap();
        let resp = app.clone().oneshot(req).await.unwrap();
        assert_eq!(resp.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
        // A DNS-rebound name: refused.
        let req = Request::builder()
            .uri("/cards")
            .header("host", "rebind.example:8091")
            .body(Body::empty())
            .unwrap();
        let resp = app.clone().oneshot(req).await.unwrap();
        assert_eq!(resp.status(), StatusCode::MISDIRECTED_REQUEST);

        // One card file: no choice needed; the list is empty.
        let (s, _, v) = call(&app, "GET", "/cards", Some(ORIGIN), None).await;
        assert_eq!(
            (s, v["cards"].clone()),
            (StatusCode::OK, serde_json::json!([]))
        );
        let (s, _, v) = call(
            &app,
            "POST",
            "/portal-login",
            Some(ORIGIN),
            Some(serde_json::json!({"nonce": "n-1", "pin": "1234"})),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert!(signed(
            &kakunin_api::portal_challenge("n-1"),
            &unb64(&v["signature"])
        ));
    }
}
