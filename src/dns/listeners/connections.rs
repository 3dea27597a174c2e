//! The open TCP connections, bounded in number.
//!
//! At the limit a new connection takes the place of the one that has been idle the longest
//! (RFC 7766 6.2.3: a server may close idle connections to make room), so clients that open
//! connections and sit on them cannot lock others out. Only when every connection is busy
//! answering is the new one closed instead. Either way the number of sockets stays bounded.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio_util::sync::CancellationToken;

use crate::sync::lock;

/// `idle_since` of a connection that is answering a query.
const BUSY: u64 = u64::MAX;

/// The registry of open connections.
pub struct Connections {
    limit: usize,
    epoch: Instant,
    next_id: AtomicU64,
    open: Mutex<HashMap<u64, Arc<Connection>>>,
}

/// One open connection, as the registry sees it.
pub struct Connection {
    /// Microseconds since the registry's epoch at which it last became idle, or [`BUSY`].
    idle_since: AtomicU64,
    /// Cancelled when the connection must close to make room.
    pub evicted: CancellationToken,
}

/// A connection's place in the registry; dropping it frees the place.
pub struct Slot {
    registry: Arc<Connections>,
    id: u64,
    pub connection: Arc<Connection>,
}

impl Connections {
    pub fn new(limit: usize) -> Arc<Self> {
        Arc::new(Self {
            limit,
            epoch: Instant::now(),
            next_id: AtomicU64::new(0),
            open: Mutex::default(),
        })
    }

    /// A place for a new connection, evicting the longest-idle one if needed; `None` when
    /// all are busy.
    pub fn admit(self: &Arc<Self>) -> Option<Slot> {
        let mut open = lock(&self.open);
        if open.len() >= self.limit {
            let (&oldest, _) = open
                .iter()
                .filter(|(_, c)| c.idle_since.load(Ordering::Relaxed) != BUSY)
                .min_by_key(|(_, c)| c.idle_since.load(Ordering::Relaxed))?;
            let evicted = open.remove(&oldest).expect("found above");
            evicted.evicted.cancel();
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let connection = Arc::new(Connection {
            idle_since: AtomicU64::new(self.now()),
            evicted: CancellationToken::new(),
        });
        open.insert(id, connection.clone());
        Some(Slot {
            registry: self.clone(),
            id,
            connection,
        })
    }

    fn now(&self) -> u64 {
        self.epoch.elapsed().as_micros() as u64
    }
}

impl Slot {
    /// The connection is answering a query: not to be evicted.
    pub fn busy(&self) {
        self.connection.idle_since.store(BUSY, Ordering::Relaxed);
    }

    /// The connection is waiting for its client.
    pub fn idle(&self) {
        let now = self.registry.now();
        self.connection.idle_since.store(now, Ordering::Relaxed);
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        lock(&self.registry.open).remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Connections {
        fn len(&self) -> usize {
            lock(&self.open).len()
        }
    }

    #[test]
    fn the_longest_idle_connection_makes_room_and_busy_ones_are_kept() {
        let registry = Connections::new(2);
        let first = registry.admit().unwrap();
        let second = registry.admit().unwrap();
        second.idle(); // more recently idle than `first`
        let third = registry.admit().expect("room made");
        assert!(first.connection.evicted.is_cancelled());
        assert!(!second.connection.evicted.is_cancelled());
        assert_eq!(registry.len(), 2);

        second.busy();
        third.busy();
        assert!(
            registry.admit().is_none(),
            "all busy: the newcomer is refused"
        );
        assert_eq!(registry.len(), 2);
        drop(third);
        assert_eq!(registry.len(), 1);
        drop(first); // already evicted: dropping its slot is harmless
        assert_eq!(registry.len(), 1);
    }
}
