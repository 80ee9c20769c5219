//! Every pair of enrolled persons whose faces are at least as alike as a threshold, for
//! [`super::duplicate_face`]: exact (every cosine is computed), but as tiles of a matrix product rather
//! than one dot product at a time.
//!
//! A province's gallery holds ~10⁵ enrolments, ~5·10⁹ pairs. One pair at a time that is hours; a tile
//! of 1,024 × 1,024 cosines is one matrix product of two 1,024 × d blocks (`ndarray`'s
//! `general_mat_mul`, which hands f32 to `matrixmultiply`'s cache-blocked SIMD kernels), and the tiles
//! are shared among the machine's cores. Embeddings are compared only within one recognition model and
//! dimension. `cargo bench --workspace --profile dev --bench face_pairs` measures it against the
//! one-pair-at-a-time loop ([`similar_pairs_one_by_one`]) on the same gallery, and checks both found the
//! same pairs.

use crate::gallery::Enrolled;
use ndarray::linalg::general_mat_mul;
use ndarray::{Array2, ArrayView2, s};
use std::collections::BTreeMap;

/// Rows per side of a tile: a tile's cosines are `TILE²` f32 (4 MiB), each block `TILE × d`.
const TILE: usize = 1024;

/// A pair of enrolment rows (earlier row index, later row index) and their cosine similarity.
pub type FacePair = (usize, usize, f32);

/// Best pair per pair of persons: keyed by the two `psn_no`s, smaller first.
type BestPairs<'e> = BTreeMap<(&'e str, &'e str), FacePair>;

/// For each pair of distinct persons (same model) whose best embedding pair has a cosine of at least
/// `threshold`: that best pair, as (earlier row index, later row index, cosine), in the order of the
/// persons' numbers. Embeddings are L2-normalised, so a dot product is the cosine.
pub fn similar_pairs(enrolled: &[Enrolled], threshold: f32) -> Vec<FacePair> {
    let mut groups: BTreeMap<(&str, usize), Vec<usize>> = BTreeMap::new();
    for (i, e) in enrolled.iter().enumerate() {
        if !e.embedding.is_empty() {
            groups
                .entry((e.model.as_str(), e.embedding.len()))
                .or_default()
                .push(i);
        }
    }
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut best = BestPairs::new();
    for ((_, dim), rows) in groups {
        let matrix: Vec<f32> = rows
            .iter()
            .flat_map(|&i| enrolled[i].embedding.iter().copied())
            .collect();
        let Ok(matrix) = ArrayView2::from_shape((rows.len(), dim), &matrix) else {
            continue;
        };
        let starts: Vec<usize> = (0..rows.len()).step_by(TILE).collect();
        // Tile (a, b) for b ≥ a: the upper triangle. Thread t takes every `threads`-th tile.
        let tiles: Vec<(usize, usize)> = starts
            .iter()
            .enumerate()
            .flat_map(|(k, &a)| starts[k..].iter().map(move |&b| (a, b)))
            .collect();
        let found: Vec<BestPairs<'_>> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..threads)
                .map(|t| {
                    let tiles = &tiles;
                    let rows = &rows;
                    scope.spawn(move || {
                        let mut mine = BestPairs::new();
                        let mut cosines = Array2::<f32>::zeros((TILE, TILE));
                        for &(a, b) in tiles.iter().skip(t).step_by(threads) {
                            compare_tile(
                                enrolled,
                                rows,
                                matrix,
                                (a, b),
                                threshold,
                                &mut cosines,
                                &mut mine,
                            );
                        }
                        mine
                    })
                })
                .collect();
            workers.into_iter().filter_map(|w| w.join().ok()).collect()
        });
        for mine in found {
            for (persons, pair) in mine {
                keep_best(&mut best, persons, pair);
            }
        }
    }
    best.into_values().collect()
}

/// The cosines of rows `a..a+TILE` against rows `b..b+TILE` of `matrix` (positions in `rows`), each
/// pair at or above `threshold` kept in `best` (for `a == b`, each pair once).
fn compare_tile<'e>(
    enrolled: &'e [Enrolled],
    rows: &[usize],
    matrix: ArrayView2<'_, f32>,
    (a, b): (usize, usize),
    threshold: f32,
    cosines: &mut Array2<f32>,
    best: &mut BestPairs<'e>,
) {
    let (a_end, b_end) = ((a + TILE).min(rows.len()), (b + TILE).min(rows.len()));
    let (m, n) = (a_end - a, b_end - b);
    let mut tile = cosines.slice_mut(s![..m, ..n]);
    general_mat_mul(
        1.0,
        &matrix.slice(s![a..a_end, ..]),
        &matrix.slice(s![b..b_end, ..]).t(),
        0.0,
        &mut tile,
    );
    for x in 0..m {
        let first = if a == b { x + 1 } else { 0 };
        let row = tile.row(x);
        // A row of the tile is contiguous (the tile is a standard-layout array's corner); a copy
        // otherwise, never a skipped row.
        let row: std::borrow::Cow<'_, [f32]> = match row.as_slice() {
            Some(slice) => std::borrow::Cow::Borrowed(slice),
            None => std::borrow::Cow::Owned(row.to_vec()),
        };
        // Almost no cosine reaches the threshold: a branch-free test of 16 at a time (which the
        // compiler turns into SIMD compares) skips the chunks without one.
        for (k, chunk) in row[first..].chunks(16).enumerate() {
            let start = first + 16 * k;
            if !chunk.iter().fold(false, |any, &c| any | (c >= threshold)) {
                continue;
            }
            for (k, &cosine) in chunk.iter().enumerate() {
                if cosine < threshold {
                    continue;
                }
                let y = start + k;
                let (i, j) = (rows[a + x], rows[b + y]);
                let (p, q) = (&enrolled[i].psn_no, &enrolled[j].psn_no);
                if p == q {
                    continue;
                }
                let persons = if p < q {
                    (p.as_str(), q.as_str())
                } else {
                    (q.as_str(), p.as_str())
                };
                keep_best(best, persons, (i.min(j), i.max(j), cosine));
            }
        }
    }
}

fn keep_best<'e>(best: &mut BestPairs<'e>, persons: (&'e str, &'e str), pair: FacePair) {
    let entry = best.entry(persons).or_insert(pair);
    if pair.2 > entry.2 || (pair.2 == entry.2 && (pair.0, pair.1) < (entry.0, entry.1)) {
        *entry = pair;
    }
}

/// The same pairs, one dot product at a time: the peer of the bench and the reference of the tests.
pub fn similar_pairs_one_by_one(enrolled: &[Enrolled], threshold: f32) -> Vec<FacePair> {
    let mut best = BestPairs::new();
    for (i, a) in enrolled.iter().enumerate() {
        for (j, b) in enrolled.iter().enumerate().skip(i + 1) {
            if a.psn_no == b.psn_no
                || a.model != b.model
                || a.embedding.len() != b.embedding.len()
                || a.embedding.is_empty()
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
            let persons = if a.psn_no < b.psn_no {
                (a.psn_no.as_str(), b.psn_no.as_str())
            } else {
                (b.psn_no.as_str(), a.psn_no.as_str())
            };
            keep_best(&mut best, persons, (i, j, cosine));
        }
    }
    best.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic unit vector of `dim` Gaussian values for `seed`.
    fn unit(seed: u64, dim: usize) -> Vec<f32> {
        let mut random = wardwatch_testkit::simulate::Random(seed);
        let v: Vec<f64> = (0..dim).map(|_| random.normal()).collect();
        let norm = v.iter().map(|a| a * a).sum::<f64>().sqrt();
        v.into_iter().map(|a| (a / norm) as f32).collect()
    }

    fn enrolment(psn: usize, model: &str, embedding: Vec<f32>) -> Enrolled {
        Enrolled {
            id: 0,
            fixmedins_code: "H43060200001".into(),
            psn_no: format!("4306{psn:016}"),
            model: model.into(),
            embedding,
        }
    }

    /// `people` persons with two photos each (the second the first plus a little noise), and every
    /// `every`-th person enrolled again under a new number with a third, noisier photo.
    fn gallery(people: usize, every: usize, dim: usize) -> Vec<Enrolled> {
        let blend = |a: &[f32], b: &[f32], w: f32| -> Vec<f32> {
            let v: Vec<f32> = a.iter().zip(b).map(|(x, y)| x + w * y).collect();
            let norm = v.iter().map(|a| a * a).sum::<f32>().sqrt();
            v.into_iter().map(|a| a / norm).collect()
        };
        let mut out = Vec::new();
        for p in 0..people {
            let face = unit(p as u64 + 1, dim);
            out.push(enrolment(p, "m", face.clone()));
            out.push(enrolment(
                p,
                "m",
                blend(&face, &unit(10_000 + p as u64, dim), 0.3),
            ));
            if p % every == 0 {
                out.push(enrolment(
                    people + p,
                    "m",
                    blend(&face, &unit(20_000 + p as u64, dim), 0.6),
                ));
            }
        }
        out
    }

    #[test]
    fn tiles_find_exactly_the_pairs_one_by_one_finds_across_tile_edges() {
        // 2 × 700 + 100 rows: two tiles a side, so pairs fall within and across tiles.
        let enrolled = gallery(700, 7, 64);
        let tiled = similar_pairs(&enrolled, 0.6);
        let reference = similar_pairs_one_by_one(&enrolled, 0.6);
        assert_eq!(tiled.len(), 100, "one pair per person enrolled twice");
        assert_eq!(tiled.len(), reference.len());
        for (t, r) in tiled.iter().zip(&reference) {
            assert_eq!((t.0, t.1), (r.0, r.1));
            assert!((t.2 - r.2).abs() < 1e-5, "{t:?} vs {r:?}");
        }
    }

    #[test]
    fn only_faces_of_one_model_and_dimension_are_compared() {
        let face = unit(1, 32);
        let enrolled = vec![
            enrolment(1, "a", face.clone()),
            enrolment(2, "b", face.clone()),
            enrolment(3, "a", face[..16].to_vec()),
            enrolment(4, "a", face.clone()),
        ];
        let pairs = similar_pairs(&enrolled, 0.9);
        assert_eq!(pairs.len(), 1, "{pairs:?}");
        assert_eq!((pairs[0].0, pairs[0].1), (0, 3));
    }
}
