//! Whether an upstream server has gone silent, so that it is probed instead of flooded.
//!
//! When the VPC resolver stops answering, every query sent to it waits out its share of the
//! timeout and is then answered stale or SERVFAIL anyway: the packets buy nothing, and they
//! count against the 1024 a second the interface is allowed. So once a server has left
//! [`SILENT_AFTER`] queries unanswered and said nothing at all for [`SILENT_FOR`], only one
//! query per [`PROBE_EVERY`] goes to it (the probe); the others skip it at once (the next
//! server, or a stale answer, or SERVFAIL). Any datagram that answers a query, error replies
//! included, ends the silence.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Queries left unanswered (their share of the timeout ran out) before a server can be silent.
pub const SILENT_AFTER: u32 = 5;
/// How long a server must have said nothing to be silent.
pub const SILENT_FOR: Duration = Duration::from_secs(1);
/// While it is silent, one query this often is still sent (and ends the silence when answered).
pub const PROBE_EVERY: Duration = Duration::from_millis(100);

/// One server's record of replies and queries left unanswered.
#[derive(Debug)]
pub struct Silence {
    epoch: Instant,
    /// Milliseconds after `epoch` of the last reply.
    last_reply_ms: AtomicU64,
    /// Queries left unanswered since that reply.
    unanswered: AtomicU32,
    /// Milliseconds after `epoch` of the last probe sent while silent.
    last_probe_ms: AtomicU64,
}

impl Default for Silence {
    fn default() -> Self {
        Self {
            epoch: Instant::now(),
            last_reply_ms: AtomicU64::new(0),
            unanswered: AtomicU32::new(0),
            last_probe_ms: AtomicU64::new(0),
        }
    }
}

impl Silence {
    fn ms(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.epoch).as_millis()).unwrap_or(u64::MAX)
    }

    /// A datagram answered one of our queries at `now`.
    pub fn replied(&self, now: Instant) {
        self.last_reply_ms.store(self.ms(now), Ordering::Relaxed);
        self.unanswered.store(0, Ordering::Relaxed);
    }

    /// A query's share of the timeout ran out without a reply.
    pub fn unanswered(&self) {
        self.unanswered.fetch_add(1, Ordering::Relaxed);
    }

    /// Whether the server is silent at `now`.
    pub fn is_silent(&self, now: Instant) -> bool {
        let quiet = self.ms(now) - self.last_reply_ms.load(Ordering::Relaxed).min(self.ms(now));
        self.unanswered.load(Ordering::Relaxed) >= SILENT_AFTER
            && quiet >= SILENT_FOR.as_millis() as u64
    }

    /// Whether a query may be sent at `now`: always, unless the server is silent; then only as
    /// the probe of its [`PROBE_EVERY`].
    pub fn may_send(&self, now: Instant) -> bool {
        if !self.is_silent(now) {
            return true;
        }
        let (now_ms, every) = (self.ms(now), PROBE_EVERY.as_millis() as u64);
        let last = self.last_probe_ms.load(Ordering::Relaxed);
        now_ms.saturating_sub(last) >= every
            && self
                .last_probe_ms
                .compare_exchange(last, now_ms, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_is_silent_after_unanswered_queries_and_a_quiet_second_then_probed() {
        let silence = Silence::default();
        let t0 = silence.epoch + Duration::from_secs(10);
        silence.replied(t0);
        for _ in 0..SILENT_AFTER {
            assert!(
                !silence.is_silent(t0 + SILENT_FOR),
                "not before the queries are unanswered"
            );
            silence.unanswered();
        }
        assert!(!silence.is_silent(t0 + SILENT_FOR - Duration::from_millis(1)));
        let silent = t0 + SILENT_FOR;
        assert!(silence.is_silent(silent));
        // One probe per PROBE_EVERY.
        assert!(silence.may_send(silent));
        assert!(!silence.may_send(silent + PROBE_EVERY - Duration::from_millis(1)));
        assert!(silence.may_send(silent + PROBE_EVERY));
        // A reply ends it at once.
        silence.replied(silent + PROBE_EVERY);
        assert!(!silence.is_silent(silent + PROBE_EVERY + SILENT_FOR));
        assert!((0..10).all(|_| silence.may_send(silent + PROBE_EVERY)));
    }

    #[test]
    fn a_server_that_answers_some_queries_is_never_silent() {
        let silence = Silence::default();
        let t0 = silence.epoch;
        for i in 0..100u32 {
            silence.unanswered();
            if i % 10 == 0 {
                silence.replied(t0 + Duration::from_millis(u64::from(i) * 50));
            }
        }
        assert!(!silence.is_silent(t0 + Duration::from_millis(4600)));
    }
}
