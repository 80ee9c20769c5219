//! One ONNX model file, loaded once and planned by tract once per input shape.
//!
//! [`OnnxModel::load`] reads the file (checking its sha256 when one is expected), decodes the protobuf and
//! applies the exact rewrites of [`super::rewrite`]. [`OnnxModel::plan`] turns it into a runnable tract
//! plan for one fixed f32 input shape (a fixed shape ran ~3.5× faster than symbolic image sizes).
//! [`ModelPlans`] keeps one [`ModelPlan`] per shape, so MTCNN's pnet, which runs at every pyramid size,
//! plans each size on the first frame that needs it and never again. A plan keeps its tract state between
//! runs, so tract's session buffers are reused from frame to frame.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Instant;

use sha2::{Digest, Sha256};
use tract_onnx::pb::ModelProto;
use tract_onnx::prelude::*;

use super::rewrite::rewrite_prelu;

/// Why a model could not be loaded, planned or run; every variant names the model file.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("cannot read model file {path}: {error}")]
    Unreadable {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("model file {path} has sha256 {actual}, expected {expected}")]
    Sha256Mismatch {
        path: PathBuf,
        expected: String,
        actual: String,
    },
    #[error("model file {path} is not a valid ONNX protobuf: {error:#}")]
    NotOnnx { path: PathBuf, error: TractError },
    #[error("model file {path}: tract failed to {stage} for input shape {shape:?}: {error:#}")]
    Tract {
        path: PathBuf,
        stage: &'static str,
        shape: Vec<usize>,
        error: TractError,
    },
    #[error("model file {path} has {count} inputs; only single-input models are supported")]
    NotSingleInput { path: PathBuf, count: usize },
    #[error("model file {path} was planned for input shape {planned:?} but got {given:?}")]
    InputShape {
        path: PathBuf,
        planned: Vec<usize>,
        given: Vec<usize>,
    },
}

/// A sha256 digest written as 64 hex digits (as in `models/manifest.toml`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sha256Digest([u8; 32]);

/// A string that is not 64 hex digits.
#[derive(Debug, thiserror::Error)]
#[error("not a sha256 digest (64 hex digits): {0:?}")]
pub struct BadSha256(String);

impl FromStr for Sha256Digest {
    type Err = BadSha256;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut digest = [0u8; 32];
        hex::decode_to_slice(s.trim(), &mut digest).map_err(|_| BadSha256(s.to_owned()))?;
        Ok(Sha256Digest(digest))
    }
}

impl std::fmt::Display for Sha256Digest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

/// Which load-time rewrites to apply (all exact; on by default, off only to measure or compare).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rewrites {
    pub prelu: bool,
}

impl Default for Rewrites {
    fn default() -> Self {
        Rewrites { prelu: true }
    }
}

impl Rewrites {
    /// The graph exactly as in the file.
    pub const NONE: Rewrites = Rewrites { prelu: false };
}

/// A decoded, rewritten ONNX model, ready to be planned for any input shape.
#[derive(Debug, Clone)]
pub struct OnnxModel {
    path: PathBuf,
    proto: ModelProto,
    prelu_rewritten: usize,
}

impl OnnxModel {
    /// Reads and decodes `path`, checks it against `expected_sha256` when given, applies `rewrites`.
    pub fn load(
        path: &Path,
        expected_sha256: Option<Sha256Digest>,
        rewrites: Rewrites,
    ) -> Result<Self, ModelError> {
        let bytes = std::fs::read(path).map_err(|error| ModelError::Unreadable {
            path: path.to_owned(),
            error,
        })?;
        if let Some(expected) = expected_sha256 {
            let actual = Sha256Digest(Sha256::digest(&bytes).into());
            if actual != expected {
                return Err(ModelError::Sha256Mismatch {
                    path: path.to_owned(),
                    expected: expected.to_string(),
                    actual: actual.to_string(),
                });
            }
        }
        let proto = tract_onnx::onnx()
            .proto_model_for_read(&mut bytes.as_slice())
            .map_err(|error| ModelError::NotOnnx {
                path: path.to_owned(),
                error,
            })?;
        let (proto, prelu_rewritten) = if rewrites.prelu {
            let out = rewrite_prelu(proto);
            if out.skipped > 0 {
                tracing::warn!(model = %path.display(), skipped = out.skipped, "PRelu nodes left as they are");
            }
            (out.model, out.rewritten)
        } else {
            (proto, 0)
        };
        tracing::debug!(model = %path.display(), prelu_rewritten, "model loaded");
        Ok(OnnxModel {
            path: path.to_owned(),
            proto,
            prelu_rewritten,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How many `PRelu` nodes the load-time rewrite replaced.
    pub fn prelu_rewritten(&self) -> usize {
        self.prelu_rewritten
    }

    /// The graph's output names, in the order a plan returns its outputs.
    pub fn output_names(&self) -> Vec<&str> {
        self.proto
            .graph
            .iter()
            .flat_map(|g| g.output.iter().map(|o| o.name.as_str()))
            .collect()
    }

    /// A runnable tract plan for one fixed f32 input shape.
    pub fn plan(&self, input_shape: &[usize]) -> Result<ModelPlan, ModelError> {
        let started = Instant::now();
        let tract_error = |stage: &'static str| {
            let shape = input_shape.to_vec();
            move |error| ModelError::Tract {
                path: self.path.clone(),
                stage,
                shape,
                error,
            }
        };
        let model = tract_onnx::onnx()
            .model_for_proto_model(&self.proto)
            .map_err(tract_error("read the graph"))?;
        let inputs = model
            .input_outlets()
            .map_err(tract_error("list the inputs"))?
            .len();
        if inputs != 1 {
            return Err(ModelError::NotSingleInput {
                path: self.path.clone(),
                count: inputs,
            });
        }
        let plan = model
            .with_input_fact(0, f32::fact(input_shape).into())
            .map_err(tract_error("set the input shape"))?
            .into_optimized()
            .map_err(tract_error("optimise the graph"))?
            .into_runnable()
            .map_err(tract_error("make a runnable plan"))?;
        let state = TypedSimpleState::new(&plan).map_err(tract_error("start a session"))?;
        tracing::debug!(
            model = %self.path.display(),
            shape = ?input_shape,
            ms = started.elapsed().as_secs_f64() * 1e3,
            "model planned"
        );
        Ok(ModelPlan {
            path: self.path.clone(),
            input_shape: input_shape.to_vec(),
            state,
        })
    }
}

/// A model planned for one input shape, with its tract session kept between runs.
#[derive(Debug)]
pub struct ModelPlan {
    path: PathBuf,
    input_shape: Vec<usize>,
    state: TypedSimpleState,
}

impl ModelPlan {
    pub fn input_shape(&self) -> &[usize] {
        &self.input_shape
    }

    /// Runs the model on `input` (which must have the planned shape); outputs in graph order.
    pub fn run(&mut self, input: Tensor) -> Result<TVec<TValue>, ModelError> {
        if input.shape() != self.input_shape.as_slice() {
            return Err(ModelError::InputShape {
                path: self.path.clone(),
                planned: self.input_shape.clone(),
                given: input.shape().to_vec(),
            });
        }
        self.state
            .run(tvec![input.into_tvalue()])
            .map_err(|error| ModelError::Tract {
                path: self.path.clone(),
                stage: "run",
                shape: self.input_shape.clone(),
                error,
            })
    }

    /// Runs the model once like [`ModelPlan::run`], adding each node's time to `per_op` under its
    /// operator's name (for a per-operator profile; slower than a plain run by the bookkeeping only).
    pub fn profile(
        &mut self,
        input: Tensor,
        per_op: &mut std::collections::BTreeMap<String, OpTime>,
    ) -> Result<(), ModelError> {
        let tract_error = |error| ModelError::Tract {
            path: self.path.clone(),
            stage: "profile",
            shape: self.input_shape.clone(),
            error,
        };
        self.state
            .run_plan_with_eval(
                tvec![input.into_tvalue()],
                |context, state, node, inputs| {
                    let started = Instant::now();
                    let outputs = tract_onnx::tract_core::plan::eval(context, state, node, inputs);
                    let time = per_op.entry(node.op().name().to_string()).or_default();
                    time.total += started.elapsed();
                    time.calls += 1;
                    outputs
                },
            )
            .map(|_| ())
            .map_err(tract_error)
    }
}

/// Time spent in one kind of operator.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct OpTime {
    /// Summed over its nodes and runs.
    pub total: std::time::Duration,
    /// Node evaluations counted.
    pub calls: usize,
}

/// One model and its plans, one per input shape seen so far.
#[derive(Debug)]
pub struct ModelPlans {
    model: OnnxModel,
    plans: HashMap<Vec<usize>, ModelPlan>,
}

impl ModelPlans {
    pub fn new(model: OnnxModel) -> Self {
        ModelPlans {
            model,
            plans: HashMap::new(),
        }
    }

    pub fn model(&self) -> &OnnxModel {
        &self.model
    }

    /// The plan for `input_shape`, made on first use.
    pub fn plan_for(&mut self, input_shape: &[usize]) -> Result<&mut ModelPlan, ModelError> {
        if !self.plans.contains_key(input_shape) {
            let plan = self.model.plan(input_shape)?;
            self.plans.insert(input_shape.to_vec(), plan);
        }
        self.plans
            .get_mut(input_shape)
            .ok_or_else(|| unreachable_missing_plan(&self.model.path, input_shape))
    }

    /// Runs `input` through the plan for its shape (planning it on first use).
    pub fn run(&mut self, input: Tensor) -> Result<TVec<TValue>, ModelError> {
        let shape = input.shape().to_vec();
        self.plan_for(&shape)?.run(input)
    }

    /// How many input shapes have a plan.
    pub fn planned_shapes(&self) -> usize {
        self.plans.len()
    }
}

/// The plan was inserted just before the lookup; this error exists only to avoid a panic path.
fn unreachable_missing_plan(path: &Path, shape: &[usize]) -> ModelError {
    ModelError::Tract {
        path: path.to_owned(),
        stage: "keep the plan",
        shape: shape.to_vec(),
        error: TractError::msg("plan missing right after insertion"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_digest_parses_hex_and_refuses_the_rest() {
        let hex64 = "ab".repeat(32);
        let digest: Sha256Digest = hex64.parse().expect("64 hex digits");
        assert_eq!(digest.to_string(), hex64);
        assert!("ab".parse::<Sha256Digest>().is_err());
        assert!("zz".repeat(32).parse::<Sha256Digest>().is_err());
    }

    #[test]
    fn errors_name_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = dir.path().join("missing.onnx");
        let err = OnnxModel::load(&missing, None, Rewrites::default()).expect_err("no file");
        assert!(matches!(err, ModelError::Unreadable { .. }));
        assert!(err.to_string().contains("missing.onnx"), "{err}");

        let garbage = dir.path().join("garbage.onnx");
        std::fs::write(&garbage, b"\xff\xff\xff not a protobuf").expect("write");
        let err = OnnxModel::load(&garbage, None, Rewrites::default()).expect_err("not onnx");
        assert!(matches!(err, ModelError::NotOnnx { .. }), "{err}");
        assert!(err.to_string().contains("garbage.onnx"), "{err}");

        let wrong: Sha256Digest = "00".repeat(32).parse().expect("digest");
        let err = OnnxModel::load(&garbage, Some(wrong), Rewrites::default()).expect_err("sha");
        match err {
            ModelError::Sha256Mismatch { actual, .. } => {
                assert_eq!(
                    actual,
                    hex::encode(Sha256::digest(std::fs::read(&garbage).expect("read")))
                )
            }
            other => panic!("expected a sha256 mismatch, got {other}"),
        }
    }
}
