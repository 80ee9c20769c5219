//! `cross_institution`: the same person billed or seen at two institutions at overlapping times. Each
//! person's claims — billed session slots and presence intervals, with their institution — are compared
//! pairwise; two claims at different institutions with at least `min_overlap_minutes` in common conflict.
//! Every institution whose own claim conflicts is flagged (per patient and local day) with its own fee
//! lines in the conflicts: billed at A while seen at B flags A; billed at both flags each side whose
//! billing is not corroborated by the person's presence there during the slot; seen at both flags both
//! with nothing at stake (someone in one of those chairs was not who the camera thought).

use super::timeline::{local_date, overlap_minutes};
use super::{BilledLine, RulesError, Run};
use crate::flags::store::NewFlag;
use crate::knowledge::Unit;
use chrono::NaiveDate;
use serde::Serialize;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Something that puts a person at an institution for a while.
#[derive(Debug, Clone, Serialize)]
struct Claim {
    institution: String,
    /// `billed` or `seen`.
    kind: &'static str,
    start_ms: i64,
    end_ms: i64,
    /// The fee line, for billed claims.
    feedetl_sn: Option<String>,
    #[serde(skip)]
    fee_fen: i64,
    /// For billed claims: the person was seen at the same institution during the slot.
    corroborated: bool,
}

#[derive(Debug, Default)]
struct Finding {
    lines: BTreeMap<String, i64>,
    conflicts: Vec<serde_json::Value>,
}

/// Runs the rule over the billed lines and every person's presence.
pub async fn run(run: &mut Run<'_>, lines: &[BilledLine<'_>]) -> Result<(), RulesError> {
    let rule = &run.rules.cross_institution;
    let mut claims: HashMap<&str, Vec<Claim>> = HashMap::new();
    for line in lines
        .iter()
        .filter(|l| l.item.unit == Unit::Session && l.cnt > 0.0)
    {
        let Some(institution) = &line.institution else {
            continue;
        };
        let (start_ms, end_ms) = line.slot();
        claims.entry(line.psn_no.as_str()).or_default().push(Claim {
            institution: institution.clone(),
            kind: "billed",
            start_ms,
            end_ms,
            feedetl_sn: Some(line.feedetl_sn.clone()),
            fee_fen: line.fee_fen,
            corroborated: false,
        });
    }
    for (psn_no, sightings) in &run.observed.by_person {
        for s in sightings
            .iter()
            .filter(|s| s.end_ms > run.from_ms && s.start_ms < run.to_ms)
        {
            claims.entry(psn_no.as_str()).or_default().push(Claim {
                institution: s.institution.clone(),
                kind: "seen",
                start_ms: s.start_ms,
                end_ms: s.end_ms,
                feedetl_sn: None,
                fee_fen: 0,
                corroborated: false,
            });
        }
    }
    let min_overlap = f64::from(rule.params.min_overlap_minutes);
    for person_claims in claims.values_mut() {
        let seen: Vec<(String, (i64, i64))> = person_claims
            .iter()
            .filter(|c| c.kind == "seen")
            .map(|c| (c.institution.clone(), (c.start_ms, c.end_ms)))
            .collect();
        for claim in person_claims.iter_mut().filter(|c| c.kind == "billed") {
            claim.corroborated = seen.iter().any(|(institution, span)| {
                *institution == claim.institution
                    && overlap_minutes(*span, (claim.start_ms, claim.end_ms)) >= min_overlap
            });
        }
    }
    let mut findings: BTreeMap<(String, String, NaiveDate), Finding> = BTreeMap::new();
    for (psn_no, mut person_claims) in claims {
        if person_claims
            .iter()
            .map(|c| &c.institution)
            .collect::<BTreeSet<_>>()
            .len()
            < 2
        {
            continue;
        }
        person_claims.sort_by_key(|c| (c.start_ms, c.end_ms));
        for (i, a) in person_claims.iter().enumerate() {
            for b in person_claims[i + 1..]
                .iter()
                .take_while(|b| b.start_ms < a.end_ms)
            {
                if a.institution == b.institution {
                    continue;
                }
                let overlap = overlap_minutes((a.start_ms, a.end_ms), (b.start_ms, b.end_ms));
                if overlap < min_overlap {
                    continue;
                }
                for (own, other) in [(a, b), (b, a)] {
                    // A presence at `own` conflicting only with billing elsewhere is the other side's
                    // problem: the patient was here.
                    if own.kind == "seen" && other.kind == "billed" {
                        continue;
                    }
                    // Billed at both, but seen here: the other side's billing is the suspect one.
                    if own.kind == "billed" && other.kind == "billed" && own.corroborated {
                        continue;
                    }
                    let Some(date) = local_date(own.start_ms, run.zone) else {
                        continue;
                    };
                    let finding = findings
                        .entry((own.institution.clone(), psn_no.to_owned(), date))
                        .or_default();
                    if let Some(sn) = &own.feedetl_sn {
                        finding.lines.insert(sn.clone(), own.fee_fen);
                    }
                    finding.conflicts.push(json!({
                        "own": own,
                        "other": other,
                        "overlap_minutes": overlap,
                    }));
                }
            }
        }
    }
    for ((institution, psn_no, date), finding) in findings {
        run.raise(NewFlag {
            dedup_key: format!("cross_institution/{institution}/{psn_no}/{date}"),
            rule_id: "cross_institution".into(),
            rule_version: rule.version,
            fixmedins_code: institution,
            psn_no: Some(psn_no),
            amount_fen: finding.lines.values().sum(),
            evidence: json!({
                "date": date.to_string(),
                "min_overlap_minutes": rule.params.min_overlap_minutes,
                "conflicts": finding.conflicts,
            }),
            lines: finding.lines.into_keys().collect(),
        })
        .await?;
    }
    Ok(())
}
