//! Face boxes and non-maximum suppression, shared by the detectors: MTCNN merges overlapping candidates
//! by intersection over union between stages and by intersection over the smaller box at the end; the
//! single-pass detector uses union.

/// A candidate face: corners in frame pixels and a score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FaceBox {
    /// Left.
    pub x1: f32,
    /// Top.
    pub y1: f32,
    /// Right.
    pub x2: f32,
    /// Bottom.
    pub y2: f32,
    /// Detector confidence.
    pub score: f32,
}

impl FaceBox {
    /// Width × height (0 for inverted boxes).
    pub fn area(&self) -> f32 {
        (self.x2 - self.x1).max(0.0) * (self.y2 - self.y1).max(0.0)
    }

    /// The area shared with `other`.
    pub fn intersection(&self, other: &FaceBox) -> f32 {
        let w = (self.x2.min(other.x2) - self.x1.max(other.x1)).max(0.0);
        let h = (self.y2.min(other.y2) - self.y1.max(other.y1)).max(0.0);
        w * h
    }

    /// The largest square with the same centre and the longer side (MTCNN squares boxes between stages).
    pub fn squared(&self) -> FaceBox {
        let (w, h) = (self.x2 - self.x1, self.y2 - self.y1);
        let side = w.max(h);
        let (cx, cy) = (self.x1 + w / 2.0, self.y1 + h / 2.0);
        FaceBox {
            x1: cx - side / 2.0,
            y1: cy - side / 2.0,
            x2: cx + side / 2.0,
            y2: cy + side / 2.0,
            score: self.score,
        }
    }
}

/// How overlap is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overlap {
    /// Intersection over union.
    Union,
    /// Intersection over the smaller box (catches a small box inside a large one).
    Min,
}

/// Greedy non-maximum suppression: the indexes of the boxes kept, best score first; a box is dropped
/// when it overlaps a kept one by more than `threshold`.
pub fn suppress(boxes: &[FaceBox], threshold: f32, overlap: Overlap) -> Vec<usize> {
    let mut order: Vec<usize> = (0..boxes.len()).collect();
    order.sort_by(|a, b| boxes[*b].score.total_cmp(&boxes[*a].score));
    let mut kept: Vec<usize> = Vec::new();
    for i in order {
        let candidate = &boxes[i];
        let clashes = kept.iter().any(|&k| {
            let other = &boxes[k];
            let shared = candidate.intersection(other);
            let base = match overlap {
                Overlap::Union => candidate.area() + other.area() - shared,
                Overlap::Min => candidate.area().min(other.area()),
            };
            base > 0.0 && shared / base > threshold
        });
        if !clashes {
            kept.push(i);
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(x1: f32, y1: f32, x2: f32, y2: f32, score: f32) -> FaceBox {
        FaceBox {
            x1,
            y1,
            x2,
            y2,
            score,
        }
    }

    #[test]
    fn overlapping_boxes_keep_the_best() {
        let boxes = [
            b(0.0, 0.0, 10.0, 10.0, 0.8),
            b(1.0, 1.0, 11.0, 11.0, 0.9),
            b(50.0, 50.0, 60.0, 60.0, 0.7),
            b(2.0, 2.0, 5.0, 5.0, 0.95),
        ];
        // Union: the small box inside barely overlaps by IoU, so it survives.
        assert_eq!(suppress(&boxes, 0.5, Overlap::Union), vec![3, 1, 2]);
        // Min: the small box is inside the big one, so the big ones go.
        assert_eq!(suppress(&boxes, 0.5, Overlap::Min), vec![3, 2]);
        let sq = b(0.0, 0.0, 10.0, 20.0, 1.0).squared();
        assert_eq!((sq.x2 - sq.x1, sq.y2 - sq.y1, sq.x1), (20.0, 20.0, -5.0));
    }
}
