//! Gallery matching: which enrolled person a face embedding belongs to, or nobody. Embeddings are
//! L2-normalised, so cosine similarity is a dot product; the whole gallery is one contiguous row-major
//! matrix scored in one pass (several embeddings per person), reduced to each person's best in a reused
//! buffer. (An 8-bit scan with exact re-scoring of the top was tried and measured no faster here.)
//! Open set: a face is a person only when the best similarity reaches the threshold **and** beats the
//! best other person by the margin; otherwise it is unknown.

/// Decision thresholds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MatchPolicy {
    /// Minimum cosine similarity to the person's best embedding.
    pub threshold: f32,
    /// Minimum lead over the best other person.
    pub margin: f32,
}

/// What a face is.
#[derive(Debug, Clone, PartialEq)]
pub enum Identity {
    /// An enrolled person.
    Known {
        /// Index into [`Gallery::people`].
        person: usize,
        /// Similarity to that person's best embedding.
        similarity: f32,
        /// Lead over the best other person (1 + similarity when alone).
        margin: f32,
    },
    /// Nobody enrolled (or too close to call).
    Unknown {
        /// The best similarity found, if the gallery is not empty.
        best: Option<f32>,
    },
}

/// An embedding could not be enrolled.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GalleryError {
    /// Wrong length.
    #[error("embedding has {got} values; the gallery's model makes {expected}")]
    Dimensions {
        /// Expected length.
        expected: usize,
        /// Given length.
        got: usize,
    },
    /// All zeros, NaN or infinite values.
    #[error("embedding is not a usable vector (zero, NaN or infinite)")]
    Degenerate,
}

/// Enrolled embeddings.
#[derive(Debug, Clone, Default)]
pub struct Gallery {
    dims: usize,
    vectors: Vec<f32>,
    owner: Vec<usize>,
    people: Vec<String>,
}

/// Buffers reused between matches (no allocation per face once warmed up).
#[derive(Debug, Default)]
pub struct MatchScratch {
    best: Vec<f32>,
}

/// The dot product, in eight independent lanes so the compiler can vectorise it.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            lanes[i] += x[i] * y[i];
        }
    }
    lanes.iter().sum::<f32>() + tail
}

/// `v` scaled to unit length, or `None` if it has none.
pub fn normalised(v: &[f32]) -> Option<Vec<f32>> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    (norm.is_finite() && norm > 1e-12).then(|| v.iter().map(|x| x / norm).collect())
}

impl Gallery {
    /// An empty gallery for embeddings of `dims` values.
    pub fn new(dims: usize) -> Gallery {
        Gallery {
            dims,
            ..Gallery::default()
        }
    }

    /// Enrols one embedding of `person` (normalised here).
    pub fn add(&mut self, person: &str, embedding: &[f32]) -> Result<(), GalleryError> {
        if embedding.len() != self.dims {
            return Err(GalleryError::Dimensions {
                expected: self.dims,
                got: embedding.len(),
            });
        }
        let unit = normalised(embedding).ok_or(GalleryError::Degenerate)?;
        let index = match self.people.iter().position(|p| p == person) {
            Some(i) => i,
            None => {
                self.people.push(person.to_owned());
                self.people.len() - 1
            }
        };
        self.vectors.extend_from_slice(&unit);
        self.owner.push(index);
        Ok(())
    }

    /// The enrolled people, by index.
    pub fn people(&self) -> &[String] {
        &self.people
    }

    /// Number of enrolled embeddings.
    pub fn len(&self) -> usize {
        self.owner.len()
    }

    /// True when nothing is enrolled.
    pub fn is_empty(&self) -> bool {
        self.owner.is_empty()
    }

    /// Decides who `probe` (L2-normalised, `dims` values) is.
    pub fn identify(
        &self,
        probe: &[f32],
        policy: MatchPolicy,
        scratch: &mut MatchScratch,
    ) -> Identity {
        if self.is_empty() || probe.len() != self.dims {
            return Identity::Unknown { best: None };
        }
        scratch.best.clear();
        scratch.best.resize(self.people.len(), f32::NEG_INFINITY);
        for (row, owner) in self.vectors.chunks_exact(self.dims).zip(&self.owner) {
            let score = dot(row, probe);
            let best = &mut scratch.best[*owner];
            if score > *best {
                *best = score;
            }
        }
        let (mut first, mut second) = ((usize::MAX, f32::NEG_INFINITY), f32::NEG_INFINITY);
        for (person, score) in scratch.best.iter().enumerate() {
            if *score > first.1 {
                second = first.1;
                first = (person, *score);
            } else if *score > second {
                second = *score;
            }
        }
        let lead = if second.is_finite() {
            first.1 - second
        } else {
            1.0 + first.1
        };
        if first.1 >= policy.threshold && lead >= policy.margin {
            Identity::Known {
                person: first.0,
                similarity: first.1,
                margin: lead,
            }
        } else {
            Identity::Unknown {
                best: Some(first.1),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(v: &[f32]) -> Vec<f32> {
        normalised(v).expect("non-zero")
    }

    #[test]
    fn top_one_with_threshold_and_margin() {
        let mut g = Gallery::new(3);
        g.add("A", &[1.0, 0.0, 0.0]).expect("add");
        g.add("A", &[0.9, 0.1, 0.0]).expect("add");
        g.add("B", &[0.0, 1.0, 0.0]).expect("add");
        let policy = MatchPolicy {
            threshold: 0.5,
            margin: 0.1,
        };
        let mut scratch = MatchScratch::default();
        match g.identify(&unit(&[0.95, 0.05, 0.0]), policy, &mut scratch) {
            Identity::Known {
                person, similarity, ..
            } => {
                assert_eq!(g.people()[person], "A");
                assert!(similarity > 0.99);
            }
            other => panic!("{other:?}"),
        }
        // Between A and B: above the threshold for both, but too close to call.
        let between = unit(&[1.0, 1.0, 0.0]);
        assert!(matches!(
            g.identify(&between, policy, &mut scratch),
            Identity::Unknown { best: Some(_) }
        ));
        // Far from everyone.
        assert!(matches!(
            g.identify(&unit(&[0.0, 0.0, 1.0]), policy, &mut scratch),
            Identity::Unknown { .. }
        ));
        assert_eq!(
            g.add("C", &[0.0, 0.0]),
            Err(GalleryError::Dimensions {
                expected: 3,
                got: 2
            })
        );
        assert_eq!(g.add("C", &[0.0, 0.0, 0.0]), Err(GalleryError::Degenerate));
        assert_eq!(
            g.add("C", &[f32::NAN, 0.0, 1.0]),
            Err(GalleryError::Degenerate)
        );
    }

    #[test]
    fn the_right_one_among_many_close_people() {
        // 300 people around one direction.
        let noise = |p: usize, i: usize| {
            let mut z = (p as u64 * 1_000_003 + i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            z ^= z >> 29;
            z = z.wrapping_mul(0xBF58_476D_1CE4_E5B9);
            ((z >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.1
        };
        let mut g = Gallery::new(64);
        let base: Vec<f32> = (0..64).map(|i| ((i * 7 % 13) as f32 - 6.0) / 6.0).collect();
        let person = |p: usize| -> Vec<f32> {
            base.iter()
                .enumerate()
                .map(|(i, b)| b + noise(p, i))
                .collect()
        };
        for p in 0..300 {
            g.add(&format!("P{p}"), &person(p)).expect("add");
        }
        let target = 123;
        let probe = person(target);
        let probe = unit(&probe);
        let mut scratch = MatchScratch::default();
        let policy = MatchPolicy {
            threshold: 0.0,
            margin: 0.0,
        };
        match g.identify(&probe, policy, &mut scratch) {
            Identity::Known {
                person, similarity, ..
            } => {
                assert_eq!(g.people()[person], format!("P{target}"));
                assert!(
                    (similarity - 1.0).abs() < 1e-5,
                    "exact, not the 8-bit estimate: {similarity}"
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn vectorised_dot_matches_the_plain_sum() {
        let a: Vec<f32> = (0..515).map(|i| (i as f32 * 0.37).sin()).collect();
        let b: Vec<f32> = (0..515).map(|i| (i as f32 * 0.11).cos()).collect();
        let plain: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!((dot(&a, &b) - plain).abs() < 1e-3);
    }
}
