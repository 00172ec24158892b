//! `kakunin authority`: the J-LIS stand-in as its own HTTPS service, for a central started with
//! `--authority URL`. Callers need a client certificate of the kakunin CA with the admin role.

use anyhow::{Context, Result};
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use clap::Args;
use kakunin_central::tls::Peer;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Args)]
pub(crate) struct AuthorityArgs {
    /// Data directory: the kakunin CA (`ca.pem`, `server.pem`) and `authority/`.
    #[arg(long, env = "KAKUNIN_DATA")]
    data: PathBuf,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8444")]
    listen: SocketAddr,
}

/// Only admin certificates (the central's service identity) may call the authority.
async fn require_admin(req: Request, next: Next) -> Response {
    let allowed = req
        .extensions()
        .get::<Peer>()
        .is_some_and(|p| matches!(&p.0, Ok(role) if role.kind() == "admin"));
    if !allowed {
        return (
            StatusCode::FORBIDDEN,
            axum::Json(kakunin_api::ApiError::new(
                "forbidden_role",
                "この操作は許可されていません。",
                "The authority answers only clients with an admin certificate of the kakunin CA.",
            )),
        )
            .into_response();
    }
    next.run(req).await
}

pub(crate) async fn run(args: AuthorityArgs, shutdown: impl Future<Output = ()>) -> Result<()> {
    let tls = kakunin_central::load_tls(&args.data)?;
    let dir = args.data.join(kakunin_central::AUTHORITY_DIR);
    let authority =
        tokio::task::spawn_blocking(move || kakunin_authority::Authority::open_or_init(&dir))
            .await??;
    let router = kakunin_authority::router(authority, kakunin_central::AGENCY.into())
        .layer(axum::middleware::from_fn(require_admin));
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    println!(
        "kakunin authority listening on https://{}",
        listener.local_addr()?
    );
    kakunin_central::server::serve(router, tls, listener, shutdown).await;
    Ok(())
}
