//! `/me` (who the token belongs to) and `/rules/stats` (review outcomes per rule, bureau only).

use super::ApiState;
use super::access::AccessNote;
use super::error::{ApiError, ErrorBody};
use crate::flags::store::RuleStats;
use crate::users::{User, UserView};
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};

/// `GET /me`
#[utoipa::path(
    get,
    path = "/api/v1/me",
    tag = "info",
    summary = "Who the token belongs to",
    responses(
        (status = 200, description = "The caller", body = UserView),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 500, description = "Internal error (details in the collector's log)", body = ErrorBody),
    )
)]
pub async fn me(Extension(user): Extension<User>) -> Json<UserView> {
    Json(UserView::from(&user))
}

/// `GET /rules/stats`: auditors and admins only.
#[utoipa::path(
    get,
    path = "/api/v1/rules/stats",
    tag = "info",
    summary = "How each rule's flags fared in review (阳性率); bureau users only",
    responses(
        (status = 200, description = "One row per rule", body = Vec<RuleStats>),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Not a bureau user", body = ErrorBody),
        (status = 408, description = "Not answered within the request deadline", body = ErrorBody),
        (status = 500, description = "Internal error (details in the collector's log)", body = ErrorBody),
    )
)]
pub async fn rule_stats(
    State(state): State<ApiState>,
    Extension(user): Extension<User>,
) -> Result<Response, ApiError> {
    if !user.role.is_bureau() {
        return Err(ApiError::forbidden(
            "rule statistics are for auditors and admins",
        ));
    }
    let stats = state.store.rule_stats().await?;
    let note = AccessNote(format!("rule stats for {} rules", stats.len()));
    Ok((Extension(note), Json(stats)).into_response())
}
