//! `serve`: the collector's long-running command. Its arguments become [`ServeOptions`] and
//! [`crate::serve`] runs them until Ctrl-C/SIGTERM.

use super::args::{ApiOptions, StoreArgs, TlsArgs};
use crate::config::CollectorConfig;
use crate::gallery::publish::GalleryOptions;
use crate::ingest::share_group::ShareGroup;
use crate::serve::{Republish, ServeOptions, serve};
use clap::Args;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use wardwatch_link::BrokerUrl;
use wardwatch_link::process::shutdown_signal;

/// `serve` options.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Storage.
    #[command(flatten)]
    pub store: StoreArgs,
    /// An external broker (mqtt://host:port or mqtts://host:port). Default: start the embedded one.
    #[arg(long)]
    pub broker_url: Option<BrokerUrl>,
    /// Where the embedded broker listens (ignored with --broker-url). Loopback only: it authenticates
    /// no one, so any other address is refused (use Mosquitto with mutual TLS, deploy/README.md).
    #[arg(long, default_value = "127.0.0.1:1883")]
    pub listen_mqtt: SocketAddr,
    /// MQTT client id; keep it stable (the broker holds the persistent session under it).
    #[arg(long, default_value = "wardwatch-collector")]
    pub client_id: String,
    /// The collector's ack key (`ack-key init`): every ack is signed with it, and ward boxes take only
    /// acks signed by the key they pin (`[broker] ack_public_key`).
    #[arg(long)]
    pub ack_key: PathBuf,
    /// Share the load with other collectors subscribing under this $share group: a secret of at least
    /// 32 random characters (`openssl rand -hex 16`), since any client knowing it can join the group.
    #[arg(long, env = "WARDWATCH_SHARE_GROUP", hide_env_values = true)]
    pub share_group: Option<ShareGroup>,
    /// Topic filter (default: every device of every institution).
    #[arg(long)]
    pub topic_filter: Option<String>,
    /// TLS files for an mqtts:// broker.
    #[command(flatten)]
    pub tls: TlsArgs,
    /// Also serve the JSON API on this address (off by default).
    #[arg(long)]
    pub listen_http: Option<SocketAddr>,
    /// Sign and publish each institution's gallery with this bureau key (`bureau-key init`), at start
    /// and whenever enrolments or devices change (checked every --gallery-every-secs).
    #[arg(long)]
    pub bureau_key: Option<PathBuf>,
    /// The recogniser whose embeddings are published (with --bureau-key).
    #[arg(long, default_value = "fr_feature")]
    pub gallery_model: String,
    /// Days an enrolment counts (with --bureau-key).
    #[arg(long, default_value_t = 400, value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub valid_days: u32,
    /// How often to check for gallery changes (with --bureau-key).
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=86400))]
    pub gallery_every_secs: u64,
    /// API settings (with --listen-http).
    #[command(flatten)]
    pub api: ApiOptions,
    /// The collector's configuration file (deploy/collector.example.toml): `[rules_schedule]` runs the
    /// rules by themselves per closed day and month, `[retention]` deletes personal data past its
    /// period daily.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Serve Prometheus metrics at /metrics on --listen-http to scrapers presenting this file's token
    /// (first line, at least 32 characters) as `Authorization: Bearer`; without it /metrics is a 404.
    #[arg(long)]
    pub metrics_token_file: Option<PathBuf>,
}

impl ServeArgs {
    /// What these arguments ask [`serve`] to run, with the configuration file's jobs.
    pub fn options(&self) -> anyhow::Result<ServeOptions> {
        let config = match &self.config {
            Some(path) => CollectorConfig::load(path)?,
            None => CollectorConfig::default(),
        };
        let schedule = match &config.rules_schedule {
            Some(section) => Some(section.settings().map_err(anyhow::Error::msg)?),
            None => None,
        };
        let galleries = self.bureau_key.as_ref().map(|bureau_key| Republish {
            bureau_key: bureau_key.clone(),
            options: GalleryOptions {
                model: self.gallery_model.clone(),
                valid_days: self.valid_days,
                institutions: Vec::new(),
            },
            every: Duration::from_secs(self.gallery_every_secs),
        });
        Ok(ServeOptions {
            broker_url: self.broker_url.clone(),
            listen_mqtt: self.listen_mqtt,
            client_id: self.client_id.clone(),
            ack_key: self.ack_key.clone(),
            share_group: self.share_group.clone(),
            topic_filter: self.topic_filter.clone(),
            tls: self.tls.files(),
            listen_http: self.listen_http,
            api: self.api.config(),
            galleries,
            schedule,
            retention: config.retention,
        })
    }
}

/// Runs `serve` until Ctrl-C/SIGTERM.
pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let options = args.options()?;
    if let Some(path) = &args.metrics_token_file {
        crate::metrics::allow_scrapes_with_token_file(path)?;
    }
    args.store
        .with_store(async |store| Ok(serve(store, options, shutdown_signal()).await?))
        .await
}
