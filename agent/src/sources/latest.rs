//! The hand-over between a live camera's capture thread and its worker: a one-item "latest" slot.
//!
//! The capture thread [`Latest::put`]s every picture it gets, replacing one the worker has not taken
//! yet (counted as dropped), so a worker slower than the camera always gets the newest picture and no
//! backlog builds up. When capture fails the thread says why with [`Latest::fail`]; the worker's
//! [`Latest::take`] returns that reason once the pictures before it are gone. [`Capture`] runs such a
//! thread and stops it when dropped; [`LiveFeed`] is what a live source keeps of it between frames.
//! Used by the RTSP and USB sources.

use super::frame::SourceError;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Instant;
use wardwatch_protocol::CameraId;

/// The newest item, or why the producer stopped.
pub struct Latest<T> {
    state: Mutex<State<T>>,
    changed: Condvar,
}

struct State<T> {
    item: Option<T>,
    failed: Option<String>,
    dropped: u64,
}

impl<T> Default for Latest<T> {
    fn default() -> Self {
        Latest {
            state: Mutex::new(State {
                item: None,
                failed: None,
                dropped: 0,
            }),
            changed: Condvar::new(),
        }
    }
}

/// What [`Latest::take`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Taken<T> {
    /// The newest item.
    Item(T),
    /// The producer stopped, saying why.
    Failed(String),
    /// Nothing came before the deadline.
    TimedOut,
}

impl<T> Latest<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Keeps `item` as the newest, dropping one not yet taken.
    pub fn put(&self, item: T) {
        let mut state = self.lock();
        if state.item.replace(item).is_some() {
            state.dropped += 1;
        }
        self.changed.notify_one();
    }

    /// The producer has stopped: `why` is returned once the item before it has been taken.
    pub fn fail(&self, why: String) {
        self.lock().failed = Some(why);
        self.changed.notify_one();
    }

    /// How many items were replaced before they were taken.
    pub fn dropped(&self) -> u64 {
        self.lock().dropped
    }

    /// Waits until `deadline` for an item or the producer's failure.
    pub fn take(&self, deadline: Instant) -> Taken<T> {
        let mut state = self.lock();
        loop {
            if let Some(item) = state.item.take() {
                return Taken::Item(item);
            }
            if let Some(why) = state.failed.take() {
                return Taken::Failed(why);
            }
            let now = Instant::now();
            if now >= deadline {
                return Taken::TimedOut;
            }
            state = self
                .changed
                .wait_timeout(state, deadline - now)
                .map_or_else(|e| e.into_inner().0, |(s, _)| s);
        }
    }
}

/// A capture thread feeding a [`Latest`] slot; dropping it asks the thread to stop.
pub struct Capture<T> {
    slot: Arc<Latest<T>>,
    stop: Arc<AtomicBool>,
}

impl<T: Send + 'static> Capture<T> {
    /// Starts `body` on a thread named `name`. It should put what it captures into the slot, return
    /// soon after the flag is set, and say why with [`Latest::fail`] when it gives up. The thread is
    /// not joined: a driver call blocked on a vanished device must not hold up the worker.
    pub fn spawn(
        name: String,
        body: impl FnOnce(&Latest<T>, &AtomicBool) + Send + 'static,
    ) -> std::io::Result<Capture<T>> {
        let slot = Arc::new(Latest::default());
        let stop = Arc::new(AtomicBool::new(false));
        let (thread_slot, thread_stop) = (Arc::clone(&slot), Arc::clone(&stop));
        std::thread::Builder::new()
            .name(name)
            .spawn(move || body(&thread_slot, &thread_stop))?;
        Ok(Capture { slot, stop })
    }

    /// See [`Latest::take`].
    pub fn take(&self, deadline: Instant) -> Taken<T> {
        self.slot.take(deadline)
    }
}

/// A live source's capture thread, restarted on reopen, and the reason it last failed.
pub struct LiveFeed<T> {
    camera: CameraId,
    what: String,
    capture: Option<Capture<T>>,
    last_error: Option<String>,
}

/// A capture thread's body: see [`Capture::spawn`].
pub type CaptureBody<T> = Box<dyn FnOnce(&Latest<T>, &AtomicBool) + Send>;

impl<T: Send + 'static> LiveFeed<T> {
    /// Nothing running yet; `what` names the device or URL in messages (never with a password).
    pub fn new(camera: CameraId, what: String) -> LiveFeed<T> {
        LiveFeed {
            camera,
            what,
            capture: None,
            last_error: None,
        }
    }

    /// The camera.
    pub fn camera(&self) -> &CameraId {
        &self.camera
    }

    /// The camera's [`SourceError::Unavailable`] for `why`.
    pub fn unavailable(&self, why: String) -> SourceError {
        SourceError::Unavailable {
            camera: self.camera.clone(),
            why,
        }
    }

    /// Stops the running thread, if any, and starts `body` on a thread named `{kind}-{camera}`.
    pub fn restart(&mut self, kind: &str, body: CaptureBody<T>) -> Result<(), SourceError> {
        self.capture = None;
        let capture = Capture::spawn(format!("{kind}-{}", self.camera), body)
            .map_err(|e| self.unavailable(format!("cannot start the {kind} thread: {e}")))?;
        self.capture = Some(capture);
        Ok(())
    }

    /// The newest item by `deadline`; otherwise the camera is unavailable (and stays so until
    /// [`LiveFeed::restart`]), saying why, or `silence` when nothing came in time.
    pub fn next(&mut self, deadline: Instant, silence: &str) -> Result<T, SourceError> {
        let Some(capture) = &self.capture else {
            let why = self
                .last_error
                .clone()
                .unwrap_or_else(|| format!("{}: not open", self.what));
            return Err(self.unavailable(why));
        };
        let failure = match capture.take(deadline) {
            Taken::Item(item) => return Ok(item),
            Taken::Failed(why) => why,
            Taken::TimedOut => format!("{}: {silence}", self.what),
        };
        self.capture = None;
        self.last_error = Some(failure.clone());
        Err(self.unavailable(failure))
    }
}

impl<T> Drop for Capture<T> {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    #[test]
    fn a_slow_taker_gets_the_newest_item_and_the_rest_are_counted_dropped() {
        let latest = Latest::default();
        for n in 0..5 {
            latest.put(n);
        }
        let soon = || Instant::now() + Duration::from_millis(20);
        assert_eq!(latest.take(soon()), Taken::Item(4));
        assert_eq!(latest.dropped(), 4);
        assert_eq!(latest.take(soon()), Taken::TimedOut);
        latest.put(5);
        latest.fail("gone".into());
        assert_eq!(latest.take(soon()), Taken::Item(5));
        assert_eq!(latest.take(soon()), Taken::Failed("gone".into()));
    }

    #[test]
    fn a_waiting_taker_wakes_when_an_item_arrives() {
        let latest = Arc::new(Latest::default());
        let producer = Arc::clone(&latest);
        let thread = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            producer.put("frame");
        });
        let started = Instant::now();
        let taken = latest.take(Instant::now() + Duration::from_secs(10));
        assert_eq!(taken, Taken::Item("frame"));
        assert!(started.elapsed() < Duration::from_secs(5));
        thread.join().expect("producer");
    }

    #[test]
    fn dropping_a_capture_stops_its_thread() {
        let (told, stopped) = std::sync::mpsc::channel();
        let capture = Capture::spawn("test-capture".into(), move |slot, stop| {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                slot.put(n);
                n += 1;
                std::thread::sleep(Duration::from_millis(5));
            }
            let _ = told.send(n);
        })
        .expect("spawn");
        assert!(matches!(
            capture.take(Instant::now() + Duration::from_secs(5)),
            Taken::Item(_)
        ));
        drop(capture);
        assert!(stopped.recv_timeout(Duration::from_secs(5)).is_ok());
    }
}
