//! Scale-out: two `kakunin central` processes on one PostgreSQL primary and one streaming
//! replica, with the clients of `kakunin bench check` spread over both nodes round robin and no
//! balancer in front. Both nodes answer, both read eligibility from the replica, every answered
//! check is logged once in the primary, and the one access-log chain both nodes append to
//! verifies afterwards.

use kakunin_api::client::CentralClient;
use kakunin_testkit::pg::{binaries_or_skip, PgServer};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_kakunin");

fn kakunin(args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .env_remove("KAKUNIN_DATA")
        .env_remove("KAKUNIN_DATABASE_URL")
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

/// Starts `kakunin central` on a free port with `extra` flags; returns it with its URL.
fn central(data: &Path, extra: &[&str]) -> (Running, String) {
    let mut child = Command::new(BIN)
        .args(["central", "--data", data.to_str().unwrap()])
        .args(["--listen", "127.0.0.1:0"])
        .args(extra)
        .env_remove("KAKUNIN_DATABASE_URL")
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

/// Eligibility reads this node has sent to its replica so far.
async fn replica_reads(admin: &CentralClient) -> u64 {
    let status = admin.store_status().await.unwrap();
    status
        .nodes
        .iter()
        .filter(|n| n.role == "replica")
        .map(|n| n.reads)
        .sum()
}

#[test]
fn two_centrals_on_one_primary_and_replica_share_the_load_and_one_chain() {
    let Some(bins) = binaries_or_skip() else {
        return;
    };
    let primary = PgServer::start_primary(&bins);
    let primary_url = primary.create_database("kakunin");
    let replica = PgServer::start_replica(&primary, false);
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
    for (role, id, out) in [
        ("institution", "0110113719", &clinic),
        ("admin", "ops", &admin),
    ] {
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
    }
    let node_flags = [
        "--database",
        primary_url.as_str(),
        "--replica",
        replica_url.as_str(),
        "--checks-per-second",
        "0",
    ];
    let (_a, url_a) = central(&data, &node_flags);
    let (_b, url_b) = central(&data, &node_flags);
    let ca = data.join("ca.pem");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let admins: Vec<CentralClient> = [&url_a, &url_b]
        .iter()
        .map(|url| CentralClient::from_files(url, &ca, Some(&admin)).unwrap())
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
