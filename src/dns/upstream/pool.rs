//! Long-lived UDP sockets to one upstream server, shared by many queries.
//!
//! Opening, connecting and registering a socket for every query cost more CPU than relaying
//! the query itself. So each server gets [`POOL_SIZE`] sockets, each connected to the server
//! (the kernel drops datagrams from anyone else) and read by one task that hands each reply to
//! the query waiting for it. A query gets a random ID not in flight on its socket, and a reply
//! is handed over only if its ID and question both match; anything else is ignored.
//!
//! A socket is retired after [`SOCKET_BUDGET`] queries or [`SOCKET_MAX_AGE`], whichever comes
//! first, and replaced by one on a new random port: an off-path attacker must guess port and
//! ID together, and never has long to do it. A retired socket keeps listening until its last
//! query has ended.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use super::{Match, Received, UpstreamQuery, error_without_question, matches};
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

/// What a waiting query receives: the reply, `None` when it did not fit the buffer, or the
/// socket's error (an ICMP error such as "port unreachable" arrives on the socket, not on a
/// query, so it ends every query waiting there).
type Delivery = io::Result<Option<Received>>;

/// The sockets to one server.
pub struct UdpPool {
    server: SocketAddr,
    slots: Vec<Mutex<Option<Slot>>>,
    next: AtomicUsize,
    /// Queries per socket before it is replaced ([`SOCKET_BUDGET`]; tests lower it).
    budget: u32,
}

/// A pool position: the socket in use and how many queries it has sent.
struct Slot {
    channel: Arc<Channel>,
    issued: u32,
}

/// One socket and the queries waiting on it.
struct Channel {
    socket: UdpSocket,
    born: Instant,
    waiting: Mutex<Waiting>,
    /// Stops the receive task: set once the socket is retired and no query waits.
    closed: CancellationToken,
}

#[derive(Default)]
struct Waiting {
    by_id: HashMap<u16, Waiter>,
    retired: bool,
}

/// A query waiting for its reply.
struct Waiter {
    name_wire: Box<[u8]>,
    qtype: u16,
    qclass: u16,
    deliver: oneshot::Sender<Delivery>,
}

impl UdpPool {
    pub fn new(server: SocketAddr) -> Self {
        Self::with_budget(server, SOCKET_BUDGET)
    }

    /// A pool whose sockets are replaced after `budget` queries each.
    pub fn with_budget(server: SocketAddr, budget: u32) -> Self {
        Self {
            server,
            slots: (0..POOL_SIZE).map(|_| Mutex::new(None)).collect(),
            next: AtomicUsize::new(0),
            budget: budget.max(1),
        }
    }

    /// One UDP exchange; `Ok(None)` when the reply did not fit the buffer.
    ///
    /// Cancel-safe: dropping the future forgets the query.
    pub async fn exchange(&self, question: &UpstreamQuery<'_>) -> io::Result<Option<Received>> {
        let (id, replied, registration) = self.register(question)?;
        registration
            .channel
            .socket
            .send(&question.encode(id))
            .await?;
        replied
            .await
            .unwrap_or_else(|_| Err(io::Error::other("upstream socket closed")))
    }

    /// Enters a query on the socket for the next query, replacing a worn-out one first.
    ///
    /// Both happen under the slot's lock, and only the slot's lock retires a socket: a socket
    /// is never retired (and its receive task stopped) between being chosen for a query and
    /// having that query on it, which would leave the query waiting out its whole timeout.
    fn register(
        &self,
        question: &UpstreamQuery<'_>,
    ) -> io::Result<(u16, oneshot::Receiver<Delivery>, Registration)> {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.slots.len();
        let mut slot = lock(&self.slots[i]);
        let worn = slot
            .as_ref()
            .is_none_or(|s| s.issued >= self.budget || s.channel.born.elapsed() >= SOCKET_MAX_AGE);
        if worn {
            let fresh = Channel::open(self.server)?;
            if let Some(old) = slot.replace(Slot {
                channel: fresh,
                issued: 0,
            }) {
                old.channel.retire();
            }
        }
        let slot = slot.as_mut().expect("a socket was just put in place");
        slot.issued += 1;
        slot.channel.register(question)
    }
}

impl Drop for UdpPool {
    fn drop(&mut self) {
        for slot in &self.slots {
            if let Some(slot) = lock(slot).take() {
                slot.channel.retire();
            }
        }
    }
}

impl fmt::Debug for UdpPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UdpPool")
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

impl Channel {
    /// A new socket on a random port, connected to `server`, with its receive task running.
    fn open(server: SocketAddr) -> io::Result<Arc<Self>> {
        let local: SocketAddr = if server.is_ipv4() {
            (Ipv4Addr::UNSPECIFIED, 0).into()
        } else {
            (Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let socket = std::net::UdpSocket::bind(local)?;
        socket.connect(server)?;
        socket.set_nonblocking(true)?;
        let channel = Arc::new(Self {
            socket: UdpSocket::from_std(socket)?,
            born: Instant::now(),
            waiting: Mutex::default(),
            closed: CancellationToken::new(),
        });
        tokio::spawn(receive(channel.clone()));
        Ok(channel)
    }

    /// Enters a query with a fresh random ID; the registration takes it out again when dropped.
    fn register(
        self: &Arc<Self>,
        question: &UpstreamQuery<'_>,
    ) -> io::Result<(u16, oneshot::Receiver<Delivery>, Registration)> {
        let mut waiting = lock(&self.waiting);
        // Far more than max_inflight allows; the loop below always finds a free ID quickly.
        if waiting.by_id.len() >= usize::from(u16::MAX) / 2 {
            return Err(io::Error::other("too many queries waiting on one socket"));
        }
        let id = loop {
            let id: u16 = rand::random();
            if !waiting.by_id.contains_key(&id) {
                break id;
            }
        };
        let (deliver, replied) = oneshot::channel();
        waiting.by_id.insert(
            id,
            Waiter {
                name_wire: question.name_wire.into(),
                qtype: question.qtype,
                qclass: question.qclass,
                deliver,
            },
        );
        let registration = Registration {
            channel: self.clone(),
            id,
        };
        Ok((id, replied, registration))
    }

    /// Hands a datagram to the query it answers, if any.
    fn deliver(&self, datagram: &[u8], filled_buffer: bool) {
        if datagram.len() < wire::HEADER_LEN {
            return;
        }
        let id = wire::id(datagram);
        let mut waiting = lock(&self.waiting);
        let Some(w) = waiting.by_id.get(&id) else {
            return; // late, or forged
        };
        let delivery = match matches(datagram, id, &w.name_wire, w.qtype, w.qclass) {
            Some(Match::Reply(q)) => Ok((!filled_buffer).then(|| Received {
                bytes: datagram.to_vec(),
                question_end: q.end(),
            })),
            Some(Match::ErrorWithoutQuestion(rcode)) => Err(error_without_question(rcode)),
            // Right ID, wrong question: ignore it and keep waiting for the real reply.
            None => return,
        };
        let w = waiting.by_id.remove(&id).expect("looked up above");
        let _ = w.deliver.send(delivery);
    }

    /// Ends every waiting query with the socket's error.
    fn fail_all(&self, error: &io::Error) {
        let mut waiting = lock(&self.waiting);
        for (_, w) in waiting.by_id.drain() {
            let _ = w
                .deliver
                .send(Err(io::Error::new(error.kind(), error.to_string())));
        }
        if waiting.retired {
            self.closed.cancel();
        }
    }

    /// Takes no new queries; closes once the last waiting one has ended.
    fn retire(&self) {
        let mut waiting = lock(&self.waiting);
        waiting.retired = true;
        if waiting.by_id.is_empty() {
            self.closed.cancel();
        }
    }
}

/// A query's place on a socket, removed when the query ends (answered, timed out or dropped).
struct Registration {
    channel: Arc<Channel>,
    id: u16,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut waiting = lock(&self.channel.waiting);
        waiting.by_id.remove(&self.id);
        if waiting.retired && waiting.by_id.is_empty() {
            self.channel.closed.cancel();
        }
    }
}

/// Reads one socket until it is closed.
async fn receive(channel: Arc<Channel>) {
    let mut buf = vec![0u8; UDP_REPLY_BUFFER];
    loop {
        let received = tokio::select! {
            received = channel.socket.recv(&mut buf) => received,
            _ = channel.closed.cancelled() => return,
        };
        match received {
            Ok(n) => channel.deliver(&buf[..n], n == buf.len()),
            Err(e) => channel.fail_all(&e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A UDP server on loopback that answers every query at once (QR set, same ID and
    /// question, no records).
    async fn responder() -> SocketAddr {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
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
    }
}
