//! Reading a JSON Lines file of typed records (one JSON document a line, blank lines skipped), with
//! errors that name the file and the line: the agent's local gallery file and the calibration files
//! ([`crate::EmbeddedPhoto`]) are read this way.

use serde::de::DeserializeOwned;
use std::io::BufRead;
use std::path::{Path, PathBuf};

/// A JSON Lines file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum JsonLinesError {
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

/// Parses each non-blank line of `path` as a `T` and hands it to `each`, which may refuse it with a
/// reason; the first bad line ends the reading.
pub fn read_json_lines<T: DeserializeOwned>(
    path: &Path,
    mut each: impl FnMut(T) -> Result<(), String>,
) -> Result<(), JsonLinesError> {
    let file = std::fs::File::open(path).map_err(|source| JsonLinesError::Read {
        path: path.to_owned(),
        source,
    })?;
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let text = line.map_err(|source| JsonLinesError::Read {
            path: path.to_owned(),
            source,
        })?;
        if text.trim().is_empty() {
            continue;
        }
        serde_json::from_str(&text)
            .map_err(|e| e.to_string())
            .and_then(&mut each)
            .map_err(|why| JsonLinesError::Line {
                path: path.to_owned(),
                line: i + 1,
                why,
            })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_read_and_a_bad_line_is_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("x.jsonl");
        std::fs::write(&path, "{\"a\":1}\n\n{\"a\":2}\n{\"a\":\"x\"}\n").expect("write");
        #[derive(serde::Deserialize)]
        struct R {
            a: u32,
        }
        let mut seen = Vec::new();
        let err = read_json_lines(&path, |r: R| {
            seen.push(r.a);
            Ok(())
        })
        .expect_err("line 4");
        assert_eq!(seen, [1, 2]);
        assert!(err.to_string().contains("line 4"), "{err}");
        let refused = read_json_lines(&path, |_: R| Err("no".into())).expect_err("refused");
        assert!(refused.to_string().ends_with("line 1: no"), "{refused}");
        assert!(read_json_lines(&dir.path().join("none"), |_: R| Ok(())).is_err());
    }
}
