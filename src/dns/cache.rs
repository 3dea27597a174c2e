//! The answer cache for forwarded queries.
//!
//! Entries are upstream replies as bytes (without OPT), keyed on the normalised question and
//! the flags that change an answer. A hit is patched for its client: ID, the question's case,
//! TTLs reduced by the time spent in the cache, our OPT (with the upstream's Extended DNS
//! Errors). Positive answers live for their smallest TTL, negative ones for the smallest of
//! the SOA's TTL and MINIMUM and any CNAME before it (RFC 2308); errors and truncated replies
//! are never stored. The cache is bounded twice: in entries and in bytes. The VPC resolver's
//! 1024 packets/s per ENI is the reason this exists.
//!
//! An expired answer is kept for `upstream.serve_stale` more (RFC 8767): should no upstream
//! answer its question, it is given stale ([`AnswerCache::stale`]), and then held: for
//! [`STALE_HOLD`] its question is answered stale at once, without asking again, as BIND's
//! stale-refresh-time does, so that an outage costs each name one upstream query per hold, not
//! one per client query. A hit in the last tenth of an answer's TTL may claim its one
//! refresh ([`Answer::claim_refresh`], the prefetch).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use quick_cache::sync::Cache;

use crate::dns::prepared::Prepared;
use crate::dns::wire;

/// The longest any answer is kept, whatever its TTL says.
pub const MAX_TTL: u32 = 86_400;

/// After an answer was given stale because no upstream answered, how long its question is
/// answered stale at once without asking again (RFC 8767 section 5 suggests 30 s).
pub const STALE_HOLD: Duration = Duration::from_secs(30);

/// Answers with a shorter TTL are never prefetched: they would be asked for again at once.
pub const PREFETCH_MIN_TTL: u32 = 10;

/// Cache key: lower-case question name in wire form, type, class and the query flags that
/// change an answer (RD, AD, CD, DO).
pub type Key = Box<[u8]>;

/// Builds a cache key.
pub fn key(qname_wire: &[u8], qtype: u16, qclass: u16, flags: u8) -> Key {
    // One allocation, of the exact size (so `into_boxed_slice` does not reallocate).
    let mut k = Vec::with_capacity(qname_wire.len() + 5);
    k.extend_from_slice(qname_wire);
    k.make_ascii_lowercase();
    k.extend_from_slice(&qtype.to_be_bytes());
    k.extend_from_slice(&qclass.to_be_bytes());
    k.push(flags);
    k.into_boxed_slice()
}

/// An upstream reply as the cache keeps it: prepared for patching, with when it came, how
/// long it may live, and the chain of names its answer leads through.
#[derive(Debug)]
pub struct Answer {
    /// The reply, ready to patch for each client.
    pub reply: Prepared,
    /// The names a CNAME/DNAME chain in the answer leads to, from the question on (lower-case
    /// wire form): checked against the record table whenever the answer is served, since a
    /// chain that reaches one of our names must be completed from our table.
    pub chain: Box<[Box<[u8]>]>,
    /// When it was received.
    pub received: Instant,
    /// How long it may be served from the cache (0: not cacheable).
    pub ttl: u32,
    /// A hit near its expiry has started its refresh (there is one per answer).
    refresh_claimed: AtomicBool,
    /// Until when (milliseconds after `received`) it is given stale without asking upstream;
    /// 0: not held.
    held_until_ms: AtomicU64,
}

/// What the cache holds for a question.
#[derive(Debug)]
pub enum Hit {
    /// An answer within its TTL.
    Fresh(Arc<Answer>),
    /// An expired answer in its hold after a failed upstream query: give it stale.
    Held(Arc<Answer>),
}

impl Answer {
    /// Prepares an upstream reply whose `layout` was read by the upstream client: strips its
    /// OPT (keeping any Extended DNS Errors), finds its chain and how long it may live.
    pub fn from_upstream(
        reply: &[u8],
        question_end: usize,
        layout: wire::Layout,
    ) -> Result<Self, wire::WireError> {
        let mut bytes = wire::strip_opt(reply, &layout);
        let ttl = cache_ttl(reply, &layout).min(MAX_TTL);
        let mut ttl_offsets = layout.ttl_offsets;
        ttl_offsets.retain(|&o| (o as usize) < bytes.len());
        wire::zero_huge_ttls(&mut bytes, &ttl_offsets);
        let chain = if layout.has_alias {
            let qname = wire::read_name_lower(reply, wire::HEADER_LEN)?;
            follow_chain(&qname, &wire::aliases(reply, question_end)?)
        } else {
            Vec::new()
        };
        Ok(Self {
            reply: Prepared {
                bytes: bytes.into_boxed_slice(),
                question_end,
                ttl_offsets: ttl_offsets.into_boxed_slice(),
                ext_rcode: layout.ext_rcode,
                ede: wire::ede_options(&reply[layout.opt_options.clone()]).into_boxed_slice(),
            },
            chain: chain.into_boxed_slice(),
            received: Instant::now(),
            ttl,
            refresh_claimed: AtomicBool::new(false),
            held_until_ms: AtomicU64::new(0),
        })
    }

    /// Whether this is an error reply (FORMERR, SERVFAIL, NOTIMP, REFUSED): every server gave
    /// one, and a stale answer is better.
    pub fn is_error(&self) -> bool {
        matches!(wire::rcode(&self.reply.bytes), 1 | 2 | 4 | 5)
    }

    /// Whether a hit at `now` should refresh this answer: it is in the last tenth of a TTL of
    /// at least [`PREFETCH_MIN_TTL`], and no hit before has claimed the refresh.
    pub fn claim_refresh(&self, now: Instant) -> bool {
        let due = self.ttl >= PREFETCH_MIN_TTL
            && now.saturating_duration_since(self.received) * 10
                >= Duration::from_secs(self.ttl.into()) * 9;
        due && !self.refresh_claimed.swap(true, Ordering::Relaxed)
    }

    /// Whether it has been expired for no longer than `keep` at `now`.
    fn is_stale_within(&self, now: Instant, keep: Duration) -> bool {
        let age = now.saturating_duration_since(self.received);
        let ttl = Duration::from_secs(self.ttl.into());
        !keep.is_zero() && age >= ttl && age - ttl <= keep
    }

    /// Whether it is in its hold at `now` (see [`STALE_HOLD`]).
    fn is_held(&self, now: Instant) -> bool {
        let until = self.held_until_ms.load(Ordering::Relaxed);
        until > 0 && now.saturating_duration_since(self.received).as_millis() < u128::from(until)
    }

    /// Starts its hold at `now`.
    fn hold(&self, now: Instant) {
        let until = now.saturating_duration_since(self.received) + STALE_HOLD;
        let until = u64::try_from(until.as_millis()).unwrap_or(u64::MAX);
        self.held_until_ms.store(until, Ordering::Relaxed);
    }

    /// Roughly what this answer holds in memory, for the cache's byte budget.
    fn heap_bytes(&self) -> usize {
        self.reply.heap_bytes()
            + std::mem::size_of::<Self>()
            + self.chain.iter().map(|n| n.len() + 16).sum::<usize>()
    }

    /// Seconds this answer has spent in the cache.
    fn age(&self, now: Instant) -> u32 {
        now.saturating_duration_since(self.received).as_secs() as u32
    }

    /// Whether it may still be served at `now`.
    fn is_fresh(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.received) < Duration::from_secs(self.ttl.into())
    }

    /// The reply for one client: its ID, its question bytes (its case), TTLs aged by the time
    /// in the cache, and our OPT when `opt` is given.
    pub fn patch(&self, id: u16, question: &[u8], opt: Option<[u8; wire::OPT_LEN]>) -> Vec<u8> {
        self.reply
            .patch(id, question, opt, self.age(Instant::now()))
    }

    /// The reply for one client, given stale (see [`Prepared::patch_stale`]).
    pub fn patch_stale(
        &self,
        id: u16,
        question: &[u8],
        opt: Option<[u8; wire::OPT_LEN]>,
    ) -> Vec<u8> {
        self.reply.patch_stale(id, question, opt)
    }
}

/// The names a chain of CNAMEs and DNAMEs leads to from `qname` (all lower-case wire names),
/// in order; at most 16 steps, and a loop ends it.
fn follow_chain(qname: &[u8], aliases: &[wire::Alias]) -> Vec<Box<[u8]>> {
    let mut out: Vec<Box<[u8]>> = Vec::new();
    let mut current = qname.to_vec();
    for _ in 0..16 {
        let next = aliases
            .iter()
            .find(|a| a.rtype == wire::TYPE_CNAME && a.owner == current)
            .map(|a| a.target.clone())
            .or_else(|| {
                aliases
                    .iter()
                    .filter(|a| a.rtype == wire::TYPE_DNAME)
                    .find_map(|a| substitute(&current, &a.owner, &a.target))
            });
        match next {
            Some(name) if !out.iter().any(|n| **n == *name) && name != qname => {
                out.push(name.clone().into_boxed_slice());
                current = name;
            }
            _ => break,
        }
    }
    out
}

/// DNAME substitution (RFC 6672): `name` below `owner` gets `owner` replaced by `target`.
/// All three are lower-case wire names; `None` unless `owner` is a proper ancestor of `name`.
pub fn substitute(name: &[u8], owner: &[u8], target: &[u8]) -> Option<Vec<u8>> {
    let mut pos = 0;
    while let Some(&len) = name.get(pos) {
        if len == 0 {
            return None;
        }
        pos += 1 + usize::from(len);
        if name.get(pos..) == Some(owner) {
            let out = [&name[..pos], target].concat();
            return (out.len() <= 255).then_some(out);
        }
    }
    None
}

/// How long a reply may be cached; 0 when it must not be.
fn cache_ttl(reply: &[u8], layout: &wire::Layout) -> u32 {
    if wire::is_truncated(reply) || layout.ext_rcode != 0 {
        return 0;
    }
    let rcode = wire::rcode(reply);
    let negative = rcode == 3 || layout.negative_ttl.is_some();
    match (rcode, negative) {
        // NOERROR with data (no SOA): the smallest TTL of the data.
        (0, false) if wire::ancount(reply) > 0 => layout.min_ttl.unwrap_or(0),
        // NODATA and NXDOMAIN: the SOA's negative TTL, and no longer than a CNAME before it
        // lives; without an SOA, not at all (RFC 2308 section 5).
        (0 | 3, _) => match (layout.negative_ttl, layout.answer_min_ttl) {
            (Some(negative), Some(chain)) => negative.min(chain),
            (Some(negative), None) => negative,
            (None, _) => 0,
        },
        _ => 0,
    }
}

/// Per-entry bookkeeping beyond the answer itself (key box, Arc, the cache's own slot).
const ENTRY_OVERHEAD: u64 = 96;

/// Weighs an entry by the bytes it holds, but never below `floor` (the byte budget divided by
/// the entry limit), so that one weight bounds both the bytes and the number of entries.
#[derive(Clone)]
struct ByBytes {
    floor: u64,
}

impl quick_cache::Weighter<Key, Arc<Answer>> for ByBytes {
    fn weight(&self, key: &Key, answer: &Arc<Answer>) -> u64 {
        let bytes = key.len() as u64 + answer.heap_bytes() as u64 + ENTRY_OVERHEAD;
        bytes.max(self.floor)
    }
}

/// A bounded concurrent cache of answers.
pub struct AnswerCache {
    inner: Option<Cache<Key, Arc<Answer>, ByBytes>>,
    /// How long past expiry answers are kept to be given stale, in seconds (0: not at all).
    serve_stale_secs: AtomicU64,
}

impl AnswerCache {
    /// A cache holding at most `entries` answers and `max_bytes` bytes of them (an answer too
    /// large for its share of the budget is not kept); either 0 disables caching.
    pub fn new(entries: usize, max_bytes: u64) -> Self {
        let inner = (entries > 0 && max_bytes > 0).then(|| {
            let floor = (max_bytes / entries as u64).max(1);
            Cache::with_weighter(entries, max_bytes, ByBytes { floor })
        });
        Self {
            inner,
            serve_stale_secs: AtomicU64::new(0),
        }
    }

    /// Keeps expired answers for `keep` more, to be given stale (0: drops them at expiry).
    pub fn set_serve_stale(&self, keep: Duration) {
        self.serve_stale_secs
            .store(keep.as_secs(), Ordering::Relaxed);
    }

    fn serve_stale(&self) -> Duration {
        Duration::from_secs(self.serve_stale_secs.load(Ordering::Relaxed))
    }

    /// What the cached answers weigh, in bytes (by the weigher's measure).
    pub fn bytes(&self) -> u64 {
        self.inner.as_ref().map_or(0, Cache::weight)
    }

    /// A fresh answer for `key`, or an expired one in its hold; `None` is a miss (an
    /// expired answer within `serve_stale` is kept for [`AnswerCache::stale`]).
    pub fn get(&self, key: &Key) -> Option<Hit> {
        let cache = self.inner.as_ref()?;
        let answer = cache.get(key)?;
        let now = Instant::now();
        if answer.is_fresh(now) {
            return Some(Hit::Fresh(answer));
        }
        if !answer.is_stale_within(now, self.serve_stale()) {
            cache.remove(key);
            return None;
        }
        answer.is_held(now).then_some(Hit::Held(answer))
    }

    /// The expired answer for `key` to give when no upstream answered, if it expired no longer
    /// than `serve_stale` ago; its hold starts now.
    pub fn stale(&self, key: &Key) -> Option<Arc<Answer>> {
        let answer = self.inner.as_ref()?.get(key)?;
        let now = Instant::now();
        if !answer.is_stale_within(now, self.serve_stale()) {
            return None;
        }
        answer.hold(now);
        Some(answer)
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

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use hickory_proto::op::{Message, OpCode, Query, ResponseCode};
    use hickory_proto::rr::rdata::{A, CNAME, SOA, TXT};
    use hickory_proto::rr::{Name, RData, Record, RecordType};

    use super::*;

    fn name(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }

    fn wire_name(s: &str) -> Vec<u8> {
        crate::zone::table::wire_key(&name(s)).into_vec()
    }

    /// An upstream reply to `qname` A, with `answers` and `authority`.
    fn reply(
        qname: &str,
        rcode: ResponseCode,
        answers: Vec<Record>,
        authority: Vec<Record>,
    ) -> Message {
        let mut msg = Message::response(0x4242, OpCode::Query);
        msg.metadata.response_code = rcode;
        msg.add_query(Query::query(name(qname), RecordType::A));
        for r in answers {
            msg.add_answer(r);
        }
        for r in authority {
            msg.add_authority(r);
        }
        msg
    }

    fn a(owner: &str, ttl: u32) -> Record {
        Record::from_rdata(name(owner), ttl, RData::A(A(Ipv4Addr::new(192, 0, 2, 1))))
    }

    fn cname(owner: &str, target: &str, ttl: u32) -> Record {
        Record::from_rdata(name(owner), ttl, RData::CNAME(CNAME(name(target))))
    }

    fn soa(zone: &str, ttl: u32, minimum: u32) -> Record {
        let soa = SOA::new(
            name("ns.example."),
            name("h.example."),
            1,
            7200,
            900,
            86400,
            minimum,
        );
        Record::from_rdata(name(zone), ttl, RData::SOA(soa))
    }

    fn answer_of(msg: &Message) -> Answer {
        let bytes = msg.to_vec().unwrap();
        let question_end = wire::read_question(&bytes).unwrap().end();
        let layout = wire::layout(&bytes, question_end).unwrap();
        Answer::from_upstream(&bytes, question_end, layout).unwrap()
    }

    fn ttl_of(msg: &Message) -> u32 {
        answer_of(msg).ttl
    }

    #[test]
    fn an_answer_never_weighs_less_than_the_memory_it_holds() {
        // The byte budget bounds real memory only if no part of an entry goes uncounted: the
        // reply, the struct, each chain name, the key and the per-entry bookkeeping.
        let q = "www.example.";
        let plain = answer_of(&reply(q, ResponseCode::NoError, vec![a(q, 60)], vec![]));
        assert!(plain.chain.is_empty());
        let held = |answer: &Answer| {
            answer.reply.heap_bytes()
                + std::mem::size_of::<Answer>()
                + answer.chain.iter().map(|n| n.len()).sum::<usize>()
        };
        assert!(plain.heap_bytes() >= held(&plain), "{}", plain.heap_bytes());
        let target = "a-rather-long-target-name.cdn.example.";
        let aliased = answer_of(&reply(
            q,
            ResponseCode::NoError,
            vec![cname(q, target, 60), a(target, 60)],
            vec![],
        ));
        assert_eq!(aliased.chain.len(), 1);
        assert!(aliased.chain[0].len() > 16);
        assert!(
            aliased.heap_bytes() >= held(&aliased),
            "{}",
            aliased.heap_bytes()
        );

        let key = key(&wire_name(q), 1, 1, 0);
        use quick_cache::Weighter;
        let weight = ByBytes { floor: 0 }.weight(&key, &Arc::new(plain));
        let answer = answer_of(&reply(q, ResponseCode::NoError, vec![a(q, 60)], vec![]));
        assert!(
            weight > (key.len() + answer.heap_bytes()) as u64,
            "{weight}"
        );
    }

    #[test]
    fn answers_live_for_their_smallest_ttl_and_negative_ones_as_rfc_2308_says() {
        use ResponseCode::{NXDomain, NoError, ServFail};
        let q = "a.example.";
        assert_eq!(
            ttl_of(&reply(q, NoError, vec![a(q, 300), a(q, 60)], vec![])),
            60
        );
        assert_eq!(
            ttl_of(&reply(q, NoError, vec![a(q, 200_000)], vec![])),
            MAX_TTL
        );
        // NXDOMAIN and NODATA: the smaller of the SOA's TTL and MINIMUM...
        assert_eq!(
            ttl_of(&reply(q, NXDomain, vec![], vec![soa("example.", 900, 120)])),
            120
        );
        assert_eq!(
            ttl_of(&reply(q, NoError, vec![], vec![soa("example.", 100, 900)])),
            100
        );
        // ...no longer than a CNAME before it lives...
        let chain = vec![cname(q, "b.example.", 30)];
        assert_eq!(
            ttl_of(&reply(q, NXDomain, chain, vec![soa("example.", 900, 900)])),
            30
        );
        // NODATA after a CNAME: the negative TTL, not the data's.
        let nodata = vec![cname(q, "b.example.", 600)];
        assert_eq!(
            ttl_of(&reply(q, NoError, nodata, vec![soa("example.", 900, 50)])),
            50
        );
        // ...and without an SOA, not at all, whatever other records say.
        let mut glue = reply(q, NoError, vec![], vec![]);
        glue.add_additional(a("ns.example.", 300));
        assert_eq!(ttl_of(&glue), 0);
        assert_eq!(ttl_of(&reply(q, NXDomain, vec![], vec![])), 0);
        assert_eq!(ttl_of(&reply(q, NoError, vec![], vec![])), 0);
        // Errors and truncated replies are never kept.
        assert_eq!(ttl_of(&reply(q, ServFail, vec![a(q, 300)], vec![])), 0);
        let mut truncated = reply(q, NoError, vec![a(q, 300)], vec![]);
        truncated.metadata.truncation = true;
        assert_eq!(ttl_of(&truncated), 0);
    }

    #[test]
    fn a_chain_is_followed_in_order_and_a_loop_ends_it() {
        let q = "a.example.";
        let chain = vec![
            cname(q, "b.example.", 60),
            cname("b.example.", "c.example.", 60),
            a("c.example.", 60),
        ];
        let answer = answer_of(&reply(q, ResponseCode::NoError, chain, vec![]));
        let want: Vec<Box<[u8]>> = ["b.example.", "c.example."]
            .iter()
            .map(|n| wire_name(n).into_boxed_slice())
            .collect();
        assert_eq!(&answer.chain[..], &want[..]);

        let looped = vec![cname(q, "b.example.", 60), cname("b.example.", q, 60)];
        let answer = answer_of(&reply(q, ResponseCode::NoError, looped, vec![]));
        assert_eq!(
            &answer.chain[..],
            &want[..1],
            "back at the question: the chain ends"
        );
        let no_alias = answer_of(&reply(q, ResponseCode::NoError, vec![a(q, 60)], vec![]));
        assert!(no_alias.chain.is_empty());
    }

    #[test]
    fn a_dname_substitutes_below_its_owner_only() {
        let alias = |rtype, owner: &str, target: &str| wire::Alias {
            rtype,
            owner: wire_name(owner),
            target: wire_name(target),
        };
        let aliases = [
            alias(wire::TYPE_DNAME, "old.example.", "new.example."),
            alias(wire::TYPE_CNAME, "x.new.example.", "y.example."),
        ];
        let chain = follow_chain(&wire_name("x.old.example."), &aliases);
        let want: Vec<Box<[u8]>> = ["x.new.example.", "y.example."]
            .iter()
            .map(|n| wire_name(n).into_boxed_slice())
            .collect();
        assert_eq!(chain, want);
        // The owner itself is not below itself (RFC 6672): nothing to follow.
        assert!(follow_chain(&wire_name("old.example."), &aliases).is_empty());

        let (owner, target) = (wire_name("old.example."), wire_name("new.example."));
        let sub = |n: &str| substitute(&wire_name(n), &owner, &target);
        assert_eq!(sub("a.b.old.example."), Some(wire_name("a.b.new.example.")));
        assert_eq!(sub("old.example."), None);
        assert_eq!(sub("a.older.example."), None);
        assert_eq!(sub("a.example."), None);
        // A substitution longer than a name can be is no name.
        let long = format!("{}.old.example.", vec!["a".repeat(63); 3].join("."));
        let longer_target = wire_name(&format!("{}.example.", "b".repeat(60)));
        assert_eq!(substitute(&wire_name(&long), &owner, &longer_target), None);
        assert!(substitute(&wire_name(&long), &owner, &target).is_some());
    }

    #[test]
    fn a_cached_answer_ages_and_expires_and_is_patched_for_its_client() {
        let q = "a.example.";
        let mut answer = answer_of(&reply(q, ResponseCode::NoError, vec![a(q, 300)], vec![]));
        let now = Instant::now();
        answer.received = now - Duration::from_secs(10);
        assert_eq!(answer.age(now), 10);
        assert!(answer.is_fresh(now));
        assert!(answer.is_fresh(answer.received + Duration::from_millis(299_999)));
        assert!(!answer.is_fresh(answer.received + Duration::from_secs(300)));
        assert!(!answer.is_fresh(answer.received + Duration::from_secs(301)));

        let question = &msg_bytes(q)[wire::HEADER_LEN..];
        let patched = Message::from_vec(&answer.patch(0x1234, question, None)).unwrap();
        assert_eq!(patched.metadata.id, 0x1234);
        let ttl = patched.answers[0].ttl;
        assert!(
            (289..=290).contains(&ttl),
            "aged by the time in the cache: {ttl}"
        );
    }

    /// A query's bytes for `qname` A (for its question section).
    fn msg_bytes(qname: &str) -> Vec<u8> {
        let mut msg = Message::query();
        msg.add_query(Query::query(name(qname), RecordType::A));
        msg.to_vec().unwrap()
    }

    #[test]
    fn the_cache_keeps_only_cacheable_fresh_answers_until_cleared() {
        let q = "a.example.";
        let answer = |rcode, ttl| Arc::new(answer_of(&reply(q, rcode, vec![a(q, ttl)], vec![])));
        let k = |n: &str| key(&wire_name(n), 1, 1, 0);
        let cache = AnswerCache::new(100, 1 << 20);
        assert!(cache.is_empty());
        cache.insert(k("one."), answer(ResponseCode::NoError, 60));
        assert!(cache.get(&k("one.")).is_some());
        assert_eq!(cache.len(), 1);
        assert!(!cache.is_empty());
        // Not cacheable (TTL 0): never stored.
        cache.insert(k("two."), answer(ResponseCode::ServFail, 60));
        assert_eq!(cache.len(), 1);
        assert!(cache.get(&k("two.")).is_none());
        // Expired: not served, and dropped when asked for.
        let mut old = answer_of(&reply(q, ResponseCode::NoError, vec![a(q, 60)], vec![]));
        old.received = Instant::now() - Duration::from_secs(61);
        cache.insert(k("three."), Arc::new(old));
        assert_eq!(cache.len(), 2);
        assert!(cache.get(&k("three.")).is_none());
        assert_eq!(cache.len(), 1);
        cache.clear();
        assert!(cache.is_empty());
        assert!(cache.get(&k("one.")).is_none());
        // No room at all: caching is off.
        let off = AnswerCache::new(0, 1 << 20);
        off.insert(k("one."), answer(ResponseCode::NoError, 60));
        assert!(off.is_empty() && off.get(&k("one.")).is_none());
    }

    #[test]
    fn the_byte_budget_bounds_what_is_kept() {
        // About 1 KB an answer, a 20 KB budget, room for 1000 entries: bytes decide.
        let cache = AnswerCache::new(1000, 20_000);
        let big = RData::TXT(TXT::new(vec!["x".repeat(250); 4]));
        for i in 0..100 {
            let q = format!("n{i}.example.");
            let record = Record::from_rdata(name(&q), 300, big.clone());
            let answer = answer_of(&reply(&q, ResponseCode::NoError, vec![record], vec![]));
            assert!(answer.heap_bytes() > 1000, "{}", answer.heap_bytes());
            cache.insert(key(&wire_name(&q), 16, 1, 0), Arc::new(answer));
        }
        assert!(cache.len() <= 20, "{} answers kept", cache.len());
        assert!(cache.len() >= 5, "{} answers kept", cache.len());
        assert!(cache.bytes() <= 20_000, "{} bytes", cache.bytes());
        assert!(
            cache.bytes() >= 1000 * cache.len() as u64,
            "{} bytes",
            cache.bytes()
        );
    }
}
