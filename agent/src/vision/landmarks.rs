//! Five facial landmarks (eyes, nose tip, mouth corners) for a detected box, from the 68-point landmark
//! model (`landmarks68` in the manifest): the box (scaled by `crop_scale`) resized to the model's grey
//! input, 68 points out as fractions of the crop, averaged into five by the manifest's groups.

use super::align::RgbView;
use super::boxes::FaceBox;
use super::manifest::{InputSpec, Landmarks68Spec, Manifest, Role};
use super::model::ModelPlan;
use super::preprocess::{Region, fill_input};
use super::single_pass::{DetectorError, load_role};
use tract_onnx::prelude::Tensor;

/// A loaded landmark model.
pub struct LandmarkModel {
    plan: ModelPlan,
    input: InputSpec,
    spec: Landmarks68Spec,
    buffer: Vec<f32>,
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
            spec,
            name: entry.file.display().to_string(),
        })
    }

    /// The five landmarks of the face in `face`, in frame pixels.
    pub fn five_points(
        &mut self,
        frame: RgbView<'_>,
        face: &FaceBox,
    ) -> Result<[[f32; 2]; 5], DetectorError> {
        let bad = |why: String| DetectorError::Output {
            model: self.name.clone(),
            why,
        };
        let (w, h) = (
            (face.x2 - face.x1) * self.spec.crop_scale,
            (face.y2 - face.y1) * self.spec.crop_scale,
        );
        let (cx, cy) = ((face.x1 + face.x2) / 2.0, (face.y1 + face.y2) / 2.0);
        // Shifted back inside the frame where it can be.
        let x = (cx - w / 2.0).clamp(0.0, (frame.width as f32 - w).max(0.0));
        let y = (cy - h / 2.0).clamp(0.0, (frame.height as f32 - h).max(0.0));
        let region = Region {
            x,
            y,
            width: w,
            height: h,
        };
        let [iw, ih] = self.spec.input_size;
        if !fill_input(frame, region, (iw, ih), &self.input, &mut self.buffer) {
            return Err(bad(
                "the frame's pixel buffer is shorter than its size".into()
            ));
        }
        let tensor = Tensor::from_shape(&[1, 1, ih, iw], &self.buffer)
            .map_err(|e| bad(format!("input tensor: {e}")))?;
        let outputs = self.plan.run(tensor)?;
        let points = outputs
            .first()
            .ok_or_else(|| bad("no output".into()))?
            .to_plain_array_view::<f32>()
            .map_err(|e| bad(format!("points: {e}")))?
            .iter()
            .copied()
            .collect::<Vec<f32>>();
        if points.len() != 136 {
            return Err(bad(format!("{} values, expected 136", points.len())));
        }
        let mut five = [[0.0f32; 2]; 5];
        for (k, group) in self.spec.five_point_groups.iter().enumerate().take(5) {
            let n = group.len().max(1) as f32;
            let (sx, sy) = group.iter().fold((0.0, 0.0), |(sx, sy), i| {
                (sx + points[2 * i], sy + points[2 * i + 1])
            });
            five[k] = [x + sx / n * w, y + sy / n * h];
        }
        Ok(five)
    }
}
