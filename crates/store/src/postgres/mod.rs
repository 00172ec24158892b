//! The PostgreSQL backend: a primary for writes, streaming replicas for eligibility reads.
//!
//! - Writes (imports, access log) go to the primary. Access-log appends are batched by one
//!   writer task into a single transaction (group commit); a batch is acknowledged only after
//!   COMMIT returns, so with synchronous replication an acknowledged entry is on a standby too.
//! - Eligibility reads go to a replica whose staleness is within the bound, else the primary.
//!   Staleness is measured without writing: a monitor samples the primary's WAL position every
//!   [`MONITOR_INTERVAL`]; a replica that has replayed up to position P is as stale as the age of
//!   the newest primary sample at or below P.
//! - Failover: every node is probed; when the primary is unreachable or in recovery and another
//!   node is a primary (promoted), writes move there without a restart.

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
use sha2::{Digest, Sha256};
use std::collections::{HashMap, VecDeque};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};
use tokio_postgres::{Client, Config, NoTls};

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
/// Spent nonces are purged every this many access batches.
const PURGE_EVERY: u64 = 1024;
/// How often the monitor probes the nodes.
pub const MONITOR_INTERVAL: Duration = Duration::from_millis(200);
const MAX_GROUP: usize = 4096;
/// Months of access-log partitions kept ahead.
const PARTITIONS_AHEAD: i32 = 3;

/// How to reach the database.
#[derive(Debug, Clone)]
pub struct PgOptions {
    pub primary: String,
    pub replicas: Vec<String>,
    /// Replicas more stale than this are skipped for reads.
    pub max_replica_lag: Duration,
    /// Connections per node.
    pub pool_size: usize,
}

impl PgOptions {
    pub fn new(primary: impl Into<String>) -> Self {
        Self {
            primary: primary.into(),
            replicas: Vec::new(),
            max_replica_lag: Duration::from_secs(1),
            pool_size: 16,
        }
    }
}

fn pg_err(e: &tokio_postgres::Error) -> StoreError {
    // The server's message (e.g. "password authentication failed") without the statement.
    let msg = match e.as_db_error() {
        Some(db) => format!("{}: {}", db.code().code(), db.message()),
        None => {
            let mut m = e.to_string();
            if let Some(src) = std::error::Error::source(e) {
                m = format!("{m}: {src}");
            }
            m
        }
    };
    StoreError::Backend(msg)
}

/// `host:port/db` of a config, for messages: never the password.
fn describe(c: &Config) -> String {
    let host = c
        .get_hosts()
        .first()
        .map(|h| match h {
            tokio_postgres::config::Host::Tcp(h) => h.clone(),
            #[cfg(unix)]
            tokio_postgres::config::Host::Unix(p) => p.display().to_string(),
        })
        .unwrap_or_else(|| "localhost".into());
    let port = c.get_ports().first().copied().unwrap_or(5432);
    format!("{host}:{port}/{}", c.get_dbname().unwrap_or(""))
}

/// A client with its prepared eligibility lookup.
struct Pooled {
    client: Client,
    find: Option<tokio_postgres::Statement>,
    find_by_person: Option<tokio_postgres::Statement>,
    /// Statements kept by their text (see [`Conn::prepared_all`]).
    by_text: HashMap<&'static str, tokio_postgres::Statement>,
}

struct Node {
    name: String,
    config: Config,
    idle: Mutex<Vec<Pooled>>,
    permits: Arc<Semaphore>,
    /// Connections the pool holds at most.
    pool_size: usize,
    /// The monitor's own connection, outside the pool, so that probes are never starved by a
    /// saturated pool (which would look like an outage).
    monitor: tokio::sync::Mutex<Option<Client>>,
    healthy: AtomicBool,
    in_recovery: AtomicBool,
    lag_ms: AtomicU64,
    reads: AtomicU64,
}

/// A pooled connection; returns to its node when dropped (unless broken).
struct Conn {
    client: Option<Pooled>,
    node: Arc<Node>,
    _permit: OwnedSemaphorePermit,
}

impl Conn {
    fn pooled(&mut self) -> &mut Pooled {
        self.client.as_mut().expect("connection present until drop")
    }

    /// The statement this connection keeps in `slot`, prepared from `sql()` the first time:
    /// for the person lookups, whose text is built at run time (constant statements go through
    /// [`Conn::cached`]).
    async fn prepared(
        &mut self,
        slot: fn(&mut Pooled) -> &mut Option<tokio_postgres::Statement>,
        sql: impl FnOnce() -> String,
    ) -> Result<tokio_postgres::Statement, StoreError> {
        if let Some(s) = slot(self.pooled()) {
            return Ok(s.clone());
        }
        let s = self.prepare(&sql()).await.map_err(|e| pg_err(&e))?;
        *slot(self.pooled()) = Some(s.clone());
        Ok(s)
    }
}

impl Conn {
    /// `sql` prepared the first time this connection runs it and kept by its text, for the
    /// statements of a request's hot path. Besides the round trip of parsing, this lets
    /// PostgreSQL keep a generic plan where one is as good as a custom one (after five custom
    /// plans); a statement sent as text is planned at every call.
    async fn cached(&mut self, sql: &'static str) -> Result<tokio_postgres::Statement, StoreError> {
        let [statement] = self.prepared_all([sql]).await?;
        Ok(statement)
    }

    /// The statements of `sqls`, each prepared the first time this connection needs it (all
    /// of those at once, pipelined).
    async fn prepared_all<const N: usize>(
        &mut self,
        sqls: [&'static str; N],
    ) -> Result<[tokio_postgres::Statement; N], StoreError> {
        let missing: Vec<&'static str> = sqls
            .iter()
            .copied()
            .filter(|s| !self.pooled().by_text.contains_key(s))
            .collect();
        if !missing.is_empty() {
            let client: &Client = self;
            let made =
                futures_util::future::try_join_all(missing.iter().map(|s| client.prepare(s)))
                    .await
                    .map_err(|e| pg_err(&e))?;
            let cache = &mut self.pooled().by_text;
            cache.extend(missing.into_iter().zip(made));
        }
        let cache = &self.pooled().by_text;
        Ok(sqls.map(|s| cache[s].clone()))
    }
}

impl std::ops::Deref for Conn {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self
            .client
            .as_ref()
            .expect("connection present until drop")
            .client
    }
}
impl std::ops::DerefMut for Conn {
    fn deref_mut(&mut self) -> &mut Client {
        &mut self.pooled().client
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        if let Some(c) = self.client.take() {
            if !c.client.is_closed() {
                if let Ok(mut idle) = self.node.idle.lock() {
                    idle.push(c);
                }
            }
        }
    }
}

impl Node {
    fn new(url: &str, pool: usize) -> Result<Arc<Self>, StoreError> {
        let mut config = Config::from_str(url)
            .map_err(|e| StoreError::Connect(format!("invalid PostgreSQL URL: {e}")))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(5));
        }
        config.application_name("kakunin");
        Ok(Arc::new(Self {
            name: describe(&config),
            config,
            idle: Mutex::new(Vec::new()),
            permits: Arc::new(Semaphore::new(pool.max(1))),
            pool_size: pool.max(1),
            monitor: tokio::sync::Mutex::new(None),
            healthy: AtomicBool::new(false),
            in_recovery: AtomicBool::new(false),
            lag_ms: AtomicU64::new(0),
            reads: AtomicU64::new(0),
        }))
    }

    async fn conn(self: &Arc<Self>) -> Result<Conn, StoreError> {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Closed)?;
        let reuse = self.idle.lock().ok().and_then(|mut v| {
            while let Some(c) = v.pop() {
                if !c.client.is_closed() {
                    return Some(c);
                }
            }
            None
        });
        let client = match reuse {
            Some(c) => c,
            None => {
                let (client, connection) =
                    self.config.connect(NoTls).await.map_err(|e| {
                        StoreError::Connect(format!("{}: {}", self.name, pg_err(&e)))
                    })?;
                tokio::spawn(async move {
                    let _ = connection.await;
                });
                Pooled {
                    client,
                    find: None,
                    find_by_person: None,
                    by_text: HashMap::new(),
                }
            }
        };
        Ok(Conn {
            client: Some(client),
            node: self.clone(),
            _permit: permit,
        })
    }

    /// Role and WAL position, on the monitor's connection: `(in_recovery, lsn)`.
    async fn probe_state(&self) -> Option<(bool, i64)> {
        let mut slot = self.monitor.lock().await;
        if slot.as_ref().is_none_or(Client::is_closed) {
            let (client, connection) =
                tokio::time::timeout(Duration::from_secs(2), self.config.connect(NoTls))
                    .await
                    .ok()?
                    .ok()?;
            tokio::spawn(async move {
                let _ = connection.await;
            });
            *slot = Some(client);
        }
        let client = slot.as_ref()?;
        let row = tokio::time::timeout(
            Duration::from_secs(2),
            client.query_one(
                "SELECT pg_is_in_recovery(),
                        (CASE WHEN pg_is_in_recovery()
                              THEN coalesce(pg_wal_lsn_diff(pg_last_wal_replay_lsn(), '0/0'), 0)
                              ELSE pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0') END)::bigint",
                &[],
            ),
        )
        .await;
        match row {
            Ok(Ok(row)) => Some((row.get(0), row.get(1))),
            _ => {
                *slot = None;
                None
            }
        }
    }

    /// Drops idle connections (after a failure, so the next use reconnects).
    fn reset(&self) {
        if let Ok(mut v) = self.idle.lock() {
            v.clear();
        }
    }
}

/// The two eligibility lookups, which may go to a replica.
#[derive(Clone, Copy)]
enum EligibilityRead<'a> {
    Card(&'a CardQuery),
    Person(&'a str),
    PersonWithConsents(&'a str, &'a InstitutionCode),
}

impl EligibilityRead<'_> {
    /// The qualifications found, and the consents when asked for.
    async fn run(
        self,
        c: &mut Conn,
    ) -> Result<(Vec<StoredQualification>, Vec<Consent>), StoreError> {
        match self {
            Self::Card(q) => Ok((rows::find(c, q).await?, vec![])),
            Self::Person(p) => Ok((rows::find_by_person(c, p).await?, vec![])),
            Self::PersonWithConsents(p, i) => rows::person_with_consents(c, p, i).await,
        }
    }
}

type AccessCmd = (
    AccessLogEntry,
    Option<NonceUse>,
    oneshot::Sender<Result<Option<i64>, StoreError>>,
);

struct Inner {
    nodes: Vec<Arc<Node>>,
    primary: AtomicUsize,
    max_lag: Duration,
    next_replica: AtomicUsize,
    /// (when, primary WAL position) samples, newest last.
    samples: Mutex<VecDeque<(Instant, i64)>>,
    writer: mpsc::UnboundedSender<AccessCmd>,
}

/// PostgreSQL implementation of [`Store`].
#[derive(Clone)]
pub struct PostgresStore {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.inner.nodes.iter().map(|n| n.name.as_str()).collect();
        f.debug_struct("PostgresStore")
            .field("nodes", &names)
            .finish()
    }
}

async fn migrate(client: &mut Client) -> Result<(), StoreError> {
    let tx = client.transaction().await.map_err(|e| pg_err(&e))?;
    // One migrator at a time across central nodes.
    tx.execute("SELECT pg_advisory_xact_lock(7243001)", &[])
        .await
        .map_err(|e| pg_err(&e))?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version BIGINT PRIMARY KEY, name TEXT NOT NULL, sha256 TEXT NOT NULL, applied_at_ms BIGINT NOT NULL)",
    )
    .await
    .map_err(|e| pg_err(&e))?;
    let known = MIGRATIONS.iter().map(|m| m.0).max().unwrap_or(0);
    let found: i64 = tx
        .query_one(
            "SELECT coalesce(max(version), 0)::bigint FROM schema_migrations",
            &[],
        )
        .await
        .map_err(|e| pg_err(&e))?
        .get(0);
    if found > known {
        return Err(StoreError::SchemaTooNew { found, known });
    }
    for &(version, name, sql) in MIGRATIONS {
        let digest = crate::hex(&Sha256::digest(sql.as_bytes()));
        let applied = tx
            .query_opt(
                "SELECT sha256 FROM schema_migrations WHERE version = $1",
                &[&version],
            )
            .await
            .map_err(|e| pg_err(&e))?;
        match applied {
            Some(row) if row.get::<_, String>(0) == digest => {}
            Some(_) => return Err(StoreError::MigrationChanged(name.to_string())),
            None => {
                tx.batch_execute(sql).await.map_err(|e| pg_err(&e))?;
                tx.execute(
                    "INSERT INTO schema_migrations (version, name, sha256, applied_at_ms) VALUES ($1, $2, $3, $4)",
                    &[&version, &name, &digest, &crate::now_ms()],
                )
                .await
                .map_err(|e| pg_err(&e))?;
            }
        }
    }
    tx.execute(
        "SELECT kakunin_ensure_access_partitions($1, $2)",
        &[&crate::now_ms(), &PARTITIONS_AHEAD],
    )
    .await
    .map_err(|e| pg_err(&e))?;
    tx.commit().await.map_err(|e| pg_err(&e))
}

impl PostgresStore {
    /// Connects to the primary (which must accept writes), applies pending migrations, and starts
    /// the replica monitor and the access-log writer.
    pub async fn connect(options: PgOptions) -> Result<Self, StoreError> {
        let mut nodes = vec![Node::new(&options.primary, options.pool_size)?];
        for r in &options.replicas {
            nodes.push(Node::new(r, options.pool_size)?);
        }
        let primary = {
            let mut c = nodes[0].conn().await?;
            let in_recovery: bool = c
                .query_one("SELECT pg_is_in_recovery()", &[])
                .await
                .map_err(|e| pg_err(&e))?
                .get(0);
            if in_recovery {
                return Err(StoreError::Connect(format!(
                    "{} is a read-only standby; give the primary as --database and standbys as --replica",
                    nodes[0].name
                )));
            }
            migrate(&mut c).await?;
            // A bulk load a crash interrupted is finished before anything reads the store.
            rows::finish_bulk_load(&mut c).await?;
            nodes[0].healthy.store(true, Ordering::Relaxed);
            0
        };
        let (tx, rx) = mpsc::unbounded_channel();
        let inner = Arc::new(Inner {
            nodes,
            primary: AtomicUsize::new(primary),
            max_lag: options.max_replica_lag,
            next_replica: AtomicUsize::new(0),
            samples: Mutex::new(VecDeque::new()),
            writer: tx,
        });
        tokio::spawn(writer_task(Arc::downgrade(&inner), rx));
        let store = Self { inner };
        store.probe().await;
        tokio::spawn(monitor_task(Arc::downgrade(&store.inner)));
        Ok(store)
    }

    fn primary_node(&self) -> Arc<Node> {
        self.inner.primary_node()
    }

    /// Probes every node once (role, WAL position, lag) and fails over if needed.
    pub async fn probe(&self) {
        self.inner.probe().await;
    }

    /// Drops whole access-log months before `before_ms` (retention). Returns the months dropped.
    pub async fn drop_access_partitions_before(&self, before_ms: i64) -> Result<i32, StoreError> {
        let c = self.primary_node().conn().await?;
        let row = c
            .query_one(
                "SELECT kakunin_drop_access_partitions_before($1)",
                &[&before_ms],
            )
            .await
            .map_err(|e| pg_err(&e))?;
        Ok(row.get(0))
    }

    /// Creates the monthly access-log partitions from `from_ms` for `months` months.
    pub async fn ensure_access_partitions(
        &self,
        from_ms: i64,
        months: i32,
    ) -> Result<(), StoreError> {
        let c = self.primary_node().conn().await?;
        c.execute(
            "SELECT kakunin_ensure_access_partitions($1, $2)",
            &[&from_ms, &months],
        )
        .await
        .map_err(|e| pg_err(&e))?;
        Ok(())
    }

    /// An eligibility read: on a fresh-enough replica when there is one, else on the primary.
    async fn eligibility_read(
        &self,
        read: EligibilityRead<'_>,
    ) -> Result<(Vec<StoredQualification>, Vec<Consent>), StoreError> {
        if let Some(replica) = self.inner.read_replica() {
            match replica.conn().await {
                Ok(mut c) => match read.run(&mut c).await {
                    Ok(found) => {
                        replica.reads.fetch_add(1, Ordering::Relaxed);
                        return Ok(found);
                    }
                    Err(e) => {
                        tracing::warn!(replica = %replica.name, error = %e, "replica read failed; using the primary");
                        replica.healthy.store(false, Ordering::Relaxed);
                        replica.reset();
                    }
                },
                Err(_) => replica.healthy.store(false, Ordering::Relaxed),
            }
        }
        let node = self.primary_node();
        let found = self.on_primary(async |c| read.run(c).await).await?;
        node.reads.fetch_add(1, Ordering::Relaxed);
        Ok(found)
    }

    /// Queues an access-log entry (and a nonce to spend) for the group-committing writer.
    async fn append(
        &self,
        entry: AccessLogEntry,
        nonce: Option<NonceUse>,
    ) -> Result<Option<i64>, StoreError> {
        let (tx, rx) = oneshot::channel();
        self.inner
            .writer
            .send((entry, nonce, tx))
            .map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// Runs a write on the primary; a connection failure triggers a probe so the next write
    /// finds a promoted primary.
    async fn on_primary<T>(
        &self,
        f: impl AsyncFnOnce(&mut Conn) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let node = self.primary_node();
        let result = match node.conn().await {
            Ok(mut c) => f(&mut c).await,
            Err(e) => Err(e),
        };
        if result.is_err() {
            self.inner.after_failure(&node).await;
        }
        result
    }
}

impl Inner {
    fn primary_node(&self) -> Arc<Node> {
        self.nodes[self.primary.load(Ordering::Acquire)].clone()
    }

    /// A replica fresh enough for reads, round robin; `None` when there is none.
    fn read_replica(&self) -> Option<Arc<Node>> {
        let p = self.primary.load(Ordering::Acquire);
        let max = self.max_lag.as_millis() as u64;
        let fresh: Vec<&Arc<Node>> = self
            .nodes
            .iter()
            .enumerate()
            .filter(|(i, n)| {
                *i != p
                    && n.healthy.load(Ordering::Relaxed)
                    && n.in_recovery.load(Ordering::Relaxed)
                    && n.lag_ms.load(Ordering::Relaxed) <= max
            })
            .map(|(_, n)| n)
            .collect();
        if fresh.is_empty() {
            return None;
        }
        let i = self.next_replica.fetch_add(1, Ordering::Relaxed) % fresh.len();
        Some(fresh[i].clone())
    }

    async fn after_failure(&self, node: &Arc<Node>) {
        node.reset();
        self.probe().await;
    }

    async fn probe(&self) {
        let now = Instant::now();
        let mut states = Vec::with_capacity(self.nodes.len());
        for n in &self.nodes {
            let state = n.probe_state().await;
            if state.is_none() {
                n.reset();
            }
            n.healthy.store(state.is_some(), Ordering::Relaxed);
            if let Some((rec, _)) = state {
                n.in_recovery.store(rec, Ordering::Relaxed);
            }
            states.push(state);
        }
        // Failover: the primary is gone or demoted, and another node now accepts writes.
        let p = self.primary.load(Ordering::Acquire);
        let primary_ok = matches!(states[p], Some((false, _)));
        if !primary_ok {
            if let Some(i) = states.iter().position(|s| matches!(s, Some((false, _)))) {
                tracing::warn!(from = %self.nodes[p].name, to = %self.nodes[i].name, "primary changed; writes move to the new primary");
                self.primary.store(i, Ordering::Release);
                if let Ok(mut s) = self.samples.lock() {
                    s.clear();
                }
            }
        }
        let p = self.primary.load(Ordering::Acquire);
        let Ok(mut samples) = self.samples.lock() else {
            return;
        };
        if let Some((false, lsn)) = states[p] {
            samples.push_back((now, lsn));
            while samples.len() > 600 {
                samples.pop_front();
            }
        }
        for (i, (n, s)) in self.nodes.iter().zip(&states).enumerate() {
            let lag = match s {
                _ if i == p => 0,
                Some((true, replayed)) => staleness(&samples, *replayed, now),
                _ => u64::MAX,
            };
            n.lag_ms.store(lag, Ordering::Relaxed);
        }
    }
}

/// How stale a replica that replayed up to `replayed` is: 0 when it has everything the primary
/// had at the last sample, else the age of the newest sample it has fully replayed (or of the
/// oldest sample, when it has replayed none of them).
fn staleness(samples: &VecDeque<(Instant, i64)>, replayed: i64, now: Instant) -> u64 {
    match samples.back() {
        None => u64::MAX,
        Some(&(_, latest)) if replayed >= latest => 0,
        Some(_) => {
            let at = samples
                .iter()
                .rev()
                .find(|(_, lsn)| *lsn <= replayed)
                .or_else(|| samples.front())
                .map(|(t, _)| *t);
            at.map_or(u64::MAX, |t| now.duration_since(t).as_millis() as u64)
        }
    }
}

async fn monitor_task(inner: Weak<Inner>) {
    let mut ticker = tokio::time::interval(MONITOR_INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_partition_check = Instant::now();
    loop {
        ticker.tick().await;
        let Some(inner) = inner.upgrade() else { return };
        inner.probe().await;
        if last_partition_check.elapsed() > Duration::from_secs(3600) {
            last_partition_check = Instant::now();
            if let Ok(c) = inner.primary_node().conn().await {
                if let Err(e) = c
                    .execute(
                        "SELECT kakunin_ensure_access_partitions($1, $2)",
                        &[&crate::now_ms(), &PARTITIONS_AHEAD],
                    )
                    .await
                {
                    tracing::warn!(error = %pg_err(&e), "could not create access-log partitions");
                }
            }
        }
    }
}

async fn writer_task(inner: Weak<Inner>, mut rx: mpsc::UnboundedReceiver<AccessCmd>) {
    let mut batches: u64 = 0;
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(c) => batch.push(c),
                Err(_) => break,
            }
        }
        let Some(inner) = inner.upgrade() else { return };
        let node = inner.primary_node();
        let entries: Vec<(&AccessLogEntry, Option<&NonceUse>)> =
            batch.iter().map(|(e, n, _)| (e, n.as_ref())).collect();
        let result = match node.conn().await {
            Ok(mut c) => {
                let r = rows::append_access(&mut c, &entries).await;
                batches += 1;
                if r.is_ok() && batches % PURGE_EVERY == 0 {
                    if let Err(e) = rows::purge_nonces(&c, crate::now_ms()).await {
                        tracing::warn!(error = %e, "purging spent nonces failed");
                    }
                }
                r
            }
            Err(e) => Err(e),
        };
        match result {
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
                inner.after_failure(&node).await;
            }
        }
    }
}

#[async_trait]
impl Store for PostgresStore {
    async fn import_roster(&self, import: RosterImport) -> Result<ImportOutcome, StoreError> {
        self.on_primary(async |c| rows::import(c, &import).await)
            .await
    }

    async fn begin_bulk_load(&self) -> Result<bool, StoreError> {
        self.on_primary(async |c| rows::begin_bulk_load(c).await)
            .await
    }

    async fn finish_bulk_load(&self) -> Result<(), StoreError> {
        self.on_primary(async |c| rows::finish_bulk_load(c).await)
            .await
    }

    /// One import per core of this machine, each on its own pooled connection (the server
    /// runs each on its own backend process).
    fn bulk_writers(&self) -> usize {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        cores.min(self.inner.nodes[0].pool_size).max(1)
    }

    async fn find_qualifications(
        &self,
        query: &CardQuery,
    ) -> Result<Vec<StoredQualification>, StoreError> {
        Ok(self.eligibility_read(EligibilityRead::Card(query)).await?.0)
    }

    async fn find_by_person(
        &self,
        pseudonym: &str,
    ) -> Result<Vec<StoredQualification>, StoreError> {
        Ok(self
            .eligibility_read(EligibilityRead::Person(pseudonym))
            .await?
            .0)
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

    async fn register_card(&self, registration: CardRegistration) -> Result<bool, StoreError> {
        self.on_primary(async |c| rows::register_card(c, &registration).await)
            .await
    }

    async fn card_registration(
        &self,
        pseudonym: &str,
    ) -> Result<Option<CardRegistration>, StoreError> {
        // On the primary: a registration made a moment ago must count.
        self.on_primary(async |c| rows::card_registration(c, pseudonym).await)
            .await
    }

    async fn link_reviews(
        &self,
        open_only: bool,
        limit: u32,
    ) -> Result<Vec<LinkReview>, StoreError> {
        self.on_primary(async |c| rows::link_reviews(c, open_only, limit).await)
            .await
    }

    async fn person_with_consents(
        &self,
        pseudonym: &str,
        institution: &InstitutionCode,
    ) -> Result<(Vec<StoredQualification>, Vec<Consent>), StoreError> {
        self.eligibility_read(EligibilityRead::PersonWithConsents(pseudonym, institution))
            .await
    }

    async fn record_consents(&self, consents: Vec<Consent>) -> Result<(), StoreError> {
        self.on_primary(async |c| rows::record_consents(c, &consents).await)
            .await
    }

    async fn latest_consents(
        &self,
        pseudonym: &str,
        institution: &InstitutionCode,
    ) -> Result<Vec<Consent>, StoreError> {
        // On the primary: a consent given a moment ago must count.
        self.on_primary(async |c| rows::latest_consents(c, pseudonym, institution).await)
            .await
    }

    async fn dismiss_link_review(
        &self,
        id: i64,
        by: &str,
        note: &str,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        self.on_primary(async |c| rows::dismiss_link_review(c, id, by, note, at).await)
            .await
    }

    async fn recent_access(&self, limit: u32) -> Result<Vec<StoredAccess>, StoreError> {
        self.on_primary(async |c| rows::access(c, None, limit).await)
            .await
    }

    async fn access_for_qualification(
        &self,
        qualification_id: i64,
    ) -> Result<Vec<StoredAccess>, StoreError> {
        self.on_primary(async |c| rows::access(c, Some(qualification_id), u32::MAX).await)
            .await
    }

    async fn qualification_history(
        &self,
        qualification_id: i64,
    ) -> Result<Vec<QualificationVersion>, StoreError> {
        self.on_primary(async |c| rows::history(c, qualification_id).await)
            .await
    }

    async fn recent_imports(&self, limit: u32) -> Result<Vec<ImportRecord>, StoreError> {
        self.on_primary(async |c| rows::imports(c, limit).await)
            .await
    }

    async fn counts(&self) -> Result<StoreCounts, StoreError> {
        self.on_primary(async |c| rows::counts(c).await).await
    }

    async fn access_log_len(&self) -> Result<u64, StoreError> {
        self.on_primary(async |c| {
            let r = c
                .query_one("SELECT count(*) FROM access_log", &[])
                .await
                .map_err(|e| pg_err(&e))?;
            Ok(r.get::<_, i64>(0) as u64)
        })
        .await
    }

    async fn sample_queries(&self, limit: u32) -> Result<Vec<CardQuery>, StoreError> {
        self.on_primary(async |c| rows::sample(c, limit).await)
            .await
    }

    async fn status(&self) -> Result<StoreStatus, StoreError> {
        let p = self.inner.primary.load(Ordering::Acquire);
        Ok(StoreStatus {
            backend: "postgres".into(),
            nodes: self
                .inner
                .nodes
                .iter()
                .enumerate()
                .map(|(i, n)| NodeStatus {
                    name: n.name.clone(),
                    role: if !n.healthy.load(Ordering::Relaxed) {
                        "unreachable"
                    } else if i == p {
                        "primary"
                    } else {
                        "replica"
                    }
                    .into(),
                    lag_ms: n.lag_ms.load(Ordering::Relaxed).min(u64::MAX / 2),
                    reads: n.reads.load(Ordering::Relaxed),
                })
                .collect(),
        })
    }

    async fn import_masters(
        &self,
        import: MasterImport,
    ) -> Result<MasterImportOutcome, StoreError> {
        self.on_primary(async |c| medical::import_masters(c, &import).await)
            .await
    }

    async fn master_entries(
        &self,
        kind: MasterKind,
        codes: Vec<String>,
    ) -> Result<Vec<MasterEntry>, StoreError> {
        self.on_primary(async |c| medical::master_entries(c, kind, &codes).await)
            .await
    }

    async fn import_receipts(
        &self,
        import: ReceiptImport,
    ) -> Result<ReceiptImportOutcome, StoreError> {
        self.on_primary(async |c| medical::import_receipts(c, &import).await)
            .await
    }

    async fn import_checkups(
        &self,
        import: CheckupImport,
    ) -> Result<CheckupImportOutcome, StoreError> {
        self.on_primary(async |c| medical::import_checkups(c, &import).await)
            .await
    }

    async fn match_pending(&self, insurers: Vec<String>) -> Result<MatchOutcome, StoreError> {
        self.on_primary(async |c| medical::match_pending(c, &insurers).await)
            .await
    }

    async fn receipts_for(
        &self,
        qualification_ids: Vec<i64>,
        from: Date,
        to: Date,
    ) -> Result<Vec<StoredReceipt>, StoreError> {
        self.on_primary(async |c| medical::receipts_for(c, &qualification_ids, from, to).await)
            .await
    }

    async fn checkups_for(
        &self,
        qualification_ids: Vec<i64>,
        from: Date,
        to: Date,
    ) -> Result<Vec<StoredCheckup>, StoreError> {
        self.on_primary(async |c| medical::checkups_for(c, &qualification_ids, from, to).await)
            .await
    }

    async fn purge_medical(&self, before: Date) -> Result<PurgeOutcome, StoreError> {
        self.on_primary(async |c| medical::purge(c, before).await)
            .await
    }

    async fn medical_counts(&self) -> Result<MedicalCounts, StoreError> {
        self.on_primary(async |c| medical::counts(c).await).await
    }

    async fn checked_since(
        &self,
        institution: &InstitutionCode,
        qualification_ids: Vec<i64>,
        since: Timestamp,
    ) -> Result<bool, StoreError> {
        // On the primary: the check a moment ago must count.
        self.on_primary(async |c| {
            medical::checked_since(c, institution, &qualification_ids, since).await
        })
        .await
    }

    async fn set_institution_block(
        &self,
        pseudonym: &str,
        institution: &InstitutionCode,
        blocked: bool,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        self.on_primary(async |c| medical::set_block(c, pseudonym, institution, blocked, at).await)
            .await
    }

    async fn institution_blocked(
        &self,
        pseudonym: &str,
        institution: &InstitutionCode,
    ) -> Result<bool, StoreError> {
        self.on_primary(async |c| medical::blocked(c, pseudonym, institution).await)
            .await
    }

    async fn register_reference_number(
        &self,
        registration: ReferenceNumberRegistration,
    ) -> Result<Option<String>, StoreError> {
        self.on_primary(async |c| reception::register_reference_number(c, &registration).await)
            .await
    }

    async fn reference_numbers(
        &self,
        institution: &InstitutionCode,
        qualification_ids: Vec<i64>,
    ) -> Result<Vec<Option<String>>, StoreError> {
        // On the primary: a registration made a moment ago must count.
        self.on_primary(async |c| {
            reception::reference_numbers(c, institution, &qualification_ids).await
        })
        .await
    }

    async fn create_batch_inquiry(&self, batch: NewBatchInquiry) -> Result<i64, StoreError> {
        self.on_primary(async |c| reception::create_batch(c, &batch).await)
            .await
    }

    async fn finish_batch_inquiry(
        &self,
        id: i64,
        result: BatchInquiryResult,
    ) -> Result<bool, StoreError> {
        self.on_primary(async |c| reception::finish_batch(c, id, &result).await)
            .await
    }

    async fn batch_inquiry(
        &self,
        institution: &InstitutionCode,
        id: i64,
    ) -> Result<Option<StoredBatchInquiry>, StoreError> {
        self.on_primary(async |c| reception::batch(c, institution, id).await)
            .await
    }

    async fn batch_inquiries(
        &self,
        institution: &InstitutionCode,
        since: Timestamp,
    ) -> Result<Vec<StoredBatchInquiry>, StoreError> {
        self.on_primary(async |c| reception::batches(c, institution, since).await)
            .await
    }

    async fn unfinished_batch_inquiries(&self) -> Result<Vec<StoredBatchInquiry>, StoreError> {
        self.on_primary(async |c| reception::unfinished_batches(c).await)
            .await
    }

    async fn purge_batch_inquiries(&self, before: Timestamp) -> Result<u64, StoreError> {
        self.on_primary(async |c| reception::purge_batches(c, before).await)
            .await
    }

    async fn upsert_institution(&self, institution: Institution) -> Result<(), StoreError> {
        self.on_primary(async |c| people::upsert_institution(c, &institution).await)
            .await
    }

    async fn institutions(
        &self,
        codes: Vec<InstitutionCode>,
    ) -> Result<Vec<Institution>, StoreError> {
        self.on_primary(async |c| people::institutions(c, &codes).await)
            .await
    }

    async fn all_institutions(&self) -> Result<Vec<Institution>, StoreError> {
        self.on_primary(async |c| people::all_institutions(c).await)
            .await
    }

    async fn institution_blocks(&self, pseudonym: &str) -> Result<Vec<BlockState>, StoreError> {
        // On the primary: a decision made a moment ago must show.
        self.on_primary(async |c| people::institution_blocks(c, pseudonym).await)
            .await
    }

    async fn set_sharing_opt_out(
        &self,
        pseudonym: &str,
        opted_out: bool,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        self.on_primary(async |c| people::set_sharing_opt_out(c, pseudonym, opted_out, at).await)
            .await
    }

    async fn sharing_opted_out(&self, pseudonym: &str) -> Result<bool, StoreError> {
        // On the primary: a choice made a moment ago must count.
        self.on_primary(async |c| people::sharing_opted_out(c, pseudonym).await)
            .await
    }

    async fn consent_history(
        &self,
        pseudonym: &str,
        limit: u32,
    ) -> Result<Vec<Consent>, StoreError> {
        self.on_primary(async |c| people::consent_history(c, pseudonym, limit).await)
            .await
    }

    async fn access_for_qualifications(
        &self,
        qualification_ids: Vec<i64>,
        limit: u32,
    ) -> Result<Vec<StoredAccess>, StoreError> {
        self.on_primary(async |c| {
            people::access_for_qualifications(c, &qualification_ids, limit).await
        })
        .await
    }

    async fn declare_emergency(
        &self,
        declaration: NewEmergencyDeclaration,
    ) -> Result<i64, StoreError> {
        self.on_primary(async |c| people::declare_emergency(c, &declaration).await)
            .await
    }

    async fn end_emergency(&self, id: i64, at: Timestamp) -> Result<bool, StoreError> {
        self.on_primary(async |c| people::end_emergency(c, id, at).await)
            .await
    }

    async fn active_emergencies(
        &self,
        at: Timestamp,
    ) -> Result<Vec<EmergencyDeclaration>, StoreError> {
        // On the primary: a declaration ended a moment ago must stop counting.
        self.on_primary(async |c| people::active_emergencies(c, at).await)
            .await
    }

    async fn emergencies(&self, limit: u32) -> Result<Vec<EmergencyDeclaration>, StoreError> {
        self.on_primary(async |c| people::emergencies(c, limit).await)
            .await
    }

    async fn find_by_attributes(
        &self,
        query: &AttributeQuery,
        limit: u32,
    ) -> Result<Vec<StoredQualification>, StoreError> {
        self.on_primary(async |c| people::find_by_attributes(c, query, limit).await)
            .await
    }
    async fn access_counts(
        &self,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<crate::AccessCount>, StoreError> {
        self.on_primary(async |c| stats::access_counts(c, from, to).await)
            .await
    }

    async fn insurer_freshness(
        &self,
        since: Timestamp,
    ) -> Result<Vec<crate::InsurerFreshness>, StoreError> {
        self.on_primary(async |c| stats::insurer_freshness(c, since).await)
            .await
    }

    async fn record_client_certificate(
        &self,
        cert: crate::ClientCertificate,
    ) -> Result<bool, StoreError> {
        self.on_primary(async |c| certs::record(c, &cert).await)
            .await
    }

    async fn revoke_client_certificate(
        &self,
        serial: &str,
        revocation: crate::CertificateRevocation,
    ) -> Result<crate::RevokeOutcome, StoreError> {
        self.on_primary(async |c| certs::revoke(c, serial, &revocation).await)
            .await
    }

    async fn client_certificates(
        &self,
        limit: u32,
    ) -> Result<Vec<crate::ClientCertificate>, StoreError> {
        self.on_primary(async |c| certs::list(c, limit).await).await
    }

    async fn revoked_certificate_serials(&self) -> Result<Vec<String>, StoreError> {
        // On the primary: a revocation made a moment ago on another node must count.
        self.on_primary(async |c| certs::revoked_serials(c).await)
            .await
    }

    async fn note_presence(
        &self,
        seen: Vec<(InstitutionCode, Timestamp)>,
    ) -> Result<(), StoreError> {
        if seen.is_empty() {
            return Ok(());
        }
        self.on_primary(async |c| certs::note_presence(c, &seen).await)
            .await
    }

    async fn presence_counts(
        &self,
        recent: Timestamp,
        since: Timestamp,
    ) -> Result<(u64, u64), StoreError> {
        self.on_primary(async |c| certs::presence_counts(c, recent, since).await)
            .await
    }

    async fn append_admin_event(&self, event: crate::NewAdminEvent) -> Result<i64, StoreError> {
        self.on_primary(async |c| audit::append_admin_event(c, &event).await)
            .await
    }

    async fn admin_events(&self, limit: u32) -> Result<Vec<crate::AdminEvent>, StoreError> {
        self.on_primary(async |c| audit::admin_events(c, limit).await)
            .await
    }

    async fn audit_rows(
        &self,
        chain: crate::AuditChain,
        after_id: i64,
        limit: u32,
    ) -> Result<Vec<crate::AuditRow>, StoreError> {
        self.on_primary(async |c| audit::rows(c, chain, after_id, limit).await)
            .await
    }

    async fn audit_heads(&self) -> Result<Vec<crate::AuditHead>, StoreError> {
        self.on_primary(async |c| audit::heads(c).await).await
    }

    async fn record_audit_checkpoint(
        &self,
        checkpoint: crate::AuditCheckpoint,
    ) -> Result<(), StoreError> {
        self.on_primary(async |c| audit::record_checkpoint(c, &checkpoint).await)
            .await
    }

    async fn audit_checkpoints(&self) -> Result<Vec<crate::AuditCheckpoint>, StoreError> {
        self.on_primary(async |c| audit::checkpoints(c).await).await
    }

    async fn newest_audit_checkpoints(&self) -> Result<Vec<crate::AuditCheckpoint>, StoreError> {
        self.on_primary(async |c| audit::newest_checkpoints(c).await)
            .await
    }

    async fn idempotency_begin(
        &self,
        caller: &str,
        key: &str,
        fingerprint: &str,
        now: Timestamp,
        stale_ms: i64,
    ) -> Result<crate::IdempotencyBegin, StoreError> {
        self.on_primary(async |c| {
            audit::idempotency_begin(c, caller, key, fingerprint, now.unix_millis(), stale_ms).await
        })
        .await
    }

    async fn idempotency_finish(
        &self,
        caller: &str,
        key: &str,
        answer: Option<crate::IdempotentAnswer>,
    ) -> Result<(), StoreError> {
        self.on_primary(async |c| audit::idempotency_finish(c, caller, key, answer.as_ref()).await)
            .await
    }

    async fn idempotency_touch(
        &self,
        caller: &str,
        key: &str,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.on_primary(async |c| {
            c.execute(
                "UPDATE idempotency_keys SET started_at_ms = $3
                 WHERE caller = $1 AND key = $2 AND status IS NULL",
                &[&caller, &key, &now.unix_millis()],
            )
            .await
            .map_err(|e| pg_err(&e))?;
            Ok(())
        })
        .await
    }

    async fn purge_idempotency(&self, before: Timestamp) -> Result<u64, StoreError> {
        self.on_primary(async |c| audit::purge_idempotency(c, before.unix_millis()).await)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staleness_from_samples() {
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let samples: VecDeque<(Instant, i64)> = [(at(0), 100), (at(200), 150), (at(400), 200)]
            .into_iter()
            .collect();
        let now = at(500);
        assert_eq!(staleness(&samples, 200, now), 0, "caught up");
        assert_eq!(staleness(&samples, 250, now), 0, "ahead of the last sample");
        assert_eq!(
            staleness(&samples, 160, now),
            300,
            "has what the primary had at 200 ms"
        );
        assert_eq!(staleness(&samples, 100, now), 500);
        assert_eq!(staleness(&samples, 50, now), 500, "older than every sample");
        assert_eq!(staleness(&VecDeque::new(), 50, now), u64::MAX);
    }

    #[test]
    fn urls_never_show_passwords() {
        let n = Node::new("postgres://u:secret@db.example:6543/kakunin", 1).unwrap();
        assert_eq!(n.name, "db.example:6543/kakunin");
        let e = Node::new("mysql://x", 1).err().unwrap().to_string();
        assert!(e.contains("invalid PostgreSQL URL"), "{e}");
    }
}
