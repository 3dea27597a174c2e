//! The query path, from a client's bytes to the reply's bytes, shared by UDP and TCP.
//!
//! It is split in two so the listeners can answer without spawning a task whenever possible:
//! [`Handler::begin`] is synchronous and settles everything that needs no network (access
//! control, malformed input, overrides, cache hits); only a cache miss comes back as
//! [`Step::Forward`], which [`Handler::finish`] completes by asking the upstreams.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use arc_swap::ArcSwap;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::DNSClass;
use tracing::debug;

use crate::cache::{self, Answer, AnswerCache};
use crate::config::{Config, OnUnavailable};
use crate::metrics::{Metrics, Outcome};
use crate::ratelimit::RateLimiter;
use crate::records::Lookup;
use crate::request::{Reject, Request};
use crate::response::{self, OverrideAnswers};
use crate::table::Tables;
use crate::upstream::{self, UpstreamError, Upstreams};

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
    pub fn new(config: Config) -> Self {
        Self {
            upstreams: Upstreams::new(config.upstreams.clone(), config.upstream_timeout),
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
    _slot: InflightSlot,
}

/// One of the bounded places for queries waiting on an upstream; freed on drop.
#[derive(Debug)]
struct InflightSlot(Arc<AtomicUsize>);

impl Drop for InflightSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The shared query handler.
pub struct Handler {
    state: ArcSwap<State>,
    tables: Arc<Tables>,
    cache: AnswerCache,
    overrides: OverrideAnswers,
    inflight: Arc<AtomicUsize>,
    pub metrics: Arc<Metrics>,
}

impl Handler {
    /// A handler answering from `tables` (which owns the overrides) and `config`.
    pub fn new(config: Config, metrics: Arc<Metrics>, tables: Arc<Tables>) -> Self {
        let cache = AnswerCache::new(config.cache_size);
        Self {
            state: ArcSwap::from_pointee(State::new(config)),
            tables,
            cache,
            overrides: OverrideAnswers::default(),
            inflight: Arc::new(AtomicUsize::new(0)),
            metrics,
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> Config {
        self.state.load().config.clone()
    }

    /// Swaps in a new configuration; queries in flight finish with the old one.
    pub fn reload(&self, config: Config) {
        let upstreams_changed = config.upstreams != self.state.load().config.upstreams;
        self.tables.set_statics(config.statics.clone());
        self.state.store(Arc::new(State::new(config)));
        if upstreams_changed {
            self.cache.clear();
        }
    }

    /// The record tables queries are answered from.
    pub fn tables(&self) -> &Tables {
        &self.tables
    }

    /// Number of cached answers.
    pub fn cache_len(&self) -> usize {
        self.cache.len()
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

        if req.query.query_class() == DNSClass::IN {
            // The question's name, lower-cased on the stack: the table's key form.
            let mut lower = [0u8; 256];
            let name = &raw[req.question.name.clone()];
            let lower = &mut lower[..name.len()];
            lower.copy_from_slice(name);
            lower.make_ascii_lowercase();
            let table = self.tables.current();
            let lookup = table.lookup_wire(lower);
            let unavailable = match &lookup {
                Lookup::Records { addrs, .. } => addrs.is_empty(),
                Lookup::Unavailable => true,
                _ => false,
            };
            match (lookup, unavailable, state.config.on_unavailable) {
                (Lookup::NotOurs, _, _) => {}
                (_, true, OnUnavailable::Forward) => {}
                (_, true, OnUnavailable::Servfail) => {
                    self.metrics.count(Outcome::Servfail);
                    let reply = response::error(&req, ResponseCode::ServFail, max_udp);
                    return Step::Reply(reply);
                }
                (lookup, false, _) => {
                    self.metrics.count(Outcome::Override);
                    let ttl = state.config.ttl;
                    let reply = self
                        .overrides
                        .reply(&req, raw, &table, &lookup, ttl, max_udp);
                    return Step::Reply(self.fit(reply, &req, transport, max_udp));
                }
            }
        }

        let qname_wire = &raw[req.question.name.clone()];
        let key = cache::key(
            qname_wire,
            req.question.qtype,
            req.question.qclass,
            query_flags(&req, raw),
        );
        if let Some(answer) = self.cache.get(&key) {
            self.metrics.count(Outcome::CacheHit);
            let reply = answer.patch(req.header.id, qname_wire, response::our_opt(&req, max_udp));
            return Step::Reply(self.fit(reply, &req, transport, max_udp));
        }

        let Some(slot) = self.take_slot(state.config.max_inflight) else {
            // Overloaded: refuse to queue more work than we can bound.
            self.metrics.count(Outcome::Servfail);
            return Step::Reply(response::error(&req, ResponseCode::ServFail, max_udp));
        };
        Step::Forward(Box::new(Pending {
            state: arc_swap::Guard::into_inner(state),
            qname_wire: qname_wire.to_vec(),
            request: req,
            key,
            transport,
            _slot: slot,
        }))
    }

    /// Asks the upstreams for a query `begin` could not answer.
    pub async fn finish(&self, pending: Box<Pending>) -> Option<Vec<u8>> {
        let Pending {
            state,
            request: req,
            qname_wire,
            key,
            transport,
            ..
        } = *pending;
        let max_udp = state.config.max_udp_payload;
        let question = upstream::Question {
            name_wire: &qname_wire,
            qtype: req.question.qtype,
            qclass: req.question.qclass,
            rd: req.header.recursion_desired,
            ad: req.header.authentic_data,
            cd: req.header.checking_disabled,
            dnssec_ok: req.edns.is_some_and(|e| e.dnssec_ok),
        };
        let started = Instant::now();
        let answer = match state.upstreams.query(&question).await {
            Ok(reply) => {
                self.metrics
                    .upstream_answered(started.elapsed().as_secs_f64());
                Answer::from_upstream(&reply.bytes, reply.question_end)
                    .inspect_err(
                        |e| debug!(server = %reply.server, error = %e, "malformed upstream reply"),
                    )
                    .ok()
            }
            Err(e) => {
                self.metrics
                    .upstream_failed(matches!(e, UpstreamError::Timeout(_)));
                debug!(error = %e, "upstream query failed");
                None
            }
        };
        let Some(answer) = answer else {
            self.metrics.count(Outcome::Servfail);
            return Some(response::error(&req, ResponseCode::ServFail, max_udp));
        };
        let answer = Arc::new(answer);
        self.cache.insert(key, answer.clone());
        self.metrics.count(Outcome::Forwarded);
        let reply = answer.patch(req.header.id, &qname_wire, response::our_opt(&req, max_udp));
        Some(self.fit(reply, &req, transport, max_udp))
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

/// The flag bits that change an upstream answer, for the cache key: RD, AD, CD and DO.
fn query_flags(req: &Request, raw: &[u8]) -> u8 {
    let rd = raw[2] & 0x01;
    let ad_cd = raw[3] & 0x30;
    let dnssec_ok = if req.edns.is_some_and(|e| e.dnssec_ok) {
        0x80
    } else {
        0
    };
    rd | ad_cd | dnssec_ok
}
