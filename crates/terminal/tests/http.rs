//! The terminal's pages and JSON without a central: pages served, kiosk state readable, bad
//! actions refused, virtual cards placed and taken off, a batch upload with bad lines refused
//! line by line before anything is sent, and a central that cannot be reached reported to the
//! console as `central_unavailable` (503) with what staff should do.

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

    // The central cannot be reached: the visit is recorded for a later check (要後日確認).
    let check = r#"{"insurer_number":"06139992","number":"1","birthdate":"19800101"}"#;
    let (s, body) = call(&t, "POST", "/console/check", check).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["offline"], true);
    assert_eq!(v["visit"]["status"], "pending");
    let (_, body) = call(&t, "GET", "/console/offline", "").await;
    let state: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(state["central"], "offline");
    assert_eq!(state["counts"]["pending"], 1);
    // A malformed check is refused, not recorded.
    let bad = r#"{"insurer_number":"06139993","number":"1","birthdate":"19800101"}"#;
    let (s, body) = call(&t, "POST", "/console/check", bad).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    let (_, body) = call(&t, "GET", "/console/offline", "").await;
    let state: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(state["counts"]["pending"], 1);
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

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

fn upload(date: &str, csv: &str) -> String {
    serde_json::json!({ "qualification_confirmation_date": date, "csv": csv }).to_string()
}

/// A batch with bad lines is refused whole, each line's problem said in Japanese, and nothing
/// reaches the central: were anything sent, the unreachable central would make it a 503.
#[tokio::test]
async fn a_batch_with_bad_lines_is_refused_before_sending() {
    let dir = tempfile::tempdir().unwrap();
    let t = terminal(dir.path());
    let csv = "保険者番号,記号,番号,枝番,生年月日\n\
               06139992,12,345,01,19800101\n\
               6139992,12,345,01,19800101\n\
               06139992,,,,1980/02/30\n\
               06139992,12,345\n";
    let (s, body) = call(&t, "POST", "/console/batches", &upload("20260401", csv)).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    let e = json(&body);
    assert_eq!(e["code"], "invalid_batch_lines");
    assert!(
        e["message"].as_str().unwrap().contains("3行に誤り"),
        "{body}"
    );
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("何も送信していません"),
        "{body}"
    );
    let errors: Vec<(u64, Option<u64>, String)> = e["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            assert!(!e["message"].as_str().unwrap().is_empty());
            (
                e["line"].as_u64().unwrap(),
                e["column"].as_u64(),
                e["code"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        errors,
        [
            (3, Some(1), "length".to_string()),
            (4, Some(3), "required".to_string()),
            (4, Some(5), "impossible_date".to_string()),
            (5, None, "too_few_columns".to_string()),
        ]
    );
    assert_eq!(e["errors"][0]["label"], "保険者番号");
    assert!(e["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("先頭の0"));

    // Nothing to send, too many lines, a bad 資格確認日, a body that is not an upload.
    let (s, body) = call(&t, "POST", "/console/batches", &upload("20260401", "\n")).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(json(&body)["errors"][0]["code"], "empty");
    let many = "06139992,,1,,19800101\n".repeat(kakunin_api::BATCH_MAX_ITEMS + 1);
    let (s, body) = call(&t, "POST", "/console/batches", &upload("20260401", &many)).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(json(&body)["errors"][0]["code"], "too_many_lines");
    assert!(json(&body)["message"].as_str().unwrap().contains("5,000件"));
    let (s, body) = call(
        &t,
        "POST",
        "/console/batches",
        &upload("20260231", "06139992,,1,,19800101"),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(json(&body)["field"], "qualification_confirmation_date");
    let (s, body) = call(&t, "POST", "/console/batches", r#"{"lines":[]}"#).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(json(&body)["code"], "invalid_json");

    // A 受付番号 is digits only.
    for bad in ["12ab", "1234567890123456789", "%E5%B1%B1"] {
        let (s, body) = call(&t, "GET", &format!("/console/batches/{bad}"), "").await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(json(&body)["code"], "invalid_reception_number");
    }
}

/// A valid upload, the batch list, one batch and a 照会番号 registration all go to the central;
/// when it cannot be reached the console says so like for a check.
#[tokio::test]
async fn batches_and_reference_numbers_with_an_unreachable_central() {
    let dir = tempfile::tempdir().unwrap();
    let t = terminal(dir.path());
    let unavailable = |s: StatusCode, body: &str| {
        assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        let e = json(body);
        assert_eq!(e["code"], "central_unavailable");
        assert!(e["message"].as_str().unwrap().contains("中央サーバ"));
    };
    let csv = "06139992,12,345,01,19800101\n１３８０５７,,１２３,,1980/1/2\n";
    let (s, body) = call(&t, "POST", "/console/batches", &upload("20260401", csv)).await;
    unavailable(s, &body);
    let (s, body) = call(&t, "GET", "/console/batches", "").await;
    unavailable(s, &body);
    let (s, body) = call(&t, "GET", "/console/batches/0000000001", "").await;
    unavailable(s, &body);

    let register = r#"{"insurer_number":"06139992","symbol":"12","number":"345","branch":"01","birthdate":"19800101","reference_number":"0001234"}"#;
    let (s, body) = call(&t, "POST", "/console/reference-numbers", register).await;
    unavailable(s, &body);
    let (s, body) = call(
        &t,
        "POST",
        "/console/reference-numbers",
        r#"{"insurer_number":"06139992","number":"345","birthdate":"19800101"}"#,
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(json(&body)["code"], "invalid_json");
}

/// 災害時モード: the declarations, the search without a card and its medical views relay to the
/// central; with none to reach they say so (503), and a malformed request is refused (400)
/// before anything is sent.
#[tokio::test]
async fn emergency_routes_with_an_unreachable_central() {
    let dir = tempfile::tempdir().unwrap();
    let t = terminal(dir.path());
    let unavailable = |s: StatusCode, body: &str| {
        assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        let e = json(body);
        assert_eq!(e["code"], "central_unavailable");
        assert!(e["message"].as_str().unwrap().contains("中央サーバ"));
    };
    let (s, body) = call(&t, "GET", "/console/emergency", "").await;
    unavailable(s, &body);

    let by_attributes = r#"{"person":{"name":"試験 花子","sex":"2","birthdate":"19800101","address":"東京都"},"consent":"verbal"}"#;
    let by_numbers = r#"{"person":{"insurer_number":"06139992","symbol":"12","number":"345","branch":"01","birthdate":"19800101"},"consent":"life_protection"}"#;
    for req in [by_attributes, by_numbers] {
        let (s, body) = call(&t, "POST", "/console/emergency/check", req).await;
        unavailable(s, &body);
    }
    let (s, body) = call(
        &t,
        "POST",
        "/console/emergency/medical/medications",
        by_attributes,
    )
    .await;
    unavailable(s, &body);

    for uri in [
        "/console/emergency/check",
        "/console/emergency/medical/medications",
    ] {
        for bad in [
            "not json",
            // No consent ground.
            r#"{"person":{"birthdate":"19800101"}}"#,
            // No person.
            r#"{"consent":"verbal"}"#,
            // An unknown field.
            r#"{"person":{"birthdate":"19800101","phone":"0"},"consent":"verbal"}"#,
        ] {
            let (s, body) = call(&t, "POST", uri, bad).await;
            assert_eq!(s, StatusCode::BAD_REQUEST, "{uri} {bad}: {body}");
            assert_eq!(json(&body)["code"], "invalid_json", "{uri} {bad}");
        }
    }
    let (s, body) = call(
        &t,
        "POST",
        "/console/emergency/medical/..%2Fcheck",
        by_attributes,
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(json(&body)["code"], "invalid_category");
}

/// A 照会番号 registered for a person shows on today's receptions of that person (numbers
/// compared as the central compares them), not on anyone else's.
#[tokio::test]
async fn a_registered_reference_number_shows_on_the_persons_receptions() {
    let dir = tempfile::tempdir().unwrap();
    let t = terminal(dir.path());
    let answer = |number: &str, branch: &str| -> kakunin_api::EligibilityCheckResponse {
        serde_json::from_value(serde_json::json!({
            "validity": "1", "validity_label": "有効", "reference_classification": "2",
            "qualification_confirmation_date": "20260401", "process_execution_time": "20260401090000",
            "processing_result": {"status": "1", "code": "ok", "message": "", "detail": ""},
            "results": [{
                "card_classification": "01", "insurer_number": "06139992", "symbol": "１２",
                "number": number, "branch": branch, "relationship": "1", "name": "試験　花子",
                "name_kana": "ｼｹﾝ ﾊﾅｺ", "sex": "2", "birthdate": "19800101",
                "qualification_date": "20200401", "copay_ratio": "030", "insurer_name": "試験健保",
                "limit_consent_flag": "0"
            }]
        }))
        .unwrap()
    };
    t.record("console", "numbers", answer("345", "01"));
    t.record("console", "numbers", answer("346", "01"));
    let person: kakunin_api::ReferenceNumberRequest = serde_json::from_value(serde_json::json!({
        "insurer_number": "06139992", "symbol": "12", "number": "３４５", "branch": "1",
        "birthdate": "19800101", "reference_number": "0001234"
    }))
    .unwrap();
    let mut events = t.subscribe_receptions();
    assert_eq!(t.note_reference_number(&person, "0001234"), 1);
    let pushed = json(&events.try_recv().unwrap());
    assert_eq!(
        pushed["answer"]["results"][0]["reference_number"],
        "0001234"
    );
    let receptions = t.receptions();
    let shown: Vec<Option<&str>> = receptions
        .iter()
        .map(|r| r.answer.results[0].reference_number.as_deref())
        .collect();
    assert_eq!(shown, [None, Some("0001234")]);
    // The same number again changes nothing.
    assert_eq!(t.note_reference_number(&person, "0001234"), 0);
}
