//! One labelled photo's face embedding, as `wardwatch-agent embed --folder DIR` writes it (JSON Lines,
//! one photo a line) and `wardwatch-collector calibrate` reads it: the agent computes embeddings with
//! the box's own models, the collector (which never links the models) does the arithmetic.
//!
//! `{"person": "…", "file": "…", "model": "fr_feature", "embedding": [0.01, …] | null,
//!   "quality": 0.83 | null, "skipped": "why" | null}` — `embedding` is `null` when no face was found
//! (`skipped` says so); a face the box's quality gate would skip has its embedding and the reason.

use serde::{Deserialize, Serialize};

/// One photo of a labelled folder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmbeddedPhoto {
    /// Who is in the photo: the name of the photo's folder (an insured person's number, or any label).
    pub person: String,
    /// The photo's path as given.
    pub file: String,
    /// The recogniser that made the embedding.
    pub model: String,
    /// The largest face's unit-length embedding; `None` when no face was found.
    pub embedding: Option<Vec<f32>>,
    /// The face's quality weight in (0, 1] (1: frontal, sharp, eyes ≥ 40 px apart).
    pub quality: Option<f32>,
    /// Why the box would not recognise this face (no face found, or the quality gate's reason).
    pub skipped: Option<String>,
}
