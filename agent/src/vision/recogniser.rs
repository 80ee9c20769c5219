//! Face embeddings (`recogniser` in the manifest): the five landmarks aligned onto the manifest's
//! template with a similarity transform, the face warped into the aligned square, fed in the model's
//! colour order and normalisation, and the embedding L2-normalised so that a dot product is the cosine.
//! The length of the raw embedding before normalisation is kept (a face-quality signal, see the README),
//! and [`Recogniser::embed_mirrored`] embeds the last aligned crop flipped left to right (test-time
//! augmentation: the sum of both embeddings, normalised, is the flip-augmented embedding).

use super::align::{RgbView, Similarity, warp};
use super::manifest::{InputSpec, Manifest, RecogniserSpec, Role};
use super::matcher::normalised;
use super::model::ModelPlan;
use super::preprocess::{Region, fill_input};
use super::resample::Resampler;
use super::single_pass::{DetectorError, load_role, run_first_output};

/// A loaded recogniser with its buffers.
pub struct Recogniser {
    plan: ModelPlan,
    input: InputSpec,
    spec: RecogniserSpec,
    aligned: Vec<u8>,
    buffer: Vec<f32>,
    resampler: Resampler,
    name: String,
    mirrored: Vec<u8>,
    raw_norm: f32,
}

impl Recogniser {
    /// Loads the manifest's recogniser (PRelu rewritten).
    pub fn load(manifest: &Manifest) -> Result<Recogniser, DetectorError> {
        let (entry, model) = load_role(manifest, Role::Recogniser)?;
        let spec = entry
            .recogniser
            .clone()
            .ok_or_else(|| DetectorError::Missing("recogniser lacks [model.recogniser]".into()))?;

        let size = spec.aligned_size;
        Ok(Recogniser {
            plan: model.plan(&[1, 3, size, size])?,
            input: entry.input.clone(),
            aligned: vec![0; size * size * 3],
            buffer: vec![0.0; 3 * size * size],
            resampler: Resampler::default(),
            spec,
            name: entry.file.display().to_string(),
            mirrored: vec![0; size * size * 3],
            raw_norm: 0.0,
        })
    }

    /// The aligned crop of the last [`Recogniser::embed`] (`aligned_size²` RGB bytes), for the quality gate.
    pub fn aligned(&self) -> (&[u8], usize) {
        (&self.aligned, self.spec.aligned_size)
    }

    /// The unit-length embedding of the face with these five landmarks.
    pub fn embed(
        &mut self,
        frame: RgbView<'_>,
        five: &[[f32; 2]; 5],
    ) -> Result<Vec<f32>, DetectorError> {
        let bad = |why: String| DetectorError::Output {
            model: self.name.clone(),
            why,
        };
        let size = self.spec.aligned_size;
        let transform = Similarity::estimate(five, &self.spec.alignment_template)
            .ok_or_else(|| bad("landmarks coincide: no alignment".into()))?;
        if !warp(frame, &transform, size, &mut self.aligned) {
            return Err(bad("the alignment cannot be inverted".into()));
        }
        self.run_aligned(false)
    }

    /// The length of the last embedding before it was normalised.
    pub fn raw_norm(&self) -> f32 {
        self.raw_norm
    }

    /// The unit-length embedding of the last [`Recogniser::embed`]'s aligned crop flipped left to right.
    pub fn embed_mirrored(&mut self) -> Result<Vec<f32>, DetectorError> {
        let size = self.spec.aligned_size;
        for (out, row) in self
            .mirrored
            .chunks_exact_mut(size * 3)
            .zip(self.aligned.chunks_exact(size * 3))
        {
            for (o, p) in out.chunks_exact_mut(3).zip(row.chunks_exact(3).rev()) {
                o.copy_from_slice(p);
            }
        }
        self.run_aligned(true)
    }

    /// Runs the model on the aligned crop (or its mirror).
    fn run_aligned(&mut self, mirrored: bool) -> Result<Vec<f32>, DetectorError> {
        let bad = |why: String| DetectorError::Output {
            model: self.name.clone(),
            why,
        };
        let size = self.spec.aligned_size;
        let crop = RgbView {
            width: size,
            height: size,
            data: if mirrored {
                &self.mirrored
            } else {
                &self.aligned
            },
        };
        if !fill_input(
            &mut self.resampler,
            crop,
            Region::whole(crop),
            (size, size),
            &self.input,
            &mut self.buffer,
        ) {
            return Err(bad("aligned buffer size".into()));
        }
        let raw: Vec<f32> = run_first_output(
            &mut self.plan,
            &[1, 3, size, size],
            &self.buffer,
            &self.name,
        )?;
        if raw.len() != self.spec.embedding_size {
            return Err(bad(format!(
                "{} values, expected {}",
                raw.len(),
                self.spec.embedding_size
            )));
        }
        self.raw_norm = raw.iter().map(|x| x * x).sum::<f32>().sqrt();
        normalised(&raw).ok_or_else(|| bad("zero or non-finite embedding".into()))
    }
}
