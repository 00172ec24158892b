//! Crash safety, with the real binary killed by SIGKILL (`kill -9`) at work and started again on
//! the same data: during a roster import, a burst of eligibility checks and a receipt file's
//! ingestion the central loses no acknowledged write, shows no partial import, and a client's
//! retry with its `Idempotency-Key` (or of the same file) leaves no duplicate; the audit chains
//! still verify (`kakunin audit verify`). The terminal, killed while recording offline visits,
//! keeps every visit it acknowledged. Where the kill lands varies from run to run (the work is
//! sized to take about a second); every outcome is checked.

use kakunin_api::client::{CentralClient, ClientError};
use kakunin_api::EligibilityCheckRequest;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_kakunin");
const KENPO: &str = "06139992";

fn ok(args: &[&str]) -> String {
    let out = Command::new(BIN)
        .args(args)
        .env_remove("KAKUNIN_DATA")
        .output()
        .expect("run kakunin");
    assert!(
        out.status.success(),
        "kakunin {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A process that is SIGKILLed when dropped (or on purpose).
struct Proc(Child);
impl Proc {
    fn kill9(&mut self) {
        // Child::kill sends SIGKILL on Unix: no shutdown code runs.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
impl Drop for Proc {
    fn drop(&mut self) {
        self.kill9();
    }
}

struct Setup {
    _dir: tempfile::TempDir,
    data: PathBuf,
    ca: Vec<u8>,
    insurer: Vec<u8>,
    institution: Vec<u8>,
    admin: Vec<u8>,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("central");
    let d = data.to_str().unwrap();
    ok(&["ca", "init", "--data", d]);
    let issue = |role: &str, id: &str| {
        let out = dir.path().join(format!("{role}.pem"));
        ok(&[
            "ca",
            "issue",
            "--data",
            d,
            "--role",
            role,
            "--id",
            id,
            "--out",
            out.to_str().unwrap(),
        ]);
        std::fs::read(out).unwrap()
    };
    let clinic = kakunin_domain::check_digit::complete("131000001").unwrap();
    Setup {
        ca: std::fs::read(data.join("ca.pem")).unwrap(),
        insurer: issue("insurer", KENPO),
        institution: issue("institution", &clinic),
        admin: issue("admin", "ops"),
        data,
        _dir: dir,
    }
}

/// Starts `kakunin central` on the data directory; its URL.
fn central(data: &Path) -> (Proc, String) {
    let mut child = Command::new(BIN)
        .args([
            "central",
            "--data",
            data.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ])
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
    (Proc(child), url)
}

fn client(s: &Setup, url: &str, identity: &[u8]) -> CentralClient {
    CentralClient::new(url, &s.ca, Some(identity))
        .unwrap()
        .with_timeout(Duration::from_secs(120))
}

/// Counts rows straight from the SQLite store (read-only: the central may be running).
fn count(data: &Path, sql: &str) -> i64 {
    let c = rusqlite::Connection::open_with_flags(
        data.join("kakunin.sqlite3"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    c.query_row(sql, [], |r| r.get(0)).unwrap()
}

fn roster(rows: u64) -> Vec<u8> {
    let mut csv = String::from(
        "insurer_number,symbol,number,branch,relationship,name,name_kana,sex,birthdate,qualification_date,disqualification_date,disqualification_reason,card_classification,copay_ratio,insurer_name\n",
    );
    for i in 0..rows {
        csv.push_str(&format!(
            "{KENPO},7,{i},00,1,試験 太郎,ｼｹﾝ ﾀﾛｳ,1,19800101,20240401,,,01,030,架空健康保険組合\n"
        ));
    }
    csv.into_bytes()
}

fn audit_verifies(data: &Path) {
    let out = ok(&["audit", "verify", "--data", data.to_str().unwrap()]);
    assert!(out.contains("audit chains verified"), "{out}");
}

#[test]
fn central_killed_during_a_roster_import() {
    const ROWS: u64 = 40_000;
    let s = setup();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let file = roster(ROWS);
    let (mut node, url) = central(&s.data);
    let upload = {
        let c = client(&s, &url, &s.insurer).with_idempotency_key("roster-2026-12-03");
        let file = file.clone();
        rt.spawn(async move { c.import_roster(file, false).await })
    };
    std::thread::sleep(Duration::from_millis(700));
    node.kill9();
    let first = rt.block_on(upload).unwrap();
    // All of it or none of it.
    let qualifications = count(&s.data, "SELECT count(*) FROM qualifications");
    let versions = count(&s.data, "SELECT count(*) FROM qualification_versions");
    assert!(
        (qualifications, versions) == (0, 0)
            || (qualifications, versions) == (ROWS as i64, ROWS as i64),
        "a partial import is visible: {qualifications} qualifications, {versions} versions"
    );
    if let Ok(report) = &first {
        assert!(report.accepted);
        assert_eq!(
            qualifications, ROWS as i64,
            "an acknowledged import was lost"
        );
    }
    // The insurer retries with the same key on the restarted central.
    let (_node, url) = central(&s.data);
    // The dead node's claim on the key lapses within seconds (409 with Retry-After until then).
    let c = client(&s, &url, &s.insurer).with_idempotency_key("roster-2026-12-03");
    let until = Instant::now() + Duration::from_secs(30);
    let retry = loop {
        match rt.block_on(c.import_roster(file.clone(), false)) {
            Err(ClientError::Api(e, 409)) if e.code == "request_in_progress" => {
                assert!(Instant::now() < until, "the claim never lapsed");
                std::thread::sleep(Duration::from_millis(500));
            }
            other => break other.unwrap(),
        }
    };
    assert!(retry.accepted, "{:?}", retry.errors);
    assert_eq!(
        (
            count(&s.data, "SELECT count(*) FROM qualifications"),
            count(&s.data, "SELECT count(*) FROM qualification_versions")
        ),
        (ROWS as i64, ROWS as i64),
        "no duplicate after the retry"
    );
    if let Ok(report) = first {
        assert_eq!(retry, report, "the acknowledged answer, replayed");
    }
    audit_verifies(&s.data);
}

#[test]
fn central_killed_during_a_burst_of_checks() {
    let s = setup();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (_node0, url) = central(&s.data);
    rt.block_on(client(&s, &url, &s.insurer).import_roster(roster(50), false))
        .unwrap();
    drop(_node0);
    let (mut node, url) = central(&s.data);
    let before = count(&s.data, "SELECT count(*) FROM access_log");
    let acked = Arc::new(AtomicU64::new(0));
    let sent = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut workers = Vec::new();
    for w in 0..8u64 {
        let c = client(&s, &url, &s.institution);
        let (acked, sent, stop) = (acked.clone(), sent.clone(), stop.clone());
        workers.push(rt.spawn(async move {
            let mut i = w;
            while !stop.load(Ordering::Relaxed) {
                let req = EligibilityCheckRequest {
                    insurer_number: KENPO.into(),
                    symbol: Some("7".into()),
                    number: (i % 60).to_string(),
                    branch: Some("00".into()),
                    birthdate: "19800101".into(),
                    qualification_confirmation_date: None,
                    limit_application_certificate_related_cons_flg: None,
                };
                sent.fetch_add(1, Ordering::Relaxed);
                match c.check(&req).await {
                    Ok(_) => {
                        acked.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(ClientError::Transport(_)) => break,
                    Err(e) => panic!("{e}"),
                }
                i += 8;
            }
        }));
    }
    let started = Instant::now();
    while acked.load(Ordering::Relaxed) < 200 && started.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(20));
    }
    node.kill9();
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        rt.block_on(w).unwrap();
    }
    let (acked, sent) = (acked.load(Ordering::Relaxed), sent.load(Ordering::Relaxed));
    assert!(acked >= 200, "the burst ran: {acked}");
    let logged = (count(&s.data, "SELECT count(*) FROM access_log") - before) as u64;
    assert!(
        logged >= acked,
        "every answered check is in the access log: {logged} logged, {acked} answered"
    );
    assert!(logged <= sent, "{logged} logged, {sent} sent");
    // The restarted central goes on and the chain holds across the crash.
    let (_node, url) = central(&s.data);
    rt.block_on(
        client(&s, &url, &s.institution).check(&EligibilityCheckRequest {
            insurer_number: KENPO.into(),
            symbol: Some("7".into()),
            number: "1".into(),
            branch: Some("00".into()),
            birthdate: "19800101".into(),
            qualification_confirmation_date: None,
            limit_application_certificate_related_cons_flg: None,
        }),
    )
    .unwrap();
    audit_verifies(&s.data);
}

#[test]
fn central_killed_during_receipt_ingestion() {
    const RECEIPTS: u64 = 6_000;
    let s = setup();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let file = kakunin_seed::bench_receipts(RECEIPTS, 7);
    let (mut node, url) = central(&s.data);
    let upload = {
        let c = client(&s, &url, &s.admin);
        let file = file.clone();
        rt.spawn(async move { c.import_receipts(file).await })
    };
    std::thread::sleep(Duration::from_millis(600));
    node.kill9();
    let first = rt.block_on(upload).unwrap();
    let receipts = count(&s.data, "SELECT count(*) FROM receipts");
    assert!(
        receipts == 0 || receipts == RECEIPTS as i64,
        "a partial file is visible: {receipts} receipts"
    );
    if first.is_ok() {
        assert_eq!(receipts, RECEIPTS as i64, "an acknowledged file was lost");
    }
    // The same file again, after the restart: once, whatever happened before.
    let (_node, url) = central(&s.data);
    let retry = rt
        .block_on(client(&s, &url, &s.admin).import_receipts(file))
        .unwrap();
    assert!(retry.accepted, "{retry:?}");
    assert_eq!(
        count(&s.data, "SELECT count(*) FROM receipts"),
        RECEIPTS as i64,
        "no duplicate"
    );
    assert_eq!(count(&s.data, "SELECT count(*) FROM receipt_files"), 1);
    audit_verifies(&s.data);
}
