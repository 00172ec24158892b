//! `kakunin audit`: verify the tamper-evident audit chains, or sign their heads now.

use anyhow::{bail, Result};
use clap::{Args, Subcommand};
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum AuditCommand {
    /// Check both chains (access log, administrative events) and every signed checkpoint;
    /// names the first entry that does not fit. Exit status 1 when anything is wrong.
    Verify(AuditArgs),
    /// Sign checkpoints of both chains' heads now (a running central does it every 5 minutes
    /// and when it stops).
    Checkpoint(AuditArgs),
}

#[derive(Args)]
pub struct AuditArgs {
    /// The central's data directory (its SQLite store, and `audit-key.pk8` / `audit-key.pub`).
    #[arg(long, env = "KAKUNIN_DATA")]
    pub data: PathBuf,
    /// The store, when not the data directory's SQLite file (`postgres://…`).
    #[arg(long, env = "KAKUNIN_DATABASE_URL")]
    pub database: Option<String>,
    /// The audit key's public half (hex), e.g. a copy kept apart from the servers; default
    /// DATA/audit-key.pub.
    #[arg(long)]
    pub public_key: Option<PathBuf>,
}

async fn store(args: &AuditArgs) -> Result<std::sync::Arc<dyn kakunin_store::Store>> {
    if args.database.is_none() && !args.data.join(kakunin_central::SQLITE_FILE).exists() {
        bail!(
            "{} にデータベースがありません（--data か --database を確認してください）",
            args.data.display()
        );
    }
    kakunin_central::open_store(
        &args.data,
        &kakunin_central::StoreConfig {
            database: args.database.clone(),
            ..Default::default()
        },
    )
    .await
}

/// Runs the command; `Ok(false)` when verification failed.
pub async fn run(command: AuditCommand) -> Result<bool> {
    match command {
        AuditCommand::Verify(args) => {
            let public_path = args
                .public_key
                .clone()
                .unwrap_or_else(|| kakunin_central::audit::public_path(&args.data));
            let public = kakunin_central::audit::read_public(&public_path)?;
            let store = store(&args).await?;
            let report = kakunin_central::audit::verify(&*store, &public).await?;
            print!("{}", kakunin_central::audit::describe(&report));
            Ok(report.ok())
        }
        AuditCommand::Checkpoint(args) => {
            let key = kakunin_central::audit::AuditKey::load_or_create(&args.data)?;
            let store = store(&args).await?;
            let made = key.checkpoint(&*store).await?;
            println!("checkpoints signed: {made} (key {})", key.key_id());
            Ok(true)
        }
    }
}
