//! A log throttle: at most so many entries of one kind per window (e.g. refused, unauthenticated
//! requests), the rest counted and reported as one summary entry once their window is over, so that a
//! flood of junk requests cannot fill the disk with log rows while nothing goes unaccounted for.

use std::sync::Mutex;

/// Requests counted instead of logged one by one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Suppressed {
    /// How many.
    pub count: u64,
    /// The first one's time (ms).
    pub first_ms: i64,
    /// The last one's time (ms).
    pub last_ms: i64,
}

/// What to do with one entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// Log it.
    Log,
    /// Count it, do not log it.
    Count,
}

#[derive(Debug, Default)]
struct Window {
    started_ms: i64,
    logged: u32,
    suppressed: Option<Suppressed>,
}

/// At most `per_window` entries per `window_ms`.
#[derive(Debug)]
pub struct Throttle {
    per_window: u32,
    window_ms: i64,
    state: Mutex<Window>,
}

impl Throttle {
    /// A throttle letting `per_window` entries through every `window_ms`.
    pub fn new(per_window: u32, window_ms: i64) -> Throttle {
        Throttle {
            per_window,
            window_ms: window_ms.max(1),
            state: Mutex::new(Window::default()),
        }
    }

    /// The limit, per window.
    pub fn per_window(&self) -> u32 {
        self.per_window
    }

    /// The window, in seconds.
    pub fn window_secs(&self) -> i64 {
        self.window_ms / 1000
    }

    fn window(&self) -> std::sync::MutexGuard<'_, Window> {
        // A panic while holding this lock leaves counts only: keep counting.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether an entry at `now_ms` is logged or counted.
    pub fn admit(&self, now_ms: i64) -> Admit {
        let mut window = self.window();
        if now_ms >= window.started_ms + self.window_ms {
            // A new window; counts of the old one wait in `suppressed` for [`Throttle::take_due`].
            window.started_ms = now_ms;
            window.logged = 0;
        }
        if window.logged < self.per_window {
            window.logged += 1;
            return Admit::Log;
        }
        let counted = window.suppressed.get_or_insert(Suppressed {
            count: 0,
            first_ms: now_ms,
            last_ms: now_ms,
        });
        counted.count += 1;
        counted.last_ms = now_ms;
        Admit::Count
    }

    /// The entries counted so far, once the window they were counted in is over (or at once when
    /// `force`, e.g. at shutdown); each count is taken once.
    pub fn take_due(&self, now_ms: i64, force: bool) -> Option<Suppressed> {
        let mut window = self.window();
        let over = now_ms >= window.started_ms + self.window_ms;
        let counted_before_this_window = window
            .suppressed
            .is_some_and(|s| s.last_ms < window.started_ms);
        if force || over || counted_before_this_window {
            window.suppressed.take()
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_is_logged_up_to_the_limit_then_counted_once() {
        let throttle = Throttle::new(3, 60_000);
        let verdicts: Vec<Admit> = (0..10).map(|i| throttle.admit(1_000 + i)).collect();
        assert_eq!(verdicts.iter().filter(|v| **v == Admit::Log).count(), 3);
        assert_eq!(throttle.take_due(2_000, false), None, "window not over");
        let due = throttle.take_due(61_000, false).expect("window over");
        assert_eq!(
            due,
            Suppressed {
                count: 7,
                first_ms: 1_003,
                last_ms: 1_009
            }
        );
        assert_eq!(throttle.take_due(61_001, true), None, "taken once");
        // The next window logs again, and its counts come out when forced.
        assert_eq!(throttle.admit(70_000), Admit::Log);
        for i in 0..5 {
            throttle.admit(70_001 + i);
        }
        assert_eq!(throttle.take_due(70_010, true).map(|s| s.count), Some(3));
    }
}
