//! The SQLite backend: one file in the data directory, WAL, `synchronous=FULL`.
//!
//! One writer thread owns the write connections and applies writes in order; access-log
//! appends that queue up while a commit is in flight are committed together (group commit), so
//! every acknowledged entry is on disk and hundreds of them share one fsync. Imports and other
//! writes of many rows use a connection with a large page cache, the access log and the other
//! small writes one with SQLite's default. Reads run on a small pool of read-only connections,
//! on the calling thread or in tokio's blocking pool.

mod audit;
mod certs;
mod medical;
mod people;
mod reception;
mod rows;
mod stats;

use crate::{
    AttributeQuery, BatchInquiryResult, BlockState, CardQuery, CardRegistration, CheckupImport,
    CheckupImportOutcome, EmergencyDeclaration, ImportOutcome, ImportRecord, LinkReview,
    MasterEntry, MasterImport, MasterImportOutcome, MasterKind, MatchOutcome, MedicalCounts,
    NewBatchInquiry, NewEmergencyDeclaration, NodeStatus, NonceUse, PurgeOutcome,
    QualificationVersion, ReceiptImport, ReceiptImportOutcome, ReferenceNumberRegistration,
    RosterImport, Store, StoreCounts, StoreError, StoreStatus, StoredAccess, StoredBatchInquiry,
    StoredCheckup, StoredQualification, StoredReceipt,
};
use async_trait::async_trait;
use kakunin_domain::{AccessLogEntry, Consent, Date, Institution, InstitutionCode, Timestamp};
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use tokio::sync::oneshot;

const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "0001_init", include_str!("migrations/0001_init.sql")),
    (2, "0002_cards", include_str!("migrations/0002_cards.sql")),
    (
        3,
        "0003_consents",
        include_str!("migrations/0003_consents.sql"),
    ),
    (
        4,
        "0004_medical",
        include_str!("migrations/0004_medical.sql"),
    ),
    (
        5,
        "0005_reception",
        include_str!("migrations/0005_reception.sql"),
    ),
    (6, "0006_people", include_str!("migrations/0006_people.sql")),
    (7, "0007_stats", include_str!("migrations/0007_stats.sql")),
    (
        8,
        "0008_certificates",
        include_str!("migrations/0008_certificates.sql"),
    ),
    (
        9,
        "0009_presence",
        include_str!("migrations/0009_presence.sql"),
    ),
    (10, "0010_audit", include_str!("migrations/0010_audit.sql")),
    (
        11,
        "0011_idempotency",
        include_str!("migrations/0011_idempotency.sql"),
    ),
    (
        12,
        "0012_subjects_by_time",
        include_str!("migrations/0012_subjects_by_time.sql"),
    ),
    (
        13,
        "0013_bulk_load",
        include_str!("migrations/0013_bulk_load.sql"),
    ),
];

/// Largest number of access-log entries committed in one transaction.
const MAX_GROUP: usize = 2048;
const READERS: usize = 4;

type AccessReply = oneshot::Sender<Result<Option<i64>, StoreError>>;

enum WriteCmd {
    /// An access-log entry, optionally spending a nonce in the same commit.
    Access(AccessLogEntry, Option<NonceUse>, AccessReply),
    Import(
        Box<rows::PreparedImport>,
        oneshot::Sender<Result<ImportOutcome, StoreError>>,
    ),
    /// Any other write, on the connection `Target` names; the closure replies itself.
    Exec(Target, Box<dyn FnOnce(&mut Connection) + Send>),
}

/// Which write connection a write runs on.
#[derive(Clone, Copy)]
enum Target {
    /// SQLite's default page cache: the access log and other small writes.
    Small,
    /// The large page cache: writes of many rows (a file's import, a bulk load's phases, a
    /// purge).
    Bulk,
}

/// The access log counts as busy when its last commit ended this recently …
const BUSY_WITHIN: std::time::Duration = std::time::Duration::from_millis(2);
/// … and then a commit waits up to this long for more entries …
const LINGER: std::time::Duration = std::time::Duration::from_micros(400);
/// … unless it already has this many.
const LINGER_UNTIL_GROUP: usize = 8;

/// Spent nonces are purged every this many access batches.
const PURGE_EVERY: u64 = 1024;

/// SQLite implementation of [`Store`].
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    readers: Vec<Mutex<Connection>>,
    next_reader: AtomicUsize,
    writer: Mutex<Option<mpsc::Sender<WriteCmd>>>,
    reads: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.inner.path)
            .finish()
    }
}

fn configure(conn: &Connection) -> Result<(), StoreError> {
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(())
}

/// Page cache of the connection that imports: it holds the indexes a roster import inserts
/// into (a national import slows to a crawl with SQLite's default 2 MB). Readers keep the
/// default: in WAL mode a reader drops its whole cache whenever the database changed since its
/// last read, which under a steady stream of access-log commits is before nearly every read, so
/// a larger reader cache holds nothing. (Memory-mapping the file was measured too: every such
/// change unmapped the mapping, and the TLB shootdowns cost more than the pread calls they
/// saved.) The access log and the other small writes keep the default on a connection of
/// their own: at the end of each write transaction SQLite sweeps the cache's hash table, whose
/// size follows the pages cached, and with this cache that sweep was 6 % of the central's CPU
/// at saturation and a third of the writer thread's user time at 2,000 checks/s.
const IMPORT_CACHE_KIB: i64 = 256 * 1024;

/// A write connection: WAL, `synchronous=FULL`, and `cache_kib` of page cache (SQLite's
/// default when `None`).
fn open_writer(path: &Path, cache_kib: Option<i64>) -> Result<Connection, StoreError> {
    let writer = Connection::open(path)?;
    configure(&writer)?;
    let mode: String = writer.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Backend(format!(
            "could not enable WAL (journal_mode={mode})"
        )));
    }
    writer.pragma_update(None, "synchronous", "FULL")?;
    if let Some(kib) = cache_kib {
        writer.pragma_update(None, "cache_size", -kib)?;
    }
    tune_writer(&writer)?;
    Ok(writer)
}

fn tune_writer(conn: &Connection) -> Result<(), StoreError> {
    // After a checkpoint the log shrinks back to this size: one big import (or index build)
    // must not leave gigabytes of log behind for good.
    conn.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)?;
    // Index builds (the end of a bulk load, migrations) sort on every core.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    conn.pragma_update(None, "threads", cores.min(8) as i64)?;
    Ok(())
}

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version INTEGER PRIMARY KEY, name TEXT NOT NULL, sha256 TEXT NOT NULL, applied_at_ms INTEGER NOT NULL)",
    )?;
    let known = MIGRATIONS.iter().map(|m| m.0).max().unwrap_or(0);
    let found: i64 = conn.query_row(
        "SELECT coalesce(max(version), 0) FROM schema_migrations",
        [],
        |r| r.get(0),
    )?;
    if found > known {
        return Err(StoreError::SchemaTooNew { found, known });
    }
    // A migration may rebuild a table that others refer to (the documented way: create, copy,
    // drop, rename), which needs foreign keys off; each one is checked before it commits.
    conn.pragma_update(None, "foreign_keys", "OFF")?;
    let applied = apply_migrations(conn);
    conn.pragma_update(None, "foreign_keys", "ON")?;
    applied
}

fn apply_migrations(conn: &mut Connection) -> Result<(), StoreError> {
    for &(version, name, sql) in MIGRATIONS {
        let digest = crate::hex(&Sha256::digest(sql.as_bytes()));
        let applied: Option<String> = conn
            .query_row(
                "SELECT sha256 FROM schema_migrations WHERE version = ?1",
                [version],
                |r| r.get(0),
            )
            .optional()?;
        match applied {
            Some(d) if d == digest => {}
            Some(_) => return Err(StoreError::MigrationChanged(name.to_string())),
            None => {
                let tx = conn.transaction()?;
                tx.execute_batch(sql)?;
                let dangling: i64 =
                    tx.query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
                        r.get(0)
                    })?;
                if dangling > 0 {
                    return Err(StoreError::Corrupt(format!(
                        "migration {name} left {dangling} rows with a dangling foreign key"
                    )));
                }
                tx.execute(
                    "INSERT INTO schema_migrations (version, name, sha256, applied_at_ms) VALUES (?1, ?2, ?3, ?4)",
                    params![version, name, digest, crate::now_ms()],
                )?;
                tx.commit()?;
            }
        }
    }
    Ok(())
}

impl SqliteStore {
    /// Opens (creating if needed) the database file at `path` and applies pending migrations.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        let mut writer = open_writer(&path, Some(IMPORT_CACHE_KIB))?;
        migrate(&mut writer)?;
        // A bulk load a crash interrupted is finished before anything reads the store.
        rows::finish_bulk_load(&mut writer)?;
        let mut readers = Vec::with_capacity(READERS);
        for _ in 0..READERS {
            let r = Connection::open_with_flags(
                &path,
                OpenFlags::SQLITE_OPEN_READ_ONLY
                    | OpenFlags::SQLITE_OPEN_NO_MUTEX
                    | OpenFlags::SQLITE_OPEN_URI,
            )?;
            configure(&r)?;
            readers.push(Mutex::new(r));
        }
        let small = open_writer(&path, None)?;
        let (tx, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("kakunin-sqlite-writer".into())
            .spawn(move || writer_loop(writer, small, rx))
            .map_err(|e| StoreError::Backend(format!("cannot start writer thread: {e}")))?;
        Ok(Self {
            inner: Arc::new(Inner {
                path,
                readers,
                next_reader: AtomicUsize::new(0),
                writer: Mutex::new(Some(tx)),
                reads: std::sync::atomic::AtomicU64::new(0),
            }),
        })
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Runs a small write `f` on the writer thread, in order with the other writes.
    async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.exec(Target::Small, f).await
    }

    /// Runs a write of many rows `f` on the writer thread's connection with the large cache,
    /// in order with the other writes.
    async fn write_bulk<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.exec(Target::Bulk, f).await
    }

    async fn exec<T: Send + 'static>(
        &self,
        target: Target,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (tx, rx) = oneshot::channel();
        self.send(WriteCmd::Exec(
            target,
            Box::new(move |c| {
                let _ = tx.send(f(c));
            }),
        ))?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    async fn append(
        &self,
        entry: AccessLogEntry,
        nonce: Option<NonceUse>,
    ) -> Result<Option<i64>, StoreError> {
        let (tx, rx) = oneshot::channel();
        self.send(WriteCmd::Access(entry, nonce, tx))?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    fn send(&self, cmd: WriteCmd) -> Result<(), StoreError> {
        let guard = self.inner.writer.lock().map_err(|_| StoreError::Closed)?;
        guard
            .as_ref()
            .ok_or(StoreError::Closed)?
            .send(cmd)
            .map_err(|_| StoreError::Closed)
    }

    /// Runs a point read (an indexed lookup of one person, a handful of rows) right here on
    /// the calling thread when a read connection is free: it takes microseconds, less than
    /// handing it to the blocking pool and back (two thread wake-ups, which dominated a
    /// check's cost). When every connection is busy, it queues like any other read.
    async fn read_point<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let start = self.inner.next_reader.fetch_add(1, Ordering::Relaxed);
        if let Some(conn) = self.inner.free_reader(start) {
            return f(&conn);
        }
        self.read(f).await
    }

    /// Runs a read on one of the read connections, off the async threads.
    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let start = inner.next_reader.fetch_add(1, Ordering::Relaxed);
            // Take the first free connection, else wait for the round-robin one.
            let conn = match inner.free_reader(start) {
                Some(conn) => conn,
                None => inner.readers[start % inner.readers.len()]
                    .lock()
                    .map_err(|_| StoreError::Closed)?,
            };
            f(&conn)
        })
        .await
        .map_err(|e| StoreError::Backend(format!("read task failed: {e}")))?
    }
}

impl Inner {
    /// The first read connection nobody holds, looking from `start` round robin.
    fn free_reader(&self, start: usize) -> Option<std::sync::MutexGuard<'_, Connection>> {
        let n = self.readers.len();
        (0..n).find_map(|i| self.readers[(start + i) % n].try_lock().ok())
    }
}

/// Applies the writes in order: imports and other writes of many rows on `bulk` (large page
/// cache), access-log groups and the other small writes on `conn`.
fn writer_loop(mut bulk: Connection, mut conn: Connection, rx: mpsc::Receiver<WriteCmd>) {
    let mut pending: Option<WriteCmd> = None;
    let mut batches: u64 = 0;
    let mut last_commit = std::time::Instant::now() - BUSY_WITHIN;
    loop {
        let cmd = match pending.take() {
            Some(c) => c,
            None => match rx.recv() {
                Ok(c) => c,
                Err(_) => return,
            },
        };
        match cmd {
            WriteCmd::Import(import, reply) => {
                let _ = reply.send(rows::import(&mut bulk, *import));
            }
            WriteCmd::Exec(Target::Bulk, f) => f(&mut bulk),
            WriteCmd::Exec(Target::Small, f) => f(&mut conn),
            WriteCmd::Access(entry, nonce, reply) => {
                let mut batch = vec![(entry, nonce, reply)];
                // While checks keep coming (the last commit ended moments ago), wait a little
                // for the next ones so that one fsync covers several: at a steady 2,000
                // checks/s this roughly halves the commits, for at most LINGER of latency.
                let busy = last_commit.elapsed() < BUSY_WITHIN;
                let linger_until = std::time::Instant::now() + LINGER;
                while batch.len() < MAX_GROUP {
                    let next = match rx.try_recv() {
                        Err(mpsc::TryRecvError::Empty)
                            if busy && batch.len() < LINGER_UNTIL_GROUP =>
                        {
                            let left =
                                linger_until.saturating_duration_since(std::time::Instant::now());
                            if left.is_zero() {
                                break;
                            }
                            match rx.recv_timeout(left) {
                                Ok(cmd) => cmd,
                                Err(_) => break,
                            }
                        }
                        Ok(cmd) => cmd,
                        Err(_) => break,
                    };
                    match next {
                        WriteCmd::Access(e, n, r) => batch.push((e, n, r)),
                        other => {
                            pending = Some(other);
                            break;
                        }
                    }
                }
                let entries: Vec<(&AccessLogEntry, Option<&NonceUse>)> =
                    batch.iter().map(|(e, n, _)| (e, n.as_ref())).collect();
                match rows::append_access(&mut conn, &entries) {
                    Ok(ids) => {
                        for ((_, _, reply), id) in batch.into_iter().zip(ids) {
                            let _ = reply.send(Ok(id));
                        }
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "access-log commit failed");
                        for (_, _, reply) in batch {
                            let _ = reply.send(Err(StoreError::Backend(e.to_string())));
                        }
                    }
                }
                last_commit = std::time::Instant::now();
                batches += 1;
                if batches % PURGE_EVERY == 0 {
                    if let Err(e) = rows::purge_nonces(&conn, crate::now_ms()) {
                        tracing::warn!(error = %e, "purging spent nonces failed");
                    }
                }
            }
        }
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn import_roster(&self, import: RosterImport) -> Result<ImportOutcome, StoreError> {
        let prepared = tokio::task::spawn_blocking(move || rows::PreparedImport::new(import))
            .await
            .map_err(|e| StoreError::Backend(format!("preparing a roster failed: {e}")))??;
        let (tx, rx) = oneshot::channel();
        self.send(WriteCmd::Import(Box::new(prepared), tx))?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    async fn begin_bulk_load(&self) -> Result<bool, StoreError> {
        self.write_bulk(rows::begin_bulk_load).await
    }

    async fn finish_bulk_load(&self) -> Result<(), StoreError> {
        self.write_bulk(rows::finish_bulk_load).await
    }

    async fn find_qualifications(
        &self,
        query: &CardQuery,
    ) -> Result<Vec<StoredQualification>, StoreError> {
        let q = query.clone();
        self.inner.reads.fetch_add(1, Ordering::Relaxed);
        self.read_point(move |c| rows::find(c, &q)).await
    }

    async fn append_access(&self, entry: AccessLogEntry) -> Result<i64, StoreError> {
        self.append(entry, None)
            .await?
            .ok_or_else(|| StoreError::Backend("access-log entry was not written".into()))
    }

    async fn append_access_once(
        &self,
        nonce: NonceUse,
        entry: AccessLogEntry,
    ) -> Result<Option<i64>, StoreError> {
        self.append(entry, Some(nonce)).await
    }

    async fn find_by_person(
        &self,
        pseudonym: &str,
    ) -> Result<Vec<StoredQualification>, StoreError> {
        let p = pseudonym.to_string();
        self.inner.reads.fetch_add(1, Ordering::Relaxed);
        self.read_point(move |c| rows::find_by_person(c, &p)).await
    }

    async fn register_card(&self, registration: CardRegistration) -> Result<bool, StoreError> {
        self.write(move |c| rows::register_card(c, &registration))
            .await
    }

    async fn card_registration(
        &self,
        pseudonym: &str,
    ) -> Result<Option<CardRegistration>, StoreError> {
        let p = pseudonym.to_string();
        self.read_point(move |c| rows::card_registration(c, &p))
            .await
    }

    async fn link_reviews(
        &self,
        open_only: bool,
        limit: u32,
    ) -> Result<Vec<LinkReview>, StoreError> {
        self.read(move |c| rows::link_reviews(c, open_only, limit))
            .await
    }

    async fn person_with_consents(
        &self,
        pseudonym: &str,
        institution: &InstitutionCode,
    ) -> Result<(Vec<StoredQualification>, Vec<Consent>), StoreError> {
        let (p, i) = (pseudonym.to_string(), institution.clone());
        self.inner.reads.fetch_add(1, Ordering::Relaxed);
        self.read_point(move |c| {
            Ok((
                rows::find_by_person(c, &p)?,
                rows::latest_consents(c, &p, &i)?,
            ))
        })
        .await
    }

    async fn record_consents(&self, consents: Vec<Consent>) -> Result<(), StoreError> {
        self.write(move |c| rows::record_consents(c, &consents))
            .await
    }

    async fn latest_consents(
        &self,
        pseudonym: &str,
        institution: &InstitutionCode,
    ) -> Result<Vec<Consent>, StoreError> {
        let (p, i) = (pseudonym.to_string(), institution.clone());
        self.read_point(move |c| rows::latest_consents(c, &p, &i))
            .await
    }

    async fn dismiss_link_review(
        &self,
        id: i64,
        by: &str,
        note: &str,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        let (by, note) = (by.to_string(), note.to_string());
        self.write(move |c| rows::dismiss_link_review(c, id, &by, &note, at))
            .await
    }

    async fn recent_access(&self, limit: u32) -> Result<Vec<StoredAccess>, StoreError> {
        self.read(move |c| rows::access(c, None, limit)).await
    }

    async fn access_for_qualification(
        &self,
        qualification_id: i64,
    ) -> Result<Vec<StoredAccess>, StoreError> {
        self.read(move |c| rows::access(c, Some(qualification_id), u32::MAX))
            .await
    }

    async fn qualification_history(
        &self,
        qualification_id: i64,
    ) -> Result<Vec<QualificationVersion>, StoreError> {
        self.read(move |c| rows::history(c, qualification_id)).await
    }

    async fn recent_imports(&self, limit: u32) -> Result<Vec<ImportRecord>, StoreError> {
        self.read(move |c| {
            let mut st = c.prepare_cached(
                "SELECT id, actor, received_at_ms, source_sha256, rows_total, inserted, updated, unchanged
                 FROM imports ORDER BY id DESC LIMIT ?1",
            )?;
            let out = st
                .query_map([limit], |r| {
                    Ok(ImportRecord {
                        id: r.get(0)?,
                        actor: r.get(1)?,
                        received_at: Timestamp::from_unix_millis(r.get(2)?),
                        source_sha256: r.get(3)?,
                        rows: r.get::<_, i64>(4)? as u64,
                        outcome: ImportOutcome {
                            import_id: r.get(0)?,
                            inserted: r.get::<_, i64>(5)? as u64,
                            updated: r.get::<_, i64>(6)? as u64,
                            unchanged: r.get::<_, i64>(7)? as u64,
                            ..Default::default()
                        },
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(out)
        })
        .await
    }

    async fn counts(&self) -> Result<StoreCounts, StoreError> {
        self.read(|c| {
            let n = |t: &str| -> Result<u64, StoreError> {
                Ok(c.query_row(&format!("SELECT count(*) FROM {t}"), [], |r| {
                    r.get::<_, i64>(0)
                })? as u64)
            };
            Ok(StoreCounts {
                qualifications: n("qualifications")?,
                versions: n("qualification_versions")?,
                imports: n("imports")?,
                access_log: n("access_log")?,
            })
        })
        .await
    }

    async fn access_log_len(&self) -> Result<u64, StoreError> {
        self.read(|c| {
            Ok(c.query_row("SELECT count(*) FROM access_log", [], |r| {
                r.get::<_, i64>(0)
            })? as u64)
        })
        .await
    }

    async fn sample_queries(&self, limit: u32) -> Result<Vec<CardQuery>, StoreError> {
        self.read(move |c| rows::sample(c, limit)).await
    }

    async fn status(&self) -> Result<StoreStatus, StoreError> {
        Ok(StoreStatus {
            backend: "sqlite".into(),
            nodes: vec![NodeStatus {
                name: self.inner.path.display().to_string(),
                role: "primary".into(),
                lag_ms: 0,
                reads: self.inner.reads.load(Ordering::Relaxed),
            }],
        })
    }

    async fn import_masters(
        &self,
        import: MasterImport,
    ) -> Result<MasterImportOutcome, StoreError> {
        self.write_bulk(move |c| medical::import_masters(c, &import))
            .await
    }

    async fn master_entries(
        &self,
        kind: MasterKind,
        codes: Vec<String>,
    ) -> Result<Vec<MasterEntry>, StoreError> {
        self.read_point(move |c| medical::master_entries(c, kind, &codes))
            .await
    }

    async fn import_receipts(
        &self,
        import: ReceiptImport,
    ) -> Result<ReceiptImportOutcome, StoreError> {
        self.write_bulk(move |c| medical::import_receipts(c, &import))
            .await
    }

    async fn import_checkups(
        &self,
        import: CheckupImport,
    ) -> Result<CheckupImportOutcome, StoreError> {
        self.write_bulk(move |c| medical::import_checkups(c, &import))
            .await
    }

    async fn match_pending(&self, insurers: Vec<String>) -> Result<MatchOutcome, StoreError> {
        self.write_bulk(move |c| medical::match_pending(c, &insurers))
            .await
    }

    async fn receipts_for(
        &self,
        qualification_ids: Vec<i64>,
        from: Date,
        to: Date,
    ) -> Result<Vec<StoredReceipt>, StoreError> {
        self.read(move |c| medical::receipts_for(c, &qualification_ids, from, to))
            .await
    }

    async fn checkups_for(
        &self,
        qualification_ids: Vec<i64>,
        from: Date,
        to: Date,
    ) -> Result<Vec<StoredCheckup>, StoreError> {
        self.read(move |c| medical::checkups_for(c, &qualification_ids, from, to))
            .await
    }

    async fn purge_medical(&self, before: Date) -> Result<PurgeOutcome, StoreError> {
        self.write_bulk(move |c| medical::purge(c, before)).await
    }

    async fn medical_counts(&self) -> Result<MedicalCounts, StoreError> {
        self.read(medical::counts).await
    }

    async fn checked_since(
        &self,
        institution: &InstitutionCode,
        qualification_ids: Vec<i64>,
        since: Timestamp,
    ) -> Result<bool, StoreError> {
        let i = institution.clone();
        self.read_point(move |c| medical::checked_since(c, &i, &qualification_ids, since))
            .await
    }

    async fn set_institution_block(
        &self,
        pseudonym: &str,
        institution: &InstitutionCode,
        blocked: bool,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let (p, i) = (pseudonym.to_string(), institution.clone());
        self.write(move |c| medical::set_block(c, &p, &i, blocked, at))
            .await
    }

    async fn institution_blocked(
        &self,
        pseudonym: &str,
        institution: &InstitutionCode,
    ) -> Result<bool, StoreError> {
        let (p, i) = (pseudonym.to_string(), institution.clone());
        self.read_point(move |c| medical::blocked(c, &p, &i)).await
    }

    async fn register_reference_number(
        &self,
        registration: ReferenceNumberRegistration,
    ) -> Result<Option<String>, StoreError> {
        self.write(move |c| reception::register_reference_number(c, &registration))
            .await
    }

    async fn reference_numbers(
        &self,
        institution: &InstitutionCode,
        qualification_ids: Vec<i64>,
    ) -> Result<Vec<Option<String>>, StoreError> {
        let i = institution.clone();
        self.read_point(move |c| reception::reference_numbers(c, &i, &qualification_ids))
            .await
    }

    async fn create_batch_inquiry(&self, batch: NewBatchInquiry) -> Result<i64, StoreError> {
        self.write(move |c| reception::create_batch(c, &batch))
            .await
    }

    async fn finish_batch_inquiry(
        &self,
        id: i64,
        result: BatchInquiryResult,
    ) -> Result<bool, StoreError> {
        self.write(move |c| reception::finish_batch(c, id, &result))
            .await
    }

    async fn batch_inquiry(
        &self,
        institution: &InstitutionCode,
        id: i64,
    ) -> Result<Option<StoredBatchInquiry>, StoreError> {
        let i = institution.clone();
        self.read(move |c| reception::batch(c, &i, id)).await
    }

    async fn batch_inquiries(
        &self,
        institution: &InstitutionCode,
        since: Timestamp,
    ) -> Result<Vec<StoredBatchInquiry>, StoreError> {
        let i = institution.clone();
        self.read(move |c| reception::batches(c, &i, since)).await
    }

    async fn unfinished_batch_inquiries(&self) -> Result<Vec<StoredBatchInquiry>, StoreError> {
        self.read(reception::unfinished_batches).await
    }

    async fn purge_batch_inquiries(&self, before: Timestamp) -> Result<u64, StoreError> {
        self.write_bulk(move |c| reception::purge_batches(c, before))
            .await
    }

    async fn upsert_institution(&self, institution: Institution) -> Result<(), StoreError> {
        self.write(move |c| people::upsert_institution(c, &institution))
            .await
    }

    async fn institutions(
        &self,
        codes: Vec<InstitutionCode>,
    ) -> Result<Vec<Institution>, StoreError> {
        self.read(move |c| people::institutions(c, &codes)).await
    }

    async fn all_institutions(&self) -> Result<Vec<Institution>, StoreError> {
        self.read(people::all_institutions).await
    }

    async fn institution_blocks(&self, pseudonym: &str) -> Result<Vec<BlockState>, StoreError> {
        let p = pseudonym.to_string();
        self.read(move |c| people::institution_blocks(c, &p)).await
    }

    async fn set_sharing_opt_out(
        &self,
        pseudonym: &str,
        opted_out: bool,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let p = pseudonym.to_string();
        self.write(move |c| people::set_sharing_opt_out(c, &p, opted_out, at))
            .await
    }

    async fn sharing_opted_out(&self, pseudonym: &str) -> Result<bool, StoreError> {
        let p = pseudonym.to_string();
        self.read_point(move |c| people::sharing_opted_out(c, &p))
            .await
    }

    async fn consent_history(
        &self,
        pseudonym: &str,
        limit: u32,
    ) -> Result<Vec<Consent>, StoreError> {
        let p = pseudonym.to_string();
        self.read(move |c| people::consent_history(c, &p, limit))
            .await
    }

    async fn access_for_qualifications(
        &self,
        qualification_ids: Vec<i64>,
        limit: u32,
    ) -> Result<Vec<StoredAccess>, StoreError> {
        self.read(move |c| people::access_for_qualifications(c, &qualification_ids, limit))
            .await
    }

    async fn declare_emergency(
        &self,
        declaration: NewEmergencyDeclaration,
    ) -> Result<i64, StoreError> {
        self.write(move |c| people::declare_emergency(c, &declaration))
            .await
    }

    async fn end_emergency(&self, id: i64, at: Timestamp) -> Result<bool, StoreError> {
        self.write(move |c| people::end_emergency(c, id, at)).await
    }

    async fn active_emergencies(
        &self,
        at: Timestamp,
    ) -> Result<Vec<EmergencyDeclaration>, StoreError> {
        self.read(move |c| people::active_emergencies(c, at)).await
    }

    async fn emergencies(&self, limit: u32) -> Result<Vec<EmergencyDeclaration>, StoreError> {
        self.read(move |c| people::emergencies(c, limit)).await
    }

    async fn find_by_attributes(
        &self,
        query: &AttributeQuery,
        limit: u32,
    ) -> Result<Vec<StoredQualification>, StoreError> {
        let q = query.clone();
        self.read(move |c| people::find_by_attributes(c, &q, limit))
            .await
    }
    async fn access_counts(
        &self,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<crate::AccessCount>, StoreError> {
        self.read(move |c| stats::access_counts(c, from, to)).await
    }

    async fn insurer_freshness(
        &self,
        since: Timestamp,
    ) -> Result<Vec<crate::InsurerFreshness>, StoreError> {
        self.read(move |c| stats::insurer_freshness(c, since)).await
    }

    async fn record_client_certificate(
        &self,
        cert: crate::ClientCertificate,
    ) -> Result<bool, StoreError> {
        self.write(move |c| certs::record(c, &cert)).await
    }

    async fn revoke_client_certificate(
        &self,
        serial: &str,
        revocation: crate::CertificateRevocation,
    ) -> Result<crate::RevokeOutcome, StoreError> {
        let serial = serial.to_string();
        self.write(move |c| certs::revoke(c, &serial, &revocation))
            .await
    }

    async fn client_certificates(
        &self,
        limit: u32,
    ) -> Result<Vec<crate::ClientCertificate>, StoreError> {
        self.read(move |c| certs::list(c, limit)).await
    }

    async fn revoked_certificate_serials(&self) -> Result<Vec<String>, StoreError> {
        self.read(certs::revoked_serials).await
    }

    async fn note_presence(
        &self,
        seen: Vec<(InstitutionCode, Timestamp)>,
    ) -> Result<(), StoreError> {
        if seen.is_empty() {
            return Ok(());
        }
        self.write(move |c| certs::note_presence(c, &seen)).await
    }

    async fn presence_counts(
        &self,
        recent: Timestamp,
        since: Timestamp,
    ) -> Result<(u64, u64), StoreError> {
        self.read(move |c| certs::presence_counts(c, recent, since))
            .await
    }

    async fn append_admin_event(&self, event: crate::NewAdminEvent) -> Result<i64, StoreError> {
        self.write(move |c| audit::append_admin_event(c, &event))
            .await
    }

    async fn admin_events(&self, limit: u32) -> Result<Vec<crate::AdminEvent>, StoreError> {
        self.read(move |c| audit::admin_events(c, limit)).await
    }

    async fn audit_rows(
        &self,
        chain: crate::AuditChain,
        after_id: i64,
        limit: u32,
    ) -> Result<Vec<crate::AuditRow>, StoreError> {
        self.read(move |c| audit::rows(c, chain, after_id, limit))
            .await
    }

    async fn audit_heads(&self) -> Result<Vec<crate::AuditHead>, StoreError> {
        self.read(audit::heads).await
    }

    async fn record_audit_checkpoint(
        &self,
        checkpoint: crate::AuditCheckpoint,
    ) -> Result<(), StoreError> {
        self.write(move |c| audit::record_checkpoint(c, &checkpoint))
            .await
    }

    async fn audit_checkpoints(&self) -> Result<Vec<crate::AuditCheckpoint>, StoreError> {
        self.read(audit::checkpoints).await
    }

    async fn newest_audit_checkpoints(&self) -> Result<Vec<crate::AuditCheckpoint>, StoreError> {
        self.read(audit::newest_checkpoints).await
    }

    async fn idempotency_begin(
        &self,
        caller: &str,
        key: &str,
        fingerprint: &str,
        now: Timestamp,
        stale_ms: i64,
    ) -> Result<crate::IdempotencyBegin, StoreError> {
        let (caller, key, fingerprint) =
            (caller.to_string(), key.to_string(), fingerprint.to_string());
        self.write(move |c| {
            audit::idempotency_begin(c, &caller, &key, &fingerprint, now.unix_millis(), stale_ms)
        })
        .await
    }

    async fn idempotency_finish(
        &self,
        caller: &str,
        key: &str,
        answer: Option<crate::IdempotentAnswer>,
    ) -> Result<(), StoreError> {
        let (caller, key) = (caller.to_string(), key.to_string());
        self.write(move |c| audit::idempotency_finish(c, &caller, &key, answer.as_ref()))
            .await
    }

    async fn idempotency_touch(
        &self,
        caller: &str,
        key: &str,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let (caller, key) = (caller.to_string(), key.to_string());
        self.write(move |c| {
            c.execute(
                "UPDATE idempotency_keys SET started_at_ms = ?3
                 WHERE caller = ?1 AND key = ?2 AND status IS NULL",
                params![caller, key, now.unix_millis()],
            )?;
            Ok(())
        })
        .await
    }

    async fn purge_idempotency(&self, before: Timestamp) -> Result<u64, StoreError> {
        self.write_bulk(move |c| audit::purge_idempotency(c, before.unix_millis()))
            .await
    }
}
