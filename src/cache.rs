//! The answer cache for forwarded queries.
//!
//! Entries are upstream replies as bytes (without OPT), keyed on the normalised question and
//! the flags that change an answer. A hit is patched for its client: ID, the question's case,
//! TTLs reduced by the time spent in the cache. Positive answers live for their smallest TTL,
//! negative ones for min(SOA TTL, SOA MINIMUM) (RFC 2308); errors and truncated replies are
//! never stored. The VPC resolver's 1024 packets/s per ENI is the reason this exists.

use std::sync::Arc;
use std::time::{Duration, Instant};

use quick_cache::sync::Cache;

use crate::wire;

/// The longest any answer is kept, whatever its TTL says.
pub const MAX_TTL: u32 = 86_400;

/// Cache key: lower-case question name in wire form, type, class and the query flags that
/// change an answer (RD, AD, CD, DO).
pub type Key = Box<[u8]>;

/// Builds a cache key.
pub fn key(qname_wire: &[u8], qtype: u16, qclass: u16, flags: u8) -> Key {
    let mut k = Vec::with_capacity(qname_wire.len() + 5);
    k.extend(qname_wire.iter().map(u8::to_ascii_lowercase));
    k.extend_from_slice(&qtype.to_be_bytes());
    k.extend_from_slice(&qclass.to_be_bytes());
    k.push(flags);
    k.into_boxed_slice()
}

/// An upstream reply ready to be patched for any client asking the same question.
#[derive(Debug)]
pub struct Answer {
    /// The reply without OPT, as the upstream sent it otherwise.
    pub bytes: Box<[u8]>,
    /// Where the question ends in `bytes`.
    pub question_end: usize,
    /// Offsets of every TTL in `bytes`.
    pub ttl_offsets: Box<[u32]>,
    /// High bits of the upstream's extended RCODE, to carry into our OPT.
    pub ext_rcode: u8,
    /// When it was received.
    pub received: Instant,
    /// How long it may be served from the cache (0: not cacheable).
    pub ttl: u32,
}

impl Answer {
    /// Prepares an upstream reply: strips its OPT, finds its TTLs and how long it may live.
    pub fn from_upstream(reply: &[u8], question_end: usize) -> Result<Self, wire::WireError> {
        let layout = wire::layout(reply, question_end)?;
        let bytes = wire::strip_opt(reply, &layout);
        let ttl = cache_ttl(reply, &layout).min(MAX_TTL);
        let mut ttl_offsets = layout.ttl_offsets;
        ttl_offsets.retain(|&o| (o as usize) < bytes.len());
        Ok(Self {
            bytes: bytes.into_boxed_slice(),
            question_end,
            ttl_offsets: ttl_offsets.into_boxed_slice(),
            ext_rcode: layout.ext_rcode,
            received: Instant::now(),
            ttl,
        })
    }

    /// A reply we authored, without OPT: its TTLs are fixed (never aged), and it is not for
    /// the answer cache (TTL 0 here).
    pub fn authored(bytes: Vec<u8>, question_end: usize) -> Self {
        Self {
            bytes: bytes.into_boxed_slice(),
            question_end,
            ttl_offsets: Box::default(),
            ext_rcode: 0,
            received: Instant::now(),
            ttl: 0,
        }
    }

    /// Seconds this answer has spent in the cache.
    fn age(&self, now: Instant) -> u32 {
        now.saturating_duration_since(self.received).as_secs() as u32
    }

    /// Whether it may still be served at `now`.
    fn is_fresh(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.received) < Duration::from_secs(self.ttl.into())
    }

    /// The reply for one client: its ID, its question bytes (its case), aged TTLs, and our OPT
    /// when `opt` is given.
    pub fn patch(&self, id: u16, question: &[u8], opt: Option<[u8; wire::OPT_LEN]>) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.bytes.len() + wire::OPT_LEN);
        out.extend_from_slice(&self.bytes);
        wire::set_id(&mut out, id);
        if let Some(dst) = out.get_mut(wire::HEADER_LEN..wire::HEADER_LEN + question.len()) {
            dst.copy_from_slice(question);
        }
        wire::age_ttls(&mut out, &self.ttl_offsets, self.age(Instant::now()));
        if let Some(opt) = opt {
            let mut opt = opt;
            opt[5] = self.ext_rcode;
            wire::push_opt(&mut out, &opt);
        }
        out
    }
}

/// How long a reply may be cached; 0 when it must not be.
fn cache_ttl(reply: &[u8], layout: &wire::Layout) -> u32 {
    if wire::is_truncated(reply) || layout.ext_rcode != 0 {
        return 0;
    }
    match wire::rcode(reply) {
        // NOERROR with data: the smallest TTL of the data.
        0 if wire::ancount(reply) > 0 => layout.min_ttl.unwrap_or(0),
        // NODATA and NXDOMAIN: the SOA's negative TTL; without an SOA, not at all (RFC 2308 5).
        0 | 3 => layout.negative_ttl.unwrap_or(0),
        _ => 0,
    }
}

/// A bounded concurrent cache of answers.
pub struct AnswerCache {
    inner: Option<Cache<Key, Arc<Answer>>>,
}

impl AnswerCache {
    /// A cache holding at most `capacity` answers; 0 disables caching.
    pub fn new(capacity: usize) -> Self {
        Self {
            inner: (capacity > 0).then(|| Cache::new(capacity)),
        }
    }

    /// A fresh answer for `key`, if any.
    pub fn get(&self, key: &Key) -> Option<Arc<Answer>> {
        let cache = self.inner.as_ref()?;
        let answer = cache.get(key)?;
        if answer.is_fresh(Instant::now()) {
            Some(answer)
        } else {
            cache.remove(key);
            None
        }
    }

    /// Stores `answer` if it is cacheable.
    pub fn insert(&self, key: Key, answer: Arc<Answer>) {
        if let Some(cache) = &self.inner
            && answer.ttl > 0
        {
            cache.insert(key, answer);
        }
    }

    /// Number of entries (expired ones included until they are touched or evicted).
    pub fn len(&self) -> usize {
        self.inner.as_ref().map_or(0, Cache::len)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops everything (after a reload that changes upstreams).
    pub fn clear(&self) {
        if let Some(cache) = &self.inner {
            cache.clear();
        }
    }
}
