//! Evidence crops, when the box's operator turns them on (`[evidence] enabled = true`; off by default,
//! so by default no image ever leaves the box).
//!
//! Per track, the [`EvidenceKeeper`] keeps the crop of the largest face the track showed (the face box
//! with a fifth of margin, scaled down to at most `side_px`). When the track ends unknown, or with a
//! median liveness below `liveness_below`, the crop becomes an [`EvidenceCrop`]: a JPEG re-encoded at
//! falling quality (and smaller, if need be) until it fits `max_bytes`, at most `max_per_hour` per
//! camera. It is sealed and chained like every event and only ever travels over TLS (the configuration
//! refuses evidence with a plain `mqtt://` broker), so each crop is encrypted in transit and counted.

use crate::setting::InvalidSetting;
use crate::tracking::{EndedTrack, TrackKey};
use crate::vision::align::RgbView;
use crate::vision::boxes::FaceBox;
use image::RgbImage;
use image::codecs::jpeg::JpegEncoder;
use serde::Deserialize;
use std::collections::{HashMap, VecDeque};
use wardwatch_protocol::{CameraId, EvidenceCrop, EvidenceReason, Jpeg, Liveness, Timestamp};

/// The best crop of one live track so far.
#[derive(Debug)]
struct Candidate {
    face_width: f32,
    captured_at: Timestamp,
    crop: RgbImage,
}

/// Keeps each track's best crop and turns the ones the operator asked for into evidence.
#[derive(Debug)]
pub struct EvidenceKeeper {
    config: EvidenceConfig,
    camera: CameraId,
    best: HashMap<TrackKey, Candidate>,
    sent: VecDeque<Timestamp>,
}

const HOUR_MS: i64 = 3_600_000;

impl EvidenceKeeper {
    /// A keeper for `camera`.
    pub fn new(camera: CameraId, config: EvidenceConfig) -> EvidenceKeeper {
        EvidenceKeeper {
            config,
            camera,
            best: HashMap::new(),
            sent: VecDeque::new(),
        }
    }

    /// Offers the face `face` of track `track`, seen on `view` at `at`; kept if it is the track's
    /// largest face so far.
    pub fn offer(&mut self, track: TrackKey, at: Timestamp, view: RgbView<'_>, face: &FaceBox) {
        let face_width = face.x2 - face.x1;
        if self
            .best
            .get(&track)
            .is_some_and(|c| c.face_width >= face_width)
        {
            return;
        }
        if let Some(crop) = crop_face(view, face, self.config.side_px) {
            self.best.insert(
                track,
                Candidate {
                    face_width,
                    captured_at: at,
                    crop,
                },
            );
        }
    }

    /// The evidence for a track that ended, if it is one the operator asked for and the hourly
    /// budget allows; forgets the track either way.
    pub fn take(&mut self, ended: &EndedTrack) -> Option<EvidenceCrop> {
        let candidate = self.best.remove(&ended.key)?;
        let verdict = ended.verdict.as_ref()?;
        let reason = if verdict.person.is_none() {
            EvidenceReason::Unknown
        } else if f64::from(verdict.liveness) < self.config.liveness_below {
            EvidenceReason::LowLiveness
        } else {
            return None;
        };
        let now = candidate.captured_at;
        while self
            .sent
            .front()
            .is_some_and(|t| now.millis() - t.millis() >= HOUR_MS)
        {
            self.sent.pop_front();
        }
        if self.sent.len() >= self.config.max_per_hour as usize {
            tracing::warn!(camera = %self.camera, track = %ended.id, "evidence crop skipped: this camera's hourly budget is spent");
            return None;
        }
        let jpeg = match encode_within(&candidate.crop, self.config.max_bytes as usize) {
            Some(bytes) => Jpeg::new(bytes).ok()?,
            None => {
                tracing::warn!(camera = %self.camera, track = %ended.id, "evidence crop does not fit max_bytes; skipped");
                return None;
            }
        };
        self.sent.push_back(now);
        tracing::info!(camera = %self.camera, track = %ended.id, reason = reason.as_str(), bytes = jpeg.bytes().len(), "evidence crop taken");
        Some(EvidenceCrop {
            camera_id: self.camera.clone(),
            track_id: ended.id.clone(),
            reason,
            captured_at: candidate.captured_at,
            liveness: Liveness::try_from(f64::from(verdict.liveness).clamp(0.0, 1.0)).ok()?,
            jpeg,
        })
    }
}

/// The face box with a fifth of its size as margin, clipped to the frame, scaled to fit `side`.
fn crop_face(view: RgbView<'_>, face: &FaceBox, side: u32) -> Option<RgbImage> {
    let (w, h) = (face.x2 - face.x1, face.y2 - face.y1);
    let margin = 0.2 * w.max(h);
    let clamp = |v: f32, max: usize| v.max(0.0).min(max as f32) as usize;
    let (x0, x1) = (
        clamp(face.x1 - margin, view.width),
        clamp(face.x2 + margin, view.width),
    );
    let (y0, y1) = (
        clamp(face.y1 - margin, view.height),
        clamp(face.y2 + margin, view.height),
    );
    if x1 <= x0 || y1 <= y0 {
        return None;
    }
    let mut pixels = Vec::with_capacity((x1 - x0) * (y1 - y0) * 3);
    for y in y0..y1 {
        let from = (y * view.width + x0) * 3;
        let to = (y * view.width + x1) * 3;
        pixels.extend_from_slice(view.data.get(from..to)?);
    }
    let crop = RgbImage::from_raw((x1 - x0) as u32, (y1 - y0) as u32, pixels)?;
    Some(fit(&crop, side))
}

/// `image` scaled down (never up) so its longer side is at most `side`.
fn fit(image: &RgbImage, side: u32) -> RgbImage {
    let longer = image.width().max(image.height());
    if longer <= side {
        return image.clone();
    }
    let scale = side as f32 / longer as f32;
    let w = ((image.width() as f32 * scale).round() as u32).max(1);
    let h = ((image.height() as f32 * scale).round() as u32).max(1);
    image::imageops::resize(image, w, h, image::imageops::FilterType::Triangle)
}

/// JPEG of `crop` at falling quality, then smaller, until it is at most `max_bytes`.
fn encode_within(crop: &RgbImage, max_bytes: usize) -> Option<Vec<u8>> {
    let mut image = crop.clone();
    loop {
        for quality in [85, 70, 55, 40] {
            let mut bytes = Vec::new();
            JpegEncoder::new_with_quality(&mut bytes, quality)
                .encode_image(&image)
                .ok()?;
            if bytes.len() <= max_bytes {
                return Some(bytes);
            }
        }
        if image.width().max(image.height()) <= 32 {
            return None;
        }
        image = fit(&image, image.width().max(image.height()) * 3 / 4);
    }
}

/// `[evidence]`: face crops of unknown or low-liveness tracks, sent only when the operator turns them
/// on, only over TLS.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvidenceConfig {
    /// Send crops at all (default false).
    #[serde(default)]
    pub enabled: bool,
    /// Largest crop, bytes of JPEG (default 16384; at most 40960).
    #[serde(default = "default_evidence_max_bytes")]
    pub max_bytes: u32,
    /// Longest side of a crop in pixels (default 112).
    #[serde(default = "default_evidence_side_px")]
    pub side_px: u32,
    /// A recognised patient's track whose median liveness is below this is sent too (default 0.5).
    #[serde(default = "default_evidence_liveness_below")]
    pub liveness_below: f64,
    /// At most this many crops per camera per hour (default 30).
    #[serde(default = "default_evidence_max_per_hour")]
    pub max_per_hour: u32,
}

fn default_evidence_max_bytes() -> u32 {
    16 * 1024
}

fn default_evidence_side_px() -> u32 {
    112
}

fn default_evidence_liveness_below() -> f64 {
    0.5
}

fn default_evidence_max_per_hour() -> u32 {
    30
}

impl Default for EvidenceConfig {
    fn default() -> Self {
        EvidenceConfig {
            enabled: false,
            max_bytes: default_evidence_max_bytes(),
            side_px: default_evidence_side_px(),
            liveness_below: default_evidence_liveness_below(),
            max_per_hour: default_evidence_max_per_hour(),
        }
    }
}

impl EvidenceConfig {
    /// The first unusable setting when evidence is on: a TLS broker (`broker_tls`, from `[broker]
    /// url`), then the crop's size, side and liveness bound in range. Off, nothing is checked.
    pub fn check(&self, broker_tls: bool) -> Result<(), InvalidSetting> {
        if !self.enabled {
            return Ok(());
        }
        if !broker_tls {
            return Err(InvalidSetting::new(
                "evidence.enabled",
                "evidence crops travel only over TLS: set broker.url to mqtts://",
            ));
        }
        let max = wardwatch_protocol::MAX_EVIDENCE_BYTES as u32;
        if !(2048..=max).contains(&self.max_bytes) {
            return Err(InvalidSetting::new(
                "evidence.max_bytes",
                format!("must be between 2048 and {max}"),
            ));
        }
        if !(32..=256).contains(&self.side_px) {
            return Err(InvalidSetting::new(
                "evidence.side_px",
                "must be between 32 and 256",
            ));
        }
        if !(0.0..=1.0).contains(&self.liveness_below) {
            return Err(InvalidSetting::new(
                "evidence.liveness_below",
                "must be a probability between 0 and 1",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tracking::vote::Verdict;

    #[test]
    fn evidence_is_checked_only_when_on_and_needs_tls_first() {
        EvidenceConfig::default().check(false).unwrap();
        let on = EvidenceConfig {
            enabled: true,
            ..EvidenceConfig::default()
        };
        on.check(true).unwrap();
        assert_eq!(on.check(false).unwrap_err().key, "evidence.enabled");
        let too_large = EvidenceConfig {
            max_bytes: 64 * 1024,
            ..on.clone()
        };
        let err = too_large.check(true).unwrap_err();
        assert_eq!(err.key, "evidence.max_bytes");
        assert_eq!(err.why, "must be between 2048 and 40960");
        let tiny = EvidenceConfig { side_px: 8, ..on };
        assert_eq!(tiny.check(true).unwrap_err().key, "evidence.side_px");
    }

    fn noisy_frame(width: usize, height: usize) -> Vec<u8> {
        let mut state = 12345u32;
        (0..width * height * 3)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                (state & 0xFF) as u8
            })
            .collect()
    }

    fn ended(key: TrackKey, person: Option<&str>, liveness: f32) -> EndedTrack {
        let at: Timestamp = "2026-11-23T00:00:00.000Z".parse().unwrap();
        EndedTrack {
            key,
            id: format!("u-{key:032x}").parse().unwrap(),
            verdict: Some(Verdict {
                person: person.map(|p| p.parse().unwrap()),
                similarity: 0.5,
                liveness,
            }),
            embedding: None,
            first_seen: at,
            last_seen: at,
        }
    }

    #[test]
    fn unknown_and_low_liveness_tracks_give_bounded_jpegs_and_live_patients_none() {
        let (width, height) = (640, 480);
        let pixels = noisy_frame(width, height);
        let view = RgbView {
            width,
            height,
            data: &pixels,
        };
        let config = EvidenceConfig {
            enabled: true,
            max_bytes: 6000,
            side_px: 112,
            liveness_below: 0.5,
            max_per_hour: 2,
        };
        let mut keeper = EvidenceKeeper::new("cam-1".parse().unwrap(), config);
        let at: Timestamp = "2026-11-23T00:00:00.000Z".parse().unwrap();
        let face = |x: f32, w: f32| FaceBox {
            x1: x,
            y1: 100.0,
            x2: x + w,
            y2: 100.0 + w * 1.2,
            score: 0.99,
        };
        for key in 1..=4 {
            keeper.offer(key, at, view, &face(50.0 * key as f32, 60.0));
            keeper.offer(key, at, view, &face(50.0 * key as f32, 150.0));
        }
        // A live, recognised patient: nothing leaves the box.
        assert!(
            keeper
                .take(&ended(1, Some("43060000000000000001"), 0.9))
                .is_none()
        );
        // An unknown face and a patient held up as a photo: bounded JPEGs.
        let unknown = keeper
            .take(&ended(2, None, 0.9))
            .expect("unknown face crop");
        assert_eq!(unknown.reason, EvidenceReason::Unknown);
        let photo = keeper
            .take(&ended(3, Some("43060000000000000001"), 0.2))
            .expect("low-liveness crop");
        assert_eq!(photo.reason, EvidenceReason::LowLiveness);
        for crop in [&unknown, &photo] {
            let bytes = crop.jpeg.bytes();
            assert!(bytes.len() <= 6000, "{} bytes", bytes.len());
            let decoded = image::load_from_memory(bytes).expect("a JPEG");
            assert!(decoded.width().max(decoded.height()) <= 112);
        }
        // The hourly budget (2) is spent.
        assert!(keeper.take(&ended(4, None, 0.9)).is_none());
    }
}
