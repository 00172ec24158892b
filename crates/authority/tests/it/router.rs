//! The HTTP routes, in process.

use crate::common::{authority, issue, registered};
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use base64::Engine;
use kakunin_authority::wire::{CaResponse, ErrorBody, MatchResponse, OwnerResponse};
use kakunin_authority::{router, CardStatus, RevocationReason, MAX_MATCH_BATCH};
use serde_json::{json, Value};
use tower::ServiceExt;

struct Answer {
    status: StatusCode,
    content_type: Option<String>,
    body: Vec<u8>,
}

impl Answer {
    fn json<T: serde::de::DeserializeOwned>(&self) -> T {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }
    /// Checks the error shape and returns it.
    fn error(&self, status: StatusCode, code: &str) -> ErrorBody {
        assert_eq!(
            self.status,
            status,
            "{}",
            String::from_utf8_lossy(&self.body)
        );
        let e: ErrorBody = self.json();
        assert_eq!(e.code, code);
        assert!(
            !e.message.is_empty() && !e.message.is_ascii(),
            "message is Japanese: {e:?}"
        );
        assert!(!e.detail.is_empty());
        e
    }
}

async fn call(method: Method, uri: &str, body: Option<Vec<u8>>) -> Answer {
    let app = router(authority().clone(), "central".into());
    let mut req = Request::builder().method(method).uri(uri);
    if body.is_some() {
        req = req.header("content-type", "application/json");
    }
    let resp = app
        .oneshot(req.body(body.map_or_else(Body::empty, Body::from)).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let content_type = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string());
    let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap()
        .to_vec();
    Answer {
        status,
        content_type,
        body,
    }
}

async fn post(uri: &str, body: &Value) -> Answer {
    call(Method::POST, uri, Some(serde_json::to_vec(body).unwrap())).await
}

#[tokio::test]
async fn match_route() {
    let person = registered("40000000001");
    let n = person.individual_number.expose().to_string();
    let base = json!({
        "individual_number": n, "name": "試験 花子", "name_kana": "ｼｹﾝ ﾊﾅｺ",
        "birthdate": "19850417", "sex": "2",
    });
    let mut wrong_sex = base.clone();
    wrong_sex["sex"] = json!("1");
    let mut bad_number = base.clone();
    bad_number["individual_number"] = json!("123456789012"); // wrong check digit
    let mut wrong_address = base.clone();
    wrong_address["address"] = json!("沖縄県");

    let answer = post(
        "/v1/match",
        &json!({ "queries": [base, wrong_sex, bad_number, wrong_address] }),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    let body: Value = answer.json();
    let pseudonym = authority().pseudonym("central", &person.individual_number);
    assert_eq!(
        body,
        json!({ "outcomes": [
            { "matched": true, "pseudonym": pseudonym },
            { "matched": false, "mismatched": ["sex"] },
            { "matched": false, "mismatched": ["individual_number"] },
            { "matched": false, "mismatched": ["address"] },
        ]})
    );
    assert!(
        !String::from_utf8_lossy(&answer.body).contains(&n),
        "no number in the answer"
    );

    let empty: MatchResponse = post("/v1/match", &json!({ "queries": [] })).await.json();
    assert!(empty.outcomes.is_empty());
}

#[tokio::test]
async fn malformed_and_oversize_requests() {
    let ok_query = json!({
        "individual_number": "123456789018", "name": "a", "birthdate": "19850417", "sex": "2",
    });
    // (route, body, status, error code, field at fault)
    type Case = (
        &'static str,
        Vec<u8>,
        StatusCode,
        &'static str,
        Option<&'static str>,
    );
    let cases: Vec<Case> = vec![
        ("/v1/match", b"{not json".to_vec(), StatusCode::BAD_REQUEST, "bad_request", None),
        ("/v1/match", b"{}".to_vec(), StatusCode::BAD_REQUEST, "bad_request", None),
        (
            "/v1/match",
            serde_json::to_vec(&json!({ "queries": [ok_query, {
                "individual_number": "123456789018", "name": "a", "birthdate": "1985-04-17", "sex": "2",
            }]}))
            .unwrap(),
            StatusCode::BAD_REQUEST,
            "bad_request",
            Some("queries[1].birthdate"),
        ),
        (
            "/v1/match",
            serde_json::to_vec(&json!({ "queries": [{
                "individual_number": "123456789018", "name": "a", "birthdate": "19850417", "sex": "男",
            }]}))
            .unwrap(),
            StatusCode::BAD_REQUEST,
            "bad_request",
            Some("queries[0].sex"),
        ),
        (
            "/v1/certificates/owner",
            br#"{"certificate": "%%%"}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            "bad_request",
            Some("certificate"),
        ),
        ("/v1/certificates/owner", b"[]".to_vec(), StatusCode::BAD_REQUEST, "bad_request", None),
        (
            "/v1/cards/status",
            br#"{"serial": "ab", "status": "lost"}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            "bad_request",
            Some("status"),
        ),
        (
            "/v1/cards/status",
            br#"{"serial": "ab", "status": "revoked", "reason": "bored"}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            "bad_request",
            Some("reason"),
        ),
        (
            "/v1/cards/status",
            br#"{"serial": "ab", "status": "suspended", "reason": "superseded"}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            "bad_request",
            Some("reason"),
        ),
    ];
    for (uri, body, status, code, field) in cases {
        let label = String::from_utf8_lossy(&body)
            .chars()
            .take(60)
            .collect::<String>();
        let answer = call(Method::POST, uri, Some(body)).await;
        let e = answer.error(status, code);
        assert_eq!(e.field.as_deref(), field, "{uri} {label}");
    }

    // One query more than allowed.
    let queries: Vec<Value> = (0..=MAX_MATCH_BATCH).map(|_| ok_query.clone()).collect();
    let answer = post("/v1/match", &json!({ "queries": queries })).await;
    let e = answer.error(StatusCode::PAYLOAD_TOO_LARGE, "too_many_queries");
    assert!(e.detail.contains("10000"), "{e:?}");

    // A body beyond the size limit.
    let huge = format!(
        r#"{{"queries": [], "pad": "{}"}}"#,
        "x".repeat(17 * 1024 * 1024)
    );
    let answer = call(Method::POST, "/v1/match", Some(huge.into_bytes())).await;
    answer.error(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
}

#[tokio::test]
async fn owner_crl_ca_and_card_status_routes() {
    let person = registered("40000000002");
    let card = issue(&person.individual_number);
    let b64 = base64::engine::general_purpose::STANDARD.encode(&card.spec.auth_cert_der);

    // Owner of a known and of an unknown certificate.
    let owner: OwnerResponse = post("/v1/certificates/owner", &json!({ "certificate": b64 }))
        .await
        .json();
    let owner = owner.owner.unwrap();
    assert_eq!(
        owner.pseudonym,
        authority().pseudonym("central", &person.individual_number)
    );
    assert_eq!(owner.serial, card.serial);
    assert_eq!(
        kakunin_authority::wire::parse_rfc3339(&owner.not_after),
        Some(card.not_after)
    );
    let ca_b64 =
        base64::engine::general_purpose::STANDARD.encode(authority().ca_certificates().issuing_der);
    let none = post("/v1/certificates/owner", &json!({ "certificate": ca_b64 })).await;
    assert_eq!(none.status, StatusCode::OK);
    assert_eq!(none.json::<Value>(), json!({ "owner": null }));

    // CA certificates as PEM.
    let ca: CaResponse = call(Method::GET, "/v1/ca", None).await.json();
    let certs = authority().ca_certificates();
    assert_eq!(
        (ca.root, ca.issuing),
        (certs.root_pem(), certs.issuing_pem())
    );

    // Card status: suspend → listed, resume, revoke, resume refused; unknown → 404.
    let status = |s: &str, reason: Option<&str>| {
        let mut body = json!({ "serial": card.serial, "status": s });
        if let Some(r) = reason {
            body["reason"] = json!(r);
        }
        body
    };
    let a = post("/v1/cards/status", &status("suspended", None)).await;
    assert_eq!(
        a.status,
        StatusCode::NO_CONTENT,
        "{}",
        String::from_utf8_lossy(&a.body)
    );
    let crl = call(Method::GET, "/v1/crl", None).await;
    assert_eq!(crl.status, StatusCode::OK);
    assert_eq!(crl.content_type.as_deref(), Some("application/pkix-crl"));
    let (_, parsed) = x509_parser::parse_x509_crl(&crl.body).unwrap();
    assert!(parsed
        .iter_revoked_certificates()
        .any(|r| r.serial().to_str_radix(16) == card.serial));
    assert_eq!(
        authority().card(&card.serial).unwrap().unwrap().status,
        CardStatus::Suspended
    );

    for (body, expected) in [
        (status("active", None), StatusCode::NO_CONTENT),
        (
            status("revoked", Some("key_compromise")),
            StatusCode::NO_CONTENT,
        ),
        (status("revoked", None), StatusCode::NO_CONTENT),
    ] {
        assert_eq!(
            post("/v1/cards/status", &body).await.status,
            expected,
            "{body}"
        );
    }
    let record = authority().card(&card.serial).unwrap().unwrap();
    assert_eq!(
        record.revocation_reason,
        Some(RevocationReason::KeyCompromise)
    );
    post("/v1/cards/status", &status("active", None))
        .await
        .error(StatusCode::CONFLICT, "card_revoked");
    post(
        "/v1/cards/status",
        &json!({ "serial": "4000", "status": "suspended" }),
    )
    .await
    .error(StatusCode::NOT_FOUND, "unknown_card");
}
