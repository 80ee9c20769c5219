//! Bench: face accuracy on the ORL database (40 people × 10 grey 92×112 photos; pass its folder, default
//! `../shared/faces/orl` beside the repository — it is never copied into the repository). Runs the agent's
//! still-image pipeline (MTCNN with its five landmarks, or `--single-pass`: the single-pass detector with
//! 68→5 landmarks; then five-point alignment → fr_feature) on
//! every photo and prints, one line each: detection rate, EER, TAR at FAR 1e-3 and 1e-4 with their
//! thresholds, and rank-1 identification with photo 1 of each person as the gallery (the single-photo
//! protocol: every pair of the 400 photos). Then the multi-photo protocol ([`eval_multi`]): photos 1–3 of
//! each of the 40 people enrol, photos 4–10 probe, with each way of scoring a probe against a person's
//! several embeddings, with and without horizontal-flip test-time augmentation; and pseudo-tracks of
//! three probe photos identified by per-frame vote or by their (quality-weighted) mean embedding.
//!
//! `cargo bench --workspace --profile dev --bench eval [-- ORL_DIR] [--single-pass]` (default detector:
//! MTCNN)

mod eval_multi;

mod common;

use common::BenchArgs;
use eval_multi::Photo;
use wardwatch_agent::vision::engine::{DetectorKind, FaceEngine, cosine, flip_augmented};
use wardwatch_agent::vision::image_io::load_rgb;
use wardwatch_agent::vision::liveness::LivenessModel;

/// The threshold at which at most `far` of impostor scores are accepted, and the share of genuine
/// scores accepted there.
pub(crate) fn tar_at_far(genuine: &[f32], impostor_desc: &[f32], far: f64) -> (f64, f32) {
    let allowed = (far * impostor_desc.len() as f64).floor() as usize;
    // Accept strictly above the (allowed+1)-th highest impostor score.
    let threshold = impostor_desc
        .get(allowed)
        .copied()
        .unwrap_or(f32::NEG_INFINITY);
    let accepted = genuine.iter().filter(|g| **g > threshold).count();
    (accepted as f64 / genuine.len().max(1) as f64, threshold)
}

/// Equal error rate: where the false-accept and false-reject rates cross.
pub(crate) fn eer(genuine: &[f32], impostor: &[f32]) -> (f64, f32) {
    let mut best = (f64::INFINITY, 0.0f64, 0.0f32);
    for step in 0..=2000 {
        let t = -0.2 + step as f32 * 0.0006;
        let far =
            impostor.iter().filter(|s| **s >= t).count() as f64 / impostor.len().max(1) as f64;
        let frr = genuine.iter().filter(|s| **s < t).count() as f64 / genuine.len().max(1) as f64;
        if (far - frr).abs() < best.0 {
            best = ((far - frr).abs(), (far + frr) / 2.0, t);
        }
    }
    (best.1, best.2)
}

fn main() -> anyhow::Result<()> {
    let args = BenchArgs::from_env(&[]);
    let orl = args.orl_dir()?;
    let manifest = common::manifest()?;
    let kind = if args.has("--single-pass") {
        DetectorKind::SinglePass
    } else {
        DetectorKind::Mtcnn
    };
    println!("detector {kind:?}");
    let mut engine = FaceEngine::load(&manifest, kind)?;
    let mut liveness = LivenessModel::load(&manifest)?;
    // live[person] = live probabilities of the person's detected photos
    let mut live: Vec<Vec<f32>> = Vec::new();
    // embeddings[person][shot]
    let mut embeddings: Vec<Vec<Option<Vec<f32>>>> = Vec::new();
    // photos[person][shot]: plain and flip-augmented embeddings with quality, for the multi-photo protocol
    let mut photos: Vec<Vec<Option<Photo>>> = Vec::new();
    let mut missed = Vec::new();
    // Photos whose face was found only inside a margin (FaceEngine::still_face).
    let mut framed = Vec::new();
    for person in 1..=40 {
        let mut shots = Vec::new();
        let mut person_photos = Vec::new();
        let mut person_live = Vec::new();
        for shot in 1..=10 {
            let frame = load_rgb(&orl.join(format!("s{person}/{shot}.pgm")))?;
            let still = engine.still_face(&frame)?;
            match &still {
                Some(s) => {
                    if s.framed.is_some() {
                        framed.push(format!("s{person}/{shot}"));
                    }
                    person_live
                        .push(liveness.live_probability(s.frame(&frame).view(), &s.found.face)?);
                }
                None => missed.push(format!("s{person}/{shot}")),
            }
            let face = still.map(|s| s.found);
            person_photos.push(match &face {
                Some(f) => {
                    let mirrored = engine.mirrored_embedding()?;
                    Some(Photo {
                        flipped: flip_augmented(&f.embedding, &mirrored),
                        plain: f.embedding.clone(),
                        quality: f.quality,
                        raw_norm: f.raw_norm,
                    })
                }
                None => None,
            });
            shots.push(face.map(|f| f.embedding));
        }
        embeddings.push(shots);
        photos.push(person_photos);
        live.push(person_live);
    }
    let detected = 400 - missed.len();
    println!("detection {detected}/400 (missed {missed:?}; found only inside a margin {framed:?})");
    let (mut genuine, mut impostor) = (Vec::new(), Vec::new());
    let all: Vec<(usize, &Vec<f32>)> = embeddings
        .iter()
        .enumerate()
        .flat_map(|(p, shots)| shots.iter().flatten().map(move |e| (p, e)))
        .collect();
    for (i, (pa, a)) in all.iter().enumerate() {
        for (pb, b) in &all[i + 1..] {
            let s = cosine(a, b);
            if pa == pb {
                genuine.push(s);
            } else {
                impostor.push(s);
            }
        }
    }
    // A photo without a face cannot match: its genuine pairs count as rejected.
    let lost_genuine = 45 * 40 - genuine.len();
    genuine.extend(std::iter::repeat_n(f32::NEG_INFINITY, lost_genuine));
    let mut impostor_desc = impostor.clone();
    impostor_desc.sort_by(|a, b| b.total_cmp(a));
    let (eer, at) = eer(&genuine, &impostor);
    println!(
        "EER {:.2}% (at {at:.3}; {} genuine pairs, {} impostor pairs)",
        eer * 100.0,
        genuine.len(),
        impostor.len()
    );
    for far in [1e-3, 1e-4] {
        let (tar, threshold) = tar_at_far(&genuine, &impostor_desc, far);
        println!(
            "TAR {:.1}% at FAR {far:.0e} (threshold {threshold:.3})",
            tar * 100.0
        );
    }
    // Rank-1: photo 1 of each person enrolled, photos 2–10 as probes.
    let (mut correct, mut probes) = (0, 0);
    for (person, shots) in embeddings.iter().enumerate() {
        for probe in shots.iter().skip(1) {
            probes += 1;
            let Some(probe) = probe else { continue };
            let best = embeddings
                .iter()
                .enumerate()
                .filter_map(|(p, s)| s[0].as_ref().map(|g| (p, cosine(g, probe))))
                .max_by(|a, b| a.1.total_cmp(&b.1));
            if best.is_some_and(|(p, _)| p == person) {
                correct += 1;
            }
        }
    }
    println!(
        "rank-1 {:.1}% ({correct}/{probes}, photo 1 as the gallery)",
        correct as f64 * 100.0 / probes as f64
    );
    eval_multi::single_photo_flipped(&photos);
    eval_multi::report(&photos);
    // Liveness on real (if scanned) faces: false rejects at 0.5, per photo and per person's track of
    // photos (its median).
    let photos: Vec<f32> = live.iter().flatten().copied().collect();
    let rejected = photos.iter().filter(|p| **p < 0.5).count();
    let tracks_rejected = live
        .iter()
        .filter(|person| {
            let mut sorted = (*person).clone();
            sorted.sort_by(|a, b| a.total_cmp(b));
            sorted.get(sorted.len() / 2).is_some_and(|m| *m < 0.5)
        })
        .count();
    println!(
        "liveness FRR {:.1}% per photo ({rejected}/{}), {:.1}% per person-track ({tracks_rejected}/40) at 0.5",
        rejected as f64 * 100.0 / photos.len().max(1) as f64,
        photos.len(),
        tracks_rejected as f64 * 100.0 / 40.0
    );
    Ok(())
}
