//! Bench: matching one face against a gallery of 10,000 enrolled 512-d embeddings (2,500 people × 4),
//! against a plain peer measured in the same run (per-embedding iterator dot products into a fresh
//! per-person map each call). Prints the median microseconds of each and their ratio.
//!
//! `cargo bench -p wardwatch-agent --bench gallery_match [-- EMBEDDINGS]`

use std::collections::HashMap;
use std::time::Instant;
use wardwatch_agent::vision::matcher::{Gallery, MatchPolicy, MatchScratch, normalised};

/// splitmix64 values in [-1, 1).
fn values(seed: &mut u64, n: usize) -> Vec<f32> {
    (0..n)
        .map(|_| {
            *seed = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = *seed;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            ((z ^ (z >> 31)) >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        })
        .collect()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let embeddings: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(10_000);
    let dims = 512;
    let mut seed = 7u64;
    let mut gallery = Gallery::new(dims);
    let mut plain: Vec<(String, Vec<f32>)> = Vec::new();
    for i in 0..embeddings {
        let person = format!("P{:06}", i / 4);
        let v = normalised(&values(&mut seed, dims)).unwrap_or_default();
        gallery.add(&person, &v).ok();
        plain.push((person, v));
    }
    let probes: Vec<Vec<f32>> = (0..200)
        .map(|_| normalised(&values(&mut seed, dims)).unwrap_or_default())
        .collect();
    let policy = MatchPolicy {
        threshold: 0.39,
        margin: 0.05,
    };
    let mut scratch = MatchScratch::default();
    let (mut ours, mut peer) = (Vec::new(), Vec::new());
    let mut agree = 0;
    for probe in &probes {
        let started = Instant::now();
        let identity = gallery.identify(probe, policy, &mut scratch);
        ours.push(started.elapsed().as_secs_f64() * 1e6);

        let started = Instant::now();
        let mut best: HashMap<&str, f32> = HashMap::new();
        for (person, v) in &plain {
            let s: f32 = v.iter().zip(probe).map(|(a, b)| a * b).sum();
            let e = best.entry(person.as_str()).or_insert(f32::NEG_INFINITY);
            *e = e.max(s);
        }
        let top = best.values().copied().fold(f32::NEG_INFINITY, f32::max);
        peer.push(started.elapsed().as_secs_f64() * 1e6);
        if let wardwatch_agent::vision::matcher::Identity::Unknown { best: Some(b) } = identity
            && (b - top).abs() < 1e-4
        {
            agree += 1;
        }
    }
    let (ours, peer) = (median(ours), median(peer));
    println!(
        "gallery of {embeddings} embeddings × {dims}: identify {ours:.1} µs (median of {}), plain peer {peer:.1} µs, ratio {:.2}; best scores agree on {agree}/{} random probes",
        probes.len(),
        ours / peer,
        probes.len()
    );
}
