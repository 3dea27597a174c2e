//! A programmable upstream DNS server on loopback (UDP and TCP on one port): answers by rule
//! (answers, NXDOMAIN, SERVFAIL, REFUSED, truncation, silence, delays, forgeries, CNAME and
//! DNAME chains, malformed and large replies) and records every query it gets.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hickory_proto::op::{Edns, Message, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::{A, CNAME, NULL, SOA, TXT};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};
use tokio::task::JoinHandle;

/// How the test upstream answers one name.
#[derive(Debug, Clone)]
pub enum Behaviour {
    /// A records with this TTL; AA set.
    Answer {
        ips: Vec<Ipv4Addr>,
        ttl: u32,
    },
    /// NXDOMAIN with an SOA whose TTL and MINIMUM are given.
    NxDomain {
        soa_ttl: u32,
        soa_min: u32,
    },
    /// NOERROR, no answer, no SOA.
    NoDataNoSoa,
    ServFail,
    /// Over UDP: TC set and no records. Over TCP: the full answer.
    Truncate {
        ips: Vec<Ipv4Addr>,
        ttl: u32,
    },
    /// Never answers.
    Silent,
    /// Answers after a delay.
    Delay {
        ms: u64,
        ips: Vec<Ipv4Addr>,
        ttl: u32,
    },
    /// First a reply with the wrong ID and one for another question (both saying 6.6.6.6),
    /// then the real answer.
    ForgeFirst {
        ips: Vec<Ipv4Addr>,
        ttl: u32,
    },
    /// Over UDP, first a perfect forgery (right ID, right question, saying 6.6.6.6) from
    /// another port of this address and from another address (127.0.0.2) with our port, then
    /// after 100 ms the real answer from the right address and port.
    ForgeElsewhere {
        ips: Vec<Ipv4Addr>,
        ttl: u32,
    },
    /// A CNAME chain from the question through `targets`, then, for type A, A records for the
    /// last name (the public addresses a real resolver would find there); for another type,
    /// the chain and an SOA (NODATA). Everything with `ttl`.
    Chain {
        targets: Vec<String>,
        ips: Vec<Ipv4Addr>,
        ttl: u32,
    },
    /// `owner DNAME target`, the CNAME it synthesises for the question, then A records.
    Dname {
        owner: String,
        target: String,
        ips: Vec<Ipv4Addr>,
        ttl: u32,
    },
    /// `owner DNAME target` without the CNAME it synthesises (the client must substitute),
    /// after an unrelated DNAME (`elsewhere.test DNAME nowhere.test`), then A records for the
    /// substituted name.
    DnameOnly {
        owner: String,
        target: String,
        ips: Vec<Ipv4Addr>,
        ttl: u32,
    },
    /// NXDOMAIN after a CNAME: the CNAME (TTL `cname_ttl`) and an SOA (TTL and MINIMUM
    /// `soa_ttl`).
    CnameNxDomain {
        target: String,
        cname_ttl: u32,
        soa_ttl: u32,
    },
    /// A reply without a question and with this RCODE (as some servers send FORMERR,
    /// NOTIMP or REFUSED).
    ErrorWithoutQuestion(u8),
    /// The answer, with an OPT record in the answer section.
    OptInAnswer {
        ips: Vec<Ipv4Addr>,
    },
    /// SERVFAIL with an Extended DNS Error (RFC 8914) in its OPT.
    ServFailEde {
        code: u16,
        text: String,
    },
    Refused,
    /// TXT records of about `bytes` bytes in all.
    Large {
        bytes: usize,
    },
    /// One A record with this TTL, as given (2^31 and more included).
    RawTtl {
        ip: Ipv4Addr,
        ttl: u32,
    },
    /// First the query sent back with QR clear (right ID, right question, an answer saying
    /// 6.6.6.6), then the real answer.
    EchoFirst {
        ips: Vec<Ipv4Addr>,
    },
    /// First a NOERROR reply with the right ID and no question, then the real answer.
    NoQuestionFirst {
        ips: Vec<Ipv4Addr>,
    },
    /// Over UDP: TC set and no records. Over TCP: as [`Behaviour::ForgeFirst`] (a frame with
    /// the wrong ID and the right question, one for another question, then the answer).
    TruncateThenForgeFirst {
        ips: Vec<Ipv4Addr>,
        ttl: u32,
    },
}

/// A query the test upstream received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub id: u16,
    pub src: SocketAddr,
    pub tcp: bool,
    pub name: String,
    pub qtype: RecordType,
    pub has_edns: bool,
    /// The flags it came with: RD, AD, CD, and DO (in its OPT).
    pub flags: Flags,
    /// When it arrived.
    pub at: Instant,
}

/// The flags of a query that change its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Flags {
    pub rd: bool,
    pub ad: bool,
    pub cd: bool,
    pub dnssec_ok: bool,
}

#[derive(Default)]
struct Shared {
    rules: HashMap<String, Behaviour>,
    seen: Vec<Seen>,
    /// The port the upstream listens on.
    port: u16,
}

/// A DNS server on 127.0.0.1 (UDP and TCP, same port) that answers by rule and records
/// every query. Unknown names get NXDOMAIN with an SOA (TTL 60).
pub struct TestUpstream {
    pub addr: SocketAddr,
    shared: Arc<Mutex<Shared>>,
    tasks: Vec<JoinHandle<()>>,
}

impl TestUpstream {
    pub async fn start() -> Self {
        let (udp, tcp) = loop {
            let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            if let Ok(tcp) = TcpListener::bind(udp.local_addr().unwrap()).await {
                break (udp, tcp);
            }
        };
        let addr = udp.local_addr().unwrap();
        let shared = Arc::new(Mutex::new(Shared {
            port: addr.port(),
            ..Shared::default()
        }));
        let udp = Arc::new(udp);
        let mut tasks = Vec::new();
        {
            let shared = shared.clone();
            tasks.push(tokio::spawn(async move {
                let mut buf = vec![0u8; 65535];
                loop {
                    let Ok((n, src)) = udp.recv_from(&mut buf).await else {
                        return;
                    };
                    let packet = buf[..n].to_vec();
                    let (udp, shared) = (udp.clone(), shared.clone());
                    tokio::spawn(async move {
                        for reply in respond(&shared, &packet, src, false).await {
                            let _ = udp.send_to(&reply, src).await;
                        }
                    });
                }
            }));
        }
        {
            let shared = shared.clone();
            tasks.push(tokio::spawn(async move {
                loop {
                    let Ok((mut stream, src)) = tcp.accept().await else {
                        return;
                    };
                    let shared = shared.clone();
                    tokio::spawn(async move {
                        while let Ok(len) = stream.read_u16().await {
                            let mut packet = vec![0u8; len as usize];
                            if stream.read_exact(&mut packet).await.is_err() {
                                return;
                            }
                            for reply in respond(&shared, &packet, src, true).await {
                                let mut framed = (reply.len() as u16).to_be_bytes().to_vec();
                                framed.extend_from_slice(&reply);
                                if stream.write_all(&framed).await.is_err() {
                                    return;
                                }
                            }
                        }
                    });
                }
            }));
        }
        Self {
            addr,
            shared,
            tasks,
        }
    }

    /// Sets how `name` (any case) is answered.
    pub fn rule(&self, name: &str, behaviour: Behaviour) {
        let key = name.trim_end_matches('.').to_ascii_lowercase();
        self.shared.lock().unwrap().rules.insert(key, behaviour);
    }

    /// Queries received so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.shared.lock().unwrap().seen.clone()
    }

    /// Queries received for `name`.
    pub fn seen_for(&self, name: &str) -> Vec<Seen> {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        self.seen().into_iter().filter(|s| s.name == name).collect()
    }

    /// Stops answering and closes the sockets.
    pub async fn stop(self) {
        for t in &self.tasks {
            t.abort();
        }
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

async fn respond(
    shared: &Mutex<Shared>,
    packet: &[u8],
    src: SocketAddr,
    tcp: bool,
) -> Vec<Vec<u8>> {
    let Ok(req) = Message::from_vec(packet) else {
        return vec![];
    };
    let Some(query) = req.queries.first().cloned() else {
        return vec![];
    };
    let name = query
        .name()
        .to_string()
        .trim_end_matches('.')
        .to_ascii_lowercase();
    let behaviour = {
        let mut s = shared.lock().unwrap();
        s.seen.push(Seen {
            id: req.metadata.id,
            src,
            tcp,
            name: name.clone(),
            qtype: query.query_type(),
            has_edns: req.edns.is_some(),
            flags: Flags {
                rd: req.metadata.recursion_desired,
                ad: req.metadata.authentic_data,
                cd: req.metadata.checking_disabled,
                dnssec_ok: req.edns.as_ref().is_some_and(|e| e.flags().dnssec_ok),
            },
            at: Instant::now(),
        });
        s.rules.get(&name).cloned()
    };
    let behaviour = behaviour.unwrap_or(Behaviour::NxDomain {
        soa_ttl: 60,
        soa_min: 60,
    });
    let mut reply = Message::response(req.metadata.id, OpCode::Query);
    reply.metadata.recursion_desired = req.metadata.recursion_desired;
    reply.metadata.recursion_available = true;
    reply.add_query(query.clone());
    if let Some(e) = &req.edns {
        let mut edns = Edns::new();
        edns.set_max_payload(4096);
        edns.set_dnssec_ok(e.flags().dnssec_ok);
        reply.set_edns(edns);
    }
    let answer = |reply: &mut Message, ips: &[Ipv4Addr], ttl: u32| {
        reply.metadata.authoritative = true;
        for ip in ips {
            reply.add_answer(Record::from_rdata(
                query.name().clone(),
                ttl,
                RData::A(A(*ip)),
            ));
        }
    };
    // The upstream's SOA for `zone`: record TTL `ttl`, MINIMUM `minimum`.
    let soa_record = |zone: Name, ttl: u32, minimum: u32| {
        let soa = SOA::new(
            Name::from_ascii("ns.upstream.test.").unwrap(),
            Name::from_ascii("admin.upstream.test.").unwrap(),
            7,
            3600,
            600,
            86400,
            minimum,
        );
        Record::from_rdata(zone, ttl, RData::SOA(soa))
    };
    match behaviour {
        Behaviour::Answer { ips, ttl } => answer(&mut reply, &ips, ttl),
        Behaviour::Chain { targets, ips, ttl } => {
            let mut owner = query.name().clone();
            for target in &targets {
                let target = Name::from_ascii(target).unwrap();
                reply.add_answer(Record::from_rdata(
                    owner.clone(),
                    ttl,
                    RData::CNAME(CNAME(target.clone())),
                ));
                owner = target;
            }
            if query.query_type() == RecordType::A {
                for ip in &ips {
                    reply.add_answer(Record::from_rdata(owner.clone(), ttl, RData::A(A(*ip))));
                }
            } else {
                reply.add_authority(soa_record(owner.base_name(), ttl, ttl));
            }
        }
        Behaviour::Dname {
            owner,
            target,
            ips,
            ttl,
        } => {
            let synthesised = add_dname(&mut reply, query.name(), &owner, &target, ttl);
            reply.add_answer(Record::from_rdata(
                query.name().clone(),
                ttl,
                RData::CNAME(CNAME(synthesised.clone())),
            ));
            for ip in &ips {
                reply.add_answer(Record::from_rdata(
                    synthesised.clone(),
                    ttl,
                    RData::A(A(*ip)),
                ));
            }
        }
        Behaviour::DnameOnly {
            owner,
            target,
            ips,
            ttl,
        } => {
            add_dname(
                &mut reply,
                query.name(),
                "elsewhere.test",
                "nowhere.test",
                ttl,
            );
            let synthesised = add_dname(&mut reply, query.name(), &owner, &target, ttl);
            for ip in &ips {
                reply.add_answer(Record::from_rdata(
                    synthesised.clone(),
                    ttl,
                    RData::A(A(*ip)),
                ));
            }
        }
        Behaviour::CnameNxDomain {
            target,
            cname_ttl,
            soa_ttl,
        } => {
            reply.metadata.response_code = ResponseCode::NXDomain;
            let target = Name::from_ascii(&target).unwrap();
            reply.add_answer(Record::from_rdata(
                query.name().clone(),
                cname_ttl,
                RData::CNAME(CNAME(target.clone())),
            ));
            reply.add_authority(soa_record(target.base_name(), soa_ttl, soa_ttl));
        }
        Behaviour::ErrorWithoutQuestion(rcode) => {
            let id = req.metadata.id.to_be_bytes();
            return vec![vec![
                id[0],
                id[1],
                0x80,
                0x80 | rcode,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
            ]];
        }
        Behaviour::OptInAnswer { ips } => {
            let mut plain = reply.clone();
            plain.edns = None;
            answer(&mut plain, &ips, 60);
            let mut bytes = plain.to_vec().unwrap();
            // Appended after the answers, and counted as one of them.
            bytes.extend_from_slice(&[0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0]);
            let an = u16::from_be_bytes([bytes[6], bytes[7]]) + 1;
            bytes[6..8].copy_from_slice(&an.to_be_bytes());
            return vec![bytes];
        }
        Behaviour::ServFailEde { code, text } => {
            let mut plain = reply.clone();
            plain.edns = None;
            plain.metadata.response_code = ResponseCode::ServFail;
            let mut bytes = plain.to_vec().unwrap();
            let mut option = vec![0, 15];
            option.extend_from_slice(&(2 + text.len() as u16).to_be_bytes());
            option.extend_from_slice(&code.to_be_bytes());
            option.extend_from_slice(text.as_bytes());
            bytes.extend_from_slice(&[0, 0, 41, 0x10, 0, 0, 0, 0, 0]);
            bytes.extend_from_slice(&(option.len() as u16).to_be_bytes());
            bytes.extend_from_slice(&option);
            let ar = u16::from_be_bytes([bytes[10], bytes[11]]) + 1;
            bytes[10..12].copy_from_slice(&ar.to_be_bytes());
            return vec![bytes];
        }
        Behaviour::Refused => reply.metadata.response_code = ResponseCode::Refused,
        Behaviour::Large { bytes } => {
            for _ in 0..bytes.div_ceil(1000) {
                let strings: Vec<String> = (0..4).map(|_| "x".repeat(250)).collect();
                reply.add_answer(Record::from_rdata(
                    query.name().clone(),
                    300,
                    RData::TXT(TXT::new(strings)),
                ));
            }
        }
        Behaviour::RawTtl { ip, ttl } => answer(&mut reply, &[ip], ttl),
        Behaviour::NxDomain { soa_ttl, soa_min } => {
            reply.metadata.response_code = ResponseCode::NXDomain;
            reply.add_authority(soa_record(query.name().base_name(), soa_ttl, soa_min));
        }
        Behaviour::NoDataNoSoa => {}
        Behaviour::ServFail => reply.metadata.response_code = ResponseCode::ServFail,
        Behaviour::Truncate { ips, ttl } => {
            if tcp {
                answer(&mut reply, &ips, ttl);
            } else {
                reply.metadata.truncation = true;
            }
        }
        Behaviour::Silent => return vec![],
        Behaviour::Delay { ms, ips, ttl } => {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            answer(&mut reply, &ips, ttl);
        }
        Behaviour::EchoFirst { ips } => {
            let mut echo = reply.clone();
            answer(&mut echo, &[Ipv4Addr::new(6, 6, 6, 6)], 3600);
            let mut echo = echo.to_vec().unwrap();
            echo[2] &= 0x7f; // QR clear: a query, not a response
            answer(&mut reply, &ips, 60);
            return vec![echo, reply.to_vec().unwrap()];
        }
        Behaviour::NoQuestionFirst { ips } => {
            let id = req.metadata.id.to_be_bytes();
            let empty = vec![id[0], id[1], 0x81, 0x80, 0, 0, 0, 0, 0, 0, 0, 0];
            answer(&mut reply, &ips, 60);
            return vec![empty, reply.to_vec().unwrap()];
        }
        Behaviour::TruncateThenForgeFirst { .. } if !tcp => reply.metadata.truncation = true,
        Behaviour::ForgeFirst { ips, ttl } | Behaviour::TruncateThenForgeFirst { ips, ttl } => {
            let mut wrong_id = reply.clone();
            wrong_id.metadata.id = req.metadata.id.wrapping_add(1);
            answer(&mut wrong_id, &[Ipv4Addr::new(6, 6, 6, 6)], 3600);
            let mut wrong_q = Message::response(req.metadata.id, OpCode::Query);
            let other = Query::query(Name::from_ascii("evil.example.").unwrap(), RecordType::A);
            wrong_q.add_query(other.clone());
            wrong_q.add_answer(Record::from_rdata(
                other.name().clone(),
                3600,
                RData::A(A(Ipv4Addr::new(6, 6, 6, 6))),
            ));
            answer(&mut reply, &ips, ttl);
            return vec![
                wrong_id.to_vec().unwrap(),
                wrong_q.to_vec().unwrap(),
                reply.to_vec().unwrap(),
            ];
        }
        Behaviour::ForgeElsewhere { ips, ttl } => {
            let mut forged = reply.clone();
            answer(&mut forged, &[Ipv4Addr::new(6, 6, 6, 6)], 3600);
            let forged = forged.to_vec().unwrap();
            if !tcp {
                let our_port = shared.lock().unwrap().port;
                for from in ["127.0.0.1:0".to_string(), format!("127.0.0.2:{our_port}")] {
                    let socket = UdpSocket::bind(&from).await.unwrap();
                    for _ in 0..3 {
                        socket.send_to(&forged, src).await.unwrap();
                    }
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            answer(&mut reply, &ips, ttl);
        }
    }
    vec![reply.to_vec().unwrap()]
}

/// Adds `owner DNAME target` to `reply`; returns what it makes of `qname` (below `owner`).
fn add_dname(reply: &mut Message, qname: &Name, owner: &str, target: &str, ttl: u32) -> Name {
    let (owner, target) = (
        Name::from_ascii(owner).unwrap(),
        Name::from_ascii(target).unwrap(),
    );
    let mut rdata = Vec::new();
    let mut encoder = hickory_proto::serialize::binary::BinEncoder::new(&mut rdata);
    hickory_proto::serialize::binary::BinEncodable::emit(&target, &mut encoder).unwrap();
    reply.add_answer(Record::from_rdata(
        owner.clone(),
        ttl,
        RData::Unknown {
            code: RecordType::DNAME,
            rdata: NULL::with(rdata),
        },
    ));
    let keep = usize::from(qname.num_labels().saturating_sub(owner.num_labels()));
    let prefix: Vec<&[u8]> = qname.iter().take(keep).collect();
    Name::from_labels(prefix)
        .unwrap()
        .append_domain(&target)
        .unwrap()
}
