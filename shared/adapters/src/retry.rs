//! Jittered exponential backoff, shared by every adapter that retries.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};

/// Delays for up to `retries` retries, starting at `first` and doubling, each with jitter so
/// that concurrent writers (or Lambda instances) do not retry in lock-step.
pub(crate) fn delays(first: Duration, retries: usize) -> impl Iterator<Item = Duration> {
    ExponentialBuilder::default()
        .with_min_delay(first)
        .with_max_delay(Duration::from_secs(2))
        .with_max_times(retries)
        .with_jitter()
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_are_bounded_in_number_and_grow() {
        let d: Vec<Duration> = delays(Duration::from_millis(10), 4).collect();
        assert_eq!(d.len(), 4);
        // With up to 100 % jitter each delay lies in [base, 2 x base).
        for (i, delay) in d.iter().enumerate() {
            let base = Duration::from_millis(10 << i);
            assert!(*delay >= base && *delay < base * 2, "retry {i}: {delay:?}");
        }
    }
}
