//! The agent's MQTT connection: the client to publish with, and the events of its loop (driven by
//! [`wardwatch_link::event_loop`]).

use super::{PublishError, PublishSettings};
use rumqttc::AsyncClient;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use wardwatch_link::client_options;
use wardwatch_link::event_loop::{LinkEvent, spawn_event_loop};

/// Requests the client may queue before `try_publish` reports the queue full.
const REQUEST_QUEUE: usize = 512;

/// A running connection.
pub struct Connection {
    /// Queues publishes and subscriptions.
    pub client: AsyncClient,
    events: mpsc::Receiver<LinkEvent>,
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
        let (client, eventloop) = AsyncClient::new(options, REQUEST_QUEUE);
        let (events, task) = spawn_event_loop(eventloop, settings.url.to_string(), 1024);
        Ok(Connection {
            client,
            events,
            task,
        })
    }

    /// The next event of the loop (`None` if the task ended).
    pub async fn next(&mut self) -> Option<LinkEvent> {
        self.events.recv().await
    }

    /// Disconnects politely (best effort) and ends the task.
    pub async fn stop(self) {
        let _ = self.client.try_disconnect();
        tokio::time::sleep(Duration::from_millis(50)).await;
        self.task.abort();
    }
}
