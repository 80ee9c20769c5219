//! Who a track is: the identity voted over the recognitions made along it, so one blurred or turned
//! frame cannot rename a patient. Each recognition votes for an enrolled person or for "unknown" with
//! its face's quality weight ([`crate::vision::quality::Quality::weight`]: a sharp frontal face counts
//! more than a turned or blurred one); the track is the person with a strict majority of the weight,
//! else unknown. Liveness is the median of the
//! scores along the track.

use std::collections::BTreeMap;
use wardwatch_protocol::PsnNo;

/// One recognition of a track's face.
#[derive(Debug, Clone, PartialEq)]
pub struct Recognition {
    /// The enrolled person matched, with the similarity, or `None` for unknown.
    pub person: Option<(PsnNo, f32)>,
    /// The best similarity to anyone enrolled (for an unknown face: how close it came).
    pub best_similarity: f32,
    /// The live-class probability of this face.
    pub liveness: f32,
    /// How much this recognition counts (the face's quality weight, in (0, 1]; 1 for equal votes).
    pub weight: f32,
}

impl Recognition {
    /// The weight this recognition counts with: its weight clamped to [0.001, 1]; one that is not a
    /// number counts as little as the worst face.
    pub fn counted_weight(&self) -> f32 {
        if self.weight.is_finite() {
            self.weight.clamp(1e-3, 1.0)
        } else {
            1e-3
        }
    }
}

/// What the votes say.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// The person with a strict majority, or `None` (unknown or undecided).
    pub person: Option<PsnNo>,
    /// Median similarity of the winner's votes (unknown: median best similarity).
    pub similarity: f32,
    /// Median liveness over every recognition.
    pub liveness: f32,
}

/// Recognitions gathered along one track.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Votes {
    for_person: BTreeMap<PsnNo, (f32, Vec<f32>)>,
    unknown: Vec<f32>,
    liveness: Vec<f32>,
    total_weight: f32,
}

fn median(values: &[f32]) -> f32 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f32::total_cmp);
    match sorted.len() {
        0 => 0.0,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

impl Votes {
    /// Adds one recognition.
    pub fn add(&mut self, r: &Recognition) {
        let weight = r.counted_weight();
        match &r.person {
            Some((who, similarity)) => {
                let votes = self.for_person.entry(who.clone()).or_default();
                votes.0 += weight;
                votes.1.push(*similarity);
            }
            None => self.unknown.push(r.best_similarity),
        }
        self.total_weight += weight;
        self.liveness.push(r.liveness);
    }

    /// How many recognitions were made.
    pub fn count(&self) -> usize {
        self.liveness.len()
    }

    /// The current verdict; `None` before any recognition.
    pub fn verdict(&self) -> Option<Verdict> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        let liveness = median(&self.liveness);
        let leader = self.for_person.iter().max_by(|a, b| {
            a.1.0
                .total_cmp(&b.1.0)
                .then(median(&a.1.1).total_cmp(&median(&b.1.1)))
        });
        Some(match leader {
            Some((who, (weight, sims))) if *weight * 2.0 > self.total_weight => Verdict {
                person: Some(who.clone()),
                similarity: median(sims),
                liveness,
            },
            _ => {
                let all: Vec<f32> = self
                    .unknown
                    .iter()
                    .chain(self.for_person.values().flat_map(|v| &v.1))
                    .copied()
                    .collect();
                Verdict {
                    person: None,
                    similarity: median(&all),
                    liveness,
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(who: Option<&str>, similarity: f32) -> Recognition {
        Recognition {
            person: who.map(|w| (w.parse().expect("psn"), similarity)),
            best_similarity: similarity,
            liveness: 0.9,
            weight: 1.0,
        }
    }

    #[test]
    fn the_majority_names_the_track_and_one_stray_vote_does_not() {
        let mut votes = Votes::default();
        assert!(votes.verdict().is_none());
        for s in [0.6, 0.7, 0.65] {
            votes.add(&seen(Some("P001"), s));
        }
        votes.add(&seen(Some("P002"), 0.45));
        let verdict = votes.verdict().expect("verdict");
        assert_eq!(verdict.person, Some("P001".parse().expect("psn")));
        assert!((verdict.similarity - 0.65).abs() < 1e-6);
        assert!((verdict.liveness - 0.9).abs() < 1e-6);
    }

    #[test]
    fn no_majority_is_unknown() {
        let mut votes = Votes::default();
        votes.add(&seen(Some("P001"), 0.5));
        votes.add(&seen(None, 0.2));
        votes.add(&seen(Some("P002"), 0.45));
        votes.add(&seen(None, 0.1));
        assert_eq!(votes.verdict().expect("verdict").person, None);
    }

    #[test]
    fn sharp_frontal_faces_outvote_poor_ones() {
        let weighted = |who: Option<&str>, similarity: f32, weight: f32| Recognition {
            weight,
            ..seen(who, similarity)
        };
        // Two poor frames (turned, blurred) call the face someone else; one good frame says P001.
        let mut votes = Votes::default();
        votes.add(&weighted(Some("P002"), 0.42, 0.2));
        votes.add(&weighted(Some("P002"), 0.41, 0.15));
        votes.add(&weighted(Some("P001"), 0.7, 1.0));
        assert_eq!(
            votes.verdict().expect("verdict").person,
            Some("P001".parse().expect("psn"))
        );
        // Equal weights: the old count (two to one).
        let mut equal = Votes::default();
        equal.add(&seen(Some("P002"), 0.42));
        equal.add(&seen(Some("P002"), 0.41));
        equal.add(&seen(Some("P001"), 0.7));
        assert_eq!(
            equal.verdict().expect("verdict").person,
            Some("P002".parse().expect("psn"))
        );
        // A nonsensical weight neither wins nor breaks the vote.
        let mut odd = Votes::default();
        odd.add(&weighted(Some("P003"), 0.9, f32::NAN));
        odd.add(&weighted(None, 0.1, 1.0));
        assert_eq!(odd.verdict().expect("verdict").person, None);
    }
}
