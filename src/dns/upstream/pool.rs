//! Long-lived UDP sockets to one upstream server, shared by many queries, and the thread that
//! reads them.
//!
//! Opening, connecting and registering a socket for every query cost more CPU than relaying
//! the query itself. So each server gets [`POOL_SIZE`] sockets, each connected to the server
//! (the kernel drops datagrams from anyone else). A query gets a random ID not in flight on its
//! socket, and a reply is handed over only if its ID and question both match; anything else is
//! ignored.
//!
//! One thread per server (the receiver) reads all of that server's sockets and settles what
//! waits there. A relayed query ([`UdpPool::relay`]) is settled on that thread: the listener
//! thread that received the client's query sends it upstream, and the receiver answers the
//! client, so the common case crosses threads once, as the fastest forwarders do; the receiver
//! also keeps its deadlines. A query from a task ([`UdpPool::exchange`]: TCP clients, failover,
//! diagnostics) is handed its reply through a channel and keeps its own deadline.
//!
//! A socket is retired after [`SOCKET_BUDGET`] queries or [`SOCKET_MAX_AGE`], whichever comes
//! first, and replaced by one on a new random port: an off-path attacker must guess port and
//! ID together, and never has long to do it. A retired socket keeps being read until its last
//! query has ended.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Registry, Token, Waker};
use tokio::sync::oneshot;
use tracing::warn;

use super::silence::Silence;
use super::{
    Match, Progress, Received, Relayed, Reply, UpstreamError, UpstreamQuery,
    error_without_question, matches,
};
use crate::dns::wire;
use crate::sync::lock;

/// Sockets per upstream server.
pub const POOL_SIZE: usize = 4;
/// Queries a socket sends before it is replaced.
pub const SOCKET_BUDGET: u32 = 100;
/// How long a socket takes new queries before it is replaced.
pub const SOCKET_MAX_AGE: Duration = Duration::from_secs(30);
/// Receive buffer for an upstream UDP reply: room for what we advertise and then some. A
/// datagram that fills it is taken as oversized and the query is retried over TCP.
const UDP_REPLY_BUFFER: usize = 4096;
/// The longest the receiver sleeps with nothing due (an idle server wakes it once a second).
/// A relayed query whose deadline is nearer than this when it is entered wakes it (see
/// [`UdpPool::relay`]), so no deadline is missed; with the default timeout none is.
const IDLE_WAIT: Duration = Duration::from_secs(1);
/// The receiver's wake-up token (sockets count up from 0).
const WAKE: Token = Token(usize::MAX);

/// What a task's query receives: the reply, `None` when it did not fit the buffer, or the
/// socket's error (an ICMP error such as "port unreachable" arrives on the socket, not on a
/// query, so it ends every query waiting there).
type Delivery = io::Result<Option<Received>>;

/// The sockets to one server.
pub struct UdpPool {
    shared: Arc<Shared>,
}

/// What the pool and its receiver thread share.
struct Shared {
    server: SocketAddr,
    /// Queries per socket before it is replaced ([`SOCKET_BUDGET`]; tests lower it).
    budget: u32,
    slots: Vec<Mutex<Option<Slot>>>,
    next: AtomicUsize,
    /// The receiver, started with the first query.
    receiver: OnceLock<io::Result<Receiver>>,
    /// Every open socket, by its token: the receiver reads these.
    channels: Mutex<HashMap<Token, Arc<Channel>>>,
    next_token: AtomicUsize,
    /// The first-attempt deadlines of the relayed queries waiting, the earliest first, with
    /// where each waits. An entry leaves when its query is settled, so this holds only what
    /// is in flight.
    deadlines: Mutex<BTreeMap<(Instant, u64), (Token, u16)>>,
    next_seq: AtomicU64,
    closed: AtomicBool,
    /// Whether the server has gone silent (see [`Silence`]).
    silence: Silence,
}

/// The receiver thread's handles: where sockets are registered, and how to wake it.
struct Receiver {
    registry: Registry,
    waker: Waker,
}

/// A pool position: the socket in use and how many queries it has sent.
struct Slot {
    channel: Arc<Channel>,
    issued: u32,
}

/// One socket and the queries waiting on it.
struct Channel {
    socket: UdpSocket,
    token: Token,
    born: Instant,
    waiting: Mutex<Waiting>,
}

#[derive(Default)]
struct Waiting {
    by_id: HashMap<u16, Waiter>,
    retired: bool,
}

/// A query waiting for its reply.
enum Waiter {
    /// A task's query: its reply goes through the channel.
    Task {
        name_wire: Box<[u8]>,
        qtype: u16,
        qclass: u16,
        deliver: oneshot::Sender<Delivery>,
    },
    /// A relayed query, settled by the receiver.
    Relay(Relay),
}

/// A relayed query waiting on a socket. `seq` tells its deadline entry apart from that of a
/// later query that got the same ID.
struct Relay {
    job: Box<dyn Relayed>,
    seq: u64,
    /// When the first server's share is up: its key in [`Shared::deadlines`].
    first_deadline: Instant,
    /// When every server's time is up (for the slow path to carry on).
    overall: Instant,
}

impl UdpPool {
    pub fn new(server: SocketAddr) -> Self {
        Self::with_budget(server, SOCKET_BUDGET)
    }

    /// A pool whose sockets are replaced after `budget` queries each.
    pub fn with_budget(server: SocketAddr, budget: u32) -> Self {
        Self {
            shared: Arc::new(Shared {
                server,
                budget: budget.max(1),
                slots: (0..POOL_SIZE).map(|_| Mutex::new(None)).collect(),
                next: AtomicUsize::new(0),
                receiver: OnceLock::new(),
                channels: Mutex::default(),
                next_token: AtomicUsize::new(0),
                deadlines: Mutex::default(),
                next_seq: AtomicU64::new(0),
                closed: AtomicBool::new(false),
                silence: Silence::default(),
            }),
        }
    }

    /// The server's replies and unanswered queries.
    pub fn silence(&self) -> &Silence {
        &self.shared.silence
    }

    /// One UDP exchange from a task; `Ok(None)` when the reply did not fit the buffer.
    ///
    /// Cancel-safe: dropping the future forgets the query.
    pub async fn exchange(&self, question: &UpstreamQuery<'_>) -> io::Result<Option<Received>> {
        let (deliver, replied) = oneshot::channel();
        let waiter = Waiter::Task {
            name_wire: question.name_wire.into(),
            qtype: question.qtype,
            qclass: question.qclass,
            deliver,
        };
        let (channel, id) = self.shared.register(waiter).map_err(|(_, e)| e)?;
        let registration = Registration {
            shared: self.shared.clone(),
            channel,
            id,
        };
        registration.channel.socket.send(&question.encode(id))?;
        replied
            .await
            .unwrap_or_else(|_| Err(io::Error::other("upstream socket closed")))
    }

    /// Sends `job`'s question and leaves the rest to the receiver thread: the job is told the
    /// reply, or, should there be no usable one by `first_deadline` (or an error reply, a
    /// truncated one, a socket error), where to carry on. Never blocks.
    pub fn relay(&self, job: Box<dyn Relayed>, first_deadline: Instant, overall: Instant) {
        let shared = &self.shared;
        // Encoded with ID 0, which is filled in once the socket has given the query its ID.
        let mut msg = job.question().encode(0);
        let seq = shared.next_seq.fetch_add(1, Ordering::Relaxed);
        let waiter = Waiter::Relay(Relay {
            job,
            seq,
            first_deadline,
            overall,
        });
        let (channel, id) = match shared.register(waiter) {
            Ok(entered) => entered,
            Err((Waiter::Relay(Relay { job, .. }), e)) => {
                return job.unsettled(shared.failed(e, overall));
            }
            Err(_) => unreachable!("register gives back the waiter it was given"),
        };
        msg[..2].copy_from_slice(&id.to_be_bytes());
        // The receiver sleeps until the earliest deadline it knew of (at most IDLE_WAIT): wake
        // it if this one comes sooner.
        let wake = {
            let mut deadlines = lock(&shared.deadlines);
            let earliest = deadlines.first_key_value().map(|(&(at, _), _)| at);
            deadlines.insert((first_deadline, seq), (channel.token, id));
            first_deadline < earliest.unwrap_or_else(|| Instant::now() + IDLE_WAIT)
        };
        if wake {
            shared.wake();
        }
        if let Err(e) = channel.socket.send(&msg) {
            // Take it back (unless it was settled meanwhile) and say where to carry on.
            if let Some(Waiter::Relay(Relay { job, .. })) = channel.take(id, Some(seq)) {
                shared.closed_if_drained(&channel);
                shared.unschedule(first_deadline, seq);
                job.unsettled(shared.failed(e, overall));
            }
        }
    }
}

impl Drop for UdpPool {
    fn drop(&mut self) {
        self.shared.closed.store(true, Ordering::Release);
        for slot in &self.shared.slots {
            if let Some(slot) = lock(slot).take() {
                self.shared.retire(&slot.channel);
            }
        }
        self.shared.wake();
    }
}

impl fmt::Debug for UdpPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UdpPool")
            .field("server", &self.shared.server)
            .finish_non_exhaustive()
    }
}

impl Shared {
    /// Enters a query on the socket for the next query, replacing a worn-out one first; gives
    /// the waiter back when there is no socket to put it on.
    ///
    /// Both happen under the slot's lock, and only the slot's lock retires a socket: a socket
    /// is never retired (and closed) between being chosen for a query and having that query on
    /// it, which would leave the query waiting out its whole timeout.
    fn register(
        self: &Arc<Self>,
        waiter: Waiter,
    ) -> Result<(Arc<Channel>, u16), (Waiter, io::Error)> {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.slots.len();
        let mut slot = lock(&self.slots[i]);
        let worn = slot
            .as_ref()
            .is_none_or(|s| s.issued >= self.budget || s.channel.born.elapsed() >= SOCKET_MAX_AGE);
        if worn {
            let fresh = match self.open() {
                Ok(fresh) => fresh,
                Err(e) => return Err((waiter, e)),
            };
            if let Some(old) = slot.replace(Slot {
                channel: fresh,
                issued: 0,
            }) {
                self.retire(&old.channel);
            }
        }
        let slot = slot.as_mut().expect("a socket was just put in place");
        slot.issued += 1;
        let id = slot.channel.enter(waiter)?;
        Ok((slot.channel.clone(), id))
    }

    /// A new socket on a random port, connected to the server and read by the receiver.
    fn open(self: &Arc<Self>) -> io::Result<Arc<Channel>> {
        let receiver = self
            .receiver
            .get_or_init(|| Receiver::start(self.clone()))
            .as_ref()
            .map_err(|e| io::Error::new(e.kind(), e.to_string()))?;
        let local: SocketAddr = if self.server.is_ipv4() {
            (Ipv4Addr::UNSPECIFIED, 0).into()
        } else {
            (Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let socket = UdpSocket::bind(local)?;
        socket.connect(self.server)?;
        socket.set_nonblocking(true)?;
        let token = Token(self.next_token.fetch_add(1, Ordering::Relaxed));
        let channel = Arc::new(Channel {
            socket,
            token,
            born: Instant::now(),
            waiting: Mutex::default(),
        });
        lock(&self.channels).insert(token, channel.clone());
        let fd = channel.socket.as_raw_fd();
        if let Err(e) = receiver
            .registry
            .register(&mut SourceFd(&fd), token, Interest::READABLE)
        {
            lock(&self.channels).remove(&token);
            return Err(e);
        }
        Ok(channel)
    }

    /// Takes no new queries on `channel`; closes it once the last waiting one has ended.
    fn retire(&self, channel: &Channel) {
        let drained = {
            let mut waiting = lock(&channel.waiting);
            waiting.retired = true;
            waiting.by_id.is_empty()
        };
        if drained {
            self.close(channel.token);
        }
    }

    /// Stops reading a socket and closes it (once nothing else holds it).
    fn close(&self, token: Token) {
        let Some(channel) = lock(&self.channels).remove(&token) else {
            return;
        };
        if let Some(Ok(receiver)) = self.receiver.get() {
            let fd = channel.socket.as_raw_fd();
            let _ = receiver.registry.deregister(&mut SourceFd(&fd));
        }
    }

    fn wake(&self) {
        if let Some(Ok(receiver)) = self.receiver.get() {
            let _ = receiver.waker.wake();
        }
    }

    /// Where a relayed query carries on when the first server failed with `e`.
    fn failed(&self, e: io::Error, overall: Instant) -> Progress {
        Progress {
            last_error: Some(UpstreamError::Io {
                server: self.server,
                source: e,
            }),
            ..Progress::after_first(overall)
        }
    }

    /// The receiver's loop: reads the sockets, settles what arrives, and expires deadlines,
    /// until the pool is dropped.
    fn receive(&self, mut poll: Poll) {
        let mut events = Events::with_capacity(64);
        let mut buf = vec![0u8; UDP_REPLY_BUFFER];
        while !self.closed.load(Ordering::Acquire) {
            let wait = lock(&self.deadlines)
                .first_key_value()
                .map_or(IDLE_WAIT, |((at, _), _)| {
                    at.saturating_duration_since(Instant::now())
                });
            if let Err(e) = poll.poll(&mut events, Some(wait.min(IDLE_WAIT))) {
                if e.kind() != io::ErrorKind::Interrupted {
                    warn!(error = %e, "upstream receiver cannot wait for replies");
                    std::thread::sleep(Duration::from_millis(10));
                }
                continue;
            }
            for event in events.iter() {
                if event.token() == WAKE {
                    continue;
                }
                let channel = lock(&self.channels).get(&event.token()).cloned();
                if let Some(channel) = channel {
                    self.drain(&channel, &mut buf);
                }
            }
            self.expire();
        }
    }

    /// Reads every datagram waiting on a socket (readiness is edge-triggered).
    fn drain(&self, channel: &Channel, buf: &mut [u8]) {
        loop {
            match channel.socket.recv(buf) {
                Ok(n) => self.deliver(channel, &buf[..n], n == buf.len()),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => self.fail_all(channel, &e),
            }
        }
    }

    /// Hands a datagram to the query it answers, if any.
    fn deliver(&self, channel: &Channel, datagram: &[u8], filled_buffer: bool) {
        if datagram.len() < wire::HEADER_LEN {
            return;
        }
        let id = wire::id(datagram);
        let (waiter, matched) = {
            let mut waiting = lock(&channel.waiting);
            let Some(w) = waiting.by_id.get(&id) else {
                return; // late, or forged
            };
            let matched = match w {
                Waiter::Task {
                    name_wire,
                    qtype,
                    qclass,
                    ..
                } => matches(datagram, id, name_wire, *qtype, *qclass),
                Waiter::Relay(relay) => relay.job.question().matched_by(datagram, id),
            };
            // Right ID, wrong question: ignore it and keep waiting for the real reply.
            let Some(matched) = matched else { return };
            (waiting.by_id.remove(&id).expect("looked up above"), matched)
        };
        self.closed_if_drained(channel);
        self.silence.replied(Instant::now());
        match waiter {
            Waiter::Task { deliver, .. } => {
                let delivery = match matched {
                    Match::Reply(q) => Ok((!filled_buffer).then(|| Received {
                        bytes: datagram.to_vec(),
                        question_end: q.end(),
                    })),
                    Match::ErrorWithoutQuestion(rcode) => Err(error_without_question(rcode)),
                };
                let _ = deliver.send(delivery);
            }
            Waiter::Relay(relay) => {
                let (job, overall) = self.unscheduled(relay);
                self.settle(job, overall, datagram, filled_buffer, matched);
            }
        }
    }

    /// A relayed query's first reply: usable as it is, or where to carry on (the same rules
    /// as [`super::Upstreams::query_from`]).
    fn settle(
        &self,
        job: Box<dyn Relayed>,
        overall: Instant,
        datagram: &[u8],
        filled_buffer: bool,
        matched: Match,
    ) {
        let q = match matched {
            Match::Reply(q) => q,
            Match::ErrorWithoutQuestion(rcode) => {
                return job.unsettled(self.failed(error_without_question(rcode), overall));
            }
        };
        if filled_buffer || wire::is_truncated(datagram) {
            // Truncated, or larger than we advertised: the same server again, over TCP.
            return job.unsettled(Progress {
                next: 0,
                tcp_first: true,
                ..Progress::after_first(overall)
            });
        }
        let received = Received {
            bytes: datagram.to_vec(),
            question_end: q.end(),
        };
        match Reply::walk(received, self.server) {
            Ok(reply) if !reply.is_error() => job.answered(reply),
            Ok(reply) => job.unsettled(Progress {
                error_reply: Some(reply),
                ..Progress::after_first(overall)
            }),
            Err(e) => job.unsettled(Progress {
                last_error: Some(e),
                ..Progress::after_first(overall)
            }),
        }
    }

    /// Ends every query waiting on a socket with its error.
    fn fail_all(&self, channel: &Channel, error: &io::Error) {
        let waiters: Vec<Waiter> = lock(&channel.waiting)
            .by_id
            .drain()
            .map(|(_, w)| w)
            .collect();
        self.closed_if_drained(channel);
        for waiter in waiters {
            let error = io::Error::new(error.kind(), error.to_string());
            match waiter {
                Waiter::Task { deliver, .. } => {
                    let _ = deliver.send(Err(error));
                }
                Waiter::Relay(relay) => {
                    let (job, overall) = self.unscheduled(relay);
                    job.unsettled(self.failed(error, overall));
                }
            }
        }
    }

    /// Takes a settled relayed query's deadline out of the schedule.
    fn unschedule(&self, first_deadline: Instant, seq: u64) {
        lock(&self.deadlines).remove(&(first_deadline, seq));
    }

    /// A relayed query taken off the deadlines: its job, and when every server's time is up.
    fn unscheduled(&self, relay: Relay) -> (Box<dyn Relayed>, Instant) {
        self.unschedule(relay.first_deadline, relay.seq);
        (relay.job, relay.overall)
    }

    /// Relayed queries whose first server did not answer in its share: the next server's turn.
    fn expire(&self) {
        let now = Instant::now();
        loop {
            let (token, id, seq) = {
                let mut deadlines = lock(&self.deadlines);
                match deadlines.first_key_value() {
                    Some(((at, _), _)) if *at <= now => {
                        let ((_, seq), (token, id)) = deadlines.pop_first().expect("looked at");
                        (token, id, seq)
                    }
                    _ => return,
                }
            };
            let channel = lock(&self.channels).get(&token).cloned();
            let Some(channel) = channel else { continue };
            if let Some(Waiter::Relay(Relay { job, overall, .. })) = channel.take(id, Some(seq)) {
                self.closed_if_drained(&channel);
                self.silence.unanswered();
                job.unsettled(Progress::after_first(overall));
            }
        }
    }

    fn closed_if_drained(&self, channel: &Channel) {
        let drained = {
            let waiting = lock(&channel.waiting);
            waiting.retired && waiting.by_id.is_empty()
        };
        if drained {
            self.close(channel.token);
        }
    }
}

impl Receiver {
    /// The receiver thread for `shared`'s sockets.
    fn start(shared: Arc<Shared>) -> io::Result<Self> {
        let poll = Poll::new()?;
        let registry = poll.registry().try_clone()?;
        let waker = Waker::new(poll.registry(), WAKE)?;
        // The thread holds the shared state, not the pool: dropping the pool stops it.
        std::thread::Builder::new()
            .name("bedrock-link-upstream".into())
            .spawn(move || shared.receive(poll))?;
        Ok(Self { registry, waker })
    }
}

impl Channel {
    /// Enters a waiter under a fresh random ID.
    fn enter(&self, waiter: Waiter) -> Result<u16, (Waiter, io::Error)> {
        let mut waiting = lock(&self.waiting);
        // Far more than max_inflight allows; the loop below always finds a free ID quickly.
        if waiting.by_id.len() >= usize::from(u16::MAX) / 2 {
            let e = io::Error::other("too many queries waiting on one socket");
            return Err((waiter, e));
        }
        let id = loop {
            let id: u16 = rand::random();
            if !waiting.by_id.contains_key(&id) {
                break id;
            }
        };
        waiting.by_id.insert(id, waiter);
        Ok(id)
    }

    /// Takes the waiter with this ID out, if it is still there (and, for a relayed query, is
    /// the one entered as `seq`).
    fn take(&self, id: u16, seq: Option<u64>) -> Option<Waiter> {
        let mut waiting = lock(&self.waiting);
        let same = match (waiting.by_id.get(&id), seq) {
            (Some(Waiter::Relay(Relay { seq: s, .. })), Some(seq)) => *s == seq,
            (Some(_), None) => true,
            _ => false,
        };
        if same {
            waiting.by_id.remove(&id)
        } else {
            None
        }
    }
}

/// A task's place on a socket, removed when the query ends (answered, timed out or dropped).
struct Registration {
    shared: Arc<Shared>,
    channel: Arc<Channel>,
    id: u16,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.channel.take(self.id, None);
        self.shared.closed_if_drained(&self.channel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A UDP server on loopback that answers every query at once (QR set, same ID and
    /// question, no records).
    async fn responder() -> SocketAddr {
        let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 512];
            while let Ok((n, from)) = socket.recv_from(&mut buf).await {
                buf[2] |= 0x80;
                let _ = socket.send_to(&buf[..n], from).await;
            }
        });
        addr
    }

    fn name_wire(name: &str) -> Vec<u8> {
        let mut out = Vec::new();
        for label in name.split('.') {
            out.push(label.len() as u8);
            out.extend_from_slice(label.as_bytes());
        }
        out.push(0);
        out
    }

    // With a budget of one query per socket, every query replaces the socket the one before
    // it used, from several threads at once: none may land on a socket retired (and no longer
    // read) between being chosen and having the query on it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn queries_are_answered_while_sockets_are_retired_under_them() {
        let server = responder().await;
        let pool = Arc::new(UdpPool::with_budget(server, 1));
        let askers: Vec<_> = (0..8)
            .map(|t| {
                let pool = pool.clone();
                tokio::spawn(async move {
                    let mut unanswered = 0;
                    for i in 0..150 {
                        let name = name_wire(&format!("q{t}-{i}.example"));
                        let question = UpstreamQuery::a(&name);
                        let wait = Duration::from_millis(500);
                        match tokio::time::timeout(wait, pool.exchange(&question)).await {
                            Ok(Ok(Some(_))) => {}
                            _ => unanswered += 1,
                        }
                    }
                    unanswered
                })
            })
            .collect();
        let mut unanswered = 0;
        for asker in askers {
            unanswered += asker.await.unwrap();
        }
        assert_eq!(unanswered, 0, "queries left waiting on retired sockets");
        // And every retired socket was closed once its query ended.
        let open = lock(&pool.shared.channels).len();
        assert!(open <= POOL_SIZE, "{open} sockets still open");
    }

    // A task's query that gives up (its future dropped at a timeout) leaves its socket: with
    // a budget of one query per socket, every socket it used is retired, and each closes once
    // its abandoned query is forgotten.
    #[tokio::test]
    async fn a_task_query_dropped_at_its_timeout_leaves_its_socket() {
        let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let pool = UdpPool::with_budget(silent.local_addr().unwrap(), 1);
        for i in 0..12 {
            let name = name_wire(&format!("gone{i}.example"));
            let question = UpstreamQuery::a(&name);
            let wait = Duration::from_millis(20);
            assert!(
                tokio::time::timeout(wait, pool.exchange(&question))
                    .await
                    .is_err()
            );
        }
        let open = lock(&pool.shared.channels).len();
        assert!(open <= POOL_SIZE, "{open} sockets still open");
        for channel in lock(&pool.shared.channels).values() {
            assert!(
                lock(&channel.waiting).by_id.is_empty(),
                "a query left waiting"
            );
        }
    }

    /// A relayed query that reports how it was settled.
    struct Probe {
        name: Vec<u8>,
        done: std::sync::mpsc::Sender<Result<(), usize>>,
    }

    impl Relayed for Probe {
        fn question(&self) -> UpstreamQuery<'_> {
            UpstreamQuery::a(&self.name)
        }
        fn answered(self: Box<Self>, _: Reply) {
            let _ = self.done.send(Ok(()));
        }
        fn unsettled(self: Box<Self>, progress: Progress) {
            let _ = self.done.send(Err(progress.next));
        }
        fn failed(self: Box<Self>, _: UpstreamError) {
            unreachable!("a pool neither skips a server nor takes from the budget");
        }
    }

    // Relayed from plain threads while every query replaces its socket: all are answered on
    // the receiver thread. A silent server: each is handed on (to server 1) at its deadline.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn relayed_queries_are_settled_by_the_receiver_or_handed_on_at_their_deadline() {
        let server = responder().await;
        let pool = Arc::new(UdpPool::with_budget(server, 1));
        let (done, results) = std::sync::mpsc::channel();
        let senders: Vec<_> = (0..4)
            .map(|t| {
                let (pool, done) = (pool.clone(), done.clone());
                std::thread::spawn(move || {
                    for i in 0..100 {
                        let name = name_wire(&format!("r{t}-{i}.example"));
                        let now = Instant::now();
                        let job = Box::new(Probe {
                            name,
                            done: done.clone(),
                        });
                        pool.relay(
                            job,
                            now + Duration::from_secs(2),
                            now + Duration::from_secs(2),
                        );
                    }
                })
            })
            .collect();
        for s in senders {
            s.join().unwrap();
        }
        for _ in 0..400 {
            let r = results
                .recv_timeout(Duration::from_secs(5))
                .expect("settled");
            assert_eq!(r, Ok(()));
        }

        let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let pool = UdpPool::new(silent.local_addr().unwrap());
        // A first query with a distant deadline starts the receiver, which then sleeps.
        let far = Instant::now() + Duration::from_millis(1500);
        let job = Box::new(Probe {
            name: name_wire("far.example"),
            done: done.clone(),
        });
        pool.relay(job, far, far);
        std::thread::sleep(Duration::from_millis(50));
        let started = Instant::now();
        for i in 0..3 {
            let name = name_wire(&format!("s{i}.example"));
            let job = Box::new(Probe {
                name,
                done: done.clone(),
            });
            let first = started + Duration::from_millis(10 + 100 * i);
            pool.relay(job, first, started + Duration::from_secs(2));
        }
        for i in 0..4 {
            let r = results
                .recv_timeout(Duration::from_secs(5))
                .expect("handed on");
            assert_eq!(r, Err(1), "carries on with the next server");
            let elapsed = started.elapsed();
            let due = match i {
                3 => far - started,
                _ => Duration::from_millis(10 + 100 * i),
            };
            assert!(elapsed >= due, "not before its deadline");
            // Well before the receiver would have woken by itself (1 s, or the far deadline):
            // a sooner deadline wakes it.
            assert!(
                elapsed < due + Duration::from_millis(400),
                "{elapsed:?} for {due:?}"
            );
        }
        assert_eq!(
            lock(&pool.shared.deadlines).len(),
            0,
            "deadlines left behind"
        );
    }
}
