//! `[recognition]`: which detector and models the vision stage runs on this box and the thresholds it
//! matches and judges liveness with; the camera workers and `verify`/`identify` read it.

use super::engine::{
    DEFAULT_LIVE_THRESHOLD, DEFAULT_MATCH_MARGIN, DEFAULT_MIN_FACE_PX, DEFAULT_VERIFY_THRESHOLD,
    DetectorKind,
};
use super::gating::GatingConfig;
use crate::setting::InvalidSetting;
use serde::Deserialize;
use std::path::PathBuf;

/// `[recognition]`: how faces are found, checked and matched on this box. The defaults are the ones
/// measured in the README (ORL accuracy, synthetic-frame recall); `verify` and `identify` use them too.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecognitionConfig {
    /// The model manifest (default: `$WARDWATCH_MODELS`, else `models/manifest.toml` in the working
    /// directory).
    #[serde(default)]
    pub models: Option<PathBuf>,
    /// Enrolled people (JSON Lines as `enroll-embed --psn-no … --institution …` prints them); without
    /// one every face is unknown. The bureau's signed gallery takes over once it arrives.
    #[serde(default)]
    pub gallery: Option<PathBuf>,
    /// Which detector finds the faces (`mtcnn` or `single_pass`).
    #[serde(default = "default_detector")]
    pub detector: DetectorKind,
    /// The smallest face, in pixels, the detector looks for (MTCNN's pyramid starts here).
    #[serde(default = "default_min_face_px")]
    pub min_face_px: f32,
    /// Cosine similarity from which two faces are the same person.
    #[serde(default = "default_similarity_threshold")]
    pub similarity_threshold: f32,
    /// How far the best enrolled person must lead the runner-up to be named.
    #[serde(default = "default_margin")]
    pub margin: f32,
    /// Live-class probability from which a face counts as live (not a print or a screen).
    #[serde(default = "default_live_threshold")]
    pub live_threshold: f32,
    /// `[recognition.gating]`: where the cameras look for faces frame by frame (motion gate, tracked
    /// faces refined in place, periodic whole-frame search).
    #[serde(default)]
    pub gating: GatingConfig,
}

fn default_detector() -> DetectorKind {
    DetectorKind::Mtcnn
}

fn default_min_face_px() -> f32 {
    DEFAULT_MIN_FACE_PX
}

fn default_similarity_threshold() -> f32 {
    DEFAULT_VERIFY_THRESHOLD
}

fn default_margin() -> f32 {
    DEFAULT_MATCH_MARGIN
}

fn default_live_threshold() -> f32 {
    DEFAULT_LIVE_THRESHOLD
}

impl Default for RecognitionConfig {
    fn default() -> Self {
        RecognitionConfig {
            models: None,
            gallery: None,
            detector: default_detector(),
            min_face_px: default_min_face_px(),
            similarity_threshold: default_similarity_threshold(),
            margin: default_margin(),
            live_threshold: default_live_threshold(),
            gating: GatingConfig::default(),
        }
    }
}

impl RecognitionConfig {
    /// The model manifest in force.
    pub fn manifest_path(&self) -> PathBuf {
        self.models.clone().unwrap_or_else(|| {
            std::env::var_os("WARDWATCH_MODELS")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("models/manifest.toml"))
        })
    }

    /// The first value out of range (the files are checked apart, by [`RecognitionConfig::check_files`]).
    pub fn check(&self) -> Result<(), InvalidSetting> {
        let r = self;
        if !(r.min_face_px.is_finite() && (12.0..=1000.0).contains(&r.min_face_px)) {
            return Err(InvalidSetting::new(
                "recognition.min_face_px",
                "must be between 12 and 1000 pixels",
            ));
        }
        if !(r.similarity_threshold.is_finite() && (-1.0..=1.0).contains(&r.similarity_threshold)) {
            return Err(InvalidSetting::new(
                "recognition.similarity_threshold",
                "must be a cosine similarity between -1 and 1",
            ));
        }
        if !(r.margin.is_finite() && (0.0..1.0).contains(&r.margin)) {
            return Err(InvalidSetting::new(
                "recognition.margin",
                "must be at least 0 and below 1",
            ));
        }
        if !(r.live_threshold.is_finite() && (0.0..=1.0).contains(&r.live_threshold)) {
            return Err(InvalidSetting::new(
                "recognition.live_threshold",
                "must be a probability between 0 and 1",
            ));
        }
        r.gating.check()
    }

    /// The files exist (paths already resolved): the model manifest when there are cameras to run it
    /// on, and the local gallery file when one is named.
    pub fn check_files(&self, cameras: bool) -> Result<(), InvalidSetting> {
        if cameras {
            let manifest = self.manifest_path();
            if !manifest.is_file() {
                return Err(InvalidSetting::new(
                    "recognition.models",
                    format!(
                        "{} does not exist (the cameras need the face models)",
                        manifest.display()
                    ),
                ));
            }
        }
        if let Some(gallery) = &self.gallery
            && !gallery.is_file()
        {
            return Err(InvalidSetting::new(
                "recognition.gallery",
                format!("{} does not exist", gallery.display()),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_pass_and_out_of_range_values_are_named() {
        RecognitionConfig::default().check().unwrap();
        let with = |change: fn(&mut RecognitionConfig)| {
            let mut r = RecognitionConfig::default();
            change(&mut r);
            r.check().unwrap_err().key
        };
        assert_eq!(
            with(|r| r.min_face_px = f32::NAN),
            "recognition.min_face_px"
        );
        assert_eq!(
            with(|r| r.similarity_threshold = -1.5),
            "recognition.similarity_threshold"
        );
        assert_eq!(with(|r| r.margin = 1.0), "recognition.margin");
        assert_eq!(
            with(|r| r.live_threshold = 1.1),
            "recognition.live_threshold"
        );
    }

    #[test]
    fn a_missing_gallery_file_is_named_and_models_are_needed_only_with_cameras() {
        let dir = tempfile::tempdir().unwrap();
        let r = RecognitionConfig {
            models: Some(dir.path().join("missing-manifest.toml")),
            ..RecognitionConfig::default()
        };
        r.check_files(false).unwrap();
        assert_eq!(r.check_files(true).unwrap_err().key, "recognition.models");
        let r = RecognitionConfig {
            gallery: Some(dir.path().join("missing.jsonl")),
            ..RecognitionConfig::default()
        };
        assert_eq!(r.check_files(false).unwrap_err().key, "recognition.gallery");
    }
}
