//! Replays sightings from a JSON Lines file, one [`Sighting`] per line, resumable at a byte offset.
//!
//! The [`ReplayCursor`] is committed to the spool together with the events the lines produced, so a
//! restarted agent (even after `kill -9`) continues after the last committed line: no sighting is
//! processed twice and none is skipped. Lines that are not valid sightings are skipped with a warning
//! naming the file, line and reason, and counted.

use crate::sighting::Sighting;
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// Where the replay stands: the next line to read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplayCursor {
    /// Byte offset of the next line.
    pub offset: u64,
    /// 1-based number of the next line.
    pub line: u64,
}

/// The replay file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// I/O on the file.
    #[error("replay file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The saved cursor points past the end of the file: the file was replaced by a shorter one.
    #[error(
        "replay file {path} is {len} bytes but the spool says {offset} bytes were already replayed; \
         the file was changed since (use a new spool to replay a different file)"
    )]
    Shrunk {
        /// The file.
        path: PathBuf,
        /// Its length now.
        len: u64,
        /// The saved offset.
        offset: u64,
    },
}

/// A JSON Lines file of sightings, read from a cursor.
pub struct ReplaySource {
    path: PathBuf,
    reader: BufReader<File>,
    cursor: ReplayCursor,
    skipped: u64,
    buffer: String,
}

impl ReplaySource {
    /// Opens `path` and positions it at `cursor`.
    pub fn open(path: &Path, cursor: ReplayCursor) -> Result<ReplaySource, ReplayError> {
        let io = |source| ReplayError::Io {
            path: path.to_owned(),
            source,
        };
        let mut file = File::open(path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        if cursor.offset > len {
            return Err(ReplayError::Shrunk {
                path: path.to_owned(),
                len,
                offset: cursor.offset,
            });
        }
        file.seek(SeekFrom::Start(cursor.offset)).map_err(io)?;
        Ok(ReplaySource {
            path: path.to_owned(),
            reader: BufReader::new(file),
            cursor: ReplayCursor {
                offset: cursor.offset,
                line: cursor.line.max(1),
            },
            skipped: 0,
            buffer: String::new(),
        })
    }

    /// The position after the last line returned.
    pub fn cursor(&self) -> ReplayCursor {
        self.cursor
    }

    /// Lines skipped as invalid so far in this run.
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    /// The next valid sighting, or `None` at the end of the file.
    pub fn next_sighting(&mut self) -> Result<Option<Sighting>, ReplayError> {
        loop {
            self.buffer.clear();
            let read =
                self.reader
                    .read_line(&mut self.buffer)
                    .map_err(|source| ReplayError::Io {
                        path: self.path.clone(),
                        source,
                    })?;
            if read == 0 {
                return Ok(None);
            }
            if !self.buffer.ends_with('\n') {
                // A line still being written: leave it for a later run.
                return Ok(None);
            }
            let line = self.cursor.line;
            self.cursor.offset += read as u64;
            self.cursor.line += 1;
            let text = self.buffer.trim();
            if text.is_empty() {
                continue;
            }
            match serde_json::from_str::<Sighting>(text) {
                Ok(sighting) => return Ok(Some(sighting)),
                Err(e) => {
                    self.skipped += 1;
                    tracing::warn!(
                        file = %self.path.display(),
                        line,
                        error = %e,
                        "skipping a replay line that is not a sighting"
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &str = r#"{"at":"2026-11-23T00:05:00.000Z","camera_id":"cam-1","person":{"psn_no":"4306001"},"similarity":0.7,"liveness":0.9}"#;

    #[test]
    fn reads_skips_bad_lines_and_resumes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.jsonl");
        let text = format!("{LINE}\nnot json\n\n{}\n", LINE.replace("cam-1", "cam-2"));
        std::fs::write(&path, text).unwrap();
        let mut source = ReplaySource::open(&path, ReplayCursor::default()).unwrap();
        let first = source.next_sighting().unwrap().unwrap();
        assert_eq!(first.camera_id.as_str(), "cam-1");
        let resume = source.cursor();
        assert_eq!(resume.line, 2);
        let second = source.next_sighting().unwrap().unwrap();
        assert_eq!(second.camera_id.as_str(), "cam-2");
        assert_eq!(source.skipped(), 1);
        assert!(source.next_sighting().unwrap().is_none());

        let mut again = ReplaySource::open(&path, resume).unwrap();
        assert_eq!(again.next_sighting().unwrap().unwrap(), second);
    }

    #[test]
    fn a_shrunk_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.jsonl");
        std::fs::write(&path, format!("{LINE}\n")).unwrap();
        let err = ReplaySource::open(
            &path,
            ReplayCursor {
                offset: 10_000,
                line: 50,
            },
        )
        .err()
        .unwrap();
        assert!(err.to_string().contains("was changed"), "{err}");
    }
}
