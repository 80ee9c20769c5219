//! The agent's MQTT connection: the client to publish with, and the events of its loop (driven by
//! [`wardwatch_link::event_loop`]).

use super::{PublishError, PublishSettings};
use rumqttc::{AsyncClient, LastWill, QoS};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use wardwatch_link::client_options;
use wardwatch_link::event_loop::{LinkEvent, spawn_event_loop};
use wardwatch_protocol::DeviceStatus;

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
    /// Starts the event loop task, with `offline` on `status_topic` as the last will (retained).
    pub fn start(
        settings: &PublishSettings,
        status_topic: &str,
    ) -> Result<Connection, PublishError> {
        let mut options = client_options(
            &settings.client_id,
            &settings.url,
            &settings.tls,
            settings.keep_alive,
        )?;
        options.set_last_will(LastWill::new(
            status_topic,
            DeviceStatus::offline().to_wire(),
            QoS::AtLeastOnce,
            true,
        ));
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

    /// Says `offline` on `status_topic` (a polite disconnect does not fire the last will), disconnects
    /// (best effort) and ends the task.
    pub async fn stop(self, status_topic: &str) {
        let _ = self.client.try_publish(
            status_topic,
            QoS::AtLeastOnce,
            true,
            DeviceStatus::offline().to_wire(),
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
        let _ = self.client.try_disconnect();
        tokio::time::sleep(Duration::from_millis(50)).await;
        self.task.abort();
    }
}
