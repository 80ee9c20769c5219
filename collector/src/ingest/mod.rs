//! Ingest: from the broker to committed rows, then acknowledgements both ways.
//!
//! 1. Subscribe (QoS 1, persistent session, manual acks) to the device topics — or to
//!    `$share/{group}/…` so several collectors share the load, the group a secret
//!    ([`share_group`]) — again on every (re)connection.
//! 2. Gather messages into a batch (up to `batch_max`, waiting at most `linger` for more).
//! 3. [`verify`] each one (including what it says about time, [`times`]), then write the batch in one
//!    transaction ([`crate::store::ingest`]).
//! 4. Only after the commit: PUBACK each message to the broker, and publish per device the highest
//!    contiguous committed seq (retained) on `…/{device}/ack`, signed with the collector's ack key,
//!    which lets the agent retire its spool.
//!
//! If the database fails, nothing is acknowledged; the batch is retried, and the broker and the agents
//! keep their copies meanwhile.
//!
//! A quarantined message is acknowledged to the broker (it would only be redelivered) but never stored
//! as an event: its `seq` stays a gap, the per-device ack stops below it, and the agent keeps re-sending
//! it (each resend counts in the quarantine row's `times_seen`). The events after it on the chain are
//! stored if they pass their own checks: the missing neighbour is a gap, not a break. Events refused
//! for their times ([`times`]) behave like those refused for their chain (`chain_broken`).

pub mod share_group;
pub mod test_data;
pub mod times;
pub mod verify;

use crate::store::ingest::{BatchOutcome, ChainCache, Fate};
use crate::store::{Store, StoreError};
use rumqttc::{AsyncClient, Publish, QoS};
use share_group::ShareGroup;
use std::time::Duration;
use times::TimeChecks;
use tokio::sync::watch;
use verify::{Registry, Verdict, verify};
use wardwatch_link::event_loop::{LinkEvent, spawn_event_loop};
use wardwatch_link::{Backoff, BrokerUrl, LinkError, TlsFiles, client_options};
use wardwatch_protocol::{Ack, Limits, SigningKey, Topic, TopicKind};

/// How the collector ingests.
#[derive(Debug, Clone)]
pub struct IngestSettings {
    /// Broker address.
    pub url: BrokerUrl,
    /// TLS files (with `mqtts://`).
    pub tls: TlsFiles,
    /// Stable MQTT client id (the broker keeps the persistent session under it).
    pub client_id: String,
    /// Topic filter; default every device of every institution.
    pub topic_filter: String,
    /// Shared-subscription group: several collectors with the same (secret) group split the messages.
    pub share_group: Option<ShareGroup>,
    /// Largest batch per transaction.
    pub batch_max: usize,
    /// How long to wait for more messages before committing a batch.
    pub linger: Duration,
    /// Message limits.
    pub limits: Limits,
    /// The time checks' settings (the longest presence interval).
    pub times: TimeChecks,
    /// Signs every ack (the boxes pin its public half).
    pub ack_key: SigningKey,
}

impl IngestSettings {
    /// Defaults for a broker URL and an ack key: every device, client id `wardwatch-collector`, batches
    /// of up to 500 messages lingering 5 ms, presence intervals up to [`times::DEFAULT_MAX_INTERVAL`].
    pub fn new(url: BrokerUrl, ack_key: SigningKey) -> Self {
        IngestSettings {
            url,
            tls: TlsFiles::default(),
            client_id: "wardwatch-collector".into(),
            topic_filter: Topic::all_devices_filter(),
            share_group: None,
            batch_max: 500,
            linger: Duration::from_millis(5),
            limits: Limits::default(),
            times: TimeChecks::default(),
            ack_key,
        }
    }

    /// The filter actually subscribed to (with the `$share/` prefix when a group is set).
    pub fn subscription(&self) -> String {
        match &self.share_group {
            Some(group) => format!("$share/{}/{}", group.as_str(), self.topic_filter),
            None => self.topic_filter.clone(),
        }
    }
}

/// Ingest could not start.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The connection settings are unusable.
    #[error(transparent)]
    Link(#[from] LinkError),
    /// The database failed at start-up.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Counts of what one ingest run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IngestCounts {
    /// New events stored.
    pub stored: u64,
    /// Exact resends dropped.
    pub duplicates: u64,
    /// Messages quarantined.
    pub quarantined: u64,
    /// Batches committed.
    pub batches: u64,
}

/// Runs ingest until `shutdown` turns true.
pub async fn run_ingest(
    settings: IngestSettings,
    store: Store,
    mut shutdown: watch::Receiver<bool>,
) -> Result<IngestCounts, IngestError> {
    let mut options = client_options(
        &settings.client_id,
        &settings.url,
        &settings.tls,
        Duration::from_secs(30),
    )?;
    options.set_manual_acks(true);
    let (client, eventloop) = AsyncClient::new(options, 4096);
    let (mut rx, poller) = spawn_event_loop(eventloop, settings.url.to_string(), 4096);

    let subscription = settings.subscription();
    let mut registry = Registry::new();
    let mut cache = ChainCache::new();
    let mut counts = IngestCounts::default();
    'outer: loop {
        let first = tokio::select! {
            _ = shutdown.changed() => {
                if *shutdown.borrow() { break; }
                continue;
            }
            event = rx.recv() => match event {
                None => break,
                Some(event) => event,
            },
        };
        let mut batch = Vec::new();
        match first {
            LinkEvent::Disconnected => continue,
            LinkEvent::Connected { .. } => {
                // Always re-subscribe: a broker restarted without persistence forgot us.
                if let Err(e) = client
                    .subscribe(subscription.as_str(), QoS::AtLeastOnce)
                    .await
                {
                    tracing::error!(error = %e, "could not queue the subscription");
                }
                continue;
            }
            LinkEvent::Message(p) => batch.push(p),
        }
        let deadline = tokio::time::Instant::now() + settings.linger;
        while batch.len() < settings.batch_max {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(LinkEvent::Message(p))) => batch.push(p),
                Ok(Some(LinkEvent::Disconnected)) => {}
                Ok(Some(LinkEvent::Connected { .. })) => {
                    if let Err(e) = client
                        .subscribe(subscription.as_str(), QoS::AtLeastOnce)
                        .await
                    {
                        tracing::error!(error = %e, "could not queue the subscription");
                    }
                }
                Ok(None) | Err(_) => break,
            }
        }

        // Commit, retrying on database errors; nothing is acknowledged until it is stored.
        let mut retry = Backoff::new(Duration::from_millis(200), Duration::from_secs(10));
        let outcome = loop {
            match process(&batch, &settings, &mut registry, &store, &cache).await {
                Ok(done) => break done,
                Err(e) => {
                    tracing::error!(error = %e, messages = batch.len(), "batch not committed; will retry");
                    tokio::select! {
                        _ = tokio::time::sleep(retry.next_delay()) => {}
                        _ = shutdown.changed() => {
                            if *shutdown.borrow() { break 'outer; }
                        }
                    }
                }
            }
        };
        counts.batches += 1;
        let mut batch_counts = IngestCounts::default();
        let mut reasons = Vec::new();
        for fate in &outcome.fates {
            match fate {
                Fate::Stored => batch_counts.stored += 1,
                Fate::Duplicate => batch_counts.duplicates += 1,
                Fate::Quarantined(reason) => {
                    batch_counts.quarantined += 1;
                    reasons.push(reason.as_str());
                }
            }
        }
        counts.stored += batch_counts.stored;
        counts.duplicates += batch_counts.duplicates;
        counts.quarantined += batch_counts.quarantined;
        crate::metrics::events_ingested(batch_counts.stored, batch_counts.duplicates, &reasons);
        if batch_counts.stored > 0 {
            for (_, _, _, sent_at) in &outcome.last_hashes {
                crate::metrics::ingest_lag(sent_at.millis());
            }
        }
        for (device, seq, hash, sent_at) in outcome.last_hashes {
            let entry = cache.entry(device).or_insert((seq, hash, sent_at));
            if seq >= entry.0 {
                *entry = (seq, hash, sent_at);
            }
        }
        for publish in &batch {
            if let Err(e) = client.ack(publish).await {
                tracing::warn!(error = %e, "could not queue a broker acknowledgement");
            }
        }
        for (device, seq) in outcome.acks {
            let Some(registered) = registry.cached(&device) else {
                continue;
            };
            let topic = Topic::new(
                registered.institution_code.clone(),
                device.clone(),
                TopicKind::Ack,
            );
            let ack = Ack::new(device, seq).to_signed_wire(&settings.ack_key);
            if let Err(e) = client
                .publish(topic.to_string(), QoS::AtLeastOnce, true, ack)
                .await
            {
                tracing::warn!(error = %e, "could not queue a device acknowledgement");
            }
        }
    }
    let _ = client.try_disconnect();
    tokio::time::sleep(Duration::from_millis(50)).await;
    poller.abort();
    tracing::info!(
        stored = counts.stored,
        duplicates = counts.duplicates,
        quarantined = counts.quarantined,
        batches = counts.batches,
        "ingest stopped"
    );
    Ok(counts)
}

/// Verifies and stores one batch.
async fn process(
    batch: &[Publish],
    settings: &IngestSettings,
    registry: &mut Registry,
    store: &Store,
    cache: &ChainCache,
) -> Result<BatchOutcome, StoreError> {
    let mut records = Vec::with_capacity(batch.len());
    for publish in batch {
        let verdict = verify(
            &publish.topic,
            &publish.payload,
            &settings.limits,
            &settings.times,
            registry,
            store,
        )
        .await?;
        match verdict {
            Verdict::Ignore => {}
            Verdict::Status { device, status } => {
                store
                    .record_status(&device, &status, publish.retain)
                    .await?
            }
            Verdict::Record(incoming) => records.push(incoming),
        }
    }
    store.ingest_batch(&records, cache).await
}
