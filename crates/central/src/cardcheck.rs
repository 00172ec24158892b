//! Card-based use cases: eligibility checks with the My Number card (照会区分 1) and 利用登録.
//!
//! Every outcome, refusals included, leaves one access-log entry; once the nonce has passed its
//! checks that entry also spends it, so a nonce is good for exactly one attempt.

use crate::cards::{self, CardCertificate, CardTrust, CheckedNonce, Nonces, Refusal};
use crate::pki::Role;
use kakunin_api::{
    consent_flag, processing_result, qualification_result, ApiError, CardCheckRequest,
    CardConsentRequest, CardConsentResponse, CardNonce, CardProof, CardRegistrationRequest,
    CardRegistrationResponse, CertificateNotice, EligibilityCheckResponse, OfflineCardCheckRequest,
};
use kakunin_authority::AuthorityApi;
use kakunin_domain::{
    evaluate, AccessLogEntry, AccessPurpose, AccessResult, Candidate, CertificatePhase, Consent,
    ConsentCategory, ConsentState, InstitutionCode, Timestamp,
};
use kakunin_store::{CardRegistration, NonceUse, Store, StoreError, StoredQualification};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Verifies a terminal's device certificate against the kakunin CA and reads its role.
pub type DeviceVerifier = Arc<dyn Fn(&[u8]) -> Result<Role, String> + Send + Sync>;

/// What card checks need besides the store.
pub struct CardServices {
    pub authority: Arc<dyn AuthorityApi>,
    pub trust: Arc<CardTrust>,
    pub nonces: Nonces,
    pub devices: DeviceVerifier,
    /// Certificate SHA-256 → agency pseudonym, as the authority answered.
    owners: Mutex<HashMap<[u8; 32], String>>,
    /// Pseudonyms known to have done 利用登録 (a registration is never withdrawn, so a hit
    /// is always right; a miss asks the store).
    registered: Mutex<std::collections::HashSet<String>>,
}

impl std::fmt::Debug for CardServices {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CardServices { .. }")
    }
}

const OWNER_CACHE_LIMIT: usize = 200_000;

impl CardServices {
    pub fn new(
        authority: Arc<dyn AuthorityApi>,
        trust: Arc<CardTrust>,
        nonces: Nonces,
        devices: DeviceVerifier,
    ) -> Self {
        Self {
            authority,
            trust,
            nonces,
            devices,
            owners: Mutex::new(HashMap::new()),
            registered: Mutex::new(std::collections::HashSet::new()),
        }
    }

    async fn is_registered(&self, store: &dyn Store, pseudonym: &str) -> Result<bool, StoreError> {
        if self
            .registered
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(pseudonym)
        {
            return Ok(true);
        }
        let found = store.card_registration(pseudonym).await?.is_some();
        if found {
            let mut set = self.registered.lock().unwrap_or_else(|p| p.into_inner());
            if set.len() >= OWNER_CACHE_LIMIT {
                set.clear();
            }
            set.insert(pseudonym.to_string());
        }
        Ok(found)
    }

    /// Fetches the authority's CRL and loads it. Returns the number of listed certificates.
    pub async fn refresh_crl(&self) -> Result<usize, String> {
        let der = self
            .authority
            .crl()
            .await
            .map_err(|e| format!("fetching the CRL: {e}"))?;
        self.trust.load_crl(&der)
    }

    /// The agency pseudonym of a verified card certificate's holder (the authority's answer,
    /// cached).
    pub async fn owner_of(&self, cert: &CardCertificate, der: &[u8]) -> Result<String, CardError> {
        self.owner(cert, der).await
    }

    async fn owner(&self, cert: &CardCertificate, der: &[u8]) -> Result<String, CardError> {
        if let Some(p) = self
            .owners
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&cert.sha256)
        {
            return Ok(p.clone());
        }
        let owner = self
            .authority
            .certificate_owner(der.to_vec())
            .await
            .map_err(|e| CardError::Authority(e.to_string()))?
            .ok_or_else(|| {
                CardError::Refused(Refusal {
                    code: "certificate_unknown",
                    message: "このマイナンバーカードは確認できませんでした。お住まいの市区町村の窓口にお問い合わせください。",
                    detail: "the authority does not know this certificate".into(),
                })
            })?;
        let mut owners = self.owners.lock().unwrap_or_else(|p| p.into_inner());
        if owners.len() >= OWNER_CACHE_LIMIT {
            owners.clear();
        }
        owners.insert(cert.sha256, owner.pseudonym.clone());
        Ok(owner.pseudonym)
    }
}

/// Why a card request got no answer.
#[derive(Debug)]
pub enum CardError {
    /// A malformed request (HTTP 400).
    Invalid(ApiError),
    /// A refused proof or card (HTTP 403); audited.
    Refused(Refusal),
    /// The nonce was used before (HTTP 409); audited.
    Replayed(Refusal),
    Store(StoreError),
    /// The authority could not be asked (HTTP 503).
    Authority(String),
}

impl From<StoreError> for CardError {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

/// `POST /v1/card-checks/nonce`.
pub fn issue_nonce(
    cards: &CardServices,
    institution: &InstitutionCode,
    at: Timestamp,
) -> CardNonce {
    let (nonce, expires) = cards.nonces.issue(institution, at);
    CardNonce {
        nonce,
        expires_at: expires.jst_rfc3339(),
    }
}

/// What the proof step established.
struct Proven {
    der: Vec<u8>,
    cert: Arc<CardCertificate>,
}

fn invalid(code: &str, message: &str, detail: &str, field: &str) -> CardError {
    CardError::Invalid(ApiError::new(code, message, detail).with_field(field))
}

/// Checks certificate and proof. `pin_only` for registrations.
fn prove(
    cards: &CardServices,
    institution: &InstitutionCode,
    certificate: &str,
    nonce: &CheckedNonce,
    proof: &CardProof,
    pin_only: bool,
    at: Timestamp,
) -> Result<Proven, CardError> {
    let der = cards::b64(certificate).ok_or_else(|| {
        invalid(
            "invalid_certificate_encoding",
            "カードの情報の形式が正しくありません。",
            "certificate must be base64 of the DER certificate",
            "certificate",
        )
    })?;
    let cert = cards.trust.verify(&der, at).map_err(CardError::Refused)?;
    match proof {
        CardProof::Pin { signature } => {
            cards::verify_pin_proof(&cert, &nonce.nonce, signature).map_err(CardError::Refused)?
        }
        CardProof::Face {
            device_certificate,
            signature,
        }
        | CardProof::Visual {
            device_certificate,
            signature,
        } => {
            if pin_only {
                return Err(CardError::Refused(Refusal {
                    code: "pin_required",
                    message: "利用登録には暗証番号の入力が必要です。",
                    detail: "a card registration needs the card's PIN signature".into(),
                }));
            }
            let device = cards::b64(device_certificate).ok_or_else(|| {
                invalid(
                    "invalid_certificate_encoding",
                    "端末の証明書の形式が正しくありません。",
                    "device_certificate must be base64 DER",
                    "proof.device_certificate",
                )
            })?;
            match (cards.devices)(&device) {
                Ok(Role::Terminal(inst)) if &inst == institution => {}
                Ok(_) => {
                    return Err(CardError::Refused(Refusal {
                        code: "attestation_wrong_device",
                        message: "この端末での確認は受け付けられません。",
                        detail:
                            "the device certificate is not a terminal of the calling institution"
                                .into(),
                    }))
                }
                Err(why) => {
                    return Err(CardError::Refused(Refusal {
                        code: "attestation_untrusted",
                        message: "この端末での確認は受け付けられません。",
                        detail: format!("the device certificate does not verify: {why}"),
                    }))
                }
            }
            cards::verify_attestation(&device, proof.method(), &nonce.nonce, &cert, signature)
                .map_err(CardError::Refused)?
        }
    }
    Ok(Proven { der, cert })
}

fn refused_entry(
    institution: &InstitutionCode,
    purpose: AccessPurpose,
    at: Timestamp,
    code: &str,
    ids: Vec<i64>,
) -> AccessLogEntry {
    AccessLogEntry {
        at,
        institution: institution.clone(),
        purpose,
        qualification_ids: ids,
        result: AccessResult::Refused(code.to_string()),
        processing_code: code.to_string(),
        information: None,
    }
}

/// Writes the audit entry of a refusal (spending the nonce when it was valid) and returns the
/// error to answer.
async fn audit_refusal(
    store: &dyn Store,
    institution: &InstitutionCode,
    purpose: AccessPurpose,
    at: Timestamp,
    nonce: Option<&CheckedNonce>,
    ids: Vec<i64>,
    error: CardError,
) -> CardError {
    let code = match &error {
        CardError::Refused(r) | CardError::Replayed(r) => r.code,
        CardError::Invalid(e) => {
            // Malformed input: audited like a refusal, under its code.
            let entry = refused_entry(institution, purpose, at, &e.code, ids);
            if let Err(e) = store.append_access(entry).await {
                return CardError::Store(e);
            }
            return error;
        }
        CardError::Store(_) | CardError::Authority(_) => return error,
    };
    let entry = refused_entry(institution, purpose, at, code, ids);
    let written = match nonce {
        Some(n) => store
            .append_access_once(
                NonceUse {
                    nonce: n.nonce.clone(),
                    expires_at: n.expires_at,
                },
                entry.clone(),
            )
            .await
            .map(|_| ()),
        None => store.append_access(entry).await.map(|_| ()),
    };
    match written {
        Ok(()) => error,
        Err(e) => CardError::Store(e),
    }
}

/// Which qualifications a card check answers, and with what validity, from everything linked to
/// the person: those in effect; else the most recently started one (3 when a newer one exists).
pub(crate) fn card_validity(
    found: &[StoredQualification],
    on: kakunin_domain::Date,
) -> (kakunin_domain::Validity, Vec<&StoredQualification>) {
    let in_effect: Vec<&StoredQualification> = found
        .iter()
        .filter(|f| f.qualification.is_in_effect(on))
        .collect();
    if !in_effect.is_empty() {
        return (kakunin_domain::Validity::Valid, in_effect);
    }
    let started = found
        .iter()
        .filter(|f| f.qualification.qualification_date <= on)
        .max_by_key(|f| (f.qualification.qualification_date, f.id));
    let Some(current) = started.or_else(|| found.first()) else {
        return (kakunin_domain::Validity::NotFound, vec![]);
    };
    let newer_exists = found.iter().any(|f| {
        f.id != current.id
            && f.qualification.qualification_date > current.qualification.qualification_date
    });
    let validity = evaluate(
        &[Candidate {
            qualification: &current.qualification,
            newer_exists,
        }],
        on,
    );
    (validity, vec![current])
}

fn notice(cert: &CardCertificate, on: kakunin_domain::Date) -> Option<CertificateNotice> {
    let (code, message) = match cert.phase(on) {
        CertificatePhase::ExpiresSoon => (
            "certificate_expires_soon",
            "マイナンバーカードの電子証明書の有効期限が近づいています。お住まいの市区町村で更新手続きをしてください。",
        ),
        CertificatePhase::ExpiredInGrace => (
            "certificate_expired_in_grace",
            "マイナンバーカードの電子証明書の有効期限が切れています。有効期限から3か月間は保険証として利用できます。お住まいの市区町村で更新手続きをしてください。",
        ),
        _ => return None,
    };
    Some(CertificateNotice {
        code: code.into(),
        message: message.into(),
        not_after: cert.not_after.jst_date().compact(),
    })
}

const REGISTRATION_REQUIRED: Refusal = Refusal {
    code: "registration_required",
    message: "マイナンバーカードの健康保険証としての利用登録がお済みでありません。カードリーダーの画面から利用登録を行ってください。",
    detail: String::new(),
};

/// The challenge a card signed.
#[derive(Debug, Clone, Copy)]
pub enum Challenge<'a> {
    /// A nonce this central issued (online).
    Issued(&'a str),
    /// An offline visit (the central could not be reached): the card signed
    /// [`kakunin_api::offline_nonce`] of the institution, the visit's time and the terminal's
    /// visit id. Accepted for [`OFFLINE_WINDOW`] after the visit.
    Offline {
        visit_id: &'a str,
        visited_at: Timestamp,
    },
}

/// How long after an offline visit its card proof is accepted for reconciliation.
pub const OFFLINE_WINDOW: std::time::Duration = std::time::Duration::from_secs(7 * 24 * 3600);

/// The checked challenge: ours and fresh, or an offline visit's within its window.
fn check_challenge(
    cards: &CardServices,
    challenge: Challenge<'_>,
    institution: &InstitutionCode,
    at: Timestamp,
) -> Result<CheckedNonce, Refusal> {
    match challenge {
        Challenge::Issued(nonce) => cards.nonces.check(nonce, institution, at),
        Challenge::Offline {
            visit_id,
            visited_at,
        } => {
            let invalid = |d: &str| {
                Refusal::new(
                    "offline_visit_invalid",
                    "障害時の受付記録を確認できませんでした。保険証等で確認してください。",
                    d.to_string(),
                )
            };
            let well_formed = (16..=64).contains(&visit_id.len())
                && visit_id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-');
            if !well_formed {
                return Err(invalid("visit_id must be 16-64 letters, digits or hyphens"));
            }
            let (visited, now) = (visited_at.unix_millis(), at.unix_millis());
            if visited > now + 5 * 60_000 {
                return Err(invalid("the visit is in the future"));
            }
            if now - visited > OFFLINE_WINDOW.as_millis() as i64 {
                return Err(Refusal::new(
                    "offline_visit_expired",
                    "障害時の受付から7日を過ぎたため、カードでの後日確認はできません。保険証等で確認してください。",
                    "offline visits are reconciled within 7 days",
                ));
            }
            Ok(CheckedNonce {
                nonce: kakunin_api::offline_nonce(
                    institution.as_str(),
                    &visited_at.jst_compact(),
                    visit_id,
                ),
                // Kept spent past the window, so a replay is refused, not re-answered.
                expires_at: Timestamp::from_unix_millis(
                    visited + OFFLINE_WINDOW.as_millis() as i64 + 86_400_000,
                ),
            })
        }
    }
}

/// The steps every card request shares: the nonce (ours, this institution's, fresh), the
/// certificate and the proof, the owner's pseudonym. Each refusal is audited; once the nonce has
/// passed, the audit entry spends it, and when the certificate is genuine it names the owner's
/// qualifications so the owner sees the attempt.
async fn authenticate(
    store: &dyn Store,
    cards: &CardServices,
    institution: &InstitutionCode,
    purpose: AccessPurpose,
    (certificate, challenge, proof): (&str, Challenge<'_>, &CardProof),
    pin_only: bool,
    at: Timestamp,
) -> Result<(CheckedNonce, Proven, String), CardError> {
    let nonce = match check_challenge(cards, challenge, institution, at) {
        Ok(n) => n,
        Err(r) => {
            let e = CardError::Refused(r);
            return Err(audit_refusal(store, institution, purpose, at, None, vec![], e).await);
        }
    };
    let proven = match prove(cards, institution, certificate, &nonce, proof, pin_only, at) {
        Ok(p) => p,
        Err(e) => {
            let ids = owner_ids(store, cards, certificate, at).await;
            return Err(audit_refusal(store, institution, purpose, at, Some(&nonce), ids, e).await);
        }
    };
    match cards.owner(&proven.cert, &proven.der).await {
        Ok(pseudonym) => Ok((nonce, proven, pseudonym)),
        Err(e) => {
            Err(audit_refusal(store, institution, purpose, at, Some(&nonce), vec![], e).await)
        }
    }
}

/// Writes the outcome's access-log entry, spending the nonce; a nonce spent meanwhile by a
/// concurrent attempt makes this one a logged replay.
async fn spend(
    store: &dyn Store,
    nonce: &CheckedNonce,
    entry: AccessLogEntry,
    ids: Vec<i64>,
) -> Result<(), CardError> {
    let (institution, purpose, at) = (entry.institution.clone(), entry.purpose, entry.at);
    let logging = std::time::Instant::now();
    let spent = store
        .append_access_once(
            NonceUse {
                nonce: nonce.nonce.clone(),
                expires_at: nonce.expires_at,
            },
            entry,
        )
        .await?;
    crate::metrics::access_log_write(logging.elapsed());
    if spent.is_some() {
        return Ok(());
    }
    let r = replayed();
    store
        .append_access(refused_entry(&institution, purpose, at, r.code, ids))
        .await?;
    Err(CardError::Replayed(r))
}

/// An eligibility check with the card. The access-log entry (which spends the nonce) is
/// durable before the answer leaves.
pub async fn card_check(
    store: &dyn Store,
    cards: &CardServices,
    institution: &InstitutionCode,
    request: &CardCheckRequest,
    at: Timestamp,
) -> Result<EligibilityCheckResponse, CardError> {
    let limit_consent = match request
        .limit_application_certificate_related_cons_flg
        .as_deref()
    {
        None | Some("0") => false,
        Some("1") => true,
        Some(_) => {
            return Err(invalid(
                "invalid_flag",
                "限度額情報の提供同意の値が正しくありません。",
                "limit_application_certificate_related_cons_flg must be 0 or 1",
                "limit_application_certificate_related_cons_flg",
            ))
        }
    };
    let given = consent_categories(&request.consents)?;
    let mut answer = answer_card(
        store,
        cards,
        institution,
        (
            &request.certificate,
            Challenge::Issued(&request.nonce),
            &request.proof,
        ),
        (limit_consent, &given),
        at.jst_date(),
        at,
    )
    .await?;
    answer.next_nonce = Some(issue_nonce(cards, institution, at));
    Ok(answer)
}

/// The later check of a card visit recorded while the central could not be reached: the card
/// signed the offline challenge of the visit (PIN, or the terminal's 目視 attestation) then;
/// the answer is as of the visit's date, within 7 days. Sending the same visit again gets the
/// same answer (each logged), so a terminal that lost an answer can ask again.
pub async fn offline_card_check(
    store: &dyn Store,
    cards: &CardServices,
    institution: &InstitutionCode,
    request: &OfflineCardCheckRequest,
    at: Timestamp,
) -> Result<EligibilityCheckResponse, CardError> {
    let visited_at = kakunin_api::timestamp_input(&request.visited_at).ok_or_else(|| {
        invalid(
            "invalid_visited_at",
            "受付日時の形式が正しくありません。",
            "visited_at must be yyyyMMddHHmmss (JST)",
            "visited_at",
        )
    })?;
    answer_card(
        store,
        cards,
        institution,
        (
            &request.certificate,
            Challenge::Offline {
                visit_id: &request.visit_id,
                visited_at,
            },
            &request.proof,
        ),
        (false, &[]),
        visited_at.jst_date(),
        at,
    )
    .await
}

/// A card check: the person proven and registered, their qualifications as of `on`, consents
/// recorded, the access-log entry spending the challenge. `next_nonce` is left empty.
async fn answer_card(
    store: &dyn Store,
    cards: &CardServices,
    institution: &InstitutionCode,
    presented: (&str, Challenge<'_>, &CardProof),
    (limit_consent, given): (bool, &[ConsentCategory]),
    on: kakunin_domain::Date,
    at: Timestamp,
) -> Result<EligibilityCheckResponse, CardError> {
    let purpose = AccessPurpose::EligibilityByCard;
    let RegisteredPerson {
        nonce,
        proven,
        pseudonym,
        found,
        earlier,
        ids,
    } = registered_person(store, cards, institution, purpose, presented, at).await?;
    let (validity, answered) = card_validity(&found, on);
    let consents = offered(given, &answered, &pseudonym, institution, at);
    let state = |category| consent_state(&consents, &earlier, category, at);
    let limit_consent = limit_consent || state(ConsentCategory::Limit).is_valid();
    let mut results: Vec<_> = answered
        .iter()
        .map(|f| qualification_result(&f.qualification, on, limit_consent))
        .collect();
    let answered_ids: Vec<i64> = answered.iter().map(|f| f.id).collect();
    crate::reception::attach_reference_numbers(store, institution, &answered_ids, &mut results)
        .await?;
    let processing = processing_result(validity, &results, on);
    let entry = AccessLogEntry {
        at,
        institution: institution.clone(),
        purpose,
        qualification_ids: answered_ids,
        result: AccessResult::Answered(validity),
        processing_code: processing.code.clone(),
        information: None,
    };
    if matches!(presented.1, Challenge::Offline { .. }) {
        // An offline visit's proof is bound to this institution, visit and time: sending it
        // again (a terminal retrying after losing the answer) gets the same answer, logged
        // again, rather than a refusal that would leave the visit unreconciled.
        if store
            .append_access_once(
                NonceUse {
                    nonce: nonce.nonce.clone(),
                    expires_at: nonce.expires_at,
                },
                entry.clone(),
            )
            .await?
            .is_none()
        {
            store.append_access(entry).await?;
        }
    } else {
        spend(store, &nonce, entry, ids).await?;
    }
    if !consents.is_empty() {
        store.record_consents(consents.clone()).await?;
    }
    let flags = ConsentCategory::ALL
        .into_iter()
        .map(|category| consent_flag(category, state(category)))
        .collect();
    Ok(EligibilityCheckResponse {
        validity: validity.code().into(),
        validity_label: validity.label().into(),
        reference_classification: "1".into(),
        qualification_confirmation_date: on.compact(),
        process_execution_time: at.jst_compact(),
        results,
        processing_result: processing,
        certificate_notice: notice(&proven.cert, on),
        next_nonce: None,
        consents: flags,
    })
}

fn replayed() -> Refusal {
    Refusal {
        code: "nonce_used",
        message: "この確認はすでに処理されています。もう一度カードを置いてやり直してください。",
        detail: "the nonce was used before; request a new one for each check".into(),
    }
}

/// The qualification ids of a certificate's owner, for auditing a refused attempt (empty when
/// the certificate does not verify or the person is unknown).
async fn owner_ids(
    store: &dyn Store,
    cards: &CardServices,
    certificate: &str,
    at: Timestamp,
) -> Vec<i64> {
    let Some(der) = cards::b64(certificate) else {
        return vec![];
    };
    let Ok(cert) = cards.trust.verify(&der, at) else {
        return vec![];
    };
    let Ok(p) = cards.owner(&cert, &der).await else {
        return vec![];
    };
    store
        .find_by_person(&p)
        .await
        .map(|f| f.iter().map(|f| f.id).collect())
        .unwrap_or_default()
}

/// A card holder proven and registered for insurance use, with their qualifications and
/// earlier consents to this institution.
struct RegisteredPerson {
    nonce: CheckedNonce,
    proven: Proven,
    pseudonym: String,
    found: Vec<StoredQualification>,
    earlier: Vec<Consent>,
    ids: Vec<i64>,
}

/// [`authenticate`] (any proof), then the person's records; a card not registered for
/// insurance use (利用登録) is refused and audited.
async fn registered_person(
    store: &dyn Store,
    cards: &CardServices,
    institution: &InstitutionCode,
    purpose: AccessPurpose,
    presented: (&str, Challenge<'_>, &CardProof),
    at: Timestamp,
) -> Result<RegisteredPerson, CardError> {
    let (nonce, proven, pseudonym) =
        authenticate(store, cards, institution, purpose, presented, false, at).await?;
    let (found, earlier) = store.person_with_consents(&pseudonym, institution).await?;
    let ids: Vec<i64> = found.iter().map(|f| f.id).collect();
    if !cards.is_registered(store, &pseudonym).await? {
        let r = Refusal {
            detail: "the person has not registered the card for insurance use (利用登録)".into(),
            ..REGISTRATION_REQUIRED
        };
        return Err(audit_refusal(
            store,
            institution,
            purpose,
            at,
            Some(&nonce),
            ids,
            CardError::Refused(r),
        )
        .await);
    }
    Ok(RegisteredPerson {
        nonce,
        proven,
        pseudonym,
        found,
        earlier,
        ids,
    })
}

/// The consents just given, for the categories the reader offers this person (特定健診 from
/// 40, by the answered qualification's birth date).
fn offered(
    given: &[ConsentCategory],
    answered: &[&StoredQualification],
    pseudonym: &str,
    institution: &InstitutionCode,
    at: Timestamp,
) -> Vec<Consent> {
    let on = at.jst_date();
    let birthdate = answered.first().map(|f| f.qualification.birthdate);
    given
        .iter()
        .filter(|c| birthdate.is_none_or(|b| c.offered_to(b, on)))
        .map(|&c| Consent::given(pseudonym, institution, c, at))
        .collect()
}

/// Where a category's consent stands, counting the consents just given.
fn consent_state(
    given: &[Consent],
    earlier: &[Consent],
    category: ConsentCategory,
    at: Timestamp,
) -> ConsentState {
    let latest = given
        .iter()
        .chain(earlier)
        .filter(|c| c.category == category)
        .max_by_key(|c| c.given_at);
    ConsentState::of(latest, at)
}

/// The categories of a request's `consents`.
fn consent_categories(codes: &[String]) -> Result<Vec<ConsentCategory>, CardError> {
    codes
        .iter()
        .map(|code| {
            ConsentCategory::parse(code).ok_or_else(|| {
                invalid(
                    "invalid_consent_category",
                    "同意の種類が正しくありません。",
                    "consents must be medications, treatments, surgeries, checkups or limit",
                    "consents",
                )
            })
        })
        .collect()
}

/// Consents given on the reader's screens after the check (画面④⑥), proven again with the card
/// (PIN signature or the terminal's attestation) over a fresh nonce. Recorded for this
/// institution, 24 hours; 特定健診 only from age 40. One access-log entry, which spends the
/// nonce, so a double submission records nothing twice.
pub async fn give_consents(
    store: &dyn Store,
    cards: &CardServices,
    institution: &InstitutionCode,
    request: &CardConsentRequest,
    at: Timestamp,
) -> Result<CardConsentResponse, CardError> {
    let purpose = AccessPurpose::ConsentRegistration;
    let given = consent_categories(&request.consents)?;
    let RegisteredPerson {
        nonce,
        pseudonym,
        found,
        earlier,
        ids,
        ..
    } = registered_person(
        store,
        cards,
        institution,
        purpose,
        (
            &request.certificate,
            Challenge::Issued(&request.nonce),
            &request.proof,
        ),
        at,
    )
    .await?;
    let (_, answered) = card_validity(&found, at.jst_date());
    let consents = offered(&given, &answered, &pseudonym, institution, at);
    let entry = AccessLogEntry {
        at,
        institution: institution.clone(),
        purpose,
        qualification_ids: ids.clone(),
        result: AccessResult::Registered,
        processing_code: "consents_registered".into(),
        information: None,
    };
    spend(store, &nonce, entry, ids).await?;
    if !consents.is_empty() {
        store.record_consents(consents.clone()).await?;
    }
    let flags = ConsentCategory::ALL
        .into_iter()
        .map(|category| consent_flag(category, consent_state(&consents, &earlier, category, at)))
        .collect();
    Ok(CardConsentResponse {
        consents: flags,
        next_nonce: Some(issue_nonce(cards, institution, at)),
    })
}

/// 利用登録: the person proves they hold the card (PIN) and registers it for insurance use.
pub async fn register_card(
    store: &dyn Store,
    cards: &CardServices,
    institution: &InstitutionCode,
    request: &CardRegistrationRequest,
    at: Timestamp,
) -> Result<CardRegistrationResponse, CardError> {
    let purpose = AccessPurpose::CardRegistration;
    let (nonce, proven, pseudonym) = authenticate(
        store,
        cards,
        institution,
        purpose,
        (
            &request.certificate,
            Challenge::Issued(&request.nonce),
            &request.proof,
        ),
        true,
        at,
    )
    .await?;
    let ids: Vec<i64> = store
        .find_by_person(&pseudonym)
        .await?
        .iter()
        .map(|f| f.id)
        .collect();
    let entry = AccessLogEntry {
        at,
        institution: institution.clone(),
        purpose,
        qualification_ids: ids.clone(),
        result: AccessResult::Registered,
        processing_code: "registered".into(),
        information: None,
    };
    spend(store, &nonce, entry, ids).await?;
    let newly = store
        .register_card(CardRegistration {
            pseudonym,
            registered_at: at,
            certificate_serial: proven.cert.serial.clone(),
            institution: institution.clone(),
        })
        .await?;
    Ok(CardRegistrationResponse {
        newly_registered: newly,
        message: if newly {
            "マイナンバーカードを健康保険証として利用する登録が完了しました。".into()
        } else {
            "このマイナンバーカードは健康保険証として登録済みです。".into()
        },
    })
}
