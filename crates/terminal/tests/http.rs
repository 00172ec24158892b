//! The terminal's pages and JSON without a central: pages served, kiosk state readable, bad
//! actions refused, virtual cards placed and taken off, and a central that cannot be reached
//! reported to the console as `central_unavailable` (503) with what staff should do.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use kakunin_api::client::CentralClient;
use kakunin_terminal::visit::{Reader, Terminal};
use tower::ServiceExt;

fn terminal(dir: &std::path::Path) -> std::sync::Arc<Terminal> {
    // A central nobody listens on.
    let ca = test_ca();
    let client = CentralClient::new("https://127.0.0.1:9", &ca, None).unwrap();
    Terminal::new(
        client,
        Reader::Virtual {
            dir: dir.to_path_buf(),
        },
        None,
    )
}

/// Any parseable CA certificate will do: the connection is refused before TLS.
fn test_ca() -> Vec<u8> {
    include_bytes!("ca.pem").to_vec()
}

async fn call(
    t: &std::sync::Arc<Terminal>,
    method: &str,
    uri: &str,
    body: &str,
) -> (StatusCode, String) {
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let resp = kakunin_terminal::http::router(t.clone())
        .oneshot(req)
        .await
        .unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

#[tokio::test]
async fn pages_state_cards_and_an_unreachable_central() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("000001.vcard"), b"x").unwrap();
    std::fs::write(dir.path().join("notes.txt"), b"x").unwrap();
    let t = terminal(dir.path());

    let (s, body) = call(&t, "GET", "/kiosk", "").await;
    assert_eq!(s, StatusCode::OK);
    assert!(body.contains("lang=\"ja\""), "{body}");
    let (s, body) = call(&t, "GET", "/console", "").await;
    assert_eq!(s, StatusCode::OK);
    assert!(body.contains("lang=\"ja\""));
    for asset in ["kiosk.js", "console.js", "style.css"] {
        let (s, _) = call(&t, "GET", &format!("/assets/{asset}"), "").await;
        assert_eq!(s, StatusCode::OK, "{asset}");
    }
    let (s, _) = call(&t, "GET", "/assets/../Cargo.toml", "").await;
    assert_ne!(s, StatusCode::OK);

    let (s, body) = call(&t, "GET", "/kiosk/state", "").await;
    assert_eq!(s, StatusCode::OK);
    let state: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(state["screen"], "waiting_for_card");
    assert_eq!(state["seq"], 0);

    let (s, body) = call(&t, "POST", "/kiosk/action", r#"{"seq":0,"action":"dance"}"#).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(body.contains("invalid_action"));
    let (s, _) = call(&t, "POST", "/kiosk/action", "not json").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    // A stale action is accepted and ignored.
    let (s, _) = call(&t, "POST", "/kiosk/action", r#"{"seq":99,"action":"quit"}"#).await;
    assert_eq!(s, StatusCode::NO_CONTENT);

    let (s, body) = call(&t, "GET", "/console/cards", "").await;
    assert_eq!(s, StatusCode::OK);
    let cards: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(cards["cards"], serde_json::json!(["000001.vcard"]));
    assert_eq!(cards["inserted"], serde_json::Value::Null);
    let (s, body) = call(
        &t,
        "POST",
        "/console/cards/insert",
        r#"{"card":"../etc/passwd"}"#,
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(body.contains("unknown_card"));
    let (s, _) = call(
        &t,
        "POST",
        "/console/cards/insert",
        r#"{"card":"000001.vcard"}"#,
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (_, body) = call(&t, "GET", "/console/cards", "").await;
    assert!(body.contains(r#""inserted":"000001.vcard""#), "{body}");
    let (s, _) = call(&t, "POST", "/console/cards/remove", "").await;
    assert_eq!(s, StatusCode::NO_CONTENT);

    let check = r#"{"insurer_number":"06139992","number":"1","birthdate":"19800101"}"#;
    let (s, body) = call(&t, "POST", "/console/check", check).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
    let e: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(e["code"], "central_unavailable");
    assert!(e["message"].as_str().unwrap().contains("資格確認書"));
    let (s, _) = call(&t, "GET", "/console/receptions", "").await;
    assert_eq!(s, StatusCode::OK);
}

/// A card that is not a My Number card: the kiosk says it cannot read it; taking it off goes
/// back to ①.
#[tokio::test]
async fn a_card_that_is_not_a_my_number_card() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bogus.vcard"), b"not a card").unwrap();
    let t = terminal(dir.path());
    let watcher = tokio::spawn(t.clone().watch());
    let screen = |t: &Terminal| -> String {
        let v: serde_json::Value = serde_json::from_str(&t.kiosk_state()).unwrap();
        v["screen"].as_str().unwrap().to_string()
    };
    let wait = |want: &'static str| {
        let t = t.clone();
        async move {
            for _ in 0..200 {
                if screen(&t) == want {
                    return;
                }
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
            panic!("the kiosk shows {}, not {want}", screen(&t));
        }
    };
    assert!(t.place_virtual(Some("bogus.vcard")));
    wait("card_error").await;
    assert!(t.place_virtual(None));
    wait("waiting_for_card").await;
    watcher.abort();
}
