//! Evidence crops: a small JPEG of a face the box could not vouch for — an unknown face, or one whose
//! liveness stayed low — sent only when the box's operator turned evidence on (`[evidence]` in the
//! agent's configuration), only over TLS, and as a signed, chained event like any other, so a crop is
//! counted and cannot be slipped in, altered or removed unnoticed. Never whole frames.

use crate::ids::{CameraId, TrackId};
use crate::payload::Liveness;
use crate::time::Timestamp;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// The largest crop accepted, in bytes of JPEG (its base64 is a third larger, within the 64 KiB
/// message limit).
pub const MAX_EVIDENCE_BYTES: usize = 40 * 1024;

/// Why a crop was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EvidenceReason {
    /// The face matched nobody in the gallery.
    Unknown,
    /// The face's median liveness over its track was below the box's threshold (a photo, a screen).
    LowLiveness,
}

impl EvidenceReason {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            EvidenceReason::Unknown => "unknown",
            EvidenceReason::LowLiveness => "low_liveness",
        }
    }
}

/// A JPEG image: base64 on the wire, checked to start like a JPEG and to be at most
/// [`MAX_EVIDENCE_BYTES`].
#[derive(Clone, PartialEq, Eq)]
pub struct Jpeg(Vec<u8>);

/// Why bytes are not an acceptable crop.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JpegError {
    /// Not base64.
    #[error("not base64: {0}")]
    Encoding(String),
    /// Not a JPEG (no start-of-image marker).
    #[error("not a JPEG image (no FF D8 FF start-of-image marker)")]
    NotJpeg,
    /// Too large.
    #[error("{0} bytes of JPEG, over the {MAX_EVIDENCE_BYTES}-byte limit")]
    TooLarge(usize),
}

impl Jpeg {
    /// Checks `bytes`.
    pub fn new(bytes: Vec<u8>) -> Result<Jpeg, JpegError> {
        if bytes.len() > MAX_EVIDENCE_BYTES {
            return Err(JpegError::TooLarge(bytes.len()));
        }
        if !bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
            return Err(JpegError::NotJpeg);
        }
        Ok(Jpeg(bytes))
    }

    /// The bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Jpeg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Jpeg({} bytes)", self.0.len())
    }
}

impl Serialize for Jpeg {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for Jpeg {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        let bytes = STANDARD
            .decode(text.as_bytes())
            .map_err(|e| serde::de::Error::custom(JpegError::Encoding(e.to_string())))?;
        Jpeg::new(bytes).map_err(serde::de::Error::custom)
    }
}

/// A face crop from one track.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvidenceCrop {
    /// The camera.
    pub camera_id: CameraId,
    /// The track (for an unknown face, also the person of its presence interval).
    pub track_id: TrackId,
    /// Why it was taken.
    pub reason: EvidenceReason,
    /// When the cropped frame was captured.
    pub captured_at: Timestamp,
    /// The track's median liveness.
    pub liveness: Liveness,
    /// The crop.
    pub jpeg: Jpeg,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_bounded_jpegs_are_accepted() {
        assert!(Jpeg::new(vec![0xFF, 0xD8, 0xFF, 0xE0, 0, 0]).is_ok());
        assert_eq!(Jpeg::new(b"GIF89a".to_vec()), Err(JpegError::NotJpeg));
        let mut big = vec![0xFF, 0xD8, 0xFF];
        big.resize(MAX_EVIDENCE_BYTES + 1, 0);
        assert_eq!(
            Jpeg::new(big),
            Err(JpegError::TooLarge(MAX_EVIDENCE_BYTES + 1))
        );
        let json = serde_json::to_string(&Jpeg::new(vec![0xFF, 0xD8, 0xFF, 1]).unwrap()).unwrap();
        let back: Jpeg = serde_json::from_str(&json).unwrap();
        assert_eq!(back.bytes(), &[0xFF, 0xD8, 0xFF, 1]);
        assert!(serde_json::from_str::<Jpeg>("\"R0lGODlh\"").is_err());
    }
}
