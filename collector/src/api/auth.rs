//! Who is calling: the `Authorization: Bearer <token>` header checked against the `users` table (by
//! the token's SHA-256). Tokens are never logged.

use super::error::ApiError;
use crate::store::Store;
use crate::users::User;
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;

/// Why a request is not authenticated, and who it was when that is known (a disabled user).
#[derive(Debug)]
pub struct Refused {
    /// The error answered.
    pub error: ApiError,
    /// The disabled user, for the access log.
    pub user: Option<User>,
}

/// The enabled user the request's bearer token belongs to.
pub async fn authenticate(store: &Store, headers: &HeaderMap) -> Result<User, Refused> {
    let refuse = |why: &str| Refused {
        error: ApiError::unauthorized(why),
        user: None,
    };
    let Some(value) = headers.get(AUTHORIZATION) else {
        return Err(refuse("missing Authorization: Bearer <token>"));
    };
    let token = value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| refuse("Authorization must be `Bearer <token>`"))?;
    let user = store.user_by_token(token).await.map_err(|e| Refused {
        error: ApiError::internal(e),
        user: None,
    })?;
    match user {
        None => Err(refuse("unknown token")),
        Some(user) if user.disabled => Err(Refused {
            error: ApiError::unauthorized("this user is disabled"),
            user: Some(user),
        }),
        Some(user) => Ok(user),
    }
}
