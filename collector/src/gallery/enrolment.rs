//! The enrolled faces: per institution and insured person, the face embeddings the agent computed at
//! enrolment (`wardwatch-agent enroll-embed`). The collector keeps them, checks them for one face
//! enrolled under several insurance numbers (rule `duplicate_face`) and signs and publishes them to the
//! ward boxes ([`super::publish`]).
//!
//! Import format: JSON Lines, one embedding a line:
//! `{"fixmedins_code": "H43060200175", "psn_no": "430600…", "model": "fr_feature", "embedding": [0.01, …]}`.
//! Embeddings are stored L2-normalised; importing the same embedding again changes nothing.

use crate::store::{Store, StoreError, now_ms};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use sqlx::Row;
use std::io::BufRead;
use wardwatch_protocol::{InstitutionCode, PsnNo};

/// Shortest and longest embedding accepted.
const DIMENSIONS: std::ops::RangeInclusive<usize> = 64..=4096;

/// One line of an import file, as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    fixmedins_code: InstitutionCode,
    psn_no: PsnNo,
    model: String,
    embedding: Vec<f32>,
}

/// One enrolled embedding.
#[derive(Debug, Clone, PartialEq)]
pub struct Enrolled {
    /// Row id (enrolment order).
    pub id: i64,
    /// The institution that enrolled the person.
    pub fixmedins_code: String,
    /// The insured person.
    pub psn_no: String,
    /// The recognition model that made the embedding.
    pub model: String,
    /// The embedding, L2-normalised.
    pub embedding: Vec<f32>,
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GalleryImport {
    /// Lines read (non-blank).
    pub lines: u64,
    /// Embeddings stored for the first time.
    pub new: u64,
    /// Embeddings already stored.
    pub existing: u64,
    /// Refused lines: (line number, reason).
    pub refused: Vec<(u64, String)>,
}

/// An import failed as a whole (bad lines are refused one by one, in the report).
#[derive(Debug, thiserror::Error)]
pub enum GalleryError {
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for GalleryError {
    fn from(e: sqlx::Error) -> Self {
        GalleryError::Store(StoreError::Query(e))
    }
}

/// Checks and normalises an embedding.
fn normalised(embedding: &[f32]) -> Result<Vec<f32>, String> {
    if !DIMENSIONS.contains(&embedding.len()) {
        return Err(format!(
            "embedding has {} values; expected {} to {}",
            embedding.len(),
            DIMENSIONS.start(),
            DIMENSIONS.end()
        ));
    }
    if let Some(i) = embedding.iter().position(|v| !v.is_finite()) {
        return Err(format!("embedding value {i} is not a finite number"));
    }
    let norm = embedding.iter().map(|v| v * v).sum::<f32>().sqrt();
    if norm < 1e-6 {
        return Err("embedding is all zeros".into());
    }
    Ok(embedding.iter().map(|v| v / norm).collect())
}

fn digest(embedding: &[f32]) -> String {
    let mut hasher = Sha256::new();
    for v in embedding {
        hasher.update(v.to_le_bytes());
    }
    hex::encode(hasher.finalize())
}

impl Store {
    /// Imports embeddings from JSON Lines; bad lines are reported, good ones kept.
    pub async fn import_gallery(
        &self,
        reader: impl BufRead,
    ) -> Result<GalleryImport, GalleryError> {
        let mut report = GalleryImport::default();
        let mut tx = self.pool().begin().await?;
        let mut dimensions: std::collections::HashMap<String, usize> =
            self.gallery_dimensions().await?;
        for (index, line) in reader.lines().enumerate() {
            let number = index as u64 + 1;
            // A line that is not UTF-8 is refused like any bad line; a failing read ends the file, but
            // what was accepted before it is still stored.
            let text = match line {
                Ok(text) => text,
                Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                    report.lines += 1;
                    report.refused.push((number, "not UTF-8 text".into()));
                    continue;
                }
                Err(e) => {
                    report
                        .refused
                        .push((number, format!("reading stopped here: {e}")));
                    break;
                }
            };
            if text.trim().is_empty() {
                continue;
            }
            report.lines += 1;
            let parsed: Line = match serde_json::from_str(&text) {
                Ok(line) => line,
                Err(e) => {
                    report.refused.push((number, e.to_string()));
                    continue;
                }
            };
            let embedding = match normalised(&parsed.embedding) {
                Ok(e) => e,
                Err(why) => {
                    report.refused.push((number, why));
                    continue;
                }
            };
            let expected = *dimensions
                .entry(parsed.model.clone())
                .or_insert(embedding.len());
            if expected != embedding.len() {
                report.refused.push((
                    number,
                    format!(
                        "model {} embeddings have {expected} values; this one has {}",
                        parsed.model,
                        embedding.len()
                    ),
                ));
                continue;
            }
            let stored = sqlx::query(
                "INSERT INTO gallery_embeddings (fixmedins_code, psn_no, model, embedding, digest, enrolled_at_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (fixmedins_code, psn_no, digest) DO NOTHING",
            )
            .bind(parsed.fixmedins_code.as_str())
            .bind(parsed.psn_no.as_str())
            .bind(&parsed.model)
            .bind(serde_json::Value::from(embedding.clone()).to_string())
            .bind(digest(&embedding))
            .bind(now_ms())
            .execute(&mut *tx)
            .await?;
            if stored.rows_affected() == 1 {
                report.new += 1;
            } else {
                report.existing += 1;
            }
        }
        tx.commit().await?;
        Ok(report)
    }

    async fn gallery_dimensions(
        &self,
    ) -> Result<std::collections::HashMap<String, usize>, GalleryError> {
        let rows =
            sqlx::query("SELECT model, MIN(embedding) FROM gallery_embeddings GROUP BY model")
                .fetch_all(self.pool())
                .await?;
        let mut dims = std::collections::HashMap::new();
        for row in rows {
            let model: String = row.try_get(0)?;
            let text: String = row.try_get(1)?;
            let values: Vec<f32> =
                serde_json::from_str(&text).map_err(|e| StoreError::Corrupt {
                    what: "gallery embedding",
                    why: e.to_string(),
                })?;
            dims.insert(model, values.len());
        }
        Ok(dims)
    }

    /// Every enrolled embedding, in enrolment order.
    pub async fn gallery(&self) -> Result<Vec<Enrolled>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, fixmedins_code, psn_no, model, embedding FROM gallery_embeddings ORDER BY id",
        )
        .fetch_all(self.pool())
        .await?;
        rows.into_iter()
            .map(|r| {
                let text: String = r.try_get(4)?;
                Ok(Enrolled {
                    id: r.try_get(0)?,
                    fixmedins_code: r.try_get(1)?,
                    psn_no: r.try_get(2)?,
                    model: r.try_get(3)?,
                    embedding: serde_json::from_str(&text).map_err(|e| StoreError::Corrupt {
                        what: "gallery embedding",
                        why: e.to_string(),
                    })?,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embeddings_are_checked_and_normalised() {
        let e = normalised(&[3.0; 64]).expect("fine");
        let norm: f32 = e.iter().map(|v| v * v).sum();
        assert!((norm - 1.0).abs() < 1e-5);
        assert!(normalised(&[1.0; 10]).unwrap_err().contains("10 values"));
        assert!(normalised(&[0.0; 128]).unwrap_err().contains("zeros"));
        let mut nan = vec![1.0; 128];
        nan[7] = f32::NAN;
        assert!(normalised(&nan).unwrap_err().contains("value 7"));
    }
}
