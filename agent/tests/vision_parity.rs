//! Parity of the face models under tract with onnxruntime, on the reference tensors committed under
//! `models/reference/` (made by `models/make_reference.py`), and of the PRelu rewrite with the graph as
//! filed. Missing reference data is a failure, not a skip: the models are part of the repository.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use tract_onnx::prelude::*;
use wardwatch_agent::vision::{ModelPlans, OnnxModel, Rewrites, Sha256Digest};

/// The bound on |tract − onnxruntime|, per output element.
const ORT_TOLERANCE: f32 = 1e-4;
/// Rewritten plan against the graph as filed, on the same input.
const REWRITE_TOLERANCE: f32 = 1e-5;

#[derive(Debug, Deserialize)]
struct Index {
    tolerance: f32,
    cases: Vec<Case>,
}

#[derive(Debug, Deserialize)]
struct Case {
    name: String,
    model: String,
    model_sha256: String,
    inputs: Vec<TensorFile>,
    outputs: Vec<TensorFile>,
}

#[derive(Debug, Deserialize)]
struct TensorFile {
    name: String,
    file: String,
    shape: Vec<usize>,
    dtype: String,
}

fn models_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../models")
}

fn read_index() -> Index {
    let path = models_dir().join("reference/index.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}. The reference tensors come from branch `models` (models/make_reference.py); \
             this test fails rather than skips without them",
            path.display()
        )
    });
    let index: Index =
        serde_json::from_str(&text).expect("index.json matches the documented format");
    assert!(!index.cases.is_empty(), "index.json lists no cases");
    index
}

fn read_tensor(spec: &TensorFile) -> Tensor {
    assert_eq!(
        spec.dtype, "f32",
        "{}: only f32 reference tensors are supported",
        spec.file
    );
    let path = models_dir().join("reference").join(&spec.file);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let expected = spec.shape.iter().product::<usize>() * 4;
    assert_eq!(
        bytes.len(),
        expected,
        "{}: size does not match shape {:?}",
        path.display(),
        spec.shape
    );
    let data: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    Tensor::from_shape(&spec.shape, &data).expect("tensor from reference data")
}

fn max_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
    assert_eq!(a.shape(), b.shape(), "shapes differ");
    let a = a.to_plain_array_view::<f32>().expect("f32");
    let b = b.to_plain_array_view::<f32>().expect("f32");
    a.iter()
        .zip(b.iter())
        .map(|(x, y)| (x - y).abs())
        .fold(
            0.0,
            |m, d| if d.is_nan() { f32::INFINITY } else { m.max(d) },
        )
}

fn load(case: &Case, rewrites: Rewrites) -> OnnxModel {
    let sha: Sha256Digest = case.model_sha256.parse().expect("index sha256");
    OnnxModel::load(&models_dir().join(&case.model), Some(sha), rewrites).expect("model loads")
}

/// Cases grouped by model file, so each model is loaded once.
fn by_model(index: &Index) -> BTreeMap<&str, Vec<&Case>> {
    let mut groups: BTreeMap<&str, Vec<&Case>> = BTreeMap::new();
    for case in &index.cases {
        assert_eq!(
            case.inputs.len(),
            1,
            "{}: single-input models only",
            case.name
        );
        groups.entry(case.model.as_str()).or_default().push(case);
    }
    groups
}

#[test]
fn tract_matches_onnxruntime_on_every_reference_case() {
    let index = read_index();
    let tolerance = index.tolerance.min(ORT_TOLERANCE);
    let mut report = Vec::new();
    for (model, cases) in by_model(&index) {
        let mut plans = ModelPlans::new(load(cases[0], Rewrites::default()));
        let names: Vec<String> = plans
            .model()
            .output_names()
            .iter()
            .map(|s| s.to_string())
            .collect();
        for case in cases {
            let outputs = plans.run(read_tensor(&case.inputs[0])).expect("tract runs");
            assert_eq!(
                outputs.len(),
                case.outputs.len(),
                "{}: output count",
                case.name
            );
            for expected in &case.outputs {
                let at = names
                    .iter()
                    .position(|n| *n == expected.name)
                    .unwrap_or_else(|| {
                        panic!(
                            "{}: {model} has no output {:?} (has {names:?})",
                            case.name, expected.name
                        )
                    });
                let diff = max_abs_diff(&outputs[at], &read_tensor(expected));
                report.push(format!("{} {}: {diff:.2e}", case.name, expected.name));
                assert!(
                    diff <= tolerance,
                    "{} output {}: max |tract − onnxruntime| = {diff:e} > {tolerance:e}",
                    case.name,
                    expected.name
                );
            }
        }
        // Several cases of one model at different shapes: one plan per shape, each made once.
        let shapes: std::collections::HashSet<_> = index
            .cases
            .iter()
            .filter(|c| c.model == model)
            .map(|c| &c.inputs[0].shape)
            .collect();
        assert_eq!(
            plans.planned_shapes(),
            shapes.len(),
            "{model}: one plan per input shape"
        );
    }
    println!(
        "max |tract − onnxruntime| per output:\n  {}",
        report.join("\n  ")
    );
}

#[test]
fn prelu_rewrite_matches_the_graph_as_filed() {
    let index = read_index();
    let mut rewritten_models = 0;
    for (model, cases) in by_model(&index) {
        let proto = tract_onnx::onnx()
            .proto_model_for_path(models_dir().join(model))
            .expect("proto decodes");
        let prelu_nodes = proto
            .graph
            .iter()
            .flat_map(|g| &g.node)
            .filter(|n| n.op_type == "PRelu")
            .count();
        let rewritten = load(cases[0], Rewrites::default());
        assert_eq!(
            rewritten.prelu_rewritten(),
            prelu_nodes,
            "{model}: every PRelu rewritten"
        );
        if prelu_nodes == 0 {
            continue;
        }
        rewritten_models += 1;
        let original = load(cases[0], Rewrites::NONE);
        for case in cases {
            let input = read_tensor(&case.inputs[0]);
            let fast = rewritten
                .plan(input.shape())
                .expect("plan")
                .run(input.clone())
                .expect("runs");
            let slow = original
                .plan(input.shape())
                .expect("plan")
                .run(input)
                .expect("runs");
            for (i, (a, b)) in fast.iter().zip(slow.iter()).enumerate() {
                let diff = max_abs_diff(a, b);
                println!(
                    "{} output {i}: rewritten vs as filed {diff:.2e} ({prelu_nodes} PRelu)",
                    case.name
                );
                assert!(
                    diff <= REWRITE_TOLERANCE,
                    "{} output {i}: {diff:e} > {REWRITE_TOLERANCE:e}",
                    case.name
                );
            }
        }
    }
    assert!(
        rewritten_models > 0,
        "no reference model has PRelu nodes: the rewrite went untested"
    );
}
