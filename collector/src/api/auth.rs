//! Who is calling: the `Authorization: Bearer <token>` header checked against the `users` table (by
//! the token's SHA-256). Tokens are never logged. An unknown, an expired and a revoked token get the
//! very same answer ([`invalid_token`]): the API is no oracle for which tokens exist; the access log
//! keeps the real reason.

use super::error::ApiError;
use crate::store::{Store, now_ms};
use crate::users::{TokenState, User};
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;

/// Why a request is not authenticated, and who it was when that is known (a disabled or expired
/// user).
#[derive(Debug)]
pub struct Refused {
    /// The error answered.
    pub error: ApiError,
    /// The user the token belonged to, for the access log.
    pub user: Option<User>,
    /// The real reason, for the access log only.
    pub why: &'static str,
}

/// The one answer for a token that is not accepted, whatever the reason.
pub fn invalid_token() -> ApiError {
    ApiError::unauthorized("invalid, expired or revoked token")
}

/// The valid user the request's bearer token belongs to.
pub async fn authenticate(store: &Store, headers: &HeaderMap) -> Result<User, Refused> {
    let refuse =
        |error: ApiError, user: Option<User>, why: &'static str| Refused { error, user, why };
    let Some(value) = headers.get(AUTHORIZATION) else {
        return Err(refuse(
            ApiError::unauthorized("missing Authorization: Bearer <token>"),
            None,
            "no token",
        ));
    };
    let token = value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            refuse(
                ApiError::unauthorized("Authorization must be `Bearer <token>`"),
                None,
                "malformed Authorization header",
            )
        })?;
    let user = store
        .user_by_token(token)
        .await
        .map_err(|e| refuse(ApiError::internal(e), None, "user lookup failed"))?;
    let Some(user) = user else {
        return Err(refuse(invalid_token(), None, "unknown token"));
    };
    match user.token_state(now_ms()) {
        TokenState::Valid => Ok(user),
        TokenState::Revoked => Err(refuse(invalid_token(), Some(user), "revoked token")),
        TokenState::Expired => Err(refuse(invalid_token(), Some(user), "expired token")),
    }
}
