//! The central end to end over HTTPS with client certificates: hand-written rosters, validity
//! 1/2/4/5 as of chosen dates, the access log, and every bad input refused with nothing written.
//! Every test runs on SQLite and on PostgreSQL.

use kakunin_api::client::{CentralClient, ClientError};
use kakunin_api::{EligibilityCheckRequest, EligibilityCheckResponse, RosterImportReport};
use kakunin_central::pki::{Ca, Role};
use kakunin_central::{load_tls, open_store, Central, StoreConfig};
use kakunin_domain::check_digit::complete;
use kakunin_store::{Store, StoreCounts};
use std::sync::Arc;

struct World {
    _dir: tempfile::TempDir,
    url: String,
    /// `http://ADDR/metrics`.
    metrics_url: String,
    ca_pem: Vec<u8>,
    store: Arc<dyn Store>,
    institution: Vec<u8>,
    /// Another clinic of the same CA.
    institution2: Vec<u8>,
    insurer_kenpo: Vec<u8>,
    insurer_nhi: Vec<u8>,
    insurer_late: Vec<u8>,
    admin: Vec<u8>,
    foreign: Vec<u8>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

const KENPO: &str = "06139992";
fn nhi() -> String {
    complete("13101").unwrap()
}
fn late() -> String {
    complete("3913001").unwrap()
}
fn late_number() -> String {
    complete("1234567").unwrap()
}

#[derive(Clone, Copy)]
enum Backend {
    Sqlite,
    Postgres,
}

async fn world(backend: Backend) -> Option<World> {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::init(dir.path(), "test CA").unwrap();
    let issue = |kind: &str, id: &str| {
        ca.issue(&Role::parse(kind, id).unwrap())
            .unwrap()
            .into_bytes()
    };
    let other_dir = tempfile::tempdir().unwrap();
    let other = Ca::init(other_dir.path(), "someone else").unwrap();
    let foreign = other
        .issue(&Role::parse("institution", &complete("131000001").unwrap()).unwrap())
        .unwrap()
        .into_bytes();
    let config = match backend {
        Backend::Sqlite => StoreConfig::default(),
        Backend::Postgres => StoreConfig {
            database: Some(kakunin_testkit::pg::shared_database("api")?),
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
    .with_metrics("127.0.0.1:0".parse().unwrap())
    .await
    .unwrap();
    let url = central.url();
    let metrics_url = format!("http://{}/metrics", central.metrics_addr().unwrap());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(central.serve(async {
        let _ = rx.await;
    }));
    Some(World {
        url,
        metrics_url,
        ca_pem: ca.cert_pem().as_bytes().to_vec(),
        store,
        institution: issue("institution", &complete("131000001").unwrap()),
        institution2: issue("institution", &complete("131000002").unwrap()),
        insurer_kenpo: issue("insurer", KENPO),
        insurer_nhi: issue("insurer", &nhi()),
        insurer_late: issue("insurer", &late()),
        admin: issue("admin", "ops"),
        foreign,
        _dir: dir,
        _stop: tx,
    })
}

impl World {
    fn client(&self, identity: Option<&[u8]>) -> CentralClient {
        CentralClient::new(&self.url, &self.ca_pem, identity).unwrap()
    }
    async fn counts(&self) -> StoreCounts {
        self.store.counts().await.unwrap()
    }
    async fn import(&self, identity: &[u8], csv: &str) -> RosterImportReport {
        self.client(Some(identity))
            .import_roster(csv.as_bytes().to_vec(), false)
            .await
            .unwrap()
    }
    async fn check(
        &self,
        insurer: &str,
        symbol: Option<&str>,
        number: &str,
        branch: Option<&str>,
        birth: &str,
        on: &str,
    ) -> EligibilityCheckResponse {
        self.client(Some(&self.institution))
            .check(&req(insurer, symbol, number, branch, birth, on))
            .await
            .unwrap()
    }
}

fn req(
    insurer: &str,
    symbol: Option<&str>,
    number: &str,
    branch: Option<&str>,
    birth: &str,
    on: &str,
) -> EligibilityCheckRequest {
    EligibilityCheckRequest {
        insurer_number: insurer.into(),
        symbol: symbol.map(Into::into),
        number: number.into(),
        branch: branch.map(Into::into),
        birthdate: birth.into(),
        qualification_confirmation_date: Some(on.into()),
        limit_application_certificate_related_cons_flg: None,
    }
}

/// (what, insurer, symbol, number, branch, birth, on, validity, results)
type Case<'a> = (
    &'a str,
    &'a str,
    Option<&'a str>,
    String,
    Option<&'a str>,
    &'a str,
    &'a str,
    &'a str,
    usize,
);

const HEADER: &str = "insurer_number,symbol,number,branch,relationship,name,name_kana,sex,birthdate,qualification_date,disqualification_date,disqualification_reason,card_classification,copay_ratio,insurer_name";

fn kenpo_roster() -> String {
    format!(
        "{HEADER}\n\
         06139992,１２３,4567,00,1,試験 太郎,ｼｹﾝ ﾀﾛｳ,1,19800101,20200401,,,01,030,架空健康保険組合\n\
         06139992,１２３,4567,01,2,試験 双葉,ｼｹﾝ ﾌﾀﾊﾞ,2,20150505,20200401,,,01,,架空健康保険組合\n\
         06139992,１２３,4567,02,2,試験 双樹,ｼｹﾝ ﾌﾀｷ,1,20150505,20200401,,,01,,架空健康保険組合\n\
         06139992,88,1001,00,1,見本 次郎,ﾐﾎﾝ ｼﾞﾛｳ,1,19750720,20150401,20250401,03,01,030,架空健康保険組合\n"
    )
}

fn nhi_roster() -> String {
    format!(
        "{HEADER}\n  {},国01,7001,00,1,国保 花子,コクホ ハナコ,2,19900303,20250401,,,01,,架空区国民健康保険\n",
        nhi()
    )
}

fn late_roster() -> String {
    format!("{HEADER}\n{},,{},,1,後期 一郎,ｺｳｷ ｲﾁﾛｳ,1,19450101,20200101,,,01,010,架空後期高齢者医療広域連合\n", late(), late_number())
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
    hand_written_rosters_answer_validity_as_of_dates,
    bad_inputs_are_refused_and_write_nothing,
    reference_numbers_come_back_in_results,
    batch_inquiries_answer_later,
    metrics_count_without_identifiers
);

async fn hand_written_rosters_answer_validity_as_of_dates(backend: Backend) {
    let Some(w) = world(backend).await else {
        return;
    };
    for (id, csv) in [
        (&w.insurer_kenpo, kenpo_roster()),
        (&w.insurer_nhi, nhi_roster()),
        (&w.insurer_late, late_roster()),
    ] {
        let r = w.import(id, &csv).await;
        assert!(r.accepted, "{:?}", r.errors);
    }
    assert_eq!(w.counts().await.qualifications, 6);

    // (what, insurer, symbol, number, branch, birth, on, validity, results)
    let nhi_padded = format!("  {}", nhi());
    let nhi_zero = format!("00{}", nhi());
    let (nhi, late) = (nhi(), late());
    let cases: Vec<Case> = vec![
        (
            "insured, half-width symbol for full-width roster",
            KENPO,
            Some("123"),
            "4567".into(),
            Some("00"),
            "19800101",
            "20261124",
            "1",
            1,
        ),
        (
            "full-width symbol typed",
            KENPO,
            Some("１２３"),
            "4567".into(),
            Some("00"),
            "19800101",
            "20261124",
            "1",
            1,
        ),
        (
            "before acquisition",
            KENPO,
            Some("123"),
            "4567".into(),
            Some("00"),
            "19800101",
            "20200331",
            "2",
            1,
        ),
        (
            "lost qualification",
            KENPO,
            Some("88"),
            "1001".into(),
            Some("00"),
            "19750720",
            "20261124",
            "2",
            1,
        ),
        (
            "last covered day",
            KENPO,
            Some("88"),
            "1001".into(),
            Some("00"),
            "19750720",
            "20250331",
            "1",
            1,
        ),
        (
            "wrong birth date",
            KENPO,
            Some("123"),
            "4567".into(),
            Some("00"),
            "19800102",
            "20261124",
            "4",
            0,
        ),
        (
            "unknown number",
            KENPO,
            Some("123"),
            "9999".into(),
            None,
            "19800101",
            "20261124",
            "4",
            0,
        ),
        (
            "twins, branch omitted",
            KENPO,
            Some("123"),
            "4567".into(),
            None,
            "20150505",
            "20261124",
            "5",
            2,
        ),
        (
            "one twin by branch",
            KENPO,
            Some("123"),
            "4567".into(),
            Some("02"),
            "20150505",
            "20261124",
            "1",
            1,
        ),
        (
            "6-digit 国保",
            &nhi,
            Some("国01"),
            "7001".into(),
            Some("00"),
            "19900303",
            "20261124",
            "1",
            1,
        ),
        (
            "国保 space-padded",
            &nhi_padded,
            Some("国０１"),
            "7001".into(),
            Some("00"),
            "19900303",
            "20261124",
            "1",
            1,
        ),
        (
            "国保 zero-padded",
            &nhi_zero,
            Some("国01"),
            "7001".into(),
            Some("00"),
            "19900303",
            "20261124",
            "1",
            1,
        ),
        (
            "後期高齢 without symbol",
            &late,
            None,
            late_number(),
            None,
            "19450101",
            "20261124",
            "1",
            1,
        ),
    ];
    let mut logged = w.counts().await.access_log;
    for (what, insurer, symbol, number, branch, birth, on, validity, n) in cases {
        let a = w.check(insurer, symbol, &number, branch, birth, on).await;
        assert_eq!(
            (a.validity.as_str(), a.results.len()),
            (validity, n),
            "{what}: {a:?}"
        );
        assert_eq!(a.qualification_confirmation_date, on);
        assert!(!a.processing_result.message.is_empty() && !a.processing_result.detail.is_empty());
        let now = w.counts().await.access_log;
        assert_eq!(now, logged + 1, "{what}: exactly one access-log entry");
        logged = now;
    }

    // Fields of the answer.
    let a = w
        .check(
            KENPO,
            Some("123"),
            "4567",
            Some("01"),
            "20150505",
            "20261124",
        )
        .await;
    let r = &a.results[0];
    assert_eq!(
        (r.name.as_str(), r.name_kana.as_str()),
        ("試験\u{3000}双葉", "ｼｹﾝ ﾌﾀﾊﾞ")
    );
    assert_eq!(
        (
            r.symbol.as_deref(),
            r.branch.as_deref(),
            r.relationship.as_str()
        ),
        (Some("１２３"), Some("01"), "2")
    );
    assert_eq!(r.copay_ratio, "030", "school child: 3割");
    let a = w
        .check(&late, None, &late_number(), None, "19450101", "20261124")
        .await;
    assert_eq!(a.results[0].copay_ratio, "010");
    assert_eq!(a.results[0].symbol, None);
    let a = w
        .check(
            KENPO,
            Some("88"),
            "1001",
            Some("00"),
            "19750720",
            "20261124",
        )
        .await;
    assert_eq!(a.processing_result.code, "disqualified");
    assert_eq!(a.results[0].disqualification_reason.as_deref(), Some("03"));

    // The admin sees the entries, newest first, with no names.
    let log = w.client(Some(&w.admin)).access_log(5).await.unwrap();
    assert_eq!(log.len(), 5);
    assert!(log[0].id > log[1].id);
    assert_eq!(log[0].institution_code, complete("131000001").unwrap());
    assert_eq!(log[0].result, "validity:2");

    // Re-importing the same file changes nothing.
    let before = w.counts().await;
    let r = w.import(&w.insurer_kenpo, &kenpo_roster()).await;
    assert!(r.accepted);
    assert_eq!((r.inserted, r.updated, r.unchanged), (0, 0, 4));
    let after = w.counts().await;
    assert_eq!(
        (after.qualifications, after.versions),
        (before.qualifications, before.versions)
    );

    // A loss arriving later is a new version; the past stays.
    let lost = kenpo_roster().replace(
        "19800101,20200401,,,01,030",
        "19800101,20200401,20261201,03,01,030",
    );
    let r = w.import(&w.insurer_kenpo, &lost).await;
    assert_eq!((r.updated, r.unchanged), (1, 3));
    assert_eq!(
        w.check(
            KENPO,
            Some("123"),
            "4567",
            Some("00"),
            "19800101",
            "20261130"
        )
        .await
        .validity,
        "1"
    );
    assert_eq!(
        w.check(
            KENPO,
            Some("123"),
            "4567",
            Some("00"),
            "19800101",
            "20261201"
        )
        .await
        .validity,
        "2"
    );
}

async fn bad_inputs_are_refused_and_write_nothing(backend: Backend) {
    let Some(w) = world(backend).await else {
        return;
    };
    assert!(w.import(&w.insurer_kenpo, &kenpo_roster()).await.accepted);
    let before = w.counts().await;

    // Bad rosters: each refused with the line/field or reason, nothing written.
    let good_row =
        "06139992,１２３,4567,03,2,試験 三郎,ｼｹﾝ ｻﾌﾞﾛｳ,1,20180101,20200401,,,01,,架空健康保険組合";
    let cases: Vec<(&str, Vec<u8>, u64, &str)> = vec![
        ("empty", vec![], 0, "empty"),
        (
            "binary",
            vec![0x50, 0x4B, 0x03, 0x04, 0x00, 0x00, 0xFF],
            0,
            "binary",
        ),
        (
            "unknown encoding",
            vec![b'a', 0xFF, 0xFE, 0xFD, b'\n'],
            0,
            "encoding",
        ),
        (
            "truncated",
            format!("{HEADER}\n06139992,１２３,4567,03,2,試験").into_bytes(),
            2,
            "field_count",
        ),
        (
            "missing column",
            format!("{}\n{good_row}", HEADER.replace(",sex", "")).into_bytes(),
            1,
            "missing_column",
        ),
        (
            "wrong check digit",
            format!("{HEADER}\n{}", good_row.replacen("06139992", "06139993", 1)).into_bytes(),
            2,
            "check_digit",
        ),
        (
            "impossible date",
            format!("{HEADER}\n{}", good_row.replacen("20180101", "20180231", 1)).into_bytes(),
            2,
            "date",
        ),
        (
            "duplicate key",
            format!("{HEADER}\n{good_row}\n{good_row}").into_bytes(),
            3,
            "duplicate_key",
        ),
        (
            "another insurer's numbers",
            format!("{HEADER}\n{}", nhi_roster().lines().nth(1).unwrap()).into_bytes(),
            2,
            "not_your_insurer",
        ),
        (
            "one bad row among good",
            format!(
                "{HEADER}\n{good_row}\n{}",
                good_row.replacen(",03,2,", ",04,7,", 1)
            )
            .into_bytes(),
            3,
            "code",
        ),
    ];
    for (what, csv, line, code) in cases {
        let r = w
            .client(Some(&w.insurer_kenpo))
            .import_roster(csv, false)
            .await
            .unwrap();
        assert!(!r.accepted, "{what}");
        assert!(
            r.errors.iter().any(|e| e.line == line && e.code == code),
            "{what}: {:?}",
            r.errors
        );
        assert_eq!(w.counts().await, before, "{what}: nothing written");
    }

    // Partial mode writes the good rows only, and says which were left out.
    let csv = format!(
        "{HEADER}\n{good_row}\n{}",
        good_row.replacen(",03,2,", ",04,7,", 1)
    );
    let r = w
        .client(Some(&w.insurer_kenpo))
        .import_roster(csv.into_bytes(), true)
        .await
        .unwrap();
    assert!(r.accepted);
    assert_eq!((r.inserted, r.skipped), (1, 1));
    let before = w.counts().await;

    // A well-formed check, sent with the wrong certificates below.
    let valid = req(
        KENPO,
        Some("123"),
        "4567",
        Some("00"),
        "19800101",
        "20261124",
    );

    // An institution may not import; an insurer may not check.
    let err = w
        .client(Some(&w.institution))
        .import_roster(kenpo_roster().into_bytes(), false)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ClientError::Api(ref e, 403) if e.code == "forbidden_role"),
        "{err}"
    );
    let err = w
        .client(Some(&w.insurer_kenpo))
        .check(&valid)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ClientError::Api(ref e, 403) if e.code == "forbidden_role"),
        "{err}"
    );

    // A certificate from another CA, and no certificate at all.
    let err = w.client(Some(&w.foreign)).check(&valid).await.unwrap_err();
    assert!(
        matches!(err, ClientError::Api(ref e, 401) if e.code == "certificate_untrusted"),
        "{err}"
    );
    let anonymous = w.client(None);
    assert_eq!(anonymous.health().await.unwrap().status, "ok");
    let err = anonymous.check(&valid).await.unwrap_err();
    assert!(
        matches!(err, ClientError::Api(ref e, 401) if e.code == "certificate_required"),
        "{err}"
    );

    // Malformed checks name the field and are not logged as reads.
    for (r, field) in [
        (
            req(
                "06139993",
                Some("123"),
                "4567",
                None,
                "19800101",
                "20261124",
            ),
            "insurer_number",
        ),
        (
            req(
                KENPO,
                Some("123"),
                "4567",
                Some("1x"),
                "19800101",
                "20261124",
            ),
            "branch",
        ),
        (
            req(KENPO, Some("123"), "4567", None, "19800231", "20261124"),
            "birthdate",
        ),
        (
            req(KENPO, Some("123"), "", None, "19800101", "20261124"),
            "number",
        ),
        (
            req(
                &late(),
                Some("1"),
                &late_number(),
                None,
                "19450101",
                "20261124",
            ),
            "symbol",
        ),
    ] {
        let err = w.client(Some(&w.institution)).check(&r).await.unwrap_err();
        match err {
            ClientError::Api(e, 400) => assert_eq!(e.field.as_deref(), Some(field)),
            other => panic!("{field}: {other}"),
        }
    }
    assert_eq!(w.counts().await, before, "refusals write nothing");
}

fn reference(
    number: &str,
    branch: Option<&str>,
    birth: &str,
    reference: &str,
) -> kakunin_api::ReferenceNumberRequest {
    kakunin_api::ReferenceNumberRequest {
        insurer_number: KENPO.into(),
        symbol: Some("123".into()),
        number: number.into(),
        branch: branch.map(Into::into),
        birthdate: birth.into(),
        reference_number: reference.into(),
    }
}

fn api_error(e: ClientError) -> (u16, kakunin_api::ApiError) {
    match e {
        ClientError::Api(e, status) => (status, e),
        other => panic!("expected an API error, got {other}"),
    }
}

async fn reference_numbers_come_back_in_results(backend: Backend) {
    let Some(w) = world(backend).await else {
        return;
    };
    assert!(w.import(&w.insurer_kenpo, &kenpo_roster()).await.accepted);
    let clinic = w.client(Some(&w.institution));
    let today = kakunin_central::service::now().jst_date().compact();

    // Registered, then returned in this clinic's checks of the person only.
    let r = clinic
        .register_reference_number(&reference("4567", Some("00"), "19800101", " 診-0001 "))
        .await
        .unwrap();
    assert_eq!(r.reference_number, "診-0001");
    assert_eq!(r.replaced, None);
    assert_eq!(r.processing_result.status, "1");
    let a = w
        .check(
            KENPO,
            Some("１２３"),
            "4567",
            Some("00"),
            "19800101",
            &today,
        )
        .await;
    assert_eq!(a.results[0].reference_number.as_deref(), Some("診-0001"));
    let child = w
        .check(KENPO, Some("123"), "4567", Some("01"), "20150505", &today)
        .await;
    assert_eq!(child.results[0].reference_number, None, "another person");
    let other = w
        .client(Some(&w.institution2))
        .check(&req(
            KENPO,
            Some("123"),
            "4567",
            Some("00"),
            "19800101",
            &today,
        ))
        .await
        .unwrap();
    assert_eq!(other.results[0].reference_number, None, "another clinic");

    // Registering again replaces it and says what it replaced.
    let r = clinic
        .register_reference_number(&reference("4567", Some("00"), "19800101", "0002"))
        .await
        .unwrap();
    assert_eq!(r.replaced.as_deref(), Some("診-0001"));
    let a = w
        .check(KENPO, Some("123"), "4567", Some("00"), "19800101", &today)
        .await;
    assert_eq!(a.results[0].reference_number.as_deref(), Some("0002"));

    // Refusals: (what, request, HTTP status, code, logged)
    let long = "1".repeat(51);
    let cases = [
        (
            "unknown person",
            reference("4567", Some("00"), "19800102", "9"),
            404,
            "qualification_not_found",
            true,
        ),
        (
            "two children, no branch",
            reference("4567", None, "20150505", "9"),
            409,
            "multiple_matches",
            true,
        ),
        (
            "empty number",
            reference("4567", Some("00"), "19800101", "  "),
            400,
            "invalid_reference_number",
            false,
        ),
        (
            "too long",
            reference("4567", Some("00"), "19800101", &long),
            400,
            "invalid_reference_number",
            false,
        ),
        (
            "control character",
            reference("4567", Some("00"), "19800101", "12\n34"),
            400,
            "invalid_reference_number",
            false,
        ),
        (
            "bad birth date",
            reference("4567", Some("00"), "19800231", "9"),
            400,
            "invalid_birthdate",
            false,
        ),
    ];
    for (what, request, status, code, logged) in cases {
        let before = w.counts().await.access_log;
        let (got, e) = api_error(
            clinic
                .register_reference_number(&request)
                .await
                .unwrap_err(),
        );
        assert_eq!((got, e.code.as_str()), (status, code), "{what}: {e:?}");
        assert!(!e.message.is_empty(), "{what}: a message for staff");
        let after = w.counts().await.access_log;
        assert_eq!(
            after - before,
            u64::from(logged),
            "{what}: logged once when a person was looked up"
        );
    }
    let a = w
        .check(KENPO, Some("123"), "4567", Some("00"), "19800101", &today)
        .await;
    assert_eq!(
        a.results[0].reference_number.as_deref(),
        Some("0002"),
        "refusals changed nothing"
    );

    // Each registration is in the person's access log.
    let log = w.client(Some(&w.admin)).access_log(50).await.unwrap();
    let registrations = log
        .iter()
        .filter(|e| e.purpose == "reference_registration")
        .count();
    assert_eq!(registrations, 4, "2 registrations and 2 refusals");
}

async fn wait_done(client: &CentralClient, reception: &str) -> kakunin_api::BatchInquiryResponse {
    for _ in 0..300 {
        let b = client.batch_inquiry(reception).await.unwrap();
        if b.summary.status == "done" {
            return b;
        }
        assert_eq!(b.summary.status, "processing");
        assert!(b.units.is_empty(), "no units while processing");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("batch {reception} not done in 15 s");
}

async fn batch_inquiries_answer_later(backend: Backend) {
    let Some(w) = world(backend).await else {
        return;
    };
    assert!(w.import(&w.insurer_kenpo, &kenpo_roster()).await.accepted);
    let clinic = w.client(Some(&w.institution));
    clinic
        .register_reference_number(&reference("4567", Some("00"), "19800101", "A-17"))
        .await
        .unwrap();
    let tomorrow = kakunin_central::service::now()
        .jst_date()
        .add_days(1)
        .unwrap()
        .compact();
    let item = |number: &str, branch: &str, birth: &str| EligibilityCheckRequest {
        qualification_confirmation_date: None,
        ..req(KENPO, Some("123"), number, Some(branch), birth, "")
    };
    let mut own_date = item("4567", "01", "20150505");
    own_date.qualification_confirmation_date = Some("20200331".into());
    let request = kakunin_api::BatchInquiryRequest {
        qualification_confirmation_date: Some(tomorrow.clone()),
        items: vec![
            item("4567", "00", "19800101"),
            item("9999", "00", "19800101"),
            item("4567", "00", "1980-01-01"),
            own_date,
            EligibilityCheckRequest {
                symbol: Some("88".into()),
                ..item("1001", "00", "19750720")
            },
        ],
    };
    let before = w.counts().await.access_log;
    let accepted = clinic.submit_batch_inquiry(&request).await.unwrap();
    assert_eq!(accepted.status, "processing");
    assert_eq!(accepted.items, 5);
    let done = wait_done(&clinic, &accepted.reception_number).await;
    assert_eq!(
        (done.summary.items, done.summary.normal, done.summary.errors),
        (5, 4, 1)
    );
    assert!(done.summary.finished_at.is_some());
    // (index, ProcessingResultStatus, validity, reference number)
    let got: Vec<_> = done
        .units
        .iter()
        .map(|u| {
            (
                u.index,
                u.processing_result.status.as_str(),
                u.response.as_ref().map(|r| r.validity.as_str()),
                u.response
                    .as_ref()
                    .and_then(|r| r.results.first())
                    .and_then(|q| q.reference_number.as_deref()),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (1, "1", Some("1"), Some("A-17")),
            (2, "1", Some("4"), None),
            (3, "2", None, None),
            (4, "1", Some("2"), None),
            (5, "1", Some("2"), None),
        ]
    );
    let first = done.units[0].response.as_ref().unwrap();
    assert_eq!(
        first.qualification_confirmation_date, tomorrow,
        "the batch's date"
    );
    assert_eq!(
        done.units[0]
            .request
            .qualification_confirmation_date
            .as_deref(),
        Some(tomorrow.as_str())
    );
    assert_eq!(
        done.units[3]
            .response
            .as_ref()
            .unwrap()
            .qualification_confirmation_date,
        "20200331",
        "an item's own date wins"
    );
    let bad = done.units[2].error.as_ref().unwrap();
    assert_eq!(bad.code, "invalid_birthdate");
    assert_eq!(done.units[2].processing_result.code, "invalid_birthdate");
    // Every well-formed item is one access-log entry of its own.
    assert_eq!(w.counts().await.access_log - before, 4);
    let log = w.client(Some(&w.admin)).access_log(10).await.unwrap();
    assert_eq!(
        log.iter()
            .filter(|e| e.purpose == "eligibility_batch")
            .count(),
        4
    );

    // Listed for this clinic, not for another, whose fetch is refused like an unknown number.
    let list = clinic.batch_inquiries().await.unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].reception_number, accepted.reception_number);
    assert_eq!(list[0].status, "done");
    let other = w.client(Some(&w.institution2));
    assert!(other.batch_inquiries().await.unwrap().is_empty());
    for number in [
        accepted.reception_number.as_str(),
        "9999999999",
        "12ab",
        "0",
    ] {
        let (status, e) = api_error(other.batch_inquiry(number).await.unwrap_err());
        assert_eq!(
            (status, e.code.as_str()),
            (404, "batch_not_found"),
            "{number}"
        );
    }

    // Bad uploads are refused whole and store nothing.
    let too_many = kakunin_api::BatchInquiryRequest {
        qualification_confirmation_date: None,
        items: vec![item("4567", "00", "19800101"); kakunin_api::BATCH_MAX_ITEMS + 1],
    };
    let bad_date = kakunin_api::BatchInquiryRequest {
        qualification_confirmation_date: Some("2026-12-04".into()),
        items: vec![item("4567", "00", "19800101")],
    };
    let empty = kakunin_api::BatchInquiryRequest {
        qualification_confirmation_date: None,
        items: vec![],
    };
    for (request, code) in [
        (too_many, "batch_too_large"),
        (bad_date, "invalid_qualification_confirmation_date"),
        (empty, "batch_empty"),
    ] {
        let (status, e) = api_error(clinic.submit_batch_inquiry(&request).await.unwrap_err());
        assert_eq!((status, e.code.as_str()), (400, code));
    }
    assert_eq!(clinic.batch_inquiries().await.unwrap().len(), 1);

    // A batch left unfinished (its node stopped) is resumed by the next central to start.
    let institution =
        kakunin_domain::InstitutionCode::parse(&complete("131000001").unwrap()).unwrap();
    let id = w
        .store
        .create_batch_inquiry(kakunin_store::NewBatchInquiry {
            institution,
            submitted_at: kakunin_central::service::now(),
            items: 1,
            request_json: serde_json::to_string(&kakunin_api::BatchInquiryRequest {
                qualification_confirmation_date: None,
                items: vec![item("4567", "00", "19800101")],
            })
            .unwrap(),
        })
        .await
        .unwrap();
    let reception = kakunin_central::reception::reception_number(id);
    assert_eq!(
        clinic
            .batch_inquiry(&reception)
            .await
            .unwrap()
            .summary
            .status,
        "processing"
    );
    let second = Central::bind_with(
        "127.0.0.1:0".parse().unwrap(),
        w.store.clone(),
        load_tls(w._dir.path()).unwrap(),
    )
    .await
    .unwrap();
    let (_stop2, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(second.serve(async {
        let _ = rx.await;
    }));
    let resumed = wait_done(&clinic, &reception).await;
    assert_eq!(resumed.units[0].response.as_ref().unwrap().validity, "1");
}

async fn metrics_count_without_identifiers(backend: Backend) {
    let Some(w) = world(backend).await else {
        return;
    };
    assert!(w.import(&w.insurer_kenpo, &kenpo_roster()).await.accepted);
    let today = kakunin_central::service::now().jst_date().compact();
    w.check(KENPO, Some("123"), "4567", Some("00"), "19800101", &today)
        .await;
    w.check(KENPO, Some("123"), "9999", Some("00"), "19800101", &today)
        .await;
    let text = reqwest::get(&w.metrics_url)
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let value = |line: &str| -> f64 {
        text.lines()
            .find(|l| l.starts_with(line))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {line} in\n{text}"))
    };
    assert!(value("kakunin_checks_total{kind=\"numbers\",result=\"1\"}") >= 1.0);
    assert!(value("kakunin_checks_total{kind=\"numbers\",result=\"4\"}") >= 1.0);
    assert!(value("kakunin_imports_total{kind=\"roster\",result=\"accepted\"}") >= 1.0);
    assert!(value("kakunin_access_log_write_seconds_count") >= 2.0);
    assert!(value("kakunin_http_requests_total{route=\"/v1/eligibility/check\",method=\"POST\",status=\"2xx\"}") >= 2.0);
    assert!(value("kakunin_terminals{state=\"active\"}") >= 1.0);
    // Names and labels only: a value may contain any digits (a latency of 0.004567 s).
    let labels: String = text
        .lines()
        .map(|l| l.rsplit_once(' ').map_or(l, |(head, _)| head))
        .collect::<Vec<_>>()
        .join("\n");
    for secret in ["4567", "19800101", "131000001", "試験", KENPO] {
        assert!(
            !labels.contains(secret),
            "{secret} must not appear in metrics"
        );
    }
}
