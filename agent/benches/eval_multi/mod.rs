//! The ORL eval's multi-photo protocol. Photos 1–3 of each of the 40 people enrol (three embeddings a
//! person in the gallery), photos 4–10 probe (280 probes; a photo without a detected face is a probe
//! that fails: rejected as genuine, wrong at rank 1). Each probe is scored against every person's three
//! embeddings in each of these ways:
//! - `max`: the best of the person's similarities (what the box's matcher does);
//! - `mean`: their mean; `q-mean`: weighted by each enrolment photo's quality weight;
//! - `template`: the similarity to the person's normalised mean embedding; `q-template`: quality-weighted;
//!
//! with plain embeddings, with horizontal-flip test-time augmentation on both sides (`flip`), and on the
//! enrolment photos only (`flip-enrol`). Genuine scores: each probe against its own person (280);
//! impostor scores: against each of the 39 others (10,920, so FAR 1e-4 allows one impostor score above
//! the threshold). A second, pooled run takes every one of the 120 sets of three photos as the
//! enrolment and the other seven as probes (33,600 genuine, 1,310,400 impostor scores), so that the
//! ways of scoring are compared on more than one choice of enrolment photos.
//!
//! Tracks: each person's probe photos 4–10 as five pseudo-tracks of three consecutive photos
//! (4–6 … 8–10; 200 tracks), identified against the photos-1–3 gallery at the box's default policy
//! (threshold 0.39, margin 0.05) by the tracker's per-frame vote (plain, and weighted by quality) or
//! by matching the track's mean embedding (plain, and quality-weighted); and each of the same tracks
//! against the gallery without its person (200 impostor tracks: any name given is a false match).

use super::{eer, tar_at_far};
use wardwatch_agent::tracking::vote::{Recognition, Votes};
use wardwatch_agent::vision::engine::{DEFAULT_MATCH_MARGIN, DEFAULT_VERIFY_THRESHOLD, cosine};
use wardwatch_agent::vision::matcher::{Gallery, Identity, MatchPolicy, MatchScratch, normalised};
use wardwatch_agent::vision::quality::Quality;

/// One detected photo.
pub struct Photo {
    /// Its embedding.
    pub plain: Vec<f32>,
    /// Its flip-augmented embedding.
    pub flipped: Vec<f32>,
    /// What the quality gate measured.
    pub quality: Quality,
    /// The raw embedding's length.
    pub raw_norm: f32,
}

#[derive(Clone, Copy, PartialEq)]
enum Side {
    Plain,
    Flip,
    FlipEnrol,
}

impl Side {
    fn name(self) -> &'static str {
        match self {
            Side::Plain => "plain",
            Side::Flip => "flip",
            Side::FlipEnrol => "flip-enrol",
        }
    }
    fn enrol(self, p: &Photo) -> &[f32] {
        if self == Side::Plain {
            &p.plain
        } else {
            &p.flipped
        }
    }
    fn probe(self, p: &Photo) -> &[f32] {
        if self == Side::Flip {
            &p.flipped
        } else {
            &p.plain
        }
    }
}

#[derive(Clone, Copy)]
enum Aggregate {
    Max,
    Mean,
    QMean,
    Template,
    QTemplate,
}

const AGGREGATES: [(Aggregate, &str); 5] = [
    (Aggregate::Max, "max"),
    (Aggregate::Mean, "mean"),
    (Aggregate::QMean, "q-mean"),
    (Aggregate::Template, "template"),
    (Aggregate::QTemplate, "q-template"),
];

/// A probe's score against one person's enrolment embeddings with their weights.
fn score(aggregate: Aggregate, probe: &[f32], enrolled: &[(&[f32], f32)]) -> f32 {
    let sims = enrolled.iter().map(|(e, w)| (cosine(probe, e), *w));
    match aggregate {
        Aggregate::Max => sims.map(|(s, _)| s).fold(f32::NEG_INFINITY, f32::max),
        Aggregate::Mean => sims.map(|(s, _)| s).sum::<f32>() / enrolled.len().max(1) as f32,
        Aggregate::QMean => {
            let (sum, weight) = sims.fold((0.0, 0.0), |(a, b), (s, w)| (a + s * w, b + w));
            sum / weight
        }
        Aggregate::Template | Aggregate::QTemplate => {
            let weighted = matches!(aggregate, Aggregate::QTemplate);
            let mean = weighted_mean(
                enrolled
                    .iter()
                    .map(|(e, w)| (*e, if weighted { *w } else { 1.0 })),
            );
            mean.map_or(f32::NEG_INFINITY, |m| cosine(probe, &m))
        }
    }
}

/// The normalised weighted sum of embeddings.
fn weighted_mean<'a>(items: impl Iterator<Item = (&'a [f32], f32)>) -> Option<Vec<f32>> {
    let mut sum: Vec<f32> = Vec::new();
    for (e, w) in items {
        if sum.is_empty() {
            sum = vec![0.0; e.len()];
        }
        sum.iter_mut().zip(e).for_each(|(s, v)| *s += w * v);
    }
    normalised(&sum)
}

/// Scores of one protocol: (genuine, impostor, rank-1 correct, probes, probes detected).
struct Scores {
    genuine: Vec<f32>,
    impostor: Vec<f32>,
    correct: usize,
    probes: usize,
    detected: usize,
}

/// Scores every probe against every person enrolled from `enrol` (0-based photo indices).
fn run(
    photos: &[Vec<Option<Photo>>],
    enrol: &[usize],
    side: Side,
    aggregate: Aggregate,
    scores: &mut Scores,
) {
    let gallery: Vec<Vec<(&[f32], f32)>> = photos
        .iter()
        .map(|shots| {
            enrol
                .iter()
                .filter_map(|i| shots[*i].as_ref())
                .map(|p| (side.enrol(p), p.quality.weight()))
                .collect()
        })
        .collect();
    for (person, shots) in photos.iter().enumerate() {
        for (i, shot) in shots.iter().enumerate() {
            if enrol.contains(&i) {
                continue;
            }
            scores.probes += 1;
            let Some(photo) = shot else {
                scores.genuine.push(f32::NEG_INFINITY);
                continue;
            };
            scores.detected += 1;
            let all: Vec<f32> = gallery
                .iter()
                .map(|enrolled| score(aggregate, side.probe(photo), enrolled))
                .collect();
            for (other, s) in all.iter().enumerate() {
                if other == person {
                    scores.genuine.push(*s);
                } else {
                    scores.impostor.push(*s);
                }
            }
            let best = all
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .map(|(p, _)| p);
            if best == Some(person) {
                scores.correct += 1;
            }
        }
    }
}

fn line(label: &str, s: &Scores) {
    let (e, at) = eer(&s.genuine, &s.impostor);
    let mut desc = s.impostor.clone();
    desc.sort_by(|a, b| b.total_cmp(a));
    let (t3, th3) = tar_at_far(&s.genuine, &desc, 1e-3);
    let (t4, th4) = tar_at_far(&s.genuine, &desc, 1e-4);
    println!(
        "{label:<34} EER {:>5.2}% (at {at:.3})  TAR {:>5.1}% at FAR 1e-3 ({th3:.3})  {:>5.1}% at 1e-4 ({th4:.3})  rank-1 {:>5.1}% ({}/{}; {}/{} of detected)",
        e * 100.0,
        t3 * 100.0,
        t4 * 100.0,
        s.correct as f64 * 100.0 / s.probes.max(1) as f64,
        s.correct,
        s.probes,
        s.correct,
        s.detected,
    );
}

fn empty() -> Scores {
    Scores {
        genuine: Vec::new(),
        impostor: Vec::new(),
        correct: 0,
        probes: 0,
        detected: 0,
    }
}

/// Prints the multi-photo protocol's figures and the tracks'.
pub fn report(photos: &[Vec<Option<Photo>>]) {
    println!("multi-photo protocol: photos 1–3 enrol, 4–10 probe, all 40 people");
    for side in [Side::Plain, Side::Flip, Side::FlipEnrol] {
        for (aggregate, name) in AGGREGATES {
            let mut s = empty();
            run(photos, &[0, 1, 2], side, aggregate, &mut s);
            line(&format!("  {} {name}", side.name()), &s);
        }
    }
    println!(
        "multi-photo, every split: each of the 120 sets of 3 photos enrols, the other 7 probe, pooled"
    );
    let mut splits = Vec::new();
    for a in 0..10 {
        for b in a + 1..10 {
            for c in b + 1..10 {
                splits.push([a, b, c]);
            }
        }
    }
    for side in [Side::Plain, Side::Flip, Side::FlipEnrol] {
        for (aggregate, name) in AGGREGATES {
            let mut s = empty();
            for split in &splits {
                run(photos, split, side, aggregate, &mut s);
            }
            line(&format!("  {} {name}", side.name()), &s);
        }
    }
    let (mut norm_lo, mut norm_hi) = (f32::INFINITY, 0.0f32);
    let (mut w_lo, mut w_hi) = (f32::INFINITY, 0.0f32);
    for p in photos.iter().flatten().flatten() {
        norm_lo = norm_lo.min(p.raw_norm);
        norm_hi = norm_hi.max(p.raw_norm);
        w_lo = w_lo.min(p.quality.weight());
        w_hi = w_hi.max(p.quality.weight());
    }
    println!("quality weights {w_lo:.3}–{w_hi:.3}; raw embedding norms {norm_lo:.2}–{norm_hi:.2}");
    // The threshold at FAR 1e-3 of the photos-1–3 protocol (plain, max): where a box with three
    // enrolment photos a person sits at the single-photo default's false-accept rate.
    let mut s = empty();
    run(photos, &[0, 1, 2], Side::Plain, Aggregate::Max, &mut s);
    let mut desc = s.impostor.clone();
    desc.sort_by(|a, b| b.total_cmp(a));
    let (_, at_1e3) = tar_at_far(&s.genuine, &desc, 1e-3);
    for threshold in [DEFAULT_VERIFY_THRESHOLD, (at_1e3 * 1000.0).ceil() / 1000.0] {
        for side in [Side::Plain, Side::Flip] {
            tracks(photos, side, threshold);
        }
    }
}

/// The single-photo protocol (every pair of the 400 photos) with flip-augmented embeddings.
pub fn single_photo_flipped(photos: &[Vec<Option<Photo>>]) {
    let all: Vec<(usize, &[f32])> = photos
        .iter()
        .enumerate()
        .flat_map(|(p, shots)| {
            shots
                .iter()
                .flatten()
                .map(move |ph| (p, ph.flipped.as_slice()))
        })
        .collect();
    let (mut genuine, mut impostor) = (Vec::new(), Vec::new());
    for (i, (pa, a)) in all.iter().enumerate() {
        for (pb, b) in &all[i + 1..] {
            if pa == pb {
                genuine.push(cosine(a, b));
            } else {
                impostor.push(cosine(a, b));
            }
        }
    }
    genuine.extend(std::iter::repeat_n(
        f32::NEG_INFINITY,
        45 * 40 - genuine.len(),
    ));
    let (e, at) = eer(&genuine, &impostor);
    impostor.sort_by(|a, b| b.total_cmp(a));
    let (t3, th3) = tar_at_far(&genuine, &impostor, 1e-3);
    let (t4, th4) = tar_at_far(&genuine, &impostor, 1e-4);
    println!(
        "single-photo with flip: EER {:.2}% (at {at:.3})  TAR {:.1}% at FAR 1e-3 ({th3:.3})  {:.1}% at 1e-4 ({th4:.3})",
        e * 100.0,
        t3 * 100.0,
        t4 * 100.0
    );
}

/// Pseudo-tracks of three consecutive probe photos, identified four ways.
fn tracks(photos: &[Vec<Option<Photo>>], side: Side, threshold: f32) {
    let policy = MatchPolicy {
        threshold,
        margin: DEFAULT_MATCH_MARGIN,
    };
    let name = |p: usize| format!("P{:03}", p + 1);
    let gallery_without = |left_out: Option<usize>| {
        let dims = photos
            .iter()
            .flatten()
            .flatten()
            .next()
            .map_or(512, |p| p.plain.len());
        let mut g = Gallery::new(dims);
        for (person, shots) in photos.iter().enumerate() {
            if Some(person) == left_out {
                continue;
            }
            for p in shots[..3].iter().flatten() {
                let _ = g.add(&name(person), side.enrol(p));
            }
        }
        g
    };
    let full = gallery_without(None);
    let mut scratch = MatchScratch::default();
    // [method] = (correct, unknown, wrong) for enrolled tracks; (named) for impostor tracks
    let methods = ["vote", "q-vote", "mean embedding", "q-mean embedding"];
    let mut enrolled = [(0usize, 0usize, 0usize); 4];
    let mut impostor = [0usize; 4];
    let mut total = 0;
    for (person, shots) in photos.iter().enumerate() {
        let left_out = gallery_without(Some(person));
        for start in 3..8 {
            let frames: Vec<&Photo> = shots[start..start + 3].iter().flatten().collect();
            total += 1;
            for (g, is_enrolled) in [(&full, true), (&left_out, false)] {
                for (m, _) in methods.iter().enumerate() {
                    let who = identify_track(g, &frames, side, m, policy, &mut scratch);
                    if is_enrolled {
                        match who {
                            Some(w) if w == name(person) => enrolled[m].0 += 1,
                            None => enrolled[m].1 += 1,
                            Some(_) => enrolled[m].2 += 1,
                        }
                    } else if who.is_some() {
                        impostor[m] += 1;
                    }
                }
            }
        }
    }
    println!(
        "tracks of 3 probe photos ({} embeddings; photos 1–3 enrol; threshold {:.3}, margin {}):",
        side.name(),
        policy.threshold,
        policy.margin
    );
    for (m, method) in methods.iter().enumerate() {
        let (c, u, w) = enrolled[m];
        println!(
            "  {method:<18} enrolled: {c}/{total} named right, {u} unknown, {w} named wrong; not enrolled: {}/{total} named (false matches)",
            impostor[m]
        );
    }
}

/// Who a track of `frames` is by method `m` (0 vote, 1 quality-weighted vote, 2 mean embedding,
/// 3 quality-weighted mean embedding).
fn identify_track(
    gallery: &Gallery,
    frames: &[&Photo],
    side: Side,
    m: usize,
    policy: MatchPolicy,
    scratch: &mut MatchScratch,
) -> Option<String> {
    let named = |identity: Identity| match identity {
        Identity::Known {
            person, similarity, ..
        } => Some((gallery.people()[person].clone(), similarity)),
        Identity::Unknown { .. } => None,
    };
    if m >= 2 {
        let weighted = m == 3;
        let mean = weighted_mean(frames.iter().map(|p| {
            (
                side.probe(p),
                if weighted { p.quality.weight() } else { 1.0 },
            )
        }))?;
        return named(gallery.identify(&mean, policy, scratch)).map(|(w, _)| w);
    }
    let mut votes = Votes::default();
    for p in frames {
        let identity = gallery.identify(side.probe(p), policy, scratch);
        let best = match &identity {
            Identity::Known { similarity, .. } => *similarity,
            Identity::Unknown { best } => best.unwrap_or(0.0),
        };
        votes.add(&Recognition {
            person: named(identity).and_then(|(w, s)| w.parse().ok().map(|psn| (psn, s))),
            best_similarity: best,
            liveness: 1.0,
            weight: if m == 1 { p.quality.weight() } else { 1.0 },
        });
    }
    votes.verdict()?.person.map(|p| p.as_str().to_owned())
}
