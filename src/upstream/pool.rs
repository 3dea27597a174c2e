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
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use super::{Question, Reply, answers};
use crate::wire;

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
type Delivery = io::Result<Option<Reply>>;

/// The sockets to one server.
pub struct UdpPool {
    server: SocketAddr,
    slots: Vec<Mutex<Option<Slot>>>,
    next: AtomicUsize,
}

/// A pool position: the socket in use and how many queries it has sent.
struct Slot {
    channel: Arc<Channel>,
    issued: u32,
}

/// One socket and the queries waiting on it.
struct Channel {
    server: SocketAddr,
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
        Self {
            server,
            slots: (0..POOL_SIZE).map(|_| Mutex::new(None)).collect(),
            next: AtomicUsize::new(0),
        }
    }

    /// One UDP exchange; `Ok(None)` when the reply did not fit the buffer.
    ///
    /// Cancel-safe: dropping the future forgets the query.
    pub async fn exchange(&self, question: &Question<'_>) -> io::Result<Option<Reply>> {
        let channel = self.channel()?;
        let (id, replied, _registration) = channel.register(question)?;
        channel.socket.send(&question.encode(id)).await?;
        replied
            .await
            .unwrap_or_else(|_| Err(io::Error::other("upstream socket closed")))
    }

    /// The socket for the next query, replacing a worn-out one first.
    fn channel(&self) -> io::Result<Arc<Channel>> {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.slots.len();
        let mut slot = lock(&self.slots[i]);
        let worn = slot.as_ref().is_none_or(|s| {
            s.issued >= SOCKET_BUDGET || s.channel.born.elapsed() >= SOCKET_MAX_AGE
        });
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
        Ok(slot.channel.clone())
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
            server,
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
        question: &Question<'_>,
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
        let Some(q) = answers(datagram, id, &w.name_wire, w.qtype, w.qclass) else {
            return; // right ID, wrong question: ignore it and keep waiting for the real reply
        };
        let w = waiting.by_id.remove(&id).expect("looked up above");
        let reply = (!filled_buffer).then(|| Reply {
            bytes: datagram.to_vec(),
            question_end: q.end(),
            server: self.server,
        });
        let _ = w.deliver.send(Ok(reply));
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

/// Locks a mutex, ignoring poisoning: every critical section here leaves the data consistent.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
