//! `dialysis_over_weekly`: more haemodialysis sessions billed for one patient in one ISO week (local
//! time) than `max_sessions_per_week` (default 5; three a week is the usual schedule). Billing alone
//! decides, so camera coverage does not matter. The sessions beyond the limit, in billing order, are
//! the amount at stake; the flag goes to the institution that billed the first of them, and the
//! evidence lists every session of the week with its institution.

use super::finding::Finding;
use super::id::RuleId;
use super::inputs::{BilledLine, RuleInputs};
use super::params::{RuleParams, check_range};
use chrono::{Datelike, TimeZone};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeMap;
use wardwatch_protocol::{PsnNo, WardKind};

/// `dialysis_over_weekly` thresholds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DialysisOverWeekly {
    /// Haemodialysis sessions allowed per patient and ISO week.
    pub max_sessions_per_week: u32,
}

impl RuleParams for DialysisOverWeekly {
    fn check(&self, rule: RuleId) -> Result<(), String> {
        check_range(
            rule,
            "max_sessions_per_week",
            f64::from(self.max_sessions_per_week),
            1.0,
            21.0,
        )
    }
}

/// Evaluates the rule over the billed lines.
pub fn evaluate(inputs: &RuleInputs<'_>, params: &DialysisOverWeekly) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut weeks: BTreeMap<(PsnNo, i32, u32), Vec<&BilledLine<'_>>> = BTreeMap::new();
    for line in &inputs.lines {
        if line.item.ward_kind != WardKind::Haemodialysis {
            continue;
        }
        let Some(local) = inputs.zone.timestamp_millis_opt(line.at_ms).single() else {
            continue;
        };
        let week = local.iso_week();
        weeks
            .entry((line.psn_no.clone(), week.year(), week.week()))
            .or_default()
            .push(line);
    }
    let limit = f64::from(params.max_sessions_per_week);
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
            "limit": params.max_sessions_per_week,
            "sessions": sessions.iter().map(|s| json!({
                "feedetl_sn": s.feedetl_sn,
                "at_ms": s.at_ms,
                "hilist_code": s.item.hilist_code,
                "cnt": s.cnt,
                "fixmedins_code": s.institution,
            })).collect::<Vec<_>>(),
        });
        findings.push(Finding {
            rule: RuleId::DialysisOverWeekly,
            subject: format!("{psn_no}/{year}-W{week:02}"),
            institution,
            psn_no: Some(psn_no),
            amount_fen,
            evidence,
            lines: excess.iter().map(|s| s.feedetl_sn.clone()).collect(),
        });
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::fixtures::*;

    #[test]
    fn the_sessions_past_the_weekly_limit_are_at_stake() {
        let item = dialysis();
        // Monday 2026-11-02 to Saturday 2026-11-07: six sessions, limit five.
        let inputs = inputs(
            (2..=7)
                .map(|d| line(&format!("D{d}"), &item, H1, P1, at(d, 8, 0), 1.0))
                .collect(),
        );
        let got = evaluate(&inputs, &default_rules().dialysis_over_weekly.params);
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(got[0].lines, vec!["D7"]);
        assert_eq!(got[0].subject, format!("{P1}/2026-W45"));
        assert_eq!(got[0].evidence["billed_sessions"], 6.0);
    }

    #[test]
    fn five_sessions_and_a_refunded_sixth_are_within_the_limit() {
        let item = dialysis();
        let mut lines: Vec<_> = (2..=7)
            .map(|d| line(&format!("D{d}"), &item, H1, P1, at(d, 8, 0), 1.0))
            .collect();
        lines.push(line("R7", &item, H1, P1, at(7, 9, 0), -1.0));
        let got = evaluate(&inputs(lines), &default_rules().dialysis_over_weekly.params);
        assert!(got.is_empty(), "{got:?}");
    }
}
