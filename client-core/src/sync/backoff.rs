//! Exponential backoff with jitter, so a thousand phones that lose the signal together do not
//! come back in lockstep.

use std::time::Duration;

/// The waits between tries: `first`, doubling up to `max`, each drawn between half and all of
/// the nominal wait ("equal jitter"); `tries` bounds how many waits there are (None: forever).
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    first: Duration,
    nominal: Duration,
    max: Duration,
    left: Option<u32>,
    tries: Option<u32>,
}

impl Backoff {
    pub fn new(first: Duration, max: Duration, tries: Option<u32>) -> Backoff {
        Backoff { first, nominal: first, max: max.max(first), left: tries, tries }
    }

    /// The next wait, or None when the tries are used up.
    pub fn next_wait(&mut self) -> Option<Duration> {
        if let Some(left) = &mut self.left {
            if *left == 0 {
                return None;
            }
            *left -= 1;
        }
        let nominal = self.nominal;
        self.nominal = (self.nominal * 2).min(self.max);
        let half = nominal / 2;
        Some(half + half.mul_f64(fastrand::f64()))
    }

    /// After a success: start again from `first`.
    pub fn reset(&mut self) {
        self.nominal = self.first;
        self.left = self.tries;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_up_to_the_cap_with_jitter() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(300), None);
        let waits: Vec<Duration> = (0..12).map(|_| b.next_wait().unwrap()).collect();
        for (i, w) in waits.iter().enumerate() {
            let nominal = Duration::from_secs(1u64 << i.min(9)).min(Duration::from_secs(300));
            assert!(*w >= nominal / 2 && *w <= nominal, "wait {i}: {w:?} for nominal {nominal:?}");
        }
        b.reset();
        assert!(b.next_wait().unwrap() <= Duration::from_secs(1));
    }

    #[test]
    fn bounded_tries_run_out() {
        let mut b = Backoff::new(Duration::from_millis(1), Duration::from_millis(4), Some(2));
        assert!(b.next_wait().is_some());
        assert!(b.next_wait().is_some());
        assert_eq!(b.next_wait(), None);
    }
}
