//! kakunin's storage seam.
//!
//! Invariant: the [`Store`] trait speaks domain types only; each backend owns its SQL and its
//! append-only migrations (no shared SQL, no per-backend `cfg`). Every backend passes the same
//! [`contract`] suite. Writes are durable when the call returns (an acknowledged write survives
//! `kill -9`); access-log appends are group-committed so durability stays fast.

pub mod audit;
mod certs;
pub mod contract;
mod hash;
mod idempotency;
mod links;
mod mapping;
pub mod medical;
mod people;
pub mod postgres;
mod reception;
pub mod sqlite;
mod stats;

use async_trait::async_trait;
use kakunin_domain::{
    AccessLogEntry, Attribute, Branch, Consent, Date, InstitutionCode, InsurerNumber,
    Qualification, Timestamp,
};

pub use audit::{AdminEvent, AuditChain, AuditCheckpoint, AuditHead, AuditRow, NewAdminEvent};
pub use certs::{CertificateRevocation, ClientCertificate, RevokeOutcome};
pub use hash::content_hash;
pub use idempotency::{IdempotencyBegin, IdempotentAnswer};
pub use medical::{
    master_edition, CheckupImport, CheckupImportOutcome, CheckupItem, DrugRecord, MasterEntry,
    MasterImport, MasterImportOutcome, MasterKind, MatchOutcome, MedicalCounts, NewCheckup,
    NewReceipt, PatientKey, PurgeOutcome, ReceiptImport, ReceiptImportOutcome, StoredCheckup,
    StoredReceipt, TreatmentRecord,
};

pub use people::{AttributeQuery, BlockState, EmergencyDeclaration, NewEmergencyDeclaration};
pub use postgres::{PgOptions, PostgresStore};
pub use reception::{
    BatchInquiryResult, NewBatchInquiry, ReferenceNumberRegistration, StoredBatchInquiry,
};
pub use sqlite::SqliteStore;
pub use stats::{AccessCount, InsurerFreshness, LagSummary, ResultKind, LAG_SAMPLE};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage backend error: {0}")]
    Backend(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("migration {0} was changed after it was applied (migrations are append-only)")]
    MigrationChanged(String),
    #[error("the store is shutting down")]
    Closed,
    #[error("the same card key appears twice in one import or bulk load")]
    DuplicateKey,
    #[error("the database schema is at version {found}, newer than this kakunin ({known}); upgrade kakunin")]
    SchemaTooNew { found: i64, known: i64 },
    #[error("cannot connect to the database: {0}")]
    Connect(String),
    /// A write named a qualification id the store does not have (ids come from the store's own
    /// lookups, so this is a caller's mistake, not bad input).
    #[error("no qualification with id {0}")]
    UnknownQualification(i64),
}

/// Lower-case hex of bytes (migration checksums, file digests).
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The wall clock in Unix milliseconds (recorded-at columns, partition upkeep).
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Backend(e.to_string())
    }
}

/// A roster import to apply in one transaction.
#[derive(Debug, Clone)]
pub struct RosterImport {
    /// Who sent it, e.g. `insurer:06139992` or `seed`.
    pub actor: String,
    pub received_at: Timestamp,
    /// SHA-256 of the source file, hex.
    pub source_sha256: String,
    pub qualifications: Vec<Qualification>,
    /// The authority's verdict on each row's 個人番号, aligned with `qualifications`; empty when
    /// the roster had no 個人番号 column. `None` for a row without a number leaves its link as
    /// it is.
    pub links: Vec<Option<LinkDecision>>,
}

/// What the authority said about the 個人番号 an insurer registered for a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkDecision {
    /// The 4 attributes matched: link the qualification to this agency pseudonym.
    Linked { pseudonym: String },
    /// They did not: unlink it and open a review; it is not shown by card until resolved.
    Mismatch {
        attributes: Vec<Attribute>,
        /// Last 4 digits of the number the insurer sent (what insurers' notices show).
        number_last4: String,
    },
}

/// What an import changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ImportOutcome {
    pub import_id: i64,
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
    /// Rows now linked to a person (confirmed by the authority).
    pub linked: u64,
    /// Rows whose 個人番号 did not match: sent to the review queue.
    pub link_reviews: u64,
}

/// A roster row whose 個人番号 the authority did not confirm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkReview {
    pub id: i64,
    pub qualification_id: i64,
    pub insurer: InsurerNumber,
    pub import_id: i64,
    pub created_at: Timestamp,
    pub attributes: Vec<Attribute>,
    pub number_last4: String,
    pub status: ReviewStatus,
    pub resolved_at: Option<Timestamp>,
    pub resolved_by: Option<String>,
    pub note: Option<String>,
}

/// Where a link review stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReviewStatus {
    /// Waiting: the qualification is not shown by card.
    Open,
    /// A later roster row for the same qualification matched (or mismatched differently).
    ResolvedByImport,
    /// An operator closed it without a link (the qualification stays number-only).
    Dismissed,
}

impl ReviewStatus {
    pub fn code(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::ResolvedByImport => "resolved_by_import",
            Self::Dismissed => "dismissed",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Open, Self::ResolvedByImport, Self::Dismissed]
            .into_iter()
            .find(|r| r.code() == s)
    }
}

/// 利用登録: a person registered their card for insurance use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardRegistration {
    pub pseudonym: String,
    pub registered_at: Timestamp,
    /// Serial of the certificate used to register (renewed cards keep the registration).
    pub certificate_serial: String,
    pub institution: InstitutionCode,
}

/// A card-check nonce being spent; a second spend of the same nonce is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NonceUse {
    pub nonce: String,
    /// After this the nonce is refused anyway, so its record may be purged.
    pub expires_at: Timestamp,
}

/// An eligibility query by card: 枝番 optional; the birth date must match.
#[derive(Debug, Clone)]
pub struct CardQuery {
    pub insurer: InsurerNumber,
    /// Matching key of the 記号 ("" for none).
    pub symbol_key: String,
    pub number_key: String,
    pub branch: Option<Branch>,
    pub birthdate: Date,
}

/// A qualification as stored: its id, the current version number and content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredQualification {
    pub id: i64,
    pub version: i64,
    pub qualification: Qualification,
    /// The agency pseudonym of the person, when the authority confirmed the link.
    pub person: Option<String>,
}

/// One historical version of a qualification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QualificationVersion {
    pub version: i64,
    pub import_id: i64,
    pub recorded_at: Timestamp,
    pub qualification: Qualification,
}

/// A stored access-log entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAccess {
    pub id: i64,
    pub entry: AccessLogEntry,
}

/// A recorded import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportRecord {
    pub id: i64,
    pub actor: String,
    pub received_at: Timestamp,
    pub source_sha256: String,
    pub rows: u64,
    pub outcome: ImportOutcome,
}

/// One database node as the store sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeStatus {
    /// `host:port/db`, never credentials.
    pub name: String,
    /// `primary`, `replica` or `unreachable`.
    pub role: String,
    /// Replication lag in milliseconds (0 for the primary).
    pub lag_ms: u64,
    /// Eligibility reads this node has served.
    pub reads: u64,
}

/// Which backend answers, and how its nodes are doing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreStatus {
    pub backend: String,
    pub nodes: Vec<NodeStatus>,
}

/// Row counts, for operators and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StoreCounts {
    pub qualifications: u64,
    pub versions: u64,
    pub imports: u64,
    pub access_log: u64,
}

/// The indexes a bulk load leaves out (name, statement; the same SQL on both backends): their
/// keys arrive in random order, so they are built once at the end by sorting.
pub(crate) const BULK_INDEXES: [(&str, &str); 2] = [
    (
        "qualifications_by_key",
        "CREATE UNIQUE INDEX IF NOT EXISTS qualifications_by_key
         ON qualifications (insurer_number, symbol_key, number_key, branch)",
    ),
    (
        "qualification_versions_by_birthdate",
        "CREATE INDEX IF NOT EXISTS qualification_versions_by_birthdate
         ON qualification_versions (birthdate, sex)",
    ),
];

/// The storage contract, in domain terms.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Applies a roster in one transaction: new keys are inserted, changed ones get a new
    /// version, identical ones are left alone. All or nothing.
    async fn import_roster(&self, import: RosterImport) -> Result<ImportOutcome, StoreError>;

    /// Starts loading a population into a store that holds no qualification yet: until
    /// [`Store::finish_bulk_load`], imports only append (every row counts as inserted) and the
    /// indexes whose keys arrive in random order (the card key, the birth-date search) are
    /// left out, to be built once at the end by sorting. Returns false, changing nothing, when
    /// the store already holds qualifications: then imports stay the usual kind. Meant for the
    /// seed before the central serves; a bulk load interrupted by a crash is finished when the
    /// store is opened again.
    async fn begin_bulk_load(&self) -> Result<bool, StoreError>;

    /// Builds the indexes a bulk load left out and ends it. Fails with
    /// [`StoreError::DuplicateKey`] when two imports of the load carried the same card key (the
    /// load stays open then, and the store refuses to open until the rows are removed).
    async fn finish_bulk_load(&self) -> Result<(), StoreError>;

    /// How many imports of a bulk load are worth running at once: a bulk load looks nothing
    /// up, so its imports do not wait for each other, but a backend with a single writer
    /// takes them one at a time anyway.
    fn bulk_writers(&self) -> usize {
        1
    }

    /// Current qualifications matching a card query (birth date included).
    async fn find_qualifications(
        &self,
        query: &CardQuery,
    ) -> Result<Vec<StoredQualification>, StoreError>;

    /// Appends an access-log entry; returns once it is durable.
    async fn append_access(&self, entry: AccessLogEntry) -> Result<i64, StoreError>;

    /// Newest access-log entries first.
    async fn recent_access(&self, limit: u32) -> Result<Vec<StoredAccess>, StoreError>;

    /// Access-log entries that touched one qualification, newest first.
    async fn access_for_qualification(
        &self,
        qualification_id: i64,
    ) -> Result<Vec<StoredAccess>, StoreError>;

    /// Every version of a qualification, oldest first.
    async fn qualification_history(
        &self,
        qualification_id: i64,
    ) -> Result<Vec<QualificationVersion>, StoreError>;

    /// Recorded imports, newest first.
    async fn recent_imports(&self, limit: u32) -> Result<Vec<ImportRecord>, StoreError>;

    async fn counts(&self) -> Result<StoreCounts, StoreError>;

    /// Access-log entries held: [`Store::counts`]' last figure without counting the
    /// population (minutes at national scale), for benchmarks that check every answer was
    /// logged.
    async fn access_log_len(&self) -> Result<u64, StoreError>;

    /// A sample of current card queries (for benchmarks and the demo), deterministic order.
    async fn sample_queries(&self, limit: u32) -> Result<Vec<CardQuery>, StoreError>;

    /// Backend and node health (replicas, lag, where reads went).
    async fn status(&self) -> Result<StoreStatus, StoreError>;

    /// Current qualifications linked to a person (agency pseudonym), oldest acquisition first.
    async fn find_by_person(&self, pseudonym: &str)
        -> Result<Vec<StoredQualification>, StoreError>;

    /// Appends an access-log entry and spends a nonce in the same durable write. `None` when
    /// the nonce was spent before (nothing is written then).
    async fn append_access_once(
        &self,
        nonce: NonceUse,
        entry: AccessLogEntry,
    ) -> Result<Option<i64>, StoreError>;

    /// Records a 利用登録; `false` when the person was registered already (the first stays).
    async fn register_card(&self, registration: CardRegistration) -> Result<bool, StoreError>;

    async fn card_registration(
        &self,
        pseudonym: &str,
    ) -> Result<Option<CardRegistration>, StoreError>;

    /// Link reviews, newest first; only open ones when `open_only`.
    async fn link_reviews(
        &self,
        open_only: bool,
        limit: u32,
    ) -> Result<Vec<LinkReview>, StoreError>;

    /// A person's qualifications and the newest consents they gave `institution`, in one read
    /// (the card-check lookup; may be served by a fresh-enough replica).
    async fn person_with_consents(
        &self,
        pseudonym: &str,
        institution: &InstitutionCode,
    ) -> Result<(Vec<StoredQualification>, Vec<Consent>), StoreError>;

    /// Records consents (one durable write for all of them).
    async fn record_consents(&self, consents: Vec<Consent>) -> Result<(), StoreError>;

    /// The newest consent per category that a person gave an institution.
    async fn latest_consents(
        &self,
        pseudonym: &str,
        institution: &InstitutionCode,
    ) -> Result<Vec<Consent>, StoreError>;

    /// Closes an open review without linking. `false` when there is no such open review.
    async fn dismiss_link_review(
        &self,
        id: i64,
        by: &str,
        note: &str,
        at: Timestamp,
    ) -> Result<bool, StoreError>;

    // --- Medical information ---

    /// Applies a master file in one transaction: new code editions are added, changed ones
    /// (same code and start) are updated.
    async fn import_masters(&self, import: MasterImport)
        -> Result<MasterImportOutcome, StoreError>;

    /// Every edition of the given codes of one master.
    async fn master_entries(
        &self,
        kind: MasterKind,
        codes: Vec<String>,
    ) -> Result<Vec<MasterEntry>, StoreError>;

    /// Stores a UKE file's receipts in one transaction, matching each to a qualification
    /// ([`medical::match_candidate`]); unmatched receipts are kept. A file already imported
    /// (same digest) writes nothing and says `duplicate`.
    async fn import_receipts(
        &self,
        import: ReceiptImport,
    ) -> Result<ReceiptImportOutcome, StoreError>;

    /// Stores a 特定健診 package's checkups in one transaction, matched like receipts.
    async fn import_checkups(
        &self,
        import: CheckupImport,
    ) -> Result<CheckupImportOutcome, StoreError>;

    /// Tries again to match the unmatched receipts and checkups billed to these insurer
    /// numbers (after their roster imports; an empty list means every insurer).
    async fn match_pending(&self, insurers: Vec<String>) -> Result<MatchOutcome, StoreError>;

    /// Matched receipts of these qualifications with a 診療年月 in the months of `from..=to`,
    /// newest month first, with their lines.
    async fn receipts_for(
        &self,
        qualification_ids: Vec<i64>,
        from: Date,
        to: Date,
    ) -> Result<Vec<StoredReceipt>, StoreError>;

    /// Matched checkups of these qualifications dated `from..=to`, newest first.
    async fn checkups_for(
        &self,
        qualification_ids: Vec<i64>,
        from: Date,
        to: Date,
    ) -> Result<Vec<StoredCheckup>, StoreError>;

    /// Deletes receipts of months before `before`'s month and checkups before `before`
    /// (retention), matched or not.
    async fn purge_medical(&self, before: Date) -> Result<PurgeOutcome, StoreError>;

    async fn medical_counts(&self) -> Result<MedicalCounts, StoreError>;

    /// Whether `institution` got an eligibility answer for any of these qualifications at or
    /// after `since`.
    async fn checked_since(
        &self,
        institution: &InstitutionCode,
        qualification_ids: Vec<i64>,
        since: Timestamp,
    ) -> Result<bool, StoreError>;

    /// Records that a person blocked (or unblocked) an institution from their information.
    async fn set_institution_block(
        &self,
        pseudonym: &str,
        institution: &InstitutionCode,
        blocked: bool,
        at: Timestamp,
    ) -> Result<(), StoreError>;

    /// Whether the person's newest block decision for the institution is "blocked".
    async fn institution_blocked(
        &self,
        pseudonym: &str,
        institution: &InstitutionCode,
    ) -> Result<bool, StoreError>;

    // --- 照会番号 and 一括照会 ---

    /// Records an institution's 照会番号 for a qualification, replacing its earlier one for
    /// the same qualification. Returns the number it replaced, if any (re-registering the same
    /// number returns it). Durable on return. A qualification id the store does not have is
    /// refused with [`StoreError::UnknownQualification`] and nothing is written.
    async fn register_reference_number(
        &self,
        registration: ReferenceNumberRegistration,
    ) -> Result<Option<String>, StoreError>;

    /// The institution's 照会番号 for each of these qualifications (aligned with the input):
    /// the one registered on the qualification itself; else the newest one registered on
    /// another qualification linked to the same person (so it survives a change of insurer);
    /// else `None`.
    async fn reference_numbers(
        &self,
        institution: &InstitutionCode,
        qualification_ids: Vec<i64>,
    ) -> Result<Vec<Option<String>>, StoreError>;

    /// Stores a submitted batch inquiry (not yet answered); returns its id. Durable on return.
    async fn create_batch_inquiry(&self, batch: NewBatchInquiry) -> Result<i64, StoreError>;

    /// Stores a batch's answer. `false` when there is no such unfinished batch (already
    /// finished, or purged); nothing is changed then.
    async fn finish_batch_inquiry(
        &self,
        id: i64,
        result: BatchInquiryResult,
    ) -> Result<bool, StoreError>;

    /// One batch of this institution (another institution's id is `None`).
    async fn batch_inquiry(
        &self,
        institution: &InstitutionCode,
        id: i64,
    ) -> Result<Option<StoredBatchInquiry>, StoreError>;

    /// The institution's batches submitted at or after `since`, newest first, without their
    /// JSON documents (`request_json` and `result_json` empty/`None`).
    async fn batch_inquiries(
        &self,
        institution: &InstitutionCode,
        since: Timestamp,
    ) -> Result<Vec<StoredBatchInquiry>, StoreError>;

    /// Every unfinished batch, oldest first, with its request (to resume after a restart).
    async fn unfinished_batch_inquiries(&self) -> Result<Vec<StoredBatchInquiry>, StoreError>;

    /// Deletes batches submitted before `before` (finished or not: their answers hold
    /// personal data and are kept only for days). Returns how many.
    async fn purge_batch_inquiries(&self, before: Timestamp) -> Result<u64, StoreError>;

    // --- Institutions, the patient's choices, 災害時 access ---

    /// Registers an institution or replaces its registration.
    async fn upsert_institution(
        &self,
        institution: kakunin_domain::Institution,
    ) -> Result<(), StoreError>;

    /// The registered institutions among `codes` (unregistered ones are left out).
    async fn institutions(
        &self,
        codes: Vec<InstitutionCode>,
    ) -> Result<Vec<kakunin_domain::Institution>, StoreError>;

    /// Every registered institution, by code.
    async fn all_institutions(&self) -> Result<Vec<kakunin_domain::Institution>, StoreError>;

    /// The person's current block decision per institution (newest decision of each), by
    /// institution code.
    async fn institution_blocks(&self, pseudonym: &str) -> Result<Vec<BlockState>, StoreError>;

    /// Records the person's choice to share no medical information with anyone (or to share
    /// again). Append-only; the newest choice is in force.
    async fn set_sharing_opt_out(
        &self,
        pseudonym: &str,
        opted_out: bool,
        at: Timestamp,
    ) -> Result<(), StoreError>;

    /// Whether the person's newest sharing choice is "opted out" (false when none).
    async fn sharing_opted_out(&self, pseudonym: &str) -> Result<bool, StoreError>;

    /// Every consent the person gave (withdrawals included: a consent whose `expires_at` is
    /// its `given_at`), newest first, at most `limit`.
    async fn consent_history(
        &self,
        pseudonym: &str,
        limit: u32,
    ) -> Result<Vec<Consent>, StoreError>;

    /// Access-log entries that touched any of these qualifications, each once, newest first,
    /// at most `limit`.
    async fn access_for_qualifications(
        &self,
        qualification_ids: Vec<i64>,
        limit: u32,
    ) -> Result<Vec<StoredAccess>, StoreError>;

    /// Records a 災害時 declaration; returns its id.
    async fn declare_emergency(
        &self,
        declaration: NewEmergencyDeclaration,
    ) -> Result<i64, StoreError>;

    /// Ends a declaration early. `false` when there is no such declaration still running at
    /// `at`.
    async fn end_emergency(&self, id: i64, at: Timestamp) -> Result<bool, StoreError>;

    /// Declarations in force at `at` (started, not past `ends_at`, not ended early).
    async fn active_emergencies(
        &self,
        at: Timestamp,
    ) -> Result<Vec<EmergencyDeclaration>, StoreError>;

    /// Every declaration, newest first, at most `limit`.
    async fn emergencies(&self, limit: u32) -> Result<Vec<EmergencyDeclaration>, StoreError>;

    /// Current qualifications whose current version matches the 4 attributes (used only for
    /// 災害時 access). At most `limit` (callers refuse anything but exactly one person).
    async fn find_by_attributes(
        &self,
        query: &AttributeQuery,
        limit: u32,
    ) -> Result<Vec<StoredQualification>, StoreError>;

    // --- Operators' statistics ---

    /// Access-log entries at or after `from` and before `to`, counted per institution,
    /// purpose, information category and result kind (one grouped read), in a fixed order.
    async fn access_counts(
        &self,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<AccessCount>, StoreError>;

    /// Per insurer number with qualifications, by number: its last roster import, the imports
    /// and versions since `since`, and the lag from 資格取得日 / 資格喪失日 to the import that
    /// brought them (see [`InsurerFreshness`]).
    async fn insurer_freshness(
        &self,
        since: Timestamp,
    ) -> Result<Vec<InsurerFreshness>, StoreError>;

    // --- The registry of client certificates ---

    /// Records a client certificate unless its serial is already known. Returns whether it was
    /// new.
    async fn record_client_certificate(&self, cert: ClientCertificate) -> Result<bool, StoreError>;

    /// Revokes a certificate (final; the first revocation stands).
    async fn revoke_client_certificate(
        &self,
        serial: &str,
        revocation: CertificateRevocation,
    ) -> Result<RevokeOutcome, StoreError>;

    /// The registry, most recently recorded first, at most `limit`.
    async fn client_certificates(&self, limit: u32) -> Result<Vec<ClientCertificate>, StoreError>;

    /// The serials of every revoked certificate (each node refuses them).
    async fn revoked_certificate_serials(&self) -> Result<Vec<String>, StoreError>;

    // --- Presence ---

    /// Records when institutions were heard from (a node's batch); a time never moves back.
    async fn note_presence(
        &self,
        seen: Vec<(InstitutionCode, Timestamp)>,
    ) -> Result<(), StoreError>;

    /// How many institutions were last heard from at or after `recent`, and how many at or
    /// after `since` but before `recent`.
    async fn presence_counts(
        &self,
        recent: Timestamp,
        since: Timestamp,
    ) -> Result<(u64, u64), StoreError>;

    // --- Audit chains ---

    /// Records an administrative event, chained.
    async fn append_admin_event(&self, event: NewAdminEvent) -> Result<i64, StoreError>;

    /// The newest administrative events, newest first, at most `limit`.
    async fn admin_events(&self, limit: u32) -> Result<Vec<AdminEvent>, StoreError>;

    /// A chain's entries after `after_id` in id order, at most `limit`, each with the hash of
    /// its fields as stored now.
    async fn audit_rows(
        &self,
        chain: AuditChain,
        after_id: i64,
        limit: u32,
    ) -> Result<Vec<AuditRow>, StoreError>;

    /// The head of each non-empty chain.
    async fn audit_heads(&self) -> Result<Vec<AuditHead>, StoreError>;

    /// Records a signed checkpoint.
    async fn record_audit_checkpoint(&self, checkpoint: AuditCheckpoint) -> Result<(), StoreError>;

    /// Every checkpoint, oldest first.
    async fn audit_checkpoints(&self) -> Result<Vec<AuditCheckpoint>, StoreError>;

    /// The newest checkpoint of each chain (one read, whatever the number of checkpoints).
    async fn newest_audit_checkpoints(&self) -> Result<Vec<AuditCheckpoint>, StoreError>;

    // --- Idempotency keys ---

    /// Claims `key` for `caller`'s request `fingerprint`, or says what to do instead. A
    /// claim older than `stale_ms` whose request never finished (its node died) is taken over.
    async fn idempotency_begin(
        &self,
        caller: &str,
        key: &str,
        fingerprint: &str,
        now: Timestamp,
        stale_ms: i64,
    ) -> Result<IdempotencyBegin, StoreError>;

    /// Stores the answer of a claimed request, or (`None`) releases the claim so that a retry
    /// runs again.
    async fn idempotency_finish(
        &self,
        caller: &str,
        key: &str,
        answer: Option<IdempotentAnswer>,
    ) -> Result<(), StoreError>;

    /// Keeps a running request's claim fresh (its node is alive).
    async fn idempotency_touch(
        &self,
        caller: &str,
        key: &str,
        now: Timestamp,
    ) -> Result<(), StoreError>;

    /// Forgets keys claimed before `before`; returns how many.
    async fn purge_idempotency(&self, before: Timestamp) -> Result<u64, StoreError>;
}
