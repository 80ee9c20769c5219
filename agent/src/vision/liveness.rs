//! Liveness (presentation-attack detection, `liveness` in the manifest): the face box widened by
//! `crop_scale` (2.7) about its centre — shrunk to fit the frame and shifted inside it — resized to the
//! model's 128×128 input, raw pixel values in its colour order; the softmax of its logits gives the
//! probability of the live class. A weak guard on its own: it is one signal among several (tracks, camera
//! tamper states) and is measured, not trusted.

use super::align::RgbView;
use super::boxes::FaceBox;
use super::manifest::{InputSpec, Manifest, Role};
use super::model::ModelPlan;
use super::preprocess::{Region, fill_input};
use super::resample::Resampler;
use super::single_pass::{DetectorError, load_role, run_first_output};
use serde::Deserialize;

/// Facts of the liveness model (`[model.liveness]`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LivenessSpec {
    /// How much wider than the face box the crop is.
    pub crop_scale: f32,
    /// Width, height of the model's input.
    pub input_size: [usize; 2],
    /// Which class is "live".
    pub live_class_index: usize,
}

/// A loaded liveness model.
pub struct LivenessModel {
    plan: ModelPlan,
    input: InputSpec,
    spec: LivenessSpec,
    buffer: Vec<f32>,
    resampler: Resampler,
    name: String,
}

impl LivenessModel {
    /// Loads the manifest's liveness model (PRelu rewritten).
    pub fn load(manifest: &Manifest) -> Result<LivenessModel, DetectorError> {
        let (entry, model) = load_role(manifest, Role::Liveness)?;
        let spec: LivenessSpec = entry
            .liveness
            .clone()
            .ok_or_else(|| DetectorError::Missing("liveness lacks [model.liveness]".into()))?
            .try_into()
            .map_err(|e: toml::de::Error| {
                DetectorError::Missing(format!("[model.liveness]: {e}"))
            })?;
        let [width, height] = spec.input_size;
        Ok(LivenessModel {
            plan: model.plan(&[1, 3, height, width])?,
            input: entry.input.clone(),
            buffer: vec![0.0; 3 * width * height],
            resampler: Resampler::default(),
            spec,
            name: entry.file.display().to_string(),
        })
    }

    /// The probability that the face in `face` is live (0..1).
    pub fn live_probability(
        &mut self,
        frame: RgbView<'_>,
        face: &FaceBox,
    ) -> Result<f32, DetectorError> {
        let bad = |why: String| DetectorError::Output {
            model: self.name.clone(),
            why,
        };
        let (fw, fh) = (frame.width as f32, frame.height as f32);
        let (bw, bh) = ((face.x2 - face.x1).max(1.0), (face.y2 - face.y1).max(1.0));
        let scale = self
            .spec
            .crop_scale
            .min((fh - 1.0) / bh)
            .min((fw - 1.0) / bw)
            .max(1.0);
        let (w, h) = (bw * scale, bh * scale);
        let region = Region::centred_on(face, w, h, frame);
        let [iw, ih] = self.spec.input_size;
        if !fill_input(
            &mut self.resampler,
            frame,
            region,
            (iw, ih),
            &self.input,
            &mut self.buffer,
        ) {
            return Err(bad(
                "the frame's pixel buffer is shorter than its size".into()
            ));
        }
        let logits: Vec<f32> =
            run_first_output(&mut self.plan, &[1, 3, ih, iw], &self.buffer, &self.name)?;
        let live = *logits
            .get(self.spec.live_class_index)
            .ok_or_else(|| bad(format!("{} logits", logits.len())))?;
        let top = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let sum: f32 = logits.iter().map(|l| (l - top).exp()).sum();
        Ok((live - top).exp() / sum)
    }
}
