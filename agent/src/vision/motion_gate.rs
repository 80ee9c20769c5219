//! The motion gate: where a frame changed since the previous one, from a cheap difference of
//! downscaled grey frames. The frame is area-averaged to one grey value per `cell_px × cell_px` cell
//! (a 1920×1080 frame at 12 px is a 160×90 grid, about 1 ms); a cell changed when its grey level moved by
//! at least `threshold`. Comparing ([`MotionGate::observe`]) and asking where ([`MotionGate::regions`])
//! are two steps, so the caller can first find the people it already follows on the frame and then
//! have the changed cells inside their zones ignored; the rest are grouped into connected regions
//! (8-neighbourhood), each returned as a rectangle in frame pixels.
//! Averaging over a cell drowns sensor noise (±3 grey levels per pixel is ±0.3 over a 12×12 cell), so a
//! still ward gives no region and a person walking in gives one around them.

use super::align::RgbView;
use super::boxes::FaceBox;
use super::preprocess::Region;
use super::resample::{Resampler, grey_levels};

/// Compares each frame with the previous one on a coarse grey grid.
pub struct MotionGate {
    cell_px: usize,
    threshold: f32,
    min_cells: usize,
    resampler: Resampler,
    previous: Vec<u8>,
    current: Vec<u8>,
    /// The frame size and grid size `previous` was made for.
    shape: Option<(usize, usize, usize, usize)>,
    /// Per cell of the last observed frame: whether it changed (empty when it was not compared).
    changed: Vec<bool>,
}

impl MotionGate {
    /// A gate on cells of `cell_px` pixels (at least 2) that counts a cell as changed from
    /// `threshold` grey levels and a region from `min_cells` changed cells.
    pub fn new(cell_px: usize, threshold: f32, min_cells: usize) -> MotionGate {
        MotionGate {
            cell_px: cell_px.max(2),
            threshold: threshold.max(0.0),
            min_cells: min_cells.max(1),
            resampler: Resampler::default(),
            previous: Vec::new(),
            current: Vec::new(),
            shape: None,
            changed: Vec::new(),
        }
    }

    /// Forgets the previous frame (the next one cannot be compared).
    pub fn reset(&mut self) {
        self.shape = None;
        self.changed.clear();
    }

    /// Compares `frame` with the previous frame: `false` when there was none of this size to compare
    /// with (the first frame, or the size changed: look everywhere). The frame becomes the next one's
    /// previous frame; [`MotionGate::regions`] then says where it changed, outside whatever the caller
    /// found on it meanwhile.
    pub fn observe(&mut self, frame: RgbView<'_>) -> bool {
        self.changed.clear();
        let (gw, gh) = (
            frame.width.div_ceil(self.cell_px),
            frame.height.div_ceil(self.cell_px),
        );
        let shape = (frame.width, frame.height, gw, gh);
        let Some(small) = self.resampler.resample(frame, Region::whole(frame), gw, gh) else {
            self.shape = None;
            return false;
        };
        self.current.clear();
        self.current.extend(grey_levels(small.data));
        let known = self.shape == Some(shape) && self.previous.len() == self.current.len();
        std::mem::swap(&mut self.previous, &mut self.current);
        self.shape = Some(shape);
        if !known {
            return false;
        }
        let threshold = self.threshold;
        self.changed.extend(
            self.current
                .iter()
                .zip(&self.previous)
                .map(|(&old, &new)| (f32::from(new) - f32::from(old)).abs() >= threshold),
        );
        true
    }

    /// Where the last observed frame changed, ignoring changes whose cell centre lies inside one of
    /// `ignore` (people already found on it): the connected regions in frame pixels, largest first
    /// (empty when nothing new moved, or the frame could not be compared).
    pub fn regions(&self, ignore: &[FaceBox]) -> Vec<Region> {
        let Some((width, height, gw, gh)) = self.shape else {
            return Vec::new();
        };
        if self.changed.len() != gw * gh {
            return Vec::new();
        }
        // Cell size in frame pixels (the grid covers the frame exactly).
        let (cw, ch) = (width as f32 / gw as f32, height as f32 / gh as f32);
        let outside: Vec<bool> = self
            .changed
            .iter()
            .enumerate()
            .map(|(i, &changed)| {
                let (x, y) = (((i % gw) as f32 + 0.5) * cw, ((i / gw) as f32 + 0.5) * ch);
                changed
                    && !ignore
                        .iter()
                        .any(|b| x >= b.x1 && x <= b.x2 && y >= b.y1 && y <= b.y2)
            })
            .collect();
        let mut regions: Vec<(usize, Region)> = components(&outside, gw, gh)
            .into_iter()
            .filter(|c| c.cells >= self.min_cells)
            .map(|c| {
                let region = Region {
                    x: c.x0 as f32 * cw,
                    y: c.y0 as f32 * ch,
                    width: (c.x1 + 1 - c.x0) as f32 * cw,
                    height: (c.y1 + 1 - c.y0) as f32 * ch,
                };
                (c.cells, region)
            })
            .collect();
        regions.sort_by_key(|r| std::cmp::Reverse(r.0));
        regions.into_iter().map(|(_, r)| r).collect()
    }
}

/// A connected group of changed cells: its bounding cells and size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Component {
    x0: usize,
    y0: usize,
    x1: usize,
    y1: usize,
    cells: usize,
}

/// The 8-connected components of the set cells of a `gw × gh` grid.
fn components(set: &[bool], gw: usize, gh: usize) -> Vec<Component> {
    let mut seen = vec![false; set.len()];
    let mut found = Vec::new();
    let mut stack = Vec::new();
    for start in 0..set.len() {
        if !set[start] || seen[start] {
            continue;
        }
        seen[start] = true;
        stack.push(start);
        let (sx, sy) = (start % gw, start / gw);
        let mut c = Component {
            x0: sx,
            y0: sy,
            x1: sx,
            y1: sy,
            cells: 0,
        };
        while let Some(i) = stack.pop() {
            let (x, y) = (i % gw, i / gw);
            c.cells += 1;
            c.x0 = c.x0.min(x);
            c.x1 = c.x1.max(x);
            c.y0 = c.y0.min(y);
            c.y1 = c.y1.max(y);
            for ny in y.saturating_sub(1)..=(y + 1).min(gh - 1) {
                for nx in x.saturating_sub(1)..=(x + 1).min(gw - 1) {
                    let j = ny * gw + nx;
                    if set[j] && !seen[j] {
                        seen[j] = true;
                        stack.push(j);
                    }
                }
            }
        }
        found.push(c);
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 480×270 grey frame of level `v` with sensor noise, and a bright square of side `side` at
    /// (`x`, `y`) when given.
    fn frame(seed: u32, square: Option<(usize, usize, usize)>) -> Vec<u8> {
        let (w, h) = (480usize, 270usize);
        let mut state = seed.max(1);
        let mut data = Vec::with_capacity(w * h * 3);
        for y in 0..h {
            for x in 0..w {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                let noise = (state % 7) as i32 - 3;
                let inside = square.is_some_and(|(sx, sy, s)| {
                    (sx..sx + s).contains(&x) && (sy..sy + s).contains(&y)
                });
                let v = if inside { 200 } else { 100 } + noise;
                data.extend_from_slice(&[v as u8; 3]);
            }
        }
        data
    }

    fn view(data: &[u8]) -> RgbView<'_> {
        RgbView {
            width: 480,
            height: 270,
            data,
        }
    }

    #[test]
    fn the_first_frame_is_unknown_and_a_still_noisy_scene_has_no_region() {
        let mut gate = MotionGate::new(12, 12.0, 2);
        assert!(!gate.observe(view(&frame(1, None))));
        assert_eq!(gate.regions(&[]), Vec::new());
        for seed in 2..6 {
            assert!(gate.observe(view(&frame(seed, None))));
            assert_eq!(gate.regions(&[]), Vec::new());
        }
    }

    #[test]
    fn an_arrival_is_one_region_around_it_and_ignored_inside_a_followed_box() {
        let mut gate = MotionGate::new(12, 12.0, 2);
        gate.observe(view(&frame(1, None)));
        assert!(
            gate.observe(view(&frame(2, Some((240, 96, 60))))),
            "a second frame of the same size is compared"
        );
        let regions = gate.regions(&[]);
        assert_eq!(regions.len(), 1, "{regions:?}");
        let r = regions[0];
        assert!(
            r.x <= 240.0 && r.y <= 96.0 && r.x + r.width >= 300.0 && r.y + r.height >= 156.0,
            "{r:?} covers the square"
        );
        assert!(r.width <= 96.0 && r.height <= 96.0, "{r:?} is tight");
        // The square moves by 24 px while a box around both places is followed: nothing new.
        let followed = FaceBox {
            x1: 200.0,
            y1: 60.0,
            x2: 360.0,
            y2: 200.0,
            score: 1.0,
        };
        gate.observe(view(&frame(3, Some((264, 96, 60)))));
        assert_eq!(gate.regions(&[followed]), Vec::new());
        // The same change with nothing followed there is seen: ignoring is the caller's choice,
        // made after comparing.
        assert!(!gate.regions(&[]).is_empty());
        // A second arrival elsewhere is still seen.
        gate.observe(view(&frame(4, Some((12, 12, 48)))));
        let regions = gate.regions(&[followed]);
        assert_eq!(
            regions.len(),
            1,
            "only the arrival, not the followed square: {regions:?}"
        );
        assert!(regions[0].x < 60.0 && regions[0].y < 60.0, "{regions:?}");
    }

    #[test]
    fn a_new_size_starts_over_and_components_are_eight_connected() {
        let mut gate = MotionGate::new(12, 12.0, 1);
        gate.observe(view(&frame(1, None)));
        let small = vec![100u8; 240 * 135 * 3];
        let small_view = RgbView {
            width: 240,
            height: 135,
            data: &small,
        };
        assert!(!gate.observe(small_view));
        assert_eq!(gate.regions(&[]), Vec::new());
        let grid = [
            true, false, false, //
            false, true, false, //
            false, false, true, //
        ];
        let found = components(&grid, 3, 3);
        assert_eq!(found.len(), 1);
        assert_eq!((found[0].x0, found[0].x1, found[0].cells), (0, 2, 3));
    }
}
