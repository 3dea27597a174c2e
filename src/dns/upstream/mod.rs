//! Asking the upstream resolvers.
//!
//! UDP goes over a small pool of long-lived sockets per server ([`pool`]): each query gets a
//! random ID, and a reply is accepted only if its ID and question match ours; anything else is
//! ignored and we keep waiting, so a forged reply cannot poison the cache. A truncated reply is
//! retried over TCP, on a connection of its own. Servers are tried in order, sharing one
//! overall deadline: a server that fails (no answer in its share, an error reply such as
//! SERVFAIL or REFUSED, an error without a question, a malformed reply) passes the query to
//! the next, and when none answers better, the last error reply is relayed as it came.
//!
//! Two ways in: [`Upstreams::query`] from a task, and [`Upstreams::relay`], which sends the
//! question from the caller's thread and lets the first server's pool settle it on its
//! receiver thread ([`pool`]); only when the first server gives no usable reply does the
//! query become a task, carrying on with [`Upstreams::query_from`] where it stands.
//!
//! Every datagram and TCP query sent is first taken from the [`budget`]; a query that finds
//! it spent ends at once with [`UpstreamError::Budget`]. A server that has gone [`silence`]
//! is skipped at once, but for one probe every 100 ms.

pub mod budget;
pub mod pool;
pub mod silence;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout_at};

use self::budget::{Budget, Priority};
use self::pool::UdpPool;
use crate::dns::framing;
use crate::dns::wire;

/// EDNS payload size we advertise upstream (DNS flag day 2020).
pub const UPSTREAM_PAYLOAD: u16 = 1232;

/// Why no upstream answered.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("no upstream answered within {0:?}")]
    Timeout(Duration),
    #[error("upstream {server}: {source}")]
    Io {
        server: SocketAddr,
        #[source]
        source: io::Error,
    },
    #[error("upstream {server}: malformed reply: {source}")]
    Malformed {
        server: SocketAddr,
        #[source]
        source: wire::WireError,
    },
    #[error("not sent: upstream.max_queries_per_second is spent for this second")]
    Budget,
    #[error("upstream {0}: skipped, it has not answered for a while (probed every 100 ms)")]
    Silent(SocketAddr),
}

/// What to ask: the client's question (its bytes keep its case) and the flags to pass on.
#[derive(Debug, Clone)]
pub struct UpstreamQuery<'a> {
    pub name_wire: &'a [u8],
    pub qtype: u16,
    pub qclass: u16,
    pub rd: bool,
    pub ad: bool,
    pub cd: bool,
    pub dnssec_ok: bool,
    /// How much of the budget it may use.
    pub priority: Priority,
}

impl<'a> UpstreamQuery<'a> {
    /// A recursive query for the A records of `name_wire`, class IN, no EDNS flags.
    pub fn a(name_wire: &'a [u8]) -> Self {
        Self {
            name_wire,
            qtype: 1,
            qclass: 1,
            rd: true,
            ad: false,
            cd: false,
            dnssec_ok: false,
            priority: Priority::Client,
        }
    }

    /// The query message with the given ID; always with our OPT so replies can exceed 512.
    fn encode(&self, id: u16) -> Vec<u8> {
        let mut msg =
            Vec::with_capacity(wire::HEADER_LEN + self.name_wire.len() + 4 + wire::OPT_LEN);
        msg.extend_from_slice(&id.to_be_bytes());
        msg.push(if self.rd { wire::FLAG_RD } else { 0 });
        msg.push(if self.ad { wire::FLAG_AD } else { 0 } | if self.cd { wire::FLAG_CD } else { 0 });
        msg.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]);
        msg.extend_from_slice(self.name_wire);
        msg.extend_from_slice(&self.qtype.to_be_bytes());
        msg.extend_from_slice(&self.qclass.to_be_bytes());
        wire::push_opt(
            &mut msg,
            &wire::opt_record(UPSTREAM_PAYLOAD, 0, self.dnssec_ok),
        );
        msg
    }

    /// How `reply` relates to this question asked with ID `id`.
    fn matched_by(&self, reply: &[u8], id: u16) -> Option<Match> {
        matches(reply, id, self.name_wire, self.qtype, self.qclass)
    }
}

/// How a datagram with the right ID relates to the query waiting for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Match {
    /// A reply to exactly this question; where its question sits.
    Reply(wire::QuestionSpan),
    /// An error reply without a question: FORMERR, SERVFAIL, NOTIMP or REFUSED may come so
    /// (RFC 6891 section 7). It cannot be relayed (it names no question) but ends the wait.
    ErrorWithoutQuestion(u8),
}

/// Error RCODEs after which the next server is asked.
fn is_error_rcode(rcode: u8) -> bool {
    matches!(rcode, 1 | 2 | 4 | 5)
}

/// Whether `reply` is a response with ID `id` to exactly this one question (or an error
/// reply with no question at all).
pub fn matches(reply: &[u8], id: u16, name_wire: &[u8], qtype: u16, qclass: u16) -> Option<Match> {
    if reply.len() < wire::HEADER_LEN || wire::id(reply) != id || !wire::is_response(reply) {
        return None;
    }
    match wire::qdcount(reply) {
        0 if is_error_rcode(wire::rcode(reply)) => {
            return Some(Match::ErrorWithoutQuestion(wire::rcode(reply)));
        }
        1 => {}
        _ => return None,
    }
    let q = wire::read_question(reply).ok()?;
    let same = wire::names_equal(&reply[q.name.clone()], name_wire)
        && q.qtype == qtype
        && q.qclass == qclass;
    same.then_some(Match::Reply(q))
}

/// A datagram (or TCP message) that answered a query, with where its question ends.
#[derive(Debug)]
pub struct Received {
    pub bytes: Vec<u8>,
    pub question_end: usize,
}

/// The reply a server gave, walked: its records and OPT found.
#[derive(Debug)]
pub struct Reply {
    pub bytes: Vec<u8>,
    pub question_end: usize,
    pub layout: wire::Layout,
    pub server: SocketAddr,
}

impl Reply {
    /// Walks a received reply (finds its records and OPT); malformed is an error.
    fn walk(received: Received, server: SocketAddr) -> Result<Self, UpstreamError> {
        match wire::layout(&received.bytes, received.question_end) {
            Ok(layout) => Ok(Self {
                bytes: received.bytes,
                question_end: received.question_end,
                layout,
                server,
            }),
            Err(source) => Err(UpstreamError::Malformed { server, source }),
        }
    }

    /// An error reply (FORMERR, SERVFAIL, NOTIMP, REFUSED): the next server is asked.
    fn is_error(&self) -> bool {
        is_error_rcode(wire::rcode(&self.bytes))
    }
}

/// A query relayed without a task ([`Upstreams::relay`]); the first server's pool settles it
/// on its receiver thread, so neither method may block.
pub trait Relayed: Send + 'static {
    /// The question, to send and to match replies against.
    fn question(&self) -> UpstreamQuery<'_>;
    /// The first server's reply, usable as it is.
    fn answered(self: Box<Self>, reply: Reply);
    /// No usable reply from the first server (silence, an error reply, a truncated or
    /// malformed one, a socket error): carry on from `progress` ([`Upstreams::query_from`]).
    fn unsettled(self: Box<Self>, progress: Progress);
    /// Not sent at all: the budget was spent ([`UpstreamError::Budget`]), or the only server
    /// is silent ([`UpstreamError::Silent`]).
    fn failed(self: Box<Self>, error: UpstreamError);
}

/// Where a query stands among the servers, for [`Upstreams::query_from`] to carry on.
#[derive(Debug)]
pub struct Progress {
    /// The server to ask next (its index).
    next: usize,
    /// That server's UDP reply was truncated: ask it over TCP.
    tcp_first: bool,
    /// When every server's time is up.
    deadline: std::time::Instant,
    last_error: Option<UpstreamError>,
    error_reply: Option<Reply>,
}

impl Progress {
    /// Nothing asked yet.
    fn start(deadline: std::time::Instant) -> Self {
        Self {
            next: 0,
            tcp_first: false,
            deadline,
            last_error: None,
            error_reply: None,
        }
    }

    /// The first server had its turn without a usable reply.
    fn after_first(deadline: std::time::Instant) -> Self {
        Self {
            next: 1,
            ..Self::start(deadline)
        }
    }
}

/// The upstream servers, their sockets, how long to wait for them and how many queries they
/// may be sent.
#[derive(Debug, Clone)]
pub struct Upstreams {
    servers: Vec<SocketAddr>,
    /// One pool per server, in the same order.
    pools: Arc<[UdpPool]>,
    timeout: Duration,
    budget: Arc<Budget>,
}

impl Upstreams {
    /// Servers without a budget (diagnostics).
    pub fn new(servers: Vec<SocketAddr>, timeout: Duration) -> Self {
        Self::with_budget(servers, timeout, Arc::new(Budget::unlimited()))
    }

    /// Servers sent no more than `budget` allows.
    pub fn with_budget(servers: Vec<SocketAddr>, timeout: Duration, budget: Arc<Budget>) -> Self {
        Self {
            pools: servers.iter().map(|&s| UdpPool::new(s)).collect(),
            servers,
            timeout,
            budget,
        }
    }

    /// Takes one query for `question` from the budget.
    fn take(&self, question: &UpstreamQuery<'_>) -> bool {
        self.budget
            .take(question.priority, std::time::Instant::now())
    }

    /// Asks the servers in order until one answers, within the configured timeout overall.
    /// An error reply from every server that replied at all: the last one, as it came.
    pub async fn query(&self, question: &UpstreamQuery<'_>) -> Result<Reply, UpstreamError> {
        let deadline = std::time::Instant::now() + self.timeout;
        self.query_from(question, Progress::start(deadline)).await
    }

    /// Carries on asking from where `progress` stands (see [`Upstreams::query`]).
    pub async fn query_from(
        &self,
        question: &UpstreamQuery<'_>,
        progress: Progress,
    ) -> Result<Reply, UpstreamError> {
        let Progress {
            next,
            tcp_first,
            deadline,
            mut last_error,
            mut error_reply,
        } = progress;
        let deadline = Instant::from_std(deadline);
        for (i, &server) in self.servers.iter().enumerate().skip(next) {
            // Each server gets an equal share of the time that is left.
            let left = deadline.saturating_duration_since(Instant::now());
            let share = left / (self.servers.len() - i) as u32;
            let retry_over_tcp = tcp_first && i == next;
            if !retry_over_tcp && !self.pools[i].silence().may_send(std::time::Instant::now()) {
                last_error = Some(UpstreamError::Silent(server));
                continue;
            }
            if !self.take(question) {
                last_error = Some(UpstreamError::Budget);
                break;
            }
            let received = if retry_over_tcp {
                let ask = async {
                    let received = ask_tcp(server, question).await;
                    received.map_err(|source| UpstreamError::Io { server, source })
                };
                timeout_at(Instant::now() + share, ask).await
            } else {
                let ask = self.ask(server, &self.pools[i], question);
                timeout_at(Instant::now() + share, ask).await
            };
            let received = match received {
                Ok(Ok(received)) => received,
                Ok(Err(UpstreamError::Budget)) => {
                    last_error = Some(UpstreamError::Budget);
                    break;
                }
                Ok(Err(e)) => {
                    last_error = Some(e);
                    continue;
                }
                Err(_) => {
                    self.pools[i].silence().unanswered();
                    continue;
                }
            };
            // UDP replies are seen by the pool; this is for TCP.
            self.pools[i].silence().replied(std::time::Instant::now());
            match Reply::walk(received, server) {
                Ok(reply) if !reply.is_error() => return Ok(reply),
                Ok(reply) => error_reply = Some(reply),
                Err(e) => last_error = Some(e),
            }
        }
        error_reply.ok_or_else(|| last_error.unwrap_or(UpstreamError::Timeout(self.timeout)))
    }

    /// Sends `job`'s question to the first server from this thread, without a task; the
    /// server's pool settles it (see [`Relayed`]). Never blocks.
    pub fn relay(&self, job: Box<dyn Relayed>) {
        let now = std::time::Instant::now();
        let overall = now + self.timeout;
        let Some(first) = self.pools.first() else {
            return job.unsettled(Progress::start(overall));
        };
        if !first.silence().may_send(now) {
            let silent = UpstreamError::Silent(self.servers[0]);
            if self.servers.len() == 1 {
                return job.failed(silent);
            }
            return job.unsettled(Progress {
                last_error: Some(silent),
                ..Progress::after_first(overall)
            });
        }
        if !self.budget.take(job.question().priority, now) {
            return job.failed(UpstreamError::Budget);
        }
        let first_share = now + self.timeout / self.servers.len() as u32;
        first.relay(job, first_share, overall);
    }

    /// One server: UDP, then TCP if the UDP reply was truncated (a second query, so it is
    /// taken from the budget too).
    async fn ask(
        &self,
        server: SocketAddr,
        pool: &UdpPool,
        question: &UpstreamQuery<'_>,
    ) -> Result<Received, UpstreamError> {
        let io = |source| UpstreamError::Io { server, source };
        match pool.exchange(question).await.map_err(io)? {
            Some(reply) if !wire::is_truncated(&reply.bytes) => Ok(reply),
            // Truncated, or larger than we advertised: ask again over TCP.
            _ if self.take(question) => ask_tcp(server, question).await.map_err(io),
            _ => Err(UpstreamError::Budget),
        }
    }
}

/// The error for a reply that ends a query without answering it.
pub fn error_without_question(rcode: u8) -> io::Error {
    io::Error::other(format!("error reply (RCODE {rcode}) without a question"))
}

async fn ask_tcp(server: SocketAddr, question: &UpstreamQuery<'_>) -> io::Result<Received> {
    let mut stream = TcpStream::connect(server).await?;
    stream.set_nodelay(true)?;
    let id: u16 = rand::random();
    let framed = framing::frame(&question.encode(id))
        .ok_or_else(|| io::Error::other("query longer than a TCP frame"))?;
    stream.write_all(&framed).await?;
    let mut buf = Vec::new();
    loop {
        framing::read_frame(&mut stream, &mut buf).await?;
        match question.matched_by(&buf, id) {
            Some(Match::Reply(q)) => {
                return Ok(Received {
                    question_end: q.end(),
                    bytes: buf,
                });
            }
            Some(Match::ErrorWithoutQuestion(rcode)) => return Err(error_without_question(rcode)),
            None => {}
        }
    }
}
