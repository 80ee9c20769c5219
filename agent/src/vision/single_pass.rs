//! The single-pass face detector (UltraFace layout, `detector_single_pass` in the manifest): the whole
//! frame resized to the model's fixed input (320×240) keeping its aspect (padded with black on the right
//! or bottom, so a portrait photo is not squashed), face scores and decoded corner boxes out, boxes
//! above the score threshold kept (best `top_k`), overlapping ones suppressed. Fast, but small faces in a
//! large frame shrink below what it sees; MTCNN's pyramid is the detector for those.

use super::align::RgbView;
use super::boxes::{FaceBox, Overlap, suppress};
use super::manifest::{InputSpec, Manifest, ManifestError, ModelEntry, Role, SinglePassSpec};
use super::model::{ModelError, ModelPlan, OnnxModel, Rewrites, Sha256Digest};
use super::preprocess::{Region, fill_input};
use super::resample::Resampler;
use tract_onnx::prelude::Tensor;

/// The detector could not be built or run.
#[derive(Debug, thiserror::Error)]
pub enum DetectorError {
    /// The manifest lacks what is needed.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// The manifest has no model for the role, or it is malformed.
    #[error("model manifest: {0}")]
    Missing(String),
    /// Loading or running the model failed.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// The model's outputs are not what the manifest says.
    #[error("{model}: unexpected output: {why}")]
    Output {
        /// The model file.
        model: String,
        /// What was wrong.
        why: String,
    },
}

/// The manifest's model for `role`, loaded (sha256-checked, PRelu rewritten) and ready to plan.
pub fn load_role(
    manifest: &Manifest,
    role: Role,
) -> Result<(&ModelEntry, OnnxModel), DetectorError> {
    let entry = manifest
        .role(role)
        .ok_or_else(|| DetectorError::Missing(format!("no {role:?} model")))?;
    let sha: Sha256Digest = entry
        .sha256
        .parse()
        .map_err(|e| DetectorError::Missing(format!("{}: {e}", entry.file.display())))?;
    let model = OnnxModel::load(&manifest.path_of(entry), Some(sha), Rewrites::default())?;
    Ok((entry, model))
}

/// Runs a one-input plan on `input` (of `shape`) and returns its first output's values; `name` names
/// the model in errors.
pub fn run_first_output(
    plan: &mut ModelPlan,
    shape: &[usize],
    input: &[f32],
    name: &str,
) -> Result<Vec<f32>, DetectorError> {
    let bad = |why: String| DetectorError::Output {
        model: name.to_owned(),
        why,
    };
    let tensor = Tensor::from_shape(shape, input).map_err(|e| bad(format!("input tensor: {e}")))?;
    let outputs = plan.run(tensor)?;
    Ok(outputs
        .first()
        .ok_or_else(|| bad("no output".into()))?
        .to_plain_array_view::<f32>()
        .map_err(|e| bad(format!("output: {e}")))?
        .iter()
        .copied()
        .collect())
}

/// A loaded single-pass detector with its plan and input buffer.
pub struct SinglePassDetector {
    plan: ModelPlan,
    input: InputSpec,
    spec: SinglePassSpec,
    buffer: Vec<f32>,
    resampler: Resampler,
    name: String,
}

impl SinglePassDetector {
    /// Loads the manifest's single-pass detector (sha256-checked, planned for its fixed size).
    pub fn load(manifest: &Manifest) -> Result<SinglePassDetector, DetectorError> {
        let (entry, model) = load_role(manifest, Role::DetectorSinglePass)?;
        let spec = entry.single_pass.clone().ok_or_else(|| {
            DetectorError::Missing("detector_single_pass lacks [model.single_pass]".into())
        })?;
        let [width, height] = spec.input_size;
        let plan = model.plan(&[1, 3, height, width])?;
        Ok(SinglePassDetector {
            plan,
            input: entry.input.clone(),
            buffer: vec![0.0; 3 * width * height],
            resampler: Resampler::default(),
            spec,
            name: entry.file.display().to_string(),
        })
    }

    /// Faces in `frame`, best first, in frame pixels.
    pub fn detect(&mut self, frame: RgbView<'_>) -> Result<Vec<FaceBox>, DetectorError> {
        let [width, height] = self.spec.input_size;
        let bad = |why: String| DetectorError::Output {
            model: self.name.clone(),
            why,
        };
        let (fw, fh) = (frame.width as f32, frame.height as f32);
        let aspect = width as f32 / height as f32;
        let region = Region {
            x: 0.0,
            y: 0.0,
            width: fw.max(fh * aspect),
            height: fh.max(fw / aspect),
        };
        if !fill_input(
            &mut self.resampler,
            frame,
            region,
            (width, height),
            &self.input,
            &mut self.buffer,
        ) {
            return Err(bad(
                "the frame's pixel buffer is shorter than its size".into()
            ));
        }
        let tensor = Tensor::from_shape(&[1, 3, height, width], &self.buffer)
            .map_err(|e| bad(format!("input tensor: {e}")))?;
        let outputs = self.plan.run(tensor)?;
        let (Some(scores), Some(boxes)) = (outputs.first(), outputs.get(1)) else {
            return Err(bad(format!(
                "{} outputs, expected scores and boxes",
                outputs.len()
            )));
        };
        let scores = scores
            .to_plain_array_view::<f32>()
            .map_err(|e| bad(format!("scores: {e}")))?;
        let boxes = boxes
            .to_plain_array_view::<f32>()
            .map_err(|e| bad(format!("boxes: {e}")))?;
        let (scores, boxes) = (
            scores.iter().copied().collect::<Vec<f32>>(),
            boxes.iter().copied().collect::<Vec<f32>>(),
        );
        let columns = scores.len() / (boxes.len() / 4).max(1);
        if boxes.len() % 4 != 0 || columns <= self.spec.score_index {
            return Err(bad(format!(
                "{} scores for {} box values",
                scores.len(),
                boxes.len()
            )));
        }
        let (rw, rh) = (region.width, region.height);
        let mut candidates: Vec<FaceBox> = boxes
            .chunks_exact(4)
            .zip(scores.chunks_exact(columns))
            .filter(|(_, s)| s[self.spec.score_index] >= self.spec.score_threshold)
            .map(|(b, s)| FaceBox {
                x1: (b[0].clamp(0.0, 1.0) * rw).min(fw),
                y1: (b[1].clamp(0.0, 1.0) * rh).min(fh),
                x2: (b[2].clamp(0.0, 1.0) * rw).min(fw),
                y2: (b[3].clamp(0.0, 1.0) * rh).min(fh),
                score: s[self.spec.score_index],
            })
            .filter(|b| b.area() > 0.0)
            .collect();
        candidates.sort_by(|a, b| b.score.total_cmp(&a.score));
        candidates.truncate(self.spec.top_k);
        let kept = suppress(&candidates, self.spec.nms_iou, Overlap::Union);
        Ok(kept.into_iter().map(|i| candidates[i]).collect())
    }
}
