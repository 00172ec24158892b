//! An HTTPS client of the central API with a client certificate (mTLS).

use crate::dto::*;
use std::path::Path;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("bad certificate or key PEM: {0}")]
    Pem(String),
    #[error("cannot reach the central: {0}")]
    Transport(String),
    #[error("{} ({}): {}", .0.message, .0.code, .0.detail)]
    Api(ApiError, u16),
    #[error("unexpected answer (HTTP {0}): {1}")]
    Unexpected(u16, String),
}

/// A client bound to one central, one CA and one identity.
#[derive(Clone, Debug)]
pub struct CentralClient {
    base: String,
    http: reqwest::Client,
    /// Per-request limit, when set ([`CentralClient::with_timeout`]).
    timeout: Option<Duration>,
    /// Sent as `Idempotency-Key` with every POST ([`CentralClient::with_idempotency_key`]).
    idempotency_key: Option<String>,
}

fn read(path: &Path) -> Result<Vec<u8>, ClientError> {
    std::fs::read(path).map_err(|source| ClientError::Read {
        path: path.display().to_string(),
        source,
    })
}

impl CentralClient {
    /// `identity_pem` holds the client certificate and its private key.
    pub fn new(
        server: &str,
        ca_pem: &[u8],
        identity_pem: Option<&[u8]>,
    ) -> Result<Self, ClientError> {
        let ca =
            reqwest::Certificate::from_pem(ca_pem).map_err(|e| ClientError::Pem(e.to_string()))?;
        let mut b = reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(ca)
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(600))
            // Connections opened while requests queued are kept for the next ones: with a
            // small idle pool, a client that falls behind pays a TLS handshake (on both ends)
            // for every request beyond it, and falls further behind.
            .pool_max_idle_per_host(4096)
            .http1_only();
        if let Some(id) = identity_pem {
            b = b.identity(
                reqwest::Identity::from_pem(id).map_err(|e| ClientError::Pem(e.to_string()))?,
            );
        }
        let http = b
            .build()
            .map_err(|e| ClientError::Transport(e.to_string()))?;
        Ok(Self {
            base: server.trim_end_matches('/').to_string(),
            http,
            timeout: None,
            idempotency_key: None,
        })
    }

    /// Gives up on each request after `timeout` (a reception cannot wait as long as an import).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The same client, sending `key` as `Idempotency-Key` with its POSTs: a retry of a write
    /// with the same key gets the first answer instead of doing the work again. Use one key per
    /// logical request (e.g. one per upload, kept across its retries).
    pub fn with_idempotency_key(&self, key: impl Into<String>) -> Self {
        Self {
            idempotency_key: Some(key.into()),
            ..self.clone()
        }
    }

    fn post(&self, url: String) -> reqwest::RequestBuilder {
        let mut b = self.http.post(url);
        if let Some(key) = &self.idempotency_key {
            b = b.header("idempotency-key", key.as_str());
        }
        match self.timeout {
            Some(t) => b.timeout(t),
            None => b,
        }
    }

    /// POSTs `body` as JSON to `path` and decodes the answer.
    async fn post_json<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: &impl serde::Serialize,
    ) -> Result<T, ClientError> {
        let r = self
            .post(format!("{}{path}", self.base))
            .json(body)
            .send()
            .await
            .map_err(Self::transport)?;
        Self::decode(r).await
    }

    fn get(&self, url: String) -> reqwest::RequestBuilder {
        let b = self.http.get(url);
        match self.timeout {
            Some(t) => b.timeout(t),
            None => b,
        }
    }

    pub fn from_files(
        server: &str,
        ca: &Path,
        identity: Option<&Path>,
    ) -> Result<Self, ClientError> {
        let id = identity.map(read).transpose()?;
        Self::new(server, &read(ca)?, id.as_deref())
    }

    async fn decode<T: serde::de::DeserializeOwned>(
        resp: reqwest::Response,
    ) -> Result<T, ClientError> {
        let status = resp.status().as_u16();
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| ClientError::Transport(e.to_string()))?;
        if (200..300).contains(&status) {
            return serde_json::from_slice(&bytes).map_err(|e| {
                ClientError::Unexpected(status, format!("{e}: {}", String::from_utf8_lossy(&bytes)))
            });
        }
        match serde_json::from_slice::<ApiError>(&bytes) {
            Ok(e) => Err(ClientError::Api(e, status)),
            Err(_) => Err(ClientError::Unexpected(
                status,
                String::from_utf8_lossy(&bytes).into_owned(),
            )),
        }
    }

    fn transport(e: reqwest::Error) -> ClientError {
        let mut msg = e.to_string();
        let mut src = std::error::Error::source(&e);
        while let Some(s) = src {
            msg.push_str(": ");
            msg.push_str(&s.to_string());
            src = s.source();
        }
        ClientError::Transport(msg)
    }

    pub async fn health(&self) -> Result<Health, ClientError> {
        let r = self
            .get(format!("{}/health", self.base))
            .send()
            .await
            .map_err(Self::transport)?;
        Self::decode(r).await
    }

    pub async fn check(
        &self,
        req: &EligibilityCheckRequest,
    ) -> Result<EligibilityCheckResponse, ClientError> {
        self.post_json("/v1/eligibility/check", req).await
    }

    /// Uploads a roster. A refused roster is `Ok` with `accepted: false` and the errors.
    pub async fn import_roster(
        &self,
        csv: Vec<u8>,
        partial: bool,
    ) -> Result<RosterImportReport, ClientError> {
        let url = format!(
            "{}/v1/rosters{}",
            self.base,
            if partial { "?mode=partial" } else { "" }
        );
        self.upload(url, "text/csv", csv).await
    }

    /// POSTs a file as `content_type` to `url`; the import's report, accepted or refused.
    async fn upload<T: serde::de::DeserializeOwned>(
        &self,
        url: String,
        content_type: &str,
        body: Vec<u8>,
    ) -> Result<T, ClientError> {
        let r = self
            .post(url)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .map_err(Self::transport)?;
        Self::decode_report(r).await
    }

    /// An import's answer: the report (accepted or refused), else the API error.
    async fn decode_report<T: serde::de::DeserializeOwned>(
        r: reqwest::Response,
    ) -> Result<T, ClientError> {
        let status = r.status().as_u16();
        let bytes = r.bytes().await.map_err(Self::transport)?;
        if let Ok(report) = serde_json::from_slice::<T>(&bytes) {
            return Ok(report);
        }
        match serde_json::from_slice::<ApiError>(&bytes) {
            Ok(e) => Err(ClientError::Api(e, status)),
            Err(_) => Err(ClientError::Unexpected(
                status,
                String::from_utf8_lossy(&bytes).into_owned(),
            )),
        }
    }

    /// Uploads a UKE receipt file (admin). A refused file is `Ok` with `accepted: false`.
    pub async fn import_receipts(
        &self,
        uke: Vec<u8>,
    ) -> Result<crate::ReceiptImportReport, ClientError> {
        self.upload(
            format!("{}/v1/admin/receipts", self.base),
            "application/octet-stream",
            uke,
        )
        .await
    }

    /// Uploads a code master (`drug`, `procedure` or `device`; admin).
    pub async fn import_masters(
        &self,
        kind: &str,
        csv: Vec<u8>,
    ) -> Result<crate::MasterImportReport, ClientError> {
        self.upload(
            format!("{}/v1/admin/masters?kind={kind}", self.base),
            "text/csv",
            csv,
        )
        .await
    }

    /// Uploads a 特定健診 package (insurer or admin).
    pub async fn import_checkups(
        &self,
        package: &crate::CheckupPackageUpload,
    ) -> Result<crate::CheckupImportReport, ClientError> {
        let r = self
            .post(format!("{}/v1/checkups", self.base))
            .json(package)
            .send()
            .await
            .map_err(Self::transport)?;
        Self::decode_report(r).await
    }

    /// A patient's information of one category (institution).
    pub async fn medical_information(
        &self,
        category: &str,
        req: &crate::MedicalInformationRequest,
    ) -> Result<crate::MedicalInformationResponse, ClientError> {
        self.post_json(&format!("/v1/medical/{category}"), req)
            .await
    }

    /// A single-use nonce for a card check or registration.
    pub async fn card_nonce(&self) -> Result<crate::CardNonce, ClientError> {
        let r = self
            .post(format!("{}/v1/card-checks/nonce", self.base))
            .send()
            .await
            .map_err(Self::transport)?;
        Self::decode(r).await
    }

    /// An eligibility check with the My Number card.
    pub async fn card_check(
        &self,
        req: &crate::CardCheckRequest,
    ) -> Result<EligibilityCheckResponse, ClientError> {
        self.post_json("/v1/card-checks", req).await
    }

    /// The later check of a card visit recorded offline.
    pub async fn offline_card_check(
        &self,
        req: &crate::OfflineCardCheckRequest,
    ) -> Result<EligibilityCheckResponse, ClientError> {
        self.post_json("/v1/card-checks/offline", req).await
    }

    /// Consents given on the reader's screens after a card check.
    pub async fn card_consents(
        &self,
        req: &crate::CardConsentRequest,
    ) -> Result<crate::CardConsentResponse, ClientError> {
        self.post_json("/v1/card-consents", req).await
    }

    /// 利用登録 of a card.
    pub async fn card_registration(
        &self,
        req: &crate::CardRegistrationRequest,
    ) -> Result<crate::CardRegistrationResponse, ClientError> {
        self.post_json("/v1/card-registrations", req).await
    }

    /// Link reviews (admin); `open_only` or all.
    pub async fn link_reviews(
        &self,
        open_only: bool,
    ) -> Result<Vec<crate::LinkReviewRecord>, ClientError> {
        let status = if open_only { "open" } else { "all" };
        let r = self
            .get(format!(
                "{}/v1/admin/link-reviews?status={status}",
                self.base
            ))
            .send()
            .await
            .map_err(Self::transport)?;
        Self::decode(r).await
    }

    pub async fn access_log(&self, limit: u32) -> Result<Vec<AccessLogRecord>, ClientError> {
        let r = self
            .get(format!("{}/v1/admin/access-log?limit={limit}", self.base))
            .send()
            .await
            .map_err(Self::transport)?;
        Self::decode(r).await
    }

    /// 照会番号 registration (institution).
    pub async fn register_reference_number(
        &self,
        req: &crate::ReferenceNumberRequest,
    ) -> Result<crate::ReferenceNumberResponse, ClientError> {
        self.post_json("/v1/reference-numbers", req).await
    }

    /// Submits a 一括照会; the answer carries the 受付番号 to fetch the results with.
    pub async fn submit_batch_inquiry(
        &self,
        req: &crate::BatchInquiryRequest,
    ) -> Result<crate::BatchInquiryAccepted, ClientError> {
        self.post_json("/v1/batch-inquiries", req).await
    }

    /// The institution's batch inquiries of the last days, newest first.
    pub async fn batch_inquiries(&self) -> Result<Vec<crate::BatchInquirySummary>, ClientError> {
        let r = self
            .get(format!("{}/v1/batch-inquiries", self.base))
            .send()
            .await
            .map_err(Self::transport)?;
        Self::decode(r).await
    }

    /// One batch inquiry: `processing` without units, or `done` with one unit per item.
    pub async fn batch_inquiry(
        &self,
        reception_number: &str,
    ) -> Result<crate::BatchInquiryResponse, ClientError> {
        let r = self
            .get(format!(
                "{}/v1/batch-inquiries/{reception_number}",
                self.base
            ))
            .send()
            .await
            .map_err(Self::transport)?;
        Self::decode(r).await
    }

    /// Declares 災害時モード (admin).
    pub async fn declare_emergency(
        &self,
        req: &crate::DeclarationRequest,
    ) -> Result<crate::DeclarationRecord, ClientError> {
        self.post_json("/v1/admin/emergencies", req).await
    }

    /// Every declaration (admin).
    pub async fn emergencies(&self) -> Result<Vec<crate::DeclarationRecord>, ClientError> {
        let r = self
            .get(format!("{}/v1/admin/emergencies", self.base))
            .send()
            .await
            .map_err(Self::transport)?;
        Self::decode(r).await
    }

    /// Ends a declaration early (admin).
    pub async fn end_emergency(&self, id: i64) -> Result<(), ClientError> {
        let r = self
            .post(format!("{}/v1/admin/emergencies/{id}/end", self.base))
            .send()
            .await
            .map_err(Self::transport)?;
        let status = r.status().as_u16();
        if status == 204 {
            return Ok(());
        }
        Self::decode::<serde_json::Value>(r)
            .await
            .and_then(|v| Err(ClientError::Unexpected(status, v.to_string())))
    }

    /// 災害時: eligibility without a card (institution).
    pub async fn emergency_check(
        &self,
        req: &crate::EmergencyRequest,
    ) -> Result<EligibilityCheckResponse, ClientError> {
        self.post_json("/v1/emergency/check", req).await
    }

    /// 災害時: medical information without a card (institution).
    pub async fn emergency_medical(
        &self,
        category: &str,
        req: &crate::EmergencyRequest,
    ) -> Result<crate::MedicalInformationResponse, ClientError> {
        self.post_json(&format!("/v1/emergency/medical/{category}"), req)
            .await
    }

    /// 災害時: the declarations in force for the caller's area (institution); empty outside one.
    pub async fn emergencies_in_force(&self) -> Result<Vec<crate::DeclarationRecord>, ClientError> {
        self.get_json("/v1/emergency").await
    }

    pub async fn store_status(&self) -> Result<StoreStatusInfo, ClientError> {
        let r = self
            .get(format!("{}/v1/admin/store", self.base))
            .send()
            .await
            .map_err(Self::transport)?;
        Self::decode(r).await
    }

    /// GETs `path` and decodes the answer.
    async fn get_json<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        let r = self
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .map_err(Self::transport)?;
        Self::decode(r).await
    }

    /// Closes an open link review without linking (admin).
    pub async fn dismiss_link_review(
        &self,
        req: &crate::DismissLinkReviewRequest,
    ) -> Result<(), ClientError> {
        let r = self
            .post(format!("{}/v1/admin/link-reviews/dismiss", self.base))
            .json(req)
            .send()
            .await
            .map_err(Self::transport)?;
        let status = r.status().as_u16();
        if status == 204 {
            return Ok(());
        }
        Self::decode::<serde_json::Value>(r)
            .await
            .and_then(|v| Err(ClientError::Unexpected(status, v.to_string())))
    }

    /// A month's usage (`yyyyMM`; the current month when `None`) as MHLW publishes it (admin).
    pub async fn statistics(
        &self,
        month: Option<&str>,
    ) -> Result<crate::UsageStatistics, ClientError> {
        match month {
            Some(m) => {
                let m: String = m.chars().filter(char::is_ascii_digit).collect();
                self.get_json(&format!("/v1/admin/statistics?month={m}"))
                    .await
            }
            None => self.get_json("/v1/admin/statistics").await,
        }
    }

    /// Data freshness per insurer over the last `days` days (admin).
    pub async fn freshness(&self, days: u32) -> Result<crate::FreshnessReport, ClientError> {
        self.get_json(&format!("/v1/admin/freshness?days={days}"))
            .await
    }

    /// The institution registry (admin).
    pub async fn institutions(&self) -> Result<Vec<crate::InstitutionRecord>, ClientError> {
        self.get_json("/v1/admin/institutions").await
    }

    /// Registers an institution or replaces its registration (admin).
    pub async fn register_institution(
        &self,
        req: &crate::InstitutionRequest,
    ) -> Result<crate::InstitutionRecord, ClientError> {
        self.post_json("/v1/admin/institutions", req).await
    }

    /// The client-certificate registry, most recently recorded first (admin).
    pub async fn certificates(&self) -> Result<Vec<crate::CertificateRecord>, ClientError> {
        self.get_json("/v1/admin/certificates").await
    }

    /// Issues a client certificate (admin); the answer holds its private key.
    pub async fn issue_certificate(
        &self,
        req: &crate::CertificateRequest,
    ) -> Result<crate::IssuedCertificate, ClientError> {
        self.post_json("/v1/admin/certificates", req).await
    }

    /// Revokes a client certificate (admin); final.
    pub async fn revoke_certificate(
        &self,
        serial: &str,
        req: &crate::RevocationRequest,
    ) -> Result<crate::RevocationRecord, ClientError> {
        self.post_json(&format!("/v1/admin/certificates/{serial}/revoke"), req)
            .await
    }
}
