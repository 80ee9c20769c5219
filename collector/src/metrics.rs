//! Prometheus metrics at `/metrics` on the collector's HTTP listener (the API's), in the text exposition
//! format, rendered by `prometheus-client` on the existing hyper loop (no second server).
//!
//! Two kinds of figures:
//! - **this process's counters**, moved where the work happens: events stored and quarantined by reason
//!   (ingest), the lag from an event's seal to its storage, rule jobs by outcome with their durations
//!   (the scheduler), API and web requests by status (a layer on the router). With several collectors
//!   Prometheus sums them over the instances.
//! - **the database's state**, read at each scrape with cheap queries: open gaps, devices by connection
//!   state and silent devices, rule jobs waiting. Every collector reports the same values for these.
//!
//! Who may read it: only a scraper presenting the bearer token in `serve --metrics-token-file` (compared
//! by SHA-256 digest). Without that option `/metrics` is a 404. The figures carry no personal data (no
//! device, institution or patient in any label), but they are the bureau's operational picture and the
//! API listener faces a reverse proxy, so they are not left open. Scrapes are not written to the access
//! log (they touch no personal data, and one every 15 s would swamp it).

use crate::store::{Store, now_ms};
use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use sha2::{Digest, Sha256};
use sqlx::Row;
use std::sync::{LazyLock, OnceLock};
use std::time::Duration;

/// A device is silent when nothing it sent was stored for this long.
pub const SILENT_AFTER: Duration = Duration::from_secs(15 * 60);

/// One label: a quarantine reason.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Reason {
    reason: String,
}

/// One label: an outcome (`done`, `failed`, `lost_lease`).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Outcome {
    outcome: String,
}

/// One label: an HTTP status code.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Status {
    status: u16,
}

/// One label: a device state (`online`, `offline`, `silent`).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DeviceState {
    state: String,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// Every metric the collector exports.
struct Metrics {
    registry: Registry,
    events_stored: Counter,
    events_duplicate: Counter,
    events_quarantined: Family<Reason, Counter>,
    ingest_lag: Histogram,
    rule_jobs: Family<Outcome, Counter>,
    rule_job_seconds: HistogramFamily<Outcome>,
    http_requests: Family<Status, Counter>,
    gaps_open: Gauge,
    devices: Family<DeviceState, Gauge>,
    rule_jobs_waiting: Gauge,
}

fn job_histogram() -> Histogram {
    // 0.1 s … ~27 min.
    Histogram::new(exponential_buckets(0.1, 2.0, 15))
}

static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    let mut registry = Registry::with_prefix("wardwatch");
    let events_stored = Counter::default();
    registry.register(
        "events_stored",
        "Events stored as new by this collector",
        events_stored.clone(),
    );
    let events_duplicate = Counter::default();
    registry.register(
        "events_duplicate",
        "Exact resends received and dropped by this collector",
        events_duplicate.clone(),
    );
    let events_quarantined = Family::<Reason, Counter>::default();
    registry.register(
        "events_quarantined",
        "Messages quarantined by this collector, by reason",
        events_quarantined.clone(),
    );
    // 10 ms … ~2.3 days: a box that was offline for a day delivers its spool a day late.
    let ingest_lag = Histogram::new(exponential_buckets(0.01, 4.0, 13));
    registry.register(
        "ingest_lag_seconds",
        "Seal-to-storage delay of each device's newest event per stored batch",
        ingest_lag.clone(),
    );
    let rule_jobs = Family::<Outcome, Counter>::default();
    registry.register(
        "rule_jobs",
        "Rule jobs run by this collector's scheduler, by outcome",
        rule_jobs.clone(),
    );
    let rule_job_seconds: HistogramFamily<Outcome> =
        Family::new_with_constructor(job_histogram as fn() -> Histogram);
    registry.register(
        "rule_job_duration_seconds",
        "Duration of rule jobs, by outcome",
        rule_job_seconds.clone(),
    );
    let http_requests = Family::<Status, Counter>::default();
    registry.register(
        "http_requests",
        "Requests answered on the API and web listener (scrapes excluded), by status",
        http_requests.clone(),
    );
    let gaps_open = Gauge::default();
    registry.register(
        "gaps_open",
        "Gaps in the devices' event chains still missing events",
        gaps_open.clone(),
    );
    let devices = Family::<DeviceState, Gauge>::default();
    registry.register(
        "devices",
        "Registered devices: online/offline by their last MQTT status, silent when nothing they sent \
         was stored for 15 minutes",
        devices.clone(),
    );
    let rule_jobs_waiting = Gauge::default();
    registry.register(
        "rule_jobs_waiting",
        "Rule jobs with a request no finished run has answered (due or not yet closed)",
        rule_jobs_waiting.clone(),
    );
    Metrics {
        registry,
        events_stored,
        events_duplicate,
        events_quarantined,
        ingest_lag,
        rule_jobs,
        rule_job_seconds,
        http_requests,
        gaps_open,
        devices,
        rule_jobs_waiting,
    }
});

/// Counts one ingest batch: new events, resends, quarantined messages by reason.
pub fn events_ingested(stored: u64, duplicates: u64, quarantined: &[&str]) {
    METRICS.events_stored.inc_by(stored);
    METRICS.events_duplicate.inc_by(duplicates);
    for reason in quarantined {
        METRICS
            .events_quarantined
            .get_or_create(&Reason {
                reason: (*reason).to_owned(),
            })
            .inc();
    }
}

/// Records the seal-to-storage delay of an event stored now.
pub fn ingest_lag(sealed_at_ms: i64) {
    let lag = (now_ms() - sealed_at_ms).max(0) as f64 / 1000.0;
    METRICS.ingest_lag.observe(lag);
}

/// Counts a finished (or abandoned) rule job.
pub fn rule_job_finished(outcome: &str, took: Duration) {
    let label = Outcome {
        outcome: outcome.to_owned(),
    };
    METRICS.rule_jobs.get_or_create(&label).inc();
    METRICS
        .rule_job_seconds
        .get_or_create(&label)
        .observe(took.as_secs_f64());
}

/// The scrape token's digest, set once by `serve --metrics-token-file`.
static SCRAPE_TOKEN: OnceLock<[u8; 32]> = OnceLock::new();

/// The token file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ScrapeTokenError {
    /// Unreadable.
    #[error("metrics token file {path}: {source}")]
    Read {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Too short to be a secret.
    #[error(
        "metrics token in {0} is shorter than 32 characters; make one with `openssl rand -hex 32`"
    )]
    TooShort(std::path::PathBuf),
}

/// Lets scrapers presenting the token in `path` (its first line) read `/metrics`.
pub fn allow_scrapes_with_token_file(path: &std::path::Path) -> Result<(), ScrapeTokenError> {
    let text = std::fs::read_to_string(path).map_err(|source| ScrapeTokenError::Read {
        path: path.to_owned(),
        source,
    })?;
    let token = text.lines().next().unwrap_or("").trim();
    if token.len() < 32 {
        return Err(ScrapeTokenError::TooShort(path.to_owned()));
    }
    let _ = SCRAPE_TOKEN.set(Sha256::digest(token.as_bytes()).into());
    Ok(())
}

/// Whether the request's bearer token is the scrape token.
fn may_scrape(headers: &HeaderMap) -> Option<bool> {
    let want = SCRAPE_TOKEN.get()?;
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| <[u8; 32]>::from(Sha256::digest(t.trim().as_bytes())));
    // Digests of equal length compared whole: no early exit on the first differing byte of the token.
    Some(given.is_some_and(|g| g.iter().zip(want).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0))
}

/// Reads the database's state into the gauges.
async fn refresh_from_database(store: &Store) -> Result<(), sqlx::Error> {
    let pool = store.pool();
    let gaps: i64 = sqlx::query("SELECT COUNT(*) FROM gaps WHERE closed_at_ms IS NULL")
        .fetch_one(pool)
        .await?
        .try_get(0)?;
    METRICS.gaps_open.set(gaps);
    for state in ["online", "offline"] {
        let n: i64 = sqlx::query(
            "SELECT COUNT(*) FROM devices d JOIN device_status s ON s.device_id = d.device_id \
             WHERE s.state = $1",
        )
        .bind(state)
        .fetch_one(pool)
        .await?
        .try_get(0)?;
        METRICS
            .devices
            .get_or_create(&DeviceState {
                state: state.into(),
            })
            .set(n);
    }
    // A device's newest event is the one at its highest seq (the (device_id, seq) index).
    let cutoff = now_ms() - i64::try_from(SILENT_AFTER.as_millis()).unwrap_or(i64::MAX);
    let silent: i64 = sqlx::query(
        "SELECT COUNT(*) FROM devices d LEFT JOIN device_state s ON s.device_id = d.device_id \
         LEFT JOIN events e ON e.device_id = s.device_id AND e.seq = s.max_seq \
         WHERE e.received_at_ms IS NULL OR e.received_at_ms < $1",
    )
    .bind(cutoff)
    .fetch_one(pool)
    .await?
    .try_get(0)?;
    METRICS
        .devices
        .get_or_create(&DeviceState {
            state: "silent".into(),
        })
        .set(silent);
    let waiting: i64 = sqlx::query("SELECT COUNT(*) FROM rule_jobs WHERE done < requested")
        .fetch_one(pool)
        .await?
        .try_get(0)?;
    METRICS.rule_jobs_waiting.set(waiting);
    Ok(())
}

/// The exposition text (OpenMetrics), after reading the database's state.
pub async fn render(store: &Store) -> Result<String, sqlx::Error> {
    refresh_from_database(store).await?;
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &METRICS.registry)
        .map_err(|e| sqlx::Error::Protocol(format!("encoding metrics: {e}")))?;
    Ok(text)
}

async fn scrape(store: Store, headers: HeaderMap) -> Response {
    match may_scrape(&headers) {
        None => StatusCode::NOT_FOUND.into_response(),
        Some(false) => (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
        )
            .into_response(),
        Some(true) => match render(&store).await {
            Ok(text) => (
                [(
                    header::CONTENT_TYPE,
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                )],
                text,
            )
                .into_response(),
            Err(error) => {
                tracing::warn!(%error, "metrics: cannot read the database");
                StatusCode::SERVICE_UNAVAILABLE.into_response()
            }
        },
    }
}

/// Counts every answered request by status (the scrapes themselves excepted).
async fn count_status(request: Request<Body>, next: Next) -> Response {
    let response = next.run(request).await;
    METRICS
        .http_requests
        .get_or_create(&Status {
            status: response.status().as_u16(),
        })
        .inc();
    response
}

/// `app` with requests counted by status, and `/metrics` beside it.
pub fn with_metrics(app: Router, store: Store) -> Router {
    let scrape_route = Router::new().route(
        "/metrics",
        axum::routing::get(move |headers: HeaderMap| scrape(store.clone(), headers)),
    );
    app.layer(axum::middleware::from_fn(count_status))
        .merge(scrape_route)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_show_in_the_text_with_their_labels() {
        events_ingested(3, 1, &["bad_signature", "bad_signature", "too_large"]);
        rule_job_finished("done", Duration::from_millis(250));
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &METRICS.registry).expect("encode");
        assert!(text.contains("wardwatch_events_quarantined_total{reason=\"bad_signature\"}"));
        assert!(
            text.contains(
                "wardwatch_rule_job_duration_seconds_bucket{le=\"0.4\",outcome=\"done\"}"
            )
        );
        assert!(text.contains("# TYPE wardwatch_events_stored counter"));
    }
}
