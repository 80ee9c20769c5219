//! Face vision on the ward box: the ONNX models (detection, landmarks, recognition, liveness) run by
//! tract on the CPU.
//!
//! | module | what it does |
//! |---|---|
//! | [`rewrite`] | exact load-time graph rewrites on the ONNX protobuf (`PRelu` → `Relu(x) + (a/2)·(x − abs(x))`, ~2× faster in tract) |
//! | [`model`] | loads a model file (sha256-checked), plans it per fixed input shape, keeps one plan per shape |
//!
//! The stages built on these (detection, alignment, recognition, liveness) come with the face-pipeline
//! issue; their output is [`crate::sighting::Sighting`].

pub mod model;
pub mod rewrite;

pub use model::{ModelError, ModelPlan, ModelPlans, OnnxModel, Rewrites, Sha256Digest};
