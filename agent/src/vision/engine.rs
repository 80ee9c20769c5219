//! The face engine for still images: detect (single-pass), five landmarks, align and embed — what
//! `wardwatch-agent verify` and `enroll-embed` run. Liveness and the MTCNN pyramid for small faces in
//! large frames join it with the rest of the face-pipeline issue.

use super::align::RgbView;
use super::boxes::FaceBox;
use super::landmarks::LandmarkModel;
use super::manifest::Manifest;
use super::recogniser::Recogniser;
use super::single_pass::{DetectorError, SinglePassDetector};

/// The default decision threshold for "same person": the cosine similarity at which the reference
/// Python/onnxruntime pipeline (MTCNN → five-point alignment → fr_feature) accepted one impostor pair in a
/// thousand on ORL (TAR 98.4%). Provisional until WardWatch's own evaluation sets it.
pub const DEFAULT_VERIFY_THRESHOLD: f32 = 0.39;

/// A face found in an image.
#[derive(Debug, Clone, PartialEq)]
pub struct FaceFound {
    /// Where it is.
    pub face: FaceBox,
    /// Left eye, right eye, nose, mouth left, mouth right.
    pub landmarks: [[f32; 2]; 5],
    /// Unit-length embedding.
    pub embedding: Vec<f32>,
}

/// Loaded models and their buffers.
pub struct FaceEngine {
    detector: SinglePassDetector,
    landmarks: LandmarkModel,
    recogniser: Recogniser,
}

impl FaceEngine {
    /// Loads the detector, landmark model and recogniser named by the manifest.
    pub fn load(manifest: &Manifest) -> Result<FaceEngine, DetectorError> {
        Ok(FaceEngine {
            detector: SinglePassDetector::load(manifest)?,
            landmarks: LandmarkModel::load(manifest)?,
            recogniser: Recogniser::load(manifest)?,
        })
    }

    /// Every face in the frame, best detection first.
    pub fn faces(&mut self, frame: RgbView<'_>) -> Result<Vec<FaceFound>, DetectorError> {
        let boxes = self.detector.detect(frame)?;
        let mut found = Vec::with_capacity(boxes.len());
        for face in boxes {
            let landmarks = self.landmarks.five_points(frame, &face)?;
            let embedding = self.recogniser.embed(frame, &landmarks)?;
            found.push(FaceFound {
                face,
                landmarks,
                embedding,
            });
        }
        Ok(found)
    }

    /// The largest face in the frame, if any.
    pub fn largest_face(&mut self, frame: RgbView<'_>) -> Result<Option<FaceFound>, DetectorError> {
        let boxes = self.detector.detect(frame)?;
        let Some(face) = boxes
            .into_iter()
            .max_by(|a, b| a.area().total_cmp(&b.area()))
        else {
            return Ok(None);
        };
        let landmarks = self.landmarks.five_points(frame, &face)?;
        let embedding = self.recogniser.embed(frame, &landmarks)?;
        Ok(Some(FaceFound {
            face,
            landmarks,
            embedding,
        }))
    }
}

/// Cosine similarity of two unit-length embeddings.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}
