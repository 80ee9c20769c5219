//! `duplicate_face`: one face enrolled under several insurance numbers. Every pair of distinct enrolled
//! persons (same recognition model) whose best embedding pair has a cosine similarity of at least
//! `min_similarity` is a finding. The flag goes to the institution that enrolled the later of the two,
//! with that identity's fee lines billed in the run's window (what it claimed under the second number).

use super::face_pairs::{FacePair, similar_pairs};
use super::finding::Finding;
use super::id::RuleId;
use super::inputs::{BilledLine, RuleInputs};
use super::params::{RuleParams, check_range};
use serde::{Deserialize, Serialize};
use serde_json::json;
use wardwatch_protocol::{InstitutionCode, PsnNo};

/// `duplicate_face` thresholds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DuplicateFace {
    /// Cosine similarity at or above which two identities are taken for one face.
    pub min_similarity: f64,
}

impl RuleParams for DuplicateFace {
    fn check(&self, rule: RuleId) -> Result<(), String> {
        check_range(rule, "min_similarity", self.min_similarity, 0.0, 1.0)
    }
}

/// Evaluates the rule over the gallery.
pub fn evaluate(inputs: &RuleInputs<'_>, params: &DuplicateFace) -> Vec<Finding> {
    let pairs = similar_pairs(&inputs.enrolled, params.min_similarity as f32);
    evaluate_pairs(inputs, params, &pairs)
}

/// The findings for `pairs` ([`similar_pairs`] of `inputs.enrolled`: each pair of persons' best
/// embedding pair at or above the threshold), with the billed lines in
/// `inputs` (a run loads only the later enrolments' patients' lines).
pub fn evaluate_pairs(
    inputs: &RuleInputs<'_>,
    params: &DuplicateFace,
    pairs: &[FacePair],
) -> Vec<Finding> {
    let enrolled = &inputs.enrolled;
    let mut findings = Vec::new();
    for &(first, second, similarity) in pairs {
        let (earlier, later) = (&enrolled[first], &enrolled[second]);
        let (Ok(institution), Ok(psn_no)) = (
            later.fixmedins_code.parse::<InstitutionCode>(),
            later.psn_no.parse::<PsnNo>(),
        ) else {
            tracing::warn!(
                enrolment = later.id,
                "enrolment with an invalid institution code or psn_no; skipped by duplicate_face"
            );
            continue;
        };
        let billed: Vec<&BilledLine<'_>> = inputs
            .lines
            .iter()
            .filter(|l| l.psn_no == psn_no && l.institution.as_ref() == Some(&institution))
            .collect();
        let (low, high) = if earlier.psn_no < later.psn_no {
            (&earlier.psn_no, &later.psn_no)
        } else {
            (&later.psn_no, &earlier.psn_no)
        };
        findings.push(Finding {
            rule: RuleId::DuplicateFace,
            subject: format!("{low}/{high}"),
            institution,
            psn_no: Some(psn_no),
            amount_fen: billed.iter().map(|l| l.fee_fen).sum(),
            evidence: json!({
                "similarity": similarity,
                "min_similarity": params.min_similarity,
                "model": later.model,
                "enrolled_first": {"psn_no": earlier.psn_no, "fixmedins_code": earlier.fixmedins_code},
                "enrolled_later": {"psn_no": later.psn_no, "fixmedins_code": later.fixmedins_code},
                "billed_lines_in_window": billed.len(),
            }),
            lines: billed.iter().map(|l| l.feedetl_sn.clone()).collect(),
        });
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gallery::Enrolled;

    fn person(id: i64, psn: &str, e: Vec<f32>) -> Enrolled {
        let norm = e.iter().map(|v| v * v).sum::<f32>().sqrt();
        Enrolled {
            id,
            fixmedins_code: "H43060200175".into(),
            psn_no: psn.into(),
            model: "m".into(),
            embedding: e.iter().map(|v| v / norm).collect(),
        }
    }

    #[test]
    fn pairs_of_distinct_people_above_the_threshold() {
        let enrolled = vec![
            person(1, "A", vec![1.0, 0.0, 0.0]),
            person(2, "A", vec![0.99, 0.1, 0.0]), // the same person twice: never a finding
            person(3, "B", vec![0.98, 0.15, 0.0]),
            person(4, "C", vec![0.0, 1.0, 0.0]),
        ];
        let pairs = similar_pairs(&enrolled, 0.9);
        assert_eq!(pairs.len(), 1, "{pairs:?}");
        let (i, j, s) = pairs[0];
        assert_eq!(
            (enrolled[i].psn_no.as_str(), enrolled[j].psn_no.as_str()),
            ("A", "B")
        );
        assert!(s > 0.99, "the best of A's two embeddings against B: {s}");
        assert!(similar_pairs(&enrolled, 0.999).is_empty());
    }
}

#[cfg(test)]
mod evaluate_tests {
    use super::*;
    use crate::gallery::Enrolled;
    use crate::rules::fixtures::*;

    fn enrolled(id: i64, institution: &str, psn: &str, e: [f32; 2]) -> Enrolled {
        Enrolled {
            id,
            fixmedins_code: institution.into(),
            psn_no: psn.into(),
            model: "m".into(),
            embedding: e.to_vec(),
        }
    }

    #[test]
    fn the_later_enrolment_is_flagged_with_its_billing() {
        let item = dialysis();
        let mut inputs = inputs(vec![
            line("L1", &item, H2, P2, at(3, 8, 0), 1.0),
            line("L2", &item, H1, P1, at(3, 8, 0), 1.0),
        ]);
        inputs.enrolled = vec![
            enrolled(1, H1, P1, [1.0, 0.0]),
            enrolled(2, H2, P2, [1.0, 0.0]),
        ];
        let got = evaluate(&inputs, &default_rules().duplicate_face.params);
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(
            (got[0].institution.as_str(), got[0].lines.as_slice()),
            (H2, &["L1".to_owned()][..])
        );
        assert_eq!(got[0].subject, format!("{P1}/{P2}"));
    }
}
