//! The JSON API under `/api/v1` (axum, plain HTTP/1.1: put it behind the bureau's TLS reverse proxy).
//! Every request is authenticated by a bearer token ([`auth`]) and logged ([`access`]) whatever its
//! outcome; errors are JSON ([`error`]).
//!
//! | module | what it is for |
//! |---|---|
//! | [`access`] | the middleware that authenticates and writes the append-only `access_log` |
//! | [`auth`] | bearer token → enabled user |
//! | [`body`] | request bodies read with a limit (413), JSON parsed naming the bad field |
//! | [`error`] | `{"error": {"code", "message"}}` with the right status |
//! | [`params`] | query parameters parsed at the edge, 400 naming the bad one |
//! | [`flags`] | `/flags`: list, show, transitions; institutions see only their own flags |
//! | [`attachments`] | `/flags/{id}/attachments`: appeal files up and down |
//! | [`evidence`] | `/evidence`: face crops from boxes whose operator turned evidence on; bureau users only |
//! | [`info`] | `/me`, `/rules/stats` |
//! | [`exports`] | `/exports/deductions` (扣费明细), `/exports/quarterly` (季度分析) |

pub mod access;
pub mod attachments;
pub mod auth;
pub mod body;
pub mod error;
pub mod evidence;
pub mod exports;
pub mod flags;
pub mod info;
pub mod params;

use crate::store::Store;
use axum::Router;
use axum::routing::{get, post};
use error::ApiError;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Days an institution has to appeal once a flag is issued, unless configured otherwise.
pub const DEFAULT_APPEAL_DAYS: i64 = 15;

/// What the handlers share.
#[derive(Debug, Clone)]
pub struct ApiState {
    /// The database.
    pub store: Store,
    /// The appeal window set when a flag is issued.
    pub appeal_days: i64,
    /// The zone of the `from`/`to` dates of listings.
    pub zone: chrono_tz::Tz,
    /// Mark the web app's cookies Secure (behind a TLS proxy; also when it sends
    /// `X-Forwarded-Proto: https`).
    pub secure_cookies: bool,
}

impl ApiState {
    /// Defaults: a 15-day appeal window, dates in Asia/Shanghai.
    pub fn new(store: Store) -> ApiState {
        ApiState {
            store,
            appeal_days: DEFAULT_APPEAL_DAYS,
            zone: chrono_tz::Asia::Shanghai,
            secure_cookies: false,
        }
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

/// The API's routes under `/api/v1`, authenticated and logged; an unknown route there is a JSON 404.
pub fn router(state: ApiState) -> Router {
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
        .method_not_allowed_fallback(wrong_method);
    Router::new()
        .nest("/api/v1", api.fallback(unknown_route))
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
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<()> {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(
            %addr,
            "web app at / and JSON API at /api/v1 listening (plain HTTP: put it behind a TLS reverse proxy)"
        );
    }
    axum::serve(
        listener,
        app(state).into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        while !*shutdown.borrow() {
            if shutdown.changed().await.is_err() {
                break;
            }
        }
    })
    .await
}
