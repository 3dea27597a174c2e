//! Request coalescing: one upstream query for every identical question asked while it is on
//! its way, which spares the VPC resolver's 1024 packets per second per ENI under bursts.
//!
//! The first query for a question (by cache key) boards as the leader and gets the [`Flight`];
//! everyone who asks the same before it lands boards as a follower and waits. Landing the
//! flight hands its answer (or `None`: SERVFAIL) to every follower; a leader dropped before
//! landing lands `None`, so nobody waits forever.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::oneshot;

use crate::dns::cache::{self, Answer};
use crate::sync::lock;

/// What the queries waiting on one upstream question receive: the answer, or `None` (SERVFAIL).
pub type Landing = Option<Arc<Answer>>;

/// A follower: told the landing, it answers its own client.
pub type Waiter = Box<dyn FnOnce(Landing) + Send>;

type Board = HashMap<cache::Key, Vec<Waiter>>;

/// Questions on their way upstream, with who waits for each.
#[derive(Default)]
pub struct Flights(Arc<Mutex<Board>>);

impl std::fmt::Debug for Flights {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Flights")
            .field("in_flight", &lock(&self.0).len())
            .finish()
    }
}

/// How a query boarded.
pub enum Seat<'a> {
    /// It asks upstream, and lands the flight.
    Leader(Flight),
    /// The question is already on its way: wait for it.
    Follower(Follower<'a>),
}

impl Flights {
    /// Joins the flight for `key`, or starts it.
    pub fn board(&self, key: &cache::Key) -> Seat<'_> {
        let mut board = lock(&self.0);
        if board.contains_key(key) {
            let key = key.clone();
            return Seat::Follower(Follower { board, key });
        }
        board.insert(key.clone(), Vec::new());
        Seat::Leader(Flight {
            board: self.0.clone(),
            key: Some(key.clone()),
        })
    }

    /// Questions on their way now.
    pub fn len(&self) -> usize {
        lock(&self.0).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A follower's seat, held under the board's lock until it says how it waits (so the flight
/// cannot land in between).
pub struct Follower<'a> {
    board: MutexGuard<'a, Board>,
    key: cache::Key,
}

impl Follower<'_> {
    /// Waits by being called back from whoever lands the flight.
    pub fn wait(mut self, waiter: Waiter) {
        if let Some(waiters) = self.board.get_mut(&self.key) {
            waiters.push(waiter);
        }
    }

    /// Waits in a task: the receiver yields the landing (or an error, read as `None`, should
    /// the flight vanish).
    pub fn wait_task(self) -> oneshot::Receiver<Landing> {
        let (tell, landed) = oneshot::channel();
        self.wait(Box::new(move |landing| {
            let _ = tell.send(landing);
        }));
        landed
    }
}

/// A question on its way upstream, held by the query that asked it.
pub struct Flight {
    board: Arc<Mutex<Board>>,
    key: Option<cache::Key>,
}

impl Flight {
    /// Tells every follower the landing. Whoever caches the answer does so first, so that
    /// nobody asks again in between.
    pub fn land(mut self, landing: Landing) {
        if let Some(key) = self.key.take() {
            settle(&self.board, &key, landing);
        }
    }
}

impl Drop for Flight {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            settle(&self.board, &key, None);
        }
    }
}

/// Ends the flight of `key`; the waiters are called outside the lock.
fn settle(board: &Mutex<Board>, key: &cache::Key, landing: Landing) {
    let waiters = lock(board).remove(key).unwrap_or_default();
    for waiter in waiters {
        waiter(landing.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn key(name: &str) -> cache::Key {
        cache::key(name.as_bytes(), 1, 1, 0)
    }

    fn leader(seat: Seat<'_>) -> Flight {
        match seat {
            Seat::Leader(flight) => flight,
            Seat::Follower(_) => panic!("expected to lead"),
        }
    }

    fn follower(seat: Seat<'_>) -> Follower<'_> {
        match seat {
            Seat::Follower(f) => f,
            Seat::Leader(_) => panic!("expected to follow"),
        }
    }

    fn answer() -> Arc<Answer> {
        // A minimal NOERROR reply with the question `a.` IN A.
        let reply = [
            0, 1, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0, 1, b'a', 0, 0, 1, 0, 1,
        ];
        let layout = crate::dns::wire::layout(&reply, reply.len()).expect("layout");
        Arc::new(Answer::from_upstream(&reply, reply.len(), layout).expect("answer"))
    }

    #[test]
    fn followers_get_the_leaders_landing_and_the_flight_ends() {
        let flights = Flights::default();
        let k = key("a");
        let flight = leader(flights.board(&k));
        let told = Arc::new(AtomicUsize::new(0));
        for _ in 0..3 {
            let told = told.clone();
            follower(flights.board(&k)).wait(Box::new(move |landing| {
                assert!(landing.is_some());
                told.fetch_add(1, Ordering::Relaxed);
            }));
        }
        let landed = follower(flights.board(&k)).wait_task();
        assert_eq!(
            told.load(Ordering::Relaxed),
            0,
            "nobody is told before landing"
        );
        flight.land(Some(answer()));
        assert_eq!(told.load(Ordering::Relaxed), 3);
        assert!(landed.blocking_recv().expect("told").is_some());
        assert!(flights.is_empty());
        // The next query for the question asks again.
        assert!(matches!(flights.board(&k), Seat::Leader(_)));
    }

    #[test]
    fn a_dropped_leader_lands_nothing() {
        let flights = Flights::default();
        let k = key("a");
        let flight = leader(flights.board(&k));
        let landed = follower(flights.board(&k)).wait_task();
        drop(flight);
        assert!(landed.blocking_recv().expect("told").is_none());
        assert!(flights.is_empty());
    }

    #[test]
    fn different_questions_fly_apart() {
        let flights = Flights::default();
        assert!(flights.is_empty());
        let (a, b) = (key("a"), key("b"));
        let _fa = leader(flights.board(&a));
        assert!(!flights.is_empty());
        let _fb = leader(flights.board(&b));
        assert_eq!(flights.len(), 2);
        assert_eq!(format!("{flights:?}"), "Flights { in_flight: 2 }");
    }
}
