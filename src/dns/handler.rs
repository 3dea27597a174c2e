//! The query path, from a client's bytes to the reply's bytes, shared by UDP and TCP.
//!
//! It is split in two so the listeners can answer without spawning a task whenever possible:
//! [`Handler::begin`] is synchronous and settles everything that needs no network (access
//! control, malformed input, overrides, cache hits); only a cache miss comes back as
//! [`Step::Forward`], which is completed by asking the upstreams, once for every identical
//! question waiting at the same time (they share the one reply, see [`coalesce`]): [`Handler::relay`] for a UDP
//! query (no task unless the first server fails it: the upstream pool's receiver thread
//! answers the client), [`Handler::finish`] from a task (TCP).
//!
//! Every forwarded answer, fresh, cached or stale, is served through [`Handler::serve`]: when
//! its CNAME or DNAME chain reaches one of our names, the chain is completed from the record
//! table in force, so the upstream's records for that name never reach a client.
//!
//! When no upstream can answer (silence, errors, every server's error reply, the upstream
//! budget spent, too many queries waiting), an answer that expired within
//! `upstream.serve_stale` is given stale (RFC 8767) instead of SERVFAIL. A cache hit in the
//! last tenth of its TTL also comes back as [`Step::Refresh`]: the listener answers, then
//! [`Handler::prefetch`] refreshes the answer in the background, within what the budget
//! leaves to prefetches.
//!
//! The handler only answers: the daemon owns the record table's writer, the cache and the
//! metrics, and applies a reload's static overrides to the zone itself.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use arc_swap::ArcSwap;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{DNSClass, RecordType};
use socket2::SockRef;
use tokio::runtime::Handle;
use tokio_util::task::task_tracker::TaskTrackerToken;
use tracing::debug;

use crate::config::{Config, OnUnavailable};
use crate::dns::cache::{self, Answer, AnswerCache, Hit};
use crate::dns::coalesce::{Flight, Flights, Landing, Seat};
use crate::dns::ratelimit::RateLimiter;
use crate::dns::request::{Reject, Request};
use crate::dns::response::{self, OverrideAnswers};
use crate::dns::upstream::budget::{Budget, Priority};
use crate::dns::upstream::{self, Progress, Relayed, Reply, UpstreamError, Upstreams};
use crate::dns::wire;
use crate::metrics::{Metrics, Outcome, UpstreamFailure};
use crate::zone::publisher::TablePublisher;
use crate::zone::table::Lookup;

/// Which transport a query came in on: it decides whether replies must fit a UDP payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
}

/// Everything a reload replaces at once (the record table has its own life: see `table`).
#[derive(Debug)]
pub struct State {
    pub config: Config,
    pub upstreams: Upstreams,
    limiter: Option<RateLimiter>,
}

impl State {
    /// The state for `config`, its upstreams sent no more than `budget` allows.
    pub fn new(config: Config, budget: Arc<Budget>) -> Self {
        Self {
            upstreams: Upstreams::with_budget(
                config.upstreams.clone(),
                config.upstream_timeout,
                budget,
            ),
            limiter: config.rate_limit.map(RateLimiter::new),
            config,
        }
    }

    fn allows(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.config.allow.iter().any(|net| net.contains(&ip))
    }
}

/// What to do with a query after the synchronous part.
#[derive(Debug)]
pub enum Step {
    Reply(Vec<u8>),
    /// Send the reply, then refresh the answer it came from ([`Handler::prefetch`]).
    Refresh(Vec<u8>, Box<Pending>),
    Drop,
    Forward(Box<Pending>),
}

/// A query waiting for an upstream answer.
#[derive(Debug)]
pub struct Pending {
    state: Arc<State>,
    request: Request,
    /// The question name as the client sent it, in wire form.
    qname_wire: Vec<u8>,
    key: cache::Key,
    transport: Transport,
    /// A client's miss, or a prefetch (which yields in the budget).
    priority: Priority,
    _slot: InflightSlot,
}

impl Pending {
    /// A client's miss.
    fn new(
        state: Arc<State>,
        request: Request,
        qname_wire: &[u8],
        key: cache::Key,
        transport: Transport,
        slot: InflightSlot,
    ) -> Box<Self> {
        Box::new(Self {
            state,
            request,
            qname_wire: qname_wire.to_vec(),
            key,
            transport,
            priority: Priority::Client,
            _slot: slot,
        })
    }

    /// The same question, as a prefetch.
    fn prefetch(mut self: Box<Self>) -> Box<Self> {
        self.priority = Priority::Prefetch;
        self
    }
}

/// One of the bounded places for queries waiting on an upstream; freed on drop.
#[derive(Debug)]
struct InflightSlot(Arc<AtomicUsize>);

impl Drop for InflightSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A UDP client and the listener socket its query came in on: a relayed query's reply is sent
/// from whichever thread settles it.
#[derive(Debug)]
pub struct UdpClient {
    pub socket: Arc<UdpSocket>,
    pub addr: SocketAddr,
}

impl UdpClient {
    /// Sends without blocking: a full send buffer drops the reply, as the network would. A
    /// failure is only logged (the client will ask again).
    pub fn send(&self, reply: &[u8]) {
        let (socket, dst) = (SockRef::from(&*self.socket), self.addr);
        if let Err(e) = socket.send_to_with_flags(reply, &dst.into(), libc::MSG_DONTWAIT) {
            debug!(%dst, error = %e, "udp send failed");
        }
    }
}

/// The shared query handler.
pub struct Handler {
    state: ArcSwap<State>,
    /// Read only: the table in force (the daemon writes it).
    zone: Arc<TablePublisher>,
    cache: Arc<AnswerCache>,
    overrides: OverrideAnswers,
    inflight: Arc<AtomicUsize>,
    /// Questions on their way upstream, with the queries that asked the same meanwhile.
    flights: Flights,
    /// What may still be sent upstream this second; kept across reloads.
    budget: Arc<Budget>,
    metrics: Arc<Metrics>,
}

impl Handler {
    /// A handler answering our names from `zone`, and everything else as `config` says
    /// through `cache`.
    pub fn new(
        config: Config,
        zone: Arc<TablePublisher>,
        cache: Arc<AnswerCache>,
        metrics: Arc<Metrics>,
    ) -> Self {
        let budget = Arc::new(Budget::new(
            config.max_queries_per_second,
            metrics.upstream_queries.clone(),
        ));
        let handler = Self {
            state: ArcSwap::from_pointee(State::new(config.clone(), budget.clone())),
            zone,
            cache,
            overrides: OverrideAnswers::default(),
            inflight: Arc::new(AtomicUsize::new(0)),
            flights: Flights::default(),
            budget,
            metrics,
        };
        handler.apply_limits(&config);
        handler
    }

    /// Swaps in a new configuration; queries in flight finish with the old one.
    pub fn set_config(&self, config: Config) {
        self.apply_limits(&config);
        self.state
            .store(Arc::new(State::new(config, self.budget.clone())));
    }

    /// The settings that live outside the state: the budget and how long stale answers keep.
    fn apply_limits(&self, config: &Config) {
        self.budget.set_limit(config.max_queries_per_second);
        self.metrics
            .upstream_budget
            .set(config.max_queries_per_second.into());
        self.cache.set_serve_stale(config.serve_stale);
    }

    /// Everything that can be answered without the network.
    pub fn begin(&self, raw: &[u8], src: SocketAddr, transport: Transport) -> Step {
        let state = self.state.load();
        if let Some(limiter) = &state.limiter
            && !limiter.allow(src.ip())
        {
            self.metrics.count(Outcome::RateLimited);
            return Step::Drop;
        }
        let max_udp = state.config.max_udp_payload;
        let req = match Request::parse(raw) {
            Ok(req) => req,
            Err(reject) => return self.reject(reject, &state, src),
        };
        if !state.allows(src.ip()) {
            self.metrics.count(Outcome::Refused);
            return Step::Reply(response::error(&req, ResponseCode::Refused, max_udp));
        }
        if req.edns.is_some_and(|e| e.version > 0) {
            self.metrics.count(Outcome::Formerr);
            return Step::Reply(response::badvers(&req, max_udp));
        }

        {
            // The question's name, lower-cased on the stack: the table's key form.
            let mut lower = [0u8; 256];
            let name = &raw[req.span.name.clone()];
            let lower = &mut lower[..name.len()];
            wire::lowercase_into(lower, name);
            let table = self.zone.current();
            let lookup = table.lookup_wire(lower);
            let unavailable = lookup.is_unavailable();
            // Our names are answered in class IN; class ANY (QCLASS *) gets the IN answer. Any
            // other class of one of our names is refused, never forwarded.
            let class = req.question.query_class();
            let in_class = matches!(class, DNSClass::IN | DNSClass::ANY);
            match (lookup, unavailable, state.config.on_unavailable) {
                (Lookup::NotOurs, _, _) => {}
                (_, _, _) if !in_class => {
                    self.metrics.count(Outcome::Refused);
                    let reply = response::error(&req, ResponseCode::Refused, max_udp);
                    return Step::Reply(reply);
                }
                (_, true, OnUnavailable::Forward) => {}
                (_, true, OnUnavailable::Servfail) => {
                    self.metrics.count(Outcome::Servfail);
                    let reply = response::error(&req, ResponseCode::ServFail, max_udp);
                    return Step::Reply(reply);
                }
                (lookup, false, _) => {
                    self.metrics.count(Outcome::Override);
                    if let Lookup::Records { addrs, .. } = &lookup {
                        let fallback = match RecordType::from(req.span.qtype) {
                            RecordType::A => addrs.ipv4_all_down,
                            RecordType::AAAA => addrs.ipv6_all_down,
                            _ => false,
                        };
                        if fallback {
                            self.metrics.health_fallback_answers.inc();
                        }
                    }
                    let ttl = state.config.ttl;
                    let reply = self
                        .overrides
                        .reply(&req, raw, &table, &lookup, ttl, max_udp);
                    return Step::Reply(self.fit(reply, &req, transport, max_udp));
                }
            }
        }

        let qname_wire = &raw[req.span.name.clone()];
        let key = cache::key(
            qname_wire,
            req.span.qtype,
            req.span.qclass,
            query_flags(&req, raw),
        );
        match self.cache.get(&key) {
            Some(Hit::Fresh(answer)) => {
                self.metrics.count(Outcome::CacheHit);
                let reply = self.serve(&answer, false, &req, qname_wire, &state, transport);
                if !(state.config.prefetch && answer.claim_refresh(Instant::now())) {
                    return Step::Reply(reply);
                }
                let Some(slot) = self.take_slot(state.config.max_inflight) else {
                    return Step::Reply(reply);
                };
                let state = arc_swap::Guard::into_inner(state);
                let pending = Pending::new(state, req, qname_wire, key, transport, slot);
                return Step::Refresh(reply, pending.prefetch());
            }
            Some(Hit::Held(answer)) => {
                self.metrics.count(Outcome::Stale);
                let reply = self.serve(&answer, true, &req, qname_wire, &state, transport);
                return Step::Reply(reply);
            }
            None => {}
        }

        let Some(slot) = self.take_slot(state.config.max_inflight) else {
            // Overloaded: refuse to queue more work than we can bound.
            let reply = self.stale_or_servfail(&key, &req, qname_wire, &state, transport);
            return Step::Reply(reply);
        };
        let state = arc_swap::Guard::into_inner(state);
        Step::Forward(Pending::new(state, req, qname_wire, key, transport, slot))
    }

    /// Sends a UDP query `begin` could not answer upstream, from the calling thread, unless its
    /// question is already on its way (then it waits for that answer). The reply goes to
    /// `client` from the thread that settles it: the first server's receiver thread, or a task
    /// on `runtime` when the first server gives no usable reply. `token` keeps a shutdown
    /// waiting for it.
    pub fn relay(
        self: &Arc<Self>,
        pending: Box<Pending>,
        client: UdpClient,
        runtime: &Handle,
        token: TaskTrackerToken,
    ) {
        let flight = match self.flights.board(&pending.key) {
            Seat::Leader(flight) => flight,
            Seat::Follower(seat) => {
                self.metrics.upstream_coalesced.inc();
                let handler = self.clone();
                seat.wait(Box::new(move |landing| {
                    client.send(&handler.reply_to(&pending, landing));
                }));
                return;
            }
        };
        self.launch(flight, pending, Some(client), runtime, token);
    }

    /// Refreshes the cached answer of a [`Step::Refresh`] in the background, as a relayed
    /// query with nobody to answer; nothing when the question is already on its way.
    pub fn prefetch(
        self: &Arc<Self>,
        pending: Box<Pending>,
        runtime: &Handle,
        token: TaskTrackerToken,
    ) {
        let Seat::Leader(flight) = self.flights.board(&pending.key) else {
            return;
        };
        self.metrics.prefetches.inc();
        self.launch(flight, pending, None, runtime, token);
    }

    /// Sends a leader's question upstream without a task (see [`Handler::relay`]).
    fn launch(
        self: &Arc<Self>,
        flight: Flight,
        pending: Box<Pending>,
        client: Option<UdpClient>,
        runtime: &Handle,
        token: TaskTrackerToken,
    ) {
        let state = pending.state.clone();
        let job = RelayJob {
            handler: self.clone(),
            flight,
            pending,
            client,
            runtime: runtime.clone(),
            started: Instant::now(),
            _token: token,
        };
        state.upstreams.relay(Box::new(job));
    }

    /// Asks the upstreams for a query `begin` could not answer, from a task; a query whose
    /// question is already on its way upstream waits for that answer instead of asking again.
    pub async fn finish(&self, pending: Box<Pending>) -> Vec<u8> {
        // Boarded before any await: a follower's seat holds the board's lock.
        let seat = match self.flights.board(&pending.key) {
            Seat::Leader(flight) => Ok(flight),
            Seat::Follower(seat) => Err(seat.wait_task()),
        };
        let landing = match seat {
            Err(landed) => {
                self.metrics.upstream_coalesced.inc();
                landed.await.ok().flatten()
            }
            Ok(flight) => {
                let answer = self.ask_upstreams(&pending, Instant::now(), None).await;
                self.land(flight, &pending.key, answer.clone());
                answer
            }
        };
        self.reply_to(&pending, landing)
    }

    /// Lands a flight: its answer is cached first, so that nobody asks again in between.
    fn land(&self, flight: Flight, key: &cache::Key, landing: Landing) {
        if let Some(answer) = &landing {
            self.cache.insert(key.clone(), answer.clone());
        }
        flight.land(landing);
    }

    /// The reply for a query that waited on the upstreams: the answer; when there is none or
    /// it is an error reply, a stale answer if one is kept; else the error reply as it came,
    /// or SERVFAIL.
    fn reply_to(&self, pending: &Pending, landing: Landing) -> Vec<u8> {
        let Pending {
            state,
            request,
            qname_wire,
            transport,
            key,
            ..
        } = pending;
        match landing {
            Some(answer) if !answer.is_error() => {
                self.metrics.count(Outcome::Forwarded);
                self.serve(&answer, false, request, qname_wire, state, *transport)
            }
            Some(error_reply) => match self.cache.stale(key) {
                Some(stale) => {
                    self.metrics.count(Outcome::Stale);
                    self.serve(&stale, true, request, qname_wire, state, *transport)
                }
                None => {
                    self.metrics.count(Outcome::Forwarded);
                    self.serve(&error_reply, false, request, qname_wire, state, *transport)
                }
            },
            None => self.stale_or_servfail(key, request, qname_wire, state, *transport),
        }
    }

    /// A stale answer for `key` when the cache keeps one, else SERVFAIL.
    fn stale_or_servfail(
        &self,
        key: &cache::Key,
        req: &Request,
        qname_wire: &[u8],
        state: &State,
        transport: Transport,
    ) -> Vec<u8> {
        if let Some(answer) = self.cache.stale(key) {
            self.metrics.count(Outcome::Stale);
            return self.serve(&answer, true, req, qname_wire, state, transport);
        }
        self.metrics.count(Outcome::Servfail);
        response::error(req, ResponseCode::ServFail, state.config.max_udp_payload)
    }

    /// An upstream reply, prepared for the cache; `None` when it is malformed.
    fn accept(&self, reply: Reply, started: Instant) -> Landing {
        self.metrics
            .upstream_answered(started.elapsed().as_secs_f64());
        Answer::from_upstream(&reply.bytes, reply.question_end, reply.layout)
            .inspect_err(|e| debug!(server = %reply.server, error = %e, "malformed upstream reply"))
            .ok()
            .map(Arc::new)
    }

    /// The upstream exchange for `pending` (from the start, or carrying on from `progress`),
    /// prepared for the cache; `None` when no server gave a usable reply.
    async fn ask_upstreams(
        &self,
        pending: &Pending,
        started: Instant,
        progress: Option<Progress>,
    ) -> Landing {
        let question = upstream_query(pending);
        let upstreams = &pending.state.upstreams;
        let result = match progress {
            None => upstreams.query(&question).await,
            Some(progress) => upstreams.query_from(&question, progress).await,
        };
        match result {
            Ok(reply) => self.accept(reply, started),
            Err(e) => {
                self.metrics.upstream_failed(failure_kind(&e));
                debug!(error = %e, "upstream query failed");
                None
            }
        }
    }

    /// A forwarded answer (fresh, cached, or `stale`) for this client: patched for it, with
    /// its chain completed from our table when the chain reaches one of our names.
    fn serve(
        &self,
        answer: &Answer,
        stale: bool,
        req: &Request,
        qname_wire: &[u8],
        state: &State,
        transport: Transport,
    ) -> Vec<u8> {
        let max_udp = state.config.max_udp_payload;
        let (id, opt) = (req.header.id, response::our_opt(req, max_udp));
        let reply = if stale {
            answer.patch_stale(id, qname_wire, opt)
        } else {
            answer.patch(id, qname_wire, opt)
        };
        let reply = if answer.chain.is_empty() {
            reply
        } else {
            self.complete_chain(reply, answer, req, state)
        };
        self.fit(reply, req, transport, max_udp)
    }

    /// The first name along `answer`'s chain that is ours decides: our records there (or
    /// SERVFAIL when it has no usable address), never what the upstream said.
    fn complete_chain(
        &self,
        reply: Vec<u8>,
        answer: &Answer,
        req: &Request,
        state: &State,
    ) -> Vec<u8> {
        // A CNAME or DNAME question is answered by the alias itself: nothing to complete.
        let qtype = req.question.query_type();
        if qtype == RecordType::CNAME || qtype == RecordType::DNAME {
            return reply;
        }
        let max_udp = state.config.max_udp_payload;
        let table = self.zone.current();
        for name in answer.chain.iter() {
            let lookup = table.lookup_wire(name);
            if matches!(lookup, Lookup::NotOurs) {
                continue;
            }
            if lookup.is_unavailable() {
                return match state.config.on_unavailable {
                    OnUnavailable::Forward => reply,
                    OnUnavailable::Servfail => {
                        response::error(req, ResponseCode::ServFail, max_udp)
                    }
                };
            }
            let ttl = state.config.ttl;
            return response::complete_chain(&reply, req, name, &lookup, ttl, max_udp)
                .unwrap_or_else(|| response::error(req, ResponseCode::ServFail, max_udp));
        }
        reply
    }

    fn reject(&self, reject: Reject, state: &State, src: SocketAddr) -> Step {
        let (outcome, header, rcode) = match reject {
            Reject::Drop => {
                self.metrics.count(Outcome::Dropped);
                return Step::Drop;
            }
            Reject::FormErr(h) => (Outcome::Formerr, h, ResponseCode::FormErr),
            Reject::NotImp(h) => (Outcome::Notimp, h, ResponseCode::NotImp),
        };
        if !state.allows(src.ip()) {
            self.metrics.count(Outcome::Refused);
            return Step::Reply(response::header_error(&header, ResponseCode::Refused));
        }
        self.metrics.count(outcome);
        Step::Reply(response::header_error(&header, rcode))
    }

    fn fit(&self, reply: Vec<u8>, req: &Request, transport: Transport, max_udp: u16) -> Vec<u8> {
        match transport {
            Transport::Tcp => reply,
            Transport::Udp => response::fit_udp(reply, req, req.udp_limit(max_udp), max_udp),
        }
    }

    fn take_slot(&self, limit: usize) -> Option<InflightSlot> {
        let taken = self.inflight.fetch_add(1, Ordering::Relaxed);
        let slot = InflightSlot(self.inflight.clone());
        (taken < limit).then_some(slot)
    }
}

/// A UDP query relayed upstream without a task (see [`Handler::relay`]).
struct RelayJob {
    handler: Arc<Handler>,
    flight: Flight,
    pending: Box<Pending>,
    /// Nobody for a prefetch.
    client: Option<UdpClient>,
    runtime: Handle,
    started: Instant,
    _token: TaskTrackerToken,
}

impl Relayed for RelayJob {
    fn question(&self) -> upstream::UpstreamQuery<'_> {
        upstream_query(&self.pending)
    }

    fn answered(self: Box<Self>, reply: Reply) {
        let landing = self.handler.accept(reply, self.started);
        (*self).settle(landing);
    }

    fn unsettled(self: Box<Self>, progress: Progress) {
        let runtime = self.runtime.clone();
        runtime.spawn(async move {
            let (handler, pending) = (&self.handler, &self.pending);
            let landing = handler
                .ask_upstreams(pending, self.started, Some(progress))
                .await;
            (*self).settle(landing);
        });
    }

    fn failed(self: Box<Self>, error: UpstreamError) {
        self.handler.metrics.upstream_failed(failure_kind(&error));
        (*self).settle(None);
    }
}

impl RelayJob {
    /// Lands the flight, then answers the client (the shutdown token goes last).
    fn settle(self, landing: Landing) {
        let RelayJob {
            handler,
            flight,
            pending,
            client,
            ..
        } = self;
        handler.land(flight, &pending.key, landing.clone());
        if let Some(client) = client {
            client.send(&handler.reply_to(&pending, landing));
        }
    }
}

/// How an upstream failure is counted.
fn failure_kind(error: &UpstreamError) -> UpstreamFailure {
    match error {
        UpstreamError::Timeout(_) => UpstreamFailure::Timeout,
        UpstreamError::Budget => UpstreamFailure::Budget,
        UpstreamError::Silent(_) => UpstreamFailure::Silent,
        UpstreamError::Io { .. } | UpstreamError::Malformed { .. } => UpstreamFailure::Network,
    }
}

/// What to ask upstream for a pending query: its question as the client sent it, and the
/// flags to pass on.
fn upstream_query(pending: &Pending) -> upstream::UpstreamQuery<'_> {
    let req = &pending.request;
    upstream::UpstreamQuery {
        name_wire: &pending.qname_wire,
        qtype: req.span.qtype,
        qclass: req.span.qclass,
        rd: req.header.recursion_desired,
        ad: req.header.authentic_data,
        cd: req.header.checking_disabled,
        dnssec_ok: req.edns.is_some_and(|e| e.dnssec_ok),
        priority: pending.priority,
    }
}

/// The flag bits that change an upstream answer, for the cache key: RD, AD, CD (in place)
/// and DO (0x80).
fn query_flags(req: &Request, raw: &[u8]) -> u8 {
    let dnssec_ok = if req.edns.is_some_and(|e| e.dnssec_ok) {
        0x80
    } else {
        0
    };
    wire::rd_bit(raw) | wire::ad_cd_bits(raw) | dnssec_ok
}
