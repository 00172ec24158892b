//! The committed OpenAPI document matches the code. Regenerate with
//! `KAKUNIN_BLESS=1 cargo test -p kakunin-central --test openapi` (or `kakunin openapi`).

#[test]
fn committed_openapi_matches_code() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/openapi.json");
    let generated = kakunin_central::http::openapi_json();
    if std::env::var_os("KAKUNIN_BLESS").is_some() {
        std::fs::write(path, &generated).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/openapi.json is stale: run `KAKUNIN_BLESS=1 cargo test -p kakunin-central --test openapi`"
    );
    // No path carries a personal identifier: the only path parameters are the information
    // category (a fixed word), a batch's 受付番号, a declaration's id (both issued by the
    // central) and a client certificate's serial (issued by our CA to an institution, insurer,
    // terminal or operator, never to a patient).
    let doc: serde_json::Value = serde_json::from_str(&generated).unwrap();
    for path in doc["paths"].as_object().unwrap().keys() {
        let without = path
            .replace("{category}", "")
            .replace("{reception_number}", "")
            .replace("{id}", "")
            .replace("{serial}", "");
        assert!(!without.contains('{'), "path parameter in {path}");
    }
}
