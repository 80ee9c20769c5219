//! What each camera worker has done lately, for the heartbeat: frames looked at, time spent on faces,
//! faces followed, its state. Workers add to it; the heartbeat reads it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wardwatch_protocol::{CameraId, CameraState};

/// One camera's running totals.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CameraCounters {
    /// Frames looked at since the worker started.
    pub frames_looked: u64,
    /// Time spent on those frames (tamper checks, detection, tracking, recognition).
    pub busy: Duration,
    /// Faces followed now.
    pub tracks: u32,
    /// The state last reported.
    pub state: Option<CameraState>,
}

/// The totals of every camera, shared between the workers and the heartbeat.
#[derive(Debug, Clone, Default)]
pub struct StatsBoard(Arc<Mutex<BTreeMap<CameraId, CameraCounters>>>);

impl StatsBoard {
    /// Changes `camera`'s totals.
    pub fn update(&self, camera: &CameraId, change: impl FnOnce(&mut CameraCounters)) {
        let mut board = match self.0.lock() {
            Ok(b) => b,
            Err(poisoned) => poisoned.into_inner(),
        };
        change(board.entry(camera.clone()).or_default());
    }

    /// Every camera's totals now.
    pub fn snapshot(&self) -> BTreeMap<CameraId, CameraCounters> {
        match self.0.lock() {
            Ok(b) => b.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }
}
