//! The command-line contract, run through the real binary: `ca init`, `ca issue`, `central`,
//! `import roster`, `check --json`, `seed`, `demo --smoke`.

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
    let mut child = Command::new(BIN)
        .args([
            "central",
            "--data",
            data.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ])
        .args(extra)
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
    ok(&[
        "ca",
        "issue",
        "--data",
        d,
        "--role",
        "insurer",
        "--id",
        "06139992",
        "--out",
        ins.to_str().unwrap(),
    ]);
    ok(&[
        "ca",
        "issue",
        "--data",
        d,
        "--role",
        "institution",
        "--id",
        "0110113719",
        "--out",
        cli.to_str().unwrap(),
    ]);
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
    let json = &out[out.find("\n{").expect("answer JSON")..];
    let answer: serde_json::Value = serde_json::from_str(json).unwrap();
    assert_eq!(answer["validity"], "1", "{out}");
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
    ok(&[
        "ca",
        "issue",
        "--data",
        d,
        "--role",
        "institution",
        "--id",
        "0110113719",
        "--out",
        clinic.to_str().unwrap(),
    ]);
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
