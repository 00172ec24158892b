//! The central on PostgreSQL with a streaming replica: eligibility reads served by the replica,
//! a lagging replica skipped, and failover to a promoted replica without a restart and without
//! losing acknowledged writes or leaving a partial import.

use kakunin_api::client::CentralClient;
use kakunin_api::{EligibilityCheckRequest, StoreStatusInfo};
use kakunin_central::pki::{Ca, Role};
use kakunin_central::{load_tls, open_store, Central, StoreConfig};
use kakunin_domain::check_digit::complete;
use kakunin_testkit::pg::{binaries_or_skip, PgServer};
use std::time::{Duration, Instant};

const HEADER: &str = "insurer_number,symbol,number,branch,relationship,name,name_kana,sex,birthdate,qualification_date,disqualification_date,disqualification_reason,card_classification,copay_ratio,insurer_name";

fn roster(n: usize, prefix: &str) -> String {
    let mut s = String::from(HEADER);
    for i in 0..n {
        s.push_str(&format!("\n06139992,{prefix},{i},00,1,試験 太郎,ｼｹﾝ ﾀﾛｳ,1,19800101,20200401,,,01,030,架空健康保険組合"));
    }
    s
}

fn check(number: &str) -> EligibilityCheckRequest {
    EligibilityCheckRequest {
        insurer_number: "06139992".into(),
        symbol: Some("R".into()),
        number: number.into(),
        branch: Some("00".into()),
        birthdate: "19800101".into(),
        qualification_confirmation_date: Some("20261124".into()),
        limit_application_certificate_related_cons_flg: None,
    }
}

async fn wait_for(
    what: &str,
    admin: &CentralClient,
    mut ok: impl FnMut(&StoreStatusInfo) -> bool,
) -> StoreStatusInfo {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let s = admin.store_status().await.unwrap();
        if ok(&s) {
            return s;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {s:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn reads(s: &StoreStatusInfo, role: &str) -> u64 {
    s.nodes
        .iter()
        .filter(|n| n.role == role)
        .map(|n| n.reads)
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replica_reads_lag_bound_and_failover() {
    let Some(bins) = binaries_or_skip() else {
        return;
    };
    let mut primary = PgServer::start_primary(&bins);
    let primary_url = primary.create_database("kakunin");
    let replica = PgServer::start_replica(&primary, true);
    let replica_url = replica.url("kakunin");

    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::init(dir.path(), "test CA").unwrap();
    let pem = |kind: &str, id: &str| {
        ca.issue(&Role::parse(kind, id).unwrap())
            .unwrap()
            .into_bytes()
    };
    let config = StoreConfig {
        database: Some(primary_url),
        replicas: vec![replica_url],
        max_replica_lag: Some(Duration::from_millis(1000)),
        pool_size: None,
    };
    let store = open_store(dir.path(), &config).await.unwrap();
    let central = Central::bind_with(
        "127.0.0.1:0".parse().unwrap(),
        store.clone(),
        load_tls(dir.path()).unwrap(),
    )
    .await
    .unwrap();
    let url = central.url();
    let (_stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(central.serve(async {
        let _ = stopped.await;
    }));
    let ca_pem = ca.cert_pem().as_bytes().to_vec();
    let client = |id: &[u8]| CentralClient::new(&url, &ca_pem, Some(id)).unwrap();
    let insurer = client(&pem("insurer", "06139992"));
    let clinic = client(&pem("institution", &complete("131000001").unwrap()));
    let admin = client(&pem("admin", "ops"));

    // 1. Import through the central (primary); read eligibility from the replica.
    let report = insurer
        .import_roster(roster(50, "R").into_bytes(), false)
        .await
        .unwrap();
    assert!(report.accepted, "{:?}", report.errors);
    wait_for("the replica to catch up", &admin, |s| {
        s.nodes.iter().any(|n| n.role == "replica" && n.lag_ms == 0)
    })
    .await;
    let before = admin.store_status().await.unwrap();
    for i in 0..5 {
        assert_eq!(
            clinic.check(&check(&i.to_string())).await.unwrap().validity,
            "1"
        );
    }
    let after = admin.store_status().await.unwrap();
    assert_eq!(
        reads(&after, "replica") - reads(&before, "replica"),
        5,
        "reads served by the replica: {after:?}"
    );
    assert_eq!(reads(&after, "primary"), reads(&before, "primary"));
    // 2. A replica lagging beyond the bound is skipped.
    replica.psql("kakunin", "SELECT pg_wal_replay_pause()");
    insurer
        .import_roster(roster(60, "R").into_bytes(), false)
        .await
        .unwrap();
    wait_for("the lag to exceed the bound", &admin, |s| {
        s.nodes
            .iter()
            .any(|n| n.role == "replica" && n.lag_ms > 1000)
    })
    .await;
    let before = admin.store_status().await.unwrap();
    assert_eq!(
        clinic.check(&check("55")).await.unwrap().validity,
        "1",
        "row only on the primary"
    );
    let after = admin.store_status().await.unwrap();
    assert_eq!(
        reads(&after, "primary") - reads(&before, "primary"),
        1,
        "{after:?}"
    );
    assert_eq!(reads(&after, "replica"), reads(&before, "replica"));
    replica.psql("kakunin", "SELECT pg_wal_replay_resume()");
    wait_for("the replica to catch up again", &admin, |s| {
        s.nodes.iter().any(|n| n.role == "replica" && n.lag_ms == 0)
    })
    .await;
    // 3. Failover. Checks run until the primary dies; every acknowledged one is logged on the
    //    promoted replica. An import in flight when the primary dies is all or nothing.
    let acknowledged = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let runner = {
        let (clinic, acknowledged) = (clinic.clone(), acknowledged.clone());
        tokio::spawn(async move {
            for i in 0..100_000u64 {
                match clinic.check(&check(&(i % 60).to_string())).await {
                    Ok(_) => {
                        acknowledged.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                    Err(_) => return,
                }
            }
        })
    };
    let big = {
        let insurer = insurer.clone();
        tokio::spawn(async move {
            insurer
                .import_roster(roster(20_000, "BIG").into_bytes(), false)
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let logged_before_crash = store.counts().await.unwrap().access_log;
    primary.crash();
    runner.await.unwrap();
    let big = big.await.unwrap();
    replica.promote();
    wait_for("the central to follow the promoted replica", &admin, |s| {
        s.nodes
            .iter()
            .any(|n| n.role == "primary" && n.name.contains(&replica.port.to_string()))
    })
    .await;
    // No restart: checks and imports work against the new primary.
    let answer = clinic
        .check(&check("7"))
        .await
        .expect("check after failover");
    assert_eq!(answer.validity, "1");
    let counts = store.counts().await.unwrap();
    assert!(
        counts.access_log
            >= logged_before_crash.max(acknowledged.load(std::sync::atomic::Ordering::SeqCst)),
        "acknowledged access-log entries survive the failover: {} logged, {} acknowledged",
        counts.access_log,
        acknowledged.load(std::sync::atomic::Ordering::SeqCst)
    );
    let big_rows = roster(20_000, "BIG").lines().count() as u64 - 1;
    match big {
        Ok(r) if r.accepted => assert_eq!(
            counts.qualifications,
            60 + big_rows,
            "acknowledged import kept whole"
        ),
        _ => assert_eq!(
            counts.qualifications, 60,
            "a failed import left nothing behind"
        ),
    }
    let report = insurer
        .import_roster(roster(61, "R").into_bytes(), false)
        .await
        .unwrap();
    assert!(report.accepted && report.inserted == 1, "{report:?}");
}
