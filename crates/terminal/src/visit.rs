//! The terminal's driver: it owns the card reader and the kiosk, carries out the kiosk's effects
//! (card I/O on a blocking thread, central calls over mTLS) and publishes every kiosk screen and
//! every reception to the pages.
//!
//! Invariants: one visit at a time; the card session stays open for the visit (the PIN verified
//! at ③ lets the card sign the consents of ④ and ⑥ without asking again) and is dropped when
//! the card leaves; receptions are kept in memory for today only and never written to disk here.

use crate::face::{self, FaceSetup};
use crate::kiosk::{Action, CertificateProblem, Effect, Kiosk, Outcome};
use crate::offline::{
    self, Breaker, FileOrigin, NewVisit, OfflineVisit, PatientNote, Queue, VisitProof, VisitStatus,
};
use base64::Engine;
use kakunin_api::client::{CentralClient, ClientError};
use kakunin_api::{
    card_challenge, CardCheckRequest, CardConsentRequest, CardProof, EligibilityCheckRequest,
    EligibilityCheckResponse, OfflineCardCheckRequest, QualificationResult, ReferenceNumberRequest,
};
use kakunin_card::{open_card, Card, Jpki, JpkiError};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;

/// How long a console visit recorded offline waits for staff's note (the declared co-pay)
/// before it is checked anyway.
pub const CONSOLE_GRACE: std::time::Duration = std::time::Duration::from_secs(180);

/// How often the reader is polled for a card placed or removed.
pub const POLL: std::time::Duration = std::time::Duration::from_millis(200);

/// Where cards come from.
#[derive(Debug, Clone)]
pub enum Reader {
    /// Virtual cards: files in `dir`, "inserted" one at a time from the console or the CLI.
    Virtual { dir: PathBuf },
    /// A PC/SC reader (`pcsc` or `pcsc:NAME`).
    Pcsc { spec: String },
}

/// One check at reception, as the console shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Reception {
    pub id: u64,
    /// RFC 3339, JST.
    pub at: String,
    /// `kiosk` or `console`.
    pub source: &'static str,
    /// `pin`, `face`, `visual` or `numbers`.
    pub method: &'static str,
    pub answer: EligibilityCheckResponse,
    /// For a visit recorded during an outage and checked afterwards: its id, time and outcome.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offline: Option<OfflineOutcome>,
}

/// How a visit recorded offline turned out.
#[derive(Debug, Clone, Serialize)]
pub struct OfflineOutcome {
    pub visit_id: String,
    /// 受付日時 `yyyyMMddHHmmss` (JST).
    pub visited_at: String,
    pub status: VisitStatus,
    pub status_label: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    /// For a visit from the file interface: the request it answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<FileOrigin>,
    /// The co-pay the patient declared (3-digit percent), when staff noted one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub declared_copay: Option<String>,
}

/// The answer to a check by insurance numbers.
#[derive(Debug, Clone)]
pub enum NumbersOutcome {
    /// The central answered (now a reception).
    Answered(Box<Reception>),
    /// The central could not be reached: the visit was recorded (要後日確認).
    Offline(Box<OfflineVisit>),
}

/// Where the terminal keeps its offline visits and whose they are.
pub struct OfflineSetup {
    pub queue: Queue,
    /// The institution's 医療機関コード (offline card challenges name it); without it, card
    /// visits cannot be recorded offline.
    pub institution: Option<String>,
}

/// The card of the current visit.
struct Session {
    card: Box<dyn Card>,
    certificate: Vec<u8>,
    /// The next nonce the central gave (each answer carries one).
    next_nonce: Option<String>,
    /// The terminal confirmed the holder itself (`face`: 顔認証 matched, `visual`: staff's
    /// 目視確認): later proofs are the terminal's attestations, since the card's PIN was never
    /// verified.
    attested: Option<&'static str>,
}

/// The terminal's device key (a `terminal` certificate of the kakunin CA for this
/// institution): it attests checks the terminal did itself (顔認証, 目視確認 by staff).
pub struct DeviceKey {
    certificate: Vec<u8>,
    key: ring::signature::EcdsaKeyPair,
}

impl DeviceKey {
    /// From a PEM with the certificate and its PKCS#8 P-256 key (what `kakunin ca issue --role
    /// terminal` writes).
    pub fn from_pem(pem: &[u8]) -> Result<Self, String> {
        use rustls_pki_types::pem::PemObject;
        let certificate = rustls_pki_types::CertificateDer::from_pem_slice(pem)
            .map_err(|e| format!("no certificate in the device key file: {e}"))?
            .to_vec();
        let key = rustls_pki_types::PrivatePkcs8KeyDer::from_pem_slice(pem)
            .map_err(|e| format!("no PKCS#8 key in the device key file: {e}"))?;
        let key = ring::signature::EcdsaKeyPair::from_pkcs8(
            &ring::signature::ECDSA_P256_SHA256_ASN1_SIGNING,
            key.secret_pkcs8_der(),
            &ring::rand::SystemRandom::new(),
        )
        .map_err(|e| format!("the device key is not ECDSA P-256: {e}"))?;
        Ok(Self { certificate, key })
    }

    /// The proof, over `nonce`, that the terminal confirmed the holder of `card_certificate`
    /// by `method` (`face` or `visual`).
    fn attest(&self, method: &str, nonce: &str, card_certificate: &[u8]) -> Option<CardProof> {
        let hash: String = Sha256::digest(card_certificate)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let message = kakunin_api::attestation_message(method, nonce, &hash);
        let signature = self
            .key
            .sign(&ring::rand::SystemRandom::new(), &message)
            .ok()?;
        let (device_certificate, signature) = (b64(&self.certificate), b64(signature.as_ref()));
        Some(match method {
            "face" => CardProof::Face {
                device_certificate,
                signature,
            },
            _ => CardProof::Visual {
                device_certificate,
                signature,
            },
        })
    }
}

/// The terminal: reader, kiosk, receptions, and the pages' event streams.
pub struct Terminal {
    client: CentralClient,
    reader: Reader,
    device: Option<DeviceKey>,
    face: Option<Arc<FaceSetup>>,
    kiosk: Mutex<Kiosk>,
    session: Arc<Mutex<Option<Session>>>,
    /// The virtual card placed on the reader (file name in the reader's directory).
    inserted: Mutex<Option<String>>,
    receptions: Mutex<Vec<Reception>>,
    kiosk_events: broadcast::Sender<String>,
    reception_events: broadcast::Sender<String>,
    /// Every reception as it is recorded or changed (the file interface writes `face/` files).
    reception_feed: broadcast::Sender<Reception>,
    queue: Queue,
    institution: Option<String>,
    breaker: Breaker,
    /// The central answered at least once (health probe or a call).
    central_answered: std::sync::atomic::AtomicBool,
    /// 顔認証 outcomes since start: matched, not the same person, no comparison.
    face_outcomes: [std::sync::atomic::AtomicU64; 3],
}

/// Kiosk state as the page reads it: `{"seq": n, "screen": …}`.
pub fn kiosk_json(k: &Kiosk) -> String {
    let mut v = serde_json::to_value(k.screen()).unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        o.insert("seq".into(), k.seq().into());
    }
    v.to_string()
}

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// The card proof over a nonce, on an open session: re-select the JPKI AP (the PIN stays
/// verified within a session) and sign.
fn sign(card: &mut dyn Card, pin: Option<&str>, nonce: &str) -> Result<Vec<u8>, JpkiError> {
    let mut jpki = Jpki::open(card)?;
    if let Some(pin) = pin {
        if jpki.auth_pin_tries_left()? == 0 {
            return Err(JpkiError::PinLocked);
        }
        jpki.verify_auth_pin(pin)?;
    }
    let hash: [u8; 32] = Sha256::digest(card_challenge(nonce)).into();
    jpki.sign_sha256(&hash)
}

/// What a card error means on the kiosk.
fn card_outcome(e: &JpkiError) -> Outcome {
    match e {
        JpkiError::WrongPin { tries_left } => Outcome::WrongPin {
            tries_left: *tries_left,
        },
        JpkiError::PinLocked => Outcome::PinLocked,
        _ => Outcome::CardUnreadable,
    }
}

/// What a central refusal means on the kiosk.
fn central_outcome(e: &ClientError) -> Outcome {
    match e {
        ClientError::Api(api, _) => match api.code.as_str() {
            "certificate_expired" => Outcome::Certificate(CertificateProblem::Expired),
            "certificate_revoked" | "certificate_unknown_issuer" | "certificate_malformed" => {
                Outcome::Certificate(CertificateProblem::Revoked)
            }
            "certificate_suspended" => Outcome::Certificate(CertificateProblem::Suspended),
            "registration_required" => Outcome::RegistrationRequired,
            _ => Outcome::CentralFailed,
        },
        _ => Outcome::CentralFailed,
    }
}

impl Terminal {
    /// A terminal whose offline visits live in memory only and which records no card visit
    /// offline (tests, tools); with a device key, staff 目視確認 is offered on the kiosk.
    pub fn new(client: CentralClient, reader: Reader, device: Option<DeviceKey>) -> Arc<Self> {
        let queue = Queue::in_memory().expect("an in-memory SQLite database opens");
        Self::with_offline(
            client,
            reader,
            device,
            OfflineSetup {
                queue,
                institution: None,
            },
            None,
        )
    }

    /// A terminal that records visits durably in `offline.queue` while the central is out of
    /// reach; with `face` (and a device key to attest it), 顔認証 is offered on the kiosk.
    pub fn with_offline(
        client: CentralClient,
        reader: Reader,
        device: Option<DeviceKey>,
        offline: OfflineSetup,
        face: Option<FaceSetup>,
    ) -> Arc<Self> {
        let (kiosk_events, _) = broadcast::channel(64);
        let (reception_events, _) = broadcast::channel(64);
        let (reception_feed, _) = broadcast::channel(256);
        let face = face.filter(|_| device.is_some()).map(Arc::new);
        let kiosk = Kiosk::new(face.is_some(), device.is_some());
        Arc::new(Self {
            client,
            reader,
            device,
            face,
            kiosk: Mutex::new(kiosk),
            session: Arc::new(Mutex::new(None)),
            inserted: Mutex::new(None),
            receptions: Mutex::new(Vec::new()),
            kiosk_events,
            reception_events,
            reception_feed,
            queue: offline.queue,
            institution: offline.institution,
            breaker: Breaker::default(),
            central_answered: std::sync::atomic::AtomicBool::new(false),
            face_outcomes: Default::default(),
        })
    }

    /// 顔認証 on this terminal, for the console: whether it is offered, its threshold, the
    /// outcomes since start, and how many face buffers (pictures, crops, descriptions) are
    /// alive in the process right now: none outside a comparison.
    pub fn face_status(&self) -> serde_json::Value {
        let count = |i: usize| self.face_outcomes[i].load(std::sync::atomic::Ordering::Relaxed);
        serde_json::json!({
            "available": self.face.is_some(),
            "threshold": self.face.as_ref().map(|f| f.matcher.threshold()),
            "matched": count(0),
            "not_matched": count(1),
            "no_comparison": count(2),
            "live_face_buffers": kakunin_face::live_face_buffers(),
        })
    }

    fn count_face(&self, outcome: usize) {
        self.face_outcomes[outcome].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// Receptions as they are recorded or changed.
    pub fn subscribe_reception_feed(&self) -> broadcast::Receiver<Reception> {
        self.reception_feed.subscribe()
    }

    /// Whether the terminal currently treats the central as unreachable.
    pub fn offline(&self) -> bool {
        self.breaker.is_open()
    }

    /// `online`, `offline`, or `unknown` before the central was first asked.
    pub fn central_state(&self) -> &'static str {
        if self.breaker.is_open() {
            "offline"
        } else if self
            .central_answered
            .load(std::sync::atomic::Ordering::Relaxed)
        {
            "online"
        } else {
            "unknown"
        }
    }

    pub fn queue(&self) -> &Queue {
        &self.queue
    }

    /// The institution's 医療機関コード, when the terminal was given one.
    pub fn institution(&self) -> Option<&str> {
        self.institution.as_deref()
    }

    pub fn client(&self) -> &CentralClient {
        &self.client
    }

    pub fn kiosk_state(&self) -> String {
        kiosk_json(&self.kiosk.lock().expect("kiosk lock"))
    }

    pub fn subscribe_kiosk(&self) -> broadcast::Receiver<String> {
        self.kiosk_events.subscribe()
    }

    pub fn subscribe_receptions(&self) -> broadcast::Receiver<String> {
        self.reception_events.subscribe()
    }

    pub fn receptions(&self) -> Vec<Reception> {
        let mut r = self.receptions.lock().expect("receptions lock").clone();
        r.reverse();
        r
    }

    /// Adds a reception and pushes it to the consoles.
    pub fn record(
        &self,
        source: &'static str,
        method: &'static str,
        answer: EligibilityCheckResponse,
    ) -> Reception {
        self.record_with(source, method, answer, None)
    }

    fn record_with(
        &self,
        source: &'static str,
        method: &'static str,
        answer: EligibilityCheckResponse,
        offline: Option<OfflineOutcome>,
    ) -> Reception {
        let mut all = self.receptions.lock().expect("receptions lock");
        let r = Reception {
            id: all.len() as u64 + 1,
            at: kakunin_domain::Timestamp::from_unix_millis(now_ms()).jst_rfc3339(),
            source,
            method,
            answer,
            offline,
        };
        all.push(r.clone());
        self.publish_reception(&r);
        r
    }

    fn publish_reception(&self, r: &Reception) {
        let _ = self
            .reception_events
            .send(serde_json::to_string(r).unwrap_or_default());
        let _ = self.reception_feed.send(r.clone());
    }

    /// Today's receptions of the person a 照会番号 was just registered for show it (and the
    /// consoles get them again). Returns how many receptions changed.
    pub fn note_reference_number(&self, person: &ReferenceNumberRequest, reference: &str) -> usize {
        let Ok(card) = kakunin_api::card_input(
            &person.insurer_number,
            person.symbol.as_deref(),
            &person.number,
            person.branch.as_deref(),
        ) else {
            return 0;
        };
        let birthdate = kakunin_domain::text::half_width_trimmed(&person.birthdate);
        let same = |q: &QualificationResult| {
            let Ok(other) = kakunin_api::card_input(
                &q.insurer_number,
                q.symbol.as_deref(),
                &q.number,
                q.branch.as_deref(),
            ) else {
                return false;
            };
            q.birthdate == birthdate
                && other.insurer == card.insurer
                && other.symbol_key() == card.symbol_key()
                && other.number.key() == card.number.key()
                && (card.branch.is_none() || other.branch.is_none() || other.branch == card.branch)
        };
        let mut all = self.receptions.lock().expect("receptions lock");
        let mut changed = 0;
        for r in all.iter_mut() {
            let mut hit = false;
            for q in r.answer.results.iter_mut().filter(|q| same(q)) {
                if q.reference_number.as_deref() != Some(reference) {
                    q.reference_number = Some(reference.to_string());
                    hit = true;
                }
            }
            if hit {
                changed += 1;
                self.publish_reception(r);
            }
        }
        changed
    }

    /// The virtual cards that can be placed on the reader, and the one on it.
    pub fn virtual_cards(&self) -> Option<(Vec<String>, Option<String>)> {
        let Reader::Virtual { dir } = &self.reader else {
            return None;
        };
        let mut cards: Vec<String> = std::fs::read_dir(dir)
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .filter_map(|e| e.file_name().to_str().map(str::to_string))
                    .filter(|n| n.ends_with(".vcard"))
                    .collect()
            })
            .unwrap_or_default();
        cards.sort();
        let inserted = self.inserted.lock().expect("inserted lock").clone();
        Some((cards, inserted))
    }

    /// Places a virtual card on the reader (`None` takes it off). `false` for an unknown card
    /// or a PC/SC reader.
    pub fn place_virtual(&self, card: Option<&str>) -> bool {
        let Some((cards, _)) = self.virtual_cards() else {
            return false;
        };
        if let Some(c) = card {
            if !cards.iter().any(|n| n == c) {
                return false;
            }
        }
        *self.inserted.lock().expect("inserted lock") = card.map(str::to_string);
        true
    }

    fn card_spec(&self) -> Option<String> {
        match &self.reader {
            Reader::Virtual { dir } => self
                .inserted
                .lock()
                .expect("inserted lock")
                .as_ref()
                .map(|n| format!("virtual:{}", dir.join(n).display())),
            Reader::Pcsc { spec } => Some(spec.clone()),
        }
    }

    fn publish(&self, k: &Kiosk) {
        let _ = self.kiosk_events.send(kiosk_json(k));
    }

    /// A patient's or staff's action on kiosk screen `seq`.
    pub async fn act(self: &Arc<Self>, seq: u64, action: Action) {
        let effects = {
            let mut k = self.kiosk.lock().expect("kiosk lock");
            let before = k.seq();
            let effects = k.act(seq, action);
            if k.seq() != before {
                self.publish(&k);
            }
            effects
        };
        self.run(effects).await;
    }

    fn outcome(&self, outcome: Outcome) -> Vec<Effect> {
        let mut k = self.kiosk.lock().expect("kiosk lock");
        let before = k.seq();
        let effects = k.outcome(outcome);
        if k.seq() != before {
            self.publish(&k);
        }
        effects
    }

    /// Carries out effects, feeding their outcomes back, until none are left.
    async fn run(self: &Arc<Self>, mut effects: Vec<Effect>) {
        while let Some(effect) = effects.pop() {
            let outcome = match effect {
                Effect::ReadCard => self.read_card().await,
                Effect::VerifyPinAndCheck { pin } => self.check_with_pin(pin).await,
                Effect::SaveConsents { categories } => self.save_consents(categories).await,
                // The console sees the kiosk waiting for staff through the kiosk events.
                Effect::AskStaff => None,
                Effect::CheckVisual => self.check_attested("visual").await,
                Effect::MatchFaceAndCheck => self.check_face().await,
                Effect::Forget => {
                    *self.session.lock().expect("session lock") = None;
                    None
                }
            };
            if let Some(o) = outcome {
                effects.extend(self.outcome(o));
            }
        }
    }

    /// Opens the card on the reader and reads its certificate and PIN tries.
    async fn read_card(&self) -> Option<Outcome> {
        let spec = self.card_spec()?;
        let session = self.session.clone();
        let read = tokio::task::spawn_blocking(move || -> Result<u8, JpkiError> {
            let mut card = open_card(&spec).map_err(JpkiError::Card)?;
            let (certificate, tries) = {
                let mut jpki = Jpki::open(&mut *card)?;
                (jpki.read_auth_certificate()?, jpki.auth_pin_tries_left()?)
            };
            *session.lock().expect("session lock") = Some(Session {
                card,
                certificate,
                next_nonce: None,
                attested: None,
            });
            Ok(tries)
        })
        .await;
        Some(match read {
            Ok(Ok(tries_left)) => Outcome::CardRead { tries_left },
            Ok(Err(e)) => card_outcome(&e),
            Err(_) => Outcome::CardUnreadable,
        })
    }

    /// A fresh nonce: the one the last answer gave, else a new one from the central.
    async fn nonce(&self) -> Result<String, ClientError> {
        let held = self
            .session
            .lock()
            .expect("session lock")
            .as_mut()
            .and_then(|s| s.next_nonce.take());
        match held {
            Some(n) => Ok(n),
            None => Ok(self.client.card_nonce().await?.nonce),
        }
    }

    /// The card's certificate and its signature over `nonce` (verifying `pin` first).
    async fn prove(&self, pin: Option<String>, nonce: &str) -> Result<(String, String), Outcome> {
        let session = self.session.clone();
        let nonce = nonce.to_string();
        let signed = tokio::task::spawn_blocking(move || {
            let mut guard = session.lock().expect("session lock");
            let s = guard
                .as_mut()
                .ok_or(JpkiError::Malformed("no card".into()))?;
            let signature = sign(&mut *s.card, pin.as_deref(), &nonce)?;
            Ok::<_, JpkiError>((b64(&s.certificate), b64(&signature)))
        })
        .await;
        match signed {
            Ok(Ok(pair)) => Ok(pair),
            Ok(Err(e)) => Err(card_outcome(&e)),
            Err(_) => Err(Outcome::CardUnreadable),
        }
    }

    async fn check_with_pin(&self, pin: String) -> Option<Outcome> {
        let nonce = match self.guarded(self.nonce()).await {
            Ok(n) => n,
            Err(e) if offline::is_outage(&e) => return self.card_offline(Some(pin), None).await,
            Err(e) => return Some(central_outcome(&e)),
        };
        let (certificate, signature) = match self.prove(Some(pin), &nonce).await {
            Ok(p) => p,
            Err(o) => return Some(o),
        };
        let answer = self
            .guarded(self.client.card_check(&CardCheckRequest {
                certificate,
                nonce,
                proof: CardProof::Pin { signature },
                limit_application_certificate_related_cons_flg: None,
                consents: vec![],
            }))
            .await;
        match answer {
            // The PIN is verified in this card session: the card signs the offline challenge.
            Err(e) if offline::is_outage(&e) => self.card_offline(None, None).await,
            answer => Some(self.checked(answer, "pin")),
        }
    }

    /// Calls the central unless it is known to be unreachable; an outage opens the breaker.
    async fn guarded<T>(
        &self,
        call: impl std::future::Future<Output = Result<T, ClientError>>,
    ) -> Result<T, ClientError> {
        if self.breaker.is_open() {
            return Err(ClientError::Transport(
                "the central is unreachable (offline reception)".into(),
            ));
        }
        let result = call.await;
        match &result {
            Err(e) if offline::is_outage(e) => {
                if self.breaker.trip() {
                    tracing::warn!(error = %e, "central unreachable: offline reception");
                }
            }
            _ => self
                .central_answered
                .store(true, std::sync::atomic::Ordering::Relaxed),
        }
        result
    }

    /// Records the card visit for a later check: the card signs the visit's offline challenge
    /// (verifying `pin` first when given), or the device key attests the terminal's own check
    /// (`attested`: `face` or `visual`) over it.
    async fn card_offline(
        &self,
        pin: Option<String>,
        attested: Option<&'static str>,
    ) -> Option<Outcome> {
        let Some(institution) = self.institution.clone() else {
            return Some(Outcome::CentralFailed);
        };
        let id = offline::new_visit_id();
        let visited_at = kakunin_domain::Timestamp::from_unix_millis(now_ms()).jst_compact();
        let challenge = kakunin_api::offline_nonce(&institution, &visited_at, &id);
        let (certificate, proof) = if let Some(method) = attested {
            let (cert, _) = self.session_certificate()?;
            let proof = self.device.as_ref()?.attest(method, &challenge, &cert)?;
            (b64(&cert), proof)
        } else {
            match self.prove(pin, &challenge).await {
                Ok((certificate, signature)) => (certificate, CardProof::Pin { signature }),
                Err(o) => return Some(o),
            }
        };
        let visit = NewVisit {
            id,
            visited_at,
            source: "kiosk",
            method: attested.unwrap_or("pin"),
            proof: VisitProof::Card { certificate, proof },
            note: PatientNote::default(),
            file: None,
        };
        match self.store_visit(visit).await {
            Some(_) => Some(Outcome::RecordedOffline),
            None => Some(Outcome::CentralFailed),
        }
    }

    /// Writes a visit to the queue (durable on return).
    async fn store_visit(&self, visit: NewVisit) -> Option<OfflineVisit> {
        // A local SQLite commit (a few ms): done inline, the terminal serves one counter.
        let recorded = self.queue.record(visit);
        match recorded {
            Ok(v) => Some(v),
            Err(e) => {
                tracing::error!(error = %e, "cannot record an offline visit");
                None
            }
        }
    }

    /// The kiosk's outcome of a check answer; an answer becomes a reception.
    fn checked(
        &self,
        answer: Result<EligibilityCheckResponse, ClientError>,
        method: &'static str,
    ) -> Outcome {
        match answer {
            Ok(a) => {
                self.keep_nonce(a.next_nonce.as_ref().map(|n| n.nonce.clone()));
                let first = a.results.first();
                let name = first.map(|r| r.name.clone()).unwrap_or_default();
                let today = kakunin_domain::Timestamp::from_unix_millis(now_ms()).jst_date();
                let age_40_plus = first
                    .and_then(|r| kakunin_domain::Date::parse(&r.birthdate).ok())
                    .is_some_and(|b| b.age_on(today) >= 40);
                self.record("kiosk", method, a);
                Outcome::Checked { name, age_40_plus }
            }
            Err(e) => central_outcome(&e),
        }
    }

    /// The card's certificate, and how the terminal confirmed the holder (if it did).
    fn session_certificate(&self) -> Option<(Vec<u8>, Option<&'static str>)> {
        self.session
            .lock()
            .expect("session lock")
            .as_ref()
            .map(|s| (s.certificate.clone(), s.attested))
    }

    /// The check after the terminal confirmed the holder itself (`face`: the camera matched
    /// the card's photo; `visual`: staff compared them, 目視確認): its device key attests it.
    async fn check_attested(&self, method: &'static str) -> Option<Outcome> {
        let device = self.device.as_ref()?;
        let (certificate, _) = self.session_certificate()?;
        if let Some(s) = self.session.lock().expect("session lock").as_mut() {
            s.attested = Some(method);
        }
        let nonce = match self.guarded(self.nonce()).await {
            Ok(n) => n,
            Err(e) if offline::is_outage(&e) => return self.card_offline(None, Some(method)).await,
            Err(e) => return Some(central_outcome(&e)),
        };
        let proof = device.attest(method, &nonce, &certificate)?;
        let answer = self
            .guarded(self.client.card_check(&CardCheckRequest {
                certificate: b64(&certificate),
                nonce,
                proof,
                limit_application_certificate_related_cons_flg: None,
                consents: vec![],
            }))
            .await;
        match answer {
            Err(e) if offline::is_outage(&e) => self.card_offline(None, Some(method)).await,
            answer => Some(self.checked(answer, method)),
        }
    }

    /// 顔認証: the card's photo (券面AP, opened with the 照合番号B the card surface gives) and a
    /// camera frame are compared on this terminal; on a match the terminal attests it. The
    /// photo, the frame and their descriptions are dropped (wiped) before this returns; only
    /// the decision leaves, and the log says why a comparison failed, never what it saw.
    async fn check_face(&self) -> Option<Outcome> {
        let face = self.face.clone()?;
        let session = self.session.clone();
        let surface = self.card_surface();
        let card = self.inserted.lock().expect("inserted lock").clone();
        let compared = tokio::task::spawn_blocking(move || {
            let collation_b = surface.ok_or(face::FaceFailure::NoSurface)?;
            // The card is held only while its photo is read, not during the capture.
            let photo = {
                let mut guard = session.lock().expect("session lock");
                let s = guard.as_mut().ok_or(face::FaceFailure::NoCard)?;
                face::read_card_photo(&mut *s.card, &collation_b)?
            };
            face.compare(&photo, card.as_deref())
        })
        .await;
        match compared {
            Ok(Ok(comparison)) if comparison.same_person => {
                tracing::info!(
                    distance = comparison.distance,
                    ms = comparison.elapsed.as_millis() as u64,
                    "顔認証: matched"
                );
                self.count_face(0);
                self.check_attested("face").await
            }
            Ok(Ok(comparison)) => {
                tracing::info!(
                    distance = comparison.distance,
                    ms = comparison.elapsed.as_millis() as u64,
                    "顔認証: not the same person"
                );
                self.count_face(1);
                Some(Outcome::FaceMismatch)
            }
            Ok(Err(reason)) => {
                tracing::warn!(reason = %reason, "顔認証: no comparison");
                self.count_face(2);
                Some(Outcome::FaceUnavailable)
            }
            Err(_) => {
                self.count_face(2);
                Some(Outcome::FaceUnavailable)
            }
        }
    }

    /// What the card-surface scan gives for the card on the reader (照合番号B's parts): the
    /// virtual card's printed surface; a PC/SC reader has no surface scanner here.
    fn card_surface(&self) -> Option<String> {
        match &self.reader {
            Reader::Virtual { dir } => {
                let name = self.inserted.lock().expect("inserted lock").clone()?;
                face::scan_virtual_surface(&dir.join(name))
            }
            Reader::Pcsc { .. } => None,
        }
    }

    fn keep_nonce(&self, nonce: Option<String>) {
        if let Some(s) = self.session.lock().expect("session lock").as_mut() {
            s.next_nonce = nonce;
        }
    }

    async fn save_consents(&self, categories: Vec<&'static str>) -> Option<Outcome> {
        let nonce = match self.guarded(self.nonce()).await {
            Ok(n) => n,
            Err(e) => return Some(central_outcome(&e)),
        };
        // After 顔認証 or 目視確認 the PIN was never verified: the terminal attests again.
        let (certificate, proof) = match self.session_certificate() {
            Some((cert, Some(method))) => {
                let proof = self
                    .device
                    .as_ref()
                    .and_then(|d| d.attest(method, &nonce, &cert))?;
                (b64(&cert), proof)
            }
            _ => match self.prove(None, &nonce).await {
                Ok((certificate, signature)) => (certificate, CardProof::Pin { signature }),
                Err(o) => return Some(o),
            },
        };
        let answer = self
            .guarded(self.client.card_consents(&CardConsentRequest {
                certificate,
                nonce,
                proof,
                consents: categories.iter().map(|c| c.to_string()).collect(),
            }))
            .await;
        Some(match answer {
            Ok(a) => {
                self.keep_nonce(a.next_nonce.map(|n| n.nonce));
                self.update_consents(&a.consents);
                Outcome::ConsentsSaved
            }
            Err(e) => central_outcome(&e),
        })
    }

    /// The latest kiosk reception gets the consents just given, and the consoles see it.
    fn update_consents(&self, flags: &[kakunin_api::ConsentFlag]) {
        let mut all = self.receptions.lock().expect("receptions lock");
        if let Some(r) = all.iter_mut().rev().find(|r| r.source == "kiosk") {
            r.answer.consents = flags.to_vec();
            self.publish_reception(r);
        }
    }

    /// A check by insurance numbers (console or file interface). When the central cannot be
    /// reached the visit is recorded (要後日確認) and checked later as of its date; a request
    /// that is malformed is refused here either way, so nothing malformed is queued.
    pub async fn check_numbers(
        &self,
        source: &'static str,
        request: EligibilityCheckRequest,
        file: Option<FileOrigin>,
    ) -> Result<NumbersOutcome, ClientError> {
        if let Err(e) = kakunin_api::check_input(&request) {
            return Err(ClientError::Api(e, 400));
        }
        match self.guarded(self.client.check(&request)).await {
            Ok(answer) => Ok(NumbersOutcome::Answered(Box::new(
                self.record(source, "numbers", answer),
            ))),
            Err(e) if offline::is_outage(&e) => {
                let visit = NewVisit {
                    id: offline::new_visit_id(),
                    visited_at: kakunin_domain::Timestamp::from_unix_millis(now_ms()).jst_compact(),
                    source,
                    method: "numbers",
                    proof: VisitProof::Numbers { request },
                    note: PatientNote::default(),
                    file,
                };
                match self.store_visit(visit).await {
                    Some(v) => Ok(NumbersOutcome::Offline(Box::new(v))),
                    None => Err(e),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// Marks a discrepancy or failure as dealt with.
    pub fn resolve_visit(
        &self,
        id: &str,
        resolution: &str,
    ) -> Result<Option<bool>, offline::OfflineError> {
        let at = kakunin_domain::Timestamp::from_unix_millis(now_ms()).jst_rfc3339();
        self.queue.resolve(id, resolution, &at)
    }

    /// Staff's note on an offline visit (the patient's 4 attributes and declared co-pay).
    pub fn annotate_visit(
        &self,
        id: &str,
        note: &PatientNote,
    ) -> Result<Option<OfflineVisit>, offline::OfflineError> {
        self.queue.annotate(id, note)
    }

    /// Watches the central while it is out of reach (a health probe every `every`) and, once
    /// it answers, checks every pending visit, oldest first. Runs forever.
    pub async fn reconcile(self: Arc<Self>, every: std::time::Duration) {
        // Staff see at once whether the central is reachable, before the first patient.
        match self.client.health().await {
            Ok(_) => self
                .central_answered
                .store(true, std::sync::atomic::Ordering::Relaxed),
            Err(e) if offline::is_outage(&e) => {
                self.breaker.trip();
            }
            Err(_) => {}
        }
        loop {
            tokio::time::sleep(every).await;
            if self.breaker.is_open() {
                match self.client.health().await {
                    Ok(_) => {
                        if self.breaker.close() {
                            tracing::info!("central reachable again: reconciling offline visits");
                        }
                    }
                    Err(_) => continue,
                }
            }
            let pending = match self.queue.ready(CONSOLE_GRACE.as_millis() as i64) {
                Ok(p) => p,
                Err(e) => {
                    tracing::error!(error = %e, "cannot read the offline visits");
                    continue;
                }
            };
            for visit in pending {
                if !self.reconcile_one(visit).await {
                    break;
                }
            }
        }
    }

    /// Checks one offline visit and settles it. `false` when the central went away again.
    async fn reconcile_one(&self, visit: OfflineVisit) -> bool {
        let answer = match &visit.proof {
            VisitProof::Numbers { request } => {
                let mut request = request.clone();
                request.qualification_confirmation_date = Some(visit.visited_at[..8].to_string());
                self.guarded(self.client.check(&request)).await
            }
            VisitProof::Card { certificate, proof } => {
                self.guarded(self.client.offline_card_check(&OfflineCardCheckRequest {
                    certificate: certificate.clone(),
                    visit_id: visit.id.clone(),
                    visited_at: visit.visited_at.clone(),
                    proof: proof.clone(),
                }))
                .await
            }
        };
        let (status, answer, problem) = match answer {
            Ok(a) => match offline::compare(&a, &visit.note) {
                None => (VisitStatus::Confirmed, Some(a), None),
                Some(p) => (VisitStatus::Discrepancy, Some(a), Some(p)),
            },
            Err(e) if offline::is_outage(&e) => return false,
            Err(ClientError::Api(e, _)) => (VisitStatus::Failed, None, Some(e.message)),
            Err(e) => {
                tracing::error!(error = %e, "an offline visit cannot be checked");
                (
                    VisitStatus::Failed,
                    None,
                    Some("後日確認できませんでした。保険証等で確認してください。".to_string()),
                )
            }
        };
        let at = kakunin_domain::Timestamp::from_unix_millis(now_ms()).jst_rfc3339();
        let settled =
            self.queue
                .settle(&visit.id, status, answer.as_ref(), problem.as_deref(), &at);
        match settled {
            Ok(true) => {}
            Ok(false) => return true,
            Err(e) => {
                tracing::error!(error = %e, "cannot settle an offline visit");
                return false;
            }
        }
        if let Some(answer) = answer {
            let outcome = OfflineOutcome {
                visit_id: visit.id.clone(),
                visited_at: visit.visited_at.clone(),
                status,
                status_label: status.label(),
                problem: problem.clone(),
                file: visit.file.clone(),
                declared_copay: visit.note.declared_copay.clone(),
            };
            let source = match visit.source.as_str() {
                "kiosk" => "kiosk",
                "files" => "files",
                _ => "console",
            };
            let method = match visit.method.as_str() {
                "pin" => "pin",
                "visual" => "visual",
                "face" => "face",
                _ => "numbers",
            };
            self.record_with(source, method, answer, Some(outcome));
        }
        true
    }

    /// Watches the reader: a card placed starts a visit, a card gone ends it. Runs forever.
    pub async fn watch(self: Arc<Self>) {
        let mut present = false;
        loop {
            let now = self.card_present().await;
            if now != present {
                present = now;
                let effects = {
                    let mut k = self.kiosk.lock().expect("kiosk lock");
                    let effects = if now {
                        k.card_inserted()
                    } else {
                        k.card_removed()
                    };
                    self.publish(&k);
                    effects
                };
                self.run(effects).await;
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Whether a card is on the reader: for virtual cards, whether one is placed; for PC/SC,
    /// whether the open session still answers (or a new one opens).
    async fn card_present(&self) -> bool {
        match &self.reader {
            Reader::Virtual { .. } => self.inserted.lock().expect("inserted lock").is_some(),
            Reader::Pcsc { spec } => {
                let spec = spec.clone();
                let session = self.session.clone();
                tokio::task::spawn_blocking(move || {
                    let mut guard = session.lock().expect("session lock");
                    match guard.as_mut() {
                        Some(s) => Jpki::open(&mut *s.card).is_ok(),
                        None => open_card(&spec).is_ok(),
                    }
                })
                .await
                .unwrap_or(false)
            }
        }
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
