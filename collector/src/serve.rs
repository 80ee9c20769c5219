//! `wardwatch-collector serve`: wires the broker (an external one, or the embedded one started here) to
//! [`crate::ingest`], with the JSON API (and the web app beside it), the gallery republishing and the rule scheduler beside it when asked for, and runs
//! them until told to stop. The caller opens the store and closes it afterwards.

use crate::api::{self, ApiConfig, ApiState};
use crate::broker::{BrokerError, start_embedded};
use crate::gallery::publish::GalleryOptions;
use crate::gallery::republish::keep_galleries_published;
use crate::ingest::share_group::ShareGroup;
use crate::ingest::{IngestError, IngestSettings, run_ingest};
use crate::retention::{RetentionPeriods, run_daily};
use crate::schedule::{ScheduleSettings, owner_id, run_rules_job, run_scheduler};
use crate::signing_keys::{self, KeyRole};
use crate::store::partitions::{MAINTENANCE_EVERY, keep_month_partitions};
use crate::store::{Backend, Store};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::watch;
use wardwatch_link::{BrokerUrl, LinkError, TlsFiles};
use wardwatch_protocol::Topic;
use wardwatch_protocol::key_file::KeyFileError;

/// How often retention runs under `serve`.
const RETENTION_EVERY: Duration = Duration::from_secs(24 * 3600);

/// How long a rule job in progress may take to finish once serving stops.
const SCHEDULER_STOP_GRACE: Duration = Duration::from_secs(10);

/// The collector could not serve.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The embedded broker did not start.
    #[error(transparent)]
    Broker(#[from] BrokerError),
    /// The embedded broker's address is not a broker URL.
    #[error("embedded broker address")]
    BrokerAddress(#[source] LinkError),
    /// The JSON API's address is taken or not bindable.
    #[error("cannot listen on {addr}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The bureau's gallery-signing key or the collector's ack key.
    #[error(transparent)]
    Key(#[from] KeyFileError),
    /// Ingest failed.
    #[error(transparent)]
    Ingest(#[from] IngestError),
    /// The JSON API task panicked or was cancelled.
    #[error("JSON API task")]
    ApiTask(#[source] tokio::task::JoinError),
    /// The JSON API failed.
    #[error(transparent)]
    Api(std::io::Error),
}

/// Keeping the ward boxes' galleries published while serving.
#[derive(Debug, Clone)]
pub struct Republish {
    /// The bureau's signing key file.
    pub bureau_key: PathBuf,
    /// What to publish.
    pub options: GalleryOptions,
    /// How often to check for changes.
    pub every: Duration,
}

/// What to serve.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// An external broker; `None`: start the embedded one on `listen_mqtt`.
    pub broker_url: Option<BrokerUrl>,
    /// Where the embedded broker listens (loopback only).
    pub listen_mqtt: SocketAddr,
    /// MQTT client id (the broker holds the persistent session under it).
    pub client_id: String,
    /// The collector's ack key file (`ack-key init`): every ack is signed with it.
    pub ack_key: PathBuf,
    /// Shared-subscription group (a secret), to split the messages with other collectors.
    pub share_group: Option<ShareGroup>,
    /// Topic filter; `None`: every device of every institution.
    pub topic_filter: Option<String>,
    /// TLS files for an `mqtts://` broker.
    pub tls: TlsFiles,
    /// Also serve the JSON API on this address.
    pub listen_http: Option<SocketAddr>,
    /// The API's settings.
    pub api: ApiConfig,
    /// Publish the galleries, when set.
    pub galleries: Option<Republish>,
    /// Run the rules by themselves (`[rules_schedule]`), when set.
    pub schedule: Option<ScheduleSettings>,
    /// Apply these retention periods daily (`[retention]`), when set.
    pub retention: Option<RetentionPeriods>,
}

impl ServeOptions {
    /// Ingest settings for a broker URL.
    fn ingest_settings(&self, url: BrokerUrl) -> Result<IngestSettings, ServeError> {
        let ack_key = signing_keys::load(&self.ack_key, KeyRole::Ack)?;
        let mut settings = IngestSettings::new(url, ack_key);
        settings.client_id = self.client_id.clone();
        settings.share_group = self.share_group.clone();
        if let Some(filter) = &self.topic_filter {
            settings.topic_filter = filter.clone();
        }
        settings.tls = self.tls.clone();
        Ok(settings)
    }
}

/// Serves until `shutdown` turns true: ingest, and the JSON API and the gallery republishing when
/// `options` ask for them.
pub async fn serve(
    store: &Store,
    options: ServeOptions,
    shutdown: watch::Receiver<bool>,
) -> Result<(), ServeError> {
    let url = match &options.broker_url {
        Some(url) => url.clone(),
        None => {
            let broker = start_embedded(options.listen_mqtt, None)?;
            // Ingest and the gallery publisher use the collector's own listener.
            format!("mqtt://{}", broker.collector_addr)
                .parse()
                .map_err(ServeError::BrokerAddress)?
        }
    };
    let settings = options.ingest_settings(url)?;
    tracing::info!(
        broker = %settings.url,
        subscriptions = %settings.subscriptions().filters.join(" "),
        devices_filter = %Topic::all_devices_filter(),
        "collector serving"
    );
    let api = match options.listen_http {
        Some(addr) => {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|source| ServeError::Listen { addr, source })?;
            let state = ApiState::configured(store.clone(), options.api);
            Some(tokio::spawn(api::serve(state, listener, shutdown.clone())))
        }
        None => None,
    };
    let galleries = match options.galleries {
        Some(republish) => {
            let key = signing_keys::load(&republish.bureau_key, KeyRole::Gallery)?;
            Some(tokio::spawn(keep_galleries_published(
                store.clone(),
                key,
                republish.options,
                settings.clone(),
                republish.every,
                shutdown.clone(),
            )))
        }
        None => None,
    };
    let scheduler = options.schedule.map(|schedule| {
        let zone = schedule.zone;
        tokio::spawn(run_scheduler(
            store.clone(),
            schedule,
            owner_id(&options.client_id),
            shutdown.clone(),
            move |store, job| run_rules_job(store, job, zone),
        ))
    });
    let retention = options.retention.map(|periods| {
        tokio::spawn(run_daily(
            store.clone(),
            periods,
            owner_id(&options.client_id),
            RETENTION_EVERY,
            shutdown.clone(),
        ))
    });
    let partitions = (store.backend() == Backend::Postgres).then(|| {
        tokio::spawn(keep_month_partitions(
            store.clone(),
            MAINTENANCE_EVERY,
            shutdown.clone(),
        ))
    });
    run_ingest(settings, store.clone(), shutdown).await?;
    if let Some(retention) = retention {
        retention.abort();
    }
    if let Some(partitions) = partitions {
        partitions.abort();
    }
    if let Some(mut scheduler) = scheduler {
        // A job in progress gets a moment to finish; past that it is dropped, its lease expires and
        // the next collector (or this one, restarted) resumes it.
        if tokio::time::timeout(SCHEDULER_STOP_GRACE, &mut scheduler)
            .await
            .is_err()
        {
            tracing::warn!("rule job still running at shutdown; it will be resumed");
            scheduler.abort();
        }
    }
    if let Some(api) = api {
        api.await
            .map_err(ServeError::ApiTask)?
            .map_err(ServeError::Api)?;
    }
    if let Some(galleries) = galleries {
        galleries.abort();
    }
    Ok(())
}
