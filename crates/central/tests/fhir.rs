//! The FHIR R4 face end to end over HTTPS with client certificates: an eligibility check by
//! JP Core identifiers, the JP Core profiles of what comes back, every kind of bad input
//! answered with an `OperationOutcome` and nothing written, and every emitted resource kind
//! validated by an independent implementation (PyPI `fhir.resources`, FHIR 4.0.1).

mod world;
use world::*;

use kakunin_central::fhir::{jp, own};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// An HTTPS client of the central with `identity` (or none).
fn http(w: &World, identity: Option<&[u8]>) -> reqwest::Client {
    let mut b = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&w.ca_pem).unwrap());
    if let Some(id) = identity {
        b = b.identity(reqwest::Identity::from_pem(id).unwrap());
    }
    b.build().unwrap()
}

/// POSTs `body` to `path` under /fhir/R4; returns status, content type and the JSON.
async fn post(
    client: &reqwest::Client,
    w: &World,
    path: &str,
    body: String,
) -> (u16, String, Value) {
    let r = client
        .post(format!("{}/fhir/R4/{path}", w.url))
        .header("content-type", "application/fhir+json")
        .body(body)
        .send()
        .await
        .unwrap();
    answer(r).await
}

async fn answer(r: reqwest::Response) -> (u16, String, Value) {
    let status = r.status().as_u16();
    let kind = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let text = r.text().await.unwrap();
    let json = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    (status, kind, json)
}

/// A check of person 1 (`row(1, "12", …)`: 06139992 / 12 / 100 / 00, born 1980-01-01).
fn eligibility_request(coverage: Value, birth: &str, purpose: &[&str]) -> Value {
    json!({
        "resourceType": "CoverageEligibilityRequest",
        "status": "active",
        "purpose": purpose,
        "patient": {"reference": "#p"},
        "created": "2026-12-03",
        "insurer": {"identifier": {"system": jp::INSURER_NUMBER, "value": KENPO}},
        "servicedDate": "2026-04-01",
        "extension": [{"url": own::LIMIT_CONSENT, "valueBoolean": true}],
        "contained": [
            {"resourceType": "Patient", "id": "p", "birthDate": birth},
            coverage
        ],
        "insurance": [{"coverage": {"reference": "#c"}}]
    })
}

fn by_identifier(value: &str) -> Value {
    json!({
        "resourceType": "Coverage", "id": "c", "status": "active",
        "identifier": [{"system": jp::SUBSCRIBER_ID, "value": value}],
        "beneficiary": {"reference": "#p"},
        "payor": [{"identifier": {"system": jp::INSURER_NUMBER, "value": KENPO}}]
    })
}

fn by_extensions() -> Value {
    json!({
        "resourceType": "Coverage", "id": "c", "status": "active",
        "extension": [
            {"url": jp::SYMBOL, "valueString": "12"},
            {"url": jp::NUMBER, "valueString": "100"},
            {"url": jp::SUB_NUMBER, "valueString": "00"}
        ],
        "beneficiary": {"reference": "#p"},
        "payor": [{"identifier": {"system": jp::INSURER_NUMBER_URI, "value": KENPO}}]
    })
}

async fn seeded() -> World {
    let w = world().await;
    let report = w
        .import(format!(
            "{HEADER}\n{}\n{}\n",
            row(1, "12", None, "20200401", ""),
            row(2, "34", None, "20150401", "20250401")
        ))
        .await;
    assert!(report.accepted, "{report:?}");
    w
}

fn contained<'a>(r: &'a Value, kind: &str) -> Vec<&'a Value> {
    r["contained"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["resourceType"] == kind)
        .collect()
}

/// Our own structural checks of the JP Core parts of a `JP_Coverage` and its `JP_Patient`.
fn assert_jp_core(coverage: &Value, patient: &Value) {
    assert_eq!(coverage["meta"]["profile"][0], jp::COVERAGE);
    assert_eq!(patient["meta"]["profile"][0], jp::PATIENT);
    let ext = |url: &str| {
        coverage["extension"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["url"] == url)
            .map(|e| e["valueString"].as_str().unwrap().to_string())
    };
    let id = coverage["identifier"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["system"] == jp::SUBSCRIBER_ID)
        .expect("a JP_Insurance_SubscriberID identifier")["value"]
        .as_str()
        .unwrap()
        .to_string();
    // insurer:symbol:number:branch, the insurer 8 digits, empty parts kept, trailing colon too.
    let parts: Vec<&str> = id.split(':').collect();
    assert_eq!(parts.len(), 4, "{id}");
    assert_eq!(parts[0].len(), 8);
    assert_eq!(
        Some(parts[1].to_string()).filter(|s| !s.is_empty()),
        ext(jp::SYMBOL)
    );
    assert_eq!(Some(parts[2].to_string()), ext(jp::NUMBER));
    assert_eq!(
        Some(parts[3].to_string()).filter(|s| !s.is_empty()),
        ext(jp::SUB_NUMBER)
    );
    assert_eq!(
        coverage["payor"][0]["identifier"]["system"],
        jp::INSURER_NUMBER
    );
    assert_eq!(coverage["payor"][0]["identifier"]["value"], parts[0]);
    assert_eq!(
        coverage["relationship"]["coding"][0]["system"],
        jp::RELATIONSHIP
    );
    // Names: one 漢字 (IDE) and one カナ (SYL), full-width.
    let names = patient["name"].as_array().unwrap();
    let rep = |n: &Value| n["extension"][0]["valueCode"].as_str().unwrap().to_string();
    assert_eq!(names.iter().map(rep).collect::<Vec<_>>(), ["IDE", "SYL"]);
    for n in names {
        assert_eq!(n["extension"][0]["url"], jp::NAME_REPRESENTATION);
    }
    let kana = names[1]["text"].as_str().unwrap();
    assert!(
        kana.chars()
            .all(|c| ('\u{30A0}'..='\u{30FF}').contains(&c) || c == '\u{3000}'),
        "full-width katakana: {kana}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eligibility_by_jp_core_identifiers() {
    let w = seeded().await;
    let clinic = http(&w, Some(&w.institution));
    let before = w.store.counts().await.unwrap().access_log;
    let (status, kind, r) = post(
        &clinic,
        &w,
        "CoverageEligibilityRequest",
        eligibility_request(
            by_identifier("06139992:12:100:00"),
            "1980-01-01",
            &["validation", "benefits"],
        )
        .to_string(),
    )
    .await;
    assert_eq!(status, 200, "{r}");
    assert!(kind.starts_with("application/fhir+json"), "{kind}");
    assert_eq!(r["resourceType"], "CoverageEligibilityResponse");
    assert_eq!(r["outcome"], "complete");
    assert_eq!(r["disposition"], "有効");
    assert_eq!(r["servicedDate"], "2026-04-01");
    assert_eq!(r["insurance"][0]["inforce"], true);
    assert_eq!(r["insurance"][0]["coverage"]["reference"], "#coverage-1");
    assert_eq!(r["patient"]["reference"], "#patient-1");
    let copay = &r["insurance"][0]["item"][0]["benefit"][0];
    assert_eq!(copay["type"]["coding"][0]["code"], "copay-percent");
    assert_eq!(copay["allowedUnsignedInt"], 30);
    let (coverages, patients) = (contained(&r, "Coverage"), contained(&r, "Patient"));
    assert_eq!((coverages.len(), patients.len()), (1, 1));
    assert_jp_core(coverages[0], patients[0]);
    assert_eq!(coverages[0]["identifier"][0]["value"], "06139992:12:100:00");
    assert_eq!(coverages[0]["status"], "active");
    assert_eq!(
        coverages[0]["costToBeneficiary"][0]["valueQuantity"]["value"],
        30
    );
    assert_eq!(patients[0]["birthDate"], "1980-01-01");
    assert_eq!(patients[0]["gender"], "male");
    assert_eq!(patients[0]["name"][0]["text"], "番号\u{3000}一郎");
    assert_eq!(patients[0]["name"][1]["text"], "バンゴウ\u{3000}イチロウ");
    assert_eq!(
        w.store.counts().await.unwrap().access_log,
        before + 1,
        "every check is logged"
    );
    assert_eq!(w.last_result().await, "validity:1");

    // The same person by the JP Core extensions and the payor's insurer number (JP Core's URI).
    let (status, _, by_ext) = post(
        &clinic,
        &w,
        "CoverageEligibilityRequest",
        eligibility_request(by_extensions(), "1980-01-01", &["validation"]).to_string(),
    )
    .await;
    assert_eq!(status, 200, "{by_ext}");
    assert_eq!(
        contained(&by_ext, "Coverage")[0]["identifier"],
        coverages[0]["identifier"]
    );
    assert!(
        by_ext["insurance"][0].get("item").is_none(),
        "no benefits unless asked"
    );

    // A lost qualification: answered, not in force, cancelled.
    let (status, _, lost) = post(
        &clinic,
        &w,
        "CoverageEligibilityRequest",
        eligibility_request(
            by_identifier("06139992:34:200:00"),
            "1985-02-02",
            &["validation"],
        )
        .to_string(),
    )
    .await;
    assert_eq!(status, 200, "{lost}");
    assert_eq!(lost["insurance"][0]["inforce"], false);
    assert_eq!(contained(&lost, "Coverage")[0]["status"], "cancelled");
    assert_eq!(
        contained(&lost, "Coverage")[0]["period"]["end"],
        "2025-03-31"
    );

    // Nobody with these numbers and birth date: complete, with the 資格有効性 4 as the error.
    let (status, _, none) = post(
        &clinic,
        &w,
        "CoverageEligibilityRequest",
        eligibility_request(
            by_identifier("06139992:12:100:00"),
            "1999-09-09",
            &["validation"],
        )
        .to_string(),
    )
    .await;
    assert_eq!(status, 200, "{none}");
    assert_eq!(none["error"][0]["code"]["coding"][0]["code"], "4");
    assert!(none.get("insurance").is_none());
    assert_eq!(
        contained(&none, "Coverage").len(),
        0,
        "nothing about anyone else"
    );

    // The Coverage of the same patient by search (a check by numbers, so logged as one).
    let before = w.store.counts().await.unwrap().access_log;
    let r2 = clinic
        .post(format!("{}/fhir/R4/Coverage/_search", w.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "identifier={}%7C06139992%3A12%3A100%3A00&birthdate=1980-01-01",
            jp::SUBSCRIBER_ID.replace(':', "%3A").replace('/', "%2F")
        ))
        .send()
        .await
        .unwrap();
    let (status, _, found) = answer(r2).await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(found["total"], 1);
    assert_eq!(found["entry"][0]["resource"]["resourceType"], "Coverage");
    assert_eq!(
        found["entry"][0]["resource"]["beneficiary"]["reference"],
        found["entry"][1]["fullUrl"]
    );
    assert_jp_core(
        &found["entry"][0]["resource"],
        &found["entry"][1]["resource"],
    );
    assert_eq!(w.store.counts().await.unwrap().access_log, before + 1);

    validate_with_fhir_resources(&[
        ("Coverage-searchset", found),
        ("CoverageEligibilityResponse", r.clone()),
        ("CoverageEligibilityResponse-lost", lost),
        ("CoverageEligibilityResponse-none", none),
        (
            "CoverageEligibilityRequest",
            eligibility_request(by_extensions(), "1980-01-01", &["validation"]),
        ),
        ("Coverage", coverages[0].clone()),
        ("Patient", patients[0].clone()),
    ])
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_an_operation_outcome_and_changes_nothing() {
    let w = seeded().await;
    let clinic = http(&w, Some(&w.institution));
    let before = w.store.counts().await.unwrap();
    let good = eligibility_request(
        by_identifier("06139992:12:100:00"),
        "1980-01-01",
        &["validation"],
    );
    let with = |pointer: &str, v: Value| {
        let mut r = good.clone();
        *r.pointer_mut(pointer).unwrap() = v;
        r.to_string()
    };
    let mut outcomes = Vec::new();
    for (what, body, status, issue, code) in [
        ("not JSON", "{".to_string(), 400, "invalid", "invalid_json"),
        (
            "wrong resourceType",
            with("/resourceType", json!("Coverage")),
            400,
            "invalid",
            "wrong_resource_type",
        ),
        (
            "unknown element type",
            with("/purpose", json!("validation")),
            400,
            "invalid",
            "invalid_json",
        ),
        (
            "unsupported purpose",
            with("/purpose", json!(["discovery"])),
            400,
            "not-supported",
            "unsupported_purpose",
        ),
        (
            "no birth date",
            with("/contained/0/birthDate", json!(null)),
            400,
            "invalid",
            "birthdate_required",
        ),
        (
            "bad date",
            with("/contained/0/birthDate", json!("1980-13-01")),
            400,
            "invalid",
            "invalid_date",
        ),
        (
            "patient not contained",
            with("/patient/reference", json!("Patient/1")),
            400,
            "invalid",
            "patient_required",
        ),
        (
            "three-part identifier",
            with("/contained/1/identifier/0/value", json!("06139992:12:100")),
            400,
            "invalid",
            "invalid_subscriber_id",
        ),
        (
            "bad insurer check digit",
            with(
                "/contained/1/identifier/0/value",
                json!("06139993:12:100:00"),
            ),
            400,
            "invalid",
            "invalid_insurer_number",
        ),
        (
            "no coverage",
            with("/insurance", json!([])),
            400,
            "invalid",
            "one_insurance_required",
        ),
    ] {
        let (got, kind, r) = post(&clinic, &w, "CoverageEligibilityRequest", body).await;
        assert_eq!(got, status, "{what}: {r}");
        assert!(kind.starts_with("application/fhir+json"), "{what}: {kind}");
        assert_eq!(r["resourceType"], "OperationOutcome", "{what}: {r}");
        assert_eq!(r["issue"][0]["severity"], "error");
        assert_eq!(r["issue"][0]["code"], issue, "{what}: {r}");
        assert_eq!(
            r["issue"][0]["details"]["coding"][0]["system"],
            own::ERROR_CODE
        );
        assert_eq!(
            r["issue"][0]["details"]["coding"][0]["code"], code,
            "{what}: {r}"
        );
        let text = r["issue"][0]["details"]["text"].as_str().unwrap();
        assert!(!text.is_ascii(), "{what}: the message is Japanese: {text}");
        outcomes.push((what, r));
    }
    // Without a certificate, with the wrong role, on an unknown path: the same form.
    let (status, _, r) = post(
        &http(&w, None),
        &w,
        "CoverageEligibilityRequest",
        good.to_string(),
    )
    .await;
    assert_eq!(
        (status, r["issue"][0]["code"].as_str()),
        (401, Some("login")),
        "{r}"
    );
    let (status, _, r) = post(
        &http(&w, Some(&w.insurer)),
        &w,
        "CoverageEligibilityRequest",
        good.to_string(),
    )
    .await;
    assert_eq!(
        (status, r["issue"][0]["code"].as_str()),
        (403, Some("forbidden")),
        "{r}"
    );
    outcomes.push(("wrong role", r));
    let (status, _, r) = post(&clinic, &w, "Claim", "{}".into()).await;
    assert_eq!(
        (status, r["issue"][0]["code"].as_str()),
        (404, Some("not-found")),
        "{r}"
    );
    assert_eq!(w.store.counts().await.unwrap(), before, "nothing written");
    validate_with_fhir_resources(&outcomes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capability_statement_is_public_and_valid() {
    let w = world().await;
    let r = http(&w, None)
        .get(format!("{}/fhir/R4/metadata", w.url))
        .send()
        .await
        .unwrap();
    let (status, kind, r) = answer(r).await;
    assert_eq!(status, 200, "{r}");
    assert!(kind.starts_with("application/fhir+json"));
    assert_eq!(r["resourceType"], "CapabilityStatement");
    assert_eq!(r["fhirVersion"], "4.0.1");
    let kinds: Vec<&str> = r["rest"][0]["resource"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["type"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"CoverageEligibilityRequest"), "{kinds:?}");
    validate_with_fhir_resources(&[("CapabilityStatement", r)]).await;
}

/// The Python of the venv with fhir.resources 5.1.1 that `.ci/run` makes (or
/// `KAKUNIN_FHIR_PYTHON`).
fn fhir_python() -> Option<PathBuf> {
    let candidates = std::env::var_os("KAKUNIN_FHIR_PYTHON")
        .map(PathBuf::from)
        .into_iter()
        .chain([Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/fhir-venv/bin/python")]);
    for python in candidates {
        let ok = std::process::Command::new(&python)
            .args([
                "-c",
                "import fhir.resources; assert fhir.resources.__fhir_version__ == '4.0.1'",
            ])
            .output()
            .is_ok_and(|o| o.status.success());
        if ok {
            return Some(python);
        }
    }
    None
}

/// Writes each resource to a file and has fhir.resources read them all back.
async fn validate_with_fhir_resources(resources: &[(&str, Value)]) {
    let Some(python) = fhir_python() else {
        kakunin_testkit::external_missing(
            "the PyPI package fhir.resources 5.1.1 (FHIR 4.0.1) in target/fhir-venv",
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for (i, (name, r)) in resources.iter().enumerate() {
        let path = dir
            .path()
            .join(format!("{i:02}-{}.json", name.replace(' ', "-")));
        std::fs::write(&path, serde_json::to_vec_pretty(r).unwrap()).unwrap();
        files.push(path);
    }
    let out = std::process::Command::new(python)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fhir/validate.py"))
        .args(&files)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "fhir.resources refused what we emit:\n{report}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        report.lines().filter(|l| l.starts_with("ok ")).count(),
        resources.len(),
        "{report}"
    );
}

/// Person 1 linked through the roster (06139992 / 10 / 100 / 00), with a card registered for use.
async fn card_holder() -> (World, PathBuf) {
    let w = world().await;
    let report = w
        .import(format!(
            "{HEADER}\n{}\n",
            row(1, "10", Some(1), "20200401", "")
        ))
        .await;
    assert_eq!(report.linked, 1, "{report:?}");
    let card = w.issue_card(1, None);
    w.register(&card).await;
    (w, card)
}

/// Person 1 with five years of receipts and checkups (through the real imports), a registered
/// card, checked by the clinic today and consenting at the reader to drugs, treatments and
/// checkups (not surgeries).
async fn consented() -> (World, PathBuf) {
    let (w, card) = card_holder().await;
    let query = w.store.sample_queries(1).await.unwrap().remove(0);
    let q = w.store.find_qualifications(&query).await.unwrap().remove(0);
    let today = kakunin_central::service::now().jst_date();
    let seeded =
        kakunin_central::seed::seed_medical(w.store.clone(), &[q.qualification], 0, today, 7)
            .await
            .unwrap();
    assert!(seeded.matched > 0 && seeded.checkups > 0, "{seeded:?}");
    let answer = w.check(&card).await.unwrap();
    let next = answer.next_nonce.unwrap().nonce;
    let (cert, sig) = sign(&card, "1234", &next).unwrap();
    w.client(&w.institution)
        .card_consents(&kakunin_api::CardConsentRequest {
            certificate: b64(&cert),
            nonce: next,
            proof: kakunin_api::CardProof::Pin {
                signature: b64(&sig),
            },
            consents: vec!["medications".into(), "treatments".into(), "checkups".into()],
        })
        .await
        .unwrap();
    (w, card)
}

fn search_form(extra: &str) -> String {
    let card = format!("{}|06139992:10:100:00", jp::SUBSCRIBER_ID)
        .replace(':', "%3A")
        .replace('/', "%2F")
        .replace('|', "%7C");
    format!("coverage-identifier={card}&birthdate=1980-01-01{extra}")
}

async fn search(client: &reqwest::Client, w: &World, kind: &str, form: String) -> (u16, Value) {
    let r = client
        .post(format!("{}/fhir/R4/{kind}/_search", w.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .unwrap();
    let (status, kind_header, json) = answer(r).await;
    assert!(
        kind_header.starts_with("application/fhir+json"),
        "{kind_header}"
    );
    (status, json)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consented_medical_information_as_fhir() {
    let (w, _) = consented().await;
    let clinic = http(&w, Some(&w.institution));
    let logged = || async { w.store.counts().await.unwrap().access_log };
    let mut emitted = Vec::new();
    for (kind, extra) in [
        ("MedicationDispense", ""),
        ("Procedure", "&category=treatment"),
        ("Observation", "&_format=json"),
    ] {
        let before = logged().await;
        let (status, bundle) = search(&clinic, &w, kind, search_form(extra)).await;
        assert_eq!(status, 200, "{kind}: {bundle}");
        assert_eq!(logged().await, before + 1, "{kind}: every search is logged");
        assert_eq!(bundle["resourceType"], "Bundle");
        assert_eq!(bundle["type"], "searchset");
        let entries = bundle["entry"].as_array().unwrap();
        let matches: Vec<&Value> = entries
            .iter()
            .filter(|e| e["search"]["mode"] == "match")
            .collect();
        assert!(!matches.is_empty(), "{kind}: {bundle}");
        assert_eq!(bundle["total"], matches.len());
        let patient = entries
            .iter()
            .find(|e| e["search"]["mode"] == "include")
            .unwrap();
        assert_eq!(patient["resource"]["resourceType"], "Patient");
        assert_eq!(patient["resource"]["birthDate"], "1980-01-01");
        for m in &matches {
            assert_eq!(m["resource"]["resourceType"], kind);
            assert_eq!(m["resource"]["subject"]["reference"], patient["fullUrl"]);
        }
        if kind == "Observation" {
            let coded = matches.iter().all(|m| {
                m["resource"]["code"]["coding"][0]["system"]
                    == kakunin_central::fhir::clinical::CHECKUP_ITEM
            });
            assert!(coded, "JLAC10 item codes");
            assert!(
                matches
                    .iter()
                    .any(|m| m["resource"].get("valueQuantity").is_some()),
                "measured values carry their unit"
            );
        }
        if kind == "MedicationDispense" {
            assert!(
                matches
                    .iter()
                    .any(|m| m["resource"]["contained"][0]["resourceType"] == "MedicationRequest"),
                "a 調剤 record carries its prescription"
            );
        }
        emitted.push((kind, bundle));
    }

    // Beyond consent: refused, logged, and nothing about the records leaks.
    let before = logged().await;
    let (status, r) = search(&clinic, &w, "Procedure", search_form("&category=surgery")).await;
    assert_eq!(status, 403, "{r}");
    assert_eq!(r["resourceType"], "OperationOutcome");
    assert_eq!(r["issue"][0]["code"], "forbidden");
    assert_eq!(
        r["issue"][0]["details"]["coding"][0]["code"],
        "category_not_consented"
    );
    assert!(r.get("total").is_none() && r.get("entry").is_none());
    assert_eq!(logged().await, before + 1, "a refusal is logged too");
    emitted.push(("refusal", r));
    // Another clinic (no check, no consent there): refused the same way.
    let (status, r) = search(
        &http(&w, Some(&w.other_institution)),
        &w,
        "MedicationDispense",
        search_form(""),
    )
    .await;
    assert_eq!(status, 403, "{r}");

    // Bad searches: refused before anyone's data is looked at.
    let before = logged().await;
    for (form, status, issue, code) in [
        (
            search_form("&_count=10"),
            400,
            "not-supported",
            "unsupported_parameter",
        ),
        (
            search_form("&date=gt2024-01-01"),
            400,
            "not-supported",
            "unsupported_date_prefix",
        ),
        (
            search_form("&category=surgery"),
            400,
            "not-supported",
            "unsupported_parameter",
        ),
        (
            "birthdate=1980-01-01".to_string(),
            400,
            "invalid",
            "coverage_numbers_required",
        ),
        (
            search_form("").replace("&birthdate=1980-01-01", ""),
            400,
            "invalid",
            "birthdate_required",
        ),
        (
            search_form("").replace("1980-01-01", "1980-02-30"),
            400,
            "invalid",
            "invalid_date",
        ),
        (
            "coverage-identifier=%ZZ".to_string(),
            400,
            "invalid",
            "invalid_form",
        ),
    ] {
        let kind = if form.contains("surgery") {
            "MedicationDispense"
        } else {
            "Observation"
        };
        let (got, r) = search(&clinic, &w, kind, form.clone()).await;
        assert_eq!(got, status, "{form}: {r}");
        assert_eq!(r["issue"][0]["code"], issue, "{form}: {r}");
        assert_eq!(
            r["issue"][0]["details"]["coding"][0]["code"], code,
            "{form}: {r}"
        );
    }
    assert_eq!(logged().await, before, "bad searches write nothing");
    validate_with_fhir_resources(&emitted).await;
}

/// Logs the card holder into the portal; returns the session cookie.
async fn portal_login(w: &World, card: &Path) -> String {
    let browser = http(w, None);
    let nonce: Value = browser
        .post(format!("{}/portal/api/login/nonce", w.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let nonce = nonce["nonce"].as_str().unwrap().to_string();
    let (cert, sig) = sign_message(card, "1234", &kakunin_api::portal_challenge(&nonce)).unwrap();
    let r = browser
        .post(format!("{}/portal/api/login", w.url))
        .json(&json!({"certificate": b64(&cert), "nonce": nonce, "signature": b64(&sig)}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_portal_exports_everything_as_a_fhir_bundle() {
    let (w, card) = consented().await;
    let clinic = http(&w, Some(&w.institution));
    let (status, _) = search(&clinic, &w, "MedicationDispense", search_form("")).await;
    assert_eq!(status, 200);
    let (status, _) = search(&clinic, &w, "Procedure", search_form("&category=surgery")).await;
    assert_eq!(status, 403);
    let url = format!("{}/portal/api/fhir/Patient/$everything", w.url);

    let (status, _, r) = answer(http(&w, None).get(&url).send().await.unwrap()).await;
    assert_eq!(
        (status, r["issue"][0]["code"].as_str()),
        (401, Some("login")),
        "{r}"
    );
    assert_eq!(
        r["issue"][0]["details"]["coding"][0]["code"],
        "session_required"
    );

    let cookie = portal_login(&w, &card).await;
    let resp = http(&w, None)
        .get(&url)
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let (status, kind, bundle) = answer(resp).await;
    assert_eq!(status, 200, "{bundle}");
    assert!(kind.starts_with("application/fhir+json"));
    assert_eq!(bundle["resourceType"], "Bundle");
    let entries = bundle["entry"].as_array().unwrap();
    let of = |kind: &str| -> Vec<&Value> {
        entries
            .iter()
            .map(|e| &e["resource"])
            .filter(|r| r["resourceType"] == kind)
            .collect()
    };
    let patient_url = entries[0]["fullUrl"].as_str().unwrap();
    assert_eq!(entries[0]["resource"]["resourceType"], "Patient");
    assert_jp_core(of("Coverage")[0], &entries[0]["resource"]);
    for kind in ["MedicationDispense", "Procedure", "Observation"] {
        assert!(!of(kind).is_empty(), "{kind}");
        assert!(
            of(kind)
                .iter()
                .all(|r| r["subject"]["reference"] == patient_url),
            "{kind}"
        );
    }
    let consents = of("Consent");
    let mut classes: Vec<&str> = consents
        .iter()
        .map(|c| c["provision"]["class"][0]["code"].as_str().unwrap())
        .collect();
    classes.sort();
    assert_eq!(classes, ["checkups", "medications", "treatments"]);
    assert!(consents
        .iter()
        .all(|c| c["status"] == "active" && c["patient"]["reference"] == patient_url));
    // Every access is there: the card check, the consent, the search and the refused search.
    let audits = of("AuditEvent");
    let logged = w.store.recent_access(1_000).await.unwrap().len();
    assert_eq!(audits.len(), logged, "one AuditEvent per access-log entry");
    assert!(
        audits.iter().any(|a| a["outcome"] == "4"),
        "the refusal is there"
    );
    assert!(audits
        .iter()
        .all(|a| a["entity"][0]["what"]["reference"] == patient_url
            && a["agent"][0]["requestor"] == true));
    assert!(
        !bundle.to_string().contains(number(1).expose()),
        "the 個人番号 is never exported"
    );
    validate_with_fhir_resources(&[("everything", bundle)]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eligibility_by_my_number_card() {
    let (w, card) = card_holder().await;
    let clinic = http(&w, Some(&w.institution));
    let request = |certificate: &[u8], nonce: &str, signature: &[u8], parts: &[&str]| {
        let all = [
            json!({"url": "certificate", "valueBase64Binary": b64(certificate)}),
            json!({"url": "nonce", "valueString": nonce}),
            json!({"url": "method", "valueCode": "pin"}),
            json!({"url": "signature", "valueBase64Binary": b64(signature)}),
        ];
        let keep: Vec<Value> = all
            .into_iter()
            .filter(|p| parts.contains(&p["url"].as_str().unwrap()))
            .collect();
        json!({
            "resourceType": "CoverageEligibilityRequest",
            "status": "active",
            "purpose": ["validation"],
            "patient": {"reference": "#p"},
            "created": "2026-12-03",
            "insurer": {"display": "カードの持ち主の保険者"},
            "contained": [{"resourceType": "Patient", "id": "p"}],
            "extension": [{"url": own::CARD_PROOF, "extension": keep}]
        })
    };
    let all = ["certificate", "nonce", "method", "signature"];
    let nonce = w.client(&w.institution).card_nonce().await.unwrap().nonce;
    let (cert, sig) = sign(&card, "1234", &nonce).unwrap();
    let body = request(&cert, &nonce, &sig, &all);
    let before = w.store.counts().await.unwrap().access_log;
    let (status, _, r) = post(&clinic, &w, "CoverageEligibilityRequest", body.to_string()).await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["outcome"], "complete");
    assert_eq!(r["insurance"][0]["inforce"], true);
    let coverage = contained(&r, "Coverage")[0];
    assert_eq!(coverage["identifier"][0]["value"], "06139992:10:100:00");
    assert_eq!(r["insurer"]["identifier"]["value"], KENPO);
    assert_eq!(w.last_result().await, "validity:1");
    assert_eq!(w.store.counts().await.unwrap().access_log, before + 1);

    // The nonce is spent: the same proof again is refused, as on /v1/card-checks.
    let (status, _, again) =
        post(&clinic, &w, "CoverageEligibilityRequest", body.to_string()).await;
    assert_eq!(status, 409, "{again}");
    assert_eq!(again["issue"][0]["code"], "conflict");
    assert_eq!(
        again["issue"][0]["details"]["coding"][0]["code"],
        "nonce_used"
    );
    // A proof without its signature is refused before anything is looked at.
    let nonce = w.client(&w.institution).card_nonce().await.unwrap().nonce;
    let (status, _, incomplete) = post(
        &clinic,
        &w,
        "CoverageEligibilityRequest",
        request(&cert, &nonce, &sig, &all[..3]).to_string(),
    )
    .await;
    assert_eq!(status, 400, "{incomplete}");
    assert_eq!(
        incomplete["issue"][0]["details"]["coding"][0]["code"],
        "card_proof_incomplete"
    );
    validate_with_fhir_resources(&[
        ("CoverageEligibilityRequest-card", body),
        ("CoverageEligibilityResponse-card", r),
        ("refused", again),
    ])
    .await;
}
