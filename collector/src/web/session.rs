//! Sessions: a random 256-bit token in an HttpOnly, SameSite=Strict cookie (Secure when configured or
//! behind a TLS proxy), stored only as its SHA-256 in `web_sessions` with the session's CSRF token. A
//! session ends after [`IDLE_MS`] without a request or [`ABSOLUTE_MS`] after login, and at logout (the
//! row is deleted, so the cookie is worthless even if kept). Changing a password ends the user's other
//! sessions.

use crate::store::{Store, StoreError};
use crate::users::token_digest;
use axum::http::HeaderMap;
use axum::http::header::COOKIE;
use sqlx::Row;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "ww_session";
/// A session without a request for this long is over (an office lunch break ends it).
pub const IDLE_MS: i64 = 60 * 60_000;
/// A session is over this long after login whatever happens (one working day).
pub const ABSOLUTE_MS: i64 = 10 * 60 * 60_000;
/// `last_seen_ms` is written at most this often (not on every request).
const TOUCH_EVERY_MS: i64 = 60_000;

/// A live session as the store holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSession {
    /// SHA-256 of the cookie's token.
    pub token_sha256: String,
    /// Whose.
    pub user_name: String,
    /// The token every state-changing form must carry.
    pub csrf_token: String,
    /// Last request.
    pub last_seen_ms: i64,
    /// Hard end.
    pub expires_at_ms: i64,
}

/// 256 random bits as hex.
pub fn random_token() -> Result<String, StoreError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| StoreError::Corrupt {
        what: "random source",
        why: e.to_string(),
    })?;
    Ok(hex::encode(bytes))
}

impl Store {
    /// Opens a session for `user_name`; returns the cookie's token (never stored) and the session.
    pub async fn create_session(
        &self,
        user_name: &str,
        now_ms: i64,
    ) -> Result<(String, StoredSession), StoreError> {
        let token = random_token()?;
        let session = StoredSession {
            token_sha256: token_digest(&token),
            user_name: user_name.to_owned(),
            csrf_token: random_token()?,
            last_seen_ms: now_ms,
            expires_at_ms: now_ms + ABSOLUTE_MS,
        };
        sqlx::query(
            "INSERT INTO web_sessions (token_sha256, user_name, csrf_token, created_at_ms, \
             last_seen_ms, expires_at_ms) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&session.token_sha256)
        .bind(&session.user_name)
        .bind(&session.csrf_token)
        .bind(now_ms)
        .bind(now_ms)
        .bind(session.expires_at_ms)
        .execute(self.pool())
        .await?;
        Ok((token, session))
    }

    /// The live session of cookie token `token`; an expired or idle one is deleted and `None`.
    pub async fn live_session(
        &self,
        token: &str,
        now_ms: i64,
    ) -> Result<Option<StoredSession>, StoreError> {
        let digest = token_digest(token);
        let Some(row) = sqlx::query(
            "SELECT token_sha256, user_name, csrf_token, last_seen_ms, expires_at_ms \
             FROM web_sessions WHERE token_sha256 = $1",
        )
        .bind(&digest)
        .fetch_optional(self.pool())
        .await?
        else {
            return Ok(None);
        };
        let session = StoredSession {
            token_sha256: row.try_get(0)?,
            user_name: row.try_get(1)?,
            csrf_token: row.try_get(2)?,
            last_seen_ms: row.try_get(3)?,
            expires_at_ms: row.try_get(4)?,
        };
        if now_ms >= session.expires_at_ms || now_ms - session.last_seen_ms >= IDLE_MS {
            self.end_session(&digest).await?;
            return Ok(None);
        }
        if now_ms - session.last_seen_ms >= TOUCH_EVERY_MS {
            sqlx::query("UPDATE web_sessions SET last_seen_ms = $1 WHERE token_sha256 = $2")
                .bind(now_ms)
                .bind(&digest)
                .execute(self.pool())
                .await?;
        }
        Ok(Some(session))
    }

    /// Ends one session (logout).
    pub async fn end_session(&self, token_sha256: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM web_sessions WHERE token_sha256 = $1")
            .bind(token_sha256)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Ends every session of `user_name` except `keep` (after a password change).
    pub async fn end_other_sessions(&self, user_name: &str, keep: &str) -> Result<u64, StoreError> {
        Ok(
            sqlx::query("DELETE FROM web_sessions WHERE user_name = $1 AND token_sha256 <> $2")
                .bind(user_name)
                .bind(keep)
                .execute(self.pool())
                .await?
                .rows_affected(),
        )
    }
}

/// The value of cookie `name` in the request, if any.
pub fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Strict, Path=/, Secure when `secure`; `max_age_s` 0 deletes.
pub fn set_cookie(name: &str, value: &str, max_age_s: i64, secure: bool) -> String {
    format!(
        "{name}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_s}{}",
        if secure { "; Secure" } else { "" }
    )
}

/// Whether cookies must be Secure: configured, or the TLS proxy in front says the request was HTTPS.
pub fn secure_request(configured: bool, headers: &HeaderMap) -> bool {
    configured
        || headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn cookies_are_read_by_exact_name() {
        let mut headers = HeaderMap::new();
        headers.insert(
            COOKIE,
            HeaderValue::from_static("a=1; ww_session_x=2; ww_session=abc ; ww_lang=en"),
        );
        assert_eq!(cookie(&headers, SESSION_COOKIE), Some("abc"));
        assert_eq!(cookie(&headers, "ww_lang"), Some("en"));
        assert_eq!(cookie(&headers, "nope"), None);
    }

    #[test]
    fn session_cookies_are_http_only_and_strict() {
        let c = set_cookie(SESSION_COOKIE, "t", 3600, false);
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Strict") && !c.contains("Secure"));
        assert!(set_cookie(SESSION_COOKIE, "t", 0, true).ends_with("; Secure"));
        let mut headers = HeaderMap::new();
        assert!(!secure_request(false, &headers));
        headers.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        assert!(secure_request(false, &headers));
    }
}
