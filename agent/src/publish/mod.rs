//! Publish: sending spooled events to the broker and retiring them when the collector acknowledges.
//!
//! - Events go out in `seq` order with QoS 1 on a persistent session, at most `window` beyond the last
//!   acknowledged one.
//! - The collector's retained ack on `…/{device}/ack` carries the highest contiguous seq it has
//!   committed; everything up to it is deleted from the spool, if the ack passes [`ack::judge_ack`]
//!   (signed by a pinned collector ack key, for this device, forward, within the spool's tip).
//! - If the ack does not advance for `resend_after` while events are outstanding, or the broker lost the
//!   session, everything unacknowledged is sent again (the collector drops duplicates by `event_id`).
//!   This covers brokers that drop queued messages or restart without persistence. Each re-send that
//!   brings no progress doubles the wait (up to [`RESEND_MAX_FACTOR`] × `resend_after`), stretched per
//!   box ([`wardwatch_link::resend`]), so a fleet reconnecting together does not re-send its windows
//!   together again and again.
//! - The MQTT event loop runs in its own task ([`connection`]), reconnecting with back-off.
//! - On each connection the agent says `online` on `…/status` (retained); its last will says `offline`.
//!   Heartbeats (`health`) are published retained, so the latest is always on the broker.
//! - The bureau's signed gallery arrives retained on `…/gallery` and is handed, unverified, to
//!   [`crate::gallery`].

pub mod ack;
pub mod config;
pub mod connection;

use crate::spool::{Spool, SpoolError};
use ack::{AckDecision, AckRefused, judge_ack};
use connection::Connection;
use rumqttc::{ClientError, QoS};
use std::sync::Arc;
use std::time::Duration;
use std::time::Instant;
use tokio::sync::watch;
use wardwatch_link::event_loop::LinkEvent;
use wardwatch_link::resend::ResendClock;
use wardwatch_link::{BrokerUrl, LinkError, TlsFiles};
use wardwatch_protocol::{
    DeviceId, DeviceStatus, InstitutionCode, PinnedKeys, Timestamp, Topic, TopicKind,
};

/// What the publisher needs to know.
#[derive(Debug, Clone)]
pub struct PublishSettings {
    /// The device's identity (for topics and to check acks).
    pub device_id: DeviceId,
    /// The device's institution (for topics).
    pub institution_code: InstitutionCode,
    /// Stable MQTT client id.
    pub client_id: String,
    /// Broker address.
    pub url: BrokerUrl,
    /// TLS files (with `mqtts://`).
    pub tls: TlsFiles,
    /// MQTT keep-alive.
    pub keep_alive: Duration,
    /// Re-send unacknowledged events after this long without ack progress.
    pub resend_after: Duration,
    /// Events published beyond the last acknowledged one, at most.
    pub window: u64,
    /// The collector's ack key(s): only acks they signed retire events.
    pub ack_keys: PinnedKeys,
}

/// The longest wait between re-sends without progress, as a multiple of `resend_after`.
pub const RESEND_MAX_FACTOR: u32 = 10;

/// The publisher stopped on an error it cannot ride out.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The spool failed.
    #[error(transparent)]
    Spool(#[from] SpoolError),
    /// The connection cannot be configured (bad TLS files, …).
    #[error(transparent)]
    Link(#[from] LinkError),
}

/// Topic strings for each kind, computed once.
struct Topics {
    by_kind: Vec<(TopicKind, String)>,
    ack: String,
    gallery: String,
    status: String,
}

impl Topics {
    fn new(settings: &PublishSettings) -> Self {
        let topic = |kind| {
            Topic::new(
                settings.institution_code.clone(),
                settings.device_id.clone(),
                kind,
            )
            .to_string()
        };
        Topics {
            by_kind: TopicKind::ALL.iter().map(|k| (*k, topic(*k))).collect(),
            ack: topic(TopicKind::Ack),
            gallery: topic(TopicKind::Gallery),
            status: topic(TopicKind::Status),
        }
    }

    fn for_kind(&self, kind: TopicKind) -> &str {
        self.by_kind
            .iter()
            .find(|(k, _)| *k == kind)
            .map_or(self.ack.as_str(), |(_, t)| t.as_str())
    }
}

/// Runs until `shutdown` turns true. `tip` announces newly committed events; `acked` reports the
/// collector's acknowledgements as they arrive; galleries received go to `galleries`.
pub async fn run_publisher(
    settings: PublishSettings,
    spool: Arc<Spool>,
    mut tip: watch::Receiver<u64>,
    acked_out: watch::Sender<u64>,
    galleries: tokio::sync::mpsc::Sender<Vec<u8>>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), PublishError> {
    let topics = Topics::new(&settings);
    let mut connection = Connection::start(&settings, &topics.status)?;
    let mut acked = spool.acked()?;
    acked_out.send_replace(acked);
    let mut cursor = acked + 1;
    let mut connected = false;
    let mut resend = ResendClock::new(
        settings.resend_after,
        settings.resend_after.saturating_mul(RESEND_MAX_FACTOR),
        &settings.client_id,
        Instant::now(),
    );
    let mut ticker = tokio::time::interval(Duration::from_millis(100));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);

    loop {
        tokio::select! {
            _ = shutdown.changed() => {
                if *shutdown.borrow() {
                    break;
                }
            }
            net = connection.next() => match net {
                None => break,
                Some(LinkEvent::Connected { session_present }) => {
                    connected = true;
                    for topic in [&topics.ack, &topics.gallery] {
                        if let Err(e) = connection.client.try_subscribe(topic.as_str(), QoS::AtLeastOnce) {
                            tracing::warn!(error = %e, %topic, "could not queue a subscription");
                        }
                    }
                    let online = DeviceStatus::online(Timestamp::now()).to_wire();
                    if let Err(e) = connection.client.try_publish(topics.status.as_str(), QoS::AtLeastOnce, true, online) {
                        tracing::warn!(error = %e, "could not queue the online status");
                    }
                    if !session_present && cursor > acked + 1 {
                        tracing::info!(from = acked + 1, "broker has no session for us: re-sending unacknowledged events");
                        cursor = acked + 1;
                    }
                    resend.restart(Instant::now());
                }
                Some(LinkEvent::Disconnected) => connected = false,
                Some(LinkEvent::Message(message)) => {
                    let (topic, payload) = (message.topic, message.payload);
                    if topic == topics.gallery {
                        if galleries.try_send(payload.to_vec()).is_err() {
                            tracing::warn!("a gallery arrived while the last one is still being checked; the broker keeps it retained");
                        }
                        continue;
                    }
                    if topic != topics.ack {
                        tracing::warn!(%topic, "message on a topic the agent did not subscribe to");
                        continue;
                    }
                    match judge_ack(&payload, &settings.ack_keys, &settings.device_id, acked, spool.tip()?.seq) {
                        Ok(AckDecision::Advance(seq)) => {
                            acked = spool.ack(seq)?;
                            acked_out.send_replace(acked);
                            resend.progress(Instant::now());
                            cursor = cursor.max(acked + 1);
                        }
                        Ok(AckDecision::Unchanged) => {}
                        // Collectors sharing the load may publish their acks out of order: harmless.
                        Err(refused @ AckRefused::Backwards { .. }) => tracing::debug!(reason = %refused, "ack refused; nothing deleted"),
                        Err(refused) => tracing::warn!(reason = %refused, "ack refused; nothing deleted"),
                    }
                }
            },
            _ = tip.changed() => {}
            _ = ticker.tick() => {
                let waited = resend.wait();
                if cursor > acked + 1 && resend.due(Instant::now()) {
                    tracing::info!(
                        from = acked + 1,
                        to = cursor - 1,
                        next_wait = ?resend.wait(),
                        "no acknowledgement for {waited:?}: re-sending"
                    );
                    cursor = acked + 1;
                }
            }
        }
        if connected {
            let head = *tip.borrow();
            if cursor == acked + 1 && cursor <= head {
                // Nothing was outstanding: the resend clock starts now.
                resend.restart(Instant::now());
            }
            cursor = send_pending(
                &connection,
                &spool,
                &topics,
                cursor,
                acked,
                head,
                settings.window,
            )?;
        }
    }
    connection.stop(&topics.status).await;
    Ok(())
}

/// Queues events from `cursor` up to `head` (within the window) for publishing; returns the new cursor.
/// Stops early, without error, when the client's request queue is full.
fn send_pending(
    connection: &Connection,
    spool: &Spool,
    topics: &Topics,
    mut cursor: u64,
    acked: u64,
    head: u64,
    window: u64,
) -> Result<u64, SpoolError> {
    let limit = head.min(acked.saturating_add(window));
    while cursor <= limit {
        let batch = spool.read_from(cursor, 256)?;
        if batch.is_empty() {
            break;
        }
        for event in batch {
            if event.seq > limit {
                return Ok(cursor);
            }
            // The latest heartbeat stays on the broker for whoever looks.
            let retain = event.kind == TopicKind::Health;
            match connection.client.try_publish(
                topics.for_kind(event.kind),
                QoS::AtLeastOnce,
                retain,
                event.wire,
            ) {
                Ok(()) => cursor = event.seq + 1,
                Err(ClientError::TryRequest(_)) | Err(ClientError::Request(_)) => {
                    return Ok(cursor);
                }
            }
        }
    }
    Ok(cursor)
}
