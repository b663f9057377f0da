//! Pacing per business phone number: each sender instance spaces its Graph API calls to
//! `mps ÷ instances` (the SQS event source's `MaximumConcurrency` caps the instances), so all
//! instances together stay under the number's throughput (80 mps by default) and 130429 stays
//! rare. On a 130429 the instance halves its rate; every on-time call wins back 1 %.
//!
//! Hand-written rather than a rate-limiter crate because the rate must change at run time
//! (slow down on 130429, recover after); the whole mechanism is one reserved time slot.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

/// A per-instance pacer.
#[derive(Debug)]
pub struct Pacer {
    state: Mutex<State>,
    /// The configured spacing (the fastest this instance may go).
    base: Duration,
}

#[derive(Debug)]
struct State {
    /// The next free slot.
    next: Instant,
    /// The current spacing (≥ base).
    interval: Duration,
}

/// The slowest an instance goes after repeated 130429s.
const MAX_INTERVAL: Duration = Duration::from_secs(2);

impl Pacer {
    /// At most `per_second` calls a second from this instance (0 → unpaced).
    pub fn new(per_second: f64) -> Self {
        let base = if per_second > 0.0 { Duration::from_secs_f64(1.0 / per_second) } else { Duration::ZERO };
        Pacer { state: Mutex::new(State { next: Instant::now(), interval: base }), base }
    }

    /// The current spacing between calls.
    pub fn interval(&self) -> Duration {
        self.lock().interval
    }

    /// Waits for this caller's slot.
    pub async fn wait(&self) {
        let _ = self.wait_at_most(Duration::MAX).await;
    }

    /// Waits for this caller's slot if it comes within `limit`, and says how long it waited;
    /// otherwise takes no slot and says how long the wait would have been (`Err`).
    ///
    /// # Errors
    /// The wait that would exceed `limit`.
    pub async fn wait_at_most(&self, limit: Duration) -> Result<Duration, Duration> {
        let now = Instant::now();
        let slot = {
            let mut state = self.lock();
            let slot = state.next.max(now);
            if slot - now > limit {
                return Err(slot - now);
            }
            state.next = slot + state.interval;
            // Recover slowly towards the configured pace.
            if state.interval > self.base {
                state.interval = (state.interval.mul_f64(0.99)).max(self.base);
            }
            slot
        };
        tokio::time::sleep_until(slot).await;
        Ok(slot - now)
    }

    /// Meta answered 130429: halve the rate.
    pub fn slow_down(&self) {
        let mut state = self.lock();
        let doubled = state.interval.max(Duration::from_millis(10)) * 2;
        state.interval = doubled.min(MAX_INTERVAL);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the slot half-written.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn calls_are_spaced_by_the_configured_rate() {
        let pacer = Pacer::new(10.0);
        let start = Instant::now();
        for _ in 0..5 {
            pacer.wait().await;
        }
        // Slots at 0, 100, 200, 300, 400 ms.
        assert_eq!(start.elapsed(), Duration::from_millis(400));
    }

    #[tokio::test(start_paused = true)]
    async fn a_130429_halves_the_rate_and_on_time_calls_win_it_back() {
        let pacer = Pacer::new(10.0);
        pacer.slow_down();
        assert_eq!(pacer.interval(), Duration::from_millis(200));
        for _ in 0..200 {
            pacer.wait().await;
        }
        assert_eq!(pacer.interval(), Duration::from_millis(100), "back to the configured pace");
        for _ in 0..20 {
            pacer.slow_down();
        }
        assert_eq!(pacer.interval(), MAX_INTERVAL, "bounded");
    }
}
