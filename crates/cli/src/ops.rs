//! `kakunin ops`: the operations console (運用コンソール) on loopback, relaying to the central
//! with an operator's certificate.

use anyhow::{bail, Context, Result};
use clap::Args;
use kakunin_api::client::CentralClient;
use kakunin_ops::OpsConfig;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

#[derive(Args)]
pub struct OpsArgs {
    /// The central, e.g. https://127.0.0.1:8443.
    #[arg(long, env = "KAKUNIN_SERVER")]
    central: String,
    /// The CA certificate (`ca.pem`).
    #[arg(long, env = "KAKUNIN_CA")]
    ca: PathBuf,
    /// An operator's certificate and key in one PEM (`kakunin ca issue --role admin`).
    #[arg(long, env = "KAKUNIN_OPS_IDENTITY")]
    identity: PathBuf,
    /// Where the pages are served. The console has no login of its own: whoever reaches it
    /// acts as the operator, so keep it on loopback.
    #[arg(long, default_value = "127.0.0.1:8092")]
    listen: SocketAddr,
    /// The central's data directory, when it is on this machine (the 失効 page then shows
    /// complete commands).
    #[arg(long, env = "KAKUNIN_DATA")]
    data: Option<PathBuf>,
}

/// Whether an identity PEM holds an operator's (admin) certificate.
fn check_admin(identity_pem: &[u8]) -> Result<()> {
    use rustls_pki_types::pem::PemObject;
    let der = rustls_pki_types::CertificateDer::from_pem_slice(identity_pem)
        .map_err(|e| anyhow::anyhow!("no certificate in the identity file: {e}"))?;
    match kakunin_central::pki::role_of(&der).map_err(|e| anyhow::anyhow!(e))? {
        kakunin_central::pki::Role::Admin(_) => Ok(()),
        other => bail!(
            "the identity is for the {} role; the operations console needs an operator's (admin)",
            other.kind()
        ),
    }
}

/// The console's configuration and its bound listener (port 0 picks a free one).
pub(crate) async fn start(
    central: &str,
    ca: &Path,
    identity: &Path,
    listen: SocketAddr,
    data: Option<&Path>,
) -> Result<(OpsConfig, tokio::net::TcpListener)> {
    let pem = std::fs::read(identity).with_context(|| format!("reading {}", identity.display()))?;
    check_admin(&pem)?;
    let client = CentralClient::from_files(central, ca, Some(identity))?
        .with_timeout(std::time::Duration::from_secs(60));
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    Ok((
        OpsConfig {
            client,
            central_url: central.trim_end_matches('/').to_string(),
            data_dir: data.map(Path::to_path_buf),
        },
        listener,
    ))
}

pub async fn run(args: OpsArgs) -> Result<()> {
    let (config, listener) = start(
        &args.central,
        &args.ca,
        &args.identity,
        args.listen,
        args.data.as_deref(),
    )
    .await?;
    let addr = listener.local_addr()?;
    if !addr.ip().is_loopback() {
        eprintln!(
            "注意: 運用コンソールを {addr} で公開しています。ログインはありません（到達できる人は運用者として操作できます）。"
        );
    }
    println!("kakunin ops");
    println!("  運用コンソール: http://{addr}/statistics");
    kakunin_ops::serve(config, listener, crate::shutdown_signal()).await?;
    Ok(())
}
