//! The JSON API under `/api/v1` (axum, plain HTTP/1.1: put it behind the bureau's TLS reverse proxy).
//! Every request is authenticated by a bearer token ([`auth`]) and logged ([`access`]) whatever its
//! outcome — refused, unauthenticated ones up to a rate ([`throttle`]), the rest counted; errors are
//! JSON ([`error`]); the server bounds connections, header reads and requests ([`server`],
//! [`ApiLimits`]).
//!
//! | module | what it is for |
//! |---|---|
//! | [`server`] | the HTTP/1.1 server: connection cap, header-read deadline, graceful shutdown |
//! | [`access`] | the middleware that authenticates, bounds each request's time and writes the append-only `access_log` |
//! | [`throttle`] | at most so many log rows of refused requests per minute, the rest counted |
//! | [`auth`] | bearer token → valid user (one answer for unknown, expired and revoked tokens) |
//! | [`body`] | request bodies read with a limit (413), JSON parsed naming the bad field |
//! | [`error`] | `{"error": {"code", "message"}}` with the right status |
//! | [`params`] | query parameters parsed at the edge, 400 naming the bad one |
//! | [`flags`] | `/flags`: list, show, transitions; institutions see only their own flags |
//! | [`attachments`] | `/flags/{id}/attachments`: appeal files up and down |
//! | [`evidence`] | `/evidence`: face crops from boxes whose operator turned evidence on; bureau users only |
//! | [`info`] | `/me`, `/rules/stats` |
//! | [`exports`] | `/exports/deductions` (扣费明细), `/exports/quarterly` (季度分析) |
//! | [`gallery`] | `/gallery/removals`: a patient taken out of the gallery on request (PIPL); bureau admins only |
//! | [`openapi`] | `/openapi.json`: the OpenAPI document, derived from the handlers and their types |

pub mod access;
pub mod attachments;
pub mod auth;
pub mod body;
pub mod error;
pub mod evidence;
pub mod exports;
pub mod flags;
pub mod gallery;
pub mod info;
pub mod openapi;
pub mod params;
pub mod server;
pub mod throttle;

use crate::flags::attachments::AttachmentLimits;
use crate::flags::visibility::Viewer;
use crate::flags::workflow::Policy;
use crate::store::{Store, now_ms};
use crate::users::User;
use axum::Router;
use axum::routing::{get, post};
use error::ApiError;
use std::sync::Arc;
use std::time::Duration;
use throttle::{Admit, Suppressed, Throttle};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Days an institution has to appeal once a flag is issued, unless configured otherwise.
pub const DEFAULT_APPEAL_DAYS: i64 = 15;

/// The window of the log throttles.
const LOG_WINDOW_MS: i64 = 60_000;

/// How much the API takes from anyone before it stops listening to them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiLimits {
    /// Time to send a request's headers (the whole of them), and the longest idle keep-alive.
    pub header_read_timeout: Duration,
    /// Time for a request, its body included, from its headers to its answer.
    pub request_timeout: Duration,
    /// Connections open at once; more are answered 503 and closed.
    pub max_connections: usize,
    /// Refused, unauthenticated requests written to the access log per minute; the rest are counted
    /// in one row per minute.
    pub refusals_logged_per_minute: u32,
    /// Attachments per flag and bytes per institution.
    pub attachments: AttachmentLimits,
}

impl Default for ApiLimits {
    /// Headers within 10 s, a request within 120 s (a 10 MiB attachment at 1 Mbit/s takes ~85 s),
    /// 256 connections, 30 refused requests logged a minute, 20 attachments a flag, 1 GiB an
    /// institution.
    fn default() -> ApiLimits {
        ApiLimits {
            header_read_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(120),
            max_connections: 256,
            refusals_logged_per_minute: 30,
            attachments: AttachmentLimits::default(),
        }
    }
}

/// The API's settings (from the command line).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiConfig {
    /// Days an institution has to appeal once a flag is issued.
    pub appeal_days: i64,
    /// The workflow's policy.
    pub policy: Policy,
    /// Timeouts and caps.
    pub limits: ApiLimits,
    /// Mark the web app's cookies Secure (behind a TLS proxy).
    pub secure_cookies: bool,
}

impl Default for ApiConfig {
    fn default() -> ApiConfig {
        ApiConfig {
            appeal_days: DEFAULT_APPEAL_DAYS,
            policy: Policy::default(),
            limits: ApiLimits::default(),
            secure_cookies: false,
        }
    }
}

/// What the handlers share.
#[derive(Debug, Clone)]
pub struct ApiState {
    /// The database.
    pub store: Store,
    /// The appeal window set when a flag is issued.
    pub appeal_days: i64,
    /// The zone of the `from`/`to` dates of listings.
    pub zone: chrono_tz::Tz,
    /// The workflow's policy (separation of duties).
    pub policy: Policy,
    /// Timeouts and caps.
    pub limits: ApiLimits,
    /// Refused, unauthenticated requests written to the access log one by one.
    refusals: Arc<Throttle>,
    /// Warnings about connections over the cap.
    over_capacity: Arc<Throttle>,
    /// Mark the web app's cookies Secure (behind a TLS proxy; also when it sends
    /// `X-Forwarded-Proto: https`).
    pub secure_cookies: bool,
}

impl ApiState {
    /// Defaults: a 15-day appeal window, dates in Asia/Shanghai, separation of duties on, the
    /// default [`ApiLimits`].
    pub fn new(store: Store) -> ApiState {
        ApiState::with(store, ApiLimits::default())
    }

    /// The defaults with these limits.
    pub fn with(store: Store, limits: ApiLimits) -> ApiState {
        ApiState::configured(
            store,
            ApiConfig {
                limits,
                ..ApiConfig::default()
            },
        )
    }

    /// The API over `store` with `config`, dates in Asia/Shanghai.
    pub fn configured(store: Store, config: ApiConfig) -> ApiState {
        let limits = config.limits;
        ApiState {
            store,
            appeal_days: config.appeal_days,
            zone: chrono_tz::Asia::Shanghai,
            policy: config.policy,
            limits,
            refusals: Arc::new(Throttle::new(
                limits.refusals_logged_per_minute,
                LOG_WINDOW_MS,
            )),
            over_capacity: Arc::new(Throttle::new(1, LOG_WINDOW_MS)),
            secure_cookies: config.secure_cookies,
        }
    }

    /// Whether a refused request at `now_ms` is logged one by one or only counted.
    pub fn admit_refusal(&self, now_ms: i64) -> Admit {
        self.refusals.admit(now_ms)
    }

    /// The access-log row for refused requests counted rather than logged, if one is due.
    pub fn refusals_due(&self, now_ms: i64, force: bool) -> Option<access::AccessEntry> {
        self.refusals
            .take_due(now_ms, force)
            .map(|counted| self.refusal_summary(counted))
    }

    fn refusal_summary(&self, counted: Suppressed) -> access::AccessEntry {
        let time = |ms| {
            chrono::DateTime::from_timestamp_millis(ms)
                .map_or_else(|| ms.to_string(), |t| t.to_rfc3339())
        };
        access::AccessEntry {
            at_ms: now_ms(),
            user_name: "-".into(),
            role: "-".into(),
            method: "-".into(),
            path: "-".into(),
            status: 401,
            flag_id: None,
            detail: format!(
                "{} more refused unauthenticated requests from {} to {}, counted not logged (at most \
                 {} logged a minute)",
                counted.count,
                time(counted.first_ms),
                time(counted.last_ms),
                self.refusals.per_window()
            ),
        }
    }

    /// Writes the counts of refused requests not yet logged (at shutdown).
    pub async fn flush_refusal_counts(&self) {
        if let Some(entry) = self.refusals_due(now_ms(), true)
            && let Err(error) = self.store.log_access(&entry).await
        {
            tracing::error!(%error, detail = %entry.detail, "access log: counts not written");
        }
    }

    /// Records a connection refused for being over the cap (a warning at most once a minute).
    pub fn note_over_capacity(&self) {
        let now = now_ms();
        if let Some(counted) = self.over_capacity.take_due(now, false) {
            tracing::warn!(
                refused = counted.count,
                "API: more connections refused over the cap since the last warning"
            );
        }
        if self.over_capacity.admit(now) == Admit::Log {
            tracing::warn!(
                max_connections = self.limits.max_connections,
                "API: connection refused (503): over the cap"
            );
        }
    }
}

/// Who `user` is as a reader of flags.
pub fn viewer(user: &User) -> Viewer {
    match user.role.institution() {
        Some(code) => Viewer::Institution(code.clone()),
        None => Viewer::Bureau,
    }
}

async fn unknown_route() -> ApiError {
    ApiError::not_found("no such API route")
}

async fn wrong_method() -> ApiError {
    ApiError {
        status: axum::http::StatusCode::METHOD_NOT_ALLOWED,
        code: "method_not_allowed",
        message: "方法不允许 method not allowed on this route".into(),
    }
}

/// The API's routes under `/api/v1` as they are, before authentication and the access log (see
/// [`router`]); an unknown route there is a JSON 404. Every route has its `#[utoipa::path]` in
/// [`openapi::ApiDoc`] (a test holds them together).
fn routes() -> Router<ApiState> {
    let api = Router::new()
        .route("/flags", get(flags::list))
        .route("/flags/{id}", get(flags::show))
        .route("/flags/{id}/transitions", post(flags::transition))
        .route("/flags/{id}/attachments", post(attachments::upload))
        .route("/flags/{id}/attachments/{aid}", get(attachments::download))
        .route("/evidence", get(evidence::list))
        .route("/evidence/{event_id}", get(evidence::show))
        .route("/rules/stats", get(info::rule_stats))
        .route("/me", get(info::me))
        .route("/exports/deductions", get(exports::deductions))
        .route("/exports/quarterly", get(exports::quarterly))
        .route("/gallery/removals", post(gallery::remove))
        .route("/openapi.json", get(openapi::document_json))
        .method_not_allowed_fallback(wrong_method);
    Router::new().nest("/api/v1", api.fallback(unknown_route))
}

/// The API's routes under `/api/v1`, authenticated and logged.
pub fn router(state: ApiState) -> Router {
    routes()
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            access::authenticate_and_log,
        ))
        .with_state(state)
}

/// The collector's HTTP side: the JSON API under `/api/v1` and the web app ([`crate::web`]) everywhere
/// else.
pub fn app(state: ApiState) -> Router {
    crate::web::router(state.clone()).merge(router(state))
}

/// Serves the JSON API and the web app on `listener` until `shutdown` turns true, then finishes the
/// requests in flight.
pub async fn serve(
    state: ApiState,
    listener: TcpListener,
    shutdown: watch::Receiver<bool>,
) -> std::io::Result<()> {
    server::serve(state, listener, shutdown).await
}
