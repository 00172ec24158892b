//! The レセコン file interface end to end, through the real binary: `kakunin seed` (people,
//! cards with 5 years of history), `kakunin central`, `kakunin terminal --files DIR`, and the
//! model レセコン (`files::client::Recekon`) using only the folders. Every family in both
//! encodings, checked against the central's own JSON answers; 一括照会 from upload to results;
//! a 照会番号 registered and then returned by a check; a kiosk card check (driven over the
//! kiosk's HTTP JSON) writing `face/` files, then medications shown only under consent; the bad
//! inputs (malformed XML, unknown family, wrong encoding, missing element, over-long field,
//! another institution, a file that vanishes, a reused name, 2,000 files at once), with the
//! watcher still answering after; and the central stopped: a check answered 要後日確認 at once,
//! then its later confirmation in `face/` once the central is back.

use kakunin_formats::oqs::{write, CharacterCode, Element, Family};
use kakunin_store::CardQuery;
use kakunin_terminal::files::client::{Recekon, Reply};
use kakunin_testkit::process::{free_port, Proc};
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_kakunin");
const WAIT: Duration = Duration::from_secs(30);

fn ok(args: &[&str]) {
    let out = Command::new(BIN)
        .args(args)
        .env_remove("KAKUNIN_DATA")
        .output()
        .expect("run kakunin");
    assert!(
        out.status.success(),
        "kakunin {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Starts a process and reads its stdout until a line contains `until`; returns the lines.
fn start(args: &[&str], until: &str) -> (Proc, Vec<String>) {
    let mut child = Command::new(BIN)
        .args(args)
        .env_remove("KAKUNIN_DATA")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start kakunin");
    let out = child.stdout.take().unwrap();
    let mut lines = Vec::new();
    let mut reader = BufReader::new(out);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap() == 0 {
            panic!("kakunin {args:?} stopped: {lines:?}");
        }
        let done = line.contains(until);
        lines.push(line.trim_end().to_string());
        if done {
            break;
        }
    }
    // Keep draining so the process never blocks on a full pipe.
    std::thread::spawn(move || {
        let mut sink = Vec::new();
        let _ = reader.read_to_end(&mut sink);
    });
    (Proc(child), lines)
}

fn central(data: &Path, port: u16) -> Proc {
    let listen = format!("127.0.0.1:{port}");
    start(
        &[
            "central",
            "--data",
            data.to_str().unwrap(),
            "--listen",
            &listen,
            // 2,000 requests dropped at once from one clinic is a load test, not a clinic's
            // morning: the per-institution limit is lifted for it.
            "--checks-per-second",
            "0",
        ],
        "listening",
    )
    .0
}

/// A minimal HTTP/1.1 exchange with the terminal (loopback, `Connection: close`).
fn http(base: &str, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
    let addr = base.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    let body = body.unwrap_or("");
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = out
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    (status, body)
}

fn kiosk(base: &str) -> (String, u64) {
    let (_, body) = http(base, "GET", "/kiosk/state", None);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
    (
        v["screen"].as_str().unwrap_or_default().to_string(),
        v["seq"].as_u64().unwrap_or_default(),
    )
}

fn wait_screen(base: &str, screens: &[&str]) -> (String, u64) {
    let started = Instant::now();
    loop {
        let (screen, seq) = kiosk(base);
        if screens.contains(&screen.as_str()) {
            return (screen, seq);
        }
        assert!(
            started.elapsed() < WAIT,
            "kiosk shows {screen}, not {screens:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn act(base: &str, body: serde_json::Value) {
    let (status, _) = http(base, "POST", "/kiosk/action", Some(&body.to_string()));
    assert_eq!(status, 204, "{body}");
}

/// A patient at the kiosk: the card, the PIN, yes to every consent offered. Returns whether
/// the 健診 question was asked (40 or older).
fn kiosk_check(base: &str, card: &str) -> bool {
    let (status, _) = http(
        base,
        "POST",
        "/console/cards/insert",
        Some(&serde_json::json!({ "card": card }).to_string()),
    );
    assert_eq!(status, 204);
    let (_, seq) = wait_screen(base, &["choose_method"]);
    act(
        base,
        serde_json::json!({"seq": seq, "action": "choose", "method": "pin"}),
    );
    wait_screen(base, &["pin"]);
    for d in [1, 2, 3, 4] {
        let (_, seq) = kiosk(base);
        act(
            base,
            serde_json::json!({"seq": seq, "action": "digit", "digit": d}),
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let (_, seq) = wait_screen(base, &["consent_medical"]);
    act(
        base,
        serde_json::json!({"seq": seq, "action": "answer", "yes": true}),
    );
    let (screen, seq) = wait_screen(base, &["consent_checkups", "done"]);
    let asked = screen == "consent_checkups";
    if asked {
        act(
            base,
            serde_json::json!({"seq": seq, "action": "answer", "yes": true}),
        );
        wait_screen(base, &["done"]);
    }
    http(base, "POST", "/console/cards/remove", None);
    wait_screen(base, &["waiting_for_card"]);
    asked
}

fn header(institution: &str, identifier: &str, date: &str) -> Element {
    Element::new("MessageHeader")
        .child(
            "QualificationConfirmationDate",
            (!date.is_empty()).then_some(date),
        )
        .child("MedicalInstitutionCode", institution)
        .child("ArbitraryFileIdentifier", identifier)
}

fn search(q: &CardQuery, identifier: &str) -> Element {
    Element::new("QualificationConfirmSearchInfo")
        .child("InsurerNumber", q.insurer.as_str())
        .child(
            "InsuredCardSymbol",
            (!q.symbol_key.is_empty()).then_some(q.symbol_key.as_str()),
        )
        .child("InsuredIdentificationNumber", &q.number_key)
        .child("InsuredBranchNumber", q.branch.as_ref().map(|b| b.as_str()))
        .child("Birthdate", q.birthdate.compact())
        .child("ArbitraryIdentifier", identifier)
}

fn message(header: Element, body: Element) -> Element {
    Element::new("XmlMsg").push(header).push(body)
}

fn json_request(q: &CardQuery) -> kakunin_api::EligibilityCheckRequest {
    kakunin_api::EligibilityCheckRequest {
        insurer_number: q.insurer.as_str().into(),
        symbol: (!q.symbol_key.is_empty()).then(|| q.symbol_key.clone()),
        number: q.number_key.clone(),
        branch: q.branch.map(|b| b.as_str().into()),
        birthdate: q.birthdate.compact(),
        qualification_confirmation_date: None,
        limit_application_certificate_related_cons_flg: None,
    }
}

fn wait_for(client: &Recekon, family: Family, message: &Element, code: CharacterCode) -> Reply {
    client.call(family, message, code, WAIT).unwrap()
}

#[test]
fn file_interface_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let d = data.to_str().unwrap();
    let institution = kakunin_domain::check_digit::complete("131000001").unwrap();
    ok(&["ca", "init", "--data", d]);
    ok(&[
        "seed",
        "--data",
        d,
        "--people",
        "300",
        "--cards",
        "3",
        "--medical",
        "30",
    ]);
    let identity = dir.path().join("institution.pem");
    let device = dir.path().join("terminal.pem");
    for (role, out) in [("institution", &identity), ("terminal", &device)] {
        ok(&[
            "ca",
            "issue",
            "--data",
            d,
            "--role",
            role,
            "--id",
            &institution,
            "--out",
            out.to_str().unwrap(),
        ]);
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    let samples: Vec<CardQuery> = rt.block_on(async {
        let store = kakunin_central::open_store(&data, &Default::default())
            .await
            .unwrap();
        store.sample_queries(60).await.unwrap()
    });
    assert!(samples.len() >= 40);

    let port = free_port();
    let url = format!("https://127.0.0.1:{port}");
    let mut central_proc = Some(central(&data, port));
    let oqs = dir.path().join("oqs");
    let (_terminal, lines) = start(
        &[
            "terminal",
            "--data",
            data.join("terminal").to_str().unwrap(),
            "--central",
            &url,
            "--ca",
            data.join("ca.pem").to_str().unwrap(),
            "--identity",
            identity.to_str().unwrap(),
            "--device-key",
            device.to_str().unwrap(),
            "--reader",
            &format!("virtual:{}", data.join("cards").display()),
            "--listen",
            "127.0.0.1:0",
            "--offline-after",
            "2",
            "--files",
            oqs.to_str().unwrap(),
        ],
        "レセコン連携フォルダ",
    );
    let kiosk_url = lines
        .iter()
        .find_map(|l| {
            l.find("http://")
                .map(|i| l[i..].trim_end_matches("/kiosk").to_string())
        })
        .expect("the terminal printed its address");
    for sub in ["req", "res", "face"] {
        assert!(oqs.join(sub).is_dir(), "{sub}/ created");
    }
    let client = Recekon::new(&oqs).unwrap();
    let api =
        kakunin_api::client::CentralClient::from_files(&url, &data.join("ca.pem"), Some(&identity))
            .unwrap();
    let today = kakunin_domain::Timestamp::from_unix_millis(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64,
    )
    .jst_date()
    .compact();
    let enc = |i: usize| {
        if i % 2 == 0 {
            CharacterCode::Utf8
        } else {
            CharacterCode::ShiftJis
        }
    };

    // Single checks in both encodings, as the central answers them.
    for (i, q) in samples.iter().take(12).enumerate() {
        let reply = wait_for(
            &client,
            Family::Eligibility,
            &message(
                header(&institution, &format!("F{i}"), ""),
                Element::new("MessageBody").push(search(q, &format!("患者{i}"))),
            ),
            enc(i),
        );
        assert_eq!(reply.doc.character_code(), enc(i));
        assert_eq!(
            reply.value("MessageHeader/CharacterCodeIdentifier"),
            Some(enc(i).identifier())
        );
        assert_eq!(reply.segment(), Some("1"));
        assert_eq!(
            reply.value("MessageHeader/ArbitraryFileIdentifier"),
            Some(format!("F{i}").as_str())
        );
        assert_eq!(
            reply.value("MessageHeader/ReferenceClassification"),
            Some("2")
        );
        let json = rt.block_on(api.check(&json_request(q))).unwrap();
        assert_eq!(
            reply.value("MessageBody/QualificationValidity"),
            Some(json.validity.as_str())
        );
        assert_eq!(reply.value("MessageBody/ProcessingResultStatus"), Some("1"));
        assert_eq!(
            reply.value("MessageBody/QualificationConfirmSearchInfo/ArbitraryIdentifier"),
            Some(format!("患者{i}").as_str())
        );
        let results = reply.all("MessageBody/ResultList/ResultOfQualificationConfirmation");
        assert_eq!(results.len(), json.results.len());
        for (x, j) in results.iter().zip(&json.results) {
            assert_eq!(x.value("Name"), Some(j.name.as_str()));
            assert_eq!(x.value("NameKana"), Some(j.name_kana.as_str()));
            assert_eq!(x.value("InsurerName"), Some(j.insurer_name.as_str()));
            assert_eq!(
                x.value("InsuredPartialContributionRatio"),
                Some(j.copay_ratio.as_str())
            );
            assert_eq!(x.value("Birthdate"), Some(j.birthdate.as_str()));
            assert_eq!(
                x.value("QualificationDate"),
                Some(j.qualification_date.as_str())
            );
            let written = x.find("InsurerNumber").unwrap().text();
            assert_eq!(written.trim(), j.insurer_number);
            assert_eq!(written.len(), 8, "6-digit numbers are space-padded");
        }
    }
    // A 6-digit 国保 number sent zero-padded comes back space-padded.
    if let Some(q) = samples.iter().find(|q| q.insurer.as_str().len() == 6) {
        let mut s = search(q, "国保");
        let padded =
            Element::new("QualificationConfirmSearchInfo").push_all(s.children().iter().map(|c| {
                if c.name() == "InsurerNumber" {
                    Element::leaf("InsurerNumber", format!("00{}", q.insurer.as_str()))
                } else {
                    c.clone()
                }
            }));
        s = padded;
        let reply = wait_for(
            &client,
            Family::Eligibility,
            &message(
                header(&institution, "K", ""),
                Element::new("MessageBody").push(s),
            ),
            CharacterCode::ShiftJis,
        );
        if let Some(r) = reply
            .all("MessageBody/ResultList/ResultOfQualificationConfirmation")
            .first()
        {
            assert_eq!(
                r.find("InsurerNumber").unwrap().text(),
                format!("  {}", q.insurer.as_str())
            );
        }
    }

    // 一括照会: upload, then download until done.
    let bulk: Vec<&CardQuery> = samples.iter().skip(12).take(20).collect();
    for code in [CharacterCode::Utf8, CharacterCode::ShiftJis] {
        let upload = wait_for(
            &client,
            Family::BulkEligibility,
            &message(
                header(&institution, "BULK", &today),
                Element::new("MessageBody").push_all(
                    bulk.iter()
                        .enumerate()
                        .map(|(i, q)| search(q, &format!("予約{i}"))),
                ),
            ),
            code,
        );
        assert_eq!(upload.segment(), Some("1"));
        let number = upload
            .value("MessageHeader/ReceptionNumber")
            .expect("a 受付番号")
            .to_string();
        let started = Instant::now();
        let done = loop {
            let r = wait_for(
                &client,
                Family::BulkEligibilityResult,
                &message(
                    header(&institution, "DL", ""),
                    Element::new("MessageBody").child("ReceptionNumber", &number),
                ),
                code,
            );
            match r.segment() {
                Some("1") => break r,
                Some("2") => assert_eq!(r.error_code(), Some("KKP001")),
                other => panic!("bulk download: {other:?} {:?}", r.error_code()),
            }
            assert!(started.elapsed() < WAIT, "the batch never finished");
            std::thread::sleep(Duration::from_millis(200));
        };
        assert_eq!(done.doc.character_code(), code);
        assert_eq!(
            done.value("MessageHeader/NumberOfProcessingResult"),
            Some("20")
        );
        let units = done.all("MessageBody/BulkConfirmUnit");
        assert_eq!(units.len(), 20);
        for (i, u) in units.iter().enumerate() {
            assert_eq!(
                u.value("QualificationConfirmSearchInfo/ArbitraryIdentifier"),
                Some(format!("予約{i}").as_str())
            );
            assert_eq!(u.value("ProcessingResultStatus"), Some("1"));
            assert!(u.value("QualificationValidity").is_some());
        }
        assert_eq!(
            done.value("MessageHeader/QualificationConfirmationDate"),
            Some(today.as_str())
        );
    }

    // 照会番号: registered, then returned by a check.
    let registration = |q: &CardQuery, reference: &str, birthdate: bool| {
        Element::new("ReferenceNumberRegistrationInfo")
            .child("ReferenceNumber", reference)
            .child("InsurerNumber", q.insurer.as_str())
            .child(
                "InsuredCardSymbol",
                (!q.symbol_key.is_empty()).then_some(q.symbol_key.as_str()),
            )
            .child("InsuredIdentificationNumber", &q.number_key)
            .child("InsuredBranchNumber", q.branch.as_ref().map(|b| b.as_str()))
            .child("Birthdate", birthdate.then(|| q.birthdate.compact()))
    };
    let q0 = &samples[0];
    let reg = wait_for(
        &client,
        Family::ReferenceNumber,
        &message(
            header(&institution, "R0", ""),
            Element::new("MessageBody").push(registration(q0, "カルテ0001", true)),
        ),
        CharacterCode::ShiftJis,
    );
    assert_eq!(
        reg.value("MessageBody/ProcessingResultStatus"),
        Some("1"),
        "{:?}",
        reg.value("MessageBody/ProcessingResultMessage")
    );
    assert_eq!(reg.value("MessageBody/ReferenceNumber"), Some("カルテ0001"));
    let check = wait_for(
        &client,
        Family::Eligibility,
        &message(
            header(&institution, "C0", ""),
            Element::new("MessageBody").push(search(q0, "0")),
        ),
        CharacterCode::Utf8,
    );
    assert_eq!(
        check.value("MessageBody/ResultList/ResultOfQualificationConfirmation/ReferenceNumber"),
        Some("カルテ0001")
    );
    // Without a birth date: taken from today's check here, else refused with KKB001.
    let from_today = wait_for(
        &client,
        Family::ReferenceNumber,
        &message(
            header(&institution, "R1", ""),
            Element::new("MessageBody").push(registration(&samples[1], "カルテ0002", false)),
        ),
        CharacterCode::Utf8,
    );
    assert_eq!(
        from_today.value("MessageBody/ProcessingResultStatus"),
        Some("1")
    );
    let unknown = wait_for(
        &client,
        Family::ReferenceNumber,
        &message(
            header(&institution, "R2", ""),
            Element::new("MessageBody").push(registration(&samples[50], "カルテ0003", false)),
        ),
        CharacterCode::Utf8,
    );
    assert_eq!(
        unknown.value("MessageBody/ProcessingResultStatus"),
        Some("2")
    );
    assert_eq!(
        unknown.value("MessageBody/ProcessingResultCode"),
        Some("KKB001")
    );
    // In bulk, carried out by the terminal.
    let upload = wait_for(
        &client,
        Family::BulkReferenceNumber,
        &message(
            header(&institution, "RB", ""),
            Element::new("MessageBody")
                .push(registration(&samples[2], "カルテ0004", true))
                .push(registration(&samples[3], "カルテ0005", true))
                .push(registration(&samples[51], "カルテ0006", false)),
        ),
        CharacterCode::ShiftJis,
    );
    let number = upload
        .value("MessageHeader/ReceptionNumber")
        .unwrap()
        .to_string();
    let started = Instant::now();
    let done = loop {
        let r = wait_for(
            &client,
            Family::BulkReferenceNumberResult,
            &message(
                header(&institution, "RBD", ""),
                Element::new("MessageBody").child("ReceptionNumber", &number),
            ),
            CharacterCode::ShiftJis,
        );
        if r.segment() == Some("1") {
            break r;
        }
        assert!(started.elapsed() < WAIT);
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(
        done.value("MessageHeader/NumberOfProcessingResult"),
        Some("3")
    );
    assert_eq!(
        done.value("MessageHeader/NumberOfNormalProcessing"),
        Some("2")
    );
    let units = done.all("MessageBody/ReferenceNumberRegistrationResult");
    assert_eq!(units[2].value("ProcessingResultCode"), Some("KKB001"));

    // A kiosk card check writes face/ files: at the check, then again with the consents.
    let mut faces = BTreeSet::new();
    let asked_checkups = kiosk_check(&kiosk_url, "000001.vcard");
    let first = client.next_face(&mut faces, WAIT).unwrap();
    let second = client.next_face(&mut faces, WAIT).unwrap();
    assert!(first.name < second.name, "the counter grows");
    assert!(first
        .name
        .starts_with(&format!("OQSsiquc01res_face_{institution}")));
    for f in [&first, &second] {
        assert_eq!(f.segment(), Some("1"));
        assert_eq!(f.value("MessageHeader/ReferenceClassification"), Some("1"));
    }
    assert_eq!(
        first.value("MessageHeader/ProcessExecutionTime"),
        second.value("MessageHeader/ProcessExecutionTime"),
        "the same check"
    );
    let person = "MessageBody/ResultList/ResultOfQualificationConfirmation";
    assert_eq!(
        second.value(&format!("{person}/PharmacistsInfoConsFlg")),
        Some("1")
    );
    assert!(second
        .value(&format!("{person}/PharmacistsInfoConsTime"))
        .is_some());
    assert_eq!(
        second.value(&format!("{person}/DiagnosisInfoConsFlg")),
        Some("1")
    );
    assert_eq!(
        second.value(&format!("{person}/SpecificHealthCheckupsInfoConsFlg")),
        Some(if asked_checkups { "1" } else { "0" })
    );

    // Medications under that consent, for the card holder (numbers from the face file; the
    // birth date taken from today's check, as the real request has none).
    let p = |name: &str| {
        second
            .value(&format!("{person}/{name}"))
            .map(str::to_string)
    };
    let info = |family: Family, category: &str, birthdate: Option<String>| {
        message(
            Element::new("MessageHeader")
                .child("MedicalInstitutionCode", institution.as_str())
                .child(
                    "InsurerNumber",
                    second
                        .doc
                        .find(&format!("{person}/InsurerNumber"))
                        .unwrap()
                        .text(),
                )
                .child("InsuranceCardSymbol", p("InsuredCardSymbol"))
                .child(
                    "InsuredPersonIdentificationNumber",
                    p("InsuredIdentificationNumber").unwrap(),
                )
                .child("BranchNumber", p("InsuredBranchNumber"))
                .child("ArbitraryFileIdentifier", "薬")
                .child("Birthdate", birthdate),
            Element::new("MessageBody")
                .child(
                    "StartDate",
                    (family == Family::Medication).then_some("20000101"),
                )
                .child(
                    "EndDate",
                    (family == Family::Medication).then_some(today.as_str()),
                )
                .child("FileCategory", category)
                .child("PrDiInfClassification", "1")
                .child("MedicalTreatmentFlag", "1"),
        )
    };
    for code in [CharacterCode::Utf8, CharacterCode::ShiftJis] {
        let meds = wait_for(
            &client,
            Family::Medication,
            &info(Family::Medication, "4", None),
            code,
        );
        assert_eq!(
            meds.value("MessageBody/ResultCode"),
            Some("1"),
            "{:?}",
            meds.value("MessageBody/MessageContents")
        );
        assert_eq!(
            meds.value("MessageHeader/QuaInf/Name"),
            p("Name").as_deref()
        );
        assert!(
            !meds.all("MessageBody/MeTrMonthInf").is_empty(),
            "the holder has history"
        );
        assert!(!meds
            .all("MessageBody/MeTrMonthInf/DiDateInfs/DiDateInf/DrugInfs/DrugInf/DrugN")
            .is_empty());
    }
    let checkups = wait_for(
        &client,
        Family::Checkup,
        &info(Family::Checkup, "2", p("Birthdate")),
        CharacterCode::ShiftJis,
    );
    assert_eq!(
        checkups.value("MessageBody/ResultCode"),
        Some(if asked_checkups { "1" } else { "2" }),
        "{:?}",
        checkups.value("MessageBody/MessageContents")
    );
    let pdf = wait_for(
        &client,
        Family::Medication,
        &info(Family::Medication, "1", None),
        CharacterCode::Utf8,
    );
    assert_eq!(pdf.error_code(), Some("KKE011"));
    // Without consent (a person checked today by numbers only): refused with the central's word.
    let q = &samples[4];
    let refused = wait_for(
        &client,
        Family::Medication,
        &message(
            Element::new("MessageHeader")
                .child("MedicalInstitutionCode", institution.as_str())
                .child("InsurerNumber", q.insurer.as_str())
                .child(
                    "InsuranceCardSymbol",
                    (!q.symbol_key.is_empty()).then_some(q.symbol_key.as_str()),
                )
                .child("InsuredPersonIdentificationNumber", &q.number_key)
                .child("BranchNumber", q.branch.as_ref().map(|b| b.as_str()))
                .child("Birthdate", q.birthdate.compact()),
            Element::new("MessageBody")
                .child("StartDate", "20000101")
                .child("EndDate", today.as_str())
                .child("FileCategory", "2"),
        ),
        CharacterCode::Utf8,
    );
    assert_eq!(refused.value("MessageBody/ResultCode"), Some("2"));
    assert!(refused.all("MessageBody/MeTrMonthInf").is_empty());
    let why = refused.value("MessageBody/ProcessingResultCode").unwrap();
    assert!(
        [
            "consent_missing",
            "category_not_consented",
            "qualification_not_found",
            "multiple_matches"
        ]
        .contains(&why),
        "{why}"
    );
    assert!(refused.value("MessageBody/MessageContents").is_some());

    // Bad inputs: each answered with SegmentOfResult 9 and its code.
    let good = message(
        header(&institution, "受付B", ""),
        Element::new("MessageBody").push(search(&samples[5], "b")),
    );
    let good_utf8 = String::from_utf8(write(&good, CharacterCode::Utf8)).unwrap();
    let long_id = "あ".repeat(101);
    let cases: Vec<(&str, &str, Vec<u8>)> = vec![
        (
            "malformed",
            "OQSsiquc01req_bad1.xml",
            good_utf8.as_bytes()[..good_utf8.len() - 20].to_vec(),
        ),
        (
            "unknown family",
            "OQSmuonq01req_bad2.xml",
            good_utf8.clone().into_bytes(),
        ),
        ("wrong encoding", "OQSsiquc01req_bad3.xml", {
            // Declared UTF-8, written in Shift_JIS.
            let mut b = write(&good, CharacterCode::ShiftJis);
            let at = b.windows(9).position(|w| w == b"Shift_JIS").unwrap();
            b.splice(at..at + 9, b"UTF-8".iter().copied());
            b
        }),
        (
            "missing element",
            "OQSsiquc01req_bad4.xml",
            good_utf8
                .replace("<Birthdate>", "<X>")
                .replace("</Birthdate>", "</X>")
                .into_bytes(),
        ),
        (
            "over-long field",
            "OQSsiquc01req_bad5.xml",
            good_utf8
                .replace(
                    "<ArbitraryIdentifier>b<",
                    &format!("<ArbitraryIdentifier>{long_id}<"),
                )
                .into_bytes(),
        ),
        (
            "another institution",
            "OQSsiquc01req_bad6.xml",
            good_utf8.replace(&institution, "1320000002").into_bytes(),
        ),
    ];
    let expected = ["KKE002", "KKE001", "KKE003", "KKE004", "KKE007", "KKE010"];
    for ((case, name, bytes), code) in cases.into_iter().zip(expected) {
        client.send_bytes(name, &bytes).unwrap();
        let r = client.wait(name, WAIT).unwrap();
        assert_eq!(r.segment(), Some("9"), "{case}");
        assert_eq!(r.error_code(), Some(code), "{case}");
        assert!(r.value("MessageHeader/ErrorMessage").is_some(), "{case}");
    }
    // A file that vanishes before it is read.
    let gone = oqs.join("req").join("OQSsiquc01req_gone.xml");
    std::fs::write(&gone, &good_utf8).unwrap();
    std::fs::remove_file(&gone).unwrap();
    // A reused name: answered again, the new result replacing the old.
    let name = "OQSsiquc01req_same.xml";
    let first = |q: &CardQuery| {
        write(
            &message(
                header(&institution, "S", ""),
                Element::new("MessageBody").push(search(q, "s")),
            ),
            CharacterCode::Utf8,
        )
    };
    client.send_bytes(name, &first(&samples[6])).unwrap();
    let a = client.wait(name, WAIT).unwrap();
    client.send_bytes(name, &first(&samples[7])).unwrap();
    let b = client.wait(name, WAIT).unwrap();
    assert_eq!(
        a.value("MessageBody/QualificationConfirmSearchInfo/InsuredIdentificationNumber"),
        Some(samples[6].number_key.as_str())
    );
    assert_eq!(
        b.value("MessageBody/QualificationConfirmSearchInfo/InsuredIdentificationNumber"),
        Some(samples[7].number_key.as_str())
    );

    // 2,000 files at once: every one answered.
    let started = Instant::now();
    let names: Vec<String> = (0..2000)
        .map(|i| {
            let q = &samples[i % samples.len()];
            client
                .send(
                    Family::Eligibility,
                    &message(
                        header(&institution, &format!("M{i}"), ""),
                        Element::new("MessageBody").push(search(q, "m")),
                    ),
                    enc(i),
                )
                .unwrap()
        })
        .collect();
    for name in &names {
        let r = client.wait(name, Duration::from_secs(180)).unwrap();
        let body = || String::from_utf8_lossy(&r.bytes).into_owned();
        assert_eq!(r.segment(), Some("1"), "{name}: {}", body());
        assert_eq!(
            r.value("MessageBody/ProcessingResultStatus"),
            Some("1"),
            "{name}: {}",
            body()
        );
    }
    println!(
        "2,000 files dropped at once: all answered in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert!(
        std::fs::read_dir(oqs.join("req")).unwrap().next().is_none(),
        "req/ is empty"
    );
    // The watcher still answers.
    let after = wait_for(&client, Family::Eligibility, &good, CharacterCode::Utf8);
    assert_eq!(after.segment(), Some("1"));

    // The central stops: a check is answered at once as 要後日確認 …
    drop(central_proc.take());
    let offline = message(
        header(&institution, "OFF-1", ""),
        Element::new("MessageBody").push(search(&samples[8], "off")),
    );
    let started = Instant::now();
    let r = wait_for(
        &client,
        Family::Eligibility,
        &offline,
        CharacterCode::ShiftJis,
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "never hangs: {:?}",
        started.elapsed()
    );
    assert_eq!(r.segment(), Some("1"));
    assert_eq!(r.value("MessageBody/ProcessingResultStatus"), Some("2"));
    assert_eq!(r.value("MessageBody/ProcessingResultCode"), Some("KKO001"));
    // … a bulk upload is refused as unreachable …
    let r = wait_for(
        &client,
        Family::BulkEligibility,
        &message(
            header(&institution, "BX", ""),
            Element::new("MessageBody").push(search(&samples[9], "x")),
        ),
        CharacterCode::Utf8,
    );
    assert_eq!(r.error_code(), Some("KKE020"));
    // … and once the central is back, the later confirmation comes in face/, in the request's
    // encoding, echoing its identifier.
    central_proc = Some(central(&data, port));
    let later = loop {
        let f = client
            .next_face(&mut faces, Duration::from_secs(60))
            .unwrap();
        if f.value("MessageHeader/ArbitraryFileIdentifier") == Some("OFF-1") {
            break f;
        }
    };
    assert_eq!(later.doc.character_code(), CharacterCode::ShiftJis);
    assert_eq!(
        later.value("MessageHeader/ReferenceClassification"),
        Some("2")
    );
    let code = later.value("MessageBody/ProcessingResultCode").unwrap();
    assert!(["KKO002", "KKO003"].contains(&code), "{code}");
    assert_eq!(
        later.value("MessageBody/QualificationConfirmSearchInfo/InsuredIdentificationNumber"),
        Some(samples[8].number_key.as_str())
    );
    drop(central_proc);
}
