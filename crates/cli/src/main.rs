//! `kakunin`: one binary for every process and tool. Thin: it parses arguments and calls the
//! library crates.

mod audit;
mod authority;
mod backup;
mod bench;
mod bench_card;
mod bench_common;
mod bench_files;
mod bench_medical;
mod bench_mixed;
mod card;
mod card_helper;
mod demo;
mod demo_face;
mod face;
mod medical;
mod ops;
mod terminal;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use kakunin_api::client::CentralClient;
use kakunin_api::{EligibilityCheckRequest, EligibilityCheckResponse, RosterImportReport};
use kakunin_central::pki::{Ca, Role};
use kakunin_central::{Central, CentralConfig};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "kakunin",
    version,
    about = "Online health-insurance eligibility verification (オンライン資格確認)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Certificate authority (the 共通認証局 stand-in).
    Ca {
        #[command(subcommand)]
        command: CaCommand,
    },
    /// Run the central eligibility service.
    Central(CentralArgs),
    /// Load a deterministic synthetic population into a data directory's store.
    Seed(SeedArgs),
    /// Import files into the central.
    Import {
        #[command(subcommand)]
        command: ImportCommand,
    },
    /// Check eligibility by insurance numbers, or with a My Number card (`--card`).
    Check(CheckArgs),
    /// A patient's medications, treatments, surgeries or checkups (institution; needs today's
    /// check and the patient's consent).
    Medical(medical::MedicalArgs),
    /// My Number cards: issue (virtual), inspect, revoke, present one over vpcd.
    Card {
        #[command(subcommand)]
        command: card::CardCommand,
    },
    /// Run the clinic terminal: the patient kiosk and the staff console on loopback.
    Terminal(terminal::TerminalArgs),
    /// Run the local card helper the patient portal logs in through (loopback).
    CardHelper(card_helper::CardHelperArgs),
    /// Run the authority (the J-LIS stand-in) on its own: CA, CRL, match service.
    Authority(authority::AuthorityArgs),
    /// Run the operations console (運用コンソール) on loopback with an operator's certificate.
    Ops(ops::OpsArgs),
    /// Everything on one machine: CA, certificates, 10,000 people, the central.
    Demo(demo::DemoArgs),
    /// Benchmarks.
    Bench {
        #[command(subcommand)]
        command: BenchCommand,
    },
    /// Face verification on the terminal: install the model (`face setup`).
    Face(face::FaceArgs),
    /// Print the central's OpenAPI document.
    Openapi,
    /// Back up a data directory (a central's or a clinic terminal's) while it serves: one
    /// read-only generation with a manifest of SHA-256 sums; keeps the newest N.
    Backup(backup::BackupArgs),
    /// Restore a data directory (and a PostgreSQL database) from a backup generation; the
    /// current files are moved aside, never deleted.
    Restore(backup::RestoreArgs),
    /// The tamper-evident audit chains: verify them, or sign checkpoints now.
    Audit {
        #[command(subcommand)]
        command: audit::AuditCommand,
    },
}

#[derive(Subcommand)]
enum CaCommand {
    /// Create a CA in DIR (`ca.pem`, `ca-key.pem`) and the central's server identity.
    Init {
        #[arg(long, env = "KAKUNIN_DATA")]
        data: PathBuf,
    },
    /// Issue a client certificate and key (one PEM file) for a role.
    Issue {
        #[arg(long, env = "KAKUNIN_DATA")]
        data: PathBuf,
        /// institution, insurer, admin or terminal (a clinic terminal's device key).
        #[arg(long)]
        role: String,
        /// 医療機関コード (institution, terminal), 保険者番号 (insurer) or an operator name
        /// (admin).
        #[arg(long)]
        id: String,
        #[arg(long)]
        out: PathBuf,
    },
}

/// Settings of `kakunin central`: defaults → `--config` TOML → `KAKUNIN_*` env → flags.
#[derive(Args, Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct CentralArgs {
    /// TOML file with `data`, `listen`, `database`.
    #[arg(long, env = "KAKUNIN_CONFIG")]
    #[serde(skip)]
    config: Option<PathBuf>,
    #[arg(long, env = "KAKUNIN_DATA")]
    data: Option<PathBuf>,
    /// Address to listen on (default 127.0.0.1:8443).
    #[arg(long, env = "KAKUNIN_LISTEN")]
    listen: Option<SocketAddr>,
    /// Database URL: postgres://… for PostgreSQL (the primary); default SQLite in the data
    /// directory.
    #[arg(long, env = "KAKUNIN_DATABASE_URL")]
    database: Option<String>,
    /// A PostgreSQL streaming replica for eligibility reads (repeatable).
    #[arg(long = "replica", env = "KAKUNIN_REPLICA_URLS", value_delimiter = ',')]
    #[serde(default)]
    replicas: Vec<String>,
    /// Skip replicas more stale than this many milliseconds (default 1000).
    #[arg(long, env = "KAKUNIN_MAX_REPLICA_LAG_MS")]
    max_replica_lag_ms: Option<u64>,
    /// PostgreSQL connections per database node (default 16).
    #[arg(long, env = "KAKUNIN_POOL_SIZE")]
    pool_size: Option<usize>,
    /// A separate authority (`kakunin authority`), e.g. https://127.0.0.1:8444; default: the
    /// authority in DATA/authority, in this process.
    #[arg(long, env = "KAKUNIN_AUTHORITY")]
    authority: Option<String>,
    /// Certificate and key (PEM, kakunin CA, role admin) to call the separate authority with.
    #[arg(long, env = "KAKUNIN_AUTHORITY_IDENTITY")]
    authority_identity: Option<PathBuf>,
    /// Fetch the authority's CRL every this many seconds (default 60).
    #[arg(long, env = "KAKUNIN_CRL_REFRESH_SECS")]
    crl_refresh_secs: Option<u64>,
    /// The local card helper the patient portal logs in through, as patients' browsers reach
    /// it (default http://127.0.0.1:8091).
    #[arg(long, env = "KAKUNIN_PORTAL_CARD_HELPER")]
    portal_card_helper: Option<String>,
    /// Serve Prometheus metrics at http://ADDR/metrics (plain HTTP: loopback or a private
    /// network only), e.g. 127.0.0.1:9464.
    #[arg(long, env = "KAKUNIN_METRICS_LISTEN")]
    metrics_listen: Option<SocketAddr>,
    /// Eligibility checks per second allowed to one institution on this node, with bursts of
    /// ten times that (default 30; 0 turns the limit off).
    #[arg(long, env = "KAKUNIN_CHECKS_PER_SECOND")]
    checks_per_second: Option<f64>,
    /// Medical-information views per second allowed to one institution on this node, with
    /// bursts of ten times that (default 10; 0 turns the limit off).
    #[arg(long, env = "KAKUNIN_VIEWS_PER_SECOND")]
    views_per_second: Option<f64>,
}

#[derive(Args)]
struct SeedArgs {
    #[arg(long, env = "KAKUNIN_DATA")]
    data: PathBuf,
    #[arg(long, default_value_t = 10_000)]
    people: u64,
    #[arg(long, default_value_t = 1)]
    rng_seed: u64,
    /// Reference date of the population (ages, certificates); default today in Japan.
    #[arg(long)]
    as_of: Option<String>,
    #[arg(long, env = "KAKUNIN_DATABASE_URL")]
    database: Option<String>,
    /// Also issue virtual My Number cards to this many seeded people (registered for insurance
    /// use), written to DATA/cards/*.vcard.
    #[arg(long, default_value_t = 0)]
    cards: usize,
    /// The PIN of the seeded cards.
    #[arg(long, default_value = "1234")]
    pin: String,
    /// Also give 5 years of receipts (UKE) and 特定健診 to this many sampled people and to every
    /// seeded card holder, through the real file imports.
    #[arg(long, default_value_t = 0)]
    medical: u32,
}

#[derive(Args, Clone)]
pub(crate) struct Conn {
    /// The central, e.g. https://127.0.0.1:8443.
    #[arg(long, env = "KAKUNIN_SERVER")]
    pub(crate) server: String,
    /// The CA certificate (`ca.pem`).
    #[arg(long, env = "KAKUNIN_CA")]
    pub(crate) ca: PathBuf,
    /// Client certificate and key in one PEM.
    #[arg(long, env = "KAKUNIN_IDENTITY")]
    pub(crate) identity: PathBuf,
}

impl Conn {
    pub(crate) fn client(&self) -> Result<CentralClient> {
        Ok(CentralClient::from_files(
            &self.server,
            &self.ca,
            Some(&self.identity),
        )?)
    }
}

#[derive(Subcommand)]
enum ImportCommand {
    /// Upload an insurer roster (CSV); exit code 0 only when accepted.
    Roster {
        #[command(flatten)]
        conn: Conn,
        /// Import the valid rows and report the others (default: all or nothing).
        #[arg(long)]
        partial: bool,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
        file: PathBuf,
    },
    /// Upload UKE receipt files (admin, the payer side); exit code 0 only when all are accepted.
    Receipts(medical::ReceiptsArgs),
    /// Upload official code masters (y_ALL, s_ALL, t_ALL CSV; admin).
    Masters(medical::MastersArgs),
    /// Upload a 特定健診 package folder (insurer or admin).
    Checkups(medical::CheckupsArgs),
}

#[derive(Args)]
struct CheckArgs {
    #[command(flatten)]
    conn: Conn,
    /// A My Number card instead of numbers: `virtual:FILE`, `pcsc` or `pcsc:READER`.
    #[arg(long, conflicts_with_all = ["insurer", "number", "birthdate", "symbol", "branch", "date"])]
    card: Option<String>,
    /// The card's 4-digit PIN (with --card).
    #[arg(long, requires = "card")]
    pin: Option<String>,
    /// With --card: do the 利用登録 (register the card for insurance use) instead of a check.
    #[arg(long, requires = "card")]
    register: bool,
    /// With --card: categories the patient consents to now (comma-separated): medications,
    /// treatments, surgeries, checkups, limit.
    #[arg(long, requires = "card", value_delimiter = ',')]
    consent: Vec<String>,
    /// 保険者番号.
    #[arg(long, required_unless_present = "card")]
    insurer: Option<String>,
    /// 記号 (omit when the card has none).
    #[arg(long)]
    symbol: Option<String>,
    /// 番号.
    #[arg(long, required_unless_present = "card")]
    number: Option<String>,
    /// 枝番.
    #[arg(long)]
    branch: Option<String>,
    /// 生年月日 YYYYMMDD.
    #[arg(long, required_unless_present = "card")]
    birthdate: Option<String>,
    /// 資格確認日 YYYYMMDD (default today in Japan).
    #[arg(long)]
    date: Option<String>,
    /// The patient consents to 限度額 information.
    #[arg(long)]
    limit_consent: bool,
    /// Print the answer as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Checks per second and latency against a running central, with the raw store lookup rate.
    Check(bench::BenchArgs),
    /// Card-based checks per second beside the number-based rate, and the raw RSA-2048
    /// verification rate, in one run.
    CardCheck(bench_card::CardBenchArgs),
    /// UKE ingestion rate (reader alone, reader + store) on a generated file, and drug
    /// information latency for a person with 5 years of history beside an eligibility check.
    Medical(bench_medical::MedicalBenchArgs),
    /// The レセコン file interface: OQSsiquc01 round trips through the folders (files/s, p50/p99
    /// from request file to result file) and a 一括照会 end to end, with a local central.
    Files(bench_files::FilesBenchArgs),
    /// Reception traffic shaped like a clinic morning (card checks, number checks, drug-history
    /// views after consent) in an open loop at a target rate: each kind's p50/p95/p99/p99.9.
    Mixed(bench_mixed::MixedBenchArgs),
    /// 一括照会 uploads processed while the front desk checks: items per second, time until
    /// done, and the desk's latency beside them.
    Batch(bench_mixed::BatchBenchArgs),
    /// 顔認証 accuracy on labelled pictures (false accepts and false rejects by threshold)
    /// and the time per face.
    Face(face::FaceBenchArgs),
}

fn init_tracing(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("KAKUNIN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// mimalloc instead of glibc's malloc: checks at saturation cost the central about a tenth less
/// CPU (`docs/benchmarks.md`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Ca {
            command: CaCommand::Init { data },
        } => {
            init_tracing("warn");
            Ca::init(&data, "kakunin CA")?;
            println!("{}", data.join(kakunin_central::pki::CA_CERT).display());
        }
        Command::Ca {
            command:
                CaCommand::Issue {
                    data,
                    role,
                    id,
                    out,
                },
        } => {
            init_tracing("warn");
            let role = Role::parse(&role, &id)?;
            let pem = Ca::load(&data)?.issue(&role)?;
            kakunin_central::pki::write_private(&out, &pem)?;
            println!("{}", out.display());
        }
        Command::Audit { command } => {
            init_tracing("warn");
            if !audit::run(command).await? {
                return Ok(ExitCode::FAILURE);
            }
        }
        Command::Central(args) => {
            init_tracing("info");
            let config = central_config(args)?;
            let central = Central::bind(&config).await?;
            println!("kakunin central listening on {}", central.url());
            tracing::info!(addr = %central.addr, "central started");
            central.serve(shutdown_signal()).await;
        }
        Command::Seed(args) => {
            init_tracing("warn");
            seed(&args).await?;
        }
        Command::Import {
            command:
                ImportCommand::Roster {
                    conn,
                    partial,
                    json,
                    file,
                },
        } => {
            init_tracing("warn");
            let bytes =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let report = conn.client()?.import_roster(bytes, partial).await?;
            print_report(&report, json)?;
            return Ok(if report.accepted {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            });
        }
        Command::Import {
            command: ImportCommand::Receipts(args),
        } => {
            init_tracing("warn");
            return medical::import_receipts(args).await;
        }
        Command::Import {
            command: ImportCommand::Masters(args),
        } => {
            init_tracing("warn");
            return medical::import_masters(args).await;
        }
        Command::Import {
            command: ImportCommand::Checkups(args),
        } => {
            init_tracing("warn");
            return medical::import_checkups(args).await;
        }
        Command::Terminal(args) => {
            init_tracing("info");
            terminal::run(args).await?;
        }
        Command::CardHelper(args) => {
            init_tracing("info");
            card_helper::run(args, shutdown_signal()).await?;
        }
        Command::Medical(args) => {
            init_tracing("warn");
            medical::show(args).await?;
        }
        Command::Check(args) if args.card.is_some() => {
            init_tracing("warn");
            return card_check(args).await;
        }
        Command::Card { command } => {
            init_tracing("warn");
            card::run(command).await?;
        }
        Command::Authority(args) => {
            init_tracing("info");
            authority::run(args, shutdown_signal()).await?;
        }
        Command::Ops(args) => {
            init_tracing("info");
            ops::run(args).await?;
        }
        Command::Check(args) => {
            init_tracing("warn");
            let req = EligibilityCheckRequest {
                insurer_number: args.insurer.unwrap_or_default(),
                symbol: args.symbol,
                number: args.number.unwrap_or_default(),
                branch: args.branch,
                birthdate: args.birthdate.unwrap_or_default(),
                qualification_confirmation_date: args.date,
                limit_application_certificate_related_cons_flg: args
                    .limit_consent
                    .then(|| "1".into()),
            };
            let answer = args.conn.client()?.check(&req).await?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&answer)?);
            } else {
                print_answer(&answer);
            }
        }
        Command::Demo(args) => {
            init_tracing("warn");
            demo::run(args).await?;
        }
        Command::Bench {
            command: BenchCommand::Medical(args),
        } => {
            init_tracing("warn");
            bench_medical::run(args).await?;
        }
        Command::Bench {
            command: BenchCommand::Check(args),
        } => {
            init_tracing("warn");
            bench::run(args).await?;
        }
        Command::Bench {
            command: BenchCommand::Files(args),
        } => {
            init_tracing("warn");
            bench_files::run(args).await?;
        }
        Command::Bench {
            command: BenchCommand::CardCheck(args),
        } => {
            init_tracing("warn");
            bench_card::run(args).await?;
        }
        Command::Bench {
            command: BenchCommand::Mixed(args),
        } => {
            init_tracing("warn");
            bench_mixed::run_mixed(args).await?;
        }
        Command::Bench {
            command: BenchCommand::Batch(args),
        } => {
            init_tracing("warn");
            bench_mixed::run_batch(args).await?;
        }
        Command::Face(args) => face::run(args).await?,
        Command::Bench {
            command: BenchCommand::Face(args),
        } => face::bench(args)?,
        Command::Openapi => print!("{}", kakunin_central::http::openapi_json()),
        Command::Backup(args) => {
            init_tracing("warn");
            backup::backup(args).await?;
        }
        Command::Restore(args) => {
            init_tracing("warn");
            backup::restore(args).await?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn central_config(flags: CentralArgs) -> Result<CentralConfig> {
    let file: CentralArgs = match &flags.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?
        }
        None => CentralArgs::default(),
    };
    let data = flags
        .data
        .or(file.data)
        .context("--data DIR is required (or `data` in the config file)")?;
    let listen = flags
        .listen
        .or(file.listen)
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8443)));
    let replicas = if flags.replicas.is_empty() {
        file.replicas
    } else {
        flags.replicas
    };
    let authority = match (
        flags.authority.or(file.authority),
        flags.authority_identity.or(file.authority_identity),
    ) {
        (None, _) => kakunin_central::AuthorityConfig::Embedded,
        (Some(url), Some(identity)) => kakunin_central::AuthorityConfig::Remote { url, identity },
        (Some(_), None) => {
            anyhow::bail!("--authority URL needs --authority-identity FILE.pem (role admin)")
        }
    };
    let crl_refresh = flags
        .crl_refresh_secs
        .or(file.crl_refresh_secs)
        .map_or(kakunin_central::CRL_REFRESH, |s| {
            std::time::Duration::from_secs(s.max(1))
        });
    let portal_card_helper = flags
        .portal_card_helper
        .or(file.portal_card_helper)
        .map(|url| {
            kakunin_terminal::card_helper::parse_origin(&url)
                .map_err(|e| anyhow::anyhow!("--portal-card-helper {e}"))
        })
        .transpose()?;
    let rate = |flag: Option<f64>, default: Option<kakunin_central::limits::Rate>, what: &str| {
        match flag {
            None => Ok(default),
            Some(0.0) => Ok(None),
            Some(r) if r.is_finite() && r > 0.0 => Ok(Some(kakunin_central::limits::Rate {
                per_second: r,
                burst: (r * 10.0).max(1.0),
            })),
            Some(r) => Err(anyhow::anyhow!("--{what}-per-second {r}: a rate ≥ 0")),
        }
    };
    let defaults = kakunin_central::limits::Limits::default();
    let limits = kakunin_central::limits::Limits {
        checks: rate(
            flags.checks_per_second.or(file.checks_per_second),
            defaults.checks,
            "checks",
        )?,
        views: rate(
            flags.views_per_second.or(file.views_per_second),
            defaults.views,
            "views",
        )?,
    };
    Ok(CentralConfig {
        limits,
        authority,
        crl_refresh,
        portal_card_helper,
        metrics_listen: flags.metrics_listen.or(file.metrics_listen),
        data_dir: data,
        listen,
        store: kakunin_central::StoreConfig {
            database: flags.database.or(file.database),
            replicas,
            max_replica_lag: flags
                .max_replica_lag_ms
                .or(file.max_replica_lag_ms)
                .map(std::time::Duration::from_millis),
            pool_size: flags.pool_size.or(file.pool_size),
        },
    })
}

async fn seed(args: &SeedArgs) -> Result<()> {
    let as_of = match &args.as_of {
        Some(s) => {
            kakunin_domain::Date::parse(s).map_err(|e| anyhow::anyhow!("--as-of {s:?}: {e}"))?
        }
        None => kakunin_central::service::now().jst_date(),
    };
    std::fs::create_dir_all(&args.data)?;
    let store = kakunin_central::open_store(
        &args.data,
        &kakunin_central::StoreConfig {
            database: args.database.clone(),
            ..Default::default()
        },
    )
    .await?;
    let started = std::time::Instant::now();
    // A national seed runs for tens of minutes: say how far it is, at most every 30 s.
    let mut last_report = started;
    let out = kakunin_central::seed::seed_store_reporting(
        store.clone(),
        kakunin_seed::SeedConfig {
            people: args.people,
            rng_seed: args.rng_seed,
            as_of,
        },
        |progress| {
            let rows = match progress {
                kakunin_central::seed::SeedProgress::Imported(rows) => rows,
                kakunin_central::seed::SeedProgress::BuildingIndexes => {
                    eprintln!(
                        "… every row imported in {:.0} s; building the indexes",
                        started.elapsed().as_secs_f64()
                    );
                    return;
                }
            };
            if last_report.elapsed() >= std::time::Duration::from_secs(30) {
                last_report = std::time::Instant::now();
                let secs = started.elapsed().as_secs_f64();
                eprintln!(
                    "… {rows} qualifications imported in {secs:.0} s ({:.0}/s)",
                    rows as f64 / secs
                );
            }
        },
    )
    .await?;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "seeded {} people ({} qualifications, {} insurers, {} roster files) in {:.1} s: {} inserted, {} updated, {} unchanged",
        out.summary.people, out.summary.rows, out.summary.insurers, out.summary.rosters, secs, out.inserted, out.updated, out.unchanged
    );
    if let Some((_, peak)) = bench_common::Server::new(Some(std::process::id())).memory_mb() {
        println!("peak memory (VmHWM) of this process: {peak:.0} MB");
    }
    let mut holders = Vec::new();
    if args.cards > 0 {
        let started = std::time::Instant::now();
        let dir = args.data.join(kakunin_central::AUTHORITY_DIR);
        let authority =
            tokio::task::spawn_blocking(move || kakunin_authority::Authority::open_or_init(&dir))
                .await??;
        let cards = kakunin_central::seed::seed_cards(
            store.clone(),
            authority,
            &args.data.join("cards"),
            args.cards,
            &args.pin,
        )
        .await?;
        println!(
            "issued {} cards (registered for insurance use) in {:.1} s: {}",
            cards.len(),
            started.elapsed().as_secs_f64(),
            args.data.join("cards").display()
        );
        holders = cards.into_iter().map(|c| c.qualification).collect();
    }
    if args.medical > 0 {
        let started = std::time::Instant::now();
        let out = kakunin_central::seed::seed_medical(
            store,
            &holders,
            args.medical,
            as_of,
            args.rng_seed,
        )
        .await?;
        println!(
            "seeded medical history of {} people in {:.1} s: {} receipts in {} UKE files ({} matched), {} checkups",
            out.patients,
            started.elapsed().as_secs_f64(),
            out.receipts,
            out.files,
            out.matched,
            out.checkups
        );
    }
    Ok(())
}

/// `kakunin check --card …`: exit 0 with an answer, 2 when refused (the reason is printed).
async fn card_check(args: CheckArgs) -> Result<ExitCode> {
    let spec = args.card.clone().unwrap_or_default();
    let pin = card::require_pin(args.pin.as_deref())?;
    let client = args.conn.client()?;
    let refused = |e: card::FlowError, json: bool| -> Result<ExitCode> {
        let error = match &e {
            card::FlowError::Central(kakunin_api::client::ClientError::Api(api, _)) => api.clone(),
            card::FlowError::Card(c) => {
                kakunin_api::ApiError::new("card_error", &c.message_ja(), c.to_string())
            }
            card::FlowError::Central(other) => {
                return Err(anyhow::anyhow!("{other}"));
            }
        };
        if json {
            println!("{}", serde_json::to_string_pretty(&error)?);
        } else {
            eprintln!("{} [{}]", error.message, error.code);
        }
        Ok(ExitCode::from(2))
    };
    if args.register {
        return match card::register_with_pin(&client, &spec, pin).await {
            Ok(r) if args.json => {
                println!("{}", serde_json::to_string_pretty(&r)?);
                Ok(ExitCode::SUCCESS)
            }
            Ok(r) => {
                println!("{}", r.message);
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => refused(e, args.json),
        };
    }
    match card::check_with_pin(&client, &spec, pin, args.limit_consent, &args.consent).await {
        Ok(answer) => {
            if args.json {
                println!("{}", serde_json::to_string_pretty(&answer)?);
            } else {
                print_answer(&answer);
                if let Some(n) = &answer.certificate_notice {
                    println!("お知らせ: {}", n.message);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => refused(e, args.json),
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

fn print_report(r: &RosterImportReport, json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(r)?);
        return Ok(());
    }
    if r.accepted {
        println!(
            "取込完了: {} 行（新規 {}、変更 {}、変更なし {}、除外 {}）",
            r.rows, r.inserted, r.updated, r.unchanged, r.skipped
        );
    } else {
        println!(
            "取込不可: {} 行、エラー {} 件。何も登録していません。",
            r.rows,
            r.errors.len()
        );
    }
    for e in &r.errors {
        match (&e.field, e.line) {
            (_, 0) => println!("  ファイル: {} [{}]", e.message, e.code),
            (Some(f), l) => println!("  {l}行目 {f}: {} [{}]", e.message, e.code),
            (None, l) => println!("  {l}行目: {} [{}]", e.message, e.code),
        }
    }
    Ok(())
}

fn print_answer(a: &EligibilityCheckResponse) {
    println!(
        "資格有効性: {} {}（資格確認日 {}）",
        a.validity, a.validity_label, a.qualification_confirmation_date
    );
    for r in &a.results {
        let rel = if r.relationship == "1" {
            "本人"
        } else {
            "家族"
        };
        let sex = match r.sex.as_str() {
            "1" => "男",
            "2" => "女",
            _ => "未設定",
        };
        println!(
            "  {}（{}） {} 生年月日 {} {}",
            r.name, r.name_kana, sex, r.birthdate, rel
        );
        println!(
            "  {} {} 記号 {} 番号 {} 枝番 {}",
            r.insurer_number,
            r.insurer_name,
            r.symbol.as_deref().unwrap_or("なし"),
            r.number,
            r.branch.as_deref().unwrap_or("なし")
        );
        print!("  資格取得 {}", r.qualification_date);
        if let Some(d) = &r.disqualification_date {
            print!(" 資格喪失 {d}");
        }
        println!(
            " 一部負担金割合 {}{}",
            r.copay_ratio,
            if r.preschool.is_some() {
                "（未就学）"
            } else {
                ""
            }
        );
        if let Some(l) = &r.limit_certificate {
            println!("  限度額適用認定証 区分 {} {}", l.bracket, l.bracket_label);
        }
    }
    println!(
        "処理結果: {} {}",
        a.processing_result.code, a.processing_result.message
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_layers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("central.toml");
        std::fs::write(
            &path,
            "data = \"/srv/kakunin\"\nlisten = \"0.0.0.0:9443\"\n",
        )
        .unwrap();
        let c = central_config(CentralArgs {
            config: Some(path.clone()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(c.data_dir, PathBuf::from("/srv/kakunin"));
        assert_eq!(c.listen.port(), 9443);
        let c = central_config(CentralArgs {
            config: Some(path.clone()),
            listen: Some("127.0.0.1:1".parse().unwrap()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(c.listen.port(), 1, "flags override the file");
        assert_eq!(c.portal_card_helper, None, "the central's default");
        let helper = |url: &str| {
            central_config(CentralArgs {
                config: Some(path.clone()),
                portal_card_helper: Some(url.into()),
                ..Default::default()
            })
        };
        assert_eq!(
            helper("http://127.0.0.1:9091/").unwrap().portal_card_helper,
            Some("http://127.0.0.1:9091".into())
        );
        assert!(helper("javascript:alert(1)").is_err());
        assert!(helper("http://127.0.0.1:9091/x; script-src *").is_err());
        assert!(central_config(CentralArgs::default()).is_err());
    }
}
