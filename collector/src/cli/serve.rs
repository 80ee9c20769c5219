//! `serve`: the collector's long-running command. Its arguments become [`ServeOptions`] and
//! [`crate::serve`] runs them until Ctrl-C/SIGTERM.

use super::args::{ApiOptions, StoreArgs, TlsArgs};
use crate::gallery::publish::GalleryOptions;
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
    /// Where the embedded broker listens (ignored with --broker-url).
    #[arg(long, default_value = "127.0.0.1:1883")]
    pub listen_mqtt: SocketAddr,
    /// MQTT client id; keep it stable (the broker holds the persistent session under it).
    #[arg(long, default_value = "wardwatch-collector")]
    pub client_id: String,
    /// Share the load with other collectors subscribing under this $share group.
    #[arg(long)]
    pub share_group: Option<String>,
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
}

impl ServeArgs {
    /// What these arguments ask [`serve`] to run.
    pub fn options(&self) -> ServeOptions {
        let galleries = self.bureau_key.as_ref().map(|bureau_key| Republish {
            bureau_key: bureau_key.clone(),
            options: GalleryOptions {
                model: self.gallery_model.clone(),
                valid_days: self.valid_days,
                institutions: Vec::new(),
            },
            every: Duration::from_secs(self.gallery_every_secs),
        });
        ServeOptions {
            broker_url: self.broker_url.clone(),
            listen_mqtt: self.listen_mqtt,
            client_id: self.client_id.clone(),
            share_group: self.share_group.clone(),
            topic_filter: self.topic_filter.clone(),
            tls: self.tls.files(),
            listen_http: self.listen_http,
            appeal_days: self.api.appeal_days,
            secure_cookies: self.api.secure_cookies,
            galleries,
        }
    }
}

/// Runs `serve` until Ctrl-C/SIGTERM.
pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let options = args.options();
    args.store
        .with_store(async |store| Ok(serve(store, options, shutdown_signal()).await?))
        .await
}
