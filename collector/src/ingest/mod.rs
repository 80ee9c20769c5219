//! Ingest: from the broker to committed rows, then acknowledgements both ways.
//!
//! 1. Subscribe (QoS 1, manual acks) to the device topics, one filter per kind devices publish
//!    ([`subscription`]: not the collector's own acks and galleries) — or to `$share/{group}/…` so
//!    several collectors share the load, the group a secret ([`share_group`]) — again on every
//!    (re)connection. Alone, the collector keeps a persistent session (the broker queues for it while
//!    it restarts); in a share group it does not ([`IngestSettings::mqtt_options`]).
//! 2. Gather messages into a batch (up to `batch_max`, waiting at most `linger` for more).
//! 3. [`verify`] each one (including what it says about time, [`times`]), then write the batch in one
//!    transaction ([`crate::store::ingest`]). The two overlap: the next batch is gathered and verified
//!    while the last one commits.
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
pub mod subscription;
pub mod test_data;
pub mod times;
pub mod verify;

use crate::store::ingest::{ChainCache, Fate, Incoming};
use crate::store::{Store, StoreError};
use rumqttc::{AsyncClient, Publish, QoS, SubscribeFilter};
use share_group::ShareGroup;
use std::collections::HashMap;
use std::time::Duration;
use times::TimeChecks;
use tokio::sync::{mpsc, watch};
use verify::{Registry, Verdict, verify};
use wardwatch_link::event_loop::{LinkEvent, spawn_event_loop};
use wardwatch_link::{Backoff, BrokerUrl, LinkError, TlsFiles, client_options};
use wardwatch_protocol::{Ack, DeviceId, InstitutionCode, Limits, SigningKey, Topic, TopicKind};

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

    /// The filters actually subscribed to (with the `$share/` prefix when a group is set), and the
    /// catch-all they replace ([`subscription`]).
    pub fn subscriptions(&self) -> subscription::Subscriptions {
        subscription::subscriptions(&self.topic_filter, self.share_group.as_ref())
    }

    /// The MQTT options ingest connects with: manual acks (PUBACK only after the commit), and a
    /// persistent session only for a collector on its own.
    ///
    /// In a `$share` group a persistent session is a trap: Mosquitto (and EMQX) go on handing a
    /// disconnected member's persistent session its turn of the group's messages, queued until it
    /// returns. A SIGKILLed or crashed collector then swallows every third message of a three-member
    /// group; the boxes re-send what is not acknowledged, but the broker's round robin can hand the
    /// same message to the dead session on every resend (seen on CI: the last 24 events of a box
    /// re-sent for minutes, never stored). With a clean session the broker drops a member from the
    /// group the moment its connection ends and the survivors take everything; what the dead member
    /// held unacknowledged is re-sent by the boxes, which keep every event until it is acknowledged.
    pub fn mqtt_options(&self) -> Result<rumqttc::MqttOptions, LinkError> {
        let mut options = client_options(
            &self.client_id,
            &self.url,
            &self.tls,
            Duration::from_secs(30),
        )?;
        options
            .set_manual_acks(true)
            .set_clean_session(self.share_group.is_some());
        Ok(options)
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

/// A verified batch on its way to the database: the messages (acknowledged to the broker after the
/// commit) and what to store of them.
struct Verified {
    batch: Vec<Publish>,
    records: Vec<Incoming>,
}

/// Messages the connection's task may hold for the verifying stage (see [`run_ingest`]).
const EVENT_BUFFER: usize = 1 << 16;

/// What to acknowledge after a commit: the messages to the broker, and each device's signed ack
/// (topic, payload), published retained.
struct Acks {
    broker: Vec<Publish>,
    devices: Vec<(String, Vec<u8>)>,
}

/// Runs ingest until `shutdown` turns true.
///
/// Three tasks: one gathers the next batch and verifies it (decoding, hashes, signatures: CPU) while
/// this one commits the batch before it (the database); a third hands the acknowledgements of
/// committed batches to the MQTT client. At most one verified batch waits between the first two. The
/// committing task never waits on the MQTT client: when the client's request queue is full, only
/// the third task waits, while the first keeps taking messages off the connection — otherwise the
/// connection's task, blocked handing over a message, would stop draining the very queue the
/// acknowledgements wait on (measured: ingest stalled for good after ~3,000 events from 2,000
/// boxes, and the broker dropped the collector for a missed keep-alive). What waits in between is
/// bounded by what the broker sends unacknowledged (its in-flight window).
pub async fn run_ingest(
    settings: IngestSettings,
    store: Store,
    mut shutdown: watch::Receiver<bool>,
) -> Result<IngestCounts, IngestError> {
    let options = settings.mqtt_options()?;
    let (client, eventloop) = AsyncClient::new(options, 4096);
    // The connection's task must never wait for us to take a message: while it waits it stops
    // polling, sends no keep-alive, and the broker drops the collector (measured: with two collectors
    // waiting on each other's device rows, both were dropped after 45 s and ingest stalled). What it
    // holds is bounded by the broker's in-flight window (we acknowledge only after the commit), far
    // below this capacity.
    let (rx, poller) = spawn_event_loop(eventloop, settings.url.to_string(), EVENT_BUFFER);
    let (verified_tx, mut verified_rx) = mpsc::channel::<Verified>(1);
    let verifier = tokio::spawn(gather_and_verify(
        settings.clone(),
        store.clone(),
        client.clone(),
        rx,
        verified_tx,
        shutdown.clone(),
    ));

    let (acks_tx, acks_rx) = mpsc::unbounded_channel::<Acks>();
    let acker = tokio::spawn(send_acks(client.clone(), acks_rx));

    let mut cache = ChainCache::new();
    let mut counts = IngestCounts::default();
    'outer: loop {
        let Verified { batch, records } = tokio::select! {
            _ = shutdown.changed() => {
                if *shutdown.borrow() { break; }
                continue;
            }
            verified = verified_rx.recv() => match verified {
                None => break,
                Some(verified) => verified,
            },
        };

        // Commit, retrying on database errors; nothing is acknowledged until it is stored.
        let mut retry = Backoff::new(Duration::from_millis(200), Duration::from_secs(10));
        let outcome = loop {
            match store.ingest_batch(&records, &cache).await {
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
        // A device's events were verified as its registered institution's: their topic is its ack's.
        let institutions: HashMap<&DeviceId, &InstitutionCode> = records
            .iter()
            .filter_map(|r| match r {
                Incoming::Event { event, .. } => Some((&event.device_id, &event.institution_code)),
                Incoming::Rejected(_) => None,
            })
            .collect();
        let mut device_acks = Vec::with_capacity(outcome.acks.len());
        for (device, seq) in outcome.acks {
            let Some(institution) = institutions.get(&device) else {
                continue;
            };
            let topic = Topic::new((*institution).clone(), device.clone(), TopicKind::Ack);
            let ack = Ack::new(device, seq).to_signed_wire(&settings.ack_key);
            device_acks.push((topic.to_string(), ack));
        }
        if acks_tx
            .send(Acks {
                broker: batch,
                devices: device_acks,
            })
            .is_err()
        {
            break;
        }
    }
    verifier.abort();
    acker.abort();
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

/// Hands acknowledgements to the MQTT client, in commit order: first the broker's PUBACKs, then the
/// devices' acks.
async fn send_acks(client: AsyncClient, mut rx: mpsc::UnboundedReceiver<Acks>) {
    // The client fails only once its connection's task is gone (ingest is stopping): say so once.
    while let Some(acks) = rx.recv().await {
        for publish in &acks.broker {
            if let Err(e) = client.ack(publish).await {
                tracing::warn!(error = %e, "could not queue broker acknowledgements; stopping them");
                return;
            }
        }
        for (topic, ack) in acks.devices {
            if let Err(e) = client.publish(topic, QoS::AtLeastOnce, true, ack).await {
                tracing::warn!(error = %e, "could not queue device acknowledgements; stopping them");
                return;
            }
        }
    }
}

/// The first stage: gathers batches (up to `batch_max`, lingering at most `linger` for more),
/// subscribes again on every (re)connection, verifies each batch (retrying on database errors) and
/// hands it on, until `shutdown`, the connection's end or the committing stage's.
async fn gather_and_verify(
    settings: IngestSettings,
    store: Store,
    client: AsyncClient,
    mut rx: mpsc::Receiver<LinkEvent>,
    out: mpsc::Sender<Verified>,
    mut shutdown: watch::Receiver<bool>,
) {
    let subscriptions = settings.subscriptions();
    let subscribe = async |client: &AsyncClient| {
        // Always re-subscribe: a broker restarted without persistence forgot us.
        let filters = subscriptions
            .filters
            .iter()
            .map(|f| SubscribeFilter::new(f.clone(), QoS::AtLeastOnce));
        if let Err(e) = client.subscribe_many(filters).await {
            tracing::error!(error = %e, "could not queue the subscription");
        }
        // A session an older collector left holds the catch-all, which would deliver all twice.
        if let Some(replaced) = &subscriptions.replaced
            && let Err(e) = client.unsubscribe(replaced.as_str()).await
        {
            tracing::error!(error = %e, "could not queue the unsubscription");
        }
    };
    let mut registry = Registry::new();
    loop {
        let first = tokio::select! {
            _ = shutdown.changed() => {
                if *shutdown.borrow() { return; }
                continue;
            }
            event = rx.recv() => match event {
                None => return,
                Some(event) => event,
            },
        };
        let mut batch = Vec::new();
        match first {
            LinkEvent::Disconnected => continue,
            LinkEvent::Connected { .. } => {
                subscribe(&client).await;
                continue;
            }
            LinkEvent::Message(p) => batch.push(p),
        }
        let deadline = tokio::time::Instant::now() + settings.linger;
        while batch.len() < settings.batch_max {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(LinkEvent::Message(p))) => batch.push(p),
                Ok(Some(LinkEvent::Disconnected)) => {}
                Ok(Some(LinkEvent::Connected { .. })) => subscribe(&client).await,
                Ok(None) | Err(_) => break,
            }
        }
        let mut retry = Backoff::new(Duration::from_millis(200), Duration::from_secs(10));
        let records = loop {
            match verify_batch(&batch, &settings, &mut registry, &store).await {
                Ok(records) => break records,
                Err(e) => {
                    tracing::error!(error = %e, messages = batch.len(), "batch not verified; will retry");
                    tokio::select! {
                        _ = tokio::time::sleep(retry.next_delay()) => {}
                        _ = shutdown.changed() => {
                            if *shutdown.borrow() { return; }
                        }
                    }
                }
            }
        };
        if out.send(Verified { batch, records }).await.is_err() {
            return;
        }
    }
}

/// Verifies one batch: what to store (events and quarantined messages); devices' statuses are
/// recorded on the way.
async fn verify_batch(
    batch: &[Publish],
    settings: &IngestSettings,
    registry: &mut Registry,
    store: &Store,
) -> Result<Vec<Incoming>, StoreError> {
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
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> IngestSettings {
        let url: BrokerUrl = "mqtt://127.0.0.1:1883".parse().expect("url");
        IngestSettings::new(url, SigningKey::from_bytes(&[7; 32]))
    }

    #[test]
    fn a_collector_on_its_own_keeps_a_persistent_session() {
        let options = settings().mqtt_options().expect("options");
        assert!(!options.clean_session());
        assert!(options.manual_acks());
    }

    #[test]
    fn a_share_group_member_keeps_no_session_a_dead_member_could_swallow_messages_into() {
        let mut settings = settings();
        settings.share_group = Some(
            "0123456789abcdef0123456789abcdef"
                .parse()
                .expect("share group"),
        );
        let options = settings.mqtt_options().expect("options");
        assert!(options.clean_session());
        assert!(options.manual_acks());
    }
}
