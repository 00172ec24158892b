//! [`AuthorityApi`]: what a central needs from an authority, in process ([`Embedded`]) or over
//! HTTPS ([`Remote`]).

use crate::files::pem_decode;
use crate::wire::{
    CaResponse, CardStatusRequest, ErrorBody, MatchQueryDto, MatchRequest, MatchResponse,
    OwnerRequest, OwnerResponse,
};
use crate::{
    Authority, AuthorityError, CaCertificates, CardStatus, CertificateOwner, MatchOutcome,
    MatchQuery, RevocationReason, MAX_MATCH_BATCH,
};
use async_trait::async_trait;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use std::sync::Arc;
use std::time::Duration;

/// What a central needs from an authority, local or remote. The agency is fixed by the
/// implementation (the one [`Embedded`] was built for, or the one the remote authority
/// recognises from the client certificate).
#[async_trait]
pub trait AuthorityApi: Send + Sync + 'static {
    /// See [`Authority::match_residents`]; outcomes are aligned with `queries`.
    async fn match_residents(
        &self,
        queries: Vec<MatchQuery>,
    ) -> Result<Vec<MatchOutcome>, AuthorityError>;
    /// See [`Authority::certificate_owner`].
    async fn certificate_owner(
        &self,
        cert_der: Vec<u8>,
    ) -> Result<Option<CertificateOwner>, AuthorityError>;
    /// The current CRL, DER.
    async fn crl(&self) -> Result<Vec<u8>, AuthorityError>;
    async fn ca_certificates(&self) -> Result<CaCertificates, AuthorityError>;
}

/// An authority in the same process, for one agency. Runs the blocking calls on tokio's
/// blocking pool.
#[derive(Clone, Debug)]
pub struct Embedded {
    authority: Authority,
    agency: Arc<str>,
}

impl Embedded {
    pub fn new(authority: Authority, agency: &str) -> Self {
        Self {
            authority,
            agency: Arc::from(agency),
        }
    }

    pub fn authority(&self) -> &Authority {
        &self.authority
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Authority, &str) -> Result<T, AuthorityError> + Send + 'static,
    ) -> Result<T, AuthorityError> {
        let (authority, agency) = (self.authority.clone(), self.agency.clone());
        tokio::task::spawn_blocking(move || f(&authority, &agency))
            .await
            .map_err(|e| AuthorityError::Storage(format!("authority task failed: {e}")))?
    }
}

#[async_trait]
impl AuthorityApi for Embedded {
    async fn match_residents(
        &self,
        queries: Vec<MatchQuery>,
    ) -> Result<Vec<MatchOutcome>, AuthorityError> {
        self.blocking(move |a, agency| a.match_residents(agency, &queries))
            .await
    }

    async fn certificate_owner(
        &self,
        cert_der: Vec<u8>,
    ) -> Result<Option<CertificateOwner>, AuthorityError> {
        self.blocking(move |a, agency| a.certificate_owner(agency, &cert_der))
            .await
    }

    async fn crl(&self) -> Result<Vec<u8>, AuthorityError> {
        self.blocking(|a, _| a.crl_der()).await
    }

    async fn ca_certificates(&self) -> Result<CaCertificates, AuthorityError> {
        Ok(self.authority.ca_certificates())
    }
}

/// An authority reached over HTTPS with a client certificate (mTLS), speaking the API of
/// [`crate::router`]. Match batches larger than [`MAX_MATCH_BATCH`] are sent in several calls.
#[derive(Clone, Debug)]
pub struct Remote {
    base: String,
    http: reqwest::Client,
}

impl Remote {
    /// `base_url` like `https://authority.example:8443`; `ca_pem` holds the CA certificate(s)
    /// the server's certificate chains to; `identity_pem` holds the client certificate and its
    /// PKCS#8 key. Only these roots are trusted.
    pub fn new(base_url: &str, ca_pem: &[u8], identity_pem: &[u8]) -> Result<Self, AuthorityError> {
        let pem_error = |e: reqwest::Error| AuthorityError::Crypto(format!("bad PEM: {e}"));
        let roots = reqwest::Certificate::from_pem_bundle(ca_pem).map_err(pem_error)?;
        if roots.is_empty() {
            return Err(AuthorityError::Crypto(
                "the CA PEM holds no certificate".into(),
            ));
        }
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false);
        for root in roots {
            builder = builder.add_root_certificate(root);
        }
        let http = builder
            .identity(reqwest::Identity::from_pem(identity_pem).map_err(pem_error)?)
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(120))
            .http1_only()
            .build()
            .map_err(|e| AuthorityError::Transport(e.to_string()))?;
        Ok(Self {
            base: base_url.trim_end_matches('/').to_string(),
            http,
        })
    }

    fn transport(e: reqwest::Error) -> AuthorityError {
        let mut msg = e.to_string();
        let mut src = std::error::Error::source(&e);
        while let Some(s) = src {
            msg.push_str(": ");
            msg.push_str(&s.to_string());
            src = s.source();
        }
        AuthorityError::Transport(msg)
    }

    /// The body of a 2xx answer, else the answer's error.
    async fn bytes(resp: reqwest::Response) -> Result<Vec<u8>, AuthorityError> {
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.map_err(Self::transport)?;
        if (200..300).contains(&status) {
            return Ok(bytes.to_vec());
        }
        Err(match serde_json::from_slice::<ErrorBody>(&bytes) {
            Ok(e) => AuthorityError::Remote {
                status,
                code: e.code,
                detail: e.detail,
            },
            Err(_) => AuthorityError::Remote {
                status,
                code: "unexpected".into(),
                detail: String::from_utf8_lossy(&bytes[..bytes.len().min(512)]).into_owned(),
            },
        })
    }

    async fn json<T: serde::de::DeserializeOwned>(
        resp: reqwest::Response,
    ) -> Result<T, AuthorityError> {
        let bytes = Self::bytes(resp).await?;
        serde_json::from_slice(&bytes)
            .map_err(|e| AuthorityError::Transport(format!("unreadable answer: {e}")))
    }

    async fn post<B: serde::Serialize + ?Sized>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<reqwest::Response, AuthorityError> {
        self.http
            .post(format!("{}{path}", self.base))
            .json(body)
            .send()
            .await
            .map_err(Self::transport)
    }

    /// Suspends, resumes or revokes a card (the 24-hour hotline's operation).
    pub async fn set_card_status(
        &self,
        serial: &str,
        status: CardStatus,
        reason: Option<RevocationReason>,
    ) -> Result<(), AuthorityError> {
        let body = CardStatusRequest {
            serial: serial.to_string(),
            status: status.code().to_string(),
            reason: reason.map(|r| r.code().to_string()),
        };
        let resp = self.post("/v1/cards/status", &body).await?;
        Self::bytes(resp).await.map(|_| ())
    }
}

#[async_trait]
impl AuthorityApi for Remote {
    async fn match_residents(
        &self,
        queries: Vec<MatchQuery>,
    ) -> Result<Vec<MatchOutcome>, AuthorityError> {
        let mut out = Vec::with_capacity(queries.len());
        for chunk in queries.chunks(MAX_MATCH_BATCH) {
            let body = MatchRequest {
                queries: chunk.iter().map(MatchQueryDto::from).collect(),
            };
            let resp: MatchResponse = Self::json(self.post("/v1/match", &body).await?).await?;
            if resp.outcomes.len() != chunk.len() {
                return Err(AuthorityError::Transport(format!(
                    "{} outcomes for {} queries",
                    resp.outcomes.len(),
                    chunk.len()
                )));
            }
            for o in resp.outcomes {
                out.push(
                    MatchOutcome::try_from(o)
                        .map_err(|e| AuthorityError::Transport(format!("bad outcome: {e}")))?,
                );
            }
        }
        Ok(out)
    }

    async fn certificate_owner(
        &self,
        cert_der: Vec<u8>,
    ) -> Result<Option<CertificateOwner>, AuthorityError> {
        let body = OwnerRequest {
            certificate: STANDARD.encode(cert_der),
        };
        let resp: OwnerResponse =
            Self::json(self.post("/v1/certificates/owner", &body).await?).await?;
        resp.owner
            .map(|o| {
                CertificateOwner::try_from(o)
                    .map_err(|e| AuthorityError::Transport(format!("bad owner: {e}")))
            })
            .transpose()
    }

    async fn crl(&self) -> Result<Vec<u8>, AuthorityError> {
        let resp = self
            .http
            .get(format!("{}/v1/crl", self.base))
            .send()
            .await
            .map_err(Self::transport)?;
        Self::bytes(resp).await
    }

    async fn ca_certificates(&self) -> Result<CaCertificates, AuthorityError> {
        let resp = self
            .http
            .get(format!("{}/v1/ca", self.base))
            .send()
            .await
            .map_err(Self::transport)?;
        let ca: CaResponse = Self::json(resp).await?;
        Ok(CaCertificates {
            root_der: pem_decode("CERTIFICATE", &ca.root)?,
            issuing_der: pem_decode("CERTIFICATE", &ca.issuing)?,
        })
    }
}
