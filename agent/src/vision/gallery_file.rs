//! A gallery read from JSON Lines as `wardwatch-agent enroll-embed --psn-no … --institution …` writes it
//! (`{"fixmedins_code", "psn_no", "model", "embedding"}` a line), for `identify --gallery`. (On a ward
//! box the gallery arrives signed from the collector, with the agent-runtime issue.)

use super::matcher::{Gallery, GalleryError};
use serde::Deserialize;
use std::io::BufRead;
use std::path::{Path, PathBuf};

#[derive(Debug, Deserialize)]
struct Line {
    psn_no: wardwatch_protocol::PsnNo,
    embedding: Vec<f32>,
}

/// A gallery file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum GalleryFileError {
    /// Unreadable.
    #[error("{path}: cannot read: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A bad line.
    #[error("{path}, line {line}: {why}")]
    Line {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        why: String,
    },
}

/// Reads a gallery of `dims`-value embeddings.
pub fn read_gallery(path: &Path, dims: usize) -> Result<Gallery, GalleryFileError> {
    let file = std::fs::File::open(path).map_err(|source| GalleryFileError::Read {
        path: path.to_owned(),
        source,
    })?;
    let mut gallery = Gallery::new(dims);
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let bad = |why: String| GalleryFileError::Line {
            path: path.to_owned(),
            line: i + 1,
            why,
        };
        let text = line.map_err(|source| GalleryFileError::Read {
            path: path.to_owned(),
            source,
        })?;
        if text.trim().is_empty() {
            continue;
        }
        let parsed: Line = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
        gallery
            .add(parsed.psn_no.as_str(), &parsed.embedding)
            .map_err(|e: GalleryError| bad(e.to_string()))?;
    }
    Ok(gallery)
}
