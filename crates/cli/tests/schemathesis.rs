//! The central's API against its own OpenAPI document, with schemathesis (PyPI): generated
//! requests to every operation, as an operator, a clinic and an insurer (each with its client
//! certificate), over `kakunin demo`'s data. Every answer must be no 5xx, with a documented
//! status, a documented content type and a body that matches its schema. Acceptance of
//! generated "valid" bodies is not required: the schema cannot express our stricter rules
//! (check digits, dates that exist), and refusing those is right.
//!
//! Skips with a visible message when schemathesis (`st`) is not installed; fails then under
//! `KAKUNIN_REQUIRE_EXTERNAL=1`.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_kakunin");

fn ok(args: &[&str]) -> String {
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
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn schemathesis() -> Option<String> {
    for name in ["st", "schemathesis"] {
        let found = Command::new(name)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if found {
            return Some(name.to_string());
        }
    }
    None
}

/// Splits an identity PEM (certificate, then key) into the two files schemathesis wants.
fn split(identity: &Path, dir: &Path, name: &str) -> (String, String) {
    let pem = std::fs::read_to_string(identity).unwrap();
    let key_at = pem
        .find("-----BEGIN PRIVATE KEY")
        .expect("a key in the identity");
    let (crt, key) = (
        dir.join(format!("{name}.crt")),
        dir.join(format!("{name}.key")),
    );
    std::fs::write(&crt, &pem[..key_at]).unwrap();
    std::fs::write(&key, &pem[key_at..]).unwrap();
    (
        crt.to_str().unwrap().to_string(),
        key.to_str().unwrap().to_string(),
    )
}

struct Running(std::process::Child);
impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_api_answers_as_its_openapi_document_says() {
    let Some(st) = schemathesis() else {
        kakunin_testkit::external_missing("schemathesis (pip install schemathesis)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo");
    let d = data.to_str().unwrap();
    ok(&[
        "demo",
        "--data",
        d,
        "--people",
        "300",
        "--listen",
        "127.0.0.1:0",
        "--smoke",
    ]);
    let insurer = dir.path().join("insurer.pem");
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
        insurer.to_str().unwrap(),
    ]);
    let schema = dir.path().join("openapi.json");
    std::fs::write(&schema, ok(&["openapi"])).unwrap();
    let mut child = Command::new(BIN)
        .args([
            "central",
            "--data",
            d,
            "--listen",
            "127.0.0.1:0",
            "--checks-per-second",
            "0",
            "--views-per-second",
            "0",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let _central = Running(child);
    let url = line.trim().rsplit(' ').next().unwrap().to_string();
    assert!(url.starts_with("https://127.0.0.1:"), "{line}");
    let ca = data.join("ca.pem");
    for (name, identity) in [
        ("admin", data.join("identities/admin.pem")),
        ("institution", data.join("identities/institution.pem")),
        ("insurer", insurer.clone()),
    ] {
        let (crt, key) = split(&identity, dir.path(), name);
        let out = Command::new(&st)
            .current_dir(dir.path())
            .args([
                "run",
                schema.to_str().unwrap(),
                "--url",
                &url,
                "--tls-verify",
                ca.to_str().unwrap(),
                "--request-cert",
                &crt,
                "--request-cert-key",
                &key,
                "--checks",
                "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance",
                "--max-examples",
                "25",
                "--workers",
                "1",
                "--seed",
                "20261203",
                "--generation-database",
                "none",
            ])
            .output()
            .expect("run schemathesis");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "schemathesis as {name} found problems:\n{text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        println!(
            "schemathesis as {name}: {}",
            text.lines().last().unwrap_or("")
        );
    }
}
