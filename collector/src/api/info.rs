//! `/me` (who the token belongs to) and `/rules/stats` (review outcomes per rule, bureau only).

use super::ApiState;
use super::access::AccessNote;
use super::error::ApiError;
use crate::users::{User, UserView};
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};

/// `GET /me`
pub async fn me(Extension(user): Extension<User>) -> Json<UserView> {
    Json(UserView::from(&user))
}

/// `GET /rules/stats`: auditors and admins only.
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
