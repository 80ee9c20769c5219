//! Single-thread tract timings of the face models, with and without the load-time rewrites, in one run.
//!
//! `cargo bench -p wardwatch-agent --bench tract_models [-- RUNS]` (default 30 runs per case). Models are read
//! from `models/` at the workspace root, or from `WARDWATCH_MODELS_DIR`. Prints, per model and input shape,
//! the median milliseconds of the rewritten plan, of the graph as in the file, and their ratio.
//!
//! With `-- --profile [RUNS]`: where the time goes instead, per model (rewritten graph, first input
//! shape; pnet at the first pyramid level of a 1920×1080 frame for 40-pixel faces): milliseconds per run
//! by tract operator, largest first.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use tract_onnx::prelude::*;
use wardwatch_agent::vision::{ModelPlan, OnnxModel, OpTime, Rewrites};

/// (file, input shapes) — MTCNN inputs are N,W,H,C; pnet at three pyramid sizes of a 341×273 image.
const CASES: &[(&str, &[&[usize]])] = &[
    (
        "mtcnn_pnet.onnx",
        &[&[1, 341, 273, 3], &[1, 242, 194, 3], &[1, 60, 48, 3]],
    ),
    ("mtcnn_rnet.onnx", &[&[1, 24, 24, 3], &[16, 24, 24, 3]]),
    ("mtcnn_onet.onnx", &[&[1, 48, 48, 3], &[8, 48, 48, 3]]),
    ("fr_detect.onnx", &[&[1, 3, 240, 320]]),
    ("fr_landmark.onnx", &[&[1, 1, 64, 64]]),
    ("fr_feature.onnx", &[&[1, 3, 112, 112]]),
    ("fr_liveness.onnx", &[&[1, 3, 128, 128]]),
];

fn main() -> anyhow::Result<()> {
    let runs: usize = match std::env::args().skip(1).find(|a| !a.starts_with('-')) {
        Some(n) => n
            .parse()
            .with_context(|| format!("RUNS must be a number, got {n:?}"))?,
        None => 30,
    };
    let dir = std::env::var_os("WARDWATCH_MODELS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models"));
    if std::env::args().any(|a| a == "--profile") {
        return profile(&dir, runs);
    }
    println!(
        "median of {runs} single-thread runs, models from {}",
        dir.display()
    );
    println!(
        "{:<18} {:<18} {:>7} {:>11} {:>10} {:>7}",
        "model", "input", "prelu", "rewritten", "as file", "ratio"
    );
    for (file, shapes) in CASES {
        let path = dir.join(file);
        let rewritten = OnnxModel::load(&path, None, Rewrites::default())?;
        let original = OnnxModel::load(&path, None, Rewrites::NONE)?;
        for shape in *shapes {
            let input = pseudo_random(shape)?;
            let fast = median_ms(&mut rewritten.plan(shape)?, &input, runs)?;
            let slow = median_ms(&mut original.plan(shape)?, &input, runs)?;
            println!(
                "{:<18} {:<18} {:>7} {:>9.2}ms {:>8.2}ms {:>7.2}",
                file.trim_end_matches(".onnx"),
                format!("{shape:?}"),
                rewritten.prelu_rewritten(),
                fast,
                slow,
                slow / fast
            );
        }
    }
    Ok(())
}

/// pnet's first pyramid level for 40-pixel faces in a 1920×1080 frame (scale 12/40), as N,W,H,C.
const PNET_1080P_LEVEL: &[usize] = &[1, 576, 324, 3];

fn profile(dir: &std::path::Path, runs: usize) -> anyhow::Result<()> {
    println!(
        "per-operator time, mean ms per run over {runs} single-thread runs (rewritten graphs)"
    );
    for (file, shapes) in CASES {
        let shape = if *file == "mtcnn_pnet.onnx" {
            PNET_1080P_LEVEL
        } else {
            shapes[0]
        };
        let model = OnnxModel::load(&dir.join(file), None, Rewrites::default())?;
        let mut plan = model.plan(shape)?;
        let input = pseudo_random(shape)?;
        plan.run(input.clone())?; // warm-up
        let mut per_op = BTreeMap::<String, OpTime>::new();
        let started = Instant::now();
        for _ in 0..runs.max(1) {
            plan.profile(input.clone(), &mut per_op)?;
        }
        let wall = started.elapsed().as_secs_f64() * 1e3 / runs.max(1) as f64;
        let mut ops: Vec<_> = per_op.into_iter().collect();
        ops.sort_by_key(|op| std::cmp::Reverse(op.1.total));
        let total: f64 = ops.iter().map(|(_, t)| t.total.as_secs_f64()).sum::<f64>() * 1e3;
        println!(
            "{} {shape:?}: {:.2} ms per run in ops ({wall:.2} ms wall)",
            file.trim_end_matches(".onnx"),
            total / runs.max(1) as f64
        );
        for (op, time) in ops {
            let ms = time.total.as_secs_f64() * 1e3;
            println!(
                "    {op:<28} {:>8.3} ms {:>5.1}%  ({} nodes)",
                ms / runs.max(1) as f64,
                100.0 * ms / total.max(f64::MIN_POSITIVE),
                time.calls / runs.max(1)
            );
        }
    }
    Ok(())
}

fn median_ms(plan: &mut ModelPlan, input: &Tensor, runs: usize) -> anyhow::Result<f64> {
    plan.run(input.clone())?; // warm-up
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs.max(1) {
        let input = input.clone();
        let started = Instant::now();
        plan.run(input)?;
        times.push(started.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}

/// Deterministic values in [-1, 1) (an xorshift), like normalised pixels.
fn pseudo_random(shape: &[usize]) -> TractResult<Tensor> {
    let mut state: u32 = 0x9e37_79b9;
    let data: Vec<f32> = (0..shape.iter().product::<usize>())
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            (state >> 8) as f32 / (1u32 << 23) as f32 - 1.0
        })
        .collect();
    Tensor::from_shape(shape, &data)
}
