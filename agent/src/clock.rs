//! Clock sanity: the wall clock and the monotonic clock should advance together; when the wall clock
//! moves by more than [`JUMP_TOLERANCE`] more or less than the monotonic one between two readings
//! (someone set the time, NTP stepped it, a dead RTC battery after a reboot), the jump is recorded as a
//! `clock` event, since every capture time and interval near it may be shifted.

use std::time::{Duration, Instant};
use wardwatch_protocol::{ClockJump, Timestamp};

/// Differences up to this much are drift or scheduling, not a jump.
pub const JUMP_TOLERANCE: Duration = Duration::from_secs(2);

/// Compares successive readings of the two clocks.
#[derive(Debug, Clone)]
pub struct ClockWatch {
    wall: Timestamp,
    monotonic: Instant,
}

impl Default for ClockWatch {
    fn default() -> Self {
        ClockWatch {
            wall: Timestamp::now(),
            monotonic: Instant::now(),
        }
    }
}

impl ClockWatch {
    /// Reads both clocks now; a jump since the last reading, if any.
    pub fn check(&mut self) -> Option<ClockJump> {
        self.check_at(Timestamp::now(), Instant::now())
    }

    /// [`ClockWatch::check`] with given readings.
    pub fn check_at(&mut self, wall: Timestamp, monotonic: Instant) -> Option<ClockJump> {
        let wall_ms = wall.millis() - self.wall.millis();
        let mono_ms = i64::try_from((monotonic - self.monotonic).as_millis()).unwrap_or(i64::MAX);
        self.wall = wall;
        self.monotonic = monotonic;
        let jump_ms = wall_ms - mono_ms;
        (jump_ms.unsigned_abs() > JUMP_TOLERANCE.as_millis() as u64).then_some(ClockJump {
            detected_at: wall,
            jump_ms,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steady_clocks_are_quiet_and_jumps_either_way_are_caught() {
        let t0: Timestamp = "2026-11-23T08:00:00.000Z".parse().expect("time");
        let m0 = Instant::now();
        let mut watch = ClockWatch {
            wall: t0,
            monotonic: m0,
        };
        let m = |secs: u64| m0 + Duration::from_secs(secs);
        assert_eq!(watch.check_at(t0.plus_millis(10_500), m(10)), None, "drift");
        let back = watch
            .check_at(t0.plus_millis(20_000 - 3_600_000), m(20))
            .expect("backwards");
        assert_eq!(back.jump_ms, -3_600_000 - 500);
        let forward = watch
            .check_at(t0.plus_millis(30_000 + 86_400_000), m(30))
            .expect("forwards");
        assert!(forward.jump_ms > 86_000_000, "{}", forward.jump_ms);
    }
}
