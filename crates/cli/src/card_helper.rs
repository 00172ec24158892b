//! `kakunin card-helper`: the local card helper the patient portal logs in through (the
//! browser cannot speak PC/SC), like Mynaportal's JPKI app. The service itself is
//! `kakunin_terminal::card_helper`.

use anyhow::{bail, Context, Result};
use clap::Args;
use kakunin_terminal::card_helper::{self, CardSource, HelperConfig};
use std::net::SocketAddr;

#[derive(Args)]
pub struct CardHelperArgs {
    /// The card: `virtual:DIR` (a directory of demo cards to choose from), `virtual:FILE`,
    /// `pcsc` (the first reader with a card) or `pcsc:READER NAME`.
    #[arg(long)]
    reader: String,
    /// Where to listen (loopback only unless --allow-non-loopback).
    #[arg(long, default_value = card_helper::DEFAULT_LISTEN)]
    listen: SocketAddr,
    /// The portal's origin allowed to call the helper from a browser, e.g.
    /// https://127.0.0.1:8443 (repeatable).
    #[arg(long = "allow-origin", required = true)]
    allow_origin: Vec<String>,
    /// Listen on a non-loopback address (anyone on the network could then ask the card
    /// for a portal login with a PIN they know).
    #[arg(long)]
    allow_non_loopback: bool,
}

/// The helper's configuration from the flags.
pub fn config(reader: &str, origins: &[String]) -> Result<HelperConfig> {
    let source = CardSource::parse(reader).map_err(|e| anyhow::anyhow!("--reader: {e}"))?;
    if let CardSource::File(path) = &source {
        if !path.exists() {
            bail!("--reader: {} does not exist", path.display());
        }
    }
    let allowed_origins = origins
        .iter()
        .map(|o| card_helper::parse_origin(o).map_err(|e| anyhow::anyhow!("--allow-origin {e}")))
        .collect::<Result<Vec<_>>>()?;
    Ok(HelperConfig {
        source,
        allowed_origins,
    })
}

pub async fn run(
    args: CardHelperArgs,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<()> {
    if !args.listen.ip().is_loopback() && !args.allow_non_loopback {
        bail!(
            "--listen {}: the card helper serves loopback only (add --allow-non-loopback to override)",
            args.listen
        );
    }
    let config = config(&args.reader, &args.allow_origin)?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    let addr = listener.local_addr()?;
    println!("カード読み取りアプリ（kakunin card-helper）: http://{addr}");
    println!("  許可するページ: {}", config.allowed_origins.join(", "));
    println!("止めるには Ctrl-C を押してください。");
    card_helper::serve(config, listener, shutdown)
        .await
        .context("serving the card helper")
}
