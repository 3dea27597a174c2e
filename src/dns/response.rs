//! Building the replies we author ourselves with hickory-proto: override answers, forwarded
//! chains completed from our table, and errors. Relayed upstream replies are not rebuilt here
//! (see `wire` and `cache`), except when their CNAME/DNAME chain reaches one of our names.
//!
//! Each override is answered as a Route 53 private hosted zone at that name would answer:
//! A/AAAA at the name, SOA and NS at the apex (our own, fixed: [`SOA_MNAME`] is the one name
//! server, [`SOA_RNAME`] the contact, serial 1), NODATA with the SOA for any other type, and
//! NXDOMAIN below it.

use std::sync::Arc;

use hickory_proto::op::{Header, Message, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, CNAME, NS, SOA};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};

use quick_cache::sync::Cache;

use crate::dns::prepared::Prepared;
use crate::dns::request::Request;
use crate::dns::wire;
use crate::zone::table::{Addresses, Lookup, RecordTable};

/// The SOA MNAME of our zones, and their one NS record (shaped like Route 53's; only the TTLs
/// matter to clients).
pub const SOA_MNAME: &str = "ns.bedrock-link.invalid.";
/// The SOA RNAME (contact) of our zones.
pub const SOA_RNAME: &str = "hostmaster.bedrock-link.invalid.";

/// An empty response header for `header`'s query: ID, opcode, RD and CD copied (RFC 6895).
fn reply_to(header: &Header, rcode: ResponseCode) -> Message {
    let mut msg = Message::response(header.id, header.op_code);
    msg.metadata.recursion_desired = header.recursion_desired;
    msg.metadata.checking_disabled = header.checking_disabled;
    msg.metadata.recursion_available = true;
    msg.metadata.response_code = rcode;
    msg
}

fn encode(msg: &Message) -> Vec<u8> {
    // Encoding our own well-formed records cannot fail; an empty reply would be dropped.
    msg.to_vec().unwrap_or_default()
}

/// Encodes `msg` (which has no OPT) and appends our OPT when the client sent one: the one
/// place our authored replies get their OPT, the same bytes patched replies get.
fn encode_for(msg: &Message, req: &Request, max_udp_payload: u16) -> Vec<u8> {
    encode_with_options(msg, req, max_udp_payload, &[])
}

/// [`encode_for`], with these EDNS options (in wire form) in our OPT.
fn encode_with_options(
    msg: &Message,
    req: &Request,
    max_udp_payload: u16,
    options: &[u8],
) -> Vec<u8> {
    let mut out = encode(msg);
    if let (Some(opt), false) = (our_opt(req, max_udp_payload), out.is_empty()) {
        wire::push_opt_with(&mut out, &opt, options);
    }
    out
}

/// The Extended DNS Errors in a reply's OPT (none when it has no OPT or is malformed).
fn ede_of(reply: &[u8]) -> Vec<u8> {
    wire::read_question(reply)
        .and_then(|q| wire::layout(reply, q.end()))
        .map(|layout| wire::ede_options(&reply[layout.opt_options]))
        .unwrap_or_default()
}

/// An error reply that echoes the question when there is one.
pub fn error(req: &Request, rcode: ResponseCode, max_udp_payload: u16) -> Vec<u8> {
    let mut msg = reply_to(&req.header, rcode);
    msg.add_query(req.question.clone());
    encode_for(&msg, req, max_udp_payload)
}

/// An error reply for a query we could not decode past its header.
pub fn header_error(header: &Header, rcode: ResponseCode) -> Vec<u8> {
    let mut msg = reply_to(header, rcode);
    if header.op_code != OpCode::Query {
        msg.metadata.recursion_available = false;
    }
    encode(&msg)
}

/// BADVERS for an EDNS version we do not speak (RFC 6891 6.1.3): our OPT says version 0.
/// BADVERS is 16: the header's RCODE holds its low 4 bits (0), our OPT the high 8 (1).
pub fn badvers(req: &Request, max_udp_payload: u16) -> Vec<u8> {
    let mut msg = reply_to(&req.header, ResponseCode::NoError);
    msg.add_query(req.question.clone());
    let mut out = encode(&msg);
    if !out.is_empty() {
        wire::push_opt(&mut out, &wire::opt_record(max_udp_payload, 1, false));
    }
    out
}

/// What our zone holds at `name` for `qtype`, as `lookup` found it: the RCODE, the answer
/// records and the authority records, as a private hosted zone answers. Owner names are
/// `name` itself (or its suffix, the apex, for the SOA), so the case it came in stays.
fn zone_records(
    name: &Name,
    qtype: RecordType,
    lookup: &Lookup,
    ttl: u32,
) -> (ResponseCode, Vec<Record>, Vec<Record>) {
    let (rcode, addrs, zone_labels) = match lookup {
        Lookup::Records { addrs, zone_labels } => {
            (ResponseCode::NoError, Some(&**addrs), *zone_labels)
        }
        Lookup::NoData { zone_labels } => (ResponseCode::NoError, None, *zone_labels),
        Lookup::NxDomain { zone_labels } => (ResponseCode::NXDomain, None, *zone_labels),
        Lookup::NotOurs | Lookup::Unavailable => {
            unreachable!("zone records are only asked for names with data")
        }
    };
    let apex = name.trim_to(usize::from(zone_labels));
    let at_apex = rcode == ResponseCode::NoError && zone_labels == name.num_labels();
    let mut answers = addrs.map_or_else(Vec::new, |addrs| records_for(name, qtype, addrs, ttl));
    if at_apex && matches!(qtype, RecordType::SOA | RecordType::ANY) {
        answers.push(soa(name, ttl));
    }
    if at_apex && matches!(qtype, RecordType::NS | RecordType::ANY) {
        let ns = Name::from_ascii(SOA_MNAME).expect("constant name");
        answers.push(Record::from_rdata(name.clone(), ttl, RData::NS(NS(ns))));
    }
    let authority = if answers.is_empty() {
        vec![soa(&apex, ttl)]
    } else {
        Vec::new()
    };
    (rcode, answers, authority)
}

/// The authoritative answer a private hosted zone would give for `lookup`.
///
/// Owner names are the question's own name (or its suffix for the SOA), so the client's case
/// comes back as sent.
pub fn override_answer(req: &Request, lookup: &Lookup, ttl: u32, max_udp_payload: u16) -> Vec<u8> {
    let (rcode, answers, authority) =
        zone_records(req.question.name(), req.question.query_type(), lookup, ttl);
    let mut msg = reply_to(&req.header, rcode);
    msg.metadata.authoritative = true;
    msg.add_query(req.question.clone());
    msg.add_answers(answers);
    msg.add_authorities(authority);
    encode_for(&msg, req, max_udp_payload)
}

/// A forwarded answer whose CNAME/DNAME chain reaches `target` (one of our names, as a
/// lower-case wire name), completed as the VPC resolver completes such a chain from a private
/// hosted zone: the chain's records from the question up to `target`, then what our zone
/// holds there (records, or NODATA/NXDOMAIN with our SOA). Nothing the upstream said about
/// `target` or beyond is kept. `reply` is the upstream answer as patched for this client;
/// `None` when its chain does not lead to `target` after all.
pub fn complete_chain(
    reply: &[u8],
    req: &Request,
    target: &[u8],
    lookup: &Lookup,
    ttl: u32,
    max_udp_payload: u16,
) -> Option<Vec<u8>> {
    let upstream = Message::from_vec(reply).ok()?;
    let mut kept: Vec<Record> = Vec::new();
    let mut current = req.question.name().clone();
    for _ in 0..16 {
        if crate::zone::table::wire_key(&current).as_ref() == target {
            let (rcode, answers, authority) =
                zone_records(&current, req.question.query_type(), lookup, ttl);
            let mut msg = reply_to(&req.header, rcode);
            msg.add_query(req.question.clone());
            msg.add_answers(kept);
            msg.add_answers(answers);
            msg.add_authorities(authority);
            // The reply's Extended DNS Errors (the upstream's, Stale Answer) stay.
            let ede = ede_of(reply);
            return Some(encode_with_options(&msg, req, max_udp_payload, &ede));
        }
        // DNAMEs above the current name come first, then the CNAME the current name owns (a
        // DNAME's synthesised CNAME, or a plain one).
        for dname in upstream.answers.iter().filter(|r| {
            r.record_type() == RecordType::DNAME && r.name.zone_of(&current) && r.name != current
        }) {
            if !kept.contains(dname) {
                kept.push(dname.clone());
            }
        }
        let cname = upstream.answers.iter().find(|r| r.name == current);
        match cname.map(|r| (r, &r.data)) {
            Some((record, RData::CNAME(CNAME(next)))) => {
                kept.push(record.clone());
                current = next.clone();
            }
            _ => {
                let dname = kept.iter().rev().find_map(|r| match &r.data {
                    RData::Unknown { rdata, .. } if r.name.zone_of(&current) => {
                        dname_target(&current, &r.name, &rdata.anything)
                    }
                    _ => None,
                })?;
                current = dname;
            }
        }
    }
    None
}

/// `name` with its ancestor `owner` replaced by a DNAME's target (RDATA in wire form, never
/// compressed: RFC 6672 section 2.5).
fn dname_target(name: &Name, owner: &Name, rdata: &[u8]) -> Option<Name> {
    let mut decoder = hickory_proto::serialize::binary::BinDecoder::new(rdata);
    let target =
        <Name as hickory_proto::serialize::binary::BinDecodable>::read(&mut decoder).ok()?;
    let keep = usize::from(name.num_labels() - owner.num_labels());
    let prefix: Vec<&[u8]> = name.iter().take(keep).collect();
    let mut out = Name::from_labels(prefix).ok()?;
    out.set_fqdn(true);
    out.append_domain(&target).ok()
}

/// Override answers encoded once, then patched for each query like a cache hit: the client's
/// ID, its question bytes (its case) and our OPT. Everything else in an override answer
/// follows from the table, the TTL, the question's type and lower-case name, and the RD and CD
/// bits, which together make the key; so a patched answer is byte for byte what
/// [`override_answer`] would encode (a unit test holds it to that).
pub struct OverrideAnswers {
    prepared: Cache<Box<[u8]>, Arc<Prepared>>,
}

/// Key: table generation (8), TTL (4), RD|CD (1), type (2), class (2), lower-case name (at
/// most 255).
const KEY_MAX: usize = 8 + 4 + 1 + 2 + 2 + 255;

impl Default for OverrideAnswers {
    fn default() -> Self {
        Self::new(4096)
    }
}

impl OverrideAnswers {
    pub fn new(capacity: usize) -> Self {
        Self {
            prepared: Cache::new(capacity),
        }
    }

    /// The override answer to `req` (whose bytes are `raw`) from `table`.
    pub fn reply(
        &self,
        req: &Request,
        raw: &[u8],
        table: &RecordTable,
        lookup: &Lookup,
        ttl: u32,
        max_udp_payload: u16,
    ) -> Vec<u8> {
        let name = &raw[req.span.name.clone()];
        let mut key = [0u8; KEY_MAX];
        key[..8].copy_from_slice(&table.generation().to_be_bytes());
        key[8..12].copy_from_slice(&ttl.to_be_bytes());
        // RD and CD come back in the answer; AD and DO do not change ours.
        key[12] = wire::rd_bit(raw) | (wire::ad_cd_bits(raw) & wire::FLAG_CD);
        key[13..15].copy_from_slice(&req.span.qtype.to_be_bytes());
        key[15..17].copy_from_slice(&req.span.qclass.to_be_bytes());
        let key = &mut key[..17 + name.len()];
        wire::lowercase_into(&mut key[17..], name);
        let answer = match self.prepared.get(&*key) {
            Some(answer) => answer,
            None => {
                let mut bare = req.clone();
                bare.edns = None;
                let bytes = override_answer(&bare, lookup, ttl, max_udp_payload);
                let answer = Arc::new(Prepared::authored(bytes, req.span.end()));
                self.prepared.insert(key.into(), answer.clone());
                answer
            }
        };
        answer.patch(req.header.id, name, our_opt(req, max_udp_payload), 0)
    }
}

/// The A/AAAA records of `addrs` that answer `qtype` (ANY gets both, as Route 53 does).
fn records_for(qname: &Name, qtype: RecordType, addrs: &Addresses, ttl: u32) -> Vec<Record> {
    let want_a = matches!(qtype, RecordType::A | RecordType::ANY);
    let want_aaaa = matches!(qtype, RecordType::AAAA | RecordType::ANY);
    let v4 = addrs
        .ipv4
        .iter()
        .filter(|_| want_a)
        .map(|ip| RData::A(A(*ip)));
    let v6 = addrs
        .ipv6
        .iter()
        .filter(|_| want_aaaa)
        .map(|ip| RData::AAAA(AAAA(*ip)));
    v4.chain(v6)
        .map(|rdata| {
            let mut rec = Record::from_rdata(qname.clone(), ttl, rdata);
            rec.dns_class = DNSClass::IN;
            rec
        })
        .collect()
}

/// The SOA of a synthetic zone; its MINIMUM equals its TTL so negative caching lasts `ttl`.
fn soa(zone: &Name, ttl: u32) -> Record {
    let soa = SOA::new(
        Name::from_ascii(SOA_MNAME).expect("constant name"),
        Name::from_ascii(SOA_RNAME).expect("constant name"),
        1,
        7200,
        900,
        1_209_600,
        ttl,
    );
    Record::from_rdata(zone.clone(), ttl, RData::SOA(soa))
}

/// Our OPT record in wire form for a reply to `req`, present only when the client sent one.
pub fn our_opt(req: &Request, max_udp_payload: u16) -> Option<[u8; wire::OPT_LEN]> {
    req.edns
        .map(|e| wire::opt_record(max_udp_payload, 0, e.dnssec_ok))
}

/// Makes a UDP reply fit `limit` bytes: too large means header and question only, with TC set,
/// so the client retries over TCP (RFC 1035 4.2.1, RFC 6891 7).
pub fn fit_udp(reply: Vec<u8>, req: &Request, limit: usize, max_udp_payload: u16) -> Vec<u8> {
    if reply.len() <= limit {
        return reply;
    }
    let opt = our_opt(req, max_udp_payload);
    wire::truncated(&reply, req.span.end(), opt.as_ref())
}

#[cfg(test)]
mod tests {
    use hickory_proto::op::{Edns, Message, Query};
    use hickory_proto::rr::{Name, RecordType};

    use super::*;
    use crate::zone::table::{Addresses, RecordTable};

    fn query(name: &str, qtype: RecordType, rd: bool, cd: bool, edns: Option<bool>) -> Vec<u8> {
        let mut msg = Message::query();
        msg.metadata.id = rand::random();
        msg.metadata.recursion_desired = rd;
        msg.metadata.checking_disabled = cd;
        msg.add_query(Query::query(Name::from_ascii(name).unwrap(), qtype));
        if let Some(dnssec_ok) = edns {
            let mut e = Edns::new();
            e.set_max_payload(1400);
            e.set_dnssec_ok(dnssec_ok);
            msg.set_edns(e);
        }
        msg.to_vec().unwrap()
    }

    /// Flips the case of every other letter, so each query's case differs from the last one's.
    fn recase(name: &str, seed: usize) -> String {
        name.chars()
            .enumerate()
            .map(|(i, c)| {
                if (i + seed).is_multiple_of(2) {
                    c.to_ascii_uppercase()
                } else {
                    c.to_ascii_lowercase()
                }
            })
            .collect()
    }

    #[test]
    fn prepared_override_answers_equal_freshly_encoded_ones_byte_for_byte() {
        let mut table = RecordTable::default();
        let addrs = Addresses::new(
            vec!["10.1.0.5".parse().unwrap(), "10.1.1.5".parse().unwrap()],
            vec!["fd00::5".parse().unwrap()],
        );
        let name = Name::from_ascii("bedrock-runtime.us-west-2.amazonaws.com.").unwrap();
        table.insert(&name, addrs.clone());
        let wildcard = Name::from_ascii("*.vpce.us-west-2.amazonaws.com.").unwrap();
        table.insert(&wildcard, addrs);
        let answers = OverrideAnswers::new(64);
        let names = [
            "bedrock-runtime.us-west-2.amazonaws.com.",     // records
            "sub.bedrock-runtime.us-west-2.amazonaws.com.", // NXDOMAIN below a name
            "x.vpce.us-west-2.amazonaws.com.",              // wildcard
            "vpce.us-west-2.amazonaws.com.",                // NODATA at a wildcard-only apex
        ];
        let types = [
            RecordType::A,
            RecordType::AAAA,
            RecordType::ANY,
            RecordType::TXT,
            RecordType::SOA,
            RecordType::NS,
        ];
        for (n, name) in names.iter().enumerate() {
            for qtype in types {
                // RD and CD, each on and off.
                for flags in 0..4 {
                    let (rd, cd) = (flags & 1 != 0, flags & 2 != 0);
                    // Each variant is asked three times in a different case: the first
                    // prepares the answer, the others are patched from it.
                    for (round, edns) in [None, Some(false), Some(true)].into_iter().enumerate() {
                        let raw = query(&recase(name, n + round + flags), qtype, rd, cd, edns);
                        let req = Request::parse(&raw).unwrap();
                        let lookup = table.lookup(&req.qname);
                        assert!(
                            !matches!(lookup, Lookup::NotOurs | Lookup::Unavailable),
                            "{name}"
                        );
                        let fresh = override_answer(&req, &lookup, 60, 1232);
                        let patched = answers.reply(&req, &raw, &table, &lookup, 60, 1232);
                        assert_eq!(patched, fresh, "{name} {qtype} rd={rd} cd={cd} {edns:?}");
                    }
                }
            }
        }
        // Class ANY is answered as IN, with its own question: never a prepared IN answer.
        let mut raw = query(names[0], RecordType::A, true, false, None);
        let class_at = raw.len() - 2;
        raw[class_at..].copy_from_slice(&255u16.to_be_bytes());
        let req = Request::parse(&raw).unwrap();
        let lookup = table.lookup(&req.qname);
        assert_eq!(
            answers.reply(&req, &raw, &table, &lookup, 60, 1232),
            override_answer(&req, &lookup, 60, 1232)
        );
        // A TTL change (a reload) never reuses answers prepared with the old TTL.
        let raw = query(names[0], RecordType::A, true, false, None);
        let req = Request::parse(&raw).unwrap();
        let lookup = table.lookup(&req.qname);
        assert_eq!(
            answers.reply(&req, &raw, &table, &lookup, 300, 1232),
            override_answer(&req, &lookup, 300, 1232)
        );
    }
}
