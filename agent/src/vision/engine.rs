//! The face engine for still images: detect, five landmarks, align and embed — what `wardwatch-agent
//! verify` and `enroll-embed` run. Two detectors: MTCNN (pyramid; its third network gives the five
//! landmarks) and the single-pass detector (whose five landmarks come from the 68-point model).
//! Liveness is scored apart, by [`super::liveness`], on the faces found here.

use super::align::RgbView;
use super::boxes::FaceBox;
pub use super::detector::{DetectorKind, FaceDetector, Located};
use super::image_io::Frame;
use super::manifest::Manifest;
use super::quality::{Quality, measure};
use super::recogniser::Recogniser;
use super::single_pass::DetectorError;

/// The default decision threshold for "same person": the cosine similarity at which this pipeline
/// (MTCNN → five-point alignment → fr_feature), like the Python/onnxruntime reference, accepts about one
/// ORL impostor pair in a thousand (FAR 1e-3; 0.387 measured) and 98.4% of genuine pairs. Set per box in
/// the agent configuration's `[recognition]` section; the README says how it was chosen.
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
    /// What the quality gate measured (on the aligned crop and the landmarks).
    pub quality: Quality,
    /// The length of the recogniser's raw embedding before normalisation (a quality signal).
    pub raw_norm: f32,
}

/// The default lead the best enrolled person needs over the runner-up to be named.
pub const DEFAULT_MATCH_MARGIN: f32 = 0.05;

/// The default smallest face the detector looks for on a ward camera, in pixels (MTCNN's reference
/// looks from 20). From 40 the pyramid drops its two largest levels — a quarter to two thirds of the
/// detector's time on a 1920×1080 frame — and the README's recall sweep still finds every face box from
/// 38 px and 98% of 30-pixel ones.
pub const DEFAULT_MIN_FACE_PX: f32 = 40.0;

/// The default live-class probability from which a face counts as live.
pub const DEFAULT_LIVE_THRESHOLD: f32 = 0.5;

/// Loaded models and their buffers.
pub struct FaceEngine {
    detector: Box<dyn FaceDetector>,
    recogniser: Recogniser,
}

impl FaceEngine {
    /// Loads the detector and recogniser named by the manifest.
    pub fn load(manifest: &Manifest, kind: DetectorKind) -> Result<FaceEngine, DetectorError> {
        Ok(FaceEngine {
            detector: kind.load(manifest)?,
            recogniser: Recogniser::load(manifest)?,
        })
    }

    /// Looks for faces down to `pixels` wide (MTCNN's pyramid; the single-pass detector sees the whole
    /// frame at its fixed input size and ignores this).
    pub fn set_min_face_size(&mut self, pixels: f32) {
        self.detector.set_min_face_size(pixels);
    }

    /// The detector itself (for searches the engine does not choose, such as the camera's gating).
    pub fn detector(&mut self) -> &mut dyn FaceDetector {
        self.detector.as_mut()
    }

    /// Every face's box and five landmarks, best detection first.
    pub fn locate(&mut self, frame: RgbView<'_>) -> Result<Vec<Located>, DetectorError> {
        self.detector.locate(frame)
    }

    /// Every face in the frame with its embedding, best detection first.
    pub fn faces(&mut self, frame: RgbView<'_>) -> Result<Vec<FaceFound>, DetectorError> {
        let located = self.locate(frame)?;
        let mut found = Vec::with_capacity(located.len());
        for (face, landmarks) in located {
            found.push(self.recognise(frame, face, landmarks)?);
        }
        Ok(found)
    }

    /// Aligns, embeds and measures one located face.
    pub fn recognise(
        &mut self,
        frame: RgbView<'_>,
        face: FaceBox,
        landmarks: [[f32; 2]; 5],
    ) -> Result<FaceFound, DetectorError> {
        let embedding = self.recogniser.embed(frame, &landmarks)?;
        let (crop, size) = self.recogniser.aligned();
        Ok(FaceFound {
            face,
            landmarks,
            embedding,
            quality: measure(&landmarks, crop, size),
            raw_norm: self.recogniser.raw_norm(),
        })
    }

    /// The embedding of the last [`FaceEngine::recognise`]d face's aligned crop flipped left to right
    /// (a second recogniser run); [`flip_augmented`] combines it with the face's own.
    pub fn mirrored_embedding(&mut self) -> Result<Vec<f32>, DetectorError> {
        self.recogniser.embed_mirrored()
    }

    /// The largest face in the frame, if any.
    pub fn largest_face(&mut self, frame: RgbView<'_>) -> Result<Option<FaceFound>, DetectorError> {
        let located = self.locate(frame)?;
        let Some((face, landmarks)) = located
            .into_iter()
            .max_by(|a, b| a.0.area().total_cmp(&b.0.area()))
        else {
            return Ok(None);
        };
        Ok(Some(self.recognise(frame, face, landmarks)?))
    }
}

/// Margins (shares of each side) tried, in order, around a still photo in which no face is found as it
/// is. A tightly cropped portrait (an ID photo, a face-database image) leaves the detector's
/// proposal network no context around the face, and a turned face touching the border can go
/// unfound; with an edge-repeating margin the same face is found (ORL's s2/6, a near profile, is
/// found with the 20% margin at the reference's thresholds and not as it is). Camera frames are not
/// retried: a ward camera sees the room around a face.
pub const STILL_MARGINS: [f32; 3] = [0.1, 0.2, 0.3];

/// The largest face of a still photo, and the frame it was found in.
#[derive(Debug, Clone, PartialEq)]
pub struct StillFace {
    /// The face, in the coordinates of the frame it was found in.
    pub found: FaceFound,
    /// The photo inside the margin it needed, or `None` when it was found in the photo as it is.
    pub framed: Option<Frame>,
}

impl StillFace {
    /// The frame the face's box and landmarks refer to: `photo` itself or its framed copy.
    pub fn frame<'a>(&'a self, photo: &'a Frame) -> &'a Frame {
        self.framed.as_ref().unwrap_or(photo)
    }
}

impl FaceEngine {
    /// The largest face of a still photo (an enrolment photo, a labelled capture, `verify`'s images):
    /// as it is, else inside each of [`STILL_MARGINS`] in turn until one shows a face.
    pub fn still_face(&mut self, photo: &Frame) -> Result<Option<StillFace>, DetectorError> {
        if let Some(found) = self.largest_face(photo.view())? {
            return Ok(Some(StillFace {
                found,
                framed: None,
            }));
        }
        for margin in STILL_MARGINS {
            let framed = photo.with_margin(margin);
            if let Some(found) = self.largest_face(framed.view())? {
                return Ok(Some(StillFace {
                    found,
                    framed: Some(framed),
                }));
            }
        }
        Ok(None)
    }
}

/// The flip-augmented embedding: the normalised sum of a face's embedding and its mirror's (`plain`
/// when the sum has no length, which two unit vectors only reach when exactly opposite).
pub fn flip_augmented(plain: &[f32], mirrored: &[f32]) -> Vec<f32> {
    let sum: Vec<f32> = plain.iter().zip(mirrored).map(|(a, b)| a + b).collect();
    super::matcher::normalised(&sum).unwrap_or_else(|| plain.to_vec())
}

/// Cosine similarity of two unit-length embeddings.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}
