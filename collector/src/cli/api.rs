//! `api`: the JSON API (`/api/v1`) on its own, until Ctrl-C/SIGTERM (see [`crate::api`]).

use super::args::{ApiOptions, StoreArgs};
use anyhow::Context;
use clap::Args;
use std::net::SocketAddr;
use wardwatch_link::process::shutdown_signal;

/// `api` options.
#[derive(Debug, Args)]
pub struct ApiArgs {
    /// Storage.
    #[command(flatten)]
    pub store: StoreArgs,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// API settings.
    #[command(flatten)]
    pub api: ApiOptions,
}

/// Serves the API until Ctrl-C/SIGTERM.
pub async fn run(args: ApiArgs) -> anyhow::Result<()> {
    let ApiArgs { store, listen, api } = args;
    store
        .with_store(async |store| {
            let listener = tokio::net::TcpListener::bind(listen)
                .await
                .with_context(|| format!("cannot listen on {listen}"))?;
            crate::api::serve(api.state(store.clone()), listener, shutdown_signal()).await?;
            Ok(())
        })
        .await
}
