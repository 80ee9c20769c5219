//! `dialysis_over_weekly`: more haemodialysis sessions billed for one patient in one ISO week (local
//! time) than `max_dialysis_per_week` (default 5; three a week is the usual schedule). Billing alone
//! decides, so camera coverage does not matter. The sessions beyond the limit, in billing order, are
//! the amount at stake; the flag goes to the institution that billed the first of them, and the
//! evidence lists every session of the week with its institution.

use super::{RuleParams, RulesError, RulesReport};
use crate::flags::store::NewFlag;
use crate::knowledge::Knowledge;
use crate::store::Store;
use chrono::{Datelike, TimeZone};
use serde_json::json;
use sqlx::Row;
use std::collections::BTreeMap;
use wardwatch_protocol::WardKind;

struct Session {
    feedetl_sn: String,
    at_ms: i64,
    cnt: f64,
    fee_fen: i64,
    institution: Option<String>,
}

/// Runs the rule over fee lines billed in [from_ms, to_ms).
pub async fn run(
    store: &Store,
    knowledge: &Knowledge,
    params: &RuleParams,
    from_ms: i64,
    to_ms: i64,
    report: &mut RulesReport,
) -> Result<(), RulesError> {
    let rows = sqlx::query(
        "SELECT f.feedetl_sn, f.psn_no, f.fee_ocur_time_ms, f.hilist_code, f.cnt, \
         f.det_item_fee_sumamt_fen, s.fixmedins_code \
         FROM fee_lines f LEFT JOIN (SELECT mdtrt_id, MIN(fixmedins_code) AS fixmedins_code \
         FROM settlements GROUP BY mdtrt_id) s ON s.mdtrt_id = f.mdtrt_id \
         WHERE f.fee_ocur_time_ms >= $1 AND f.fee_ocur_time_ms < $2 ORDER BY f.fee_ocur_time_ms, f.feedetl_sn",
    )
    .bind(from_ms)
    .bind(to_ms)
    .fetch_all(store.pool())
    .await?;
    let mut weeks: BTreeMap<(String, i32, u32), Vec<Session>> = BTreeMap::new();
    for row in rows {
        let code: String = row.try_get(3)?;
        if knowledge
            .item(&code)
            .is_none_or(|i| i.ward_kind != WardKind::Haemodialysis)
        {
            continue;
        }
        let at_ms: i64 = row.try_get(2)?;
        let Some(local) = params.zone.timestamp_millis_opt(at_ms).single() else {
            continue;
        };
        let week = local.iso_week();
        weeks
            .entry((row.try_get(1)?, week.year(), week.week()))
            .or_default()
            .push(Session {
                feedetl_sn: row.try_get(0)?,
                at_ms,
                cnt: row.try_get(4)?,
                fee_fen: row.try_get(5)?,
                institution: row.try_get(6)?,
            });
    }
    let limit = f64::from(params.max_dialysis_per_week);
    for ((psn_no, year, week), sessions) in weeks {
        let billed: f64 = sessions.iter().map(|s| s.cnt).sum();
        if billed <= limit {
            continue;
        }
        // Walk the positive sessions in order; those past the limit are at stake.
        let mut counted = 0.0;
        let mut excess: Vec<&Session> = Vec::new();
        for s in sessions.iter().filter(|s| s.cnt > 0.0) {
            counted += s.cnt;
            if counted > limit {
                excess.push(s);
            }
        }
        let Some(institution) = excess.iter().find_map(|s| s.institution.clone()) else {
            report.unlinked_lines += excess.len() as u64;
            continue;
        };
        let amount_fen: i64 = excess.iter().map(|s| s.fee_fen).sum();
        let evidence = json!({
            "iso_week": format!("{year}-W{week:02}"),
            "billed_sessions": billed,
            "limit": params.max_dialysis_per_week,
            "sessions": sessions.iter().map(|s| json!({
                "feedetl_sn": s.feedetl_sn,
                "at_ms": s.at_ms,
                "cnt": s.cnt,
                "fixmedins_code": s.institution,
            })).collect::<Vec<_>>(),
        });
        let rule = "dialysis_over_weekly";
        let raised = store
            .raise_flag(&NewFlag {
                dedup_key: format!("{rule}/{psn_no}/{year}-W{week:02}"),
                rule_id: rule.into(),
                rule_version: params.version,
                fixmedins_code: institution,
                psn_no: Some(psn_no),
                amount_fen,
                evidence,
                lines: excess.iter().map(|s| s.feedetl_sn.clone()).collect(),
            })
            .await?;
        match raised {
            Some(_) => *report.raised.entry(rule.to_owned()).or_default() += 1,
            None => report.already_raised += 1,
        }
    }
    Ok(())
}
