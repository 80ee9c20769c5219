//! Where a camera looks for faces on each frame (`[recognition.gating]`), so that a still ward costs
//! little: the detector's whole-frame search runs on a periodic refresh, and in between
//!
//! - faces already tracked are found again at their predicted boxes by the detector's later stages
//!   alone ([`super::detector::FaceDetector::refine`]: MTCNN's refinement and landmark networks, no
//!   proposal pyramid);
//! - then the [`super::motion_gate`] says where the frame changed outside the zones of the faces found
//!   so far on *this* frame (a tracked face the refinement lost leaves its zone open: a walker whose
//!   prediction was wrong), and only there — in a fixed-size window around each change — is the whole
//!   pyramid run; a face found there is marked [`Found::moved`], so the tracker may let it continue a
//!   nearby track that lost its face ([`crate::tracking`]);
//! - the refresh limits the pyramid to the face sizes this camera has shown ([`super::face_sizes`]), and
//!   runs the whole pyramid again every `full_pyramid_every_secs`.
//!
//! The bound: a face that can be detected is looked for over the whole frame at least every
//! `full_frame_every_secs` of capture time (with the learnt sizes, and at every size at least every
//! `full_pyramid_every_secs`), and at every size on the first frame where the gate sees it arrive or
//! move without being found in place.

use super::align::RgbView;
use super::boxes::{FaceBox, Overlap, suppress};
use super::detector::{FaceDetector, Located};
use super::face_sizes::FaceSizes;
use super::motion_gate::MotionGate;
use super::preprocess::Region;
use super::single_pass::DetectorError;
use crate::setting::InvalidSetting;
use serde::Deserialize;

/// Side of the square window the pyramid searches around a change, in pixels: one size, so the
/// proposal network's plans are made once (a plan per input shape), and room for faces up to about
/// half of it around a change. A change too large for it makes a whole-frame search.
pub const WINDOW_PX: usize = 480;
/// A tracked box is grown by this factor (about its centre) before the refinement network sees it,
/// so a face that moved a little since the prediction is still inside.
const REFINE_GROW: f32 = 1.15;
/// Changes in the zone of a face found on the frame are that person moving, not someone new: the zone
/// reaches this many face widths either side of the face and this many face heights above and below
/// it (the body sits below). Someone new inside a zone is found by the refresh.
const ZONE_SIDE: f32 = 1.5;
/// How far above a tracked face its zone reaches, in face heights.
const ZONE_ABOVE: f32 = 1.0;
/// How far below a tracked face its zone reaches, in face heights.
const ZONE_BELOW: f32 = 3.0;
/// The learnt face sizes are widened by this factor both ways.
const SIZE_MARGIN: f32 = 1.5;
/// Two detections are the same face when this share of the smaller box is shared.
const DUPLICATE_OVERLAP: f32 = 0.5;
/// Windows covering more than this share of the frame are replaced by one whole-frame search.
const MAX_WINDOW_SHARE: f32 = 0.5;

/// `[recognition.gating]`: how often the whole frame is searched and how a change is recognised.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatingConfig {
    /// `false`: the whole pyramid over the whole frame on every frame looked at (no gating).
    #[serde(default = "default_enabled")]
    pub enabled: bool,
    /// Search the whole frame at least this often (seconds of capture time): the bound on how long a
    /// face that arrived without the gate seeing it change can go unlooked-for.
    #[serde(default = "default_full_frame_every_secs")]
    pub full_frame_every_secs: f64,
    /// Search at every face size at least this often; in between, the whole-frame search looks only
    /// for the face sizes this camera has shown (with a margin).
    #[serde(default = "default_full_pyramid_every_secs")]
    pub full_pyramid_every_secs: f64,
    /// Grey levels (0–255) a cell's average must move by to count as changed.
    #[serde(default = "default_change_threshold")]
    pub change_threshold: f32,
    /// The gate's cell side, in pixels.
    #[serde(default = "default_cell_px")]
    pub cell_px: usize,
}

fn default_enabled() -> bool {
    true
}

fn default_full_frame_every_secs() -> f64 {
    2.0
}

fn default_full_pyramid_every_secs() -> f64 {
    30.0
}

fn default_change_threshold() -> f32 {
    12.0
}

fn default_cell_px() -> usize {
    12
}

impl Default for GatingConfig {
    fn default() -> Self {
        GatingConfig {
            enabled: default_enabled(),
            full_frame_every_secs: default_full_frame_every_secs(),
            full_pyramid_every_secs: default_full_pyramid_every_secs(),
            change_threshold: default_change_threshold(),
            cell_px: default_cell_px(),
        }
    }
}

impl GatingConfig {
    /// The first value out of range.
    pub fn check(&self) -> Result<(), InvalidSetting> {
        let g = self;
        if !(g.full_frame_every_secs.is_finite() && (0.0..=60.0).contains(&g.full_frame_every_secs))
        {
            return Err(InvalidSetting::new(
                "recognition.gating.full_frame_every_secs",
                "must be between 0 and 60 seconds",
            ));
        }
        if !(g.full_pyramid_every_secs.is_finite()
            && (g.full_frame_every_secs..=3600.0).contains(&g.full_pyramid_every_secs))
        {
            return Err(InvalidSetting::new(
                "recognition.gating.full_pyramid_every_secs",
                "must be from full_frame_every_secs to 3600 seconds",
            ));
        }
        if !(g.change_threshold.is_finite() && (1.0..=255.0).contains(&g.change_threshold)) {
            return Err(InvalidSetting::new(
                "recognition.gating.change_threshold",
                "must be between 1 and 255 grey levels",
            ));
        }
        if !(4..=64).contains(&g.cell_px) {
            return Err(InvalidSetting::new(
                "recognition.gating.cell_px",
                "must be between 4 and 64 pixels",
            ));
        }
        Ok(())
    }
}

/// What the gating did, summed over frames.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GatingStats {
    /// Frames it chose for.
    pub frames: u64,
    /// Whole-frame searches (refresh, first frame, or a change too large for windows).
    pub full_frames: u64,
    /// Of which at every face size.
    pub full_pyramids: u64,
    /// Windows searched around changes.
    pub windows: u64,
    /// Tracked boxes refined without a search.
    pub refined: u64,
    /// Faces found in change windows (someone arriving, or a tracked face the refinement lost).
    pub moved: u64,
}

/// A face found on a frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Found {
    /// Its box and five landmarks.
    pub face: Located,
    /// Found in a change window: the picture changed there outside every face found in place, so
    /// this is someone who arrived or moved further than their track predicted.
    pub moved: bool,
}

impl Found {
    /// A face found in place (by a refresh or the refinement of a tracked box).
    pub fn still(face: Located) -> Found {
        Found { face, moved: false }
    }
}

/// One camera's choice of where to look, frame by frame.
pub struct Gating {
    config: GatingConfig,
    gate: MotionGate,
    sizes: FaceSizes,
    last_full_ms: Option<i64>,
    last_pyramid_ms: Option<i64>,
    window: Vec<u8>,
    stats: GatingStats,
}

/// `b` grown by `factor` about its centre.
fn grown(b: &FaceBox, factor: f32) -> FaceBox {
    let (cx, cy) = ((b.x1 + b.x2) / 2.0, (b.y1 + b.y2) / 2.0);
    let (hw, hh) = ((b.x2 - b.x1) * factor / 2.0, (b.y2 - b.y1) * factor / 2.0);
    FaceBox {
        x1: cx - hw,
        y1: cy - hh,
        x2: cx + hw,
        y2: cy + hh,
        score: b.score,
    }
}

/// The zone where changes are a found face's own person moving.
fn zone(b: &FaceBox) -> FaceBox {
    let (w, h) = (b.x2 - b.x1, b.y2 - b.y1);
    FaceBox {
        x1: b.x1 - ZONE_SIDE * w,
        y1: b.y1 - ZONE_ABOVE * h,
        x2: b.x2 + ZONE_SIDE * w,
        y2: b.y2 + ZONE_BELOW * h,
        score: b.score,
    }
}

/// Whether `every_secs` have passed since `last` (or it never happened, or time went back).
fn due(last: Option<i64>, at_ms: i64, every_secs: f64) -> bool {
    last.is_none_or(|t| at_ms < t || (at_ms - t) as f64 >= every_secs * 1000.0)
}

/// The `WINDOW_PX` squares (left, top) around `regions`, each grown by a margin; `None` when a region
/// does not fit one or the frame is no larger than a window (search the whole frame instead).
fn windows(regions: &[Region], width: usize, height: usize) -> Option<Vec<(usize, usize)>> {
    let side = WINDOW_PX as f32;
    if width <= WINDOW_PX || height <= WINDOW_PX {
        return None;
    }
    let mut chosen: Vec<(usize, usize)> = Vec::new();
    for r in regions {
        let margin = (r.width.max(r.height) * 0.5).max(48.0);
        let (w, h) = (r.width + 2.0 * margin, r.height + 2.0 * margin);
        if w > side || h > side {
            return None;
        }
        let (x0, y0) = (r.x - margin, r.y - margin);
        let inside = |&(wx, wy): &(usize, usize)| {
            x0 >= wx as f32
                && y0 >= wy as f32
                && x0 + w <= (wx + WINDOW_PX) as f32
                && y0 + h <= (wy + WINDOW_PX) as f32
        };
        if chosen.iter().any(inside) {
            continue;
        }
        let (cx, cy) = (r.x + r.width / 2.0, r.y + r.height / 2.0);
        let wx = (cx - side / 2.0).clamp(0.0, (width - WINDOW_PX) as f32) as usize;
        let wy = (cy - side / 2.0).clamp(0.0, (height - WINDOW_PX) as f32) as usize;
        chosen.push((wx, wy));
    }
    let share = (chosen.len() * WINDOW_PX * WINDOW_PX) as f32 / (width * height) as f32;
    (share <= MAX_WINDOW_SHARE).then_some(chosen)
}

impl Gating {
    /// Gating as configured.
    pub fn new(config: GatingConfig) -> Gating {
        Gating {
            gate: MotionGate::new(config.cell_px, config.change_threshold, 2),
            config,
            sizes: FaceSizes::new(),
            last_full_ms: None,
            last_pyramid_ms: None,
            window: Vec::new(),
            stats: GatingStats::default(),
        }
    }

    /// What it has done so far.
    pub fn stats(&self) -> GatingStats {
        self.stats
    }

    /// The faces on `frame` (captured at `at_ms`), where `tracked` are the boxes the camera's tracks
    /// predict for it; best detection first.
    ///
    /// Order matters: first the faces the frame is known to hold are found (on a refresh, the whole
    /// frame at the learnt sizes; otherwise the tracked boxes, refined in place), and only then is the
    /// gate asked where the picture changed outside *their* zones — so a tracked face that was not
    /// found where predicted leaves its zone open to the change search.
    pub fn locate(
        &mut self,
        detector: &mut dyn FaceDetector,
        frame: RgbView<'_>,
        at_ms: i64,
        tracked: &[FaceBox],
    ) -> Result<Vec<Found>, DetectorError> {
        self.stats.frames += 1;
        if !self.config.enabled {
            return self.whole_frame(detector, frame, at_ms);
        }
        let compared = self.gate.observe(frame);
        let refresh = due(self.last_full_ms, at_ms, self.config.full_frame_every_secs);
        let pyramid = due(
            self.last_pyramid_ms,
            at_ms,
            self.config.full_pyramid_every_secs,
        ) || self.sizes.range(SIZE_MARGIN).is_none();
        if !compared || (refresh && pyramid) {
            return self.whole_frame(detector, frame, at_ms);
        }
        let in_place = if refresh {
            // At the learnt sizes; a change is still searched at every size in its window below.
            self.search_whole(detector, frame, at_ms, false)?
        } else if tracked.is_empty() {
            Vec::new()
        } else {
            let boxes: Vec<FaceBox> = tracked.iter().map(|b| grown(b, REFINE_GROW)).collect();
            match detector.refine(frame, &boxes) {
                Some(refined) => {
                    self.stats.refined += boxes.len() as u64;
                    refined?
                }
                // A detector without a refinement stage searches the whole frame.
                None => return self.whole_frame(detector, frame, at_ms),
            }
        };
        let zones: Vec<FaceBox> = in_place.iter().map(|(b, _)| zone(b)).collect();
        let regions = self.gate.regions(&zones);
        let Some(windows) = windows(&regions, frame.width, frame.height) else {
            return self.whole_frame(detector, frame, at_ms);
        };
        let mut found: Vec<Found> = in_place.into_iter().map(Found::still).collect();
        if !windows.is_empty() {
            detector.set_face_range(None);
        }
        for (wx, wy) in windows {
            self.stats.windows += 1;
            copy_window(frame, wx, wy, &mut self.window);
            let view = RgbView {
                width: WINDOW_PX,
                height: WINDOW_PX,
                data: &self.window,
            };
            let (dx, dy) = (wx as f32, wy as f32);
            found.extend(detector.locate(view)?.into_iter().map(|(b, marks)| Found {
                face: (
                    FaceBox {
                        x1: b.x1 + dx,
                        y1: b.y1 + dy,
                        x2: b.x2 + dx,
                        y2: b.y2 + dy,
                        score: b.score,
                    },
                    marks.map(|[x, y]| [x + dx, y + dy]),
                ),
                moved: true,
            }));
        }
        let found = dedupe(found);
        self.stats.moved += found.iter().filter(|f| f.moved).count() as u64;
        Ok(self.learn(found))
    }

    /// The whole frame at every face size; the sizes found learnt.
    fn whole_frame(
        &mut self,
        detector: &mut dyn FaceDetector,
        frame: RgbView<'_>,
        at_ms: i64,
    ) -> Result<Vec<Found>, DetectorError> {
        let found = self.search_whole(detector, frame, at_ms, true)?;
        Ok(self.learn(found.into_iter().map(Found::still).collect()))
    }

    /// The whole frame, at every face size (`pyramid`) or at the learnt ones.
    fn search_whole(
        &mut self,
        detector: &mut dyn FaceDetector,
        frame: RgbView<'_>,
        at_ms: i64,
        pyramid: bool,
    ) -> Result<Vec<Located>, DetectorError> {
        self.stats.full_frames += 1;
        self.last_full_ms = Some(at_ms);
        if pyramid {
            self.stats.full_pyramids += 1;
            self.last_pyramid_ms = Some(at_ms);
            self.sizes.reset();
            detector.set_face_range(None);
        } else {
            detector.set_face_range(self.sizes.range(SIZE_MARGIN));
        }
        detector.locate(frame)
    }

    /// Records the faces' widths and passes them on.
    fn learn(&mut self, found: Vec<Found>) -> Vec<Found> {
        for f in &found {
            self.sizes.record(f.face.0.x2 - f.face.0.x1);
        }
        found
    }
}

/// One detection per face where a refined box and a window's search found the same one (the best
/// scored kept); a face counts as moved only when none of the detections it stands for was found in
/// place.
fn dedupe(found: Vec<Found>) -> Vec<Found> {
    let boxes: Vec<FaceBox> = found.iter().map(|f| f.face.0).collect();
    let same = |a: &FaceBox, b: &FaceBox| {
        let smaller = a.area().min(b.area());
        smaller > 0.0 && a.intersection(b) / smaller > DUPLICATE_OVERLAP
    };
    suppress(&boxes, DUPLICATE_OVERLAP, Overlap::Min)
        .into_iter()
        .map(|i| Found {
            moved: found[i].moved
                && !found
                    .iter()
                    .any(|other| !other.moved && same(&other.face.0, &boxes[i])),
            ..found[i]
        })
        .collect()
}

/// Copies the `WINDOW_PX` square at (`wx`, `wy`) of `frame` (which holds it) into `out`.
fn copy_window(frame: RgbView<'_>, wx: usize, wy: usize, out: &mut Vec<u8>) {
    out.clear();
    for row in wy..wy + WINDOW_PX {
        let from = (row * frame.width + wx) * 3;
        match frame.data.get(from..from + WINDOW_PX * 3) {
            Some(line) => out.extend_from_slice(line),
            None => out.resize(out.len() + WINDOW_PX * 3, 0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn region(x: f32, y: f32, side: f32) -> Region {
        Region {
            x,
            y,
            width: side,
            height: side,
        }
    }

    #[test]
    fn changes_get_one_window_each_unless_too_large_or_too_many() {
        // One small change: one window around it, inside the frame.
        let one = windows(&[region(1800.0, 1000.0, 60.0)], 1920, 1080).expect("fits");
        assert_eq!(one, vec![(1920 - WINDOW_PX, 1080 - WINDOW_PX)]);
        // Two changes close together share a window.
        let two = windows(
            &[region(900.0, 500.0, 60.0), region(960.0, 520.0, 40.0)],
            1920,
            1080,
        )
        .expect("fits");
        assert_eq!(two.len(), 1, "{two:?}");
        // Too large for a window, or windows over half the frame: search the whole frame.
        assert_eq!(windows(&[region(100.0, 100.0, 400.0)], 1920, 1080), None);
        let spread: Vec<Region> = (0..5)
            .map(|k| region(100.0 + 400.0 * k as f32, 300.0, 40.0))
            .collect();
        assert_eq!(windows(&spread, 1920, 1080), None);
        assert_eq!(windows(&[region(10.0, 10.0, 20.0)], 400, 300), None);
    }

    #[test]
    fn refreshes_fall_due_and_settings_are_checked() {
        assert!(due(None, 0, 2.0));
        assert!(!due(Some(1000), 2999, 2.0));
        assert!(due(Some(1000), 3000, 2.0));
        assert!(due(Some(5000), 1000, 2.0), "time went back");
        GatingConfig::default().check().expect("defaults");
        let bad = GatingConfig {
            full_pyramid_every_secs: 1.0,
            ..GatingConfig::default()
        };
        assert_eq!(
            bad.check().unwrap_err().key,
            "recognition.gating.full_pyramid_every_secs"
        );
        let bad = GatingConfig {
            cell_px: 2,
            ..GatingConfig::default()
        };
        assert_eq!(bad.check().unwrap_err().key, "recognition.gating.cell_px");
    }

    /// A synthetic face's colour (far brighter than the background, in grey too).
    const FACE: [u8; 3] = [250, 250, 40];
    /// The synthetic frames' size.
    const W: usize = 1280;
    const H: usize = 720;

    /// A 1280×720 grey frame with faces painted as squares (left, top, side).
    fn picture(faces: &[(usize, usize, usize)]) -> Vec<u8> {
        let mut data = vec![90u8; W * H * 3];
        for &(x, y, side) in faces {
            for row in y..y + side {
                let from = (row * W + x) * 3;
                for pixel in data[from..from + side * 3].chunks_exact_mut(3) {
                    pixel.copy_from_slice(&FACE);
                }
            }
        }
        data
    }

    fn view(data: &[u8]) -> RgbView<'_> {
        RgbView {
            width: W,
            height: H,
            data,
        }
    }

    /// The painted squares in `view` (a square cut by the view's edge: its visible part).
    fn squares(view: RgbView<'_>) -> Vec<FaceBox> {
        let face = |x: usize, y: usize| {
            let i = (y * view.width + x) * 3;
            view.data.get(i..i + 3) == Some(&FACE[..])
        };
        let mut found: Vec<FaceBox> = Vec::new();
        for y in 0..view.height {
            for x in 0..view.width {
                let (fx, fy) = (x as f32, y as f32);
                let known = found
                    .iter()
                    .any(|b| fx >= b.x1 && fx < b.x2 && fy >= b.y1 && fy < b.y2);
                if known || !face(x, y) {
                    continue;
                }
                let right = (x..view.width).find(|&c| !face(c, y)).unwrap_or(view.width);
                let bottom = (y..view.height)
                    .find(|&r| !face(x, r))
                    .unwrap_or(view.height);
                found.push(FaceBox {
                    x1: fx,
                    y1: fy,
                    x2: right as f32,
                    y2: bottom as f32,
                    score: 0.99,
                });
            }
        }
        found
    }

    /// A detector for painted squares: `locate` finds every square in the view it is given; `refine`
    /// only those mostly inside one of the boxes (MTCNN's refinement networks see only their crop).
    struct Squares;

    impl FaceDetector for Squares {
        fn locate(&mut self, frame: RgbView<'_>) -> Result<Vec<Located>, DetectorError> {
            Ok(squares(frame)
                .into_iter()
                .map(|b| (b, [[0.0; 2]; 5]))
                .collect())
        }

        fn refine(
            &mut self,
            frame: RgbView<'_>,
            boxes: &[FaceBox],
        ) -> Option<Result<Vec<Located>, DetectorError>> {
            let inside = |face: &FaceBox| {
                boxes
                    .iter()
                    .any(|b| b.intersection(face) >= 0.6 * face.area())
            };
            Some(Ok(squares(frame)
                .into_iter()
                .filter(inside)
                .map(|b| (b, [[0.0; 2]; 5]))
                .collect()))
        }
    }

    fn square(x: f32, y: f32, side: f32) -> FaceBox {
        FaceBox {
            x1: x,
            y1: y,
            x2: x + side,
            y2: y + side,
            score: 0.99,
        }
    }

    /// Found boxes as (left, top, moved), sorted.
    fn summary(found: &[Found]) -> Vec<(f32, f32, bool)> {
        let mut out: Vec<(f32, f32, bool)> = found
            .iter()
            .map(|f| (f.face.0.x1, f.face.0.y1, f.moved))
            .collect();
        out.sort_by(|a, b| a.0.total_cmp(&b.0));
        out
    }

    /// `gating` on a frame holding 80-px `faces` (left, top) at `at_ms`, with tracks predicting
    /// 80-px faces at `tracked` (left, top).
    fn look(
        gating: &mut Gating,
        faces: &[(usize, usize)],
        at_ms: i64,
        tracked: &[(f32, f32)],
    ) -> Vec<Found> {
        let faces: Vec<(usize, usize, usize)> = faces.iter().map(|&(x, y)| (x, y, 80)).collect();
        let tracked: Vec<FaceBox> = tracked.iter().map(|&(x, y)| square(x, y, 80.0)).collect();
        gating
            .locate(&mut Squares, view(&picture(&faces)), at_ms, &tracked)
            .expect("the squares detector does not fail")
    }

    #[test]
    fn a_tracked_face_the_refinement_lost_leaves_its_zone_open_to_the_change_search() {
        let mut gating = Gating::new(GatingConfig::default());
        let found = look(&mut gating, &[(200, 200), (600, 300)], 0, &[]);
        assert_eq!(
            summary(&found),
            vec![(200.0, 200.0, false), (600.0, 300.0, false)]
        );
        // The walker moves 120 px (1.5 face widths); their track, whose speed is not known yet,
        // predicts them where they were, and the refinement there finds nothing.
        let found = look(
            &mut gating,
            &[(200, 200), (720, 300)],
            200,
            &[(200.0, 200.0), (600.0, 300.0)],
        );
        let stats = gating.stats();
        assert_eq!((stats.full_frames, stats.refined), (1, 2), "{stats:?}");
        assert!(stats.windows >= 1, "the lost walker's change is searched");
        assert_eq!(
            summary(&found),
            vec![(200.0, 200.0, false), (720.0, 300.0, true)],
            "the seated face refined in place, the walker found in a change window"
        );
        assert_eq!(stats.moved, 1);
    }

    #[test]
    fn a_face_refined_in_place_masks_its_own_movement_but_not_an_arrival() {
        let mut gating = Gating::new(GatingConfig::default());
        look(&mut gating, &[(200, 200), (600, 300)], 0, &[]);
        // Both move a little and are refined where predicted: their change costs no search.
        let found = look(
            &mut gating,
            &[(204, 202), (612, 300)],
            200,
            &[(200.0, 200.0), (600.0, 300.0)],
        );
        assert_eq!(gating.stats().windows, 0, "{:?}", gating.stats());
        assert_eq!(
            summary(&found),
            vec![(204.0, 202.0, false), (612.0, 300.0, false)]
        );
        // Someone new walks in far from both: one window, and they are marked as moved there.
        let found = look(
            &mut gating,
            &[(204, 202), (612, 300), (1100, 60)],
            400,
            &[(204.0, 202.0), (612.0, 300.0)],
        );
        assert_eq!(gating.stats().windows, 1, "{:?}", gating.stats());
        assert_eq!(
            summary(&found),
            vec![
                (204.0, 202.0, false),
                (612.0, 300.0, false),
                (1100.0, 60.0, true)
            ]
        );
    }

    #[test]
    fn a_face_found_both_in_place_and_in_a_window_is_one_face_found_in_place() {
        let place = |x: f32, moved: bool| Found {
            face: (
                FaceBox {
                    score: if moved { 0.99 } else { 0.9 },
                    ..square(x, 100.0, 80.0)
                },
                [[0.0; 2]; 5],
            ),
            moved,
        };
        let found = dedupe(vec![
            place(100.0, false),
            place(104.0, true),
            place(400.0, true),
        ]);
        assert_eq!(
            summary(&found),
            vec![(104.0, 100.0, false), (400.0, 100.0, true)],
            "the better-scored box kept, as found in place"
        );
    }
}
