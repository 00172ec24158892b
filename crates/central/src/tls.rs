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
        })
    }

    /// Verifies a certificate presented inside a request (a terminal's device certificate) the
    /// way client certificates are verified, and reads its role.
    pub fn verify_certificate(&self, der: &[u8]) -> Result<Role, String> {
        let cert = CertificateDer::from(der.to_vec());
        self.verifier
            .verify_client_cert(&cert, &[], UnixTime::now())
            .map_err(|e| e.to_string())?;
        role_of(der)
    }

    /// Verifies the peer's certificate chain and reads its role.
    pub fn peer(&self, conn: &rustls::ServerConnection) -> Peer {
        let Some(chain) = conn.peer_certificates().filter(|c| !c.is_empty()) else {
            return Peer(Err(AuthFailure::NoCertificate));
        };
        if let Err(e) = self
            .verifier
            .verify_client_cert(&chain[0], &chain[1..], UnixTime::now())
        {
            return Peer(Err(AuthFailure::Untrusted(e.to_string())));
        }
        Peer(role_of(&chain[0]).map_err(AuthFailure::BadSubject))
    }
}
