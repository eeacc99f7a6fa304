//! Injectable clocks: wall time for live feeds, scaled time for the simulator, and a manual clock for tests.

use std::fmt::Debug;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// "Now" in UTC milliseconds. Everything that needs the time asks a `Clock`, so tests can fix it.
pub trait Clock: Send + Sync + Debug {
    fn now_ms(&self) -> i64;
}

/// The system's wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        wall_now_ms()
    }
}

/// The wall clock in UTC milliseconds (0 if the system clock is before 1970).
pub fn wall_now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Simulated time: starts at `origin_ms` and runs `speed` times faster than the wall clock.
#[derive(Debug)]
pub struct ScaledClock {
    started: Instant,
    origin_ms: i64,
    speed: f64,
}

impl ScaledClock {
    pub fn new(origin_ms: i64, speed: f64) -> Self {
        Self { started: Instant::now(), origin_ms, speed }
    }

    pub fn speed(&self) -> f64 {
        self.speed
    }
}

impl Clock for ScaledClock {
    fn now_ms(&self) -> i64 {
        let elapsed_ms = self.started.elapsed().as_secs_f64() * 1000.0 * self.speed;
        #[expect(clippy::cast_possible_truncation, reason = "elapsed sim time fits i64 for millennia")]
        let elapsed_ms = elapsed_ms as i64;
        self.origin_ms.saturating_add(elapsed_ms)
    }
}

/// A clock that moves only when told to. For tests and deterministic stepping.
#[derive(Debug)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    pub fn new(now_ms: i64) -> Self {
        Self(AtomicI64::new(now_ms))
    }

    pub fn set(&self, now_ms: i64) {
        self.0.store(now_ms, Ordering::SeqCst);
    }

    pub fn advance_ms(&self, by_ms: i64) -> i64 {
        self.0.fetch_add(by_ms, Ordering::SeqCst) + by_ms
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}
