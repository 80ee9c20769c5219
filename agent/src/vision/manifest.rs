//! The model manifest (`models/manifest.toml`): which file plays which role, its input tensor (shape,
//! layout, colour order, normalisation), its outputs, and the facts each role needs. Reading models
//! through it is what makes them swappable: a bureau drops in its own licensed detector or recogniser by
//! editing the manifest, not the code. Parsed strictly: an unknown key or a missing field is an error
//! naming the file, the line and the key.

use serde::Deserialize;
use std::path::{Path, PathBuf};

/// The schema version this code reads.
pub const SCHEMA: u32 = 1;

/// What a model does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// MTCNN stage 1 (proposal network, any image size).
    DetectorMtcnnPnet,
    /// MTCNN stage 2 (refinement, 24×24 crops).
    DetectorMtcnnRnet,
    /// MTCNN stage 3 (output, 48×48 crops, five landmarks).
    DetectorMtcnnOnet,
    /// A single-pass detector on a fixed-size frame (UltraFace layout).
    DetectorSinglePass,
    /// 68-point landmarks on a face crop.
    Landmarks68,
    /// Face embedding from an aligned crop.
    Recogniser,
    /// Presentation-attack (liveness) classifier.
    Liveness,
}

/// Tensor layouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum Layout {
    /// Batch, channels, height, width.
    #[serde(rename = "NCHW")]
    Nchw,
    /// Batch, height, width, channels.
    #[serde(rename = "NHWC")]
    Nhwc,
    /// Batch, width, height, channels (the image transposed: MTCNN's export).
    #[serde(rename = "NWHC")]
    Nwhc,
}

/// The channel order a model expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum ColourOrder {
    /// Red, green, blue.
    #[serde(rename = "RGB")]
    Rgb,
    /// Blue, green, red.
    #[serde(rename = "BGR")]
    Bgr,
    /// One grey channel.
    #[serde(rename = "grey")]
    Grey,
}

/// A model's single input.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputSpec {
    /// Tensor name.
    pub name: String,
    /// Dimension names.
    pub dims: Vec<String>,
    /// Sizes; -1 for dynamic.
    pub shape: Vec<i64>,
    /// Layout.
    pub layout: Layout,
    /// Element type (`f32`).
    pub dtype: String,
    /// Channel order.
    pub colour_order: ColourOrder,
    /// Per-channel mean (pixel 0..255).
    pub mean: Vec<f32>,
    /// Per-channel std.
    pub std: Vec<f32>,
    /// Informative.
    pub normalisation: String,
}

/// One output.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputSpec {
    /// Tensor name.
    pub name: String,
    /// Dimension names.
    pub dims: Vec<String>,
    /// Sizes; -1 for dynamic.
    pub shape: Vec<i64>,
    /// What it holds.
    pub meaning: String,
}

/// Facts of a single-pass detector.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SinglePassSpec {
    /// Width, height the frame is resized to.
    pub input_size: [usize; 2],
    /// Which score column is "face".
    pub score_index: usize,
    /// Minimum face score.
    pub score_threshold: f32,
    /// Non-maximum suppression IoU.
    pub nms_iou: f32,
    /// Candidates kept before NMS, best first.
    pub top_k: usize,
    /// The graph outputs decoded corner boxes.
    pub priors_applied_in_graph: bool,
    /// Prior sizes per level (for graphs that do not decode).
    pub prior_min_sizes: Vec<Vec<f32>>,
    /// Prior steps per level.
    pub prior_steps: Vec<u32>,
    /// Centre and size variances.
    pub variances: [f32; 2],
}

/// A non-maximum suppression setting.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NmsSpec {
    /// Overlap above which the weaker box goes.
    pub iou: f32,
    /// `union` or `min`.
    pub method: NmsMethod,
}

/// How NMS measures overlap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NmsMethod {
    /// Intersection over union.
    Union,
    /// Intersection over the smaller box.
    Min,
}

/// Facts of one MTCNN stage (stage 1 has the pyramid; stages 2 and 3 the crop size and one NMS).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MtcnnSpec {
    /// 1, 2 or 3.
    pub stage: u8,
    /// Smallest face looked for, in pixels (stage 1).
    #[serde(default)]
    pub min_face_size: Option<f32>,
    /// Pyramid scale step (stage 1).
    #[serde(default)]
    pub pyramid_factor: Option<f32>,
    /// How pyramid levels are resized (stage 1, informative).
    #[serde(default)]
    pub resize: Option<String>,
    /// Output cell stride in pixels (stage 1).
    #[serde(default)]
    pub stride: Option<u32>,
    /// Receptive cell size in pixels (stage 1).
    #[serde(default)]
    pub cell_size: Option<u32>,
    /// Kept when the face score passes this.
    pub score_threshold: f32,
    /// NMS within one pyramid level (stage 1).
    #[serde(default)]
    pub nms_per_scale: Option<NmsSpec>,
    /// NMS across pyramid levels (stage 1).
    #[serde(default)]
    pub nms_all_scales: Option<NmsSpec>,
    /// Crop side (stages 2 and 3).
    #[serde(default)]
    pub crop_size: Option<usize>,
    /// NMS of the stage (stages 2 and 3).
    #[serde(default)]
    pub nms: Option<NmsSpec>,
    /// Landmark order (stage 3).
    #[serde(default)]
    pub landmark_order: Option<Vec<String>>,
}

/// Facts of the 68-point landmark model.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Landmarks68Spec {
    /// The crop is the detector box scaled by this about its centre.
    pub crop_scale: f32,
    /// Width, height of the crop fed to the model.
    pub input_size: [usize; 2],
    /// Which of the 68 points average into each of the five (eyes, nose, mouth corners).
    pub five_point_groups: Vec<Vec<usize>>,
}

/// Facts of the recogniser.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecogniserSpec {
    /// Values in an embedding.
    pub embedding_size: usize,
    /// Side of the aligned square crop.
    pub aligned_size: usize,
    /// Where the five landmarks go in the aligned crop.
    pub alignment_template: Vec<[f32; 2]>,
    /// How embeddings compare (`cosine`).
    pub similarity: String,
}

/// One model of the manifest.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelEntry {
    /// Its role.
    pub role: Role,
    /// File, relative to the manifest.
    pub file: PathBuf,
    /// Full lowercase hex sha256.
    pub sha256: String,
    /// Where it comes from.
    pub source: String,
    /// Licence statement.
    pub licence: String,
    /// The input.
    pub input: InputSpec,
    /// The outputs, in graph order.
    pub output: Vec<OutputSpec>,
    /// MTCNN stage facts.
    #[serde(default)]
    pub mtcnn: Option<MtcnnSpec>,
    /// Single-pass detector facts.
    #[serde(default)]
    pub single_pass: Option<SinglePassSpec>,
    /// Landmark model facts.
    #[serde(default)]
    pub landmarks68: Option<Landmarks68Spec>,
    /// Recogniser facts.
    #[serde(default)]
    pub recogniser: Option<RecogniserSpec>,
    /// Liveness facts.
    #[serde(default)]
    pub liveness: Option<toml::Table>,
}

/// The manifest file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Schema version.
    pub schema: u32,
    /// The models.
    pub model: Vec<ModelEntry>,
    /// The folder the files are relative to (not in the file).
    #[serde(skip)]
    pub dir: PathBuf,
}

/// The manifest is unusable.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// Unreadable.
    #[error("cannot read model manifest {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Wrong content (the message names the line and key).
    #[error("model manifest {path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

impl Manifest {
    /// Reads and checks a manifest.
    pub fn load(path: &Path) -> Result<Manifest, ManifestError> {
        let text = std::fs::read_to_string(path).map_err(|source| ManifestError::Read {
            path: path.to_owned(),
            source,
        })?;
        Manifest::parse(path, &text)
    }

    /// Parses manifest text; `path` names it in errors and anchors the model files.
    pub fn parse(path: &Path, text: &str) -> Result<Manifest, ManifestError> {
        let invalid = |message: String| ManifestError::Invalid {
            path: path.to_owned(),
            message,
        };
        let mut manifest: Manifest = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
        if manifest.schema != SCHEMA {
            return Err(invalid(format!(
                "schema {} is not {SCHEMA}",
                manifest.schema
            )));
        }
        for m in &manifest.model {
            let channels = if m.input.colour_order == ColourOrder::Grey {
                1
            } else {
                3
            };
            if m.input.mean.len() != channels || m.input.std.len() != channels {
                return Err(invalid(format!(
                    "{}: mean and std need {channels} values for {:?} input",
                    m.file.display(),
                    m.input.colour_order
                )));
            }
            if m.input.std.contains(&0.0) {
                return Err(invalid(format!("{}: std must not be 0", m.file.display())));
            }
            if m.input.shape.len() != 4 {
                return Err(invalid(format!(
                    "{}: input shape must have 4 dims",
                    m.file.display()
                )));
            }
            if m.role == Role::DetectorSinglePass && m.single_pass.is_none() {
                return Err(invalid(format!(
                    "{}: a single-pass detector needs [model.single_pass]",
                    m.file.display()
                )));
            }
        }
        manifest.dir = path.parent().map(Path::to_owned).unwrap_or_default();
        Ok(manifest)
    }

    /// The model playing `role`.
    pub fn role(&self, role: Role) -> Option<&ModelEntry> {
        self.model.iter().find(|m| m.role == role)
    }

    /// A model file's full path.
    pub fn path_of(&self, entry: &ModelEntry) -> PathBuf {
        self.dir.join(&entry.file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn committed() -> (PathBuf, String) {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/manifest.toml");
        let text = std::fs::read_to_string(&path).expect("models/manifest.toml is committed");
        (path, text)
    }

    #[test]
    fn the_committed_manifest_parses_with_every_role() {
        let (path, text) = committed();
        let m = Manifest::parse(&path, &text).expect("manifest");
        for role in [
            Role::DetectorMtcnnPnet,
            Role::DetectorMtcnnRnet,
            Role::DetectorMtcnnOnet,
            Role::DetectorSinglePass,
            Role::Landmarks68,
            Role::Recogniser,
            Role::Liveness,
        ] {
            let entry = m.role(role).unwrap_or_else(|| panic!("{role:?}"));
            assert!(m.path_of(entry).exists(), "{}", entry.file.display());
        }
        let detector = m
            .role(Role::DetectorSinglePass)
            .and_then(|e| e.single_pass.clone());
        assert_eq!(detector.map(|d| d.input_size), Some([320, 240]));
    }

    #[test]
    fn mistakes_are_named() {
        let (path, text) = committed();
        let err = Manifest::parse(
            &path,
            &text.replacen("colour_order = \"RGB\"", "colour_order = \"RBG\"", 1),
        )
        .expect_err("bad colour")
        .to_string();
        assert!(
            err.contains("manifest.toml") && err.contains("RBG"),
            "{err}"
        );
        let err = Manifest::parse(
            &path,
            &text.replacen("layout = \"NCHW\"", "layout = \"NCHW\"\nlayuot = 1", 1),
        )
        .expect_err("unknown key")
        .to_string();
        assert!(err.contains("layuot"), "{err}");
    }
}
