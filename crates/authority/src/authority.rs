//! [`Authority`]: the registry, the CA and the pseudonym secret of one authority directory.

use crate::ca::{self, add_years, random_serial, CaChain};
use crate::matching::{kana_key, mismatched_attributes};
use crate::registry::{NewCard, Registry, REGISTRY_FILE};
use crate::{
    files, hex, now, AuthorityError, CaCertificates, CardRecord, CardStatus, CertificateOwner,
    IssueRequest, IssuedCard, MatchOutcome, MatchQuery, Resident, RevocationReason,
};
use kakunin_domain::text::match_key;
use kakunin_domain::{Attribute, IndividualNumber, Timestamp};
use ring::hmac;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// The CRL's validity (nextUpdate − thisUpdate).
const CRL_VALIDITY_SECS: i64 = 24 * 3600;
/// Longest validity of a user-auth certificate the authority issues.
const MAX_VALIDITY_YEARS: u32 = 10;

/// One authority directory, opened. Cheap to clone (an `Arc` inside); every method is
/// synchronous and may block on the disk, so async callers use [`crate::Embedded`].
#[derive(Clone)]
pub struct Authority {
    inner: Arc<Inner>,
}

struct Inner {
    dir: PathBuf,
    ca: CaChain,
    pseudonym_key: hmac::Key,
    registry: Registry,
    crl: Mutex<Option<CachedCrl>>,
}

struct CachedCrl {
    status_seq: i64,
    /// Half of the CRL's validity: after this, a fresh one is signed even without changes.
    refresh_after_ms: i64,
    der: Vec<u8>,
}

impl std::fmt::Debug for Authority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authority")
            .field("dir", &self.inner.dir)
            .finish_non_exhaustive()
    }
}

fn validate(index: usize, r: &Resident) -> Result<(), AuthorityError> {
    let invalid = |reason: &str| AuthorityError::InvalidResident {
        index,
        reason: reason.to_string(),
    };
    if match_key(&r.name).is_empty() {
        return Err(invalid("name is empty"));
    }
    match kana_key(&r.name_kana) {
        None => return Err(invalid("name_kana is not katakana or hiragana")),
        Some(k) if k.is_empty() => return Err(invalid("name_kana is empty")),
        Some(_) => {}
    }
    if match_key(&r.address).is_empty() {
        return Err(invalid("address is empty"));
    }
    Ok(())
}

impl Authority {
    /// Opens the authority directory `dir`, creating it on first use: the CA chain (a root CA
    /// "JPKI Root CA (kakunin)", RSA-2048, 20 years, and the issuing CA "JPKI User
    /// Authentication CA (kakunin)", RSA-2048, 10 years, pathlen 0), the pseudonym secret, and
    /// `registry.sqlite3`. Layout: see the crate documentation.
    pub fn open_or_init(dir: &Path) -> Result<Authority, AuthorityError> {
        files::create_private_dir(dir)?;
        ca::init_keys(dir)?;
        Self::load(dir, true)
    }

    /// Opens an authority directory that [`Authority::open_or_init`] created; a directory
    /// without one is [`AuthorityError::NotInitialized`].
    pub fn open(dir: &Path) -> Result<Authority, AuthorityError> {
        let not_initialized = |missing: PathBuf| AuthorityError::NotInitialized {
            dir: dir.to_path_buf(),
            missing: missing
                .strip_prefix(dir)
                .unwrap_or(&missing)
                .display()
                .to_string(),
        };
        if let Some(missing) = ca::missing_key_file(dir) {
            return Err(not_initialized(missing));
        }
        let registry = dir.join(REGISTRY_FILE);
        if !registry.exists() {
            return Err(not_initialized(registry));
        }
        Self::load(dir, false)
    }

    fn load(dir: &Path, create: bool) -> Result<Authority, AuthorityError> {
        let (ca, secret) = CaChain::load(dir)?;
        let registry = Registry::open(&dir.join(REGISTRY_FILE), create)?;
        Ok(Authority {
            inner: Arc::new(Inner {
                dir: dir.to_path_buf(),
                ca,
                pseudonym_key: hmac::Key::new(hmac::HMAC_SHA256, &secret),
                registry,
                crl: Mutex::new(None),
            }),
        })
    }

    /// The directory this authority lives in.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Registers residents, or updates them by 個人番号, in one transaction. Returns how many
    /// were inserted or changed (an identical re-registration counts 0). A malformed resident
    /// (empty name or address, kana that is not kana) refuses the whole batch.
    pub fn register_residents(&self, residents: &[Resident]) -> Result<u64, AuthorityError> {
        for (i, r) in residents.iter().enumerate() {
            validate(i, r)?;
        }
        self.inner.registry.upsert_residents(residents, now())
    }

    pub fn resident_count(&self) -> Result<u64, AuthorityError> {
        self.inner.registry.resident_count()
    }

    /// Issues a card to a registered resident: a fresh RSA-2048 key and a user-auth
    /// certificate for it from the issuing CA (random positive 16-byte serial; subject
    /// `C=JP, O=JPKI, OU=JPKI for user authentication, CN=<serial hex>`, no personal data;
    /// keyUsage digitalSignature, extendedKeyUsage clientAuth, authorityKeyIdentifier).
    /// The card is recorded as active; see [`IssueRequest::revoke_previous`] for renewals.
    pub fn issue_card(&self, request: &IssueRequest) -> Result<IssuedCard, AuthorityError> {
        if !kakunin_card::is_valid_auth_pin(&request.pin) {
            return Err(AuthorityError::InvalidPin);
        }
        if !(1..=MAX_VALIDITY_YEARS).contains(&request.validity_years) {
            return Err(AuthorityError::InvalidRequest(format!(
                "validity_years must be 1–{MAX_VALIDITY_YEARS}, got {}",
                request.validity_years
            )));
        }
        let number = request.individual_number.expose();
        if !self.inner.registry.resident_exists(number)? {
            return Err(AuthorityError::UnknownResident);
        }
        let issued_at = now();
        // Certificates carry whole seconds.
        let not_before_secs = request
            .not_before
            .unwrap_or(issued_at)
            .unix_millis()
            .div_euclid(1000);
        let not_after_secs = add_years(not_before_secs, request.validity_years)? - 1;
        let key = kakunin_card::generate_rsa2048_pkcs8()?;
        let spki = kakunin_card::public_key_der_from_pkcs8(&key)?;
        let serial = random_serial()?;
        let cert = self.inner.ca.issue_user_certificate(
            &spki,
            &serial,
            not_before_secs,
            not_after_secs,
        )?;
        let card = NewCard {
            serial: hex(&serial),
            individual_number: number.to_string(),
            not_before: Timestamp::from_unix_millis(not_before_secs * 1000),
            not_after: Timestamp::from_unix_millis(not_after_secs * 1000),
            cert_sha256: sha256(&cert).to_vec(),
            issued_at,
        };
        self.inner
            .registry
            .insert_card(&card, request.revoke_previous)?;
        tracing::debug!(revoke_previous = request.revoke_previous, "card issued");
        Ok(IssuedCard {
            serial: card.serial,
            not_before: card.not_before,
            not_after: card.not_after,
            spec: kakunin_card::VirtualCardSpec {
                auth_key_pkcs8_der: key,
                auth_cert_der: cert,
                auth_ca_cert_der: self.inner.ca.issuing_der().to_vec(),
                pin: request.pin.clone(),
            },
        })
    }

    /// [`Authority::issue_card`], then writes the virtual card file `path` (never
    /// overwritten). If the file cannot be written, the just-issued card is revoked again
    /// (cessationOfOperation) so no unusable certificate stays active.
    pub fn issue_card_file(
        &self,
        request: &IssueRequest,
        path: &Path,
    ) -> Result<IssuedCard, AuthorityError> {
        if path.exists() {
            return Err(kakunin_card::VirtualCardError::AlreadyExists(path.to_path_buf()).into());
        }
        let issued = self.issue_card(request)?;
        match kakunin_card::VirtualCard::create(path, issued.spec.clone()) {
            Ok(_) => Ok(issued),
            Err(e) => {
                let _ = self.revoke(&issued.serial, RevocationReason::CessationOfOperation);
                Err(e.into())
            }
        }
    }

    /// The card with this serial (hex, either case).
    pub fn card(&self, serial: &str) -> Result<Option<CardRecord>, AuthorityError> {
        match normalise_serial(serial) {
            Some(s) => self.inner.registry.card(&s),
            None => Ok(None),
        }
    }

    /// 一時停止 (a lost card): the certificate goes on the CRL as certificateHold until
    /// [`Authority::resume`]. Suspending a suspended card is a no-op; a revoked one is
    /// [`AuthorityError::CardRevoked`].
    pub fn suspend(&self, serial: &str) -> Result<(), AuthorityError> {
        self.set_status(serial, CardStatus::Suspended, None)
    }

    /// Lifts a suspension. Resuming an active card is a no-op; a revoked card cannot come back
    /// ([`AuthorityError::CardRevoked`]).
    pub fn resume(&self, serial: &str) -> Result<(), AuthorityError> {
        self.set_status(serial, CardStatus::Active, None)
    }

    /// Revokes the card for good (active or suspended). Revoking again is Ok and keeps the
    /// first reason.
    pub fn revoke(&self, serial: &str, reason: RevocationReason) -> Result<(), AuthorityError> {
        self.set_status(serial, CardStatus::Revoked, Some(reason))
    }

    fn set_status(
        &self,
        serial: &str,
        target: CardStatus,
        reason: Option<RevocationReason>,
    ) -> Result<(), AuthorityError> {
        let serial = normalise_serial(serial).ok_or(AuthorityError::UnknownCard)?;
        self.inner
            .registry
            .set_status(&serial, target, reason, now())?;
        tracing::debug!(status = target.code(), "card status set");
        Ok(())
    }

    /// The serial number of a certificate: lower-case hex without leading zero bytes.
    pub fn serial_of(cert_der: &[u8]) -> Result<String, AuthorityError> {
        ca::serial_of(cert_der)
    }

    /// The current CRL (DER, v2, signed by the issuing CA with sha256WithRSAEncryption): every
    /// revoked card with its reason and every suspended card as certificateHold; thisUpdate
    /// now, nextUpdate 24 h later; a CRL number that increases with every CRL signed (also
    /// across processes); authorityKeyIdentifier.
    ///
    /// Cached: a new one is signed only when a card status changed (in any process using this
    /// directory) or half of the cached one's validity has passed. Revoked certificates stay
    /// listed after they expire (a card remains usable for 3 months after expiry, so expiry
    /// alone does not make an entry unnecessary).
    pub fn crl_der(&self) -> Result<Vec<u8>, AuthorityError> {
        let seq = self.inner.registry.status_seq()?;
        let now_ms = now().unix_millis();
        let mut cache = self
            .inner
            .crl
            .lock()
            .map_err(|_| AuthorityError::Storage("the CRL cache was poisoned".into()))?;
        if let Some(c) = cache.as_ref() {
            if c.status_seq == seq && now_ms < c.refresh_after_ms {
                return Ok(c.der.clone());
            }
        }
        let snapshot = self.inner.registry.crl_snapshot()?;
        let this_update = now_ms.div_euclid(1000);
        let der = self.inner.ca.sign_crl(
            &snapshot.entries,
            snapshot.crl_number,
            this_update,
            this_update + CRL_VALIDITY_SECS,
        )?;
        *cache = Some(CachedCrl {
            status_seq: snapshot.status_seq,
            refresh_after_ms: (this_update + CRL_VALIDITY_SECS / 2) * 1000,
            der: der.clone(),
        });
        tracing::debug!(entries = snapshot.entries.len(), "CRL signed");
        Ok(der)
    }

    pub fn ca_certificates(&self) -> CaCertificates {
        self.inner.ca.certificates()
    }

    /// The 機関別符号 of a person for `agency`: lower-case hex of the first 16 bytes of
    /// HMAC-SHA256(secret, agency ‖ 0x00 ‖ the 12 digits). Different per agency, stable across
    /// card renewals.
    pub fn pseudonym(&self, agency: &str, number: &IndividualNumber) -> String {
        let mut ctx = hmac::Context::with_key(&self.inner.pseudonym_key);
        ctx.update(agency.as_bytes());
        ctx.update(&[0]);
        ctx.update(number.expose().as_bytes());
        hex(&ctx.sign().as_ref()[..16])
    }

    /// Answers match queries in one read transaction: [`MatchOutcome::Matched`] with the
    /// agency's pseudonym when every attribute agrees (rules: [`crate::mismatched_attributes`]),
    /// else [`MatchOutcome::Mismatch`] with every differing attribute (`[IndividualNumber]`
    /// alone for an unknown number).
    pub fn match_residents(
        &self,
        agency: &str,
        queries: &[MatchQuery],
    ) -> Result<Vec<MatchOutcome>, AuthorityError> {
        self.inner
            .registry
            .match_batch(queries, |query, resident| match resident {
                None => MatchOutcome::Mismatch {
                    attributes: vec![Attribute::IndividualNumber],
                },
                Some(resident) => {
                    let attributes = mismatched_attributes(resident, query);
                    if attributes.is_empty() {
                        MatchOutcome::Matched {
                            pseudonym: self.pseudonym(agency, &query.individual_number),
                        }
                    } else {
                        MatchOutcome::Mismatch { attributes }
                    }
                }
            })
    }

    /// The owner (as `agency`'s pseudonym) of the card whose certificate is exactly
    /// `cert_der`, whatever its status; `None` for a certificate this authority did not issue.
    pub fn certificate_owner(
        &self,
        agency: &str,
        cert_der: &[u8],
    ) -> Result<Option<CertificateOwner>, AuthorityError> {
        let Some((number, serial, not_after)) = self.inner.registry.owner_of(&sha256(cert_der))?
        else {
            return Ok(None);
        };
        let number = IndividualNumber::parse(&number).map_err(|e| {
            AuthorityError::Storage(format!("bad individual number in registry: {e}"))
        })?;
        Ok(Some(CertificateOwner {
            pseudonym: self.pseudonym(agency, &number),
            serial,
            not_after,
        }))
    }
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref());
    out
}

/// Lower-case hex without leading zero bytes, the form serials are recorded in.
fn normalise_serial(serial: &str) -> Option<String> {
    let trimmed = serial.trim();
    let padded = if trimmed.len() % 2 == 1 {
        format!("0{trimmed}")
    } else {
        trimmed.to_string()
    };
    ca::serial_bytes(&padded).map(|b| ca::serial_hex(&b))
}
