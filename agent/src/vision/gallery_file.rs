//! A gallery read from JSON Lines as `wardwatch-agent enroll-embed --psn-no … --institution …` writes it
//! (`{"fixmedins_code", "psn_no", "model", "embedding"}` a line), for `identify --gallery`. (On a ward
//! box the gallery arrives signed from the collector, with the agent-runtime issue.)

use super::matcher::{Gallery, GalleryError};
use serde::Deserialize;
use std::path::Path;
use wardwatch_protocol::{JsonLinesError, read_json_lines};

#[derive(Debug, Deserialize)]
struct Line {
    psn_no: wardwatch_protocol::PsnNo,
    embedding: Vec<f32>,
}

/// A gallery file could not be used (unreadable, or a bad line, named).
pub type GalleryFileError = JsonLinesError;

/// Reads a gallery of `dims`-value embeddings.
pub fn read_gallery(path: &Path, dims: usize) -> Result<Gallery, GalleryFileError> {
    let mut gallery = Gallery::new(dims);
    read_json_lines(path, |parsed: Line| {
        gallery
            .add(parsed.psn_no.as_str(), &parsed.embedding)
            .map_err(|e: GalleryError| e.to_string())
    })?;
    Ok(gallery)
}
