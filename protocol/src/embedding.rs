//! Face embeddings on the wire: unit-length vectors of f32, written as base64 of their little-endian
//! bytes (a third the size of a JSON number list, and exact).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Fewest and most values an embedding may have.
pub const DIMS_RANGE: std::ops::RangeInclusive<usize> = 16..=4096;
/// How far from 1 an embedding's length may be (rounding of a normalised vector).
const UNIT_TOLERANCE: f32 = 1e-3;

/// Why values are not a usable embedding.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EmbeddingError {
    /// Not base64, or not a whole number of f32s.
    #[error("not base64 of little-endian f32 values: {0}")]
    Encoding(String),
    /// Too few or too many values.
    #[error("{0} values; an embedding has 16 to 4096")]
    Dims(usize),
    /// NaN or infinite values, or not unit length.
    #[error("not a unit-length vector of finite values (length {0})")]
    NotUnit(f32),
}

/// A unit-length face embedding.
#[derive(Debug, Clone, PartialEq)]
pub struct FaceEmbedding(Vec<f32>);

impl FaceEmbedding {
    /// The values.
    pub fn values(&self) -> &[f32] {
        &self.0
    }

    /// How many values.
    pub fn dims(&self) -> usize {
        self.0.len()
    }

    /// The base64 text form.
    pub fn to_base64(&self) -> String {
        let bytes: Vec<u8> = self.0.iter().flat_map(|v| v.to_le_bytes()).collect();
        STANDARD.encode(bytes)
    }

    /// Parses the base64 text form.
    pub fn from_base64(text: &str) -> Result<FaceEmbedding, EmbeddingError> {
        let bytes = STANDARD
            .decode(text)
            .map_err(|e| EmbeddingError::Encoding(e.to_string()))?;
        if bytes.len() % 4 != 0 {
            return Err(EmbeddingError::Encoding(format!(
                "{} bytes is not a whole number of f32s",
                bytes.len()
            )));
        }
        let values: Vec<f32> = bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        FaceEmbedding::try_from(values)
    }
}

impl TryFrom<Vec<f32>> for FaceEmbedding {
    type Error = EmbeddingError;
    fn try_from(values: Vec<f32>) -> Result<Self, EmbeddingError> {
        if !DIMS_RANGE.contains(&values.len()) {
            return Err(EmbeddingError::Dims(values.len()));
        }
        let norm = values.iter().map(|v| v * v).sum::<f32>().sqrt();
        if !values.iter().all(|v| v.is_finite()) || (norm - 1.0).abs() > UNIT_TOLERANCE {
            return Err(EmbeddingError::NotUnit(norm));
        }
        Ok(FaceEmbedding(values))
    }
}

impl Serialize for FaceEmbedding {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_base64())
    }
}

impl<'de> Deserialize<'de> for FaceEmbedding {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        FaceEmbedding::from_base64(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(dims: usize) -> Vec<f32> {
        let v = 1.0 / (dims as f32).sqrt();
        vec![v; dims]
    }

    #[test]
    fn round_trips_exactly_through_base64() {
        let e = FaceEmbedding::try_from(unit(512)).expect("unit");
        let json = serde_json::to_string(&e).expect("json");
        assert_eq!(json.len(), 2 + 2048usize.div_ceil(3) * 4, "{json}");
        let back: FaceEmbedding = serde_json::from_str(&json).expect("parse");
        assert_eq!(back, e);
    }

    #[test]
    fn refuses_what_is_not_an_embedding() {
        assert_eq!(
            FaceEmbedding::try_from(unit(8)),
            Err(EmbeddingError::Dims(8))
        );
        assert!(matches!(
            FaceEmbedding::try_from(vec![1.0; 64]),
            Err(EmbeddingError::NotUnit(_))
        ));
        let mut nan = unit(64);
        nan[3] = f32::NAN;
        assert!(FaceEmbedding::try_from(nan).is_err());
        assert!(matches!(
            FaceEmbedding::from_base64("not base64!"),
            Err(EmbeddingError::Encoding(_))
        ));
        assert!(serde_json::from_str::<FaceEmbedding>("\"AAAA\"").is_err());
    }
}
