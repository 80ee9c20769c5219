//! The API's HTTP/1.1 server, bounded: a cap on open connections (one over the cap is answered 503
//! and closed at once), a deadline for reading a request's headers (a client trickling its headers
//! byte by byte, or holding an idle connection, is cut off), and a deadline for each request (in the
//! access middleware, [`super::access`]). On shutdown it stops accepting, lets the requests in flight
//! finish within the request deadline, and writes the counts of refused requests not yet logged.

use super::ApiState;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

/// The body of the answer to a connection over the cap.
const OVER_CAPACITY_BODY: &str =
    r#"{"error":{"code":"over_capacity","message":"连接过多 too many connections; retry later"}}"#;

/// The whole answer to a connection over the cap.
fn over_capacity_response() -> Vec<u8> {
    format!(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nConnection: close\r\n\
         Retry-After: 5\r\nContent-Length: {}\r\n\r\n{OVER_CAPACITY_BODY}",
        OVER_CAPACITY_BODY.len()
    )
    .into_bytes()
}

/// How long a refused connection is given to take its 503.
const REFUSAL_WRITE_TIMEOUT: Duration = Duration::from_secs(2);

/// Resolves once `shutdown` is true (at once if it already is, or if its sender is gone).
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    while !*shutdown.borrow() {
        if shutdown.changed().await.is_err() {
            return;
        }
    }
}

/// Answers a connection over the cap with 503 and closes it, without waiting on a slow reader.
fn refuse_over_capacity(mut stream: TcpStream) {
    tokio::spawn(async move {
        let _ = tokio::time::timeout(REFUSAL_WRITE_TIMEOUT, async {
            stream.write_all(&over_capacity_response()).await?;
            stream.shutdown().await
        })
        .await;
    });
}

/// Serves the API on `listener` until `shutdown` turns true.
pub async fn serve(
    state: ApiState,
    listener: TcpListener,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let limits = state.limits;
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(
            %addr,
            max_connections = limits.max_connections,
            header_read_timeout_s = limits.header_read_timeout.as_secs_f64(),
            request_timeout_s = limits.request_timeout.as_secs_f64(),
            "JSON API listening (plain HTTP: put it behind a TLS reverse proxy)"
        );
    }
    // `/metrics` and the requests counted by status (crate::metrics).
    let app = crate::metrics::with_metrics(super::app(state.clone()), state.store.clone());
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let mut connections = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = stopped(&mut shutdown) => break,
        };
        while connections.try_join_next().is_some() {}
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of file descriptors and the like: do not spin.
                tracing::warn!(%error, "API: cannot accept a connection");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            state.note_over_capacity();
            refuse_over_capacity(stream);
            continue;
        };
        // The peer's address, for the web app's login throttling per address.
        let service = TowerToHyperService::new(
            app.clone()
                .layer(axum::Extension(axum::extract::ConnectInfo(peer))),
        );
        let mut stop = shutdown.clone();
        connections.spawn(async move {
            let _permit = permit;
            let mut builder = http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_read_timeout);
            let connection = builder.serve_connection(TokioIo::new(stream), service);
            tokio::pin!(connection);
            let result = tokio::select! {
                result = connection.as_mut() => result,
                () = stopped(&mut stop) => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(error) = result {
                tracing::debug!(%error, "API connection ended");
            }
        });
    }
    drop(listener);
    let drained = tokio::time::timeout(limits.request_timeout + Duration::from_secs(1), async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            open = connections.len(),
            "API: connections still open after the request deadline; closing them"
        );
        connections.shutdown().await;
    }
    state.flush_refusal_counts().await;
    Ok(())
}
