//! The world of the card tests: a central with the embedded authority, its residents, an
//! insurer, institutions and an admin, and virtual My Number cards the authority issues.
#![allow(dead_code)]

use base64::Engine;
use kakunin_api::client::{CentralClient, ClientError};
use kakunin_api::{
    card_challenge, CardCheckRequest, CardProof, CardRegistrationRequest, EligibilityCheckResponse,
    RosterImportReport,
};
use kakunin_authority::{Authority, IssueRequest, Resident};
use kakunin_card::{Jpki, JpkiError, VirtualCard};
use kakunin_central::pki::{Ca, Role};
use kakunin_central::{load_tls, open_card_services, open_store, AuthorityConfig, Central};
use kakunin_domain::check_digit::complete;
use kakunin_domain::{Date, IndividualNumber, Sex, Timestamp};
use kakunin_store::Store;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub const KENPO: &str = "06139992";
pub const HEADER: &str = "insurer_number,symbol,number,branch,relationship,name,name_kana,sex,birthdate,qualification_date,disqualification_date,disqualification_reason,card_classification,copay_ratio,insurer_name,address,individual_number";

pub fn number(i: u64) -> IndividualNumber {
    IndividualNumber::from_body(&format!("{:011}", 50_000_000_000 + i)).unwrap()
}

pub fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

pub struct World {
    pub dir: tempfile::TempDir,
    pub url: String,
    pub ca_pem: Vec<u8>,
    pub ca: Ca,
    pub store: Arc<dyn Store>,
    pub authority: Authority,
    pub services: Arc<kakunin_central::cardcheck::CardServices>,
    pub institution: Vec<u8>,
    pub other_institution: Vec<u8>,
    pub insurer: Vec<u8>,
    pub admin: Vec<u8>,
    pub _stop: tokio::sync::oneshot::Sender<()>,
}

/// The people of the tests: (index, name, kana, sex, birth date).
pub const PEOPLE: &[(u64, &str, &str, Sex, &str)] = &[
    (1, "番号\u{3000}一郎", "ﾊﾞﾝｺﾞｳ ｲﾁﾛｳ", Sex::Male, "19800101"),
    (2, "番号\u{3000}二子", "ﾊﾞﾝｺﾞｳ ﾌﾀｺﾞ", Sex::Female, "19850202"),
    (3, "番号 三郎", "ﾊﾞﾝｺﾞｳ ｻﾌﾞﾛｳ", Sex::Male, "19900303"),
    (4, "番号 四季", "ﾊﾞﾝｺﾞｳ ｼｷ", Sex::Female, "19700404"),
];
pub const ADDRESS: &str = "東京都千代田区霞が関1-2-2";

pub fn institution_code(n: &str) -> String {
    complete(n).unwrap()
}

pub async fn world() -> World {
    world_on(Default::default()).await
}

/// A world whose central stores in `config` (SQLite in the data directory by default).
pub async fn world_on(config: kakunin_central::StoreConfig) -> World {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::init(dir.path(), "test CA").unwrap();
    let issue = |kind: &str, id: &str| {
        ca.issue(&Role::parse(kind, id).unwrap())
            .unwrap()
            .into_bytes()
    };
    let store = open_store(dir.path(), &config).await.unwrap();
    let authority = Authority::open_or_init(&dir.path().join("authority")).unwrap();
    authority
        .register_residents(
            &PEOPLE
                .iter()
                .map(|&(i, name, kana, sex, birth)| Resident {
                    individual_number: number(i),
                    name: name.into(),
                    name_kana: kana.into(),
                    birthdate: Date::parse(birth).unwrap(),
                    sex,
                    address: ADDRESS.into(),
                })
                .collect::<Vec<_>>(),
        )
        .unwrap();
    let tls = load_tls(dir.path()).unwrap();
    let services = open_card_services(dir.path(), &AuthorityConfig::Embedded, &tls)
        .await
        .unwrap()
        .unwrap();
    let central = Central::bind_with("127.0.0.1:0".parse().unwrap(), store.clone(), tls)
        .await
        .unwrap()
        .with_cards(services.clone(), std::time::Duration::from_secs(3600))
        .with_ca(Ca::load(dir.path()).unwrap());
    let url = central.url();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(central.serve(async {
        let _ = rx.await;
    }));
    World {
        url,
        ca_pem: ca.cert_pem().as_bytes().to_vec(),
        store,
        authority,
        services,
        institution: issue("institution", &institution_code("131000001")),
        other_institution: issue("institution", &institution_code("131000002")),
        insurer: issue("insurer", KENPO),
        admin: issue("admin", "ops"),
        ca,
        dir,
        _stop: tx,
    }
}

/// A terminal-side card session over a virtual card file.
pub fn sign(path: &Path, pin: &str, nonce: &str) -> Result<(Vec<u8>, Vec<u8>), JpkiError> {
    sign_message(path, pin, &card_challenge(nonce))
}

/// The card's certificate and its signature over `message` (after the PIN).
pub fn sign_message(
    path: &Path,
    pin: &str,
    message: &[u8],
) -> Result<(Vec<u8>, Vec<u8>), JpkiError> {
    let mut card = VirtualCard::open(path).unwrap();
    let mut jpki = Jpki::open(&mut card)?;
    let cert = jpki.read_auth_certificate()?;
    jpki.verify_auth_pin(pin)?;
    let hash: [u8; 32] = Sha256::digest(message).into();
    Ok((cert, jpki.sign_sha256(&hash)?))
}

pub fn code(e: ClientError) -> (String, u16) {
    match e {
        ClientError::Api(e, status) => {
            assert!(!e.message.is_ascii(), "messages are Japanese: {e:?}");
            (e.code, status)
        }
        other => panic!("expected an API error, got {other}"),
    }
}

impl World {
    pub fn client(&self, identity: &[u8]) -> CentralClient {
        CentralClient::new(&self.url, &self.ca_pem, Some(identity)).unwrap()
    }

    pub fn issue_card(&self, person: u64, not_before: Option<Timestamp>) -> PathBuf {
        static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = self.dir.path().join(format!("card-{person}-{n}.vcard"));
        let mut request = IssueRequest::new(number(person), "1234");
        request.not_before = not_before;
        self.authority.issue_card_file(&request, &path).unwrap();
        path
    }

    pub async fn import(&self, csv: String) -> RosterImportReport {
        self.client(&self.insurer)
            .import_roster(csv.into_bytes(), false)
            .await
            .unwrap()
    }

    pub async fn check_with(
        &self,
        identity: &[u8],
        card: &Path,
    ) -> Result<EligibilityCheckResponse, ClientError> {
        let client = self.client(identity);
        let nonce = client.card_nonce().await.unwrap().nonce;
        let (cert, sig) = sign(card, "1234", &nonce).unwrap();
        client
            .card_check(&CardCheckRequest {
                certificate: b64(&cert),
                nonce,
                proof: CardProof::Pin {
                    signature: b64(&sig),
                },
                limit_application_certificate_related_cons_flg: None,
                consents: vec![],
            })
            .await
    }

    pub async fn check(&self, card: &Path) -> Result<EligibilityCheckResponse, ClientError> {
        self.check_with(&self.institution, card).await
    }

    pub async fn register(&self, card: &Path) {
        let client = self.client(&self.institution);
        let nonce = client.card_nonce().await.unwrap().nonce;
        let (cert, sig) = sign(card, "1234", &nonce).unwrap();
        let r = client
            .card_registration(&CardRegistrationRequest {
                certificate: b64(&cert),
                nonce,
                proof: CardProof::Pin {
                    signature: b64(&sig),
                },
            })
            .await
            .unwrap();
        assert!(r.newly_registered, "{r:?}");
    }

    /// The newest access-log entry's result.
    pub async fn last_result(&self) -> String {
        self.store.recent_access(1).await.unwrap()[0]
            .entry
            .result
            .code()
    }
}

/// A roster row for person `i` at 記号 `symbol` with the 個人番号 of person `claimed`.
pub fn row(i: u64, symbol: &str, claimed: Option<u64>, from: &str, until: &str) -> String {
    let &(_, name, kana, sex, birth) = PEOPLE.iter().find(|p| p.0 == i).unwrap();
    format!(
        "{KENPO},{symbol},{i}00,00,1,{name},{kana},{},{birth},{from},{until},{},01,030,架空健康保険組合,{ADDRESS},{}",
        sex.code(),
        if until.is_empty() { "" } else { "03" },
        claimed.map(|c| number(c).expose().to_string()).unwrap_or_default()
    )
}
