//! Loads the synthetic population through the same roster import path insurers use.

use crate::service::{self, Scope};
use anyhow::{anyhow, bail, Result};
use kakunin_seed::{InsurerRoster, SeedConfig, SeedSummary};
use kakunin_store::Store;
use std::sync::Arc;

/// What the seeder wrote.
#[derive(Debug)]
pub struct SeedOutcome {
    pub summary: SeedSummary,
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
}

/// Generates the population on a blocking thread and imports each insurer's roster as it comes,
/// so generation and import overlap.
pub async fn seed_store(store: Arc<dyn Store>, config: SeedConfig) -> Result<SeedOutcome> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<InsurerRoster>(4);
    let generator = tokio::task::spawn_blocking(move || {
        kakunin_seed::generate(&config, |roster| {
            tx.blocking_send(roster).map_err(|_| "import stopped")
        })
    });
    let (mut inserted, mut updated, mut unchanged) = (0, 0, 0);
    while let Some(roster) = rx.recv().await {
        let report = service::import_roster(
            &*store,
            &Scope::Any,
            "seed",
            &roster.csv,
            false,
            service::now(),
        )
        .await?;
        if !report.accepted {
            let first: Vec<String> = report
                .errors
                .iter()
                .take(5)
                .map(|e| format!("line {} {:?} {}: {}", e.line, e.field, e.code, e.message))
                .collect();
            bail!(
                "seed roster of {} was refused: {}",
                roster.insurer_number,
                first.join("; ")
            );
        }
        inserted += report.inserted;
        updated += report.updated;
        unchanged += report.unchanged;
    }
    let summary = generator
        .await
        .map_err(|e| anyhow!("seed generator failed: {e}"))?
        .map_err(|e| anyhow!(e))?;
    Ok(SeedOutcome {
        summary,
        inserted,
        updated,
        unchanged,
    })
}
