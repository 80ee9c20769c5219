//! Web accounts: the API's users (same roles, same table) with a password beside their token. Finding
//! who signs in (a user name, or for an institution its institution code), setting a password (a
//! one-time initial one must be changed at first login).

use super::password;
use crate::store::Store;
use crate::users::{USER_COLUMNS, User, UserError, UserRole, user_from_row};
use sqlx::Row;
use wardwatch_protocol::InstitutionCode;

/// A user with what signing in needs.
#[derive(Debug, Clone)]
pub struct Account {
    /// The user.
    pub user: User,
    /// The argon2id PHC string; `None`: this user has no password (API token only).
    pub password_hash: Option<String>,
    /// The password is a one-time initial one.
    pub must_change_password: bool,
}

fn account_from_row(r: &sqlx::any::AnyRow) -> Result<Account, UserError> {
    let must_change: i64 = r.try_get("must_change_password")?;
    Ok(Account {
        user: user_from_row(r)?,
        password_hash: r.try_get("password_hash")?,
        must_change_password: must_change != 0,
    })
}

impl Store {
    /// The account named `name`.
    pub async fn account(&self, name: &str) -> Result<Option<Account>, UserError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {USER_COLUMNS}, password_hash, must_change_password FROM users WHERE name = $1"
        )))
        .bind(name)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(account_from_row).transpose()
    }

    /// Who `login` names: the user of that name, else — when `login` is an institution code (H/P + 11
    /// digits) — the one institution user of that institution that has a password. `None` when nobody,
    /// or when several users of the institution have passwords (they then sign in by name).
    pub async fn login_account(&self, login: &str) -> Result<Option<Account>, UserError> {
        let login = login.trim();
        if let Some(account) = self.account(login).await? {
            return Ok(Some(account));
        }
        let Ok(code) = login.to_ascii_uppercase().parse::<InstitutionCode>() else {
            return Ok(None);
        };
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {USER_COLUMNS}, password_hash, must_change_password FROM users \
             WHERE role = 'institution' AND fixmedins_code = $1 AND password_hash IS NOT NULL \
             ORDER BY name LIMIT 2"
        )))
        .bind(code.to_string())
        .fetch_all(self.pool())
        .await?;
        match rows.as_slice() {
            [only] => Ok(Some(account_from_row(only)?)),
            _ => Ok(None),
        }
    }

    /// Sets `name`'s password (hashed here); `one_time` makes the first login change it.
    pub async fn set_password(
        &self,
        name: &str,
        new_password: &str,
        one_time: bool,
    ) -> Result<(), UserError> {
        let hash = password::hash(new_password).map_err(|e| UserError::Invalid(e.to_string()))?;
        let changed = sqlx::query(
            "UPDATE users SET password_hash = $1, must_change_password = $2 WHERE name = $3",
        )
        .bind(hash)
        .bind(i64::from(one_time))
        .bind(name)
        .execute(self.pool())
        .await?
        .rows_affected();
        if changed == 0 {
            return Err(UserError::NotFound(name.to_owned()));
        }
        Ok(())
    }

    /// Creates a user with a token (as `users add` always did) and a password; returns the token.
    pub async fn add_user_with_password(
        &self,
        name: &str,
        role: &UserRole,
        new_password: &str,
        one_time: bool,
    ) -> Result<String, UserError> {
        password::check_policy(new_password).map_err(|e| UserError::Invalid(e.to_string()))?;
        let token = self.add_user(name, role).await?;
        self.set_password(name.trim(), new_password, one_time)
            .await?;
        Ok(token)
    }
}
