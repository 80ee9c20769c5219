//! Scoring the flags in a store against a month's truth: line-level rules per fee line (the lines a flag
//! names, `flag_lines`), institution-level rules (`outage_alignment`, `duplicate_face`) per finding.

use super::{Expected, LineTruth, Month};
use serde::Serialize;
use sqlx::Row;
use std::collections::{BTreeMap, BTreeSet};
use wardwatch_collector::store::Store;

/// Rules whose finding is about an institution or an identity, not about fee lines.
pub const INSTITUTION_RULES: [&str; 2] = ["outage_alignment", "duplicate_face"];

/// What a rule is scored over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub enum Scope {
    /// Fee lines: a flag counts once per line it names.
    #[default]
    Lines,
    /// Findings: (institution, patient or `-`).
    Findings,
}

/// Precision and recall of one rule.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RuleScore {
    /// The rule.
    pub rule: String,
    /// Lines or findings.
    pub scope: Scope,
    /// Flags raised.
    pub flags: u64,
    /// Lines (or findings) flagged, each once.
    pub raised: u64,
    /// Of those, the ones the truth expects.
    pub true_positives: u64,
    /// Lines (or findings) the truth expects.
    pub expected: u64,
    /// Of those, the ones flagged.
    pub found: u64,
    /// Flagged lines whose fraud monitoring hid in part (neither right nor wrong).
    pub unscored: u64,
    /// Each false positive, with the line's truth.
    pub false_positives: Vec<String>,
    /// Each miss, with the line's truth.
    pub missed: Vec<String>,
    /// Of the false positives and misses, those on a line whose flag says its match of unknown faces
    /// to absent patients is ambiguous (the flag names the other line it could be).
    pub ambiguous_errors: u64,
}

impl RuleScore {
    /// true positives / raised (1 when nothing was raised and nothing expected).
    pub fn precision(&self) -> f64 {
        let judged = self.raised - self.unscored;
        if judged == 0 {
            if self.expected == 0 { 1.0 } else { 0.0 }
        } else {
            self.true_positives as f64 / judged as f64
        }
    }
    /// found / expected (1 when nothing was expected).
    pub fn recall(&self) -> f64 {
        if self.expected == 0 {
            1.0
        } else {
            self.found as f64 / self.expected as f64
        }
    }
    /// Adds another month's score of the same rule; `tag` prefixes its listed lines.
    pub fn add(&mut self, other: &RuleScore, tag: &str) {
        self.rule.clone_from(&other.rule);
        self.scope = other.scope;
        self.flags += other.flags;
        self.raised += other.raised;
        self.true_positives += other.true_positives;
        self.expected += other.expected;
        self.found += other.found;
        self.unscored += other.unscored;
        self.ambiguous_errors += other.ambiguous_errors;
        self.false_positives
            .extend(other.false_positives.iter().map(|f| format!("{tag}{f}")));
        self.missed
            .extend(other.missed.iter().map(|f| format!("{tag}{f}")));
    }
}

/// A month's score.
#[derive(Debug, Clone, Default, Serialize)]
pub struct MonthScore {
    /// Per rule (every rule of the rules base, and any the truth or the flags name).
    pub rules: Vec<RuleScore>,
    /// Honest, fully watched lines that any flag names (goal: none), with the rule.
    pub honest_flagged: Vec<String>,
    /// Refund lines and refunded lines that any flag names (goal: none), with the rule.
    pub refund_flagged: Vec<String>,
    /// Lines monitoring hid (in whole or part) that a line-level rule flagged while no line-level
    /// fraud is expected on them (goal: none), with the rule.
    pub unmonitored_flagged: Vec<String>,
    /// Flags naming a line the month does not have.
    pub unknown_lines: Vec<String>,
    /// Lines by kind of truth.
    pub lines: BTreeMap<String, u64>,
}

impl MonthScore {
    /// Adds another month's score; `tag` prefixes its listed lines.
    pub fn add(&mut self, other: &MonthScore, tag: &str) {
        for s in &other.rules {
            match self.rules.iter_mut().find(|r| r.rule == s.rule) {
                Some(mine) => mine.add(s, tag),
                None => {
                    let mut mine = RuleScore::default();
                    mine.add(s, tag);
                    self.rules.push(mine);
                }
            }
        }
        for (mine, theirs) in [
            (&mut self.honest_flagged, &other.honest_flagged),
            (&mut self.refund_flagged, &other.refund_flagged),
            (&mut self.unmonitored_flagged, &other.unmonitored_flagged),
            (&mut self.unknown_lines, &other.unknown_lines),
        ] {
            mine.extend(theirs.iter().map(|l| format!("{tag}{l}")));
        }
        for (k, v) in &other.lines {
            *self.lines.entry(k.clone()).or_default() += v;
        }
    }
}

impl MonthScore {
    /// The per-rule table (flags, lines or findings flagged and expected, precision, recall), each
    /// rule followed by up to `listed` of its false positives and misses; and the worst precision or
    /// recall.
    pub fn table(&self, listed: usize) -> (String, f64) {
        use std::fmt::Write as _;
        let mut out = String::from(
            "rule                   scope     flags  flagged expected unscored  precision  recall\n",
        );
        let mut worst: f64 = 1.0;
        for s in &self.rules {
            let scope = match s.scope {
                Scope::Lines => "lines",
                Scope::Findings => "findings",
            };
            let _ = writeln!(
                out,
                "{:<22} {:<8} {:>6} {:>8} {:>8} {:>8}  {:>9.3}  {:>6.3}",
                s.rule,
                scope,
                s.flags,
                s.raised,
                s.expected,
                s.unscored,
                s.precision(),
                s.recall(),
            );
            worst = worst.min(s.precision()).min(s.recall());
            if s.ambiguous_errors > 0 {
                let _ = writeln!(
                    out,
                    "    of its {} errors, {} on lines whose flag says the match is ambiguous",
                    s.false_positives.len() + s.missed.len(),
                    s.ambiguous_errors
                );
            }
            for fp in s.false_positives.iter().take(listed) {
                let _ = writeln!(out, "    false positive: {fp}");
            }
            for miss in s.missed.iter().take(listed) {
                let _ = writeln!(out, "    missed: {miss}");
            }
        }
        (out, worst)
    }
}

fn kind(truth: &LineTruth) -> &'static str {
    if truth.is_refund() {
        "refund or refunded"
    } else if !truth.expected.is_empty() {
        "fraud (expected flagged)"
    } else if !truth.unscored.is_empty() {
        "fraud partly hidden (unscored)"
    } else if !truth.hidden_fraud.is_empty() {
        "fraud hidden by monitoring (unmonitored)"
    } else if truth.is_unmonitored() {
        "honest, monitoring hid some or all"
    } else {
        "honest"
    }
}

/// The line's truth, marked when its flag says the match is ambiguous.
fn describe(truth: &LineTruth, ambiguous: &BTreeSet<String>) -> String {
    if ambiguous.contains(&truth.feedetl_sn) {
        format!("{} [flag says ambiguous]", truth.describe())
    } else {
        truth.describe()
    }
}

/// Compares the flags in the store with the month's truth.
pub async fn score(store: &Store, month: &Month) -> anyhow::Result<MonthScore> {
    score_institutions(store, month, &[]).await
}

/// Compares the flags raised at `institutions` (every flag when empty) with the month's truth: one
/// group of a province scored on its own.
pub async fn score_institutions(
    store: &Store,
    month: &Month,
    institutions: &[String],
) -> anyhow::Result<MonthScore> {
    let store = store.pool();
    let only = if institutions.is_empty() {
        String::new()
    } else {
        let codes: Vec<String> = (1..=institutions.len()).map(|i| format!("${i}")).collect();
        format!(" WHERE fixmedins_code IN ({})", codes.join(", "))
    };
    let mut query = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT id, rule_id, fixmedins_code, psn_no, evidence FROM flags{only} ORDER BY id"
    )));
    for code in institutions {
        query = query.bind(code.clone());
    }
    let flags = query.fetch_all(store).await?;
    let mut lines_of: BTreeMap<i64, Vec<String>> = BTreeMap::new();
    let mut query = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT flag_id, feedetl_sn FROM flag_lines WHERE flag_id IN (SELECT id FROM flags{only})"
    )));
    for code in institutions {
        query = query.bind(code.clone());
    }
    for row in query.fetch_all(store).await? {
        lines_of
            .entry(row.try_get(0)?)
            .or_default()
            .push(row.try_get(1)?);
    }
    let truth: BTreeMap<&str, &LineTruth> = month
        .lines
        .iter()
        .map(|t| (t.feedetl_sn.as_str(), t))
        .collect();
    let mut out = MonthScore::default();
    for t in &month.lines {
        *out.lines.entry(kind(t).into()).or_default() += 1;
    }
    let mut rules: BTreeSet<String> = wardwatch_collector::rules::base::RULE_IDS
        .iter()
        .map(|r| r.to_string())
        .collect();
    rules.extend(month.lines.iter().flat_map(|t| t.expected.iter().cloned()));
    rules.extend(month.findings.iter().map(|f| f.rule.clone()));
    let mut flagged_lines: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut flagged_findings: BTreeMap<String, BTreeSet<Expected>> = BTreeMap::new();
    let mut flag_counts: BTreeMap<String, u64> = BTreeMap::new();
    let mut reported: BTreeSet<(String, String)> = BTreeSet::new();
    // Lines whose flag says the unknown faces' match is ambiguous.
    let mut ambiguous: BTreeSet<String> = BTreeSet::new();
    for row in flags {
        let id: i64 = row.try_get(0)?;
        let rule: String = row.try_get(1)?;
        let evidence: String = row.try_get(4)?;
        let evidence: serde_json::Value = serde_json::from_str(&evidence)?;
        if evidence["ambiguous"] == serde_json::Value::Bool(true) {
            ambiguous.extend(lines_of.get(&id).into_iter().flatten().cloned());
        }
        rules.insert(rule.clone());
        *flag_counts.entry(rule.clone()).or_default() += 1;
        let institution_level = INSTITUTION_RULES.contains(&rule.as_str());
        for sn in lines_of.get(&id).into_iter().flatten() {
            let Some(t) = truth.get(sn.as_str()) else {
                out.unknown_lines.push(format!("{rule}: {sn}"));
                continue;
            };
            let first = reported.insert((rule.clone(), sn.clone()));
            if first && t.is_refund() {
                out.refund_flagged.push(format!("{rule}: {}", t.describe()));
            }
            if institution_level {
                continue;
            }
            flagged_lines
                .entry(rule.clone())
                .or_default()
                .insert(sn.clone());
            if first && !t.expected.contains(&rule) && !t.unscored.contains(&rule) {
                if t.is_honest() {
                    out.honest_flagged.push(format!("{rule}: {}", t.describe()));
                } else if t.is_unmonitored() {
                    out.unmonitored_flagged
                        .push(format!("{rule}: {}", t.describe()));
                }
            }
        }
        if institution_level {
            let psn: Option<String> = row.try_get(3)?;
            flagged_findings.entry(rule).or_default().insert(Expected {
                rule: String::new(),
                institution: row.try_get(2)?,
                psn_no: psn.unwrap_or_else(|| "-".into()),
            });
        }
    }
    for rule in rules {
        let mut s = RuleScore {
            rule: rule.clone(),
            flags: flag_counts.get(&rule).copied().unwrap_or(0),
            ..RuleScore::default()
        };
        if INSTITUTION_RULES.contains(&rule.as_str()) {
            s.scope = Scope::Findings;
            let expected: BTreeSet<Expected> = month
                .findings
                .iter()
                .filter(|f| f.rule == rule)
                .map(|f| Expected {
                    rule: String::new(),
                    ..f.clone()
                })
                .collect();
            let raised = flagged_findings.remove(&rule).unwrap_or_default();
            s.raised = raised.len() as u64;
            s.expected = expected.len() as u64;
            for f in &raised {
                if expected.contains(f) {
                    s.true_positives += 1;
                } else {
                    s.false_positives
                        .push(format!("{} {}: no such finding", f.institution, f.psn_no));
                }
            }
            for f in &expected {
                if raised.contains(f) {
                    s.found += 1;
                } else {
                    s.missed.push(format!("{} {}", f.institution, f.psn_no));
                }
            }
        } else {
            let raised = flagged_lines.remove(&rule).unwrap_or_default();
            s.raised = raised.len() as u64;
            for sn in &raised {
                let Some(t) = truth.get(sn.as_str()) else {
                    continue;
                };
                if t.expected.contains(&rule) {
                    s.true_positives += 1;
                } else if t.unscored.contains(&rule) {
                    s.unscored += 1;
                } else {
                    s.false_positives.push(describe(t, &ambiguous));
                    s.ambiguous_errors += u64::from(ambiguous.contains(sn));
                }
            }
            for t in month.lines.iter().filter(|t| t.expected.contains(&rule)) {
                s.expected += 1;
                if raised.contains(&t.feedetl_sn) {
                    s.found += 1;
                } else {
                    s.missed.push(describe(t, &ambiguous));
                    s.ambiguous_errors += u64::from(ambiguous.contains(&t.feedetl_sn));
                }
            }
        }
        out.rules.push(s);
    }
    Ok(out)
}
