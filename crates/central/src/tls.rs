//! TLS for the central: server identity, and client certificates checked after the handshake.
//!
//! The handshake accepts any client certificate whose key the client proves it holds (the
//! CertificateVerify signature is checked as usual); the chain to our CA is verified right after
//! the handshake with the same WebPKI verifier. A certificate from another CA thus gets a clear
//! HTTP 401 naming the reason instead of an opaque TLS alert. `/health` needs no certificate.

use crate::pki::{role_of, Role};
use anyhow::{anyhow, Context, Result};
use rustls::client::danger::HandshakeSignatureValid;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{
    DigitallySignedStruct, DistinguishedName, RootCertStore, ServerConfig, SignatureScheme,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use std::sync::Arc;

/// Why a connection has no usable role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthFailure {
    NoCertificate,
    /// The certificate does not chain to our CA, is expired, or is otherwise invalid.
    Untrusted(String),
    /// It chains, but its subject does not name a valid role and id.
    BadSubject(String),
    /// It chains and names a role, but an operator revoked it.
    Revoked,
}

/// A client certificate that chained to our CA and named a role: what the registry records of
/// it on first sight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presented {
    /// Lowercase hex.
    pub serial: String,
    pub role: Role,
    /// Unix milliseconds.
    pub not_before_ms: i64,
    pub not_after_ms: i64,
}

/// Certificates seen on connections or inside requests, passed once per serial to the
/// registry (which records those it does not know yet).
#[derive(Debug, Default)]
pub struct Seen {
    to_registry: std::sync::OnceLock<tokio::sync::mpsc::UnboundedSender<Presented>>,
    known: std::sync::Mutex<std::collections::HashSet<String>>,
}

impl Seen {
    /// Where seen certificates go from now on (the first registry of this TLS setup wins).
    pub fn connect(&self, to: tokio::sync::mpsc::UnboundedSender<Presented>) {
        let _ = self.to_registry.set(to);
    }
    /// Passes `p` on unless its serial was passed before.
    pub fn note(&self, p: Presented) {
        let Some(to) = self.to_registry.get() else {
            return;
        };
        if self
            .known
            .lock()
            .is_ok_and(|mut k| k.insert(p.serial.clone()))
        {
            let _ = to.send(p);
        }
    }
    /// Forgets a serial (its record failed: it is passed on again when next seen).
    pub fn forget(&self, serial: &str) {
        if let Ok(mut k) = self.known.lock() {
            k.remove(serial);
        }
    }
}

/// The serial of the certificate a request came with (a request extension).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallerSerial(pub String);

/// The serials of revoked client certificates, as this node last read them (shared by every
/// connection; a lookup is a read lock and a hash).
#[derive(Debug, Default)]
pub struct Revoked(std::sync::RwLock<std::collections::HashSet<String>>);

impl Revoked {
    pub fn contains(&self, serial: &str) -> bool {
        self.0.read().is_ok_and(|s| s.contains(serial))
    }
    /// Replaces the set with what the store holds now (revocation is final, so this only
    /// ever grows, whatever order nodes read in).
    pub fn extend(&self, serials: impl IntoIterator<Item = String>) {
        if let Ok(mut s) = self.0.write() {
            s.extend(serials);
        }
    }
    pub fn len(&self) -> usize {
        self.0.read().map_or(0, |s| s.len())
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The serial number of a DER certificate as lowercase hex (leading zero bytes kept as
/// encoded), or `None` when it does not parse.
pub fn serial_hex(der: &[u8]) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    Some(crate::cards::hex(cert.raw_serial()))
}

pub(crate) fn presented(der: &[u8], role: Role) -> Option<Presented> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let validity = cert.validity();
    Some(Presented {
        serial: crate::cards::hex(cert.raw_serial()),
        role,
        not_before_ms: validity.not_before.timestamp().saturating_mul(1000),
        not_after_ms: validity.not_after.timestamp().saturating_mul(1000),
    })
}

/// The authenticated party of one TLS connection.
#[derive(Debug, Clone)]
pub struct Peer(pub Result<Role, AuthFailure>);

#[derive(Debug)]
struct DeferredVerifier {
    inner: Arc<dyn ClientCertVerifier>,
}

impl ClientCertVerifier for DeferredVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }
    fn client_auth_mandatory(&self) -> bool {
        false
    }
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }
    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        // Checked after the handshake (see module docs); possession is checked below.
        Ok(ClientCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// The server's TLS configuration and the verifier used after each handshake.
#[derive(Clone)]
pub struct Tls {
    pub config: Arc<ServerConfig>,
    verifier: Arc<dyn ClientCertVerifier>,
    /// Refused even though they chain (kept current by the certificate registry).
    pub revoked: Arc<Revoked>,
    /// Certificates that verified, for the registry.
    pub seen: Arc<Seen>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tls { .. }")
    }
}

impl Tls {
    pub fn new(ca_pem: &[u8], server_identity_pem: &[u8]) -> Result<Self> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = RootCertStore::empty();
        for c in CertificateDer::pem_slice_iter(ca_pem) {
            roots.add(c.context("CA PEM")?).context("adding CA")?;
        }
        if roots.is_empty() {
            return Err(anyhow!("no CA certificate in the CA file"));
        }
        let verifier =
            WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()
                .context("building client verifier")?;
        let certs: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(server_identity_pem)
                .collect::<Result<_, _>>()
                .context("server certificate PEM")?;
        let key = PrivateKeyDer::from_pem_slice(server_identity_pem).context("server key PEM")?;
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .context("TLS versions")?
            .with_client_cert_verifier(Arc::new(DeferredVerifier {
                inner: verifier.clone(),
            }))
            .with_single_cert(certs, key)
            .context("server certificate")?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Self {
            config: Arc::new(config),
            verifier,
            revoked: Arc::default(),
            seen: Arc::default(),
        })
    }

    /// Verifies a certificate presented inside a request (a terminal's device certificate) the
    /// way client certificates are verified (revocation included), and reads its role.
    pub fn verify_certificate(&self, der: &[u8]) -> Result<Role, String> {
        let cert = CertificateDer::from(der.to_vec());
        self.verifier
            .verify_client_cert(&cert, &[], UnixTime::now())
            .map_err(|e| e.to_string())?;
        if serial_hex(der).is_some_and(|s| self.revoked.contains(&s)) {
            return Err("the certificate is revoked".into());
        }
        let role = role_of(der)?;
        if let Some(p) = presented(der, role.clone()) {
            self.seen.note(p);
        }
        Ok(role)
    }

    /// Verifies the peer's certificate chain and reads its role (refused when revoked).
    pub fn peer(&self, conn: &rustls::ServerConnection) -> Peer {
        let (peer, presented) = self.peer_and_certificate(conn);
        self.current(&peer, presented.as_ref())
    }

    /// The peer's role as of the handshake, and its certificate when it chains and names a
    /// role (for the registry, and for [`Self::current`] on every later request).
    pub fn peer_and_certificate(
        &self,
        conn: &rustls::ServerConnection,
    ) -> (Peer, Option<Presented>) {
        let Some(chain) = conn.peer_certificates().filter(|c| !c.is_empty()) else {
            return (Peer(Err(AuthFailure::NoCertificate)), None);
        };
        if let Err(e) = self
            .verifier
            .verify_client_cert(&chain[0], &chain[1..], UnixTime::now())
        {
            return (Peer(Err(AuthFailure::Untrusted(e.to_string()))), None);
        }
        match role_of(&chain[0]) {
            Ok(role) => {
                let p = presented(&chain[0], role.clone());
                if let Some(p) = &p {
                    self.seen.note(p.clone());
                }
                (Peer(Ok(role)), p)
            }
            Err(e) => (Peer(Err(AuthFailure::BadSubject(e))), None),
        }
    }

    /// The connection's peer for a request now: refused once its certificate is revoked, even
    /// on a connection opened before.
    pub fn current(&self, peer: &Peer, presented: Option<&Presented>) -> Peer {
        match presented {
            Some(p) if self.revoked.contains(&p.serial) => Peer(Err(AuthFailure::Revoked)),
            _ => peer.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::Ca;

    /// A terminal's device certificate presented inside a request is refused once revoked,
    /// like a connection's certificate.
    #[test]
    fn revoked_device_certificates_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let ca = Ca::init(dir.path(), "test CA").unwrap();
        let code = kakunin_domain::check_digit::complete("131000001").unwrap();
        let pem = ca.issue(&Role::parse("terminal", &code).unwrap()).unwrap();
        let der = CertificateDer::pem_slice_iter(pem.as_bytes())
            .next()
            .unwrap()
            .unwrap();
        let identity = std::fs::read(dir.path().join(crate::pki::SERVER_IDENTITY)).unwrap();
        let tls = Tls::new(ca.cert_pem().as_bytes(), &identity).unwrap();
        assert_eq!(
            tls.verify_certificate(&der),
            Ok(Role::parse("terminal", &code).unwrap())
        );
        let serial = serial_hex(&der).unwrap();
        assert!(serial
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        tls.revoked.extend([serial.clone()]);
        assert_eq!(
            tls.verify_certificate(&der),
            Err("the certificate is revoked".into())
        );
        // Another certificate of the same institution still verifies.
        let other = ca.issue(&Role::parse("terminal", &code).unwrap()).unwrap();
        let other = CertificateDer::pem_slice_iter(other.as_bytes())
            .next()
            .unwrap()
            .unwrap();
        assert!(tls.verify_certificate(&other).is_ok());
        assert_ne!(serial_hex(&other), Some(serial));
    }
}
