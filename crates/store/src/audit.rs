//! The tamper-evident audit chains: every access-log entry and every administrative event
//! carries `chain_hash = SHA-256(previous chain_hash ‖ SHA-256(its stored fields))`, linked in
//! id order, written in the same transaction as the entry. Each backend computes the entry
//! hash from the values it stores, and the verifier recomputes it from the values it reads
//! back, so any change to a stored field, a deleted or reordered entry breaks the chain at the
//! first entry concerned. Signed checkpoints (made by the central) pin chain heads, so a
//! rewritten chain or a deleted tail is caught too.

use sha2::{Digest, Sha256};

/// The two chains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuditChain {
    /// The access log (every check, view and refusal).
    Access,
    /// Administrative events (imports, link decisions, declarations, certificates, …).
    Admin,
}

impl AuditChain {
    pub fn code(self) -> &'static str {
        match self {
            Self::Access => "access",
            Self::Admin => "admin",
        }
    }
    pub fn parse(code: &str) -> Option<Self> {
        match code {
            "access" => Some(Self::Access),
            "admin" => Some(Self::Admin),
            _ => None,
        }
    }
}

/// One chained entry as the verifier needs it: the hash of its stored fields (recomputed from
/// what was read) and the chain hash stored with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRow {
    pub id: i64,
    pub entry_hash: [u8; 32],
    /// `None` for entries written before the chain existed.
    pub chain_hash: Option<String>,
}

/// The newest entry of a chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditHead {
    pub chain: AuditChain,
    pub entry_id: i64,
    pub chain_hash: String,
}

/// A signed statement that a chain's entry `entry_id` had `chain_hash` at `at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditCheckpoint {
    pub at: kakunin_domain::Timestamp,
    pub chain: AuditChain,
    pub entry_id: i64,
    pub chain_hash: String,
    /// Identifies the signing key (hex of the first 8 bytes of the public key's SHA-256).
    pub key_id: String,
    /// Hex of the signature over [`checkpoint_message`].
    pub signature: String,
}

/// An administrative event to record. No personal data in any field: targets are insurer
/// numbers, institution codes, declaration ids, certificate serials, review ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAdminEvent {
    pub at: kakunin_domain::Timestamp,
    /// `admin:<id>`, `insurer:<number>`, `institution:<code>` or `system`.
    pub actor: String,
    /// A fixed word: `roster_import`, `receipt_import`, `emergency_declared`, …
    pub action: String,
    pub target: String,
    /// JSON object with counts and outcomes.
    pub detail: String,
}

/// A recorded administrative event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminEvent {
    pub id: i64,
    pub event: NewAdminEvent,
}

/// The bytes a checkpoint signature covers.
pub fn checkpoint_message(
    chain: AuditChain,
    entry_id: i64,
    chain_hash: &str,
    at_ms: i64,
) -> Vec<u8> {
    format!(
        "kakunin-audit-checkpoint\n{}\n{entry_id}\n{chain_hash}\n{at_ms}\n",
        chain.code()
    )
    .into_bytes()
}

/// Writes fields unambiguously: a tag per field, then a length and the bytes (`None` is its
/// own marker).
struct Fields(Sha256);

impl Fields {
    fn new(kind: &str) -> Self {
        let mut f = Self(Sha256::new());
        f.text(Some(kind));
        f
    }
    fn text(&mut self, v: Option<&str>) {
        match v {
            Some(s) => {
                self.0.update([1u8]);
                self.0.update((s.len() as u64).to_be_bytes());
                self.0.update(s.as_bytes());
            }
            None => self.0.update([0u8]),
        }
    }
    fn int(&mut self, v: i64) {
        self.0.update([2u8]);
        self.0.update(v.to_be_bytes());
    }
    fn done(self) -> [u8; 32] {
        self.0.finalize().into()
    }
}

/// The stored fields of an access-log entry, as both backends store them.
#[derive(Debug, Clone, Copy)]
pub struct AccessFields<'a> {
    pub id: i64,
    pub at_ms: i64,
    pub institution: &'a str,
    pub purpose: &'a str,
    pub result: &'a str,
    pub processing_code: &'a str,
    pub category: Option<&'a str>,
    pub period_from: Option<&'a str>,
    pub period_to: Option<&'a str>,
    pub basis: Option<&'a str>,
    /// Whose data it touched (any order: hashed sorted).
    pub subjects: &'a [i64],
}

pub fn access_hash(f: &AccessFields<'_>) -> [u8; 32] {
    let mut h = Fields::new("access");
    h.int(f.id);
    h.int(f.at_ms);
    for v in [f.institution, f.purpose, f.result, f.processing_code] {
        h.text(Some(v));
    }
    for v in [f.category, f.period_from, f.period_to, f.basis] {
        h.text(v);
    }
    let mut subjects = f.subjects.to_vec();
    subjects.sort_unstable();
    h.int(subjects.len() as i64);
    for s in subjects {
        h.int(s);
    }
    h.done()
}

pub fn admin_hash(id: i64, e: &NewAdminEvent) -> [u8; 32] {
    let mut h = Fields::new("admin");
    h.int(id);
    h.int(e.at.unix_millis());
    for v in [&e.actor, &e.action, &e.target, &e.detail] {
        h.text(Some(v));
    }
    h.done()
}

/// The chain hash of an entry after `prev` (`None` for the first entry of a chain).
pub fn link(prev: Option<&str>, entry_hash: &[u8; 32]) -> String {
    let mut h = Sha256::new();
    h.update(b"kakunin-audit-link\n");
    h.update(prev.unwrap_or("").as_bytes());
    h.update(b"\n");
    h.update(entry_hash);
    crate::hex(&h.finalize())
}

/// The WHERE clause selecting each chain's newest checkpoint (both backends).
pub(crate) const NEWEST_CHECKPOINTS: &str =
    "WHERE id IN (SELECT max(id) FROM audit_checkpoints GROUP BY chain)";

/// Largest admin-event detail (bytes).
pub const MAX_DETAIL: usize = 4096;

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(subjects: &[i64]) -> AccessFields<'_> {
        AccessFields {
            id: 7,
            at_ms: 1_000,
            institution: "1310000011",
            purpose: "eligibility",
            result: "validity:1",
            processing_code: "",
            category: None,
            period_from: None,
            period_to: None,
            basis: None,
            subjects,
        }
    }

    #[test]
    fn every_field_counts_and_boundaries_are_unambiguous() {
        let base = access_hash(&fields(&[1, 2]));
        assert_eq!(base, access_hash(&fields(&[2, 1])), "subjects in any order");
        assert_ne!(base, access_hash(&fields(&[1])));
        assert_ne!(
            base,
            access_hash(&AccessFields {
                id: 8,
                ..fields(&[1, 2])
            })
        );
        assert_ne!(
            base,
            access_hash(&AccessFields {
                basis: Some(""),
                ..fields(&[1, 2])
            })
        );
        // Moving bytes from one field to the next changes the hash.
        let a = access_hash(&AccessFields {
            purpose: "ab",
            result: "c",
            ..fields(&[])
        });
        let b = access_hash(&AccessFields {
            purpose: "a",
            result: "bc",
            ..fields(&[])
        });
        assert_ne!(a, b);
        let l1 = link(None, &base);
        assert_eq!(l1.len(), 64);
        assert_ne!(link(Some(&l1), &base), l1);
    }
}
