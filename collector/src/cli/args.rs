//! Arguments several commands share: where the data lives (and the one helper that opens it), the TLS
//! files for an `mqtts://` broker, and the JSON API's settings.

use crate::api::ApiState;
use crate::store::{Store, StoreLocation};
use clap::Args;
use std::path::PathBuf;
use wardwatch_link::TlsFiles;

/// Where the data lives: a SQLite data dir (default) or a database URL.
#[derive(Debug, Clone, Args)]
pub struct StoreArgs {
    /// Data directory; the SQLite database is DIR/wardwatch.db.
    #[arg(long, default_value = "./wardwatch-data", global = true)]
    pub data_dir: PathBuf,
    /// A postgres://… URL; overrides --data-dir.
    #[arg(long, env = "WARDWATCH_DATABASE_URL", global = true)]
    pub database_url: Option<String>,
}

impl StoreArgs {
    /// The location these arguments name.
    pub fn location(&self) -> StoreLocation {
        match &self.database_url {
            Some(url) => StoreLocation::Url(url.clone()),
            None => StoreLocation::DataDir(self.data_dir.clone()),
        }
    }

    /// Opens (and migrates) the store, runs `work` on it and closes it, whatever `work` returned. What
    /// a command prints after the store is closed, it returns from `work` and prints afterwards.
    pub async fn with_store<T>(
        &self,
        work: impl AsyncFnOnce(&Store) -> anyhow::Result<T>,
    ) -> anyhow::Result<T> {
        let store = Store::open(&self.location()).await?;
        let result = work(&store).await;
        store.close().await;
        result
    }
}

/// The collector's TLS files for an `mqtts://` broker.
#[derive(Debug, Clone, Args)]
pub struct TlsArgs {
    /// The CA that signed the broker's certificate (mqtts://).
    #[arg(long)]
    pub ca_file: Option<PathBuf>,
    /// The collector's client certificate (mutual TLS).
    #[arg(long)]
    pub cert_file: Option<PathBuf>,
    /// The collector's client key (mutual TLS).
    #[arg(long)]
    pub key_file: Option<PathBuf>,
}

impl TlsArgs {
    /// As the link crate takes them.
    pub fn files(&self) -> TlsFiles {
        TlsFiles {
            ca_file: self.ca_file.clone(),
            cert_file: self.cert_file.clone(),
            key_file: self.key_file.clone(),
        }
    }
}

/// JSON API settings.
#[derive(Debug, Clone, Args)]
pub struct ApiOptions {
    /// Days an institution has to appeal once a flag is issued.
    #[arg(long, default_value_t = crate::api::DEFAULT_APPEAL_DAYS, value_parser = clap::value_parser!(i64).range(1..=365))]
    pub appeal_days: i64,
    /// Mark the web app's cookies Secure: set it when browsers reach the collector through a TLS proxy
    /// (a proxy that sends `X-Forwarded-Proto: https` gets Secure cookies anyway).
    #[arg(long)]
    pub secure_cookies: bool,
}

impl ApiOptions {
    /// The API state over `store`.
    pub fn state(&self, store: Store) -> ApiState {
        ApiState {
            appeal_days: self.appeal_days,
            secure_cookies: self.secure_cookies,
            ..ApiState::new(store)
        }
    }
}
