//! On-device face vision: from a frame to faces with identities and scores (the face-pipeline issue).
//! Built so far, model-independent:
//!
//! | module | what it does |
//! |---|---|
//! | [`align`] | similarity transform from five landmarks to the recogniser's template; bilinear warp |
//! | [`matcher`] | gallery matching: cosine top-1 with threshold and margin, several embeddings per person, open set |
//!
//! Detection, landmarks, liveness and embedding run the ONNX models in `models/` (see
//! `models/manifest.toml`) with tract; they come next.

pub mod align;
pub mod matcher;
