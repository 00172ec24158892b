//! The registry of the client certificates our CA issued (institutions, insurers, terminals,
//! operators): what was issued or first seen, and which are revoked. Every node of the central
//! refuses a revoked certificate once it has read the registry (see the central's `tls`).

use crate::mapping::{req_int, req_text, RowRead};
use crate::StoreError;
use kakunin_domain::Timestamp;

/// One client certificate as the registry knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCertificate {
    /// The certificate's serial number, lowercase hex without leading zero bytes' separators.
    pub serial: String,
    /// The role in the subject's OU: `institution`, `insurer`, `terminal` or `admin`.
    pub kind: String,
    /// The role's id in the CN: 医療機関コード, 保険者番号 or an operator's name.
    pub subject: String,
    pub not_before: Timestamp,
    pub not_after: Timestamp,
    /// When the registry learnt of it (issued now, or first seen on a connection).
    pub recorded_at: Timestamp,
    /// `admin:<id>` when issued through the operators' API; `None` when issued elsewhere
    /// (`kakunin ca issue`) and recorded on its first use.
    pub issued_by: Option<String>,
    pub revocation: Option<CertificateRevocation>,
}

/// Why and when a certificate was revoked; revocation is final.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateRevocation {
    pub at: Timestamp,
    /// A reason code (RFC 5280's names, snake case): see the central's API.
    pub reason: String,
    /// `admin:<id>`.
    pub by: String,
}

/// What a revocation request found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevokeOutcome {
    Revoked,
    /// Revoked before (the first revocation stands).
    AlreadyRevoked,
    /// No certificate with that serial in the registry.
    Unknown,
}

pub(crate) const CERT_COLS: &str = "serial, kind, subject, not_before_ms, not_after_ms, \
     recorded_at_ms, issued_by, revoked_at_ms, revocation_reason, revoked_by";

pub(crate) fn certificate_from(r: &impl RowRead) -> Result<ClientCertificate, StoreError> {
    let at = |i: usize, what: &str| req_int(r, i, what).map(Timestamp::from_unix_millis);
    let revocation = match r.int(7)? {
        Some(ms) => Some(CertificateRevocation {
            at: Timestamp::from_unix_millis(ms),
            reason: req_text(r, 8, "revocation_reason")?,
            by: req_text(r, 9, "revoked_by")?,
        }),
        None => None,
    };
    Ok(ClientCertificate {
        serial: req_text(r, 0, "serial")?,
        kind: req_text(r, 1, "kind")?,
        subject: req_text(r, 2, "subject")?,
        not_before: at(3, "not_before_ms")?,
        not_after: at(4, "not_after_ms")?,
        recorded_at: at(5, "recorded_at_ms")?,
        issued_by: r.text(6)?,
        revocation,
    })
}
