//! The audit chains' keeper and verifier: administrative events recorded as they happen, signed
//! checkpoints of both chains' heads, and the verification behind `kakunin audit verify`.
//!
//! Invariants: the verifier trusts nothing the store says about itself (heads are not read, each
//! entry's hash is recomputed from its stored fields); it names the first entry of each chain
//! that does not fit. Checkpoints are signed with the audit key (`audit-key.pk8` in the data
//! directory, Ed25519; every node of a central shares it); its public half (`audit-key.pub`)
//! is what verifiers need, and can be kept apart from the database. What checkpoints cannot
//! show: entries appended after the newest checkpoint and then deleted from the end.

use anyhow::{anyhow, bail, Context, Result};
use kakunin_store::{
    audit::{checkpoint_message, link},
    AuditChain, AuditCheckpoint, NewAdminEvent, Store, StoreError,
};
use ring::rand::SystemRandom;
use ring::signature::{Ed25519KeyPair, KeyPair, UnparsedPublicKey, ED25519};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The signing key's file in a data directory (PKCS#8, owner-only).
pub const KEY_FILE: &str = "audit-key.pk8";
/// Its public half (hex), for verifiers.
pub const PUBLIC_FILE: &str = "audit-key.pub";
/// How often a node signs the chains' heads (when they moved).
pub const CHECKPOINT_EVERY: Duration = Duration::from_secs(300);
/// Entries read per round trip while verifying.
const BATCH: u32 = 5_000;

/// Records an administrative event (no personal data in any field).
pub async fn record(
    store: &dyn Store,
    actor: &str,
    action: &str,
    target: &str,
    detail: serde_json::Value,
) -> Result<i64, StoreError> {
    let mut detail = detail.to_string();
    if detail.len() > kakunin_store::audit::MAX_DETAIL {
        detail = serde_json::json!({"truncated": true}).to_string();
    }
    store
        .append_admin_event(NewAdminEvent {
            at: crate::service::now(),
            actor: actor.to_string(),
            action: action.to_string(),
            target: target.to_string(),
            detail,
        })
        .await
}

/// The audit signing key of a data directory.
pub struct AuditKey {
    pair: Ed25519KeyPair,
}

impl std::fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AuditKey({})", self.key_id())
    }
}

/// The id of a public key: hex of the first 8 bytes of its SHA-256.
pub fn key_id(public: &[u8]) -> String {
    use sha2::Digest;
    crate::cards::hex(&sha2::Sha256::digest(public)[..8])
}

impl AuditKey {
    /// Loads `DIR/audit-key.pk8`, or makes it (and `audit-key.pub`) on first start.
    pub fn load_or_create(data_dir: &Path) -> Result<Self> {
        let path = data_dir.join(KEY_FILE);
        let pkcs8 = match std::fs::read_to_string(&path) {
            Ok(s) => crate::cards::unhex(s.trim())
                .ok_or_else(|| anyhow!("{} is not a hex PKCS#8 key", path.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let doc = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
                    .map_err(|_| anyhow!("generating the audit key"))?;
                crate::pki::write_private(&path, &crate::cards::hex(doc.as_ref()))?;
                doc.as_ref().to_vec()
            }
            Err(e) => return Err(anyhow!("reading {}: {e}", path.display())),
        };
        let pair = Ed25519KeyPair::from_pkcs8(&pkcs8)
            .map_err(|_| anyhow!("{} is not an Ed25519 key", path.display()))?;
        let key = Self { pair };
        let public = data_dir.join(PUBLIC_FILE);
        let hex = crate::cards::hex(key.public());
        if std::fs::read_to_string(&public)
            .map(|s| s.trim().to_string())
            .ok()
            != Some(hex.clone())
        {
            std::fs::write(&public, format!("{hex}\n"))
                .with_context(|| format!("writing {}", public.display()))?;
        }
        Ok(key)
    }

    pub fn public(&self) -> &[u8] {
        self.pair.public_key().as_ref()
    }

    pub fn key_id(&self) -> String {
        key_id(self.public())
    }

    /// Signs each chain's head unless the newest checkpoint of that chain already covers it.
    /// Returns how many checkpoints were made.
    pub async fn checkpoint(&self, store: &dyn Store) -> Result<usize, StoreError> {
        let heads = store.audit_heads().await?;
        // Only the newest per chain: the table grows by a row per chain every few minutes.
        let done = store.newest_audit_checkpoints().await?;
        let mut made = 0;
        for head in heads {
            let newest = done.iter().find(|c| c.chain == head.chain);
            if newest.is_some_and(|c| c.entry_id == head.entry_id) {
                continue;
            }
            let at = crate::service::now();
            let message = checkpoint_message(
                head.chain,
                head.entry_id,
                &head.chain_hash,
                at.unix_millis(),
            );
            store
                .record_audit_checkpoint(AuditCheckpoint {
                    at,
                    chain: head.chain,
                    entry_id: head.entry_id,
                    chain_hash: head.chain_hash,
                    key_id: self.key_id(),
                    signature: crate::cards::hex(self.pair.sign(&message).as_ref()),
                })
                .await?;
            made += 1;
        }
        Ok(made)
    }
}

/// Reads a public key file (hex).
pub fn read_public(path: &Path) -> Result<Vec<u8>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let key = crate::cards::unhex(text.trim())
        .filter(|k| k.len() == 32)
        .ok_or_else(|| anyhow!("{} is not a 32-byte hex Ed25519 public key", path.display()))?;
    Ok(key)
}

/// The default public key file of a data directory.
pub fn public_path(data_dir: &Path) -> PathBuf {
    data_dir.join(PUBLIC_FILE)
}

/// What verification found in one chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainReport {
    pub chain: AuditChain,
    /// Chained entries checked.
    pub entries: u64,
    /// Entries from before the chain existed (no chain hash), at its start.
    pub unchained: u64,
    pub first_id: Option<i64>,
    pub last_id: Option<i64>,
    /// The first entry that does not fit, and why.
    pub first_bad: Option<(i64, String)>,
}

/// What verification found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditReport {
    pub chains: Vec<ChainReport>,
    pub checkpoints: u64,
    /// Problems with checkpoints (a bad signature, a head that no longer matches, a deleted
    /// tail), in order.
    pub checkpoint_problems: Vec<String>,
    /// Facts that are not failures (e.g. entries before the oldest remaining one removed by
    /// retention).
    pub notes: Vec<String>,
}

impl AuditReport {
    pub fn ok(&self) -> bool {
        self.chains.iter().all(|c| c.first_bad.is_none()) && self.checkpoint_problems.is_empty()
    }
}

/// Walks both chains and checks every checkpoint against `public` (the audit key's public
/// half). Reads only; never trusts the stored heads.
pub async fn verify(store: &dyn Store, public: &[u8]) -> Result<AuditReport> {
    let checkpoints = store.audit_checkpoints().await?;
    let mut report = AuditReport {
        chains: Vec::new(),
        checkpoints: checkpoints.len() as u64,
        checkpoint_problems: Vec::new(),
        notes: Vec::new(),
    };
    let wanted_key = key_id(public);
    let verifier = UnparsedPublicKey::new(&ED25519, public);
    for chain in [AuditChain::Access, AuditChain::Admin] {
        let pinned: Vec<&AuditCheckpoint> =
            checkpoints.iter().filter(|c| c.chain == chain).collect();
        // The chain hash found at each checkpointed id.
        let mut at_pins: HashMap<i64, Option<String>> =
            pinned.iter().map(|c| (c.entry_id, None)).collect();
        let mut r = ChainReport {
            chain,
            entries: 0,
            unchained: 0,
            first_id: None,
            last_id: None,
            first_bad: None,
        };
        let mut prev: Option<String> = None;
        let mut after = 0i64;
        'walk: loop {
            let rows = store.audit_rows(chain, after, BATCH).await?;
            if rows.is_empty() {
                break;
            }
            for row in &rows {
                after = row.id;
                r.last_id = Some(row.id);
                let Some(hash) = &row.chain_hash else {
                    if prev.is_none() {
                        r.unchained += 1;
                        continue;
                    }
                    r.first_bad = Some((
                        row.id,
                        "has no chain hash: it was inserted outside the chain".into(),
                    ));
                    break 'walk;
                };
                let expected = link(prev.as_deref(), &row.entry_hash);
                if *hash != expected {
                    let why = if prev.is_none() {
                        // The first chained entry must start the chain, unless entries before
                        // it were removed: a checkpoint of an earlier id shows they existed.
                        if pinned.iter().any(|c| c.entry_id < row.id) {
                            report.notes.push(format!(
                                "{} chain: entries before id {} are gone (removed by retention, or deleted); the chain is checked from there",
                                chain.code(),
                                row.id
                            ));
                            None
                        } else {
                            Some("does not start the chain: it was altered, or entries before it were deleted")
                        }
                    } else {
                        Some("does not match the chain: it was altered, or an entry before it was deleted, inserted or reordered")
                    };
                    if let Some(why) = why {
                        r.first_bad = Some((row.id, why.into()));
                        break 'walk;
                    }
                }
                if r.first_id.is_none() {
                    r.first_id = Some(row.id);
                }
                if let Some(slot) = at_pins.get_mut(&row.id) {
                    *slot = Some(hash.clone());
                }
                r.entries += 1;
                prev = Some(hash.clone());
            }
        }
        // Checkpoints: signed by our key, over what the chain holds at that id.
        if r.first_bad.is_none() {
            for c in &pinned {
                let message =
                    checkpoint_message(c.chain, c.entry_id, &c.chain_hash, c.at.unix_millis());
                let signature = crate::cards::unhex(&c.signature).unwrap_or_default();
                if c.key_id != wanted_key || verifier.verify(&message, &signature).is_err() {
                    report.checkpoint_problems.push(format!(
                        "{} chain: the checkpoint of entry {} is not signed by this audit key",
                        chain.code(),
                        c.entry_id
                    ));
                    continue;
                }
                match at_pins.get(&c.entry_id).cloned().flatten() {
                    Some(found) if found == c.chain_hash => {}
                    Some(_) => report.checkpoint_problems.push(format!(
                        "{} chain: entry {} is not what was signed at {}: the chain was rewritten",
                        chain.code(),
                        c.entry_id,
                        c.at.jst_rfc3339()
                    )),
                    None if r.last_id.is_none_or(|last| c.entry_id > last) => {
                        report.checkpoint_problems.push(format!(
                            "{} chain: entries up to {} were signed at {} but the log ends at {}: entries were deleted from its end",
                            chain.code(),
                            c.entry_id,
                            c.at.jst_rfc3339(),
                            r.last_id.map_or_else(|| "nothing".to_string(), |l| l.to_string())
                        ))
                    }
                    None if r.first_id.is_some_and(|first| c.entry_id < first) => {}
                    None => report.checkpoint_problems.push(format!(
                        "{} chain: entry {} was signed at {} and is gone",
                        chain.code(),
                        c.entry_id,
                        c.at.jst_rfc3339()
                    )),
                }
            }
        }
        report.chains.push(r);
    }
    Ok(report)
}

/// The report as the command prints it (English: operators and auditors read it with logs).
pub fn describe(report: &AuditReport) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    for c in &report.chains {
        let range = match (c.first_id, c.last_id) {
            (Some(f), Some(l)) => format!("ids {f}–{l}"),
            _ => "empty".into(),
        };
        let _ = writeln!(
            out,
            "{} chain: {} entries checked ({range}){}",
            c.chain.code(),
            c.entries,
            if c.unchained > 0 {
                format!(", {} older entries before the chain", c.unchained)
            } else {
                String::new()
            }
        );
        if let Some((id, why)) = &c.first_bad {
            let _ = writeln!(out, "  FIRST BAD ENTRY: {} id {id} {why}", c.chain.code());
        }
    }
    let _ = writeln!(out, "checkpoints: {}", report.checkpoints);
    for p in &report.checkpoint_problems {
        let _ = writeln!(out, "  BAD CHECKPOINT: {p}");
    }
    for n in &report.notes {
        let _ = writeln!(out, "  note: {n}");
    }
    let _ = writeln!(
        out,
        "{}",
        if report.ok() {
            "audit chains verified"
        } else {
            "AUDIT VERIFICATION FAILED"
        }
    );
    out
}

/// Refuses a public key that is not 32 bytes.
pub fn check_public(public: &[u8]) -> Result<()> {
    if public.len() != 32 {
        bail!("an Ed25519 public key has 32 bytes");
    }
    Ok(())
}
