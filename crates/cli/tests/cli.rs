//! The command-line contract, run through the real binary: `ca init`, `ca issue`, `central`,
//! `import roster`, `check --json`, `seed`, `demo --smoke`, and two centrals on one PostgreSQL
//! primary and replica under `bench check`.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_kakunin");

fn kakunin(args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .env_remove("KAKUNIN_DATA")
        .output()
        .expect("run kakunin")
}

fn ok(args: &[&str]) -> String {
    let out = kakunin(args);
    assert!(
        out.status.success(),
        "kakunin {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `kakunin ca issue` of a role's certificate and key into `out`.
fn issue(data: &str, role: &str, id: &str, out: &str) {
    ok(&[
        "ca", "issue", "--data", data, "--role", role, "--id", id, "--out", out,
    ]);
}

struct Running(Child);
impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `kakunin central` on a free port and returns it with its URL.
fn central(data: &Path) -> (Running, String) {
    central_with(data, &[])
}

fn central_with(data: &Path, extra: &[&str]) -> (Running, String) {
    let mut args = vec![
        "central",
        "--data",
        data.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
    ];
    args.extend(extra);
    start_with_url(&args)
}

#[test]
fn command_line_contract() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let d = data.to_str().unwrap();
    ok(&["ca", "init", "--data", d]);
    assert!(data.join("ca.pem").exists());
    assert!(
        !kakunin(&["ca", "init", "--data", d]).status.success(),
        "a CA is never overwritten"
    );
    let ins = dir.path().join("insurer.pem");
    let cli = dir.path().join("clinic.pem");
    issue(d, "insurer", "06139992", ins.to_str().unwrap());
    issue(d, "institution", "0110113719", cli.to_str().unwrap());
    let bad = kakunin(&[
        "ca",
        "issue",
        "--data",
        d,
        "--role",
        "institution",
        "--id",
        "0110113710",
        "--out",
        "/dev/null",
    ]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("check digit"));

    let (_central, url) = central(&data);
    let ca = data.join("ca.pem");
    let conn = ["--server", &url, "--ca", ca.to_str().unwrap()];
    let roster = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/examples/roster-example.csv"
    );
    let mut args: Vec<&str> = vec!["import", "roster"];
    args.extend(conn);
    args.extend(["--identity", ins.to_str().unwrap(), roster]);
    let out = ok(&args);
    assert!(out.contains("取込完了"), "{out}");

    // The institution may not import: exit code is not 0.
    let mut args: Vec<&str> = vec!["import", "roster"];
    args.extend(conn);
    args.extend(["--identity", cli.to_str().unwrap(), roster]);
    assert!(!kakunin(&args).status.success());

    let mut args: Vec<&str> = vec!["check"];
    args.extend(conn);
    args.extend(["--identity", cli.to_str().unwrap()]);
    args.extend([
        "--insurer",
        "06139992",
        "--symbol",
        "123",
        "--number",
        "4567",
        "--branch",
        "01",
    ]);
    args.extend(["--birthdate", "19820315", "--date", "20261124", "--json"]);
    let answer: serde_json::Value = serde_json::from_str(&ok(&args)).unwrap();
    assert_eq!(answer["validity"], "1");
    assert_eq!(answer["results"][0]["name"], "試験\u{3000}花子");
    assert_eq!(answer["results"][0]["copay_ratio"], "030");
    assert_eq!(answer["results"][0]["branch"], "01");
    assert_eq!(answer["processing_result"]["code"], "ok");

    // Medical information: the admin imports masters and the UKE sample; the summary is JSON.
    let admin = dir.path().join("admin.pem");
    issue(d, "admin", "ops", admin.to_str().unwrap());
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/../formats/tests/fixtures");
    let mut args: Vec<&str> = vec!["import", "masters"];
    args.extend(conn);
    let y = format!("{fixtures}/masters/y_ALL00000000.csv");
    let s_master = format!("{fixtures}/masters/s_ALL00000000.csv");
    args.extend(["--identity", admin.to_str().unwrap(), &y, &s_master]);
    assert!(ok(&args).contains("追加"));
    let uke = format!("{fixtures}/uke/RECEIPTC_GAIRAI_SAMPLE.UKE");
    let mut args: Vec<&str> = vec!["import", "receipts"];
    args.extend(conn);
    args.extend(["--identity", admin.to_str().unwrap(), "--json", &uke]);
    let summary: serde_json::Value = serde_json::from_str(&ok(&args)).unwrap();
    assert_eq!(summary["receipts"], 75);
    assert_eq!(summary["matched"], 0);
    assert_eq!(summary["unmatched"], 75);
    assert_eq!(summary["unknown_records"], 0);
    // A truncated file: refused, exit code 1, and the error says why.
    let cut = dir.path().join("cut.UKE");
    let bytes = std::fs::read(&uke).unwrap();
    std::fs::write(&cut, &bytes[..bytes.len() / 3]).unwrap();
    let mut args: Vec<&str> = vec!["import", "receipts"];
    args.extend(conn);
    args.extend(["--identity", admin.to_str().unwrap(), cut.to_str().unwrap()]);
    let out = kakunin(&args);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing_trailer"));
    // The clinic asks for the checked person's medications without their consent: refused.
    let mut args: Vec<&str> = vec!["medical", "medications"];
    args.extend(conn);
    args.extend(["--identity", cli.to_str().unwrap()]);
    args.extend([
        "--insurer",
        "06139992",
        "--symbol",
        "123",
        "--number",
        "4567",
        "--branch",
        "01",
        "--birthdate",
        "19820315",
    ]);
    let out = kakunin(&args);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("consent_missing"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn seed_then_demo_answers_valid() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo");
    let d = data.to_str().unwrap();
    let out = ok(&[
        "seed",
        "--data",
        d,
        "--people",
        "300",
        "--rng-seed",
        "7",
        "--as-of",
        "20261124",
    ]);
    assert!(out.contains("seeded 300 people"), "{out}");
    // Seeding the same population again changes nothing.
    let out = ok(&[
        "seed",
        "--data",
        d,
        "--people",
        "300",
        "--rng-seed",
        "7",
        "--as-of",
        "20261124",
    ]);
    assert!(out.contains(" 0 inserted, 0 updated"), "{out}");

    let demo_dir = dir.path().join("demo2");
    let out = ok(&[
        "demo",
        "--data",
        demo_dir.to_str().unwrap(),
        "--people",
        "500",
        "--listen",
        "127.0.0.1:0",
        "--smoke",
    ]);
    assert!(out.contains(" check --server https://127.0.0.1:"), "{out}");
    assert!(out.contains("--card virtual:"), "{out}");
    assert!(out.contains(" medical medications --server"), "{out}");
    // Three answers: by numbers (照会区分 2), with a demo card and consent (照会区分 1), then
    // the card holder's medications under that consent.
    let json = &out[out.find("\n{").expect("answer JSON")..];
    let answers: Vec<serde_json::Value> = serde_json::Deserializer::from_str(json)
        .into_iter()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(answers.len(), 5, "{out}");
    for (answer, classification) in answers.iter().zip(["2", "1"]) {
        assert_eq!(answer["validity"], "1", "{out}");
        assert_eq!(answer["reference_classification"], classification);
    }
    let meds = &answers[2];
    assert_eq!(meds["category"], "medications");
    assert_eq!(meds["consent"]["flag"], "1");
    assert!(
        !meds["medications"].as_array().unwrap().is_empty(),
        "a seeded card holder has drug history: {meds}"
    );
    // The kiosk went through ①–⑥ with another demo card: the last screen, and the reception
    // the staff console shows, with the consents just given.
    assert_eq!(answers[3]["screen"], "finished", "{out}");
    let reception = &answers[4];
    assert_eq!(reception["source"], "kiosk");
    assert_eq!(reception["method"], "pin");
    assert_eq!(reception["answer"]["validity"], "1");
    let flag = |category: &str| {
        reception["answer"]["consents"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["category"] == category)
            .map(|c| c["flag"].clone())
            .unwrap()
    };
    assert_eq!(flag("medications"), "1");
    assert_eq!(flag("limit"), "1");
    assert!(out.contains("/kiosk"), "{out}");

    // The audit chains of what the smoke did: signed, verified; then one entry altered in the
    // database (past its append-only trigger) is named, and the command fails.
    let demo = demo_dir.to_str().unwrap();
    let out = ok(&["audit", "checkpoint", "--data", demo]);
    assert!(out.contains("checkpoints signed: "), "{out}");
    let out = ok(&["audit", "verify", "--data", demo]);
    assert!(out.contains("audit chains verified"), "{out}");
    assert!(!out.contains("access chain: 0 entries"), "{out}");
    let db = rusqlite::Connection::open(demo_dir.join("kakunin.sqlite3")).unwrap();
    let id: i64 = db
        .query_row("SELECT min(id) FROM access_log", [], |r| r.get(0))
        .unwrap();
    db.execute_batch(&format!(
        "DROP TRIGGER access_log_no_update; UPDATE access_log SET institution_code = '0110113719' WHERE id = {id}"
    ))
    .unwrap();
    let tampered = kakunin(&["audit", "verify", "--data", demo]);
    let text = String::from_utf8_lossy(&tampered.stdout);
    assert!(!tampered.status.success(), "{text}");
    assert!(
        text.contains(&format!("FIRST BAD ENTRY: access id {id} ")),
        "{text}"
    );
}

#[test]
fn central_and_seed_on_postgres() {
    let Some(bins) = kakunin_testkit::pg::binaries_or_skip() else {
        return;
    };
    let pg = kakunin_testkit::pg::PgServer::start_primary(&bins);
    let url = pg.create_database("kakunin");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let d = data.to_str().unwrap();
    let out = ok(&[
        "seed",
        "--data",
        d,
        "--database",
        &url,
        "--people",
        "200",
        "--rng-seed",
        "3",
        "--as-of",
        "20261124",
    ]);
    assert!(out.contains("seeded 200 people"), "{out}");
    ok(&["ca", "init", "--data", d]);
    let clinic = dir.path().join("clinic.pem");
    issue(d, "institution", "0110113719", clinic.to_str().unwrap());
    let (_central, server) = central_with(&data, &["--database", &url]);
    assert_eq!(
        pg.psql("kakunin", "SELECT count(*) > 0 FROM qualifications"),
        "t"
    );
    let row = pg.psql(
        "kakunin",
        "SELECT q.insurer_number, v.symbol_raw, v.number_raw, q.branch, v.birthdate FROM qualifications q
         JOIN qualification_versions v ON v.id = q.current_version_id
         WHERE v.disqualification_date IS NULL AND v.symbol_raw ~ '^[0-9]+$' AND q.branch <> '' ORDER BY q.id LIMIT 1",
    );
    let f: Vec<&str> = row.split('|').collect();
    let ca = data.join("ca.pem");
    let answer = ok(&[
        "check",
        "--server",
        &server,
        "--ca",
        ca.to_str().unwrap(),
        "--identity",
        clinic.to_str().unwrap(),
        "--insurer",
        f[0],
        "--symbol",
        f[1],
        "--number",
        f[2],
        "--branch",
        f[3],
        "--birthdate",
        f[4],
        "--date",
        "20261124",
        "--json",
    ]);
    let answer: serde_json::Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(answer["validity"], "1", "{answer}");
    assert_eq!(
        pg.psql("kakunin", "SELECT count(*) FROM access_log"),
        "1",
        "the check was logged in PostgreSQL"
    );
    // A wrong URL is a clear error, not a hang.
    let bad = kakunin(&[
        "seed",
        "--data",
        d,
        "--database",
        "postgres://kakunin@127.0.0.1:1/x",
        "--people",
        "1",
    ]);
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("cannot connect"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
}

/// Runs `kakunin …` and returns (exit code, stdout as JSON).
fn json_of(args: &[&str]) -> (i32, serde_json::Value) {
    let out = kakunin(args);
    let text = String::from_utf8_lossy(&out.stdout);
    let value = serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!(
            "kakunin {args:?}: not JSON ({e}): {text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap_or(-1), value)
}

/// Starts a process and waits for the first stdout line that ends with its URL.
fn start_with_url(args: &[&str]) -> (Running, String) {
    let mut child = Command::new(BIN)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line.trim().rsplit(' ').next().unwrap().to_string();
    assert!(url.starts_with("https://127.0.0.1:"), "{line}");
    (Running(child), url)
}

/// The card contract for scripts: `seed --cards`, `card info --json`, `check --card --json`,
/// a wrong PIN, `card revoke`, and a central that calls a separate `kakunin authority`.
#[test]
fn card_command_line_contract() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let d = data.to_str().unwrap();
    ok(&["ca", "init", "--data", d]);
    let out = ok(&[
        "seed", "--data", d, "--people", "300", "--cards", "2", "--pin", "4321",
    ]);
    assert!(out.contains("issued 2 cards"), "{out}");
    let mut cards: Vec<_> = std::fs::read_dir(data.join("cards"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    cards.sort();
    assert_eq!(cards.len(), 2);
    let card = format!("virtual:{}", cards[0].display());

    let (code, info) = json_of(&["card", "info", "--card", &card, "--json"]);
    assert_eq!(code, 0);
    assert!(
        info["serial"].as_str().is_some_and(|s| !s.is_empty()),
        "{info}"
    );
    assert!(info["not_after"].is_string());
    assert_eq!(info["pin_tries_left"], 3);

    let clinic = dir.path().join("clinic.pem");
    let admin = dir.path().join("admin.pem");
    for (role, id, out) in [
        ("institution", "0110113719", &clinic),
        ("admin", "central-service", &admin),
    ] {
        issue(d, role, id, out.to_str().unwrap());
    }
    let (_central, url) = central_with(&data, &["--crl-refresh-secs", "1"]);
    let ca = data.join("ca.pem");
    let check = |url: &str, card: &str, pin: &str| {
        json_of(&[
            "check",
            "--server",
            url,
            "--ca",
            ca.to_str().unwrap(),
            "--identity",
            clinic.to_str().unwrap(),
            "--card",
            card,
            "--pin",
            pin,
            "--json",
        ])
    };
    let (code, answer) = check(&url, &card, "4321");
    assert_eq!(code, 0, "{answer}");
    assert_eq!(answer["validity"], "1");
    assert_eq!(answer["reference_classification"], "1");
    assert_eq!(answer["processing_result"]["code"], "ok");
    assert!(answer["results"][0]["insurer_number"].is_string());

    // A wrong PIN: refused on the card, a try used, nothing sent.
    let (code, error) = check(&url, &card, "0000");
    assert_eq!(code, 2);
    assert_eq!(error["code"], "card_error");
    assert!(
        error["message"].as_str().unwrap().contains("暗証番号"),
        "{error}"
    );
    let (_, info) = json_of(&["card", "info", "--card", &card, "--json"]);
    assert_eq!(info["pin_tries_left"], 2);
    // The right PIN resets the counter.
    assert_eq!(check(&url, &card, "4321").0, 0);

    // The second card through a separate authority process.
    let (_authority, authority_url) =
        start_with_url(&["authority", "--data", d, "--listen", "127.0.0.1:0"]);
    let other = dir.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    for f in ["ca.pem", "ca-key.pem", "nonce.key"] {
        std::fs::copy(data.join(f), other.join(f)).unwrap();
    }
    let (_remote_central, remote_url) = central_with(
        &other,
        &[
            "--database",
            data.join("kakunin.sqlite3").to_str().unwrap(),
            "--authority",
            &authority_url,
            "--authority-identity",
            admin.to_str().unwrap(),
        ],
    );
    let second = format!("virtual:{}", cards[1].display());
    let (code, answer) = check(&remote_url, &second, "4321");
    assert_eq!(code, 0, "{answer}");
    assert_eq!(answer["validity"], "1");

    // A renewal for the first seeded card holder (`card issue`): a new certificate, same person.
    let person = kakunin_domain::IndividualNumber::from_body("40000000000").unwrap();
    let renewed = dir.path().join("renewed.vcard");
    let out = ok(&[
        "card",
        "issue",
        "--data",
        d,
        "--person",
        person.expose(),
        "--pin",
        "4321",
        "--out",
        renewed.to_str().unwrap(),
    ]);
    assert!(out.contains("serial"), "{out}");
    let bad = kakunin(&[
        "card",
        "issue",
        "--data",
        d,
        "--person",
        "123456789012",
        "--pin",
        "4321",
        "--out",
        dir.path().join("x.vcard").to_str().unwrap(),
    ]);
    assert!(
        !bad.status.success(),
        "a 個人番号 with a wrong check digit is refused"
    );

    // The renewed card answers at once (the 利用登録 carries over: same person); the old one is
    // superseded, and refused from the central's next CRL refresh on.
    let renewed_card = format!("virtual:{}", renewed.display());
    let (code, answer) = check(&url, &renewed_card, "4321");
    assert_eq!(code, 0, "{answer}");
    assert_eq!(answer["validity"], "1");
    let refused_soon = |card: &str| {
        let mut last = serde_json::Value::Null;
        let refused = (0..50).any(|_| {
            let (code, body) = check(&url, card, "4321");
            last = body;
            if code == 2 {
                return true;
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
            false
        });
        assert!(refused, "still answered after revocation: {last}");
        last
    };
    assert_eq!(refused_soon(&card)["code"], "certificate_revoked");

    // Revoked at the municipality (`card revoke`): refused after the next refresh.
    ok(&["card", "revoke", "--data", d, "--card", &renewed_card]);
    assert_eq!(refused_soon(&renewed_card)["code"], "certificate_revoked");
}

/// A virtual card presented to pcscd through vsmartcard-vpcd is read by the terminal-side
/// code (`check --card pcsc`) and answers 有効 through the central.
#[test]
fn a_card_through_pcscd_and_vpcd_answers_valid() {
    if !cfg!(feature = "pcsc") {
        kakunin_testkit::external_missing(
            "the PC/SC backend (build with --features pcsc; needs libpcsclite-dev)",
        );
        return;
    }
    let Some(pcscd) = kakunin_testkit::pcsc::Pcscd::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let d = data.to_str().unwrap();
    ok(&["ca", "init", "--data", d]);
    ok(&[
        "seed", "--data", d, "--people", "200", "--cards", "1", "--pin", "2580",
    ]);
    let card = std::fs::read_dir(data.join("cards"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let clinic = dir.path().join("clinic.pem");
    issue(d, "institution", "0110113719", clinic.to_str().unwrap());
    let (_central, url) = central(&data);
    let _vpcd = Running(
        Command::new(BIN)
            .args([
                "card",
                "serve-vpcd",
                "--card",
                card.to_str().unwrap(),
                "--port",
                &pcscd.port.to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let reader = format!("pcsc:{}", pcscd.reader);
    let ca = data.join("ca.pem");
    let mut last = (0, serde_json::Value::Null);
    let answered = kakunin_testkit::pcsc::wait_for(std::time::Duration::from_secs(20), || {
        last = json_of(&[
            "check",
            "--server",
            &url,
            "--ca",
            ca.to_str().unwrap(),
            "--identity",
            clinic.to_str().unwrap(),
            "--card",
            &reader,
            "--pin",
            "2580",
            "--json",
        ]);
        last.0 == 0
    });
    assert!(
        answered,
        "no answer through pcscd: {:?}\n{}",
        last,
        pcscd.log()
    );
    assert_eq!(last.1["validity"], "1");
    assert_eq!(last.1["reference_classification"], "1");
}

/// Eligibility reads this node has sent to its replica so far.
async fn replica_reads(admin: &kakunin_api::client::CentralClient) -> u64 {
    let status = admin.store_status().await.unwrap();
    status
        .nodes
        .iter()
        .filter(|n| n.role == "replica")
        .map(|n| n.reads)
        .sum()
}

/// Scale-out: two `kakunin central` processes on one PostgreSQL primary and one streaming
/// replica, with the clients of `kakunin bench check` spread over both nodes round robin and no
/// balancer in front. Both nodes answer, both read eligibility from the replica, every answered
/// check is logged once in the primary, and the one access-log chain both nodes append to
/// verifies afterwards.
#[test]
fn two_centrals_on_one_primary_and_replica_share_the_load_and_one_chain() {
    let Some(bins) = kakunin_testkit::pg::binaries_or_skip() else {
        return;
    };
    let primary = kakunin_testkit::pg::PgServer::start_primary(&bins);
    let primary_url = primary.create_database("kakunin");
    let replica = kakunin_testkit::pg::PgServer::start_replica(&primary, false);
    let replica_url = replica.url("kakunin");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let d = data.to_str().unwrap();
    let db = ["--database", primary_url.as_str()];
    let out = ok(&[
        &["seed", "--data", d][..],
        &db,
        &["--people", "300", "--rng-seed", "5"],
    ]
    .concat());
    assert!(out.contains("seeded 300 people"), "{out}");
    ok(&["ca", "init", "--data", d]);
    let (clinic, admin) = (dir.path().join("clinic.pem"), dir.path().join("admin.pem"));
    issue(d, "institution", "0110113719", clinic.to_str().unwrap());
    issue(d, "admin", "ops", admin.to_str().unwrap());
    let node_flags = [
        "--database",
        primary_url.as_str(),
        "--replica",
        replica_url.as_str(),
        "--checks-per-second",
        "0",
    ];
    let (_a, url_a) = central_with(&data, &node_flags);
    let (_b, url_b) = central_with(&data, &node_flags);
    let ca = data.join("ca.pem");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let admins: Vec<kakunin_api::client::CentralClient> = [&url_a, &url_b]
        .iter()
        .map(|url| kakunin_api::client::CentralClient::from_files(url, &ca, Some(&admin)).unwrap())
        .collect();
    // Both nodes see the replica caught up before the load starts.
    rt.block_on(async {
        for admin in &admins {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
            loop {
                let s = admin.store_status().await.unwrap();
                if s.nodes.iter().any(|n| n.role == "replica" && n.lag_ms == 0) {
                    break;
                }
                assert!(
                    std::time::Instant::now() < deadline,
                    "replica not caught up: {s:?}"
                );
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    });
    let before: Vec<u64> = rt.block_on(async {
        let mut v = Vec::new();
        for admin in &admins {
            v.push(replica_reads(admin).await);
        }
        v
    });

    let out = ok(&[
        &["bench", "check", "--data", d][..],
        &db,
        &["--server", &url_a, "--also-server", &url_b],
        &[
            "--ca",
            ca.to_str().unwrap(),
            "--identity",
            clinic.to_str().unwrap(),
        ],
        &[
            "--concurrency",
            "8",
            "--seconds",
            "1",
            "--rate",
            "200",
            "--json",
        ],
    ]
    .concat());
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["nodes"], 2, "{report}");
    assert_eq!(report["saturation"]["errors"], 0, "{report}");
    assert_eq!(report["fixed_rate"]["result"]["errors"], 0, "{report}");
    let answered = report["checks_answered"].as_u64().unwrap();
    assert!(answered > 0, "{report}");
    assert_eq!(
        report["access_log_entries_written"].as_u64(),
        Some(answered),
        "every answered check is logged once: {report}"
    );
    let per_node: Vec<u64> = report["per_node"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["checks_answered"].as_u64().unwrap())
        .collect();
    assert_eq!(per_node.len(), 2, "{report}");
    assert!(
        per_node.iter().all(|&n| n > 0),
        "both nodes answer: {report}"
    );
    assert_eq!(per_node.iter().sum::<u64>(), answered, "{report}");

    // Each node read eligibility from the replica, not only from the primary.
    rt.block_on(async {
        for (admin, before) in admins.iter().zip(&before) {
            let after = replica_reads(admin).await;
            assert!(after > *before, "a node read nothing from the replica");
        }
    });
    // The chain both nodes appended to verifies, and holds every check.
    let verified = ok(&[&["audit", "verify", "--data", d][..], &db].concat());
    assert!(!verified.is_empty());
    let logged = primary.psql("kakunin", "SELECT count(*) FROM access_log");
    assert!(logged.parse::<u64>().unwrap() >= answered, "{logged}");
}

/// Every `kakunin bench` scenario but `face` (which has its own test with the face model), run
/// briefly on a small SQLite store: each finishes, prints one JSON object, answers without
/// errors, and logs every check it was answered.
#[test]
fn every_bench_scenario_runs_and_reports_json() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let d = data.to_str().unwrap();
    ok(&[
        "seed",
        "--data",
        d,
        "--people",
        "300",
        "--rng-seed",
        "4",
        "--cards",
        "6",
        "--pin",
        "1234",
    ]);
    ok(&["ca", "init", "--data", d]);
    let clinic = dir.path().join("clinic.pem");
    issue(d, "institution", "0110113719", clinic.to_str().unwrap());
    let (_central, server) = central_with(
        &data,
        &["--checks-per-second", "0", "--views-per-second", "0"],
    );
    let ca = data.join("ca.pem");
    let (ca, clinic) = (ca.to_str().unwrap(), clinic.to_str().unwrap());
    let against_central = |args: &[&str]| {
        let connection = [
            "--server",
            &server,
            "--ca",
            ca,
            "--identity",
            clinic,
            "--data",
            d,
            "--json",
        ];
        let (code, report) = json_of(&[&["bench"][..], args, &connection].concat());
        assert_eq!(code, 0, "bench {args:?}: {report}");
        report
    };
    let on_its_own = |args: &[&str]| {
        let (code, report) = json_of(&[&["bench"][..], args, &["--json"]].concat());
        assert_eq!(code, 0, "bench {args:?}: {report}");
        report
    };

    let r = against_central(&[
        "check",
        "--concurrency",
        "4",
        "--seconds",
        "1",
        "--rate",
        "50",
    ]);
    assert_eq!(r["saturation"]["errors"], 0, "{r}");
    assert_eq!(r["fixed_rate"]["result"]["errors"], 0, "{r}");
    assert!(r["checks_answered"].as_u64().unwrap() > 50, "{r}");
    assert_eq!(r["access_log_entries_written"], r["checks_answered"], "{r}");
    assert!(r["empty_handler"]["requests"].as_u64().unwrap() > 0, "{r}");
    assert!(r["store_lookups_per_second"].as_f64().unwrap() > 0.0, "{r}");
    assert!(
        r["rsa2048_verify_per_second_one_core"].as_f64().unwrap() > 0.0,
        "{r}"
    );

    let r = against_central(&[
        "card-check",
        "--cards",
        "6",
        "--checks",
        "30",
        "--concurrency",
        "4",
        "--seconds",
        "1",
    ]);
    assert_eq!(r["card_checks_answered"], 30, "{r}");
    assert_eq!(r["card_checks_valid"], 30, "{r}");
    assert_eq!(r["access_log_entries_written"], 30, "{r}");

    let r = against_central(&["mixed", "--cards", "6", "--rate", "40", "--seconds", "1"]);
    let requests = |kind: &str| r[kind]["requests"].as_u64().unwrap();
    for kind in [
        "receptions",
        "number_checks",
        "card_checks",
        "drug_history_views",
    ] {
        assert_eq!(r[kind]["errors"], 0, "{kind}: {r}");
    }
    assert!(
        requests("card_checks") > 0 && requests("number_checks") > 0,
        "{r}"
    );
    assert_eq!(
        r["access_log_entries_written"].as_u64().unwrap(),
        requests("number_checks") + requests("card_checks") + requests("drug_history_views"),
        "every check and view logged: {r}"
    );

    let r = against_central(&["batch", "--batches", "2", "--items", "20", "--rate", "20"]);
    assert_eq!(r["upload"]["errors"], 0, "{r}");
    assert_eq!(r["until_done"]["requests"], 2, "{r}");
    assert_eq!(r["until_done"]["errors"], 0, "{r}");
    assert_eq!(r["desk_beside_uploads"]["errors"], 0, "{r}");
    assert!(r["items_per_second"].as_f64().unwrap() > 0.0, "{r}");

    let r = on_its_own(&[
        "medical",
        "--receipts",
        "500",
        "--people",
        "200",
        "--history",
        "20",
        "--requests",
        "20",
    ]);
    assert_eq!(r["ingestion"]["receipts"], 500, "{r}");
    assert_eq!(r["retrieval"]["requests"], 20, "{r}");
    assert!(
        r["retrieval"]["person_drug_lines"].as_u64().unwrap() > 0,
        "{r}"
    );

    let r = on_its_own(&[
        "files",
        "--people",
        "200",
        "--sequential",
        "5",
        "--clients",
        "2",
        "--seconds",
        "1",
        "--burst",
        "20",
        "--bulk",
        "10",
    ]);
    assert_eq!(r["store"], "sqlite", "{r}");
    for run in ["sequential", "throughput", "burst", "bulk"] {
        assert_eq!(r[run]["errors"], 0, "{run}: {r}");
    }
    assert_eq!(r["sequential"]["files"], 5, "{r}");
    assert_eq!(r["burst"]["files"], 20, "{r}");
    assert_eq!(r["bulk"]["normal"], 10, "{r}");
}
