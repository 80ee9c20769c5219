//! Login throttling: every attempt is recorded in `web_login_attempts` (the database, so a restart or a
//! second collector does not reset the count). A login name with [`MAX_FAILURES_PER_LOGIN`] failures
//! since its last success within [`WINDOW_MS`] is refused even with the right password until the window
//! has passed; so is an address with [`MAX_FAILURES_PER_IP`] failures (higher: a bureau's office may sit
//! behind one NAT address, and one person's typos must not lock out the floor).

use crate::store::{Store, StoreError};
use sqlx::Row;

/// Failures of one login name before it is throttled.
pub const MAX_FAILURES_PER_LOGIN: i64 = 5;
/// Failures from one address before it is throttled.
pub const MAX_FAILURES_PER_IP: i64 = 20;
/// How far back failures count.
pub const WINDOW_MS: i64 = 15 * 60_000;

/// Why a login is refused before its password is even checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Throttled {
    /// Too many failures for this login name.
    Login,
    /// Too many failures from this address.
    Address,
}

impl Store {
    /// Records one attempt. `login` is normalised (trimmed, upper-cased institution codes stay as typed).
    pub async fn record_login_attempt(
        &self,
        login: &str,
        ip: &str,
        succeeded: bool,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO web_login_attempts (at_ms, login, ip, succeeded) VALUES ($1, $2, $3, $4)",
        )
        .bind(now_ms)
        .bind(normalise(login))
        .bind(ip)
        .bind(i64::from(succeeded))
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Whether a login by `login` from `ip` is throttled now.
    pub async fn login_throttled(
        &self,
        login: &str,
        ip: &str,
        now_ms: i64,
    ) -> Result<Option<Throttled>, StoreError> {
        let since = now_ms - WINDOW_MS;
        let by_login: i64 = sqlx::query(
            "SELECT COUNT(*) FROM web_login_attempts WHERE login = $1 AND succeeded = 0 \
             AND at_ms >= $2 AND at_ms > COALESCE((SELECT MAX(at_ms) FROM web_login_attempts \
             WHERE login = $3 AND succeeded = 1), 0)",
        )
        .bind(normalise(login))
        .bind(since)
        .bind(normalise(login))
        .fetch_one(self.pool())
        .await?
        .try_get(0)?;
        if by_login >= MAX_FAILURES_PER_LOGIN {
            return Ok(Some(Throttled::Login));
        }
        let by_ip: i64 = sqlx::query(
            "SELECT COUNT(*) FROM web_login_attempts WHERE ip = $1 AND succeeded = 0 AND at_ms >= $2",
        )
        .bind(ip)
        .bind(since)
        .fetch_one(self.pool())
        .await?
        .try_get(0)?;
        Ok((by_ip >= MAX_FAILURES_PER_IP).then_some(Throttled::Address))
    }
}

/// One login name however it is typed (an institution code in either case, spaces around).
fn normalise(login: &str) -> String {
    login.trim().to_lowercase()
}
