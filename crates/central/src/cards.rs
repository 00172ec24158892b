//! Card proofs: the authority's CA chain and CRL, single-use nonces, and the signatures a card or
//! a terminal makes over them.
//!
//! A card check verifies, in this order: the nonce (ours, for this institution, fresh), the
//! certificate (chains to the authority's issuing CA, in its validity window or the 3-month
//! grace, not on the CRL), the proof (the card's signature over the nonce, or a terminal's
//! attestation), and only then looks anyone up. The nonce is spent in the same durable write as
//! the access-log entry, so a replay is refused even across central nodes.

use kakunin_domain::{certificate_phase, CertificatePhase, Date, InstitutionCode, Timestamp};
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{self, UnparsedPublicKey};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use x509_parser::oid_registry;
use x509_parser::prelude::*;

/// How long a nonce may wait for the patient's PIN.
pub const NONCE_TTL: Duration = Duration::from_secs(300);
/// Verified certificates kept in memory (chain signature checked once per certificate).
const CACHE_LIMIT: usize = 200_000;

/// Why a card proof was refused: a stable code, the message for the patient or staff
/// (Japanese), and the detail for the vendor (English).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: &'static str,
    pub message: &'static str,
    pub detail: String,
}

impl Refusal {
    pub(crate) fn new(
        code: &'static str,
        message: &'static str,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            code,
            message,
            detail: detail.into(),
        }
    }
}

const MSG_READ_AGAIN: &str =
    "カードの情報を確認できませんでした。もう一度カードを置いてやり直してください。";
const MSG_NOT_USABLE: &str =
    "このマイナンバーカードは現在ご利用いただけません。お住まいの市区町村の窓口にお問い合わせください。本日は資格確認書などで確認します。";
const MSG_EXPIRED: &str =
    "マイナンバーカードの電子証明書の有効期限が切れています。お住まいの市区町村で電子証明書の更新手続きをしてください。本日は資格確認書などで確認します。";
const MSG_RETRY: &str =
    "確認に時間がかかったため中断しました。もう一度カードを置いてやり直してください。";

// ---------------------------------------------------------------------------------------------
// Nonces

/// The audience of the patient portal's login nonces.
pub const PORTAL_AUDIENCE: &str = "portal";

/// Issues and checks nonces: `hex(issued-at ms ‖ 16 random bytes) . hex(MAC)`, the MAC binding
/// them to the institution. Stateless to issue; spending is recorded by the store. The time comes
/// first so that spent nonces are stored in (nearly) increasing order: each spend appends to the
/// index instead of dirtying a random page of it.
pub struct Nonces {
    key: hmac::Key,
    rng: SystemRandom,
}

impl std::fmt::Debug for Nonces {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Nonces { .. }")
    }
}

/// A nonce that passed its checks (not yet spent).
#[derive(Debug, Clone)]
pub struct CheckedNonce {
    pub nonce: String,
    pub expires_at: Timestamp,
}

impl Nonces {
    /// The nonce key of a data directory (`nonce.key`, created on first use). Central nodes
    /// that share a database must share this file.
    pub fn load_or_create(data_dir: &Path) -> anyhow::Result<Self> {
        let path = data_dir.join("nonce.key");
        let hex_key = match std::fs::read_to_string(&path) {
            Ok(s) => s.trim().to_string(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut k = [0u8; 32];
                SystemRandom::new()
                    .fill(&mut k)
                    .map_err(|_| anyhow::anyhow!("no system randomness"))?;
                let h = hex(&k);
                crate::pki::write_private(&path, &h)?;
                h
            }
            Err(e) => return Err(anyhow::anyhow!("reading {}: {e}", path.display())),
        };
        let key = unhex(&hex_key)
            .filter(|k| k.len() == 32)
            .ok_or_else(|| anyhow::anyhow!("{} is not a 32-byte hex key", path.display()))?;
        Ok(Self::from_key(&key))
    }

    pub fn from_key(key: &[u8]) -> Self {
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, key),
            rng: SystemRandom::new(),
        }
    }

    /// The MAC binding a nonce to its audience: an institution's code, or [`PORTAL_AUDIENCE`]
    /// (digits never equal a word, so a nonce for one is refused by the other).
    fn mac(&self, audience: &str, body: &[u8]) -> [u8; 16] {
        let mut ctx = hmac::Context::with_key(&self.key);
        ctx.update(b"kakunin/nonce/v1\0");
        ctx.update(audience.as_bytes());
        ctx.update(b"\0");
        ctx.update(body);
        let tag = ctx.sign();
        let mut out = [0u8; 16];
        out.copy_from_slice(&tag.as_ref()[..16]);
        out
    }

    /// A fresh nonce for `institution`, and when it expires.
    pub fn issue(&self, institution: &InstitutionCode, now: Timestamp) -> (String, Timestamp) {
        self.issue_for(institution.as_str(), now)
    }

    /// A fresh nonce for an audience (see [`Nonces::mac`]).
    pub fn issue_for(&self, audience: &str, now: Timestamp) -> (String, Timestamp) {
        let mut body = [0u8; 24];
        body[..8].copy_from_slice(&now.unix_millis().to_be_bytes());
        // SystemRandom only fails when the OS has no randomness, which is fatal anyway.
        self.rng.fill(&mut body[8..]).expect("system randomness");
        let mac = self.mac(audience, &body);
        (
            format!("{}.{}", hex(&body), hex(&mac)),
            Timestamp::from_unix_millis(now.unix_millis() + NONCE_TTL.as_millis() as i64),
        )
    }

    /// A portal session token for a person until `expires`: `hex(expiry ‖ pseudonym) .
    /// hex(MAC)`, under its own label so no nonce is a session and no session a nonce.
    pub fn sign_session(&self, pseudonym: &str, expires: Timestamp) -> String {
        let mut body = expires.unix_millis().to_be_bytes().to_vec();
        body.extend_from_slice(pseudonym.as_bytes());
        format!("{}.{}", hex(&body), hex(&self.session_mac(&body)))
    }

    /// The person of a session token that is ours, untampered and not expired.
    pub fn open_session(&self, token: &str, now: Timestamp) -> Option<String> {
        let (body, mac) = token.split_once('.')?;
        let body = unhex(body).filter(|b| b.len() > 8 && b.len() <= 264)?;
        let mac = unhex(mac).filter(|m| m.len() == 32)?;
        let differ = self
            .session_mac(&body)
            .iter()
            .zip(&mac)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        if differ != 0 {
            return None;
        }
        let mut ms = [0u8; 8];
        ms.copy_from_slice(&body[..8]);
        if now.unix_millis() >= i64::from_be_bytes(ms) {
            return None;
        }
        String::from_utf8(body[8..].to_vec()).ok()
    }

    fn session_mac(&self, body: &[u8]) -> [u8; 32] {
        let mut ctx = hmac::Context::with_key(&self.key);
        ctx.update(b"kakunin/portal-session/v1\0");
        ctx.update(body);
        let mut out = [0u8; 32];
        out.copy_from_slice(ctx.sign().as_ref());
        out
    }

    /// Checks a nonce's form, MAC (ours, for this institution) and age.
    pub fn check(
        &self,
        nonce: &str,
        institution: &InstitutionCode,
        now: Timestamp,
    ) -> Result<CheckedNonce, Refusal> {
        self.check_for(nonce, institution.as_str(), now)
    }

    /// [`Nonces::check`] for an audience.
    pub fn check_for(
        &self,
        nonce: &str,
        audience: &str,
        now: Timestamp,
    ) -> Result<CheckedNonce, Refusal> {
        let invalid = |d: &str| Refusal::new("nonce_invalid", MSG_READ_AGAIN, d.to_string());
        let (body, mac) = nonce
            .split_once('.')
            .ok_or_else(|| invalid("the nonce is malformed"))?;
        let body = unhex(body)
            .filter(|b| b.len() == 24)
            .ok_or_else(|| invalid("the nonce is malformed"))?;
        let mac = unhex(mac)
            .filter(|m| m.len() == 16)
            .ok_or_else(|| invalid("the nonce is malformed"))?;
        let expected = self.mac(audience, &body);
        let differ = expected
            .iter()
            .zip(&mac)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        if differ != 0 {
            return Err(invalid(
                "the nonce was not issued by this central to this institution",
            ));
        }
        let mut ms = [0u8; 8];
        ms.copy_from_slice(&body[..8]);
        let issued = i64::from_be_bytes(ms);
        let expires = issued + NONCE_TTL.as_millis() as i64;
        if issued > now.unix_millis() + 5_000 {
            return Err(invalid("the nonce is from the future"));
        }
        if now.unix_millis() > expires {
            return Err(Refusal::new(
                "nonce_expired",
                MSG_RETRY,
                "the nonce expired; request a new one",
            ));
        }
        Ok(CheckedNonce {
            nonce: nonce.to_string(),
            expires_at: Timestamp::from_unix_millis(expires),
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Certificates and the CRL

/// The authority's CA certificates as the central trusts them.
#[derive(Debug, Clone)]
struct IssuingCa {
    subject: Vec<u8>,
    /// PKCS#1 RSAPublicKey.
    public_key: Vec<u8>,
}

/// A card certificate whose chain and form were verified (time and revocation are checked on
/// every use).
#[derive(Debug, Clone)]
pub struct CardCertificate {
    pub serial: String,
    pub not_before: Timestamp,
    pub not_after: Timestamp,
    /// PKCS#1 RSAPublicKey of the card's user-auth key.
    pub public_key: Vec<u8>,
    pub sha256: [u8; 32],
}

impl CardCertificate {
    /// Where the certificate stands on `on` (JST day).
    pub fn phase(&self, on: Date) -> CertificatePhase {
        certificate_phase(self.not_before.jst_date(), self.not_after.jst_date(), on)
    }
}

/// What the CRL says about one serial.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revocation {
    Suspended,
    Revoked,
}

#[derive(Debug, Default)]
struct Crl {
    entries: HashMap<String, Revocation>,
    next_update: Option<Timestamp>,
    loaded: bool,
}

/// Trust in the authority: its issuing CA, its CRL, and a cache of verified certificates.
#[derive(Debug)]
pub struct CardTrust {
    issuing: Vec<IssuingCa>,
    crl: RwLock<Crl>,
    cache: Mutex<HashMap<[u8; 32], Arc<CardCertificate>>>,
}

fn sha256(b: &[u8]) -> [u8; 32] {
    Sha256::digest(b).into()
}

fn rsa_key_of(spki: &SubjectPublicKeyInfo<'_>) -> Result<Vec<u8>, String> {
    if spki.algorithm.algorithm != oid_registry::OID_PKCS1_RSAENCRYPTION {
        return Err("the key is not an RSA key".into());
    }
    Ok(spki.subject_public_key.data.to_vec())
}

fn is_sha256_rsa(alg: &AlgorithmIdentifier<'_>) -> bool {
    alg.algorithm == oid_registry::OID_PKCS1_SHA256WITHRSA
}

fn verify_rsa_sha256(public_key: &[u8], message: &[u8], sig: &[u8]) -> bool {
    UnparsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, public_key)
        .verify(message, sig)
        .is_ok()
}

fn timestamp_of(t: ASN1Time) -> Timestamp {
    Timestamp::from_unix_millis(t.timestamp() * 1000)
}

impl CardTrust {
    /// Trusts the authority's root and issuing CA (DER); the issuing CA must verify against
    /// the root.
    pub fn new(root_der: &[u8], issuing_der: &[u8]) -> anyhow::Result<Self> {
        let (_, root) = parse_x509_certificate(root_der)
            .map_err(|e| anyhow::anyhow!("authority root CA certificate: {e}"))?;
        let (_, issuing) = parse_x509_certificate(issuing_der)
            .map_err(|e| anyhow::anyhow!("authority issuing CA certificate: {e}"))?;
        let root_key =
            rsa_key_of(root.public_key()).map_err(|e| anyhow::anyhow!("root CA: {e}"))?;
        if issuing.issuer().as_raw() != root.subject().as_raw()
            || !is_sha256_rsa(&issuing.signature_algorithm)
            || !verify_rsa_sha256(
                &root_key,
                issuing.tbs_certificate.as_ref(),
                &issuing.signature_value.data,
            )
        {
            anyhow::bail!("the authority's issuing CA does not verify against its root CA");
        }
        if !issuing.is_ca() {
            anyhow::bail!("the authority's issuing CA certificate is not a CA");
        }
        let public_key =
            rsa_key_of(issuing.public_key()).map_err(|e| anyhow::anyhow!("issuing CA: {e}"))?;
        Ok(Self {
            issuing: vec![IssuingCa {
                subject: issuing.subject().as_raw().to_vec(),
                public_key,
            }],
            crl: RwLock::new(Crl::default()),
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// Replaces the CRL after verifying its signature and issuer.
    pub fn load_crl(&self, der: &[u8]) -> Result<usize, String> {
        let (rest, crl) =
            parse_x509_crl(der).map_err(|e| format!("the CRL does not parse: {e}"))?;
        if !rest.is_empty() {
            return Err("trailing bytes after the CRL".into());
        }
        let ca = self
            .issuing
            .iter()
            .find(|ca| ca.subject == crl.issuer().as_raw())
            .ok_or("the CRL is not from the authority's issuing CA")?;
        if !is_sha256_rsa(&crl.signature_algorithm)
            || !verify_rsa_sha256(
                &ca.public_key,
                crl.tbs_cert_list.as_ref(),
                &crl.signature_value.data,
            )
        {
            return Err("the CRL signature does not verify".into());
        }
        let mut entries = HashMap::new();
        for r in crl.iter_revoked_certificates() {
            let hold = r.reason_code().is_some_and(|(_, rc)| rc.0 == 6);
            entries.insert(
                serial_hex(r.raw_serial()),
                if hold {
                    Revocation::Suspended
                } else {
                    Revocation::Revoked
                },
            );
        }
        let n = entries.len();
        let mut state = self.crl.write().unwrap_or_else(|p| p.into_inner());
        *state = Crl {
            entries,
            next_update: crl.next_update().map(timestamp_of),
            loaded: true,
        };
        Ok(n)
    }

    /// Verifies a card certificate's chain and form (cached), then its validity on `now` and its
    /// revocation status.
    pub fn verify(&self, der: &[u8], now: Timestamp) -> Result<Arc<CardCertificate>, Refusal> {
        let cert = self.verify_chain(der)?;
        {
            let crl = self.crl.read().unwrap_or_else(|p| p.into_inner());
            if !crl.loaded || crl.next_update.is_some_and(|n| now > n) {
                return Err(Refusal::new(
                    "revocation_unknown",
                    "マイナンバーカードの失効情報を確認できないため、カードでの確認ができません。資格確認書などで確認してください。",
                    "the authority's CRL is missing or past its nextUpdate; the central refreshes it in the background",
                ));
            }
            match crl.entries.get(&cert.serial) {
                Some(Revocation::Suspended) => {
                    return Err(Refusal::new(
                        "certificate_suspended",
                        MSG_NOT_USABLE,
                        "the card's certificate is suspended (certificateHold on the CRL)",
                    ))
                }
                Some(Revocation::Revoked) => {
                    return Err(Refusal::new(
                        "certificate_revoked",
                        MSG_NOT_USABLE,
                        "the card's certificate is revoked",
                    ))
                }
                None => {}
            }
        }
        match cert.phase(now.jst_date()) {
            CertificatePhase::NotYetValid => Err(Refusal::new(
                "certificate_not_yet_valid",
                MSG_NOT_USABLE,
                "the card's certificate is not valid yet",
            )),
            CertificatePhase::Expired => Err(Refusal::new(
                "certificate_expired",
                MSG_EXPIRED,
                "the card's certificate expired more than 3 months ago",
            )),
            _ => Ok(cert),
        }
    }

    fn verify_chain(&self, der: &[u8]) -> Result<Arc<CardCertificate>, Refusal> {
        let digest = sha256(der);
        if let Some(c) = self
            .cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&digest)
        {
            return Ok(c.clone());
        }
        let malformed = |d: String| Refusal::new("certificate_malformed", MSG_READ_AGAIN, d);
        let (rest, cert) = parse_x509_certificate(der)
            .map_err(|e| malformed(format!("the certificate does not parse: {e}")))?;
        if !rest.is_empty() {
            return Err(malformed("trailing bytes after the certificate".into()));
        }
        let ca = self
            .issuing
            .iter()
            .find(|ca| ca.subject == cert.issuer().as_raw())
            .ok_or_else(|| {
                Refusal::new(
                    "certificate_unknown_issuer",
                    MSG_NOT_USABLE,
                    "the certificate was not issued by the authority's user-auth CA",
                )
            })?;
        if !is_sha256_rsa(&cert.signature_algorithm)
            || !verify_rsa_sha256(
                &ca.public_key,
                cert.tbs_certificate.as_ref(),
                &cert.signature_value.data,
            )
        {
            return Err(Refusal::new(
                "certificate_signature_invalid",
                MSG_NOT_USABLE,
                "the certificate's signature does not verify against the authority's CA",
            ));
        }
        let public_key = rsa_key_of(cert.public_key()).map_err(malformed)?;
        let verified = Arc::new(CardCertificate {
            serial: serial_hex(cert.raw_serial()),
            not_before: timestamp_of(cert.validity().not_before),
            not_after: timestamp_of(cert.validity().not_after),
            public_key,
            sha256: digest,
        });
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(digest, verified.clone());
        Ok(verified)
    }
}

/// Checks the card's signature over the challenge of `nonce` (PKCS#1 v1.5, SHA-256).
pub fn verify_pin_proof(
    cert: &CardCertificate,
    nonce: &str,
    signature_b64: &str,
) -> Result<(), Refusal> {
    verify_card_signature(cert, &kakunin_api::card_challenge(nonce), signature_b64)
}

/// Checks the card's signature over a portal login nonce ([`kakunin_api::portal_challenge`]).
pub fn verify_portal_proof(
    cert: &CardCertificate,
    nonce: &str,
    signature_b64: &str,
) -> Result<(), Refusal> {
    verify_card_signature(cert, &kakunin_api::portal_challenge(nonce), signature_b64)
}

fn verify_card_signature(
    cert: &CardCertificate,
    message: &[u8],
    signature_b64: &str,
) -> Result<(), Refusal> {
    let bad = |d: &str| Refusal::new("card_signature_invalid", MSG_READ_AGAIN, d.to_string());
    let sig = b64(signature_b64).ok_or_else(|| bad("the signature is not base64"))?;
    if sig.len() != 256 {
        return Err(bad("the signature is not 256 bytes (RSA-2048)"));
    }
    if !verify_rsa_sha256(&cert.public_key, message, &sig) {
        return Err(bad(
            "the card's signature over the nonce does not verify with the certificate's key",
        ));
    }
    Ok(())
}

/// Checks a terminal attestation: the device key's ECDSA P-256 signature over the attestation
/// message. The caller has verified the device certificate's chain and role.
pub fn verify_attestation(
    device_cert_der: &[u8],
    method: &str,
    nonce: &str,
    card: &CardCertificate,
    signature_b64: &str,
) -> Result<(), Refusal> {
    let bad = |d: &str| {
        Refusal::new(
            "attestation_invalid",
            "端末の確認情報が正しくありません。端末を再起動しても解決しない場合は販売店にご連絡ください。",
            d.to_string(),
        )
    };
    let sig = b64(signature_b64).ok_or_else(|| bad("the signature is not base64"))?;
    let (_, dev) = parse_x509_certificate(device_cert_der)
        .map_err(|_| bad("the device certificate does not parse"))?;
    let key = &dev.public_key().subject_public_key.data;
    let message = kakunin_api::attestation_message(method, nonce, &hex(&card.sha256));
    UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_ASN1, key)
        .verify(&message, &sig)
        .map_err(|_| bad("the attestation signature does not verify with the device key"))
}

fn serial_hex(raw: &[u8]) -> String {
    let trimmed: &[u8] = match raw.iter().position(|&b| b != 0) {
        Some(i) => &raw[i..],
        None => &raw[raw.len().saturating_sub(1)..],
    };
    hex(trimmed)
}

pub(crate) fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

pub(crate) fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

/// Standard base64 (padding optional).
pub fn b64(s: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(s.trim()))
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inst(code: &str) -> InstitutionCode {
        InstitutionCode::parse(code).unwrap()
    }

    #[test]
    fn nonces_bind_institution_and_time() {
        let n = Nonces::from_key(&[7; 32]);
        let a = inst("0110113719");
        let t0 = Timestamp::from_unix_millis(1_795_480_200_000);
        let (nonce, expires) = n.issue(&a, t0);
        assert_eq!(expires.unix_millis() - t0.unix_millis(), 300_000);
        assert!(n.check(&nonce, &a, t0).is_ok());
        let later = Timestamp::from_unix_millis(t0.unix_millis() + 299_000);
        assert!(n.check(&nonce, &a, later).is_ok());
        let too_late = Timestamp::from_unix_millis(t0.unix_millis() + 301_000);
        assert_eq!(
            n.check(&nonce, &a, too_late).unwrap_err().code,
            "nonce_expired"
        );
        // Another institution's, another central's, a tampered or a garbled nonce.
        let other = (0..10)
            .find_map(|d| InstitutionCode::parse(&format!("131000000{d}")).ok())
            .unwrap();
        assert_eq!(
            n.check(&nonce, &other, t0).unwrap_err().code,
            "nonce_invalid"
        );
        let foreign = Nonces::from_key(&[8; 32]);
        assert_eq!(
            foreign.check(&nonce, &a, t0).unwrap_err().code,
            "nonce_invalid"
        );
        let mut tampered = nonce.clone().into_bytes();
        tampered[3] = if tampered[3] == b'0' { b'1' } else { b'0' };
        let tampered = String::from_utf8(tampered).unwrap();
        assert_eq!(
            n.check(&tampered, &a, t0).unwrap_err().code,
            "nonce_invalid"
        );
        for garbage in ["", ".", "zz.zz", &nonce[..20]] {
            assert_eq!(n.check(garbage, &a, t0).unwrap_err().code, "nonce_invalid");
        }
    }

    #[test]
    fn serials_are_minimal_hex() {
        assert_eq!(serial_hex(&[0, 0x1a, 0x02]), "1a02");
        assert_eq!(serial_hex(&[0]), "00");
    }
}
