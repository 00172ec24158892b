//! The registry of client certificates (institutions, insurers, terminals, operators): issuing
//! through the operators' API, recording certificates issued elsewhere (`kakunin ca issue`) when
//! first seen, and revocation that every node enforces.
//!
//! Invariants: revocation is final and only ever grows the revoked set, so nodes that read the
//! store at different moments never disagree in a way that lets a revoked certificate back in;
//! a node refuses a certificate as soon as it revoked it itself, and any other node's revocation
//! within [`REFRESH`] (and before it accepts its first connection after a restart).

use crate::pki::{Ca, Role};
use crate::tls::{presented, Presented, Tls};
use anyhow::{anyhow, Context, Result};
use kakunin_domain::Timestamp;
use kakunin_store::{CertificateRevocation, ClientCertificate, RevokeOutcome, Store, StoreError};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use std::sync::Arc;
use std::time::Duration;

/// How often each node reads the revoked serials again.
pub const REFRESH: Duration = Duration::from_secs(10);

/// The Japanese label of a reason code (the code itself when unknown).
pub fn reason_label(code: &str) -> &str {
    kakunin_api::REVOCATION_REASONS
        .iter()
        .find(|(c, _)| *c == code)
        .map_or(code, |(_, l)| l)
}

/// The registry of one node.
pub struct Registry {
    store: Arc<dyn Store>,
    tls: Tls,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Registry { .. }")
    }
}

impl Registry {
    /// The registry of a node; certificates that verify on its connections, or inside its
    /// requests (terminals' device certificates), are recorded from now on (once per serial
    /// while the node runs; the store keeps the first record). Needs a Tokio runtime.
    pub fn new(store: Arc<dyn Store>, tls: Tls) -> Arc<Self> {
        let (to, mut seen) = tokio::sync::mpsc::unbounded_channel::<Presented>();
        tls.seen.connect(to);
        let (recorder, forget) = (store.clone(), tls.seen.clone());
        tokio::spawn(async move {
            while let Some(p) = seen.recv().await {
                let serial = p.serial.clone();
                if let Err(e) = recorder
                    .record_client_certificate(record_of(&p, None))
                    .await
                {
                    tracing::warn!(error = %e, "recording a client certificate failed; retried when next seen");
                    forget.forget(&serial);
                }
            }
        });
        Arc::new(Self { store, tls })
    }

    /// Reads the revoked serials from the store; returns how many are revoked now.
    pub async fn refresh(&self) -> Result<usize, StoreError> {
        let serials = self.store.revoked_certificate_serials().await?;
        self.tls.revoked.extend(serials);
        Ok(self.tls.revoked.len())
    }

    /// Issues a certificate for `role` with `ca`, records it as issued by `by`
    /// (`admin:<id>`) and returns the record and the PEM (certificate, then its key).
    pub async fn issue(
        &self,
        ca: &Ca,
        role: Role,
        by: &str,
    ) -> Result<(ClientCertificate, String)> {
        let pem = ca.issue(&role)?;
        let der = CertificateDer::pem_slice_iter(pem.as_bytes())
            .next()
            .ok_or_else(|| anyhow!("the issued PEM holds no certificate"))?
            .context("the issued certificate")?;
        let p = presented(&der, role)
            .ok_or_else(|| anyhow!("the issued certificate does not parse"))?;
        let cert = record_of(&p, Some(by.to_string()));
        self.store.record_client_certificate(cert.clone()).await?;
        Ok((cert, pem))
    }

    /// Revokes `serial` (a known reason code) as `by`; on this node at once.
    pub async fn revoke(
        &self,
        serial: &str,
        reason: &str,
        by: &str,
    ) -> Result<RevokeOutcome, StoreError> {
        let outcome = self
            .store
            .revoke_client_certificate(
                serial,
                CertificateRevocation {
                    at: crate::service::now(),
                    reason: reason.to_string(),
                    by: by.to_string(),
                },
            )
            .await?;
        if outcome != RevokeOutcome::Unknown {
            self.tls.revoked.extend([serial.to_string()]);
        }
        Ok(outcome)
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }
}

fn record_of(p: &Presented, issued_by: Option<String>) -> ClientCertificate {
    ClientCertificate {
        serial: p.serial.clone(),
        kind: p.role.kind().to_string(),
        subject: p.role.id(),
        not_before: Timestamp::from_unix_millis(p.not_before_ms),
        not_after: Timestamp::from_unix_millis(p.not_after_ms),
        recorded_at: crate::service::now(),
        issued_by,
        revocation: None,
    }
}

/// A serial as typed: hex digits only (1–40), lowercased.
pub fn parse_serial(text: &str) -> Option<String> {
    let t = text.trim();
    (!t.is_empty() && t.len() <= 40 && t.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| t.to_ascii_lowercase())
}

/// The Japanese label of a certificate kind.
pub fn kind_label(kind: &str) -> &str {
    kakunin_api::CERTIFICATE_KINDS
        .iter()
        .find(|(k, _)| *k == kind)
        .map_or(kind, |(_, l)| l)
}

/// What a revocation says, for the API.
pub fn revocation_record(r: &CertificateRevocation) -> kakunin_api::RevocationRecord {
    kakunin_api::RevocationRecord {
        revoked_at: r.at.jst_rfc3339(),
        reason: r.reason.clone(),
        reason_label: reason_label(&r.reason).to_string(),
        revoked_by: r.by.clone(),
    }
}

/// A registry entry for the API, its status as of `now`.
pub fn record(c: &ClientCertificate, now: Timestamp) -> kakunin_api::CertificateRecord {
    let (status, status_label) = if c.revocation.is_some() {
        ("revoked", "失効")
    } else if c.not_after <= now {
        ("expired", "期限切れ")
    } else {
        ("valid", "有効")
    };
    kakunin_api::CertificateRecord {
        serial: c.serial.clone(),
        kind: c.kind.clone(),
        kind_label: kind_label(&c.kind).to_string(),
        subject: c.subject.clone(),
        not_before: c.not_before.jst_rfc3339(),
        not_after: c.not_after.jst_rfc3339(),
        recorded_at: c.recorded_at.jst_rfc3339(),
        issued_by: c.issued_by.clone(),
        status: status.into(),
        status_label: status_label.into(),
        revocation: c.revocation.as_ref().map(revocation_record),
    }
}
