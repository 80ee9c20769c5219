//! The embedded MQTT broker (rumqttd), so that one machine runs everything with no external server.
//!
//! It keeps sessions in memory only: fine for a demo or a single-box pilot, where the agents' spools
//! and the collector's acks make up for a broker restart. Production deployments use Mosquitto or EMQX
//! (see deploy/).
//!
//! It authenticates no one, so it listens on loopback addresses only and refuses any other: boxes on
//! the network go through Mosquitto with mutual TLS and the per-device ACL (deploy/). It has two
//! listeners: the one clients use (`--listen-mqtt`), where a packet over [`DEVICE_MAX_PACKET_BYTES`]
//! (an event's 64 KiB limit plus room for the topic) is refused from its fixed header and the
//! connection closed, before its payload is read; and a second loopback listener for the collector's
//! own clients only, which allows [`MAX_PACKET_BYTES`] for the galleries it publishes.

use rumqttd::{Broker, Config, ConnectionSettings, RouterConfig, ServerSettings};
use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};
use wardwatch_link::MAX_PACKET_BYTES;
use wardwatch_protocol::Limits;

/// The largest packet the clients' listener reads: the collector's event limit plus 8 KiB for the
/// topic and MQTT headers (anything bigger would be quarantined as `oversized` anyway).
pub const DEVICE_MAX_PACKET_BYTES: usize = 64 * 1024 + 8 * 1024;

/// The broker could not start.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// The listen address is taken or not bindable.
    #[error("cannot listen for MQTT on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The broker did not accept connections in time.
    #[error("the embedded broker did not start listening on {0} within 10 s")]
    NotListening(SocketAddr),
    /// The broker thread could not be spawned.
    #[error("cannot start the broker thread: {0}")]
    Thread(std::io::Error),
    /// A listen address that is not loopback.
    #[error(
        "the embedded broker authenticates no one, so it listens on loopback only, not on {0}; \
         for ward boxes on the network run Mosquitto with mutual TLS (deploy/README.md)"
    )]
    NotLoopback(SocketAddr),
}

/// A running embedded broker (it lives until the process exits).
#[derive(Debug, Clone, Copy)]
pub struct EmbeddedBroker {
    /// Where clients connect (packets over [`DEVICE_MAX_PACKET_BYTES`] refused).
    pub addr: SocketAddr,
    /// Where the collector's own clients connect (packets up to [`MAX_PACKET_BYTES`], for galleries).
    pub collector_addr: SocketAddr,
}

fn server(name: &str, listen: SocketAddr, max_payload_size: usize) -> ServerSettings {
    ServerSettings {
        name: name.into(),
        listen,
        tls: None,
        next_connection_delay_ms: 1,
        connections: ConnectionSettings {
            connection_timeout_ms: 60_000,
            max_payload_size,
            max_inflight_count: 1000,
            auth: None,
            external_auth: None,
            dynamic_filters: true,
        },
    }
}

fn config(addr: SocketAddr, collector_addr: SocketAddr) -> Config {
    debug_assert!(Limits::default().max_payload_bytes < DEVICE_MAX_PACKET_BYTES);
    let servers = HashMap::from([
        (
            "clients".to_owned(),
            server("wardwatch-clients", addr, DEVICE_MAX_PACKET_BYTES),
        ),
        (
            "collector".to_owned(),
            server("wardwatch-collector", collector_addr, MAX_PACKET_BYTES),
        ),
    ]);
    Config {
        id: 0,
        router: RouterConfig {
            max_connections: 10_000,
            max_outgoing_packet_count: 200,
            max_segment_size: 100 * 1024 * 1024,
            max_segment_count: 10,
            ..RouterConfig::default()
        },
        v4: Some(servers),
        ..Config::default()
    }
}

/// Starts the broker on `addr` (loopback only) and, for the collector's own clients, on
/// `collector_addr` (loopback; `None`: a free port), and waits until both accept connections.
pub fn start_embedded(
    addr: SocketAddr,
    collector_addr: Option<SocketAddr>,
) -> Result<EmbeddedBroker, BrokerError> {
    let collector_addr = match collector_addr {
        Some(a) => a,
        None => free_loopback_addr().map_err(|source| BrokerError::Bind {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            source,
        })?,
    };
    for a in [addr, collector_addr] {
        if !a.ip().is_loopback() {
            return Err(BrokerError::NotLoopback(a));
        }
        // Bind first so that "address in use" is reported as such, not as a broker we then talk past.
        drop(TcpListener::bind(a).map_err(|source| BrokerError::Bind { addr: a, source })?);
    }
    let config = config(addr, collector_addr);
    std::thread::Builder::new()
        .name("rumqttd".into())
        .spawn(move || {
            let mut broker = Broker::new(config);
            if let Err(e) = broker.start() {
                tracing::error!(error = %e, "embedded broker stopped");
            }
        })
        .map_err(BrokerError::Thread)?;
    for a in [addr, collector_addr] {
        wait_listening(a)?;
    }
    tracing::info!(
        %addr,
        %collector_addr,
        max_packet_bytes = DEVICE_MAX_PACKET_BYTES,
        "embedded MQTT broker listening (loopback only)"
    );
    Ok(EmbeddedBroker {
        addr,
        collector_addr,
    })
}

fn wait_listening(addr: SocketAddr) -> Result<(), BrokerError> {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(10) {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Err(BrokerError::NotListening(addr))
}

/// A loopback address with a port that was free a moment ago.
pub fn free_loopback_addr() -> std::io::Result<SocketAddr> {
    TcpListener::bind("127.0.0.1:0")?.local_addr()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
    use tokio::sync::mpsc;

    /// A client whose incoming packets arrive on the receiver; the receiver closes when the broker
    /// ends the connection.
    fn client(name: &str, addr: SocketAddr) -> (AsyncClient, mpsc::UnboundedReceiver<Packet>) {
        let mut options = MqttOptions::new(name, addr.ip().to_string(), addr.port());
        options.set_max_packet_size(8 << 20, 8 << 20);
        let (client, mut eventloop) = AsyncClient::new(options, 10);
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(p)) => {
                        if tx.send(p).is_err() {
                            return;
                        }
                    }
                    Ok(_) => {}
                    // The broker closed the connection: stop (no reconnect), which closes `rx`.
                    Err(_) => return,
                }
            }
        });
        (client, rx)
    }

    async fn next_publish(rx: &mut mpsc::UnboundedReceiver<Packet>) -> Option<Vec<u8>> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
        loop {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(Packet::Publish(p))) => return Some(p.payload.to_vec()),
                Ok(Some(_)) => continue,
                Ok(None) | Err(_) => return None,
            }
        }
    }

    #[tokio::test]
    async fn an_oversized_publish_is_refused_and_never_delivered() {
        let broker = start_embedded(free_loopback_addr().unwrap(), None).unwrap();
        let (subscriber, mut inbox) = client("subscriber", broker.addr);
        subscriber
            .subscribe("wardwatch/v1/#", QoS::AtLeastOnce)
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;

        for size in [DEVICE_MAX_PACKET_BYTES + 1, 4 * 1024 * 1024] {
            let (attacker, mut attacker_rx) = client(&format!("attacker-{size}"), broker.addr);
            attacker
                .publish(
                    "wardwatch/v1/H43060200175/box-1/presence",
                    QoS::AtLeastOnce,
                    false,
                    vec![b'x'; size],
                )
                .await
                .unwrap();
            // The broker closes the attacker's connection without a PUBACK...
            let mut acked = false;
            while let Ok(Some(packet)) =
                tokio::time::timeout(Duration::from_secs(5), attacker_rx.recv()).await
            {
                acked |= matches!(packet, Packet::PubAck(_));
            }
            assert!(!acked, "a {size}-byte publish was acknowledged");
            // ...and delivers nothing of it.
            assert_eq!(
                next_publish(&mut inbox).await,
                None,
                "{size} bytes delivered"
            );
        }

        // An event-sized publish still goes through, on a fresh connection; and the collector's own
        // listener takes a gallery-sized one.
        for (name, addr, kind, size) in [
            ("sender", broker.addr, "presence", 60 * 1024),
            ("collector", broker.collector_addr, "gallery", 1024 * 1024),
        ] {
            let (sender, _rx) = client(name, addr);
            let payload = vec![b'y'; size];
            let topic = format!("wardwatch/v1/H43060200175/box-1/{kind}");
            sender
                .publish(topic, QoS::AtLeastOnce, false, payload.clone())
                .await
                .unwrap();
            assert_eq!(next_publish(&mut inbox).await, Some(payload), "{name}");
        }
    }

    #[test]
    fn a_non_loopback_address_is_refused() {
        let err = start_embedded("0.0.0.0:18831".parse().unwrap(), None).unwrap_err();
        assert!(matches!(err, BrokerError::NotLoopback(_)), "{err}");
        assert!(err.to_string().contains("loopback"), "{err}");
        let err = start_embedded(
            free_loopback_addr().unwrap(),
            Some("0.0.0.0:18832".parse().unwrap()),
        )
        .unwrap_err();
        assert!(matches!(err, BrokerError::NotLoopback(_)), "{err}");
    }
}
