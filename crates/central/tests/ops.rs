//! The operators' endpoints over HTTPS with client certificates: a month's usage in MHLW's form
//! from seeded access-log entries across institution types and months (exact figures, the
//! trend, kinds from the registry at read time), the institution registry with its refusals,
//! data freshness per insurer from real roster uploads, and every endpoint refused to anyone
//! but an operator. Every test runs on SQLite and on PostgreSQL.

use kakunin_api::client::{CentralClient, ClientError};
use kakunin_api::{
    CertificateRequest, EligibilityCheckRequest, InstitutionRequest, KindUsage, MonthTotals,
    RevocationRequest, UsageFigures,
};
use kakunin_central::pki::{Ca, Role};
use kakunin_central::{load_tls, open_store, Central, StoreConfig};
use kakunin_domain::check_digit::complete;
use kakunin_domain::{
    AccessBasis, AccessLogEntry, AccessPurpose, AccessResult, ConsentCategory, Date,
    InformationAccess, InstitutionCode, Timestamp, Validity,
};
use kakunin_store::Store;
use std::sync::Arc;

struct World {
    dir: tempfile::TempDir,
    url: String,
    ca_pem: Vec<u8>,
    store: Arc<dyn Store>,
    admin: Vec<u8>,
    institution: Vec<u8>,
    insurer: Vec<u8>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

#[derive(Clone, Copy)]
enum Backend {
    Sqlite,
    Postgres,
}

const KENPO: &str = "06139992";

fn code(body: &str) -> String {
    complete(body).unwrap()
}

async fn world(backend: Backend) -> Option<World> {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::init(dir.path(), "test CA").unwrap();
    let issue = |kind: &str, id: &str| {
        ca.issue(&Role::parse(kind, id).unwrap())
            .unwrap()
            .into_bytes()
    };
    let config = match backend {
        Backend::Sqlite => StoreConfig::default(),
        Backend::Postgres => StoreConfig {
            database: Some(kakunin_testkit::pg::shared_database("ops")?),
            ..Default::default()
        },
    };
    let store = open_store(dir.path(), &config).await.unwrap();
    let central = Central::bind_with(
        "127.0.0.1:0".parse().unwrap(),
        store.clone(),
        load_tls(dir.path()).unwrap(),
    )
    .await
    .unwrap()
    .with_ca(Ca::load(dir.path()).unwrap())
    .with_certificate_refresh(std::time::Duration::from_millis(100));
    let url = central.url();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(central.serve(async {
        let _ = rx.await;
    }));
    Some(World {
        url,
        ca_pem: ca.cert_pem().as_bytes().to_vec(),
        store,
        admin: issue("admin", "ops"),
        institution: issue("institution", &code("131000001")),
        insurer: issue("insurer", KENPO),
        dir,
        _stop: tx,
    })
}

impl World {
    fn client(&self, identity: Option<&[u8]>) -> CentralClient {
        CentralClient::new(&self.url, &self.ca_pem, identity).unwrap()
    }
    fn admin(&self) -> CentralClient {
        self.client(Some(&self.admin))
    }
}

macro_rules! on_both_backends {
    ($($name:ident),*) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(super::Backend::Sqlite).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name(super::Backend::Postgres).await;
            }
        }
    )*};
}

on_both_backends!(
    monthly_usage_in_mhlw_form,
    institutions_are_registered_and_checked,
    freshness_from_roster_uploads,
    only_operators_may_look,
    certificates_are_issued_listed_and_revoked,
    retried_writes_run_once
);

fn register(code: &str, name: &str, kind: &str, municipality: Option<&str>) -> InstitutionRequest {
    InstitutionRequest {
        code: code.into(),
        name: name.into(),
        kind: kind.into(),
        municipality: municipality.map(str::to_string),
    }
}

/// An access-log entry of `institution` at `at`.
fn entry(
    institution: &str,
    purpose: AccessPurpose,
    result: AccessResult,
    category: Option<ConsentCategory>,
    at: Timestamp,
) -> AccessLogEntry {
    AccessLogEntry {
        at,
        institution: InstitutionCode::parse(institution).unwrap(),
        purpose,
        qualification_ids: vec![],
        result,
        processing_code: "OK".into(),
        information: category.map(|category| InformationAccess {
            category,
            from: Date::parse("20200101").unwrap(),
            to: Date::parse("20250101").unwrap(),
            basis: AccessBasis::Consent,
        }),
    }
}

fn figures(f: [u64; 11]) -> UsageFigures {
    let [by_card, by_numbers, batch, refused_checks, emergency_checks, medications, treatments, surgeries, checkups, refused_views, card_registrations] =
        f;
    let checks = by_card + by_numbers;
    UsageFigures {
        checks,
        by_card,
        by_numbers,
        batch,
        card_share_percent: kakunin_central::ops::share(by_card, checks),
        refused_checks,
        emergency_checks,
        medications,
        treatments,
        surgeries,
        checkups,
        refused_views,
        card_registrations,
    }
}

fn kind(kind: &str, label: &str, institutions: u64, f: UsageFigures) -> KindUsage {
    KindUsage {
        kind: kind.into(),
        label: label.into(),
        institutions,
        figures: f,
    }
}

async fn monthly_usage_in_mhlw_form(backend: Backend) {
    let Some(w) = world(backend).await else {
        return;
    };
    let admin = w.admin();
    // Registered: a hospital (a 医科 code, only the registry can say 病院), a clinic and a
    // dental clinic. Not registered: a pharmacy and another 医科 code (医科診療所 by the code).
    let (hospital, clinic, dental) = (code("131000001"), code("131000002"), code("133000001"));
    let (pharmacy, unregistered) = (code("134000001"), code("131000003"));
    for r in [
        register(&hospital, "架空総合病院", "hospital", Some("13101")),
        register(&clinic, "架空内科クリニック", "medical_clinic", None),
        register(&dental, "架空歯科医院", "dental", None),
    ] {
        admin.register_institution(&r).await.unwrap();
    }

    let month = |m: &str| Timestamp::parse_jst_compact(&format!("{m}01000000")).unwrap();
    let at = |m: &str, seconds: i64| {
        Timestamp::from_unix_millis(month(m).unix_millis() + seconds * 1000)
    };
    use AccessPurpose::*;
    use ConsentCategory::*;
    let ok = || AccessResult::Answered(Validity::Valid);
    let shown = |n| AccessResult::Disclosed(n);
    let refused = |c: &str| AccessResult::Refused(c.into());
    let mut seeded: Vec<(usize, AccessLogEntry)> = vec![];
    let mut add = |n: usize, e: AccessLogEntry| seeded.push((n, e));
    // February 2025, from its first instant to its last.
    let feb = |s| at("202502", s);
    add(3, entry(&hospital, EligibilityByCard, ok(), None, feb(0)));
    add(
        1,
        entry(&hospital, EligibilityByNumbers, ok(), None, feb(10)),
    );
    add(
        1,
        entry(
            &hospital,
            EligibilityByCard,
            refused("certificate_revoked"),
            None,
            feb(20),
        ),
    );
    add(
        2,
        entry(
            &hospital,
            MedicalInformation,
            shown(4),
            Some(Medications),
            feb(30),
        ),
    );
    add(
        1,
        entry(
            &hospital,
            MedicalInformation,
            shown(1),
            Some(Surgeries),
            feb(40),
        ),
    );
    add(1, entry(&clinic, EligibilityByNumbers, ok(), None, feb(50)));
    add(
        1,
        entry(
            &clinic,
            EligibilityByNumbers,
            AccessResult::Answered(Validity::NotFound),
            None,
            feb(60),
        ),
    );
    add(4, entry(&clinic, EligibilityBatch, ok(), None, feb(70)));
    add(
        1,
        entry(
            &clinic,
            MedicalInformation,
            shown(0),
            Some(Treatments),
            feb(80),
        ),
    );
    add(
        1,
        entry(
            &clinic,
            MedicalInformation,
            shown(2),
            Some(Checkups),
            feb(90),
        ),
    );
    add(
        1,
        entry(
            &clinic,
            MedicalInformation,
            refused("consent_required"),
            Some(Medications),
            feb(100),
        ),
    );
    add(
        1,
        entry(
            &clinic,
            CardRegistration,
            AccessResult::Registered,
            None,
            feb(110),
        ),
    );
    add(
        1,
        entry(
            &clinic,
            ConsentRegistration,
            AccessResult::Registered,
            None,
            feb(120),
        ),
    );
    add(
        1,
        entry(
            &clinic,
            ReferenceRegistration,
            AccessResult::Registered,
            None,
            feb(130),
        ),
    );
    add(1, entry(&dental, EligibilityByCard, ok(), None, feb(140)));
    add(2, entry(&pharmacy, EligibilityByCard, ok(), None, feb(150)));
    add(
        2,
        entry(&pharmacy, EligibilityByNumbers, ok(), None, feb(160)),
    );
    add(
        3,
        entry(
            &pharmacy,
            MedicalInformation,
            shown(5),
            Some(Medications),
            feb(170),
        ),
    );
    add(1, entry(&pharmacy, EmergencyCheck, ok(), None, feb(180)));
    add(
        1,
        entry(
            &unregistered,
            EligibilityByNumbers,
            ok(),
            None,
            at("202503", 0).add(-1),
        ),
    );
    // January 2025, February 2024 (the trend's first month) and January 2024 (outside it).
    add(
        1,
        entry(&hospital, EligibilityByCard, ok(), None, at("202501", 5)),
    );
    add(
        1,
        entry(&pharmacy, EligibilityByNumbers, ok(), None, at("202501", 6)),
    );
    add(
        1,
        entry(&clinic, EligibilityByNumbers, ok(), None, at("202402", 0)),
    );
    add(
        5,
        entry(&clinic, EligibilityByNumbers, ok(), None, at("202401", 0)),
    );
    // March 2025's first instant belongs to March.
    add(
        1,
        entry(&clinic, EligibilityByCard, ok(), None, at("202503", 0)),
    );
    for (n, e) in seeded {
        for _ in 0..n {
            w.store.append_access(e.clone()).await.unwrap();
        }
    }

    //                      card numbers batch refC emerg meds treat surg chk refV reg
    let total = figures([6, 10, 4, 1, 1, 5, 2, 1, 1, 1, 1]);
    let by_kind = vec![
        kind(
            "hospital",
            "病院",
            1,
            figures([3, 1, 0, 1, 0, 2, 1, 1, 0, 0, 0]),
        ),
        kind(
            "medical_clinic",
            "医科診療所",
            2,
            figures([0, 7, 4, 0, 0, 0, 1, 0, 1, 1, 1]),
        ),
        kind(
            "dental",
            "歯科",
            1,
            figures([1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
        ),
        kind(
            "pharmacy",
            "薬局",
            1,
            figures([2, 2, 0, 0, 1, 3, 0, 0, 0, 0, 0]),
        ),
    ];
    let s = admin.statistics(Some("202502")).await.unwrap();
    assert_eq!(s.month, "202502");
    assert_eq!(
        (s.from.as_str(), s.to.as_str(), s.complete),
        (
            "2025-02-01T00:00:00.000+09:00",
            "2025-03-01T00:00:00.000+09:00",
            true
        )
    );
    assert_eq!(s.total, total);
    assert_eq!(s.total.card_share_percent.as_deref(), Some("37.50"));
    assert_eq!(s.by_kind, by_kind);
    let totals = |month: &str, card: u64, numbers: u64| MonthTotals {
        month: month.into(),
        checks: card + numbers,
        by_card: card,
        by_numbers: numbers,
        card_share_percent: kakunin_central::ops::share(card, card + numbers),
    };
    let mut trend = vec![totals("202402", 0, 1)];
    trend.extend((3..=12).map(|m| totals(&format!("2024{m:02}"), 0, 0)));
    trend.push(totals("202501", 1, 1));
    trend.push(totals("202502", 6, 10));
    assert_eq!(s.trend, trend);

    // January alone; the "yyyy-MM" of a month picker is folded by the client.
    let jan = admin.statistics(Some("2025-01")).await.unwrap();
    assert_eq!(jan.total, figures([1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]));
    assert_eq!(
        jan.by_kind
            .iter()
            .map(|k| k.institutions)
            .collect::<Vec<_>>(),
        vec![1, 0, 0, 1]
    );

    // Types come from the registry when read, even for finished (cached) months.
    admin
        .register_institution(&register(&unregistered, "架空記念病院", "hospital", None))
        .await
        .unwrap();
    let again = admin.statistics(Some("202502")).await.unwrap();
    assert_eq!(again.total, total);
    assert_eq!(
        (
            again.by_kind[0].institutions,
            again.by_kind[0].figures.by_numbers
        ),
        (2, 2)
    );
    assert_eq!(
        (
            again.by_kind[1].institutions,
            again.by_kind[1].figures.by_numbers
        ),
        (1, 6)
    );

    // The current month by default, with a check made through the API just now.
    let before = admin.statistics(None).await.unwrap();
    w.client(Some(&w.institution))
        .check(&EligibilityCheckRequest {
            insurer_number: KENPO.into(),
            symbol: None,
            number: "1".into(),
            branch: None,
            birthdate: "19800101".into(),
            qualification_confirmation_date: None,
            limit_application_certificate_related_cons_flg: None,
        })
        .await
        .unwrap();
    let now = admin.statistics(None).await.unwrap();
    assert!(!now.complete);
    assert_eq!(now.total.by_numbers, before.total.by_numbers + 1);
    assert_eq!(
        now.by_kind[0].figures.by_numbers,
        before.by_kind[0].figures.by_numbers + 1,
        "the checking institution is registered as a hospital"
    );
    assert_eq!(now.trend.len(), 13);
    assert_eq!(now.trend.last().unwrap().month, now.month);

    // Months that are not yyyyMM, or after this one, are refused.
    let next = {
        let m = &now.month;
        let (y, mo): (u32, u32) = (m[..4].parse().unwrap(), m[4..].parse().unwrap());
        if mo == 12 {
            format!("{}01", y + 1)
        } else {
            format!("{y}{:02}", mo + 1)
        }
    };
    for bad in ["202513", "25-02", "20250", next.as_str()] {
        match admin.statistics(Some(bad)).await {
            Err(ClientError::Api(e, 400)) => {
                assert_eq!(
                    (e.code.as_str(), e.field.as_deref()),
                    ("invalid_month", Some("month"))
                );
                assert!(e.message.contains("yyyyMM"), "{}", e.message);
            }
            other => panic!("{bad}: {other:?}"),
        }
    }
}

trait AddSeconds {
    fn add(self, seconds: i64) -> Self;
}
impl AddSeconds for Timestamp {
    fn add(self, seconds: i64) -> Self {
        Timestamp::from_unix_millis(self.unix_millis() + seconds * 1000)
    }
}

async fn institutions_are_registered_and_checked(backend: Backend) {
    let Some(w) = world(backend).await else {
        return;
    };
    let admin = w.admin();
    assert!(admin.institutions().await.unwrap().is_empty());
    let pharmacy = code("134000001");
    let clinic = code("131000001");
    let r = admin
        .register_institution(&register(
            &pharmacy,
            " 架空薬局 ",
            "pharmacy",
            Some("13102"),
        ))
        .await
        .unwrap();
    assert_eq!(
        (
            r.name.as_str(),
            r.kind_label.as_str(),
            r.prefecture.as_str()
        ),
        ("架空薬局", "薬局", "13")
    );
    admin
        .register_institution(&register(&clinic, "旧名クリニック", "medical_clinic", None))
        .await
        .unwrap();
    // A second registration of a code replaces the first.
    admin
        .register_institution(&register(&clinic, "新名病院", "hospital", Some("13101")))
        .await
        .unwrap();
    let list = admin.institutions().await.unwrap();
    assert_eq!(
        list.iter()
            .map(|i| (
                i.code.as_str(),
                i.name.as_str(),
                i.kind.as_str(),
                i.municipality.as_deref()
            ))
            .collect::<Vec<_>>(),
        vec![
            (clinic.as_str(), "新名病院", "hospital", Some("13101")),
            (pharmacy.as_str(), "架空薬局", "pharmacy", Some("13102")),
        ]
    );
    // Each refusal names its field, in Japanese, and changes nothing.
    let bad_digit = format!("{}{}", &clinic[..9], (clinic.as_bytes()[9] - b'0' + 1) % 10);
    for (r, code) in [
        (
            register(&bad_digit, "x", "hospital", None),
            "invalid_institution_code",
        ),
        (register(&clinic, "", "hospital", None), "invalid_name"),
        (register(&clinic, "x", "clinic", None), "invalid_kind"),
        (register(&clinic, "x", "pharmacy", None), "kind_mismatch"),
        (
            register(&clinic, "x", "hospital", Some("27100")),
            "invalid_municipality",
        ),
    ] {
        match admin.register_institution(&r).await {
            Err(ClientError::Api(e, 400)) => {
                assert_eq!(e.code, code);
                assert!(!e.message.is_ascii(), "{}", e.message);
            }
            other => panic!("{code}: {other:?}"),
        }
    }
    assert_eq!(admin.institutions().await.unwrap(), list);
}

const HEADER: &str = "insurer_number,symbol,number,branch,relationship,name,name_kana,sex,birthdate,qualification_date,disqualification_date,disqualification_reason,card_classification,copay_ratio,insurer_name";

async fn freshness_from_roster_uploads(backend: Backend) {
    let Some(w) = world(backend).await else {
        return;
    };
    let admin = w.admin();
    assert!(admin.freshness(30).await.unwrap().insurers.is_empty());
    let today = kakunin_central::service::now().jst_date();
    let ago = |days: i64| today.add_days(-days).unwrap().compact();
    // Three people who joined 2, 9 and 30 days ago; then the third leaves, 4 days ago.
    let row = |number: &str, name: &str, joined: &str, left: &str| {
        format!(
            "{KENPO},1,{number},00,1,{name},ｼｹﾝ,1,19800101,{joined},{left},{},01,030,架空健康保険組合\n",
            if left.is_empty() { "" } else { "03" }
        )
    };
    let first = format!(
        "{HEADER}\n{}{}{}",
        row("1", "試験 一郎", &ago(2), ""),
        row("2", "試験 二郎", &ago(9), ""),
        row("3", "試験 三郎", &ago(30), "")
    );
    let second = format!("{HEADER}\n{}", row("3", "試験 三郎", &ago(30), &ago(4)));
    let insurer = w.client(Some(&w.insurer));
    for csv in [&first, &second] {
        let report = insurer
            .import_roster(csv.as_bytes().to_vec(), false)
            .await
            .unwrap();
        assert!(report.accepted, "{:?}", report.errors);
    }
    let report = admin.freshness(30).await.unwrap();
    assert_eq!(report.days, 30);
    let [kenpo] = report.insurers.as_slice() else {
        panic!("{report:?}")
    };
    assert_eq!(kenpo.insurer_number, KENPO);
    assert!(kenpo.last_import_at.is_some());
    assert_eq!(kenpo.days_since_import, Some(0));
    assert_eq!((kenpo.imports, kenpo.rows), (2, 4));
    assert_eq!(
        (
            kenpo.acquired.sampled,
            kenpo.acquired.median_days,
            kenpo.acquired.p90_days
        ),
        (3, Some(9), Some(30))
    );
    assert_eq!(
        (
            kenpo.lost.sampled,
            kenpo.lost.median_days,
            kenpo.lost.p90_days
        ),
        (1, Some(4), Some(4))
    );
    for bad in ["0", "367", "x"] {
        let r = reqwest_get(&w, &format!("/v1/admin/freshness?days={bad}")).await;
        assert_eq!(r.0, 400, "{bad}");
        assert_eq!(r.1["code"], "invalid_days", "{bad}");
    }
}

/// A raw GET as the operator: (status, JSON body).
async fn reqwest_get(w: &World, path: &str) -> (u16, serde_json::Value) {
    let client = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&w.ca_pem).unwrap())
        .identity(reqwest::Identity::from_pem(&w.admin).unwrap())
        .build()
        .unwrap();
    let r = client.get(format!("{}{path}", w.url)).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap())
}

async fn only_operators_may_look(backend: Backend) {
    let Some(w) = world(backend).await else {
        return;
    };
    let pharmacy = code("134000001");
    for (who, status, code) in [
        (Some(w.institution.as_slice()), 403, "forbidden_role"),
        (Some(w.insurer.as_slice()), 403, "forbidden_role"),
        (None, 401, "certificate_required"),
    ] {
        let c = w.client(who);
        let results: Vec<Result<(), ClientError>> = vec![
            c.statistics(None).await.map(drop),
            c.statistics(Some("202501")).await.map(drop),
            c.freshness(30).await.map(drop),
            c.institutions().await.map(drop),
            c.register_institution(&register(&pharmacy, "乗っ取り薬局", "pharmacy", None))
                .await
                .map(drop),
            c.certificates().await.map(drop),
            c.issue_certificate(&CertificateRequest {
                kind: "admin".into(),
                subject: "intruder".into(),
            })
            .await
            .map(drop),
            c.revoke_certificate(
                "0a",
                &RevocationRequest {
                    reason: "unspecified".into(),
                },
            )
            .await
            .map(drop),
        ];
        for r in results {
            match r {
                Err(ClientError::Api(e, s)) => assert_eq!((s, e.code.as_str()), (status, code)),
                other => panic!("{other:?}"),
            }
        }
    }
    assert!(
        w.store.all_institutions().await.unwrap().is_empty(),
        "nothing registered"
    );
}

/// The API error of a failed call: (status, code).
fn refused<T: std::fmt::Debug>(r: Result<T, ClientError>) -> (u16, String) {
    match r {
        Err(ClientError::Api(e, s)) => (s, e.code),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// Waits (at most 10 s) until `check` holds.
async fn eventually<F: std::future::Future<Output = bool>>(
    what: &str,
    mut check: impl FnMut() -> F,
) {
    let until = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !check().await {
        assert!(std::time::Instant::now() < until, "{what}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// The certificate registry: an operator issues a clinic's certificate (bad subjects refused
/// first, nothing recorded), the clinic uses it; certificates issued elsewhere appear once
/// used; revoking checks the serial, the reason and that it is not the operator's own; a
/// revoked certificate is refused at once on this node, on a connection opened before, and on
/// a second node of the same store (at its start, and within its refresh when it was already
/// running); a second revocation says so and the first stands.
async fn certificates_are_issued_listed_and_revoked(backend: Backend) {
    let Some(w) = world(backend).await else {
        return;
    };
    let admin = w.admin();
    let clinic_code = code("131000009");
    for (kind, subject) in [
        ("institution", "1310000099"),
        ("institution", ""),
        ("insurer", "0613999"),
        ("doctor", "ops2"),
        ("admin", "a b"),
    ] {
        let r = admin
            .issue_certificate(&CertificateRequest {
                kind: kind.into(),
                subject: subject.into(),
            })
            .await;
        assert_eq!(
            refused(r),
            (400, "invalid_certificate_subject".into()),
            "{kind} {subject}"
        );
    }
    assert!(
        admin
            .certificates()
            .await
            .unwrap()
            .iter()
            .all(|c| c.issued_by.is_none()),
        "no refused subject recorded"
    );

    let issued = admin
        .issue_certificate(&CertificateRequest {
            kind: "institution".into(),
            subject: clinic_code.clone(),
        })
        .await
        .unwrap();
    let cert = &issued.certificate;
    assert_eq!(
        (
            cert.kind.as_str(),
            cert.kind_label.as_str(),
            cert.subject.as_str()
        ),
        ("institution", "医療機関", clinic_code.as_str())
    );
    assert_eq!(
        (cert.status.as_str(), cert.issued_by.as_deref()),
        ("valid", Some("admin:ops"))
    );
    assert!(issued.pem.contains("BEGIN CERTIFICATE") && issued.pem.contains("PRIVATE KEY"));
    let clinic = w.client(Some(issued.pem.as_bytes()));
    let check = EligibilityCheckRequest {
        insurer_number: KENPO.into(),
        symbol: Some("1".into()),
        number: "1".into(),
        branch: None,
        birthdate: "19800101".into(),
        qualification_confirmation_date: None,
        limit_application_certificate_related_cons_flg: None,
    };
    clinic
        .check(&check)
        .await
        .expect("the issued certificate works");

    // Certificates from `kakunin ca issue` (the operator's, the insurer's) are recorded once
    // used.
    w.client(Some(&w.insurer)).institutions().await.ok();
    eventually(
        "the operator's and insurer's certificates recorded on use",
        || async {
            let list = admin.certificates().await.unwrap();
            list.iter()
                .any(|c| c.kind == "admin" && c.subject == "ops" && c.issued_by.is_none())
                && list
                    .iter()
                    .any(|c| c.kind == "insurer" && c.subject == KENPO)
        },
    )
    .await;
    let list = admin.certificates().await.unwrap();
    assert_eq!(list.len(), 3, "{list:?}");
    assert!(
        list.windows(2)
            .all(|p| p[0].recorded_at >= p[1].recorded_at),
        "most recently recorded first: {list:?}"
    );
    assert!(list.iter().any(|c| c.serial == cert.serial));
    let own = list
        .iter()
        .find(|c| c.kind == "admin")
        .unwrap()
        .serial
        .clone();

    let revoke = |serial: String, reason: &str| {
        let admin = admin.clone();
        let reason = reason.to_string();
        async move {
            admin
                .revoke_certificate(&serial, &RevocationRequest { reason })
                .await
        }
    };
    assert_eq!(
        refused(revoke("xyz".into(), "superseded").await),
        (400, "invalid_serial".into())
    );
    assert_eq!(
        refused(revoke(cert.serial.clone(), "because").await),
        (400, "invalid_reason".into())
    );
    assert_eq!(
        refused(revoke("0badc0de".into(), "superseded").await),
        (404, "certificate_not_found".into())
    );
    assert_eq!(
        refused(revoke(own.clone(), "superseded").await),
        (409, "own_certificate".into())
    );
    clinic.check(&check).await.expect("not revoked yet");

    // A second node on the same store, running before the revocation.
    let second = Central::bind_with(
        "127.0.0.1:0".parse().unwrap(),
        w.store.clone(),
        load_tls(w.dir.path()).unwrap(),
    )
    .await
    .unwrap()
    .with_certificate_refresh(std::time::Duration::from_millis(100));
    let second_url = second.url();
    let (stop_second, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(second.serve(async {
        let _ = stopped.await;
    }));
    let at_second =
        CentralClient::new(&second_url, &w.ca_pem, Some(issued.pem.as_bytes())).unwrap();
    at_second
        .check(&check)
        .await
        .expect("the second node accepts it too");

    let revoked = revoke(cert.serial.to_uppercase(), "key_compromise")
        .await
        .unwrap();
    assert_eq!(
        (
            revoked.reason.as_str(),
            revoked.reason_label.as_str(),
            revoked.revoked_by.as_str()
        ),
        ("key_compromise", "秘密鍵の漏えい・紛失", "admin:ops")
    );
    // This node, on the clinic's connection opened before: refused at once.
    assert_eq!(
        refused(clinic.check(&check).await),
        (401, "certificate_revoked".into())
    );
    // The other node within its refresh, on its open connection too.
    eventually(
        "the second node refuses the revoked certificate",
        || async { matches!(at_second.check(&check).await, Err(ClientError::Api(_, 401))) },
    )
    .await;
    drop(stop_second);
    // A node started afterwards refuses it from its first request.
    let third = Central::bind_with(
        "127.0.0.1:0".parse().unwrap(),
        w.store.clone(),
        load_tls(w.dir.path()).unwrap(),
    )
    .await
    .unwrap();
    let third_url = third.url();
    let (_stop_third, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(third.serve(async {
        let _ = stopped.await;
    }));
    let at_third = CentralClient::new(&third_url, &w.ca_pem, Some(issued.pem.as_bytes())).unwrap();
    assert_eq!(
        refused(at_third.check(&check).await),
        (401, "certificate_revoked".into())
    );

    assert_eq!(
        refused(revoke(cert.serial.clone(), "superseded").await),
        (409, "already_revoked".into())
    );
    let listed = admin.certificates().await.unwrap();
    let entry = listed.iter().find(|c| c.serial == cert.serial).unwrap();
    assert_eq!(
        (entry.status.as_str(), entry.status_label.as_str()),
        ("revoked", "失効")
    );
    assert_eq!(
        entry.revocation.as_ref().map(|r| r.reason.as_str()),
        Some("key_compromise"),
        "the first revocation stands"
    );
    // The operator's own certificate still works.
    admin.certificates().await.unwrap();
}

/// `Idempotency-Key`: a roster upload retried with its key is answered from the first upload
/// (marked replayed) and recorded once; the key with another body is refused; a certificate
/// issued twice under one key is one certificate; a malformed key is refused before anything
/// runs; uploads without a key run each time.
async fn retried_writes_run_once(backend: Backend) {
    let Some(w) = world(backend).await else {
        return;
    };
    let csv = format!(
        "{HEADER}\n{KENPO},1,1,00,1,試験 一郎,ｼｹﾝ ｲﾁﾛｳ,1,19800101,20240401,,,01,030,架空健康保険組合\n"
    );
    let imports = || async {
        w.store
            .admin_events(100)
            .await
            .unwrap()
            .iter()
            .filter(|e| e.event.action == "roster_import")
            .count()
    };
    let insurer = w
        .client(Some(&w.insurer))
        .with_idempotency_key("upload-2026-12-03-1");
    let first = insurer
        .import_roster(csv.as_bytes().to_vec(), false)
        .await
        .unwrap();
    let again = insurer
        .import_roster(csv.as_bytes().to_vec(), false)
        .await
        .unwrap();
    assert!(first.accepted && first.inserted == 1, "{first:?}");
    assert_eq!(again, first, "the first answer, not a second import");
    assert_eq!(imports().await, 1);
    // The raw answer says it was replayed.
    let raw = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&w.ca_pem).unwrap())
        .identity(reqwest::Identity::from_pem(&w.insurer).unwrap())
        .build()
        .unwrap();
    let r = raw
        .post(format!("{}/v1/rosters", w.url))
        .header("idempotency-key", "upload-2026-12-03-1")
        .body(csv.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["idempotent-replayed"], "true");
    // The key with another file.
    let other = csv.replace("試験 一郎", "試験 一朗");
    match insurer
        .import_roster(other.as_bytes().to_vec(), false)
        .await
    {
        Err(ClientError::Api(e, 422)) => assert_eq!(e.code, "idempotency_key_reused"),
        other => panic!("{other:?}"),
    }
    for bad in ["", "鍵", &"k".repeat(101)] {
        let r = raw
            .post(format!("{}/v1/rosters", w.url))
            .header("idempotency-key", bad.as_bytes())
            .body(other.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{bad:?}");
    }
    assert_eq!(imports().await, 1, "nothing ran for the refused keys");
    // Without a key, each upload runs.
    let plain = w.client(Some(&w.insurer));
    plain
        .import_roster(csv.as_bytes().to_vec(), false)
        .await
        .unwrap();
    plain
        .import_roster(csv.as_bytes().to_vec(), false)
        .await
        .unwrap();
    assert_eq!(imports().await, 3);

    let admin = w.admin().with_idempotency_key("issue-1");
    let request = CertificateRequest {
        kind: "institution".into(),
        subject: code("131000005"),
    };
    admin.issue_certificate(&request).await.unwrap();
    // The retry learns it was done; the private key is not kept to be shown again.
    match admin.issue_certificate(&request).await {
        Err(ClientError::Api(e, 409)) => assert_eq!(e.code, "answer_not_kept"),
        other => panic!("{other:?}"),
    }
    let issued = w
        .admin()
        .certificates()
        .await
        .unwrap()
        .into_iter()
        .filter(|c| c.subject == request.subject)
        .count();
    assert_eq!(issued, 1);
}
