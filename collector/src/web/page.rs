//! What every page shares: the request context (language, session, client address), rendering a
//! template with the chrome (words, user, CSRF token), error pages, the access log and the security
//! headers.

use super::i18n::{LANG_COOKIE, Lang};
use super::session::{SESSION_COOKIE, StoredSession, cookie, secure_request};
use crate::api::ApiState;
use crate::api::access::{AccessEntry, AccessNote};
use crate::store::now_ms;
use crate::users::User;
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::{Environment, Value, context};
use std::net::SocketAddr;
use std::sync::OnceLock;

/// The Content-Security-Policy of every page: only this origin's script and style, no inline script or
/// style, no plugins, no framing, forms post only here.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                       connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// A signed-in user on a live session.
#[derive(Debug, Clone)]
pub struct Authed {
    /// The user (enabled).
    pub user: User,
    /// The session.
    pub session: StoredSession,
    /// The password is a one-time initial one: every page but `/password` sends the user there.
    pub must_change_password: bool,
}

/// What the middleware learned about the request, for the handlers.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// The interface language.
    pub lang: Lang,
    /// Whether cookies must be Secure.
    pub secure: bool,
    /// The signed-in user, if any.
    pub authed: Option<Authed>,
    /// The client's address (the peer, or the loopback proxy's `X-Forwarded-For`).
    pub ip: String,
    /// Path and query of the request.
    pub path: String,
}

impl<S: Send + Sync> FromRequestParts<S> for Ctx {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Ctx>()
            .cloned()
            .ok_or_else(|| StatusCode::INTERNAL_SERVER_ERROR.into_response())
    }
}

/// A signed-in user whose password is not a one-time one: the extractor of every page but login. Without
/// a session it redirects to `/login`; with a one-time password to `/password`.
#[derive(Debug, Clone)]
pub struct Signed {
    /// The context.
    pub ctx: Ctx,
    /// The user.
    pub authed: Authed,
}

impl<S: Send + Sync> FromRequestParts<S> for Signed {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let ctx = Ctx::from_request_parts(parts, state).await?;
        match ctx.authed.clone() {
            None => Err(Redirect::to("/login").into_response()),
            Some(authed) if authed.must_change_password => {
                Err(Redirect::to("/password").into_response())
            }
            Some(authed) => Ok(Signed { ctx, authed }),
        }
    }
}

impl Signed {
    /// 403 unless a bureau user (admin or auditor).
    pub fn bureau_only(&self) -> Result<(), PageError> {
        if self.authed.user.role.is_bureau() {
            Ok(())
        } else {
            Err(PageError::forbidden())
        }
    }

    /// 403 unless an admin.
    pub fn admin_only(&self) -> Result<(), PageError> {
        if self.authed.user.role == crate::users::UserRole::Admin {
            Ok(())
        } else {
            Err(PageError::forbidden())
        }
    }

    /// Checks a form's CSRF field against the session's token (403 when wrong or missing).
    pub fn check_csrf(&self, form: &Fields) -> Result<(), PageError> {
        if super::csrf::matches(
            &self.authed.session.csrf_token,
            form.get(super::csrf::FIELD),
        ) {
            Ok(())
        } else {
            Err(PageError::csrf())
        }
    }
}

/// A page that could not be served: rendered as the error page (in the user's language) by
/// [`context`].
#[derive(Debug, Clone)]
pub struct PageError {
    /// The status.
    pub status: StatusCode,
    /// The catalogue key of the message.
    pub key: &'static str,
    /// A detail (not translated: the workflow's refusal, the bad parameter).
    pub detail: Option<String>,
}

impl PageError {
    /// 404: the same page whether the thing does not exist or may not be seen.
    pub fn not_found() -> PageError {
        PageError {
            status: StatusCode::NOT_FOUND,
            key: "error.not_found",
            detail: None,
        }
    }

    /// 403.
    pub fn forbidden() -> PageError {
        PageError {
            status: StatusCode::FORBIDDEN,
            key: "error.forbidden",
            detail: None,
        }
    }

    /// 403 for a missing or wrong CSRF token.
    pub fn csrf() -> PageError {
        PageError {
            status: StatusCode::FORBIDDEN,
            key: "error.csrf",
            detail: None,
        }
    }

    /// 400 naming what was wrong.
    pub fn bad_request(detail: impl Into<String>) -> PageError {
        PageError {
            status: StatusCode::BAD_REQUEST,
            key: "error.bad_request",
            detail: Some(detail.into()),
        }
    }

    /// 409: the workflow refuses in this state.
    pub fn conflict(detail: impl Into<String>) -> PageError {
        PageError {
            status: StatusCode::CONFLICT,
            key: "error.conflict",
            detail: Some(detail.into()),
        }
    }

    /// 500; the cause goes to the log, not to the page.
    pub fn internal(cause: impl std::fmt::Display) -> PageError {
        tracing::error!(error = %cause, "web page failed");
        PageError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            key: "error.internal",
            detail: None,
        }
    }
}

impl From<crate::store::StoreError> for PageError {
    fn from(e: crate::store::StoreError) -> Self {
        PageError::internal(e)
    }
}

impl From<crate::users::UserError> for PageError {
    fn from(e: crate::users::UserError) -> Self {
        PageError::internal(e)
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let mut response = self.status.into_response();
        let note = format!(
            "{}{}",
            self.key,
            self.detail
                .as_deref()
                .map(|d| format!(": {d}"))
                .unwrap_or_default()
        );
        response.extensions_mut().insert(AccessNote(note));
        response.extensions_mut().insert(self);
        response
    }
}

/// The fallback: a 404 page.
pub async fn not_found() -> PageError {
    PageError::not_found()
}

/// A form's fields in order (repeated names kept, as checkboxes send them).
#[derive(Debug, Clone, Default)]
pub struct Fields(pub Vec<(String, String)>);

impl Fields {
    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name`.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The compiled-in templates, parsed once.
pub fn templates() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        for (name, source) in TEMPLATES {
            if let Err(e) = env.add_template(name, source) {
                // A test renders every template: this is a build defect, logged if it ever ships.
                tracing::error!(template = name, error = %e, "web template does not parse");
            }
        }
        env.add_filter("yuan", |fen: i64| format_yuan(fen));
        env
    })
}

/// Every template, by name.
pub const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("templates/base.html")),
    ("error.html", include_str!("templates/error.html")),
    ("login.html", include_str!("templates/login.html")),
    ("password.html", include_str!("templates/password.html")),
    ("queue.html", include_str!("templates/queue.html")),
    ("flag.html", include_str!("templates/flag.html")),
    ("portal.html", include_str!("templates/portal.html")),
    ("reports.html", include_str!("templates/reports.html")),
    ("rules.html", include_str!("templates/rules.html")),
    ("access_log.html", include_str!("templates/access_log.html")),
    ("live.html", include_str!("templates/live.html")),
    ("users.html", include_str!("templates/users.html")),
    ("dashboard.html", include_str!("templates/dashboard.html")),
    ("live_body.html", include_str!("templates/live_body.html")),
];

/// Fen as yuan with two decimals and thousands separators: 1234567 → "12,345.67".
pub fn format_yuan(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    let fen = fen.unsigned_abs();
    let yuan = (fen / 100).to_string();
    let mut grouped = String::new();
    for (i, c) in yuan.chars().enumerate() {
        if i > 0 && (yuan.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("{sign}{grouped}.{:02}", fen % 100)
}

/// Renders `template` with `values` and the chrome every page has: the words (`t`), the language and
/// its toggle, the user and the CSRF token.
pub fn render(ctx: &Ctx, template: &str, values: Value) -> Response {
    let catalogue = ctx.lang.catalogue();
    let user = ctx.authed.as_ref().map(|a| {
        context! {
            name => a.user.name.clone(),
            role => a.user.role.workflow_role().as_str(),
            bureau => a.user.role.is_bureau(),
            institution => a.user.role.institution().map(|c| c.to_string()),
        }
    });
    let chrome = context! {
        t => Value::from_function(move |key: &str| catalogue.text(key)),
        lang => ctx.lang.code(),
        other_lang => ctx.lang.other().code(),
        path => ctx.path.clone(),
        user => user,
        csrf => ctx.authed.as_ref().map(|a| a.session.csrf_token.clone()),
    };
    let result = templates()
        .get_template(template)
        .and_then(|t| t.render(context! { ..values, ..chrome }));
    match result {
        Ok(html) => ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response(),
        Err(e) => {
            tracing::error!(template, error = %e, "web template failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "template error").into_response()
        }
    }
}

/// A redirect after a form (post/redirect/get) with what the access log should say about it.
pub fn redirect(to: &str, note: String) -> Response {
    let mut response = Redirect::to(to).into_response();
    response.extensions_mut().insert(AccessNote(note));
    response
}

/// The client's address: the peer, or — when the peer is a proxy on this machine — the last address
/// of `X-Forwarded-For` (the one that proxy added).
fn client_ip(request: &Request) -> String {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let forwarded = request
        .headers()
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit(',').next())
        .map(|v| v.trim().to_owned())
        .filter(|v| v.parse::<std::net::IpAddr>().is_ok());
    match (peer, forwarded) {
        (Some(peer), Some(forwarded)) if peer.is_loopback() => forwarded,
        (Some(peer), _) => peer.to_string(),
        (None, _) => "-".into(),
    }
}

async fn find_session(
    state: &ApiState,
    token: Option<String>,
) -> Result<Option<Authed>, PageError> {
    let Some(token) = token else {
        return Ok(None);
    };
    let Some(session) = state.store.live_session(&token, now_ms()).await? else {
        return Ok(None);
    };
    match state.store.account(&session.user_name).await? {
        Some(account) if !account.user.disabled && account.password_hash.is_some() => {
            Ok(Some(Authed {
                user: account.user,
                session,
                must_change_password: account.must_change_password,
            }))
        }
        _ => {
            // Disabled (or password removed) since login: the session ends now.
            state.store.end_session(&session.token_sha256).await?;
            Ok(None)
        }
    }
}

/// The flag id in `/flags/{id}…`, for the access log.
fn flag_in_path(path: &str) -> Option<i64> {
    path.strip_prefix("/flags/")?
        .split(['/', '?'])
        .next()?
        .parse()
        .ok()
}

/// Middleware around every web route: context in, error pages rendered, access log written (static
/// files aside), security headers on.
pub async fn context(State(state): State<ApiState>, mut request: Request, next: Next) -> Response {
    let lang = Lang::from_code(cookie(request.headers(), LANG_COOKIE));
    let path = request.uri().path_and_query().map_or_else(
        || request.uri().path().to_owned(),
        |p| p.as_str().to_owned(),
    );
    let method = request.method().to_string();
    let is_static = request.uri().path().starts_with("/static/");
    let mut ctx = Ctx {
        lang,
        secure: secure_request(state.secure_cookies, request.headers()),
        authed: None,
        ip: client_ip(&request),
        path: path.clone(),
    };
    let mut response = if is_static {
        next.run(request).await
    } else {
        let token = cookie(request.headers(), SESSION_COOKIE).map(str::to_owned);
        match find_session(&state, token).await {
            Ok(authed) => {
                ctx.authed = authed;
                request.extensions_mut().insert(ctx.clone());
                next.run(request).await
            }
            Err(e) => e.into_response(),
        }
    };
    if let Some(error) = response.extensions_mut().remove::<PageError>() {
        let note = response.extensions_mut().remove::<AccessNote>();
        let values = context! {
            status => error.status.as_u16(),
            message_key => error.key,
            detail => error.detail,
        };
        response = render(&ctx, "error.html", values);
        *response.status_mut() = error.status;
        if let Some(note) = note {
            response.extensions_mut().insert(note);
        }
    }
    if !is_static {
        let user = ctx.authed.as_ref().map(|a| &a.user);
        let entry = AccessEntry {
            at_ms: now_ms(),
            user_name: user.map_or("-".into(), |u| u.name.clone()),
            role: user.map_or("-", |u| u.role.workflow_role().as_str()).into(),
            method,
            flag_id: flag_in_path(&path),
            path,
            status: i64::from(response.status().as_u16()),
            detail: response
                .extensions_mut()
                .remove::<AccessNote>()
                .map(|n| format!("web: {}", n.0))
                .unwrap_or_else(|| "web".into()),
        };
        if let Err(e) = state.store.log_access(&entry).await {
            tracing::error!(error = %e, "access log not written, web response withheld");
            response =
                (StatusCode::INTERNAL_SERVER_ERROR, "access log unavailable").into_response();
        }
    }
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "same-origin"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    if !is_static {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yuan_are_grouped_with_two_decimals() {
        assert_eq!(format_yuan(41_000), "410.00");
        assert_eq!(format_yuan(123_456_789), "1,234,567.89");
        assert_eq!(format_yuan(-5), "-0.05");
        assert_eq!(format_yuan(0), "0.00");
    }

    #[test]
    fn every_template_parses_and_every_key_it_names_is_in_both_catalogues() {
        let env = templates();
        for (name, source) in TEMPLATES {
            assert!(env.get_template(name).is_ok(), "{name} does not parse");
            for quote in ['"', '\''] {
                let opener = format!("t({quote}");
                for piece in source.split(opener.as_str()).skip(1) {
                    let key = piece.split(quote).next().unwrap_or_default();
                    // `t("state." ~ code)`, `t("live.conn_" ~ state)`: a prefix; the tests of i18n
                    // check each state, action, rule.
                    if key.ends_with('.') || key.ends_with('_') {
                        assert!(
                            Lang::ZhCn.catalogue().keys().any(|k| k.starts_with(key)),
                            "{name}: no key starts with {key}"
                        );
                        continue;
                    }
                    for lang in [Lang::ZhCn, Lang::En] {
                        assert!(
                            lang.catalogue().get(key).is_some(),
                            "{name}: {key} missing in {}",
                            lang.code()
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn the_error_page_renders_in_both_languages_with_no_inline_script() {
        for (lang, words) in [(Lang::ZhCn, "找不到"), (Lang::En, "No such page")] {
            let ctx = Ctx {
                lang,
                secure: false,
                authed: None,
                ip: "-".into(),
                path: "/x?a=1".into(),
            };
            let response = render(
                &ctx,
                "error.html",
                context! { status => 404, message_key => "error.not_found", detail => "<b>" },
            );
            assert_eq!(response.status(), StatusCode::OK);
            let body = futures_body(response);
            assert!(body.contains(words), "{body}");
            assert!(body.contains("&lt;b&gt;"), "escaped detail");
            assert!(
                body.contains("back=&#x2f;x%3Fa%3D1"),
                "language toggle returns here: {body}"
            );
            assert!(
                !body.contains("<script>") && !body.contains("style="),
                "no inline script or style"
            );
        }
    }

    fn futures_body(response: Response) -> String {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        runtime.block_on(async {
            let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .expect("body");
            String::from_utf8(bytes.to_vec()).expect("utf-8")
        })
    }

    #[test]
    fn flag_ids_come_from_flag_paths() {
        assert_eq!(flag_in_path("/flags/42"), Some(42));
        assert_eq!(flag_in_path("/flags/42/act"), Some(42));
        assert_eq!(flag_in_path("/flags/42?done=confirm"), Some(42));
        assert_eq!(flag_in_path("/queue"), None);
    }
}
