//! The JSON API's users: who holds a token, in which role, bound to which institution. A token is 256
//! random bits shown once when the user is created (or renewed); only its SHA-256 is stored, so the
//! database never holds a usable credential. Every token has a lifetime ([`DEFAULT_TOKEN_DAYS`] unless
//! chosen) and can be revoked (the user disabled, with the time); an expired or revoked token is
//! refused exactly like an unknown one.

use crate::flags::workflow::{Actor, Role};
use crate::store::{Store, StoreError, now_ms};
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::Row;
use wardwatch_protocol::InstitutionCode;

/// Days a token is valid unless chosen otherwise.
pub const DEFAULT_TOKEN_DAYS: u32 = 90;

/// The longest token lifetime that may be chosen, in days.
pub const MAX_TOKEN_DAYS: u32 = 366;

const DAY_MS: i64 = 86_400_000;

/// A user's role, bound to its institution when it is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserRole {
    /// Bureau administrator.
    Admin,
    /// Bureau auditor.
    Auditor,
    /// An institution: sees and answers only its own flags.
    Institution(InstitutionCode),
}

impl UserRole {
    /// Builds a role from the CLI/stored pair (role code, institution code), checking that an
    /// institution user has a valid code and that bureau users have none.
    pub fn from_parts(role: &str, institution: Option<&str>) -> Result<UserRole, UserError> {
        match (role, institution) {
            ("admin", None) => Ok(UserRole::Admin),
            ("auditor", None) => Ok(UserRole::Auditor),
            ("institution", Some(code)) => code
                .parse::<InstitutionCode>()
                .map(UserRole::Institution)
                .map_err(|e| UserError::Invalid(format!("--institution {code:?}: {e}"))),
            ("institution", None) => Err(UserError::Invalid(
                "an institution user needs --institution CODE (its fixmedins_code)".into(),
            )),
            ("admin" | "auditor", Some(code)) => Err(UserError::Invalid(format!(
                "a {role} is a bureau user: --institution {code:?} is only for institution users"
            ))),
            (other, _) => Err(UserError::Invalid(format!(
                "role {other:?} must be admin, auditor or institution"
            ))),
        }
    }

    /// The workflow's role.
    pub fn workflow_role(&self) -> Role {
        match self {
            UserRole::Admin => Role::Admin,
            UserRole::Auditor => Role::Auditor,
            UserRole::Institution(_) => Role::Institution,
        }
    }

    /// The institution the user is bound to, if an institution user.
    pub fn institution(&self) -> Option<&InstitutionCode> {
        match self {
            UserRole::Institution(code) => Some(code),
            _ => None,
        }
    }

    /// True for the bureau's roles (admin, auditor).
    pub fn is_bureau(&self) -> bool {
        !matches!(self, UserRole::Institution(_))
    }
}

/// A stored user (never its token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Unique name.
    pub name: String,
    /// Role and institution.
    pub role: UserRole,
    /// When created.
    pub created_at_ms: i64,
    /// A disabled user's token is refused.
    pub disabled: bool,
    /// When the user was disabled (its token revoked), if recorded.
    pub disabled_at_ms: Option<i64>,
    /// When its token expires (`None`: never, only for users written into the database by hand).
    pub expires_at_ms: Option<i64>,
}

/// Whether a user's token is accepted at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenState {
    /// Accepted.
    Valid,
    /// Revoked: the user was disabled.
    Revoked,
    /// Past its lifetime.
    Expired,
}

impl TokenState {
    /// The code shown by `users list` and written to the access log.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenState::Valid => "valid",
            TokenState::Revoked => "revoked",
            TokenState::Expired => "expired",
        }
    }
}

impl User {
    /// Whether this user's token is accepted at `now_ms`.
    pub fn token_state(&self, now_ms: i64) -> TokenState {
        if self.disabled {
            TokenState::Revoked
        } else if self.expires_at_ms.is_some_and(|at| now_ms >= at) {
            TokenState::Expired
        } else {
            TokenState::Valid
        }
    }

    /// The workflow's view of this user.
    pub fn actor(&self) -> Actor {
        Actor {
            user: self.name.clone(),
            role: self.role.workflow_role(),
            institution: self.role.institution().cloned(),
        }
    }
}

/// What `users list` and `GET /me` show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct UserView {
    /// Name.
    pub name: String,
    /// `admin`, `auditor` or `institution`.
    pub role: &'static str,
    /// For institution users.
    pub fixmedins_code: Option<String>,
    /// When created.
    pub created_at_ms: i64,
    /// Disabled?
    pub disabled: bool,
    /// When disabled (its token revoked).
    pub disabled_at_ms: Option<i64>,
    /// When its token expires.
    pub expires_at_ms: Option<i64>,
}

impl From<&User> for UserView {
    fn from(user: &User) -> Self {
        UserView {
            name: user.name.clone(),
            role: user.role.workflow_role().as_str(),
            fixmedins_code: user.role.institution().map(|c| c.to_string()),
            created_at_ms: user.created_at_ms,
            disabled: user.disabled,
            disabled_at_ms: user.disabled_at_ms,
            expires_at_ms: user.expires_at_ms,
        }
    }
}

/// A user could not be created or changed.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    /// Bad input.
    #[error("{0}")]
    Invalid(String),
    /// The name is taken.
    #[error("user {0:?} already exists")]
    Exists(String),
    /// No such user.
    #[error("no user {0:?}")]
    NotFound(String),
    /// The system's random source failed.
    #[error("cannot draw a random token: {0}")]
    Random(String),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for UserError {
    fn from(e: sqlx::Error) -> Self {
        UserError::Store(StoreError::Query(e))
    }
}

/// The hex SHA-256 of a token, as stored.
pub fn token_digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn new_token() -> Result<String, UserError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| UserError::Random(e.to_string()))?;
    Ok(hex::encode(bytes))
}

pub(crate) fn user_from_row(r: &sqlx::any::AnyRow) -> Result<User, UserError> {
    let role: String = r.try_get(1)?;
    let institution: Option<String> = r.try_get(2)?;
    let disabled: i64 = r.try_get(4)?;
    let disabled_at_ms: Option<i64> = r.try_get(5)?;
    let expires_at_ms: Option<i64> = r.try_get(6)?;
    Ok(User {
        name: r.try_get(0)?,
        role: UserRole::from_parts(&role, institution.as_deref()).map_err(|e| {
            StoreError::Corrupt {
                what: "user role",
                why: e.to_string(),
            }
        })?,
        created_at_ms: r.try_get(3)?,
        disabled: disabled != 0,
        disabled_at_ms,
        expires_at_ms,
    })
}

pub(crate) const USER_COLUMNS: &str =
    "name, role, fixmedins_code, created_at_ms, disabled, disabled_at_ms, expires_at_ms";

/// A token lifetime in days, checked.
fn lifetime_ms(valid_days: u32) -> Result<i64, UserError> {
    if valid_days == 0 || valid_days > MAX_TOKEN_DAYS {
        return Err(UserError::Invalid(format!(
            "a token lives 1 to {MAX_TOKEN_DAYS} days; got {valid_days}"
        )));
    }
    Ok(i64::from(valid_days) * DAY_MS)
}

impl Store {
    /// Creates a user with a token valid for [`DEFAULT_TOKEN_DAYS`] and returns the token, which is
    /// shown once and never stored.
    pub async fn add_user(&self, name: &str, role: &UserRole) -> Result<String, UserError> {
        self.add_user_for(name, role, DEFAULT_TOKEN_DAYS).await
    }

    /// Creates a user with a token valid for `valid_days` and returns the token.
    pub async fn add_user_for(
        &self,
        name: &str,
        role: &UserRole,
        valid_days: u32,
    ) -> Result<String, UserError> {
        let lifetime = lifetime_ms(valid_days)?;
        let name = name.trim();
        if name.is_empty() || name.len() > 64 || name.chars().any(char::is_control) || name == "-" {
            return Err(UserError::Invalid(format!(
                "user name {name:?} must be 1 to 64 printable characters (and not \"-\")"
            )));
        }
        let token = new_token()?;
        let now = now_ms();
        let inserted = sqlx::query(
            "INSERT INTO users (name, role, fixmedins_code, token_sha256, created_at_ms, disabled, \
             expires_at_ms) VALUES ($1, $2, $3, $4, $5, 0, $6) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(role.workflow_role().as_str())
        .bind(role.institution().map(|c| c.to_string()))
        .bind(token_digest(&token))
        .bind(now)
        .bind(now + lifetime)
        .execute(self.pool())
        .await?
        .rows_affected();
        if inserted == 0 {
            return Err(UserError::Exists(name.to_owned()));
        }
        Ok(token)
    }

    /// Every user, by name.
    pub async fn users(&self) -> Result<Vec<User>, UserError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {USER_COLUMNS} FROM users ORDER BY name"
        )))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(user_from_row).collect()
    }

    /// Disables a user: its token is revoked from now on (the first revocation's time is kept).
    pub async fn disable_user(&self, name: &str) -> Result<(), UserError> {
        let changed = sqlx::query(
            "UPDATE users SET disabled = 1, disabled_at_ms = COALESCE(disabled_at_ms, $2) \
             WHERE name = $1",
        )
        .bind(name)
        .bind(now_ms())
        .execute(self.pool())
        .await?
        .rows_affected();
        if changed == 0 {
            return Err(UserError::NotFound(name.to_owned()));
        }
        Ok(())
    }

    /// Issues a new token for an enabled user, valid for `valid_days`: the old token is refused from
    /// now on. Returns the new token, shown once.
    pub async fn renew_token(&self, name: &str, valid_days: u32) -> Result<String, UserError> {
        let lifetime = lifetime_ms(valid_days)?;
        let token = new_token()?;
        let now = now_ms();
        let changed = sqlx::query(
            "UPDATE users SET token_sha256 = $2, expires_at_ms = $3 WHERE name = $1 AND disabled = 0",
        )
        .bind(name)
        .bind(token_digest(&token))
        .bind(now + lifetime)
        .execute(self.pool())
        .await?
        .rows_affected();
        if changed == 0 {
            return Err(UserError::Invalid(format!(
                "no enabled user {name:?}: a disabled user's token stays revoked"
            )));
        }
        Ok(token)
    }

    /// The user holding `token`, disabled or not (the caller decides what a disabled user gets).
    pub async fn user_by_token(&self, token: &str) -> Result<Option<User>, UserError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {USER_COLUMNS} FROM users WHERE token_sha256 = $1"
        )))
        .bind(token_digest(token))
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(user_from_row).transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_and_institutions_go_together() {
        assert_eq!(
            UserRole::from_parts("auditor", None).ok(),
            Some(UserRole::Auditor)
        );
        assert!(matches!(
            UserRole::from_parts("institution", Some("H43060200175")),
            Ok(UserRole::Institution(_))
        ));
        for (role, code) in [
            ("institution", None),
            ("institution", Some("X1")),
            ("auditor", Some("H43060200175")),
            ("admin", Some("H43060200175")),
            ("root", None),
        ] {
            assert!(
                UserRole::from_parts(role, code).is_err(),
                "{role} {code:?} must be refused"
            );
        }
    }

    #[test]
    fn a_token_is_valid_until_it_expires_or_is_revoked() {
        let user = User {
            name: "li".into(),
            role: UserRole::Auditor,
            created_at_ms: 0,
            disabled: false,
            disabled_at_ms: None,
            expires_at_ms: Some(1_000),
        };
        assert_eq!(user.token_state(999), TokenState::Valid);
        assert_eq!(user.token_state(1_000), TokenState::Expired);
        let revoked = User {
            disabled: true,
            disabled_at_ms: Some(5),
            ..user.clone()
        };
        assert_eq!(revoked.token_state(10), TokenState::Revoked);
        assert!(lifetime_ms(0).is_err());
        assert!(lifetime_ms(MAX_TOKEN_DAYS + 1).is_err());
        assert_eq!(lifetime_ms(90).ok(), Some(90 * DAY_MS));
    }

    #[test]
    fn tokens_are_random_and_stored_hashed() {
        let a = new_token().expect("token");
        let b = new_token().expect("token");
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
        assert_eq!(token_digest(&a).len(), 64);
        assert_ne!(token_digest(&a), a);
    }
}
