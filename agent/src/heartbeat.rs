//! The heartbeat: every `[health] interval_secs` (and once at start), a `health` event with the agent's
//! version, spool depth, uptime, the bureau gallery in force, and per camera its state, the frames it
//! looked at per second and the face work per frame since the last heartbeat.

use crate::cameras::stats::CameraCounters;
use crate::setting::InvalidSetting;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use wardwatch_protocol::{CameraHealth, CameraId, Health, SourceKind};

/// Times heartbeats and turns camera totals into rates.
#[derive(Debug)]
pub struct Heartbeat {
    started: Instant,
    every: Duration,
    last: Option<Instant>,
    previous: BTreeMap<CameraId, CameraCounters>,
    sources: BTreeMap<CameraId, SourceKind>,
}

impl Heartbeat {
    /// A heartbeat every `every`, the first one due at once; `sources` says where each camera's
    /// frames come from (reported in every heartbeat, so the collector can refuse recordings).
    pub fn new(every: Duration, sources: BTreeMap<CameraId, SourceKind>) -> Heartbeat {
        Heartbeat {
            started: Instant::now(),
            every,
            last: None,
            previous: BTreeMap::new(),
            sources,
        }
    }

    /// Whether a heartbeat is due now.
    pub fn due(&self) -> bool {
        self.last.is_none_or(|last| last.elapsed() >= self.every)
    }

    /// The heartbeat, from the cameras' totals now (rates since the previous heartbeat).
    pub fn beat(
        &mut self,
        spool_depth: u64,
        gallery_version: Option<u64>,
        cameras: BTreeMap<CameraId, CameraCounters>,
    ) -> Health {
        let now = Instant::now();
        let window = self
            .last
            .map_or(now - self.started, |last| now - last)
            .as_secs_f64()
            .max(1e-3);
        let cameras_health = cameras
            .iter()
            .map(|(id, now_totals)| {
                let before = self.previous.get(id).cloned().unwrap_or_default();
                let frames = now_totals
                    .frames_looked
                    .saturating_sub(before.frames_looked);
                let busy = now_totals.busy.saturating_sub(before.busy);
                CameraHealth {
                    camera_id: id.clone(),
                    state: now_totals.state,
                    fps: round2(frames as f64 / window),
                    inference_ms: if frames == 0 {
                        0.0
                    } else {
                        round2(busy.as_secs_f64() * 1e3 / frames as f64)
                    },
                    tracks: now_totals.tracks,
                    source: self.sources.get(id).copied(),
                }
            })
            .collect();
        self.previous = cameras;
        self.last = Some(now);
        Health {
            agent_version: env!("CARGO_PKG_VERSION").to_owned(),
            spool_depth,
            uptime_secs: (now - self.started).as_secs(),
            gallery_version,
            cameras: cameras_health,
        }
    }
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

/// `[health]`: heartbeats.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthConfig {
    /// Seconds between heartbeats (the first is sent at start).
    #[serde(default = "default_health_interval_secs")]
    pub interval_secs: u64,
}

fn default_health_interval_secs() -> u64 {
    60
}

impl Default for HealthConfig {
    fn default() -> Self {
        HealthConfig {
            interval_secs: default_health_interval_secs(),
        }
    }
}

impl HealthConfig {
    /// The first unusable setting: heartbeats at least a second apart.
    pub fn check(&self) -> Result<(), InvalidSetting> {
        if self.interval_secs == 0 {
            return Err(InvalidSetting::new(
                "health.interval_secs",
                "must be at least 1",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wardwatch_protocol::CameraState;

    #[test]
    fn rates_are_since_the_previous_heartbeat() {
        let mut heartbeat = Heartbeat::new(
            Duration::from_secs(60),
            BTreeMap::from([("cam-1".parse().unwrap(), SourceKind::Rtsp)]),
        );
        assert!(heartbeat.due(), "the first one is due at once");
        let camera: CameraId = "cam-1".parse().expect("id");
        let totals = |frames: u64, busy_ms: u64| {
            BTreeMap::from([(
                camera.clone(),
                CameraCounters {
                    frames_looked: frames,
                    busy: Duration::from_millis(busy_ms),
                    tracks: 2,
                    state: Some(CameraState::Ok),
                },
            )])
        };
        let first = heartbeat.beat(3, Some(4), totals(10, 1000));
        assert!(!heartbeat.due());
        assert_eq!(first.gallery_version, Some(4));
        assert_eq!(first.cameras[0].inference_ms, 100.0);
        let second = heartbeat.beat(0, Some(4), totals(30, 1400));
        assert_eq!(
            second.cameras[0].inference_ms, 20.0,
            "400 ms over 20 frames"
        );
        assert_eq!(second.cameras[0].tracks, 2);
        assert_eq!(second.cameras[0].state, Some(CameraState::Ok));
    }
}
