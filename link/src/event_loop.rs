//! Driving rumqttc's event loop in its own task: reconnect with back-off, report what matters on a
//! channel (connected, disconnected, messages), and stop quietly after a requested disconnect.

use crate::Backoff;
use rumqttc::{Event, EventLoop, Outgoing, Packet, Publish, SubscribeReasonCode};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// What the event loop saw.
#[derive(Debug)]
pub enum LinkEvent {
    /// The broker accepted the connection.
    Connected {
        /// Whether the broker still had our persistent session.
        session_present: bool,
    },
    /// The connection failed or dropped; the task backs off before retrying.
    Disconnected,
    /// A message on a subscribed topic.
    Message(Publish),
}

/// Spawns the task that polls `eventloop`; events arrive on the returned channel. `url` is for logs.
pub fn spawn_event_loop(
    mut eventloop: EventLoop,
    url: String,
    capacity: usize,
) -> (mpsc::Receiver<LinkEvent>, JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(capacity);
    let task = tokio::spawn(async move {
        let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(5));
        let mut outage_logged = false;
        loop {
            let event = match eventloop.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                    backoff.reset();
                    outage_logged = false;
                    tracing::info!(%url, session_present = ack.session_present, "connected to broker");
                    LinkEvent::Connected {
                        session_present: ack.session_present,
                    }
                }
                Ok(Event::Incoming(Packet::Publish(p))) => LinkEvent::Message(p),
                // A broker refuses a subscription its ACL does not allow (SUBACK 0x80) and keeps the
                // connection: without this log nothing would ever say why no message arrives.
                Ok(Event::Incoming(Packet::SubAck(ack)))
                    if ack.return_codes.contains(&SubscribeReasonCode::Failure) =>
                {
                    tracing::error!(
                        %url,
                        pkid = ack.pkid,
                        "the broker refused a subscription: check its ACL for this client's \
                         username (with mutual TLS, the certificate's CN)"
                    );
                    continue;
                }
                // We asked to leave: the closed connection that follows is not an outage.
                Ok(Event::Outgoing(Outgoing::Disconnect)) => return,
                Ok(_) => continue,
                Err(e) => {
                    if !outage_logged {
                        tracing::warn!(%url, error = %e, "broker connection lost; retrying with back-off");
                        outage_logged = true;
                    }
                    if tx.send(LinkEvent::Disconnected).await.is_err() {
                        return;
                    }
                    tokio::time::sleep(backoff.next_delay()).await;
                    continue;
                }
            };
            if tx.send(event).await.is_err() {
                return;
            }
        }
    });
    (rx, task)
}
