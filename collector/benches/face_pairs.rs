//! `duplicate_face` at a province's size: every pair of enrolled faces compared in tiles of matrix
//! products (`collector/src/rules/face_pairs.rs`) against the one-pair-at-a-time loop it replaced, on
//! the same gallery in the same run, and the two checked to find the same pairs.
//!
//! ```sh
//! OPT="--config profile.dev.package.wardwatch-collector.opt-level=3"
//! cargo bench --workspace --profile dev $OPT --bench face_pairs [-- PEOPLE [PEER_PEOPLE]]
//! ```
//! (the dev profile leaves the workspace's own crates unoptimised, and the peer loop is the
//! collector's own code: optimise it as a deployment builds it, or the ratio flatters the tiles).
//!
//! The gallery: `PEOPLE` persons (default 60,300: the province bench's 120,600 enrolments) with two
//! photos each (a face, 128 Gaussian values, and the same face plus noise), and every 500th person
//! enrolled again under a second number (the face plus more noise); threshold 0.6 as the shipped rules
//! base. The peer runs on the first `PEER_PEOPLE` persons (default 10,000): one pair at a time, a
//! province takes hours.

use std::time::Instant;
use wardwatch_collector::gallery::Enrolled;
use wardwatch_collector::rules::face_pairs::{similar_pairs, similar_pairs_one_by_one};
use wardwatch_testkit::simulate::Random;

const DIM: usize = 128;
const THRESHOLD: f32 = 0.6;
const SECOND_NUMBER_EVERY: usize = 500;

/// `face` plus Gaussian noise of `noise` per value, unit length.
fn photo(random: &mut Random, face: &[f64], noise: f64) -> Vec<f32> {
    let v: Vec<f64> = face.iter().map(|x| x + noise * random.normal()).collect();
    let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
    v.iter().map(|x| (x / norm) as f32).collect()
}

fn gallery(people: usize) -> (Vec<Enrolled>, usize) {
    let mut random = Random(2026);
    let mut out = Vec::with_capacity(people * 2 + people / SECOND_NUMBER_EVERY + 1);
    let mut planted = 0;
    let enrol = |psn: usize, embedding: Vec<f32>| Enrolled {
        id: 0,
        fixmedins_code: format!("H4306{:07}", psn % 600),
        psn_no: format!("4306{psn:016}"),
        model: "simulated-128".into(),
        embedding,
    };
    for p in 0..people {
        let face: Vec<f64> = (0..DIM).map(|_| random.normal()).collect();
        out.push(enrol(p, photo(&mut random, &face, 0.3)));
        out.push(enrol(p, photo(&mut random, &face, 0.3)));
        if p % SECOND_NUMBER_EVERY == 0 {
            out.push(enrol(people + p, photo(&mut random, &face, 0.5)));
            planted += 1;
        }
    }
    (out, planted)
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .filter_map(|a| a.parse().ok())
        .collect();
    let people = args.first().copied().unwrap_or(60_300);
    let peer_people = args.get(1).copied().unwrap_or(10_000).min(people);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "face_pairs: {DIM}-value faces, threshold {THRESHOLD}, {threads} threads for the tiles"
    );

    let (small, planted) = gallery(peer_people);
    let started = Instant::now();
    let tiled = similar_pairs(&small, THRESHOLD);
    let tiled_s = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let one_by_one = similar_pairs_one_by_one(&small, THRESHOLD);
    let peer_s = started.elapsed().as_secs_f64();
    let same = tiled.len() == one_by_one.len()
        && tiled
            .iter()
            .zip(&one_by_one)
            .all(|(t, o)| (t.0, t.1) == (o.0, o.1) && (t.2 - o.2).abs() < 1e-4);
    let pairs = |n: usize| (n * (n - 1) / 2) as f64;
    println!(
        "{} enrolments ({peer_people} persons, {planted} enrolled twice): tiles {tiled_s:.2} s, one by one {peer_s:.2} s (peer), ratio {:.1}×; pairs found {} and {}, the same: {same}",
        small.len(),
        peer_s / tiled_s,
        tiled.len(),
        one_by_one.len(),
    );
    if !same {
        eprintln!("the tiles and the one-by-one loop found different pairs");
        std::process::exit(1);
    }

    if people > peer_people {
        let (full, planted) = gallery(people);
        let started = Instant::now();
        let found = similar_pairs(&full, THRESHOLD);
        let full_s = started.elapsed().as_secs_f64();
        println!(
            "{} enrolments ({people} persons, {planted} enrolled twice): tiles {full_s:.1} s for {:.2e} pairs ({:.0} M pairs/s); pairs found {} (planted {planted}); one by one at the peer's rate would take {:.0} s",
            full.len(),
            pairs(full.len()),
            pairs(full.len()) / full_s / 1e6,
            found.len(),
            peer_s * pairs(full.len()) / pairs(small.len()),
        );
    }
}
