//! 访问日志 The access log for admins: who opened which page, flag, evidence crop or file, when and with
//! what answer (the web app's and the API's requests, one log), newest first, filtered by user, flag,
//! path and local dates, 200 rows a page.

use super::page::{Fields, PageError, Signed, render};
use super::queue::local_time;
use crate::api::ApiState;
use crate::rules::timeline::day_bounds;
use crate::store::{Store, StoreError};
use axum::extract::{Query, State};
use axum::response::Response;
use chrono::NaiveDate;
use minijinja::context;
use serde::Serialize;
use sqlx::Row;

/// Rows on one page of the log.
pub const LOG_PAGE: i64 = 200;

/// Which entries to show.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogFilter {
    /// Exactly this user.
    pub user: Option<String>,
    /// This flag.
    pub flag: Option<i64>,
    /// The path contains this.
    pub path: Option<String>,
    /// At or after (epoch ms).
    pub from_ms: Option<i64>,
    /// Before (epoch ms).
    pub to_ms: Option<i64>,
    /// Keyset: entries with a smaller id.
    pub before: Option<i64>,
}

/// An entry as shown.
#[derive(Debug, Serialize)]
pub struct LogRow {
    id: i64,
    at: String,
    user_name: String,
    role: String,
    method: String,
    path: String,
    status: i64,
    flag_id: Option<i64>,
    detail: String,
}

impl Store {
    /// One page of the access log under `filter`, newest first.
    pub async fn access_log_page(
        &self,
        filter: &LogFilter,
        zone: chrono_tz::Tz,
    ) -> Result<Vec<LogRow>, StoreError> {
        let sql = format!(
            "SELECT id, at_ms, user_name, role, method, path, status, flag_id, detail FROM access_log \
             WHERE ($1 = '' OR user_name = $1) AND ($2 < 0 OR flag_id = $2) \
             AND ($3 = '' OR path LIKE $4) AND at_ms >= $5 AND at_ms < $6 AND id < $7 \
             ORDER BY id DESC LIMIT {LOG_PAGE}"
        );
        let path = filter.path.clone().unwrap_or_default();
        // LIKE's wildcards typed in the filter are dropped: it matches the text, not a pattern.
        let like = format!("%{}%", path.replace(['\\', '%', '_'], ""));
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(filter.user.clone().unwrap_or_default())
            .bind(filter.flag.unwrap_or(-1))
            .bind(path)
            .bind(like)
            .bind(filter.from_ms.unwrap_or(i64::MIN))
            .bind(filter.to_ms.unwrap_or(i64::MAX))
            .bind(filter.before.unwrap_or(i64::MAX))
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| {
                Ok(LogRow {
                    id: r.try_get(0)?,
                    at: local_time(r.try_get(1)?, zone),
                    user_name: r.try_get(2)?,
                    role: r.try_get(3)?,
                    method: r.try_get(4)?,
                    path: r.try_get(5)?,
                    status: r.try_get(6)?,
                    flag_id: r.try_get(7)?,
                    detail: r.try_get(8)?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::Query)
    }
}

fn parse_filter(query: &Fields, zone: chrono_tz::Tz) -> Result<LogFilter, PageError> {
    let text = |name: &str| query.get(name).map(str::trim).filter(|v| !v.is_empty());
    let number = |name: &str| {
        text(name)
            .map(|v| {
                v.parse::<i64>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| PageError::bad_request(format!("{name}={v:?}")))
            })
            .transpose()
    };
    let day = |name: &str| {
        text(name)
            .map(|v| {
                NaiveDate::parse_from_str(v, "%Y-%m-%d")
                    .ok()
                    .and_then(|d| day_bounds(d, zone))
                    .map(|b| b.0)
                    .ok_or_else(|| PageError::bad_request(format!("{name}={v:?}: YYYY-MM-DD")))
            })
            .transpose()
    };
    Ok(LogFilter {
        user: text("user").map(str::to_owned),
        flag: number("flag")?,
        path: text("path").map(|p| p.chars().take(200).collect()),
        from_ms: day("from")?,
        to_ms: day("to")?,
        before: number("before")?,
    })
}

/// `GET /admin/access-log?user=&flag=&path=&from=&to=&before=` (admins).
pub async fn access_log(
    State(state): State<ApiState>,
    signed: Signed,
    Query(query): Query<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    signed.admin_only()?;
    let query = Fields(query);
    let filter = parse_filter(&query, state.zone)?;
    let rows = state.store.access_log_page(&filter, state.zone).await?;
    let next_before = (rows.len() as i64 == LOG_PAGE)
        .then(|| rows.last().map(|r| r.id))
        .flatten();
    let keep: Vec<String> = ["user", "flag", "path", "from", "to"]
        .iter()
        .filter_map(|k| {
            query
                .get(k)
                .filter(|v| !v.trim().is_empty())
                .map(|v| format!("{k}={}", urlencode(v.trim())))
        })
        .collect();
    let values = context! {
        rows => rows,
        filter => context! {
            user => query.get("user"),
            flag => query.get("flag"),
            path => query.get("path"),
            from => query.get("from"),
            to => query.get("to"),
        },
        query => keep.join("&"),
        next_before => next_before,
    };
    Ok(render(&signed.ctx, "access_log.html", values))
}

/// Percent-encodes a query value.
fn urlencode(value: &str) -> String {
    value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
