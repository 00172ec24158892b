//! The central eligibility service (支払基金・国保中央会's data centre in the real system).
//!
//! Invariant: handlers are thin; the use cases live in [`service`] and speak domain types and the
//! [`Store`](kakunin_store::Store) trait only. Every read of personal data writes its access-log
//! entry durably before the answer leaves. Nothing personal goes into a URL or a log line.

pub mod audit;
pub mod cardcheck;
pub mod cards;
pub mod clientcerts;
pub mod emergency;
pub mod fhir;
pub mod http;
pub mod limits;
pub mod medical;
pub mod metrics;
pub mod ops;
pub mod pki;
pub mod portal;
pub mod reception;
pub mod seed;
pub mod server;
pub mod service;
pub mod tls;

use anyhow::{bail, Context, Result};
use kakunin_store::{PgOptions, PostgresStore, SqliteStore, Store};
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// The SQLite file inside a data directory.
pub const SQLITE_FILE: &str = "kakunin.sqlite3";

/// Where the data lives.
#[derive(Debug, Clone, Default)]
pub struct StoreConfig {
    /// `postgres://…` (the primary), `sqlite://PATH` or a plain path; default: SQLite in the
    /// data directory.
    pub database: Option<String>,
    /// PostgreSQL streaming replicas for eligibility reads.
    pub replicas: Vec<String>,
    /// Replicas more stale than this are skipped (default 1 s).
    pub max_replica_lag: Option<Duration>,
    /// PostgreSQL connections per node (primary and each replica; default 16). On a small
    /// machine shared with PostgreSQL fewer connections mean fewer backends competing for the
    /// cores.
    pub pool_size: Option<usize>,
}

impl StoreConfig {
    pub fn sqlite_default() -> Self {
        Self::default()
    }
}

/// Where the authority (J-LIS stand-in) is.
#[derive(Debug, Clone, Default)]
pub enum AuthorityConfig {
    /// In this process, on `DATA/authority` (created on first use).
    #[default]
    Embedded,
    /// A separate `kakunin authority` at `url`, called with `identity` (a PEM certificate and
    /// key of the kakunin CA, role admin).
    Remote { url: String, identity: PathBuf },
    /// None: card checks are off and rosters with 個人番号 are refused.
    Disabled,
}

/// The authority's directory inside a data directory.
pub const AUTHORITY_DIR: &str = "authority";
/// The central's agency name towards the authority (its pseudonyms are per agency).
pub const AGENCY: &str = "central";
/// How often the central fetches the authority's CRL by default.
pub const CRL_REFRESH: Duration = Duration::from_secs(60);

/// How to run a central.
#[derive(Debug, Clone)]
pub struct CentralConfig {
    /// Holds `ca.pem`, `server.pem` (issued on first start if the CA key is there) and, by
    /// default, the SQLite database.
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    pub store: StoreConfig,
    pub authority: AuthorityConfig,
    /// How often to fetch the authority's CRL.
    pub crl_refresh: Duration,
    /// The patient portal's local card helper (`kakunin card-helper`), as the patient's
    /// browser reaches it; default [`DEFAULT_PORTAL_CARD_HELPER`].
    pub portal_card_helper: Option<String>,
    /// Where Prometheus metrics are served (plain HTTP; keep it on loopback or a private
    /// network), if anywhere.
    pub metrics_listen: Option<SocketAddr>,
    /// Per-institution rate limits of checks and views.
    pub limits: limits::Limits,
}

/// Where the patient portal looks for the local card helper by default.
pub const DEFAULT_PORTAL_CARD_HELPER: &str = "http://127.0.0.1:8091";

/// Connects the authority the configuration names and sets up card checks: its CA chain, its
/// CRL (fetched now; a failure is logged and retried by the refresher), the nonce key.
pub async fn open_card_services(
    data_dir: &Path,
    config: &AuthorityConfig,
    tls: &tls::Tls,
) -> Result<Option<Arc<cardcheck::CardServices>>> {
    let authority: Arc<dyn kakunin_authority::AuthorityApi> = match config {
        AuthorityConfig::Disabled => return Ok(None),
        AuthorityConfig::Embedded => {
            let dir = data_dir.join(AUTHORITY_DIR);
            let authority = tokio::task::spawn_blocking(move || {
                kakunin_authority::Authority::open_or_init(&dir)
            })
            .await
            .context("opening the authority")??;
            Arc::new(kakunin_authority::Embedded::new(authority, AGENCY))
        }
        AuthorityConfig::Remote { url, identity } => {
            let ca = std::fs::read(data_dir.join(pki::CA_CERT))
                .with_context(|| format!("reading {}", data_dir.join(pki::CA_CERT).display()))?;
            let identity = std::fs::read(identity)
                .with_context(|| format!("reading {}", identity.display()))?;
            Arc::new(
                kakunin_authority::Remote::new(url, &ca, &identity)
                    .context("connecting to the authority")?,
            )
        }
    };
    let ca = authority
        .ca_certificates()
        .await
        .context("fetching the authority's CA certificates")?;
    let trust = Arc::new(cards::CardTrust::new(&ca.root_der, &ca.issuing_der)?);
    let nonces = cards::Nonces::load_or_create(data_dir)?;
    let verifier = tls.clone();
    let devices: cardcheck::DeviceVerifier = Arc::new(move |der| verifier.verify_certificate(der));
    let services = Arc::new(cardcheck::CardServices::new(
        authority, trust, nonces, devices,
    ));
    match services.refresh_crl().await {
        Ok(n) => tracing::info!(listed = n, "authority CRL loaded"),
        Err(e) => {
            tracing::warn!(error = %e, "authority CRL not loaded yet; card checks wait for it")
        }
    }
    Ok(Some(services))
}

/// Opens the store the configuration names (SQLite in `data_dir` by default).
pub async fn open_store(data_dir: &Path, config: &StoreConfig) -> Result<Arc<dyn Store>> {
    let database = config.database.as_deref();
    if let Some(url) =
        database.filter(|u| u.starts_with("postgres://") || u.starts_with("postgresql://"))
    {
        let options = PgOptions {
            replicas: config.replicas.clone(),
            max_replica_lag: config.max_replica_lag.unwrap_or(Duration::from_secs(1)),
            ..PgOptions::new(url)
        };
        let options = match config.pool_size {
            Some(n) => PgOptions {
                pool_size: n.max(1),
                ..options
            },
            None => options,
        };
        let store = PostgresStore::connect(options)
            .await
            .context("opening the PostgreSQL store")?;
        return Ok(Arc::new(store));
    }
    if !config.replicas.is_empty() {
        bail!("replicas need a PostgreSQL primary (--database postgres://…)");
    }
    let path = match database {
        None => data_dir.join(SQLITE_FILE),
        Some(url) if url.starts_with("sqlite://") => PathBuf::from(&url["sqlite://".len()..]),
        Some(url) if url.contains("://") => {
            let scheme = url.split("://").next().unwrap_or("");
            bail!("unsupported database URL scheme {scheme:?}; use postgres://… or sqlite://PATH")
        }
        Some(path) => PathBuf::from(path),
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    let store = SqliteStore::open(&path)
        .with_context(|| format!("opening SQLite store {}", path.display()))?;
    Ok(Arc::new(store))
}

/// Loads the TLS material of a data directory.
pub fn load_tls(data_dir: &Path) -> Result<tls::Tls> {
    let ca_path = data_dir.join(pki::CA_CERT);
    let ca = std::fs::read(&ca_path).with_context(|| {
        format!(
            "reading {} (run `kakunin ca init --data {}` first)",
            ca_path.display(),
            data_dir.display()
        )
    })?;
    let server_path = data_dir.join(pki::SERVER_IDENTITY);
    if !server_path.exists() {
        pki::Ca::load(data_dir)?.ensure_server_identity(data_dir)?;
    }
    let identity = std::fs::read(&server_path)
        .with_context(|| format!("reading {}", server_path.display()))?;
    tls::Tls::new(&ca, &identity)
}

/// How often the retention purge runs.
pub const PURGE_EVERY: Duration = Duration::from_secs(24 * 60 * 60);

/// A central bound to its port.
pub struct Central {
    pub addr: SocketAddr,
    pub store: Arc<dyn Store>,
    pub cards: Option<Arc<cardcheck::CardServices>>,
    crl_refresh: Duration,
    portal_card_helper: String,
    listener: tokio::net::TcpListener,
    tls: tls::Tls,
    metrics: Option<tokio::net::TcpListener>,
    /// The CA whose key issues client certificates through the operators' API, when this
    /// node holds it.
    ca: Option<Arc<pki::Ca>>,
    certificate_refresh: Duration,
    /// Signs checkpoints of the audit chains, when set.
    audit_key: Option<Arc<audit::AuditKey>>,
    checkpoint_every: Duration,
    limits: limits::Limits,
}

impl std::fmt::Debug for Central {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Central").field("addr", &self.addr).finish()
    }
}

impl Central {
    /// Opens the store, loads TLS and binds the listener (port 0 picks a free port).
    pub async fn bind(config: &CentralConfig) -> Result<Self> {
        let tls = load_tls(&config.data_dir)?;
        let store = open_store(&config.data_dir, &config.store).await?;
        let cards = open_card_services(&config.data_dir, &config.authority, &tls).await?;
        let mut central = Self::bind_with(config.listen, store, tls).await?;
        central.audit_key = Some(Arc::new(audit::AuditKey::load_or_create(&config.data_dir)?));
        if config.data_dir.join(pki::CA_KEY).exists() {
            central.ca = Some(Arc::new(pki::Ca::load(&config.data_dir)?));
        }
        central.cards = cards;
        central.crl_refresh = config.crl_refresh;
        central.limits = config.limits;
        if let Some(url) = &config.portal_card_helper {
            central.portal_card_helper = url.clone();
        }
        if let Some(addr) = config.metrics_listen {
            central = central.with_metrics(addr).await?;
        }
        Ok(central)
    }

    /// Enables card checks (and linking) with these services.
    pub fn with_cards(
        mut self,
        cards: Arc<cardcheck::CardServices>,
        crl_refresh: Duration,
    ) -> Self {
        self.cards = Some(cards);
        self.crl_refresh = crl_refresh;
        self
    }

    /// Lets operators issue client certificates through the API with this CA.
    pub fn with_ca(mut self, ca: pki::Ca) -> Self {
        self.ca = Some(Arc::new(ca));
        self
    }

    /// Signs checkpoints of the audit chains with this key every `every` (when the chains
    /// moved) and when the node stops.
    pub fn with_audit_key(mut self, key: audit::AuditKey, every: Duration) -> Self {
        self.audit_key = Some(Arc::new(key));
        self.checkpoint_every = every;
        self
    }

    /// Per-institution rate limits (default [`limits::Limits::default`]).
    pub fn with_limits(mut self, limits: limits::Limits) -> Self {
        self.limits = limits;
        self
    }

    /// How often this node reads the revoked client certificates again (default
    /// [`clientcerts::REFRESH`]).
    pub fn with_certificate_refresh(mut self, every: Duration) -> Self {
        self.certificate_refresh = every;
        self
    }

    /// Tells the patient portal where the local card helper is.
    pub fn with_portal_card_helper(mut self, url: impl Into<String>) -> Self {
        self.portal_card_helper = url.into();
        self
    }

    pub async fn bind_with(
        listen: SocketAddr,
        store: Arc<dyn Store>,
        tls: tls::Tls,
    ) -> Result<Self> {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("binding {listen}"))?;
        let addr = listener.local_addr()?;
        Ok(Self {
            addr,
            store,
            cards: None,
            crl_refresh: CRL_REFRESH,
            portal_card_helper: DEFAULT_PORTAL_CARD_HELPER.into(),
            listener,
            tls,
            metrics: None,
            ca: None,
            certificate_refresh: clientcerts::REFRESH,
            audit_key: None,
            checkpoint_every: audit::CHECKPOINT_EVERY,
            // Set by `bind` from the configuration, or with `with_limits`.
            limits: limits::Limits::off(),
        })
    }

    /// Serves Prometheus metrics at `http://ADDR/metrics` (port 0 picks a free one).
    pub async fn with_metrics(mut self, addr: SocketAddr) -> Result<Self> {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding the metrics listener {addr}"))?;
        self.metrics = Some(listener);
        Ok(self)
    }

    /// Where metrics are served, if they are.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// `https://ADDR`.
    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// Serves until `shutdown` completes.
    pub async fn serve(self, shutdown: impl Future<Output = ()>) {
        let (batches, batch_worker) = reception::start_worker(self.store.clone());
        // Revoked client certificates are refused before the first connection is accepted.
        let certificates = clientcerts::Registry::new(self.store.clone(), self.tls.clone());
        if let Err(e) = certificates.refresh().await {
            tracing::warn!(error = %e, "revoked certificates not read yet; retrying");
        }
        let router = http::router(http::AppState {
            store: self.store.clone(),
            cards: self.cards.clone(),
            batches,
            portal_card_helper: self.portal_card_helper.clone().into(),
            stats: Default::default(),
            certificates: certificates.clone(),
            ca: self.ca.clone(),
            limiter: Arc::new(limits::Limiter::new(self.limits)),
        });
        let revocations = {
            let certificates = certificates.clone();
            let every = self.certificate_refresh;
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(every);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tick.tick().await;
                    if let Err(e) = certificates.refresh().await {
                        tracing::warn!(error = %e, "reading revoked certificates failed; keeping the previous set");
                    }
                }
            })
        };
        let refresher = self.cards.clone().map(|cards| {
            let every = self.crl_refresh;
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(every);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tick.tick().await;
                    if let Err(e) = cards.refresh_crl().await {
                        tracing::warn!(error = %e, "CRL refresh failed; keeping the previous CRL");
                    }
                }
            })
        });
        // Retention: receipts and checkups older than 5 years go, batch results older than 7
        // days too, at start and then daily.
        let store = self.store.clone();
        let purger = tokio::spawn(async move {
            let mut tick = tokio::time::interval(PURGE_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if let Err(e) = medical::purge(&*store, service::now().jst_date()).await {
                    tracing::warn!(error = %e, "retention purge failed; retrying at the next run");
                }
                // 一括照会 results hold personal data: kept 7 days.
                if let Err(e) = reception::purge_batches(&*store, service::now()).await {
                    tracing::warn!(error = %e, "batch purge failed; retrying at the next run");
                }
                // Idempotency keys are kept a day.
                let day_ago = kakunin_domain::Timestamp::from_unix_millis(
                    service::now().unix_millis() - 86_400_000,
                );
                if let Err(e) = store.purge_idempotency(day_ago).await {
                    tracing::warn!(error = %e, "idempotency-key purge failed; retrying at the next run");
                }
            }
        });
        // Presence: this node's sightings to the store, the fleet's counts back for metrics.
        let presence = {
            let store = self.store.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(metrics::PRESENCE_EVERY);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tick.tick().await;
                    if let Err(e) = metrics::sync_presence(&*store).await {
                        tracing::warn!(error = %e, "presence not written; retrying");
                    }
                }
            })
        };
        let checkpoints = self.audit_key.clone().map(|key| {
            let store = self.store.clone();
            let every = self.checkpoint_every;
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(every);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tick.tick().await;
                    if let Err(e) = key.checkpoint(&*store).await {
                        tracing::warn!(error = %e, "audit checkpoint failed; retrying");
                    }
                }
            })
        });
        let (metrics_stop, metrics_stopped) = tokio::sync::oneshot::channel::<()>();
        let metrics = self.metrics.map(|listener| {
            tokio::spawn(metrics::serve(listener, async {
                let _ = metrics_stopped.await;
            }))
        });
        drop(certificates);
        server::serve(router, self.tls, self.listener, shutdown).await;
        revocations.abort();
        presence.abort();
        if let Some(c) = checkpoints {
            c.abort();
        }
        // The last heads, signed before the node goes.
        if let Some(key) = &self.audit_key {
            if let Err(e) = key.checkpoint(&*self.store).await {
                tracing::warn!(error = %e, "final audit checkpoint failed");
            }
        }
        let _ = metrics_stop.send(());
        if let Some(m) = metrics {
            let _ = m.await;
        }
        drop(batch_worker);
        purger.abort();
        if let Some(r) = refresher {
            r.abort();
        }
    }
}
