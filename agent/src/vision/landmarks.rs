//! Facial landmarks for a detected box, from the 68-point landmark model (`landmarks68` in the
//! manifest): the box (scaled by `crop_scale`) resized to the model's grey input, 68 points out as
//! fractions of the crop — all 68 for liveness over a track ([`crate::tracking::liveness`]), or
//! averaged into five (eyes, nose tip, mouth corners) by the manifest's groups for alignment.

use super::align::RgbView;
use super::boxes::FaceBox;
use super::manifest::{InputSpec, Landmarks68Spec, Manifest, Role};
use super::model::ModelPlan;
use super::preprocess::{Region, fill_input};
use super::resample::Resampler;
use super::single_pass::{DetectorError, load_role, run_first_output};

/// A loaded landmark model.
pub struct LandmarkModel {
    plan: ModelPlan,
    input: InputSpec,
    spec: Landmarks68Spec,
    buffer: Vec<f32>,
    resampler: Resampler,
    name: String,
}

impl LandmarkModel {
    /// Loads the manifest's `landmarks68` model.
    pub fn load(manifest: &Manifest) -> Result<LandmarkModel, DetectorError> {
        let (entry, model) = load_role(manifest, Role::Landmarks68)?;
        let spec = entry.landmarks68.clone().ok_or_else(|| {
            DetectorError::Missing("landmarks68 lacks [model.landmarks68]".into())
        })?;

        let [width, height] = spec.input_size;
        Ok(LandmarkModel {
            plan: model.plan(&[1, 1, height, width])?,
            input: entry.input.clone(),
            buffer: vec![0.0; width * height],
            resampler: Resampler::default(),
            spec,
            name: entry.file.display().to_string(),
        })
    }

    /// The 68 landmarks of the face in `face` (iBUG 300-W order), in frame pixels.
    pub fn points68(
        &mut self,
        frame: RgbView<'_>,
        face: &FaceBox,
    ) -> Result<[[f32; 2]; 68], DetectorError> {
        let bad = |why: String| DetectorError::Output {
            model: self.name.clone(),
            why,
        };
        let (w, h) = (
            (face.x2 - face.x1) * self.spec.crop_scale,
            (face.y2 - face.y1) * self.spec.crop_scale,
        );
        let region = Region::centred_on(face, w, h, frame);
        let (x, y) = (region.x, region.y);
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
        let points: Vec<f32> =
            run_first_output(&mut self.plan, &[1, 1, ih, iw], &self.buffer, &self.name)?;
        if points.len() != 136 {
            return Err(bad(format!("{} values, expected 136", points.len())));
        }
        Ok(std::array::from_fn(|i| {
            [x + points[2 * i] * w, y + points[2 * i + 1] * h]
        }))
    }

    /// The five landmarks of the face in `face`, in frame pixels: the 68 averaged by the manifest's
    /// groups.
    pub fn five_points(
        &mut self,
        frame: RgbView<'_>,
        face: &FaceBox,
    ) -> Result<[[f32; 2]; 5], DetectorError> {
        let points = self.points68(frame, face)?;
        let mut five = [[0.0f32; 2]; 5];
        for (k, group) in self.spec.five_point_groups.iter().enumerate().take(5) {
            let n = group.len().max(1) as f32;
            let (sx, sy) = group
                .iter()
                .filter_map(|i| points.get(*i))
                .fold((0.0, 0.0), |(sx, sy), p| (sx + p[0], sy + p[1]));
            five[k] = [sx / n, sy / n];
        }
        Ok(five)
    }
}
