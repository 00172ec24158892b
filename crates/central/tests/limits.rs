//! Per-institution rate limits over HTTPS: a clinic past its burst gets 429 `rate_limited` with
//! `Retry-After`, and the refused check is not logged; another clinic at the same moment is
//! answered; views have their own bucket; operators and insurers are not limited by it.

use kakunin_api::client::{CentralClient, ClientError};
use kakunin_api::{EligibilityCheckRequest, MedicalInformationRequest};
use kakunin_central::limits::{Limits, Rate};
use kakunin_central::pki::{Ca, Role};
use kakunin_central::{load_tls, open_store, Central, StoreConfig};

fn check() -> EligibilityCheckRequest {
    EligibilityCheckRequest {
        insurer_number: "06139992".into(),
        symbol: Some("1".into()),
        number: "1".into(),
        branch: None,
        birthdate: "19800101".into(),
        qualification_confirmation_date: None,
        limit_application_certificate_related_cons_flg: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_from_one_clinic_is_refused_and_others_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::init(dir.path(), "test CA").unwrap();
    let issue = |kind: &str, id: &str| ca.issue(&Role::parse(kind, id).unwrap()).unwrap();
    let code = |body: &str| kakunin_domain::check_digit::complete(body).unwrap();
    let store = open_store(dir.path(), &StoreConfig::default())
        .await
        .unwrap();
    let central = Central::bind_with(
        "127.0.0.1:0".parse().unwrap(),
        store.clone(),
        load_tls(dir.path()).unwrap(),
    )
    .await
    .unwrap()
    .with_limits(Limits {
        checks: Some(Rate {
            per_second: 0.2,
            burst: 3.0,
        }),
        views: Some(Rate {
            per_second: 0.2,
            burst: 1.0,
        }),
    });
    let url = central.url();
    let (_stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(central.serve(async {
        let _ = stopped.await;
    }));
    let client = |pem: String| {
        CentralClient::new(&url, ca.cert_pem().as_bytes(), Some(pem.as_bytes())).unwrap()
    };
    let busy = client(issue("institution", &code("131000001")));
    let quiet = client(issue("institution", &code("131000002")));
    let logged = || async { store.recent_access(1000).await.unwrap().len() };

    for _ in 0..3 {
        busy.check(&check()).await.unwrap();
    }
    let before = logged().await;
    match busy.check(&check()).await {
        Err(ClientError::Api(e, 429)) => {
            assert_eq!(e.code, "rate_limited");
            assert!(e.message.contains("アクセスが集中しています"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(logged().await, before, "a refused check is not logged");
    // The other clinic, at the same moment.
    quiet
        .check(&check())
        .await
        .expect("another institution is answered");

    // The raw answer carries Retry-After.
    let raw = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca.cert_pem().as_bytes()).unwrap())
        .identity(
            reqwest::Identity::from_pem(issue("institution", &code("131000001")).as_bytes())
                .unwrap(),
        )
        .build()
        .unwrap();
    let r = raw
        .post(format!("{url}/v1/eligibility/check"))
        .json(&check())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    let wait: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=5).contains(&wait), "{wait}");

    // Views have their own bucket: the busy clinic's first view is not refused for its checks
    // (it is refused for having no check and consent today, which is the view's own answer).
    let view = MedicalInformationRequest {
        insurer_number: "06139992".into(),
        symbol: Some("1".into()),
        number: "1".into(),
        branch: None,
        birthdate: "19800101".into(),
        start_date: None,
        end_date: None,
    };
    match busy.medical_information("medications", &view).await {
        Err(ClientError::Api(e, _)) => assert_ne!(e.code, "rate_limited"),
        Ok(_) => {}
        Err(other) => panic!("{other}"),
    }
    match busy.medical_information("medications", &view).await {
        Err(ClientError::Api(e, 429)) => assert_eq!(e.code, "rate_limited"),
        other => panic!("the second view is past its burst of 1: {other:?}"),
    }
    // An operator is not an institution: not limited by institutions' buckets.
    let admin = client(issue("admin", "ops"));
    for _ in 0..5 {
        admin.institutions().await.unwrap();
    }
}
