//! On-device face vision: from a frame to faces with identities and scores (the face-pipeline issue),
//! on the ward box's CPU.
//!
//! | module | what it does |
//! |---|---|
//! | [`rewrite`] | exact load-time graph rewrites on the ONNX protobuf (`PRelu` → `Relu(x) + (a/2)·(x − abs(x))`, ~2× faster in tract) |
//! | [`model`] | loads a model file (sha256-checked), plans it per fixed input shape, keeps one plan per shape |
//! | [`align`] | similarity transform from five landmarks to the recogniser's template; bilinear warp |
//! | [`matcher`] | gallery matching: cosine top-1 with threshold and margin, several embeddings per person, open set |
//! | [`quality`] | the quality gate: size, roll, yaw, pitch, sharpness, exposure, and the reason a face is skipped |
//! | [`boxes`] | face boxes and non-maximum suppression for the detectors |
//! | [`manifest`] | `models/manifest.toml`: which file plays which role, its tensors and preprocessing |
//! | [`preprocess`] | frame region → a model's input tensor (resize, layout, colour order, normalisation) |
//! | [`detector`] | the [`detector::FaceDetector`] trait (boxes + five landmarks) and choosing a detector |
//! | [`single_pass`] | the single-pass detector (UltraFace layout) on the whole frame |
//! | [`resample`] | a frame region resized to a model's size (SIMD area/bilinear, reused buffers) |
//! | [`mtcnn`] | the MTCNN detector: pyramid, refinement, five landmarks (small faces in large frames) |
//! | [`motion_gate`] | where a frame changed: difference of downscaled grey frames, grouped into regions |
//! | [`face_sizes`] | the range of face sizes a camera shows, to skip pyramid levels outside it |
//! | [`gating`] | where a camera looks each frame: tracked faces refined in place, changes, periodic refresh |
//! | [`landmarks`] | five landmarks per detected face from the 68-point model |
//! | [`recogniser`] | aligned crop → unit-length embedding |
//! | [`liveness`] | the presentation-attack model: live probability of a face |
//! | [`image_io`] | still images (JPEG, PNG, PGM) → RGB frames with bounded memory |
//! | [`gallery_file`] | a gallery from `enroll-embed`'s JSON Lines, for `identify --gallery` |
//! | [`engine`] | detect → landmarks → align → embed, for still images (`verify`, `enroll-embed`) |
//! | [`labelled`] | folders of photos per person → embeddings with quality (`embed --folder`, for `calibrate`) |
//! | [`config`] | the agent configuration's `[recognition]` section: detector, models, thresholds, and its checks |
//!
//! Tracks over video and the camera runtime come with the agent-runtime issue (see `models/manifest.toml`);
//! their output is [`crate::sighting::Sighting`].

pub mod align;
pub mod boxes;
pub mod config;
pub mod detector;
pub mod engine;
pub mod face_sizes;
pub mod gallery_file;
pub mod gating;
pub mod image_io;
pub mod labelled;
pub mod landmarks;
pub mod liveness;
pub mod manifest;
pub mod matcher;
pub mod model;
pub mod motion_gate;
pub mod mtcnn;
pub mod preprocess;
pub mod quality;
pub mod recogniser;
pub mod resample;
pub mod rewrite;
pub mod single_pass;

pub use model::{ModelError, ModelPlan, ModelPlans, OnnxModel, OpTime, Rewrites, Sha256Digest};
