//! Building the replies we author ourselves (override answers and errors) with hickory-proto.
//! Relayed upstream replies are not rebuilt here: see `wire` and `cache`.

use hickory_proto::op::{Edns, Header, Message, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, SOA};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};

use crate::records::{Addresses, Lookup};
use crate::request::Request;
use crate::wire;

/// SOA fields of our synthetic zones, shaped like Route 53's (only the TTLs matter to clients).
const SOA_MNAME: &str = "ns.bedrock-link.invalid.";
const SOA_RNAME: &str = "hostmaster.bedrock-link.invalid.";

/// An empty response header for `header`'s query: ID, opcode, RD and CD copied (RFC 6895).
fn reply_to(header: &Header, rcode: ResponseCode) -> Message {
    let mut msg = Message::response(header.id, header.op_code);
    msg.metadata.recursion_desired = header.recursion_desired;
    msg.metadata.checking_disabled = header.checking_disabled;
    msg.metadata.recursion_available = true;
    msg.metadata.response_code = rcode;
    msg
}

/// Our OPT for a reply to `req`, present only when the client sent one.
fn edns_for(req: &Request, max_udp_payload: u16) -> Option<Edns> {
    req.edns.map(|client| {
        let mut edns = Edns::new();
        edns.set_max_payload(max_udp_payload);
        edns.set_dnssec_ok(client.dnssec_ok);
        edns
    })
}

fn encode(msg: &Message) -> Vec<u8> {
    // Encoding our own well-formed records cannot fail; an empty reply would be dropped.
    msg.to_vec().unwrap_or_default()
}

/// An error reply that echoes the question when there is one.
pub fn error(req: &Request, rcode: ResponseCode, max_udp_payload: u16) -> Vec<u8> {
    let mut msg = reply_to(&req.header, rcode);
    msg.add_query(req.query.clone());
    if let Some(edns) = edns_for(req, max_udp_payload) {
        msg.set_edns(edns);
    }
    encode(&msg)
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
pub fn badvers(req: &Request, max_udp_payload: u16) -> Vec<u8> {
    let mut msg = reply_to(&req.header, ResponseCode::BADVERS);
    msg.add_query(req.query.clone());
    let mut edns = Edns::new();
    edns.set_max_payload(max_udp_payload);
    msg.set_edns(edns);
    encode(&msg)
}

/// The authoritative answer a private hosted zone would give for `lookup`.
///
/// Owner names are the question's own name (or its suffix for the SOA), so the client's case
/// comes back as sent.
pub fn override_answer(req: &Request, lookup: &Lookup, ttl: u32, max_udp_payload: u16) -> Vec<u8> {
    let (rcode, addrs, zone_labels) = match lookup {
        Lookup::Records { addrs, zone_labels } => {
            (ResponseCode::NoError, Some(&**addrs), *zone_labels)
        }
        Lookup::NoData { zone_labels } => (ResponseCode::NoError, None, *zone_labels),
        Lookup::NxDomain { zone_labels } => (ResponseCode::NXDomain, None, *zone_labels),
        Lookup::NotOurs | Lookup::Unavailable => {
            unreachable!("override_answer is only called for names with data")
        }
    };
    let mut msg = reply_to(&req.header, rcode);
    msg.metadata.authoritative = true;
    msg.add_query(req.query.clone());
    let qname = req.query.name();
    if let Some(addrs) = addrs {
        msg.add_answers(records_for(qname, req.query.query_type(), addrs, ttl));
    }
    if msg.answers.is_empty() {
        msg.add_authority(soa(&qname.trim_to(zone_labels as usize), ttl));
    }
    if let Some(edns) = edns_for(req, max_udp_payload) {
        msg.set_edns(edns);
    }
    encode(&msg)
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

/// Makes a UDP reply fit `limit` bytes: too large means header and question only, with TC set,
/// so the client retries over TCP (RFC 1035 4.2.1, RFC 6891 7).
pub fn fit_udp(reply: Vec<u8>, req: &Request, limit: usize, max_udp_payload: u16) -> Vec<u8> {
    if reply.len() <= limit {
        return reply;
    }
    let opt = req
        .edns
        .map(|e| wire::opt_record(max_udp_payload, 0, e.dnssec_ok));
    wire::truncated(&reply, req.question.end(), opt.as_ref())
}
