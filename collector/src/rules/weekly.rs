//! `dialysis_over_weekly`: more haemodialysis sessions billed for one patient in one ISO week (local
//! time) than `max_sessions_per_week` (default 5; three a week is the usual schedule). Billing alone
//! decides, so camera coverage does not matter. The sessions beyond the limit, in billing order, are
//! the amount at stake; the flag goes to the institution that billed the first of them, and the
//! evidence lists every session of the week with its institution.

use super::{BilledLine, RulesError, Run};
use crate::flags::store::NewFlag;
use chrono::{Datelike, TimeZone};
use serde_json::json;
use std::collections::BTreeMap;
use wardwatch_protocol::WardKind;

/// Runs the rule over the billed lines.
pub async fn run(run: &mut Run<'_>, lines: &[BilledLine<'_>]) -> Result<(), RulesError> {
    let rule = &run.rules.dialysis_over_weekly;
    let mut weeks: BTreeMap<(String, i32, u32), Vec<&BilledLine<'_>>> = BTreeMap::new();
    for line in lines {
        if line.item.ward_kind != WardKind::Haemodialysis {
            continue;
        }
        let Some(local) = run.zone.timestamp_millis_opt(line.at_ms).single() else {
            continue;
        };
        let week = local.iso_week();
        weeks
            .entry((line.psn_no.clone(), week.year(), week.week()))
            .or_default()
            .push(line);
    }
    let limit = f64::from(rule.params.max_sessions_per_week);
    for ((psn_no, year, week), sessions) in weeks {
        let billed: f64 = sessions.iter().map(|s| s.cnt).sum();
        if billed <= limit {
            continue;
        }
        // Walk the positive sessions in order; those past the limit are at stake.
        let mut counted = 0.0;
        let mut excess: Vec<&BilledLine<'_>> = Vec::new();
        for s in sessions.iter().copied().filter(|s| s.cnt > 0.0) {
            counted += s.cnt;
            if counted > limit {
                excess.push(s);
            }
        }
        let Some(institution) = excess.iter().find_map(|s| s.institution.clone()) else {
            continue; // counted as unlinked by the run
        };
        let amount_fen: i64 = excess.iter().map(|s| s.fee_fen).sum();
        let evidence = json!({
            "iso_week": format!("{year}-W{week:02}"),
            "billed_sessions": billed,
            "limit": rule.params.max_sessions_per_week,
            "sessions": sessions.iter().map(|s| json!({
                "feedetl_sn": s.feedetl_sn,
                "at_ms": s.at_ms,
                "hilist_code": s.item.hilist_code,
                "cnt": s.cnt,
                "fixmedins_code": s.institution,
            })).collect::<Vec<_>>(),
        });
        run.raise(NewFlag {
            dedup_key: format!("dialysis_over_weekly/{psn_no}/{year}-W{week:02}"),
            rule_id: "dialysis_over_weekly".into(),
            rule_version: rule.version,
            fixmedins_code: institution,
            psn_no: Some(psn_no),
            amount_fen,
            evidence,
            lines: excess.iter().map(|s| s.feedetl_sn.clone()).collect(),
        })
        .await?;
    }
    Ok(())
}
