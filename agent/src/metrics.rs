//! The ward box's figures for Prometheus, on a local port it can be asked for (`[metrics] listen =
//! "127.0.0.1:9464"`, off by default): events sealed by kind, each camera's current state, the spool's
//! depth, size, tip and acknowledged seq, acks received. A handful of counters, so the listener is a
//! plain TCP loop answering `GET /metrics` (and 404 to anything else), with no HTTP crate on the box.
//! No figure carries a person or an image; camera ids are the box's own names for its cameras.

use crate::spool::Spool;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::net::SocketAddr;
use std::sync::{Arc, LazyLock};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::watch;
use wardwatch_protocol::{CameraState, Payload};

/// `[metrics]` in agent.toml.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// Where to answer `GET /metrics` (e.g. `127.0.0.1:9464`); none: off.
    pub listen: Option<SocketAddr>,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Kind {
    kind: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CameraLabel {
    camera: String,
    state: String,
}

struct Metrics {
    registry: Registry,
    sealed: Family<Kind, Counter>,
    camera_state: Family<CameraLabel, Gauge>,
    spool_depth: Gauge,
    spool_bytes: Gauge,
    spool_tip: Gauge,
    spool_acked: Gauge,
}

static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    let mut registry = Registry::with_prefix("wardwatch_agent");
    let sealed = Family::<Kind, Counter>::default();
    registry.register(
        "events_sealed",
        "Events sealed by this box, by kind",
        sealed.clone(),
    );
    let camera_state = Family::<CameraLabel, Gauge>::default();
    registry.register(
        "camera_state",
        "1 for each camera's current state (ok, offline, obstructed, frozen, moved)",
        camera_state.clone(),
    );
    let spool_depth = Gauge::default();
    registry.register(
        "spool_depth",
        "Events sealed and not yet acknowledged by the collector",
        spool_depth.clone(),
    );
    let spool_bytes = Gauge::default();
    registry.register(
        "spool_bytes",
        "Bytes of unacknowledged events",
        spool_bytes.clone(),
    );
    let spool_tip = Gauge::default();
    registry.register("spool_tip_seq", "The last sealed seq", spool_tip.clone());
    let spool_acked = Gauge::default();
    registry.register(
        "spool_acked_seq",
        "The last seq the collector acknowledged",
        spool_acked.clone(),
    );
    Metrics {
        registry,
        sealed,
        camera_state,
        spool_depth,
        spool_bytes,
        spool_tip,
        spool_acked,
    }
});

const CAMERA_STATES: [CameraState; 5] = [
    CameraState::Ok,
    CameraState::Offline,
    CameraState::Obstructed,
    CameraState::Frozen,
    CameraState::Moved,
];

/// Counts an event sealed with `payload` (and a camera's new state).
pub fn sealed(payload: &Payload) {
    METRICS
        .sealed
        .get_or_create(&Kind {
            kind: payload.topic_kind().as_str().to_owned(),
        })
        .inc();
    if let Payload::Camera(status) = payload {
        for state in CAMERA_STATES {
            METRICS
                .camera_state
                .get_or_create(&CameraLabel {
                    camera: status.camera_id.as_str().to_owned(),
                    state: state.as_str().to_owned(),
                })
                .set(i64::from(state == status.state));
        }
    }
}

fn as_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// The exposition text, with the spool read now.
pub fn render(spool: &Spool) -> String {
    if let (Ok(tip), Ok(acked), Ok(bytes)) = (spool.tip(), spool.acked(), spool.bytes()) {
        METRICS.spool_tip.set(as_i64(tip.seq));
        METRICS.spool_acked.set(as_i64(acked));
        METRICS
            .spool_depth
            .set(as_i64(tip.seq.saturating_sub(acked)));
        METRICS.spool_bytes.set(as_i64(bytes));
    }
    let mut text = String::new();
    if let Err(e) = prometheus_client::encoding::text::encode(&mut text, &METRICS.registry) {
        tracing::warn!(error = %e, "metrics: cannot encode");
    }
    text
}

/// How long a client has to send its request line and headers.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// The most a request may send before it is answered.
const MAX_REQUEST_BYTES: usize = 8 * 1024;

/// Answers one connection: `GET /metrics` gets the text, anything else a 404.
async fn answer(mut stream: tokio::net::TcpStream, spool: Arc<Spool>) {
    let mut request = Vec::with_capacity(512);
    let read = tokio::time::timeout(REQUEST_TIMEOUT, async {
        let mut buf = [0u8; 1024];
        while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < MAX_REQUEST_BYTES {
            let n = stream.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            request.extend_from_slice(&buf[..n]);
        }
        Ok::<_, std::io::Error>(())
    })
    .await;
    if !matches!(read, Ok(Ok(()))) {
        return;
    }
    let line = request.split(|b| *b == b'\n').next().unwrap_or_default();
    let (status, body) = if line.starts_with(b"GET /metrics ") {
        let spool = spool.clone();
        let text = tokio::task::spawn_blocking(move || render(&spool))
            .await
            .unwrap_or_default();
        ("200 OK", text)
    } else {
        ("404 Not Found", "not found\n".to_owned())
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/openmetrics-text; version=1.0.0; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(REQUEST_TIMEOUT, async {
        stream.write_all(response.as_bytes()).await?;
        stream.shutdown().await
    })
    .await;
}

/// Answers `GET /metrics` on `listener` until `shutdown` turns true.
pub async fn serve(listener: TcpListener, spool: Arc<Spool>, mut shutdown: watch::Receiver<bool>) {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "metrics at /metrics");
    }
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    tokio::spawn(answer(stream, spool.clone()));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "metrics: cannot accept");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            _ = shutdown.changed() => {
                if *shutdown.borrow() { return; }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_scrape_shows_the_spool_and_what_was_sealed_and_other_paths_are_404() {
        let dir = tempfile::tempdir().expect("tempdir");
        let spool = Arc::new(Spool::open(dir.path()).expect("spool"));
        sealed(&Payload::Camera(wardwatch_protocol::CameraStatus {
            camera_id: "cam-9".parse().expect("id"),
            state: CameraState::Obstructed,
            since: wardwatch_protocol::Timestamp::now(),
        }));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (_stop, stopped) = watch::channel(false);
        tokio::spawn(serve(listener, spool, stopped));
        let get = |path: &'static str| async move {
            let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
            s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
                .await
                .expect("write");
            let mut out = String::new();
            s.read_to_string(&mut out).await.expect("read");
            out
        };
        let text = get("/metrics").await;
        assert!(text.starts_with("HTTP/1.1 200 OK"), "{text}");
        assert!(text.contains("wardwatch_agent_spool_depth 0"), "{text}");
        assert!(
            text.contains("wardwatch_agent_events_sealed_total{kind=\"camera\"}"),
            "{text}"
        );
        assert!(
            text.contains("wardwatch_agent_camera_state{camera=\"cam-9\",state=\"obstructed\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("wardwatch_agent_camera_state{camera=\"cam-9\",state=\"ok\"} 0"),
            "{text}"
        );
        assert!(get("/").await.starts_with("HTTP/1.1 404"));
    }
}
