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
        let client = client.to_canonical();
        let now = self.epoch.elapsed().as_secs_f64();
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
}
