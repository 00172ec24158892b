//! The operations console (運用コンソール): server-rendered pages in Japanese, served on
//! loopback, that relay to the central with an operator (`admin`) certificate.
//!
//! Pages: 利用状況 (a month's usage in MHLW's layout, with SVG charts drawn here), 紐付け確認
//! (the link review queue), 災害時モード (declarations), 医療機関 (the registry), データ鮮度
//! (per insurer), 証明書 (client certificates: issue, list, revoke) and 失効 (revoked
//! certificates, and how card certificates are revoked at the authority).
//!
//! Invariants: every figure and list comes from the central's admin API (the console keeps no
//! data and has no store); everything shown is HTML-escaped; no personal data in a URL (query
//! strings carry a month, a number of days, a status filter, an institution code or a fixed
//! message code); no JavaScript; a POST is accepted only from the console's own pages
//! (`Origin` / `Sec-Fetch-Site` same-origin) and answered with a redirect (POST-redirect-GET);
//! requests naming another host are refused (DNS rebinding).

mod certs;
mod charts;
mod html;
mod pages;

use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use kakunin_api::client::CentralClient;
use std::path::PathBuf;
use std::sync::Arc;

/// What the console is started with.
#[derive(Debug, Clone)]
pub struct OpsConfig {
    /// A client of the central holding the operator's certificate.
    pub client: CentralClient,
    /// The central's URL, shown in the footer.
    pub central_url: String,
    /// The central's data directory, when known (the 失効 page then shows complete commands).
    pub data_dir: Option<PathBuf>,
}

pub(crate) type Ops = Arc<OpsConfig>;

/// The console's routes, with the host and same-origin guards and the security headers.
pub fn router(config: OpsConfig) -> Router {
    Router::new()
        .route("/", get(|| async { Redirect::to("/statistics") }))
        .route("/style.css", get(pages::style))
        .route("/statistics", get(pages::statistics))
        .route("/link-reviews", get(pages::link_reviews))
        .route("/link-reviews/dismiss", post(pages::dismiss_link_review))
        .route(
            "/emergencies",
            get(pages::emergencies).post(pages::declare_emergency),
        )
        .route("/emergencies/{id}/end", post(pages::end_emergency))
        .route(
            "/institutions",
            get(pages::institutions).post(pages::register_institution),
        )
        .route("/freshness", get(pages::freshness))
        .route("/certificates", get(certs::certificates).post(certs::issue))
        .route("/certificates/{serial}/revoke", post(certs::revoke))
        .route("/revocations", get(pages::revocations))
        .fallback(pages::not_found)
        .layer(middleware::from_fn(guard))
        .with_state(Arc::new(config))
}

/// Serves the console on `listener` until `shutdown`.
pub async fn serve(
    config: OpsConfig,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(config))
        .with_graceful_shutdown(shutdown)
        .await
}

/// The host part of a `Host` header value (`[::1]:8092` → `::1`).
fn host_name(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or("");
    }
    host.rsplit_once(':').map_or(host, |(h, _)| h)
}

/// Whether a `Host` names this machine by address or as `localhost`: a page of another name
/// that resolves here (DNS rebinding) must not reach the console.
fn host_allowed(host: &str) -> bool {
    let name = host_name(host);
    name.eq_ignore_ascii_case("localhost") || name.parse::<std::net::IpAddr>().is_ok()
}

/// Whether a POST comes from one of the console's own pages: `Sec-Fetch-Site: same-origin`
/// and/or an `Origin` equal to `http://<Host>`; at least one of them must be present.
pub(crate) fn same_origin(headers: &HeaderMap) -> bool {
    let text = |h: &str| headers.get(h).and_then(|v| v.to_str().ok());
    let host = text("host").unwrap_or("");
    let origin = text("origin");
    let fetch_site = text("sec-fetch-site");
    if origin.is_none() && fetch_site.is_none() {
        return false;
    }
    origin.is_none_or(|o| o == format!("http://{host}"))
        && fetch_site.is_none_or(|s| s == "same-origin")
}

/// The host and same-origin checks, and the headers every answer carries.
async fn guard(req: Request, next: Next) -> Response {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mut resp = if !host_allowed(host) {
        (
            StatusCode::MISDIRECTED_REQUEST,
            "このホスト名では利用できません。127.0.0.1 などのアドレスで開いてください。",
        )
            .into_response()
    } else if req.method() == Method::POST && !same_origin(req.headers()) {
        html::message_page(
            StatusCode::FORBIDDEN,
            "送信元を確認できません",
            "この操作は運用コンソールの画面から行ってください（ほかのサイトからの送信は受け付けません）。",
        )
    } else {
        next.run(req).await
    };
    let h = resp.headers_mut();
    for (name, value) in [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        ),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        // Not `no-referrer`: with it, browsers send `Origin: null` on the console's own form
        // posts, and the same-origin check above could not tell them from a foreign page's.
        (header::REFERRER_POLICY, "same-origin"),
        (header::CACHE_CONTROL, "no-store"),
    ] {
        h.insert(name, HeaderValue::from_static(value));
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_by_address_or_localhost_only() {
        for (host, ok) in [
            ("127.0.0.1:8092", true),
            ("localhost:8092", true),
            ("LOCALHOST", true),
            ("[::1]:8092", true),
            ("192.168.1.20:8092", true),
            ("evil.example:8092", false),
            ("127.0.0.1.evil.example", false),
            ("", false),
        ] {
            assert_eq!(host_allowed(host), ok, "{host}");
        }
    }

    #[test]
    fn posts_only_from_the_console_itself() {
        let headers = |pairs: &[(&'static str, &'static str)]| {
            let mut h = HeaderMap::new();
            h.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8092"));
            for (k, v) in pairs {
                h.insert(*k, HeaderValue::from_static(v));
            }
            h
        };
        for (pairs, ok) in [
            (vec![], false),
            (vec![("origin", "http://127.0.0.1:8092")], true),
            (vec![("sec-fetch-site", "same-origin")], true),
            (
                vec![
                    ("origin", "http://127.0.0.1:8092"),
                    ("sec-fetch-site", "same-origin"),
                ],
                true,
            ),
            (vec![("origin", "http://evil.example")], false),
            (vec![("origin", "http://127.0.0.1:8093")], false),
            (vec![("origin", "null")], false),
            (vec![("sec-fetch-site", "cross-site")], false),
            (vec![("sec-fetch-site", "same-site")], false),
            (
                vec![
                    ("origin", "http://127.0.0.1:8092"),
                    ("sec-fetch-site", "cross-site"),
                ],
                false,
            ),
        ] {
            assert_eq!(same_origin(&headers(&pairs)), ok, "{pairs:?}");
        }
    }
}
