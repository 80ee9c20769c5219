//! The bureau's web app, served by the collector at `/` beside the JSON API (`/api/v1`): server-rendered
//! pages in Simplified Chinese first (English by a toggle), for auditors reviewing flags and for
//! institutions answering them. Nothing is fetched at run time: templates, words, CSS and the small
//! script are compiled into the binary. Every page request goes through [`page::context`], which finds
//! the session, renders error pages, writes the access log and sets the security headers (a strict
//! Content-Security-Policy: no inline script or style, nothing from elsewhere).
//!
//! | module | what it is for |
//! |---|---|
//! | [`page`] | the request context (language, session), rendering, error pages, access log, headers |
//! | [`i18n`] | the catalogues `i18n/zh-CN.toml` and `i18n/en.toml`, one key per text |
//! | [`auth`] | login (user name or institution code), logout, changing a password, the language toggle |
//! | [`accounts`] | who signs in: users with an argon2id password beside the API token |
//! | [`password`] | argon2id hashing, the length rule, one-time initial passwords |
//! | [`session`] | sessions in `web_sessions`: cookie, expiry, revocation |
//! | [`csrf`] | the per-session token every state-changing form carries (403 without) |
//! | [`throttle`] | login throttling per login name and per address |
//! | [`queue`] | 疑点工作台: the review queue with filters in the URL, counts per state, keyset paging, bulk 初审 |
//! | [`flag`] | 疑点详情: one flag, its timeline, fee lines, history, and the workflow's actions as forms |
//! | [`timeline`] | the patient's day as server-rendered SVG |
//! | [`portal`] | the institution's view: which flags it may see (issued ones) and its list |
//! | [`upload`] | the appeal form with its file, more files, serving a file (PDF/JPEG/PNG by content) |
//! | [`evidence`] | evidence crops for bureau users, each opening logged |
//! | [`reports`] | 报表: the month's 扣费明细 and the quarter's analysis, on screen and as files |
//! | [`rules`] | 规则库: the rules in force; admins edit a threshold into a new version |
//! | [`dashboard`] | 统计看板: 阳性率 per rule, money per month, coverage, fleet health |
//! | [`chart`] | server-rendered SVG bar charts for the dashboards |
//! | [`live`] | 实时在场: boxes, cameras and who is present now, polled without reload |
//! | [`users`] | 用户管理 for admins: create, disable, reset a password, change a role |
//! | [`admin`] | the access log for admins, filtered |
//! | [`assets`] | the embedded CSS and JavaScript |
//!
//! A request travels: [`router`] → [`page::context`] (language, session, then the handler) → a handler
//! that checks the role (and for a flag, [`portal::visible_flag`]) → a template rendered by [`page`].

pub mod accounts;
pub mod admin;
pub mod assets;
pub mod auth;
pub mod chart;
pub mod csrf;
pub mod dashboard;
pub mod evidence;
pub mod flag;
pub mod i18n;
pub mod live;
pub mod page;
pub mod password;
pub mod portal;
pub mod queue;
pub mod reports;
pub mod rules;
pub mod session;
pub mod throttle;
pub mod timeline;
pub mod upload;
pub mod users;

use crate::api::ApiState;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};

/// The web app's routes (everything but `/api/v1`), with its context middleware.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/", get(auth::home))
        .route("/login", get(auth::login_form).post(auth::login))
        .route("/logout", post(auth::logout))
        .route(
            "/password",
            get(auth::password_form).post(auth::change_password),
        )
        .route("/lang", get(auth::switch_language))
        .route("/queue", get(queue::show))
        .route("/queue/confirm", post(queue::bulk_confirm))
        .route("/portal", get(portal::show))
        .route("/flags/{id}", get(flag::show))
        .route("/flags/{id}/act", post(flag::act))
        .route(
            "/flags/{id}/appeal",
            post(upload::appeal).layer(DefaultBodyLimit::max(upload::MAX_FORM_BYTES)),
        )
        .route(
            "/flags/{id}/attachments",
            post(upload::attach).layer(DefaultBodyLimit::max(upload::MAX_FORM_BYTES)),
        )
        .route("/flags/{id}/attachments/{aid}", get(upload::download))
        .route("/evidence/{event_id}", get(evidence::show))
        .route("/reports", get(reports::show))
        .route("/reports/deductions", get(reports::deductions))
        .route("/reports/quarterly", get(reports::quarterly))
        .route("/rules", get(rules::show))
        .route("/rules/{id}", post(rules::edit))
        .route("/admin/access-log", get(admin::access_log))
        .route("/admin/users", get(users::show).post(users::change))
        .route("/dashboard", get(dashboard::show))
        .route("/live", get(live::show))
        .route("/live/fragment", get(live::fragment))
        .route("/static/{file}", get(assets::serve))
        .fallback(page::not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            page::context,
        ))
        .with_state(state)
}
