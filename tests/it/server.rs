//! The server side over the network: transports, EDNS, access control, malformed input, reload.

use std::net::SocketAddr;
use std::time::Duration;

use crate::support::*;
use bedrock_link::serve::Running;
use hickory_proto::op::{Edns, Message, ResponseCode};
use hickory_proto::rr::rdata::{A, NS};
use hickory_proto::rr::{Name, RData, Record, RecordType};

const ONE: &str =
    "[[static]]\nname = \"bedrock-runtime.ap-southeast-2.amazonaws.com\"\nipv4 = [\"10.1.0.10\"]\n";
const NAME: &str = "bedrock-runtime.ap-southeast-2.amazonaws.com.";

/// An upstream that answers `fwd.example.test` with 192.0.2.5.
async fn forwarding_upstream() -> TestUpstream {
    let up = TestUpstream::start().await;
    up.rule(
        "fwd.example.test",
        Behaviour::Answer {
            ips: vec![ip("192.0.2.5")],
            ttl: 60,
        },
    );
    up
}

#[tokio::test]
async fn answers_over_tcp_too() {
    let up = forwarding_upstream().await;
    let (_s, addr) = start(config(up.addr, ONE)).await;
    assert_eq!(
        ipv4s(&tcp(addr, &query_msg(NAME, RecordType::A, None)).await),
        vec![ip("10.1.0.10")]
    );
    assert_eq!(
        ipv4s(&tcp(addr, &query_msg("fwd.example.test.", RecordType::A, None)).await),
        vec![ip("192.0.2.5")]
    );
}

#[tokio::test]
async fn listens_on_ipv6_and_ipv4_at_once() {
    let up = TestUpstream::start().await;
    let mut cfg = config(up.addr, ONE);
    cfg.listen = vec!["127.0.0.1:0".parse().unwrap(), "[::1]:0".parse().unwrap()];
    let running = Running::start(cfg).await.unwrap();
    let v6: SocketAddr = running.dns_addrs()[1];
    assert!(v6.is_ipv6());
    assert_eq!(
        ipv4s(&udp(v6, &query_msg(NAME, RecordType::A, None)).await),
        vec![ip("10.1.0.10")]
    );
    assert_eq!(
        ipv4s(&tcp(v6, &query_msg(NAME, RecordType::A, None)).await),
        vec![ip("10.1.0.10")]
    );
    assert_eq!(
        ipv4s(
            &udp(
                running.dns_addrs()[0],
                &query_msg(NAME, RecordType::A, None)
            )
            .await
        ),
        vec![ip("10.1.0.10")]
    );
}

#[tokio::test]
async fn edns_is_echoed_only_when_sent_and_do_is_mirrored() {
    let up = forwarding_upstream().await;
    let (_s, addr) = start(config(up.addr, ONE)).await;
    for name in [NAME, "fwd.example.test."] {
        let without = udp(addr, &query_msg(name, RecordType::A, None)).await;
        assert!(
            without.edns.is_none(),
            "{name}: no OPT back when none was sent"
        );

        let mut msg = query_msg(name, RecordType::A, Some(4096));
        msg.edns.as_mut().unwrap().set_dnssec_ok(true);
        let with = udp(addr, &msg).await;
        let edns = with.edns.expect("OPT echoed");
        assert_eq!(edns.version(), 0);
        assert_eq!(
            edns.max_payload(),
            1232,
            "we advertise our own payload size"
        );
        assert!(edns.flags().dnssec_ok, "{name}: DO mirrored");
    }
}

#[tokio::test]
async fn unknown_edns_version_gets_badvers() {
    let up = TestUpstream::start().await;
    let (_s, addr) = start(config(up.addr, ONE)).await;
    let mut msg = query_msg(NAME, RecordType::A, Some(1232));
    msg.edns.as_mut().unwrap().set_version(1);
    let reply = udp(addr, &msg).await;
    // 16 is both BADVERS and BADSIG; hickory decodes it as the latter.
    assert_eq!(u16::from(reply.metadata.response_code), 16, "BADVERS");
    assert_eq!(reply.edns.unwrap().version(), 0);
    assert!(reply.answers.is_empty());
}

#[tokio::test]
async fn forwarded_reply_larger_than_the_client_payload_is_truncated() {
    let up = TestUpstream::start().await;
    let ips: Vec<_> = (1..=40).map(|i| ip(&format!("192.0.2.{i}"))).collect();
    up.rule(
        "many.example.test",
        Behaviour::Answer {
            ips: ips.clone(),
            ttl: 60,
        },
    );
    let (_s, addr) = start(config(up.addr, "")).await;
    let small = udp(addr, &query_msg("many.example.test.", RecordType::A, None)).await;
    assert!(small.metadata.truncation, "over 512 bytes without EDNS: TC");
    assert!(small.answers.is_empty());
    let big = udp(
        addr,
        &query_msg("many.example.test.", RecordType::A, Some(1232)),
    )
    .await;
    assert!(!big.metadata.truncation);
    assert_eq!(ipv4s(&big), ips);
    let over_tcp = tcp(addr, &query_msg("many.example.test.", RecordType::A, None)).await;
    assert_eq!(ipv4s(&over_tcp), ips);
}

#[tokio::test]
async fn clients_outside_allow_are_refused() {
    let up = forwarding_upstream().await;
    let extra = format!("[dns]\nallow = [\"10.0.0.0/8\"]\n{ONE}");
    let (_s, addr) = start(config(up.addr, &extra)).await;
    for name in [NAME, "fwd.example.test."] {
        let reply = udp(addr, &query_msg(name, RecordType::A, None)).await;
        assert_eq!(
            reply.metadata.response_code,
            ResponseCode::Refused,
            "{name}"
        );
        assert!(reply.answers.is_empty());
        let reply = tcp(addr, &query_msg(name, RecordType::A, None)).await;
        assert_eq!(
            reply.metadata.response_code,
            ResponseCode::Refused,
            "{name} over TCP"
        );
    }
    assert!(
        up.seen().is_empty(),
        "a refused query never reaches the upstream"
    );
}

#[tokio::test]
async fn malformed_input_gets_formerr_or_silence_and_serving_goes_on() {
    let up = TestUpstream::start().await;
    let (_s, addr) = start(config(up.addr, ONE)).await;
    let wait = Duration::from_millis(300);
    let q = question("example.com");

    // Too short for a header: dropped.
    assert!(udp_raw(addr, &[1, 2, 3], wait).await.is_none());
    // A response sent as a query: dropped (no reflection loops).
    let mut resp = header(0x80, 1, 0, 0);
    resp.extend_from_slice(&q);
    assert!(udp_raw(addr, &resp, wait).await.is_none());
    // No question, two questions: FORMERR with the same ID.
    for qd in [0u16, 2] {
        let mut m = header(0x01, qd, 0, 0);
        m.extend_from_slice(&q);
        if qd == 2 {
            m.extend_from_slice(&q);
        }
        let reply = udp_raw(addr, &m, wait).await.expect("FORMERR");
        assert_eq!(
            (reply[0], reply[1], rcode_of(&reply)),
            (0xbe, 0xef, 1),
            "QDCOUNT {qd}"
        );
        assert!(reply[2] & 0x80 != 0, "QR set");
    }
    // Question cut short, and a count claiming records that are not there.
    let mut cut = header(0x01, 1, 0, 0);
    cut.extend_from_slice(&q[..5]);
    let formerr = udp_raw(addr, &cut, wait).await.expect("FORMERR");
    assert_eq!(rcode_of(&formerr), 1);
    // A query we could not read is still a query to a recursive service: RA stays set.
    assert!(recursion_available(&formerr));
    let mut lying = header(0x01, 1, 3, 0);
    lying.extend_from_slice(&q);
    assert_eq!(
        rcode_of(&udp_raw(addr, &lying, wait).await.expect("FORMERR")),
        1
    );
    // A compression pointer in the question (pointing at itself).
    let mut ptr = header(0x01, 1, 0, 0);
    ptr.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1]);
    assert_eq!(
        rcode_of(&udp_raw(addr, &ptr, wait).await.expect("FORMERR")),
        1
    );
    // Two OPT records: FORMERR (RFC 6891 6.1.1).
    let mut two_opt = header(0x01, 1, 0, 2);
    two_opt.extend_from_slice(&q);
    for _ in 0..2 {
        two_opt.extend_from_slice(&[0, 0, 41, 4, 0, 0, 0, 0, 0, 0, 0]);
    }
    assert_eq!(
        rcode_of(&udp_raw(addr, &two_opt, wait).await.expect("FORMERR")),
        1
    );
    // Opcodes other than QUERY: NOTIMP.
    for opcode in [1u8, 2, 4, 5, 15] {
        let mut m = header(opcode << 3, 1, 0, 0);
        m.extend_from_slice(&q);
        let reply = udp_raw(addr, &m, wait).await.expect("NOTIMP");
        assert_eq!(rcode_of(&reply), 4, "opcode {opcode}");
        // Recursion is offered for QUERY only.
        assert!(!recursion_available(&reply), "opcode {opcode}");
    }
    // Seven bytes of garbage over TCP, shorter than a header: no reply (the connection closes).
    assert_eq!(tcp_raw(addr, &[0xff; 7]).await, None);

    // The server still answers real queries.
    let ok = udp(addr, &query_msg(NAME, RecordType::A, None)).await;
    assert_eq!(ipv4s(&ok), vec![ip("10.1.0.10")]);
    let ok = tcp(addr, &query_msg(NAME, RecordType::A, None)).await;
    assert_eq!(ipv4s(&ok), vec![ip("10.1.0.10")]);
}

#[tokio::test]
async fn reload_swaps_overrides_upstreams_and_acl() {
    let up1 = TestUpstream::start().await;
    up1.rule(
        "fwd.example.test",
        Behaviour::Answer {
            ips: vec![ip("192.0.2.1")],
            ttl: 300,
        },
    );
    let up2 = TestUpstream::start().await;
    up2.rule(
        "fwd.example.test",
        Behaviour::Answer {
            ips: vec![ip("192.0.2.2")],
            ttl: 300,
        },
    );
    let (running, addr) = start(config(up1.addr, ONE)).await;
    assert_eq!(
        ipv4s(&ask(addr, NAME, RecordType::A).await),
        vec![ip("10.1.0.10")]
    );
    assert_eq!(
        ipv4s(&ask(addr, "fwd.example.test.", RecordType::A).await),
        vec![ip("192.0.2.1")]
    );

    let mut next = config(up2.addr, &ONE.replace("10.1.0.10", "10.1.7.7"));
    next.listen = running.dns_addrs().to_vec();
    running.reload(next).await;
    assert_eq!(
        ipv4s(&ask(addr, NAME, RecordType::A).await),
        vec![ip("10.1.7.7")]
    );
    assert_eq!(
        ipv4s(&ask(addr, "fwd.example.test.", RecordType::A).await),
        vec![ip("192.0.2.2")],
        "a new upstream set starts with an empty cache"
    );

    let mut closed = config(up2.addr, ONE);
    closed.allow = vec!["10.0.0.0/8".parse().unwrap()];
    running.reload(closed).await;
    assert_eq!(
        ask(addr, NAME, RecordType::A).await.metadata.response_code,
        ResponseCode::Refused
    );
}

#[tokio::test]
async fn reply_to_a_query_with_opt_and_other_records_is_well_formed() {
    let up = TestUpstream::start().await;
    let (_s, addr) = start(config(up.addr, ONE)).await;
    // An EDNS option the server does not know (code 65001) is ignored, not an error.
    let mut msg = query_msg(NAME, RecordType::A, None);
    let mut edns = Edns::new();
    edns.options_mut()
        .insert(hickory_proto::rr::rdata::opt::EdnsOption::Unknown(
            65001,
            vec![1, 2, 3],
        ));
    msg.set_edns(edns);
    // Other records beside the OPT (an authority NS, an additional A) are ignored too.
    let corp = Name::from_ascii("corp.test.").unwrap();
    let ns = Name::from_ascii("ns.corp.test.").unwrap();
    msg.add_authority(Record::from_rdata(corp, 60, RData::NS(NS(ns.clone()))));
    msg.add_additional(Record::from_rdata(ns, 60, RData::A(A::new(192, 0, 2, 53))));
    let reply: Message = udp(addr, &msg).await;
    assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
    assert_eq!(ipv4s(&reply), vec![ip("10.1.0.10")]);
    // The reply is ours alone: its own OPT, none of the query's records echoed.
    assert!(reply.edns.is_some(), "an EDNS query gets an OPT");
    assert!(reply.additionals.is_empty(), "{:?}", reply.additionals);
    assert!(
        reply
            .authorities
            .iter()
            .all(|r| r.record_type() != RecordType::NS),
        "{:?}",
        reply.authorities
    );
}

/// A reload's static overrides are answered as soon as `reload` returns, while a discovery
/// source keeps signalling the table's writer (its EC2 API is a closed port: every pass fails
/// at once).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reloaded_overrides_are_answered_when_the_reload_returns() {
    let up = TestUpstream::start().await;
    let source = format!(
        "[[source]]\nregion = \"us-east-1\"\nhealth_check = false\nvpc_id = \"vpc-0a\"\nendpoint_url = \"http://127.0.0.1:{}\"\nrefresh = \"1s\"\nmax_stale = \"1h\"\n",
        free_port()
    );
    let (running, addr) = start(config(up.addr, &source)).await;
    for i in 0..30u8 {
        let statics: String = (0..=i)
            .map(|j| format!("[[static]]\nname = \"r{j}.example.test\"\nipv4 = [\"10.9.0.{j}\"]\n"))
            .collect();
        running
            .reload(config(up.addr, &format!("{source}{statics}")))
            .await;
        let reply = ask(addr, &format!("r{i}.example.test."), RecordType::A).await;
        assert_eq!(
            ipv4s(&reply),
            vec![ip(&format!("10.9.0.{i}"))],
            "reload {i}"
        );
    }
    assert!(up.seen().iter().all(|s| !s.name.ends_with("example.test")));
}

/// Queries that queue up are read and answered several at a time (recvmmsg/sendmmsg): each
/// must still get exactly its own answer, whatever mix of overrides, forwarded names and
/// garbage arrives together, from several clients at once.
#[tokio::test]
async fn a_burst_from_several_clients_gets_one_right_answer_per_query() {
    let up = forwarding_upstream().await;
    let (_s, addr) = start(config(up.addr, ONE)).await;
    // Plain blocking sockets, off the runtime that runs the server and the upstream.
    tokio::task::spawn_blocking(move || burst(addr))
        .await
        .unwrap();
}

fn burst(addr: SocketAddr) {
    let clients: Vec<std::net::UdpSocket> = (0..4)
        .map(|_| std::net::UdpSocket::bind("127.0.0.1:0").unwrap())
        .collect();
    // 4 clients x 40 queries, sent back to back without waiting: IDs say who asked what.
    for round in 0..40u16 {
        for (c, socket) in clients.iter().enumerate() {
            let id = round * 4 + c as u16;
            let name = if id.is_multiple_of(2) {
                NAME
            } else {
                "fwd.example.test."
            };
            let mut msg = query_msg(name, RecordType::A, None);
            msg.metadata.id = id;
            socket.send_to(&msg.to_vec().unwrap(), addr).unwrap();
            if round % 10 == 0 {
                socket.send_to(b"not dns", addr).unwrap(); // dropped, never answered
            }
        }
    }
    for (c, socket) in clients.into_iter().enumerate() {
        socket
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut seen = std::collections::BTreeSet::new();
        let mut buf = [0u8; 1232];
        while seen.len() < 40 {
            let (n, from) = socket.recv_from(&mut buf).expect("every query answered");
            assert_eq!(from, addr);
            let reply = Message::from_vec(&buf[..n]).unwrap();
            let id = reply.metadata.id;
            assert_eq!(
                id as usize % 4,
                c,
                "client {c} got another client's answer {id}"
            );
            let want = if id.is_multiple_of(2) {
                "10.1.0.10"
            } else {
                "192.0.2.5"
            };
            assert_eq!(ipv4s(&reply), vec![ip(want)], "answer to query {id}");
            assert!(seen.insert(id), "query {id} answered twice");
        }
        // Nothing more: no second answer, and nothing for the garbage.
        socket
            .set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        assert!(
            socket.recv_from(&mut buf).is_err(),
            "client {c}: an extra reply"
        );
    }
}
