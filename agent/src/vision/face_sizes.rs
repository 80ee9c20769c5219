//! The range of face sizes one camera actually sees: the narrowest and widest face box found since the
//! last time the whole pyramid was run, widened by a margin, so MTCNN can skip the pyramid levels that
//! would only look for faces no one on this camera has (a camera on a ward sees faces at the few
//! distances its chairs and beds stand at). Forgotten whenever the whole pyramid runs again, so a
//! changed scene is learnt anew.

/// Face widths seen, in frame pixels.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct FaceSizes {
    seen: Option<(f32, f32)>,
}

impl FaceSizes {
    /// Nothing seen yet.
    pub fn new() -> FaceSizes {
        FaceSizes::default()
    }

    /// Records a face box `width` pixels wide (ignored unless finite and positive).
    pub fn record(&mut self, width: f32) {
        if !(width.is_finite() && width > 0.0) {
            return;
        }
        self.seen = Some(match self.seen {
            Some((lo, hi)) => (lo.min(width), hi.max(width)),
            None => (width, width),
        });
    }

    /// Forgets what was seen.
    pub fn reset(&mut self) {
        self.seen = None;
    }

    /// The face widths worth looking for: the seen range divided and multiplied by `margin` (≥ 1),
    /// `None` before any face was seen.
    pub fn range(&self, margin: f32) -> Option<(f32, f32)> {
        let margin = if margin.is_finite() {
            margin.max(1.0)
        } else {
            1.0
        };
        self.seen.map(|(lo, hi)| (lo / margin, hi * margin))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_range_spans_what_was_seen_with_a_margin_and_is_forgotten_on_reset() {
        let mut sizes = FaceSizes::new();
        assert_eq!(sizes.range(1.5), None);
        sizes.record(80.0);
        sizes.record(f32::NAN);
        sizes.record(120.0);
        sizes.record(-3.0);
        assert_eq!(sizes.range(1.5), Some((80.0 / 1.5, 180.0)));
        assert_eq!(
            sizes.range(0.5),
            Some((80.0, 120.0)),
            "a margin below 1 is 1"
        );
        sizes.reset();
        assert_eq!(sizes.range(1.5), None);
    }
}
