//! When a publisher sends again what the collector has not acknowledged: the agent's re-send clock.
//!
//! A box re-sends everything beyond the collector's ack when the ack has not advanced for a while. A
//! fixed delay is fine for one box, but after a bureau-wide outage hundreds of boxes reconnect
//! together, their backlogs queue behind each other at the broker, and each box's ack may stall for
//! longer than the delay simply because its events wait in the queue: with a fixed delay every box
//! then re-sends its whole window at the same moment, every `base` seconds, adding its window again to
//! the queue it waits in. So the wait doubles after each re-send that brought no progress (up to
//! `max`), returns to `base` as soon as the ack advances, and every wait is stretched by a fraction
//! (0 to [`SPREAD`]) fixed per client id, so boxes that reconnected together do not re-send together.

use std::time::{Duration, Instant};

/// The largest stretch of a wait, as a fraction of it (each client id gets its own in `0..SPREAD`).
pub const SPREAD: f64 = 0.25;

/// Decides when unacknowledged events are due to be sent again.
#[derive(Debug, Clone)]
pub struct ResendClock {
    base: Duration,
    max: Duration,
    stretch: f64,
    wait: Duration,
    since: Instant,
}

impl ResendClock {
    /// A clock waiting `base` (stretched) before the first re-send, doubling up to `max` (never below
    /// `base`); `client_id` fixes the stretch; the clock starts at `now`.
    pub fn new(base: Duration, max: Duration, client_id: &str, now: Instant) -> Self {
        ResendClock {
            base,
            max: max.max(base),
            stretch: stretch_of(client_id),
            wait: base,
            since: now,
        }
    }

    /// The ack advanced: the wait is `base` again, counted from `now`.
    pub fn progress(&mut self, now: Instant) {
        self.wait = self.base;
        self.since = now;
    }

    /// Start counting again from `now` (a new connection, or sending after nothing was outstanding),
    /// keeping the current wait.
    pub fn restart(&mut self, now: Instant) {
        self.since = now;
    }

    /// The current wait, stretched: how long without progress before the next re-send.
    pub fn wait(&self) -> Duration {
        self.wait.mul_f64(1.0 + self.stretch)
    }

    /// Whether a re-send is due at `now`; if so, the clock restarts and the next wait doubles (up to
    /// `max`).
    pub fn due(&mut self, now: Instant) -> bool {
        if now.saturating_duration_since(self.since) < self.wait() {
            return false;
        }
        self.since = now;
        self.wait = self.wait.saturating_mul(2).min(self.max);
        true
    }
}

/// A fraction in `0..SPREAD` fixed by the client id (FNV-1a), spreading a fleet's waits evenly.
fn stretch_of(client_id: &str) -> f64 {
    let hash = client_id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    (hash % 1_000) as f64 / 1_000.0 * SPREAD
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: Duration = Duration::from_secs(30);
    const MAX: Duration = Duration::from_secs(300);

    #[test]
    fn waits_double_without_progress_up_to_the_cap_and_reset_on_progress() {
        let t0 = Instant::now();
        let mut clock = ResendClock::new(BASE, MAX, "wardwatch-agent-box-1", t0);
        let mut now = t0;
        let mut waits = Vec::new();
        for _ in 0..6 {
            let wait = clock.wait();
            assert!(!clock.due(now + wait - Duration::from_millis(1)), "early");
            now += wait;
            assert!(clock.due(now), "on time");
            waits.push(wait);
        }
        let stretch = waits[0].as_secs_f64() / BASE.as_secs_f64();
        assert!((1.0..1.0 + SPREAD).contains(&stretch), "{stretch}");
        for (wait, unstretched) in waits.iter().zip([30, 60, 120, 240, 300, 300]) {
            let expected = Duration::from_secs(unstretched).mul_f64(stretch);
            assert!(
                wait.abs_diff(expected) < Duration::from_millis(1),
                "{wait:?} vs {expected:?}"
            );
        }
        clock.progress(now);
        assert_eq!(clock.wait(), waits[0]);
        assert!(!clock.due(now + BASE / 2));
    }

    #[test]
    fn a_restart_postpones_the_resend_without_resetting_the_backoff() {
        let t0 = Instant::now();
        let mut clock = ResendClock::new(BASE, MAX, "box-2", t0);
        let first = clock.wait();
        assert!(clock.due(t0 + first));
        let second = clock.wait();
        assert!(second > first);
        let later = t0 + first + second / 2;
        clock.restart(later);
        assert!(!clock.due(t0 + first + second), "counted from the restart");
        assert!(clock.due(later + second));
    }

    #[test]
    fn a_fleet_spreads_its_waits_over_the_stretch() {
        let stretches: Vec<f64> = (0..500)
            .map(|i| stretch_of(&format!("wardwatch-agent-box-{i:05}")))
            .collect();
        assert!(stretches.iter().all(|s| (0.0..SPREAD).contains(s)));
        // Split the stretch range in five: every fifth holds some boxes, none holds half of them.
        for fifth in 0..5 {
            let low = SPREAD * f64::from(fifth) / 5.0;
            let in_it = stretches
                .iter()
                .filter(|s| (low..low + SPREAD / 5.0).contains(*s))
                .count();
            assert!((25..250).contains(&in_it), "fifth {fifth}: {in_it} of 500");
        }
    }
}
