//! Signing in and out, changing a password, and the language toggle. A login names a user, or an
//! institution by its code (H/P + 11 digits, see [`crate::web::accounts`]); it is refused while
//! throttled ([`super::throttle`]), checked against the argon2id hash (an unknown name costs the same
//! time), and on success opens a session ([`super::session`]). A one-time password sends the user to
//! `/password` until changed.

use super::csrf::{self, LOGIN_COOKIE};
use super::i18n::{LANG_COOKIE, Lang};
use super::page::{Ctx, Fields, PageError, Signed, render};
use super::password;
use super::session::{ABSOLUTE_MS, SESSION_COOKIE, random_token, set_cookie};
use crate::api::ApiState;
use crate::api::access::AccessNote;
use crate::store::now_ms;
use axum::extract::{Form, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{AppendHeaders, IntoResponse, Redirect, Response};
use minijinja::context;

/// `GET /`: the bureau's queue, or the institution's list.
pub async fn home(signed: Signed) -> Redirect {
    if signed.authed.user.role.is_bureau() {
        Redirect::to("/queue")
    } else {
        Redirect::to("/portal")
    }
}

/// The login page with a fresh double-submit token (cookie and hidden field), and a message.
fn login_page(ctx: &Ctx, status: StatusCode, message: Option<&str>, login: &str) -> Response {
    let token = match random_token() {
        Ok(token) => token,
        Err(e) => return PageError::internal(e).into_response(),
    };
    let mut response = render(
        ctx,
        "login.html",
        context! { login_csrf => token.clone(), message_key => message, login => login },
    );
    *response.status_mut() = status;
    if let Ok(value) = set_cookie(LOGIN_COOKIE, &token, 3600, ctx.secure).parse() {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

/// `GET /login`.
pub async fn login_form(ctx: Ctx) -> Response {
    if ctx.authed.is_some() {
        return Redirect::to("/").into_response();
    }
    login_page(&ctx, StatusCode::OK, None, "")
}

/// `POST /login` (`login`, `password`, `csrf`).
pub async fn login(
    State(state): State<ApiState>,
    ctx: Ctx,
    headers: axum::http::HeaderMap,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let form = Fields(fields);
    let expected = super::session::cookie(&headers, LOGIN_COOKIE).unwrap_or_default();
    if !csrf::matches(expected, form.get(csrf::FIELD)) {
        return Err(PageError::csrf());
    }
    let login = form.get("login").unwrap_or_default().trim();
    let given = form.get("password").unwrap_or_default();
    let now = now_ms();
    if login.is_empty() || login.chars().count() > 64 {
        return Ok(login_page(
            &ctx,
            StatusCode::UNAUTHORIZED,
            Some("login.failed"),
            "",
        ));
    }
    if let Some(why) = state.store.login_throttled(login, &ctx.ip, now).await? {
        let mut page = login_page(
            &ctx,
            StatusCode::TOO_MANY_REQUESTS,
            Some("login.throttled"),
            login,
        );
        page.extensions_mut()
            .insert(AccessNote(format!("login {login:?} throttled ({why:?})")));
        return Ok(page);
    }
    let account = state.store.login_account(login).await?;
    let ok = match account.as_ref().and_then(|a| a.password_hash.as_deref()) {
        Some(hash) => password::verify(given, hash),
        None => {
            password::verify_nothing(given);
            false
        }
    };
    let account = account.filter(|a| ok && !a.user.disabled);
    state
        .store
        .record_login_attempt(login, &ctx.ip, account.is_some(), now)
        .await?;
    let Some(account) = account else {
        let mut page = login_page(&ctx, StatusCode::UNAUTHORIZED, Some("login.failed"), login);
        page.extensions_mut()
            .insert(AccessNote(format!("login {login:?} failed")));
        return Ok(page);
    };
    let (token, _) = state.store.create_session(&account.user.name, now).await?;
    let next = if account.must_change_password {
        "/password"
    } else {
        "/"
    };
    let mut response = (
        AppendHeaders([
            (
                header::SET_COOKIE,
                set_cookie(SESSION_COOKIE, &token, ABSOLUTE_MS / 1000, ctx.secure),
            ),
            (
                header::SET_COOKIE,
                set_cookie(LOGIN_COOKIE, "", 0, ctx.secure),
            ),
        ]),
        Redirect::to(next),
    )
        .into_response();
    response.extensions_mut().insert(AccessNote(format!(
        "login {login:?} as {}",
        account.user.name
    )));
    Ok(response)
}

/// `POST /logout`: the session row is deleted (the cookie is worthless from now on) and the cookie
/// cleared. Allowed with a one-time password too.
pub async fn logout(
    State(state): State<ApiState>,
    ctx: Ctx,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let Some(authed) = &ctx.authed else {
        return Ok(Redirect::to("/login").into_response());
    };
    if !csrf::matches(&authed.session.csrf_token, Fields(fields).get(csrf::FIELD)) {
        return Err(PageError::csrf());
    }
    state
        .store
        .end_session(&authed.session.token_sha256)
        .await?;
    Ok((
        [(
            header::SET_COOKIE,
            set_cookie(SESSION_COOKIE, "", 0, ctx.secure),
        )],
        Redirect::to("/login"),
    )
        .into_response())
}

fn password_page(ctx: &Ctx, status: StatusCode, message: Option<&str>) -> Response {
    let must_change = ctx.authed.as_ref().is_some_and(|a| a.must_change_password);
    let mut page = render(
        ctx,
        "password.html",
        context! { message_key => message, must_change => must_change },
    );
    *page.status_mut() = status;
    page
}

/// `GET /password`.
pub async fn password_form(ctx: Ctx) -> Response {
    if ctx.authed.is_none() {
        return Redirect::to("/login").into_response();
    }
    password_page(&ctx, StatusCode::OK, None)
}

/// `POST /password` (`current`, `new`, `repeat`, `csrf`): on success the user's other sessions end.
pub async fn change_password(
    State(state): State<ApiState>,
    ctx: Ctx,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let Some(authed) = &ctx.authed else {
        return Ok(Redirect::to("/login").into_response());
    };
    let form = Fields(fields);
    if !csrf::matches(&authed.session.csrf_token, form.get(csrf::FIELD)) {
        return Err(PageError::csrf());
    }
    let (current, new, repeat) = (
        form.get("current").unwrap_or_default(),
        form.get("new").unwrap_or_default(),
        form.get("repeat").unwrap_or_default(),
    );
    let account = state
        .store
        .account(&authed.user.name)
        .await?
        .ok_or_else(PageError::not_found)?;
    let refuse = |key| Ok(password_page(&ctx, StatusCode::BAD_REQUEST, Some(key)));
    if !account
        .password_hash
        .as_deref()
        .is_some_and(|h| password::verify(current, h))
    {
        return refuse("password.wrong");
    }
    if new != repeat {
        return refuse("password.mismatch");
    }
    if password::check_policy(new).is_err() {
        return refuse("password.too_short");
    }
    if new == current {
        return refuse("password.same");
    }
    state
        .store
        .set_password(&authed.user.name, new, false)
        .await?;
    let ended = state
        .store
        .end_other_sessions(&authed.user.name, &authed.session.token_sha256)
        .await?;
    let mut response = Redirect::to("/").into_response();
    response.extensions_mut().insert(AccessNote(format!(
        "password changed; {ended} other session(s) ended"
    )));
    Ok(response)
}

/// A path on this site to go back to (anything else, e.g. `//evil.example`, becomes `/`).
pub fn local_path(back: Option<&str>) -> String {
    match back {
        Some(p) if p.starts_with('/') && !p.starts_with("//") && !p.contains('\\') => p.to_owned(),
        _ => "/".to_owned(),
    }
}

/// `GET /lang?to=en|zh-CN&back=/path`: remembers the language in a cookie (a preference, not a change
/// of anything stored) and goes back.
pub async fn switch_language(ctx: Ctx, Query(query): Query<Vec<(String, String)>>) -> Response {
    let form = Fields(query);
    let lang = Lang::from_code(form.get("to"));
    (
        [(
            header::SET_COOKIE,
            set_cookie(LANG_COOKIE, lang.code(), 365 * 86_400, ctx.secure),
        )],
        Redirect::to(&local_path(form.get("back"))),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::local_path;

    #[test]
    fn only_local_paths_are_followed_back() {
        assert_eq!(
            local_path(Some("/queue?state=pending")),
            "/queue?state=pending"
        );
        assert_eq!(local_path(Some("//evil.example/x")), "/");
        assert_eq!(local_path(Some("https://evil.example")), "/");
        assert_eq!(local_path(Some("/\\evil.example")), "/");
        assert_eq!(local_path(None), "/");
    }
}
