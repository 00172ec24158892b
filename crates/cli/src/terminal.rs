//! `kakunin terminal`: the clinic's 資格確認端末 (kiosk and staff console on loopback).

use anyhow::{bail, Context, Result};
use clap::Args;
use kakunin_api::client::CentralClient;
use kakunin_terminal::visit::{DeviceKey, Reader, Terminal};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Args)]
pub struct TerminalArgs {
    /// The terminal's data directory.
    #[arg(
        long,
        env = "KAKUNIN_TERMINAL_DATA",
        default_value = "kakunin-terminal"
    )]
    data: PathBuf,
    /// The central, e.g. https://127.0.0.1:8443.
    #[arg(long, env = "KAKUNIN_SERVER")]
    central: String,
    /// The CA certificate (`ca.pem`).
    #[arg(long, env = "KAKUNIN_CA")]
    ca: PathBuf,
    /// The institution's certificate and key in one PEM.
    #[arg(long, env = "KAKUNIN_IDENTITY")]
    identity: PathBuf,
    /// `virtual:DIR` (card files placed from the console; a file names its directory) or
    /// `pcsc` / `pcsc:READER`.
    #[arg(long, default_value = "pcsc")]
    reader: String,
    /// The terminal's device key (`kakunin ca issue --role terminal --id <医療機関コード>`):
    /// enables staff 目視確認 on the kiosk, attested with it.
    #[arg(long, env = "KAKUNIN_DEVICE_KEY")]
    device_key: Option<PathBuf>,
    /// Where the kiosk and the console are served (loopback by default).
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
}

/// The reader of a `--reader` value.
pub(crate) fn reader(spec: &str) -> Result<Reader> {
    if let Some(path) = spec.strip_prefix("virtual:") {
        let path = Path::new(path);
        let dir = if path.is_dir() {
            path.to_path_buf()
        } else {
            path.parent()
                .map(Path::to_path_buf)
                .context("virtual:DIR needs a directory of card files")?
        };
        return Ok(Reader::Virtual { dir });
    }
    if spec == "pcsc" || spec.starts_with("pcsc:") {
        return Ok(Reader::Pcsc { spec: spec.into() });
    }
    bail!("--reader must be virtual:DIR, pcsc or pcsc:READER, got {spec:?}")
}

/// Builds the terminal and binds its listener (port 0 picks a free one).
pub(crate) async fn start(
    central: &str,
    ca: &Path,
    identity: &Path,
    device_key: Option<&Path>,
    reader: Reader,
    listen: SocketAddr,
) -> Result<(Arc<Terminal>, tokio::net::TcpListener)> {
    // A patient at the reader cannot wait long: after 10 s the kiosk says so and staff take over.
    let client = CentralClient::from_files(central, ca, Some(identity))?
        .with_timeout(std::time::Duration::from_secs(10));
    let device = match device_key {
        Some(path) => {
            let pem = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            Some(DeviceKey::from_pem(&pem).map_err(|e| anyhow::anyhow!(e))?)
        }
        None => None,
    };
    let terminal = Terminal::new(client, reader, device);
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    Ok((terminal, listener))
}

pub async fn run(args: TerminalArgs) -> Result<()> {
    std::fs::create_dir_all(&args.data)?;
    let (terminal, listener) = start(
        &args.central,
        &args.ca,
        &args.identity,
        args.device_key.as_deref(),
        reader(&args.reader)?,
        args.listen,
    )
    .await?;
    let addr = listener.local_addr()?;
    println!("kakunin terminal");
    println!("  受付端末（患者用）: http://{addr}/kiosk");
    println!("  受付スタッフ画面:   http://{addr}/console");
    kakunin_terminal::http::serve(terminal, listener, crate::shutdown_signal()).await?;
    Ok(())
}
