//! Who a track is: the identity voted over the recognitions made along it, so one blurred or turned
//! frame cannot rename a patient. Each recognition votes for an enrolled person or for "unknown"; the
//! track is the person with a strict majority of the votes, else unknown. Liveness is the median of the
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
    for_person: BTreeMap<PsnNo, Vec<f32>>,
    unknown: Vec<f32>,
    liveness: Vec<f32>,
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
        match &r.person {
            Some((who, similarity)) => self
                .for_person
                .entry(who.clone())
                .or_default()
                .push(*similarity),
            None => self.unknown.push(r.best_similarity),
        }
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
            a.1.len()
                .cmp(&b.1.len())
                .then(median(a.1).total_cmp(&median(b.1)))
        });
        Some(match leader {
            Some((who, sims)) if sims.len() * 2 > total => Verdict {
                person: Some(who.clone()),
                similarity: median(sims),
                liveness,
            },
            _ => {
                let all: Vec<f32> = self
                    .unknown
                    .iter()
                    .chain(self.for_person.values().flatten())
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
}
