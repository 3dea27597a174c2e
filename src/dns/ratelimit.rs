//! An optional per-client rate limit: a token bucket per source address.
//!
//! Meant for DHCP mode, where every host of a VPC sends its queries here and one runaway client
//! could use up the VPC resolver's 1024 packets per second for everyone. Off by default.
//! Queries over the limit are dropped without a reply: a reply would make us a reflector.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

use crate::config::Rate;
use crate::sync::lock;

/// Clients tracked at most; beyond that, clients with a full bucket are forgotten first.
const MAX_CLIENTS: usize = 100_000;

/// Buckets by client address.
#[derive(Debug)]
pub struct RateLimiter {
    rate: Rate,
    epoch: Instant,
    clients: Mutex<HashMap<IpAddr, Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    /// Seconds since the epoch at the last refill.
    at: f64,
}

impl RateLimiter {
    pub fn new(rate: Rate) -> Self {
        Self {
            rate,
            epoch: Instant::now(),
            clients: Mutex::default(),
        }
    }

    /// Whether a query from `client` is within its rate (and takes a token if so).
    pub fn allow(&self, client: IpAddr) -> bool {
        self.allow_at(client, self.epoch.elapsed().as_secs_f64())
    }

    /// `allow` at `now` seconds since the epoch (tests choose the time).
    fn allow_at(&self, client: IpAddr, now: f64) -> bool {
        let client = client.to_canonical();
        let (per_second, burst) = (
            f64::from(self.rate.queries_per_second),
            f64::from(self.rate.burst),
        );
        let mut clients = lock(&self.clients);
        if clients.len() >= MAX_CLIENTS && !clients.contains_key(&client) {
            // Forget clients whose bucket has refilled: they lose nothing by it.
            clients.retain(|_, b| b.tokens + (now - b.at) * per_second < burst);
            if clients.len() >= MAX_CLIENTS {
                // Still full of active clients: do not grow; let the newcomer through.
                return true;
            }
        }
        let bucket = clients.entry(client).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        bucket.tokens = (bucket.tokens + (now - bucket.at) * per_second).min(burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_gets_its_burst_then_is_limited_while_others_are_not() {
        // One token a second: at most one refills while the loop runs.
        let limiter = RateLimiter::new(Rate {
            queries_per_second: 1,
            burst: 5,
        });
        let noisy: IpAddr = "10.0.0.1".parse().unwrap();
        let quiet: IpAddr = "10.0.0.2".parse().unwrap();
        let allowed = (0..50).filter(|_| limiter.allow(noisy)).count();
        // The burst, plus at most a token refilled while the loop ran.
        assert!((5..=6).contains(&allowed), "{allowed}");
        assert!(limiter.allow(quiet));
        // An IPv4-mapped IPv6 source is the same client.
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        assert!(!limiter.allow(mapped));
    }

    #[test]
    fn a_bucket_refills_at_the_rate_up_to_the_burst() {
        let limiter = RateLimiter::new(Rate {
            queries_per_second: 10,
            burst: 2,
        });
        let client: IpAddr = "10.0.0.1".parse().unwrap();
        let at = |t: f64| limiter.allow_at(client, t);
        assert_eq!([at(0.0), at(0.0), at(0.0)], [true, true, false]);
        // Half a token by 0.05 s, a whole one by 0.1 s.
        assert!(!at(0.05));
        assert!(at(0.1));
        // A long quiet while refills the burst, no more.
        assert_eq!([at(100.0), at(100.0), at(100.0)], [true, true, false]);
    }

    /// A limiter tracking `MAX_CLIENTS` clients, each having asked once.
    fn full(rate: Rate) -> RateLimiter {
        full_at(rate, 0.0)
    }

    /// The same, every client having asked at `t`.
    fn full_at(rate: Rate, t: f64) -> RateLimiter {
        let limiter = RateLimiter::new(rate);
        for i in 0..MAX_CLIENTS as u32 {
            assert!(limiter.allow_at(IpAddr::from((0x0a00_0000 + i).to_be_bytes()), t));
        }
        assert_eq!(lock(&limiter.clients).len(), MAX_CLIENTS);
        limiter
    }

    #[test]
    fn a_full_table_of_active_clients_does_not_grow_and_lets_a_newcomer_through() {
        let limiter = full(Rate {
            queries_per_second: 1,
            burst: 2,
        });
        let newcomer: IpAddr = "192.0.2.1".parse().unwrap();
        assert!(
            (0..10).all(|_| limiter.allow(newcomer)),
            "untracked: never limited"
        );
        let clients = lock(&limiter.clients);
        assert_eq!(clients.len(), MAX_CLIENTS);
        assert!(!clients.contains_key(&newcomer));
    }

    #[test]
    fn clients_whose_bucket_refilled_are_forgotten_to_make_room() {
        let limiter = full(Rate {
            queries_per_second: 1,
            burst: 2,
        });
        // Every bucket full again, as after a quiet while.
        for bucket in lock(&limiter.clients).values_mut() {
            bucket.tokens = 2.0;
        }
        let newcomer: IpAddr = "192.0.2.1".parse().unwrap();
        let allowed = (0..10).filter(|_| limiter.allow(newcomer)).count();
        assert_eq!(allowed, 2, "tracked, so limited to its burst");
        assert_eq!(lock(&limiter.clients).len(), 1);
    }

    #[test]
    fn a_full_table_forgets_clients_once_their_bucket_has_refilled_by_time() {
        // Four tokens a second, burst 2: each client holds one token after asking at 10 s,
        // and is full again at 10.25 s.
        let rate = Rate {
            queries_per_second: 4,
            burst: 2,
        };
        let limiter = full_at(rate, 10.0);
        let newcomer: IpAddr = "192.0.2.1".parse().unwrap();
        assert!(limiter.allow_at(newcomer, 10.1));
        assert!(
            !lock(&limiter.clients).contains_key(&newcomer),
            "at 10.1 s every bucket is still refilling: nobody is forgotten"
        );
        assert!(limiter.allow_at(newcomer, 10.25));
        let clients = lock(&limiter.clients);
        assert_eq!(clients.len(), 1, "at 10.25 s every bucket is full again");
        assert!(clients.contains_key(&newcomer));
    }
}
