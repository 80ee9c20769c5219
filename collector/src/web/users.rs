//! 用户管理 Users, for admins: every user with role, institution and state; create a user (a one-time
//! initial password shown once, to be changed at first login), disable one, reset a password to a new
//! one-time one, change a role. Disabling, resetting and a role change end the user's sessions at once.
//! An admin cannot disable or demote itself (the bureau would lock itself out).

use super::page::{Fields, PageError, Signed, render};
use super::password::initial_password;
use super::queue::local_time;
use crate::api::ApiState;
use crate::api::access::AccessNote;
use crate::store::{Store, StoreError};
use crate::users::{UserError, UserRole};
use axum::extract::{Form, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::context;
use serde::Serialize;

/// A user as listed.
#[derive(Debug, Serialize)]
struct UserRow {
    name: String,
    role: &'static str,
    institution: Option<String>,
    created: String,
    disabled: bool,
}

impl Store {
    /// Changes `name`'s role (and institution); `false` when there is no such user.
    pub async fn set_user_role(&self, name: &str, role: &UserRole) -> Result<bool, StoreError> {
        Ok(
            sqlx::query("UPDATE users SET role = $1, fixmedins_code = $2 WHERE name = $3")
                .bind(role.workflow_role().as_str())
                .bind(role.institution().map(ToString::to_string))
                .bind(name)
                .execute(self.pool())
                .await?
                .rows_affected()
                > 0,
        )
    }
}

fn user_error(e: UserError) -> PageError {
    match e {
        UserError::Invalid(why) => PageError::bad_request(why),
        e @ UserError::Exists(_) => PageError::conflict(e.to_string()),
        UserError::NotFound(_) => PageError::not_found(),
        e => PageError::internal(e),
    }
}

fn role_from(form: &Fields) -> Result<UserRole, PageError> {
    let institution = form
        .get("institution")
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_ascii_uppercase);
    UserRole::from_parts(form.get("role").unwrap_or_default(), institution.as_deref())
        .map_err(user_error)
}

/// `GET /admin/users` (admins).
pub async fn show(
    State(state): State<ApiState>,
    signed: Signed,
    Query(query): Query<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    signed.admin_only()?;
    let users: Vec<UserRow> = state
        .store
        .users()
        .await?
        .into_iter()
        .map(|u| UserRow {
            role: u.role.workflow_role().as_str(),
            institution: u.role.institution().map(ToString::to_string),
            created: local_time(u.created_at_ms, state.zone),
            disabled: u.disabled,
            name: u.name,
        })
        .collect();
    let done = Fields(query).get("done").map(str::to_owned);
    Ok(render(
        &signed.ctx,
        "users.html",
        context! { users => users, done => done, issued => None::<String> },
    ))
}

/// `POST /admin/users` (admins; `csrf`, `op` = create | disable | reset | role, `name`, `role`,
/// `institution`). A new one-time password is shown on the page that answers, once, never in a URL.
pub async fn change(
    State(state): State<ApiState>,
    signed: Signed,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let form = Fields(fields);
    signed.check_csrf(&form)?;
    signed.admin_only()?;
    let name = form
        .get("name")
        .map(str::trim)
        .unwrap_or_default()
        .to_owned();
    let me = signed.authed.user.name.as_str();
    let op = form.get("op").unwrap_or_default();
    let issued = match op {
        "create" => {
            let role = role_from(&form)?;
            let password = initial_password().map_err(PageError::internal)?;
            state
                .store
                .add_user_with_password(&name, &role, &password, true)
                .await
                .map_err(user_error)?;
            Some(password)
        }
        "disable" if name == me => {
            return Err(PageError::conflict("an admin does not disable itself"));
        }
        "disable" => {
            state.store.disable_user(&name).await.map_err(user_error)?;
            state.store.end_other_sessions(&name, "").await?;
            None
        }
        "reset" => {
            let password = initial_password().map_err(PageError::internal)?;
            state
                .store
                .set_password(&name, &password, true)
                .await
                .map_err(user_error)?;
            state.store.end_other_sessions(&name, "").await?;
            Some(password)
        }
        "role" => {
            let role = role_from(&form)?;
            if name == me && role != UserRole::Admin {
                return Err(PageError::conflict("an admin does not demote itself"));
            }
            if !state.store.set_user_role(&name, &role).await? {
                return Err(PageError::not_found());
            }
            state.store.end_other_sessions(&name, "").await?;
            None
        }
        other => return Err(PageError::bad_request(format!("op={other:?}"))),
    };
    let note = AccessNote(format!("user {name}: {op}"));
    let mut response = match issued {
        // The one-time password is shown on this answer only (no redirect carrying it).
        Some(password) => render(
            &signed.ctx,
            "users.html",
            context! {
                users => Vec::<UserRow>::new(),
                done => op,
                issued => password,
                issued_for => name,
            },
        ),
        None => Redirect::to(&format!("/admin/users?done={op}")).into_response(),
    };
    response.extensions_mut().insert(note);
    Ok(response)
}
