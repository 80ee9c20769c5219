//! Tamper and camera health: each camera's state — `ok`, `offline`, `obstructed` (dark or uniform
//! frames: a covered lens), `frozen` (bit-identical frames: a stuck or replayed stream), `moved` (the
//! view no longer matches the camera's reference: turned away) — from the frames it sends and the
//! source's failures. A state is entered only after its condition has held for a while (no flapping on
//! one dark frame), and is reported with the time its condition began. These states are evidence: the
//! collector treats billed time under a camera outage differently from a no-show.

pub mod measure;

use measure::{FrameMeasure, correlation};
use wardwatch_protocol::{CameraId, CameraState, CameraStatus, Timestamp};

/// Thresholds and hold times.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TamperConfig {
    /// A frame darker than this mean grey level (0..255) is obstructed…
    pub dark_below: f32,
    /// …and so is one whose grey levels spread less than this (a hand, tape, a cap over the lens).
    pub uniform_below: f32,
    /// Seconds an obstruction must last before it is reported.
    pub obstructed_after_secs: f64,
    /// Seconds of bit-identical frames before the stream is reported frozen.
    pub frozen_after_secs: f64,
    /// Below this correlation with the reference view, the camera has moved…
    pub moved_below: f32,
    /// …once that has lasted this many seconds.
    pub moved_after_secs: f64,
    /// Seconds without a frame (source failing) before the camera is reported offline.
    pub offline_after_secs: f64,
    /// Seconds of healthy frames averaged into the reference view when none is stored.
    pub reference_secs: f64,
}

impl Default for TamperConfig {
    fn default() -> Self {
        TamperConfig {
            dark_below: 18.0,
            uniform_below: 6.0,
            obstructed_after_secs: 5.0,
            frozen_after_secs: 30.0,
            moved_below: 0.5,
            moved_after_secs: 30.0,
            offline_after_secs: 10.0,
            reference_secs: 10.0,
        }
    }
}

/// A condition seen and since when.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Pending {
    state: CameraState,
    since: Timestamp,
}

/// One camera's state machine.
#[derive(Debug, Clone)]
pub struct CameraWatch {
    camera: CameraId,
    config: TamperConfig,
    reported: Option<CameraState>,
    pending: Option<Pending>,
    last_frame_at: Option<Timestamp>,
    last_grid: Option<Vec<u8>>,
    identical_since: Option<Timestamp>,
    reference: Option<Vec<u8>>,
    learning: Option<(Timestamp, Vec<u32>, u32)>,
}

impl CameraWatch {
    /// A camera not yet reported, with a stored reference view (`None`: learn it from the first
    /// healthy frames).
    pub fn new(camera: CameraId, config: TamperConfig, reference: Option<Vec<u8>>) -> Self {
        CameraWatch {
            camera,
            config,
            reported: None,
            pending: None,
            last_frame_at: None,
            last_grid: None,
            identical_since: None,
            reference: reference.filter(|r| r.len() == measure::THUMB_W * measure::THUMB_H),
            learning: None,
        }
    }

    /// The reference view, once there is one (for the worker to store).
    pub fn reference(&self) -> Option<&[u8]> {
        self.reference.as_deref()
    }

    /// The last state reported.
    pub fn state(&self) -> Option<CameraState> {
        self.reported
    }

    /// A frame arrived; returns a status change to report, if any.
    pub fn frame(&mut self, at: Timestamp, m: &FrameMeasure) -> Option<CameraStatus> {
        let previous_at = self.last_frame_at.replace(at);
        let identical = self.last_grid.as_deref() == Some(m.grid.as_slice());
        // Identical frames began with the first of them: the previous frame.
        self.identical_since = if identical {
            self.identical_since.or(previous_at)
        } else {
            None
        };
        self.last_grid = Some(m.grid.clone());
        let c = self.config;
        let (condition, hold) = if m.mean < c.dark_below || m.spread < c.uniform_below {
            (CameraState::Obstructed, c.obstructed_after_secs)
        } else if let Some(since) = self.identical_since {
            if secs_between(since, at) >= c.frozen_after_secs {
                return self.enter(CameraState::Frozen, since);
            }
            (CameraState::Frozen, c.frozen_after_secs)
        } else {
            match &self.reference {
                Some(reference) if correlation(reference, &m.thumbnail) < c.moved_below => {
                    (CameraState::Moved, c.moved_after_secs)
                }
                Some(_) => (CameraState::Ok, 0.0),
                None => {
                    self.learn(at, &m.thumbnail);
                    (CameraState::Ok, 0.0)
                }
            }
        };
        self.hold(condition, at, hold)
    }

    /// The source failed to give a frame at `now` (wall clock).
    pub fn no_frame(&mut self, now: Timestamp) -> Option<CameraStatus> {
        let since = self.last_frame_at.unwrap_or(now);
        if secs_between(since, now) >= self.config.offline_after_secs {
            return self.enter(CameraState::Offline, since);
        }
        None
    }

    fn learn(&mut self, at: Timestamp, thumbnail: &[u8]) {
        let (start, sum, count) = self
            .learning
            .get_or_insert_with(|| (at, vec![0; thumbnail.len()], 0));
        for (s, &v) in sum.iter_mut().zip(thumbnail) {
            *s += u32::from(v);
        }
        *count += 1;
        if secs_between(*start, at) >= self.config.reference_secs {
            let n = (*count).max(1);
            self.reference = Some(sum.iter().map(|s| (s / n) as u8).collect());
            self.learning = None;
        }
    }

    /// Keeps `condition` pending until it has held `hold` seconds, then enters it.
    fn hold(&mut self, condition: CameraState, at: Timestamp, hold: f64) -> Option<CameraStatus> {
        let since = match self.pending {
            Some(p) if p.state == condition => p.since,
            _ => at,
        };
        self.pending = Some(Pending {
            state: condition,
            since,
        });
        if secs_between(since, at) >= hold {
            self.enter(condition, since)
        } else {
            None
        }
    }

    fn enter(&mut self, state: CameraState, since: Timestamp) -> Option<CameraStatus> {
        self.pending = Some(Pending { state, since });
        if self.reported == Some(state) {
            return None;
        }
        self.reported = Some(state);
        Some(CameraStatus {
            camera_id: self.camera.clone(),
            state,
            since,
        })
    }
}

fn secs_between(a: Timestamp, b: Timestamp) -> f64 {
    (b.millis() - a.millis()) as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use super::measure::Measurer;
    use super::*;
    use crate::vision::align::RgbView;

    /// A 320×180 scene: a gradient with a bright block at `block_x`, plus per-frame noise.
    fn scene(block_x: usize, noise_seed: u32, brightness: f32) -> Vec<u8> {
        let (w, h) = (320usize, 180usize);
        let mut state = noise_seed.max(1);
        let mut data = Vec::with_capacity(w * h * 3);
        for y in 0..h {
            for x in 0..w {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                let noise = if noise_seed == 0 {
                    0.0
                } else {
                    (state % 5) as f32 - 2.0
                };
                let base = 60.0 + (x as f32 * 0.4) + (y as f32 * 0.3);
                let block = if (block_x..block_x + 60).contains(&x) && (40..120).contains(&y) {
                    90.0
                } else {
                    0.0
                };
                let v = ((base + block + noise) * brightness).clamp(0.0, 255.0) as u8;
                data.extend([v, v, v]);
            }
        }
        data
    }

    fn measure(data: &[u8]) -> FrameMeasure {
        Measurer::default()
            .measure(RgbView {
                width: 320,
                height: 180,
                data,
            })
            .expect("measure")
    }

    fn t(secs: f64) -> Timestamp {
        Timestamp::from_millis(1_790_000_000_000 + (secs * 1000.0) as i64).expect("time")
    }

    fn watch() -> CameraWatch {
        CameraWatch::new("cam-1".parse().expect("id"), TamperConfig::default(), None)
    }

    /// Feeds frames every second from `from` to `to` (exclusive); returns the changes reported.
    fn feed(
        w: &mut CameraWatch,
        from: u32,
        to: u32,
        frame: impl Fn(u32) -> Vec<u8>,
    ) -> Vec<CameraStatus> {
        (from..to)
            .filter_map(|s| w.frame(t(s as f64), &measure(&frame(s))))
            .collect()
    }

    #[test]
    fn a_healthy_camera_is_ok_once_and_a_covered_lens_is_obstructed_from_when_it_began() {
        let mut w = watch();
        let changes = feed(&mut w, 0, 20, |s| scene(100, s + 1, 1.0));
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].state, CameraState::Ok);
        // Covered from 20 s: dark frames.
        let changes = feed(&mut w, 20, 30, |s| scene(100, s + 1, 0.05));
        assert_eq!(changes.len(), 1, "{changes:?}");
        assert_eq!(changes[0].state, CameraState::Obstructed);
        assert_eq!(changes[0].since, t(20.0));
        // Uncovered at 30 s.
        let changes = feed(&mut w, 30, 32, |s| scene(100, s + 1, 1.0));
        assert_eq!(changes[0].state, CameraState::Ok);
        assert_eq!(changes[0].since, t(30.0));
    }

    #[test]
    fn a_short_dark_moment_is_not_reported() {
        let mut w = watch();
        feed(&mut w, 0, 5, |s| scene(100, s + 1, 1.0));
        let changes = feed(&mut w, 5, 8, |s| scene(100, s + 1, 0.05));
        assert!(changes.is_empty(), "{changes:?}");
    }

    #[test]
    fn bit_identical_frames_are_frozen_but_a_quiet_noisy_ward_is_not() {
        let mut w = watch();
        let quiet = feed(&mut w, 0, 60, |s| scene(100, s + 1, 1.0));
        assert!(
            quiet.iter().all(|c| c.state == CameraState::Ok),
            "{quiet:?}"
        );
        let stuck = scene(100, 999, 1.0);
        let changes = feed(&mut w, 60, 100, |_| stuck.clone());
        assert_eq!(changes.len(), 1, "{changes:?}");
        assert_eq!(changes[0].state, CameraState::Frozen);
        assert_eq!(changes[0].since, t(60.0));
    }

    #[test]
    fn a_camera_turned_away_is_moved_after_its_hold_time() {
        let mut w = watch();
        feed(&mut w, 0, 15, |s| scene(100, s + 1, 1.0));
        assert!(w.reference().is_some(), "reference learnt");
        // A different view: the block elsewhere and the gradient mirrored by a darker exposure.
        let changes = feed(&mut w, 15, 60, |s| {
            let mut data = scene(240, s + 1, 0.9);
            data.reverse();
            data
        });
        assert_eq!(changes.len(), 1, "{changes:?}");
        assert_eq!(changes[0].state, CameraState::Moved);
        assert_eq!(changes[0].since, t(15.0));
    }

    #[test]
    fn no_frames_for_a_while_is_offline_since_the_last_frame() {
        let mut w = watch();
        feed(&mut w, 0, 3, |s| scene(100, s + 1, 1.0));
        assert_eq!(w.no_frame(t(7.0)), None);
        let change = w.no_frame(t(13.0)).expect("offline");
        assert_eq!(change.state, CameraState::Offline);
        assert_eq!(change.since, t(2.0));
        assert_eq!(w.no_frame(t(20.0)), None, "reported once");
    }
}
