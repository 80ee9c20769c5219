//! The access log: every API request, refused ones included, becomes one row of the append-only
//! `access_log` table (who, role, method, path with query, status, flag, detail) before its response
//! leaves. If the row cannot be written the client gets a 500 instead: nothing is served unlogged.
//! Requests refused for want of a valid token are logged one by one up to
//! [`super::ApiLimits::refusals_logged_per_minute`]; beyond that they are counted, and the count
//! becomes one row when its minute is over (or at shutdown), so a flood cannot fill the disk.
//! Each authenticated request has [`super::ApiLimits::request_timeout`] to be read and answered.

use super::ApiState;
use super::auth::authenticate;
use super::error::ApiError;
use super::throttle::Admit;
use crate::store::log_chain::{self, ChainedLog, Field};
use crate::store::{Store, StoreError, now_ms};
use crate::users::User;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use sqlx::Row;

/// What a handler (or an error) wants the access log to say about the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessNote(pub String);

/// One row of the access log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccessEntry {
    /// When.
    pub at_ms: i64,
    /// The user, `-` when unauthenticated.
    pub user_name: String,
    /// The user's role, `-` when unauthenticated.
    pub role: String,
    /// HTTP method.
    pub method: String,
    /// Path and query.
    pub path: String,
    /// Status answered.
    pub status: i64,
    /// The flag concerned, if the path names one.
    pub flag_id: Option<i64>,
    /// What happened (the error message, or what was served).
    pub detail: String,
}

impl Store {
    /// Appends one entry, hash-chained ([`crate::store::log_chain`]).
    pub async fn log_access(&self, entry: &AccessEntry) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await?;
        append_access(&mut tx, entry).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The whole access log, oldest first.
    pub async fn access_log(&self) -> Result<Vec<AccessEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT at_ms, user_name, role, method, path, status, flag_id, detail FROM access_log \
             ORDER BY id",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(AccessEntry {
                    at_ms: r.try_get(0)?,
                    user_name: r.try_get(1)?,
                    role: r.try_get(2)?,
                    method: r.try_get(3)?,
                    path: r.try_get(4)?,
                    status: r.try_get(5)?,
                    flag_id: r.try_get(6)?,
                    detail: r.try_get(7)?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::Query)
    }
}

/// Appends one entry inside the caller's transaction (so that what it records and the record commit
/// together).
pub async fn append_access(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    entry: &AccessEntry,
) -> Result<(), StoreError> {
    log_chain::append(
        tx,
        ChainedLog::Access,
        &[
            Field::int(entry.at_ms),
            Field::text(&entry.user_name),
            Field::text(&entry.role),
            Field::text(&entry.method),
            Field::text(&entry.path),
            Field::int(entry.status),
            Field::Int(entry.flag_id),
            Field::text(&entry.detail),
        ],
    )
    .await?;
    Ok(())
}

/// The flag id in `/api/v1/flags/{id}/…`, if the path names one that parses.
fn flag_in_path(path: &str) -> Option<i64> {
    path.strip_prefix("/api/v1/flags/")?
        .split('/')
        .next()?
        .parse()
        .ok()
}

/// Middleware: authenticates the request (the user goes into the request's extensions), runs it,
/// and logs it whatever the outcome.
pub async fn authenticate_and_log(
    State(state): State<ApiState>,
    mut request: Request,
    next: Next,
) -> Response {
    let method = request.method().to_string();
    let path = request.uri().path_and_query().map_or_else(
        || request.uri().path().to_owned(),
        |p| p.as_str().to_owned(),
    );
    let (user, mut response, refused): (Option<User>, Response, bool) =
        match authenticate(&state.store, request.headers()).await {
            Ok(user) => {
                request.extensions_mut().insert(user.clone());
                let limit = state.limits.request_timeout;
                let response = match tokio::time::timeout(limit, next.run(request)).await {
                    Ok(response) => response,
                    Err(_) => ApiError::request_timeout(limit).into_response(),
                };
                (Some(user), response, false)
            }
            Err(refused) => {
                let unauthenticated = refused.error.status == axum::http::StatusCode::UNAUTHORIZED;
                let mut response = refused.error.into_response();
                if let Some(note) = response.extensions_mut().get_mut::<AccessNote>() {
                    note.0 = format!("{} ({})", note.0, refused.why);
                }
                (refused.user, response, unauthenticated)
            }
        };
    let now = now_ms();
    if let Some(counted) = state.refusals_due(now, false)
        && let Err(error) = state.store.log_access(&counted).await
    {
        tracing::error!(%error, detail = %counted.detail, "access log: counts not written");
    }
    if refused && state.admit_refusal(now) == Admit::Count {
        return response;
    }
    let entry = AccessEntry {
        at_ms: now,
        user_name: user.as_ref().map_or("-".into(), |u| u.name.clone()),
        role: user
            .as_ref()
            .map_or("-", |u| u.role.workflow_role().as_str())
            .into(),
        method,
        flag_id: flag_in_path(&path),
        path,
        status: i64::from(response.status().as_u16()),
        detail: response
            .extensions_mut()
            .remove::<AccessNote>()
            .map(|n| n.0)
            .unwrap_or_default(),
    };
    match state.store.log_access(&entry).await {
        Ok(()) => response,
        Err(e) => ApiError::internal(format!("access log not written, response withheld: {e}"))
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::flag_in_path;

    #[test]
    fn flag_ids_are_read_from_flag_paths_only() {
        assert_eq!(flag_in_path("/api/v1/flags/42"), Some(42));
        assert_eq!(flag_in_path("/api/v1/flags/42/attachments/3"), Some(42));
        assert_eq!(flag_in_path("/api/v1/flags/x"), None);
        assert_eq!(flag_in_path("/api/v1/flags?limit=1"), None);
        assert_eq!(flag_in_path("/api/v1/me"), None);
    }
}
