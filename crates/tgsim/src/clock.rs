//! Time for the rate limiter and message dates, injectable so tests never sleep.

use std::fmt::Debug;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A monotonic clock: how much time has passed since an arbitrary origin.
///
/// The rate limiter only compares instants, so an offset is all it needs; message
/// `date`s are the wall time at start-up plus this offset.
pub trait SimClock: Send + Sync + Debug + 'static {
    /// Time elapsed since the clock's origin.
    fn now(&self) -> Duration;

    /// Moves a manual clock forward; returns false for clocks that cannot be moved.
    fn advance(&self, by: Duration) -> bool {
        let _ = by;
        false
    }
}

/// Real time, measured from when the clock was made.
#[derive(Debug, Clone, Copy)]
pub struct RealClock {
    origin: Instant,
}

impl RealClock {
    /// A clock whose origin is now.
    pub fn new() -> Self {
        Self {
            origin: Instant::now(),
        }
    }
}

impl Default for RealClock {
    fn default() -> Self {
        Self::new()
    }
}

impl SimClock for RealClock {
    fn now(&self) -> Duration {
        self.origin.elapsed()
    }
}

/// A clock that moves only when told to: tests advance it past a rate-limit window
/// instead of sleeping.
#[derive(Debug, Clone, Default)]
pub struct ManualClock {
    now: Arc<Mutex<Duration>>,
}

impl ManualClock {
    /// A clock stopped at its origin.
    pub fn new() -> Self {
        Self::default()
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let mut now = self.now.lock().unwrap_or_else(|e| e.into_inner());
        *now += by;
    }
}

impl SimClock for ManualClock {
    fn now(&self) -> Duration {
        *self.now.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn advance(&self, by: Duration) -> bool {
        ManualClock::advance(self, by);
        true
    }
}
