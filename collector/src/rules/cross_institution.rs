//! `cross_institution`: the same person billed or seen at two institutions at overlapping times. Each
//! person's claims — billed session slots and presence intervals, with their institution — are compared
//! pairwise; two claims at different institutions with at least `min_overlap_minutes` in common conflict.
//! Every institution whose own claim conflicts is flagged (per patient and local day) with its own fee
//! lines in the conflicts: billed at A while seen at B flags A; billed at both flags each side whose
//! billing is not corroborated by the person's presence there during the slot; seen at both flags both
//! with nothing at stake (someone in one of those chairs was not who the camera thought).

use super::finding::Finding;
use super::id::RuleId;
use super::inputs::RuleInputs;
use super::params::{RuleParams, check_range};
use super::timeline::{local_date, overlap_minutes};
use crate::knowledge::Unit;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use wardwatch_protocol::{InstitutionCode, PsnNo};

/// `cross_institution` thresholds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CrossInstitution {
    /// Overlap needed between two claims (billed slot or presence) at different institutions.
    pub min_overlap_minutes: u32,
}

impl RuleParams for CrossInstitution {
    fn check(&self, rule: RuleId) -> Result<(), String> {
        check_range(
            rule,
            "min_overlap_minutes",
            f64::from(self.min_overlap_minutes),
            1.0,
            1440.0,
        )
    }
}

/// Something that puts a person at an institution for a while.
#[derive(Debug, Clone, Serialize)]
struct Claim {
    institution: InstitutionCode,
    /// `billed` or `seen`.
    kind: &'static str,
    start_ms: i64,
    end_ms: i64,
    /// The fee line, for billed claims.
    feedetl_sn: Option<String>,
    #[serde(skip)]
    fee_fen: i64,
    /// For billed claims: the person was seen at the same institution during the slot, or the ward
    /// was blind for at least half of it (nothing to judge there).
    corroborated: bool,
}

#[derive(Debug, Default)]
struct Conflicts {
    lines: BTreeMap<String, i64>,
    conflicts: Vec<serde_json::Value>,
}

/// Evaluates the rule over the billed lines and every person's presence.
pub fn evaluate(inputs: &RuleInputs<'_>, params: &CrossInstitution) -> Vec<Finding> {
    let mut claims: HashMap<&PsnNo, Vec<Claim>> = HashMap::new();
    for line in inputs
        .lines
        .iter()
        .filter(|l| l.item.unit == Unit::Session && l.cnt > 0.0)
    {
        let Some(institution) = &line.institution else {
            continue;
        };
        let (start_ms, end_ms) = line.slot();
        // A slot its ward could not watch for most of it cannot be judged here: like a corroborated
        // one, it is not the suspect side of a double billing (the other side's billing is).
        let blind = inputs.observed.monitoring.blind_minutes(
            institution,
            line.item.ward_kind.as_str(),
            start_ms,
            end_ms,
        );
        let unjudgeable = blind * 2.0 * 60_000.0 >= (end_ms - start_ms) as f64;
        claims.entry(&line.psn_no).or_default().push(Claim {
            institution: institution.clone(),
            kind: "billed",
            start_ms,
            end_ms,
            feedetl_sn: Some(line.feedetl_sn.clone()),
            fee_fen: line.fee_fen,
            corroborated: unjudgeable,
        });
    }
    for (psn_no, sightings) in &inputs.observed.by_person {
        for s in sightings
            .iter()
            .filter(|s| s.end_ms > inputs.from_ms && s.start_ms < inputs.to_ms)
        {
            claims.entry(psn_no).or_default().push(Claim {
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
    let min_overlap = f64::from(params.min_overlap_minutes);
    for person_claims in claims.values_mut() {
        let seen: Vec<(InstitutionCode, (i64, i64))> = person_claims
            .iter()
            .filter(|c| c.kind == "seen")
            .map(|c| (c.institution.clone(), (c.start_ms, c.end_ms)))
            .collect();
        for claim in person_claims.iter_mut().filter(|c| c.kind == "billed") {
            claim.corroborated |= seen.iter().any(|(institution, span)| {
                *institution == claim.institution
                    && overlap_minutes(*span, (claim.start_ms, claim.end_ms)) >= min_overlap
            });
        }
    }
    let mut findings: BTreeMap<(InstitutionCode, PsnNo, NaiveDate), Conflicts> = BTreeMap::new();
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
                    let Some(date) = local_date(own.start_ms, inputs.zone) else {
                        continue;
                    };
                    let finding = findings
                        .entry((own.institution.clone(), psn_no.clone(), date))
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
    findings
        .into_iter()
        .map(|((institution, psn_no, date), found)| Finding {
            rule: RuleId::CrossInstitution,
            subject: format!("{institution}/{psn_no}/{date}"),
            institution,
            psn_no: Some(psn_no),
            amount_fen: found.lines.values().sum(),
            evidence: json!({
                "date": date.to_string(),
                "min_overlap_minutes": params.min_overlap_minutes,
                "conflicts": found.conflicts,
            }),
            lines: found.lines.into_keys().collect(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::fixtures::*;
    use wardwatch_protocol::WardKind::Haemodialysis;

    fn params() -> CrossInstitution {
        default_rules().cross_institution.params
    }

    #[test]
    fn billed_at_one_while_seen_at_the_other_flags_the_biller() {
        let item = dialysis();
        let mut inputs = inputs(vec![line("L1", &item, H1, P1, at(3, 8, 0), 1.0)]);
        seen(
            &mut inputs,
            P1,
            span(H2, Haemodialysis, at(3, 8, 30), at(3, 11, 30)),
        );
        let got = evaluate(&inputs, &params());
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(got[0].institution.as_str(), H1);
        assert_eq!(got[0].lines, vec!["L1"]);
        assert_eq!(got[0].amount_fen, 10_000);
    }

    #[test]
    fn billed_at_both_flags_only_the_side_nobody_saw() {
        let item = dialysis();
        let mut inputs = inputs(vec![
            line("A1", &item, H1, P1, at(3, 8, 0), 1.0),
            line("B1", &item, H2, P1, at(3, 9, 0), 1.0),
        ]);
        seen(
            &mut inputs,
            P1,
            span(H1, Haemodialysis, at(3, 8, 0), at(3, 12, 0)),
        );
        let got = evaluate(&inputs, &params());
        let flagged: Vec<(&str, &[String])> = got
            .iter()
            .map(|f| (f.institution.as_str(), f.lines.as_slice()))
            .collect();
        assert_eq!(flagged, vec![(H2, &["B1".to_owned()][..])]);
    }

    #[test]
    fn slots_that_do_not_overlap_are_no_conflict() {
        let item = dialysis();
        let inputs = inputs(vec![
            line("A1", &item, H1, P1, at(3, 8, 0), 1.0),
            line("B1", &item, H2, P1, at(3, 13, 0), 1.0),
        ]);
        assert!(evaluate(&inputs, &params()).is_empty());
    }
}

#[cfg(test)]
mod blind_tests {
    use super::*;
    use crate::rules::fixtures::*;

    #[test]
    fn billed_at_both_while_one_ward_was_blind_flags_only_the_other() {
        let item = dialysis();
        let mut inputs = inputs(vec![
            line("A1", &item, H1, P1, at(3, 8, 0), 1.0),
            line("B1", &item, H2, P1, at(3, 8, 20), 1.0),
        ]);
        silent(&mut inputs, H1, at(3, 7, 0), at(3, 13, 0));
        let got = evaluate(&inputs, &default_rules().cross_institution.params);
        let flagged: Vec<&str> = got.iter().map(|f| f.institution.as_str()).collect();
        assert_eq!(flagged, vec![H2]);
    }
}
