//! The detector trait: what any face detector gives the rest of the pipeline — boxes and five
//! landmarks (left eye, right eye, nose, mouth left, mouth right) in frame pixels. MTCNN finds its own
//! landmarks; the single-pass detector borrows them from the 68-point model. A bureau's own detector
//! (an SCRFD, say) joins by implementing [`FaceDetector`] and a [`DetectorKind`] to choose it.

use super::align::RgbView;
use super::boxes::FaceBox;
use super::landmarks::LandmarkModel;
use super::manifest::Manifest;
use super::mtcnn::Mtcnn;
use super::single_pass::{DetectorError, SinglePassDetector};

/// A face's box and five landmarks.
pub type Located = (FaceBox, [[f32; 2]; 5]);

/// Finds faces and their five landmarks in a frame.
pub trait FaceDetector: Send {
    /// Every face's box and five landmarks, in frame pixels, best detection first.
    fn locate(&mut self, frame: RgbView<'_>) -> Result<Vec<Located>, DetectorError>;

    /// Looks for faces down to `pixels` wide, where the detector can choose (a detector with a fixed
    /// input size ignores this).
    fn set_min_face_size(&mut self, _pixels: f32) {}

    /// Looks only for faces `lo..=hi` pixels wide (`None`: every size), where the detector can choose.
    fn set_face_range(&mut self, _range: Option<(f32, f32)>) {}

    /// The faces at or near `boxes` (where tracked faces are expected), without searching the whole
    /// frame; `None` when this detector cannot (the caller then runs [`FaceDetector::locate`]).
    fn refine(
        &mut self,
        _frame: RgbView<'_>,
        _boxes: &[FaceBox],
    ) -> Option<Result<Vec<Located>, DetectorError>> {
        None
    }
}

/// Which detector finds the faces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DetectorKind {
    /// MTCNN: pyramid, three networks, five landmarks of its own.
    Mtcnn,
    /// Single-pass detector + 68-point landmarks.
    SinglePass,
}

impl DetectorKind {
    /// Loads this detector's models from the manifest.
    pub fn load(self, manifest: &Manifest) -> Result<Box<dyn FaceDetector>, DetectorError> {
        Ok(match self {
            DetectorKind::Mtcnn => Box::new(Mtcnn::load(manifest)?),
            DetectorKind::SinglePass => Box::new(SinglePassWithLandmarks {
                detector: SinglePassDetector::load(manifest)?,
                landmarks: LandmarkModel::load(manifest)?,
            }),
        })
    }
}

impl FaceDetector for Mtcnn {
    fn locate(&mut self, frame: RgbView<'_>) -> Result<Vec<Located>, DetectorError> {
        Ok(self
            .detect(frame)?
            .into_iter()
            .map(|f| (f.face, f.landmarks))
            .collect())
    }

    fn set_min_face_size(&mut self, pixels: f32) {
        Mtcnn::set_min_face_size(self, pixels);
    }

    fn set_face_range(&mut self, range: Option<(f32, f32)>) {
        Mtcnn::set_face_range(self, range);
    }

    fn refine(
        &mut self,
        frame: RgbView<'_>,
        boxes: &[FaceBox],
    ) -> Option<Result<Vec<Located>, DetectorError>> {
        Some(
            Mtcnn::refine(self, frame, boxes)
                .map(|faces| faces.into_iter().map(|f| (f.face, f.landmarks)).collect()),
        )
    }
}

/// The single-pass detector's boxes with five landmarks from the 68-point model.
pub struct SinglePassWithLandmarks {
    detector: SinglePassDetector,
    landmarks: LandmarkModel,
}

impl FaceDetector for SinglePassWithLandmarks {
    fn locate(&mut self, frame: RgbView<'_>) -> Result<Vec<Located>, DetectorError> {
        let boxes = self.detector.detect(frame)?;
        boxes
            .into_iter()
            .map(|b| Ok((b, self.landmarks.five_points(frame, &b)?)))
            .collect()
    }
}
