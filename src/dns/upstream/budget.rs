//! The upstream budget: at most `upstream.max_queries_per_second` queries leave for the
//! upstreams in any one second, retries to the next server and TCP fallbacks included.
//!
//! The VPC resolver takes 1024 packets a second from each network interface and drops the
//! rest without a word, so a query sent beyond that only waits out its timeout. Asking for
//! nothing we cannot have, a query that finds the budget spent is refused at once, and the
//! handler answers it at once (stale from the cache if it can, else SERVFAIL).
//!
//! The window slides: the send times of the last second are kept (at most the limit of them),
//! so no second, wherever it starts, holds more than the limit. Prefetches (refreshes nobody
//! waits for) yield to clients: they may use only the part of the window below
//! [`PREFETCH_SHARE`].

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use prometheus_client::metrics::counter::Counter;

use crate::sync::lock;

/// The window: a second, and a little more so that the receiving side, whose clock reads
/// each datagram a little later and not always equally late, never counts more than the
/// limit in one of its seconds either.
const WINDOW: Duration = Duration::from_millis(1010);

/// Prefetches are sent only while the window is less full than this share of the limit, so
/// a fifth of the budget is always left for the misses clients wait on.
pub const PREFETCH_SHARE: (u32, u32) = (4, 5);

/// Who a query is for: decides how much of the budget it may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    /// A client waits for the answer.
    Client,
    /// A background refresh of an answer still in the cache.
    Prefetch,
}

/// The upstream budget, shared by every query and kept across reloads.
#[derive(Debug, Default)]
pub struct Budget {
    /// Queries per second; 0: no limit.
    limit: AtomicU32,
    /// When the queries of the last window were sent, the oldest first.
    sent: Mutex<VecDeque<Instant>>,
    /// Every query let through (exported as `upstream_queries_total`).
    counted: Counter,
}

impl Budget {
    /// A budget of `per_second` queries (0: no limit), counting what it lets through in
    /// `counted`.
    pub fn new(per_second: u32, counted: Counter) -> Self {
        Self {
            limit: AtomicU32::new(per_second),
            sent: Mutex::default(),
            counted,
        }
    }

    /// No limit, counted nowhere (diagnostics).
    pub fn unlimited() -> Self {
        Self::default()
    }

    /// Changes the limit (a reload); what was sent in the last second still counts.
    pub fn set_limit(&self, per_second: u32) {
        self.limit.store(per_second, Ordering::Relaxed);
    }

    /// Takes one query from the budget at `now`; `false`: it must not be sent.
    pub fn take(&self, priority: Priority, now: Instant) -> bool {
        let limit = self.limit.load(Ordering::Relaxed);
        if limit == 0 {
            self.counted.inc();
            return true;
        }
        let allowed = match priority {
            Priority::Client => limit,
            Priority::Prefetch => limit / PREFETCH_SHARE.1 * PREFETCH_SHARE.0,
        } as usize;
        let mut sent = lock(&self.sent);
        while sent
            .front()
            .is_some_and(|&t| now.saturating_duration_since(t) >= WINDOW)
        {
            sent.pop_front();
        }
        if sent.len() >= allowed {
            return false;
        }
        sent.push_back(now);
        drop(sent);
        self.counted.inc();
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_window_holds_more_than_the_limit() {
        let budget = Budget::new(10, Counter::default());
        let t0 = Instant::now();
        // 10 go at once; the 11th waits until the first has left the window.
        let taken = (0..20)
            .filter(|_| budget.take(Priority::Client, t0))
            .count();
        assert_eq!(taken, 10);
        assert!(!budget.take(Priority::Client, t0 + WINDOW - Duration::from_millis(1)));
        assert!(budget.take(Priority::Client, t0 + WINDOW));
        assert_eq!(budget.counted.get(), 11);
    }

    #[test]
    fn prefetches_leave_a_fifth_to_clients() {
        let budget = Budget::new(10, Counter::default());
        let now = Instant::now();
        let prefetched = (0..10)
            .filter(|_| budget.take(Priority::Prefetch, now))
            .count();
        assert_eq!(prefetched, 8);
        assert!(budget.take(Priority::Client, now));
        assert!(budget.take(Priority::Client, now));
        assert!(!budget.take(Priority::Client, now));
    }

    #[test]
    fn zero_is_no_limit_and_a_reload_changes_the_limit() {
        let budget = Budget::new(0, Counter::default());
        let now = Instant::now();
        assert!((0..10_000).all(|_| budget.take(Priority::Client, now)));
        budget.set_limit(1);
        assert!(budget.take(Priority::Client, now));
        assert!(!budget.take(Priority::Client, now));
        assert!(!budget.take(Priority::Prefetch, now));
    }
}
