//! Arguments several commands share: where the data lives (and the one helper that opens it), the TLS
//! files for an `mqtts://` broker, and the JSON API's settings.

use crate::api::{ApiConfig, ApiLimits, ApiState};
use crate::flags::attachments::AttachmentLimits;
use crate::flags::workflow::Policy;
use crate::store::{Store, StoreLocation};
use clap::Args;
use std::path::PathBuf;
use std::time::Duration;
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
    /// Let the auditor who did a flag's first review (初审) also take its second review (复审) and
    /// joint review (合议). Off by default: separation of duties.
    #[arg(long)]
    pub same_reviewer_allowed: bool,
    /// Seconds a client has to send a request's headers (also the longest idle keep-alive).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=300))]
    pub header_read_timeout_secs: u64,
    /// Seconds a request may take, its body included.
    #[arg(long, default_value_t = 120, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub request_timeout_secs: u64,
    /// Connections open at once; more are answered 503.
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u64).range(1..=65536))]
    pub max_connections: u64,
    /// Refused (unauthenticated) requests written to the access log per minute; the rest are counted.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=100000))]
    pub refusals_logged_per_minute: u32,
    /// Attachments one flag may carry.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(i64).range(1..=10000))]
    pub max_attachments_per_flag: i64,
    /// MiB of attachments all the flags of one institution may hold together.
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(i64).range(1..=1048576))]
    pub max_attachment_mib_per_institution: i64,
    /// Mark the web app's cookies Secure: set it when browsers reach the collector through a TLS proxy
    /// (a proxy that sends `X-Forwarded-Proto: https` gets Secure cookies anyway).
    #[arg(long)]
    pub secure_cookies: bool,
}

impl ApiOptions {
    /// The settings these options ask for.
    pub fn config(&self) -> ApiConfig {
        ApiConfig {
            appeal_days: self.appeal_days,
            policy: Policy {
                separate_reviewers: !self.same_reviewer_allowed,
            },
            limits: ApiLimits {
                header_read_timeout: Duration::from_secs(self.header_read_timeout_secs),
                request_timeout: Duration::from_secs(self.request_timeout_secs),
                max_connections: usize::try_from(self.max_connections).unwrap_or(usize::MAX),
                refusals_logged_per_minute: self.refusals_logged_per_minute,
                attachments: AttachmentLimits {
                    per_flag: self.max_attachments_per_flag,
                    bytes_per_institution: self.max_attachment_mib_per_institution * 1024 * 1024,
                },
            },
            secure_cookies: self.secure_cookies,
        }
    }

    /// The API state over `store`.
    pub fn state(&self, store: Store) -> ApiState {
        ApiState::configured(store, self.config())
    }
}
