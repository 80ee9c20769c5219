//! `duplicate_face`: one face enrolled under several insurance numbers. Every pair of distinct enrolled
//! persons (same recognition model) whose best embedding pair has a cosine similarity of at least
//! `min_similarity` is a finding. The flag goes to the institution that enrolled the later of the two,
//! with that identity's fee lines billed in the run's window (what it claimed under the second number).

use super::{BilledLine, RulesError, Run};
use crate::flags::store::NewFlag;
use crate::gallery::Enrolled;
use serde_json::json;
use std::collections::BTreeMap;

/// The best cosine similarity between any embedding of person a and any of person b, per pair of
/// persons whose best is at least `threshold`. Embeddings are L2-normalised, so a dot product is the
/// cosine. Returns (earlier row index, later row index, similarity) per pair, in enrolment order.
pub fn similar_pairs(enrolled: &[Enrolled], threshold: f32) -> Vec<(usize, usize, f32)> {
    let mut best: BTreeMap<(&str, &str), (usize, usize, f32)> = BTreeMap::new();
    for (i, a) in enrolled.iter().enumerate() {
        for (j, b) in enrolled.iter().enumerate().skip(i + 1) {
            if a.psn_no == b.psn_no || a.model != b.model || a.embedding.len() != b.embedding.len()
            {
                continue;
            }
            let cosine: f32 = a
                .embedding
                .iter()
                .zip(&b.embedding)
                .map(|(x, y)| x * y)
                .sum();
            if cosine < threshold {
                continue;
            }
            let key = if a.psn_no < b.psn_no {
                (a.psn_no.as_str(), b.psn_no.as_str())
            } else {
                (b.psn_no.as_str(), a.psn_no.as_str())
            };
            let entry = best.entry(key).or_insert((i, j, cosine));
            if cosine > entry.2 {
                *entry = (i, j, cosine);
            }
        }
    }
    best.into_values().collect()
}

/// Runs the rule over the gallery.
pub async fn run(run: &mut Run<'_>, lines: &[BilledLine<'_>]) -> Result<(), RulesError> {
    let rule = &run.rules.duplicate_face;
    let enrolled = run.store.gallery().await?;
    for (first, second, similarity) in similar_pairs(&enrolled, rule.params.min_similarity as f32) {
        let (earlier, later) = (&enrolled[first], &enrolled[second]);
        let billed: Vec<&BilledLine<'_>> = lines
            .iter()
            .filter(|l| {
                l.psn_no == later.psn_no && l.institution.as_deref() == Some(&later.fixmedins_code)
            })
            .collect();
        let (low, high) = if earlier.psn_no < later.psn_no {
            (&earlier.psn_no, &later.psn_no)
        } else {
            (&later.psn_no, &earlier.psn_no)
        };
        run.raise(NewFlag {
            dedup_key: format!("duplicate_face/{low}/{high}"),
            rule_id: "duplicate_face".into(),
            rule_version: rule.version,
            fixmedins_code: later.fixmedins_code.clone(),
            psn_no: Some(later.psn_no.clone()),
            amount_fen: billed.iter().map(|l| l.fee_fen).sum(),
            evidence: json!({
                "similarity": similarity,
                "min_similarity": rule.params.min_similarity,
                "model": later.model,
                "enrolled_first": {"psn_no": earlier.psn_no, "fixmedins_code": earlier.fixmedins_code},
                "enrolled_later": {"psn_no": later.psn_no, "fixmedins_code": later.fixmedins_code},
                "billed_lines_in_window": billed.len(),
            }),
            lines: billed.iter().map(|l| l.feedetl_sn.clone()).collect(),
        })
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
