//! 统计看板 Dashboards (bureau users), each chart a server-rendered SVG ([`super::chart`]) with its
//! numbers in a table beside it: per-rule positive rate (阳性率, the share of reviewed flags that
//! stand) against the policy's 50% line, rules under it marked; amounts flagged, refused (拒付) and
//! recovered (追回) per month over the last twelve; per institution the share of billed session time
//! its wards were watched by working cameras over the last 90 days (`billing_coverage`, written by
//! each rules run); and the fleet's health (boxes, their connection, silence, cameras not ok).

use super::chart::{Bar, Group, Reference, bars};
use super::page::{PageError, Signed, render};
use crate::api::ApiState;
use crate::api::access::AccessNote;
use crate::store::{Store, StoreError, now_ms};
use axum::extract::State;
use axum::response::Response;
use chrono::{Datelike, Duration, TimeZone};
use minijinja::{Value, context};
use serde::Serialize;
use sqlx::Row;
use std::collections::BTreeMap;

/// The policy's target positive rate.
pub const TARGET_RATE: f64 = 0.5;
const DAY_MS: i64 = 86_400_000;

/// A rule's review outcome as shown.
#[derive(Debug, Serialize)]
struct RuleRow {
    rule_id: String,
    raised: i64,
    pending: i64,
    positive: i64,
    negative: i64,
    rate: Option<f64>,
    below: bool,
}

/// One month's money.
#[derive(Debug, Default, Serialize)]
struct MonthRow {
    month: String,
    flagged_fen: i64,
    refused_fen: i64,
    recovered_fen: i64,
}

/// One institution's coverage.
#[derive(Debug, Serialize)]
struct CoverageRow {
    code: String,
    billed_hours: f64,
    blind_hours: f64,
    share: f64,
}

/// The fleet.
#[derive(Debug, Default, Serialize)]
struct Fleet {
    boxes: usize,
    online: usize,
    offline: usize,
    never: usize,
    silent_day: usize,
    cameras: usize,
    cameras_not_ok: usize,
}

fn local_month(ms: i64, zone: chrono_tz::Tz) -> String {
    zone.timestamp_millis_opt(ms)
        .single()
        .map(|t| format!("{:04}-{:02}", t.year(), t.month()))
        .unwrap_or_default()
}

impl Store {
    /// Money per local month since `since_ms`: flagged (by creation), refused and recovered (by the
    /// handling action's time).
    async fn money_by_month(
        &self,
        since_ms: i64,
        zone: chrono_tz::Tz,
    ) -> Result<Vec<MonthRow>, StoreError> {
        let mut months: BTreeMap<String, MonthRow> = BTreeMap::new();
        let rows =
            sqlx::query("SELECT created_at_ms, amount_fen FROM flags WHERE created_at_ms >= $1")
                .bind(since_ms)
                .fetch_all(self.pool())
                .await?;
        for row in rows {
            let month = local_month(row.try_get(0)?, zone);
            let amount: i64 = row.try_get(1)?;
            months.entry(month).or_default().flagged_fen += amount;
        }
        let rows = sqlx::query(
            "SELECT e.action, e.at_ms, COALESCE(e.amount_fen, 0) FROM flag_events e \
             WHERE e.action IN ('refuse_payment', 'recover') AND e.at_ms >= $1",
        )
        .bind(since_ms)
        .fetch_all(self.pool())
        .await?;
        for row in rows {
            let action: String = row.try_get(0)?;
            let row_month = months
                .entry(local_month(row.try_get(1)?, zone))
                .or_default();
            let amount: i64 = row.try_get(2)?;
            if action == "recover" {
                row_month.recovered_fen += amount;
            } else {
                row_month.refused_fen += amount;
            }
        }
        Ok(months
            .into_iter()
            .map(|(month, row)| MonthRow { month, ..row })
            .collect())
    }

    /// Each box's connection, newest heartbeat time and cameras' states from it.
    async fn fleet(&self) -> Result<Fleet, StoreError> {
        let now = now_ms();
        let states = self.device_states().await?;
        let mut fleet = Fleet::default();
        for device in self.devices().await? {
            fleet.boxes += 1;
            match states
                .get(device.device_id.as_str())
                .map(|(s, _)| s.as_str())
            {
                Some("online") => fleet.online += 1,
                Some(_) => fleet.offline += 1,
                None => fleet.never += 1,
            }
            let Some((at, health)) = self.newest_heartbeat(device.device_id.as_str()).await? else {
                fleet.silent_day += 1;
                continue;
            };
            if now - at > DAY_MS {
                fleet.silent_day += 1;
            }
            for camera in health.iter().flat_map(|h| &h.cameras) {
                fleet.cameras += 1;
                if camera.state != Some(wardwatch_protocol::CameraState::Ok) {
                    fleet.cameras_not_ok += 1;
                }
            }
        }
        Ok(fleet)
    }
}

/// `GET /dashboard` (bureau users).
pub async fn show(State(state): State<ApiState>, signed: Signed) -> Result<Response, PageError> {
    signed.bureau_only()?;
    let words = signed.ctx.lang.catalogue();
    let zone = state.zone;
    let percent = |r: f64| format!("{:.1}%", r * 100.0);

    let rules: Vec<RuleRow> = state
        .store
        .rule_stats()
        .await?
        .into_iter()
        .map(|s| RuleRow {
            below: s.positive_rate.is_some_and(|r| r < TARGET_RATE),
            rule_id: s.rule_id,
            raised: s.raised,
            pending: s.pending,
            positive: s.positive,
            negative: s.negative,
            rate: s.positive_rate,
        })
        .collect();
    let rate_groups: Vec<Group> = rules
        .iter()
        .map(|r| Group {
            label: words.text(&format!("rule.{}", r.rule_id)),
            bars: vec![Bar {
                value: r.rate.unwrap_or(0.0),
                class: if r.rate.is_none() {
                    "none"
                } else if r.below {
                    "below"
                } else {
                    "ok"
                },
                title: r
                    .rate
                    .map_or_else(|| words.text("dashboard.no_reviews"), percent),
            }],
        })
        .collect();
    let rate_chart = bars(
        "rate-chart",
        &words.text("dashboard.rates"),
        &rate_groups,
        1.0,
        Some(&Reference {
            value: TARGET_RATE,
            label: words.text("dashboard.target"),
        }),
    );

    let now = now_ms();
    let twelve_months_ago = zone
        .timestamp_millis_opt(now)
        .single()
        .and_then(|t| {
            let first = t.date_naive().with_day(1)?;
            let start = first.checked_sub_months(chrono::Months::new(11))?;
            zone.from_local_datetime(&start.and_hms_opt(0, 0, 0)?)
                .earliest()
        })
        .map_or(now - 365 * DAY_MS, |t| t.timestamp_millis());
    let months = state.store.money_by_month(twelve_months_ago, zone).await?;
    let money_max = months
        .iter()
        .map(|m| m.flagged_fen.max(m.refused_fen).max(m.recovered_fen))
        .max()
        .unwrap_or(0) as f64;
    let yuan = |fen: i64| format!("¥{}", super::page::format_yuan(fen));
    let money_groups: Vec<Group> = months
        .iter()
        .map(|m| Group {
            label: m.month.clone(),
            bars: vec![
                Bar {
                    value: m.flagged_fen as f64,
                    class: "flagged",
                    title: format!(
                        "{} {}",
                        words.text("dashboard.flagged"),
                        yuan(m.flagged_fen)
                    ),
                },
                Bar {
                    value: m.refused_fen as f64,
                    class: "refused",
                    title: format!(
                        "{} {}",
                        words.text("dashboard.refused"),
                        yuan(m.refused_fen)
                    ),
                },
                Bar {
                    value: m.recovered_fen as f64,
                    class: "recovered",
                    title: format!(
                        "{} {}",
                        words.text("dashboard.recovered"),
                        yuan(m.recovered_fen)
                    ),
                },
            ],
        })
        .collect();
    let money_chart = bars(
        "money-chart",
        &words.text("dashboard.money"),
        &money_groups,
        money_max,
        None,
    );

    let today = zone
        .timestamp_millis_opt(now)
        .single()
        .map(|t| t.date_naive())
        .unwrap_or_default();
    let coverage: Vec<CoverageRow> = state
        .store
        .coverage(today - Duration::days(90), today)
        .await?
        .into_iter()
        .map(|(code, c)| CoverageRow {
            code: code.to_string(),
            billed_hours: c.billed_minutes / 60.0,
            blind_hours: c.blind_minutes / 60.0,
            share: c.monitored_share(),
        })
        .collect();
    let coverage_groups: Vec<Group> = coverage
        .iter()
        .map(|c| Group {
            label: c.code.clone(),
            bars: vec![Bar {
                value: c.share,
                class: if c.share < 0.9 { "below" } else { "ok" },
                title: percent(c.share),
            }],
        })
        .collect();
    let coverage_chart = bars(
        "coverage-chart",
        &words.text("dashboard.coverage"),
        &coverage_groups,
        1.0,
        None,
    );
    let fleet = state.store.fleet().await?;

    let values = context! {
        rules => rules,
        rate_chart => Value::from_safe_string(rate_chart),
        months => months,
        money_chart => Value::from_safe_string(money_chart),
        coverage => coverage,
        coverage_chart => Value::from_safe_string(coverage_chart),
        coverage_from => (today - Duration::days(90)).to_string(),
        coverage_to => today.to_string(),
        fleet => fleet,
    };
    let mut response = render(&signed.ctx, "dashboard.html", values);
    response
        .extensions_mut()
        .insert(AccessNote("dashboard".into()));
    Ok(response)
}
