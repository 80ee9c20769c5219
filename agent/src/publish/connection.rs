//! The agent's MQTT connection: a task that drives rumqttc's event loop, reconnects with back-off, and
//! reports what matters (connected, disconnected, messages) on a channel.

use super::{PublishError, PublishSettings};
use rumqttc::{AsyncClient, Event, Outgoing, Packet};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use wardwatch_link::{Backoff, client_options};

/// Requests the client may queue before `try_publish` reports the queue full.
const REQUEST_QUEUE: usize = 512;

/// What the event loop saw.
#[derive(Debug)]
pub enum NetEvent {
    /// The broker accepted the connection.
    Connected {
        /// Whether the broker still had our persistent session.
        session_present: bool,
    },
    /// The connection failed or dropped; the task is backing off before retrying.
    Disconnected,
    /// A message on a subscribed topic.
    Message {
        /// Its topic.
        topic: String,
        /// Its payload.
        payload: Vec<u8>,
    },
}

/// A running connection: the client to publish with and the events of its loop.
pub struct Connection {
    /// Queues publishes and subscriptions.
    pub client: AsyncClient,
    events: mpsc::Receiver<NetEvent>,
    task: JoinHandle<()>,
}

impl Connection {
    /// Starts the event loop task.
    pub fn start(settings: &PublishSettings) -> Result<Connection, PublishError> {
        let options = client_options(
            &settings.client_id,
            &settings.url,
            &settings.tls,
            settings.keep_alive,
        )?;
        let (client, mut eventloop) = AsyncClient::new(options, REQUEST_QUEUE);
        let (tx, events) = mpsc::channel(1024);
        let url = settings.url.to_string();
        let task = tokio::spawn(async move {
            let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(5));
            let mut down_since_logged = false;
            loop {
                let event = match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                        backoff.reset();
                        down_since_logged = false;
                        tracing::info!(%url, session_present = ack.session_present, "connected to broker");
                        NetEvent::Connected {
                            session_present: ack.session_present,
                        }
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => NetEvent::Message {
                        topic: p.topic,
                        payload: p.payload.to_vec(),
                    },
                    // We asked to leave: the closed connection that follows is not an outage.
                    Ok(Event::Outgoing(Outgoing::Disconnect)) => return,
                    Ok(_) => continue,
                    Err(e) => {
                        if !down_since_logged {
                            tracing::warn!(%url, error = %e, "broker connection lost; retrying with back-off");
                            down_since_logged = true;
                        }
                        if tx.send(NetEvent::Disconnected).await.is_err() {
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
        Ok(Connection {
            client,
            events,
            task,
        })
    }

    /// The next event of the loop (`None` if the task ended).
    pub async fn next(&mut self) -> Option<NetEvent> {
        self.events.recv().await
    }

    /// Disconnects politely (best effort) and ends the task.
    pub async fn stop(self) {
        let _ = self.client.try_disconnect();
        tokio::time::sleep(Duration::from_millis(50)).await;
        self.task.abort();
    }
}
