//! Hostile input and overload over the network: the server answers or drops as the
//! RFCs say, keeps its bounds, and keeps serving everyone else throughout.

use std::net::SocketAddr;
use std::time::Duration;

use crate::support::*;
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::timeout;

const ONE: &str =
    "[[static]]\nname = \"bedrock-runtime.ap-southeast-2.amazonaws.com\"\nipv4 = [\"10.1.0.10\"]\n";
const NAME: &str = "bedrock-runtime.ap-southeast-2.amazonaws.com.";
const WAIT: Duration = Duration::from_millis(300);

/// An OPT record with payload 1232 and the given RDATA (options).
fn opt(rdata: &[u8]) -> Vec<u8> {
    let mut o = vec![0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0];
    o.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
    o.extend_from_slice(rdata);
    o
}

/// The server still answers the override over UDP and TCP.
async fn still_serving(addr: SocketAddr) {
    let ok = udp(addr, &query_msg(NAME, RecordType::A, None)).await;
    assert_eq!(ipv4s(&ok), vec![ip("10.1.0.10")]);
    let ok = tcp(addr, &query_msg(NAME, RecordType::A, None)).await;
    assert_eq!(ipv4s(&ok), vec![ip("10.1.0.10")]);
}

/// Reads until the peer closes (or resets) the connection: what it sent first, or None if it
/// is still open after `limit`.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> Option<Vec<u8>> {
    let mut received = Vec::new();
    let mut buf = [0u8; 512];
    loop {
        match timeout(limit, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Some(received),
            Ok(Ok(n)) => received.extend_from_slice(&buf[..n]),
            Err(_) => return None,
        }
    }
}

/// The peer closes the connection within `limit` without sending anything first.
async fn assert_no_reply_then_closed(stream: &mut TcpStream, limit: Duration) {
    match read_until_closed(stream, limit).await {
        Some(received) => assert!(received.is_empty(), "a reply before closing: {received:?}"),
        None => panic!("still open after {limit:?}"),
    }
}

/// One query on an open TCP connection; None if the connection is closed.
async fn ask_on(stream: &mut TcpStream, name: &str) -> Option<Message> {
    let msg = query_msg(name, RecordType::A, None).to_vec().unwrap();
    let mut framed = (msg.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(&msg);
    stream.write_all(&framed).await.ok()?;
    let len = timeout(Duration::from_secs(5), stream.read_u16())
        .await
        .ok()?
        .ok()?;
    let mut buf = vec![0u8; len.into()];
    stream.read_exact(&mut buf).await.ok()?;
    Message::from_vec(&buf).ok()
}

#[tokio::test]
async fn broken_names_get_formerr_with_the_query_id() {
    let up = TestUpstream::start().await;
    let (_s, addr) = start(config(up.addr, ONE)).await;
    let mut label_64 = vec![64];
    label_64.extend_from_slice(&[b'a'; 64]);
    label_64.push(0);
    // 320 octets: five labels of 63.
    let mut long_name = Vec::new();
    for _ in 0..5 {
        long_name.push(63);
        long_name.extend_from_slice(&[b'b'; 63]);
    }
    long_name.push(0);
    let names: [(&str, Vec<u8>); 5] = [
        (
            "two pointers pointing at each other",
            vec![0xc0, 14, 0xc0, 12],
        ),
        ("a pointer past the end", vec![0xc0, 0xff]),
        ("a label of 64 octets", label_64),
        ("a name of 320 octets", long_name),
        ("a label running past the end", vec![20, b'x', b'y']),
    ];
    for (what, name) in names {
        let mut m = header(0x01, 1, 0, 0);
        m.extend_from_slice(&name);
        m.extend_from_slice(&[0, 1, 0, 1]);
        let reply = udp_raw(addr, &m, WAIT).await.expect(what);
        assert_eq!((reply[0], reply[1]), (0xbe, 0xef), "{what}: ID");
        assert!(reply[2] & 0x80 != 0, "{what}: QR");
        assert_eq!(rcode_of(&reply), 1, "{what}: FORMERR");
        // The same over TCP.
        let reply = tcp_raw(addr, &m).await.expect(what);
        assert_eq!(rcode_of(&reply), 1, "{what} over TCP");
    }
    assert!(up.seen().is_empty(), "nothing broken goes upstream");
    still_serving(addr).await;
}

#[tokio::test]
async fn our_names_in_other_classes_never_go_upstream() {
    let up = TestUpstream::start().await;
    let (_s, addr) = start(config(up.addr, ONE)).await;
    let ask_class = |class: u16, below: bool| {
        let mut m = header(0x01, 1, 0, 0);
        let name = if below {
            format!("x.{NAME}")
        } else {
            NAME.to_string()
        };
        m.extend_from_slice(&name_wire(&name));
        m.extend_from_slice(&[0, 1]);
        m.extend_from_slice(&class.to_be_bytes());
        m
    };
    // QCLASS ANY (255) is answered as class IN: the address, and NXDOMAIN below the name.
    let reply = udp_raw(addr, &ask_class(255, false), WAIT).await.unwrap();
    let msg = Message::from_vec(&reply).unwrap();
    assert_eq!(msg.metadata.response_code, ResponseCode::NoError);
    assert_eq!(ipv4s(&msg), vec![ip("10.1.0.10")]);
    assert_eq!(
        u16::from(msg.queries[0].query_class()),
        255,
        "the question comes back as asked"
    );
    let reply = udp_raw(addr, &ask_class(255, true), WAIT).await.unwrap();
    assert_eq!(rcode_of(&reply), 3);
    // CHAOS (3) and HESIOD (4) of one of our names: REFUSED, never relayed.
    for class in [3, 4] {
        let reply = udp_raw(addr, &ask_class(class, false), WAIT).await.unwrap();
        assert_eq!(rcode_of(&reply), 5, "class {class}");
        let msg = Message::from_vec(&reply).unwrap();
        assert!(ipv4s(&msg).is_empty());
    }
    assert!(
        up.seen().is_empty(),
        "nothing went upstream: {:?}",
        up.seen()
    );
    // Another name in another class is not ours: relayed as ever.
    let mut m = header(0x01, 1, 0, 0);
    m.extend_from_slice(&name_wire("version.bind."));
    m.extend_from_slice(&[0, 16, 0, 3]);
    udp_raw(addr, &m, WAIT).await.unwrap();
    assert_eq!(up.seen_for("version.bind").len(), 1);
    still_serving(addr).await;
}

#[tokio::test]
async fn huge_edns_options_are_accepted_and_broken_ones_refused() {
    let up = TestUpstream::start().await;
    let (_s, addr) = start(config(up.addr, ONE)).await;
    let mut q = header(0x01, 1, 0, 1);
    q.extend_from_slice(&question(NAME));
    // A 3000-octet padding option (code 12): legal, if wasteful. The answer is normal and
    // still fits the UDP limit.
    let mut padding = vec![0, 12];
    padding.extend_from_slice(&3000u16.to_be_bytes());
    padding.extend_from_slice(&[0; 3000]);
    let mut big = q.clone();
    big.extend_from_slice(&opt(&padding));
    for reply in [
        udp_raw(addr, &big, WAIT).await.expect("udp"),
        tcp_raw(addr, &big).await.expect("tcp"),
    ] {
        assert!(reply.len() <= 1232);
        let msg = Message::from_vec(&reply).unwrap();
        assert_eq!(ipv4s(&msg), vec![ip("10.1.0.10")]);
        assert!(msg.edns.is_some(), "our OPT comes back");
    }
    // An option claiming more bytes than the OPT holds: FORMERR.
    let mut lying = q.clone();
    lying.extend_from_slice(&opt(&[0, 12, 0x10, 0, 1, 2]));
    let reply = udp_raw(addr, &lying, WAIT).await.expect("FORMERR");
    assert_eq!(rcode_of(&reply), 1);
    still_serving(addr).await;
}

#[tokio::test]
async fn tcp_length_lies_close_the_connection_and_nothing_else() {
    let up = TestUpstream::start().await;
    let (_s, addr) = start(config(
        up.addr,
        &format!("[dns]\ntcp_idle_timeout = \"1s\"\n{ONE}"),
    ))
    .await;
    let query = query_msg(NAME, RecordType::A, None).to_vec().unwrap();

    // Announces 500 bytes, sends a query's worth, then stops writing: no reply, closed.
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(&500u16.to_be_bytes()).await.unwrap();
    stream.write_all(&query).await.unwrap();
    stream.shutdown().await.unwrap();
    assert_no_reply_then_closed(&mut stream, Duration::from_secs(5)).await;

    // Announces fewer bytes than the query has: the first part is not a query; closed.
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(&5u16.to_be_bytes()).await.unwrap();
    stream.write_all(&query).await.unwrap();
    assert_no_reply_then_closed(&mut stream, Duration::from_secs(5)).await;

    // A zero length: nothing to answer; closed.
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(&[0, 0]).await.unwrap();
    assert_no_reply_then_closed(&mut stream, Duration::from_secs(5)).await;

    still_serving(addr).await;
}

#[tokio::test]
async fn slow_and_silent_tcp_clients_are_closed_when_idle() {
    let up = TestUpstream::start().await;
    let extra = format!("[dns]\ntcp_idle_timeout = \"300ms\"\n{ONE}");
    let (_s, addr) = start(config(up.addr, &extra)).await;
    // Connects and says nothing.
    let mut silent = TcpStream::connect(addr).await.unwrap();
    // Sends a length and half a query, then stalls.
    let mut slow = TcpStream::connect(addr).await.unwrap();
    let query = query_msg(NAME, RecordType::A, None).to_vec().unwrap();
    slow.write_all(&(query.len() as u16).to_be_bytes())
        .await
        .unwrap();
    slow.write_all(&query[..query.len() / 2]).await.unwrap();
    // A client that keeps asking is served all along.
    let mut busy = TcpStream::connect(addr).await.unwrap();
    for _ in 0..5 {
        assert!(ask_on(&mut busy, NAME).await.is_some());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_no_reply_then_closed(&mut silent, Duration::from_secs(5)).await;
    assert_no_reply_then_closed(&mut slow, Duration::from_secs(5)).await;
    assert!(ask_on(&mut busy, NAME).await.is_some());
}

#[tokio::test]
async fn past_the_tcp_limit_the_longest_idle_connection_makes_room() {
    let up = TestUpstream::start().await;
    let extra = format!("[dns]\nmax_tcp_connections = 3\ntcp_idle_timeout = \"30s\"\n{ONE}");
    let (_s, addr) = start(config(up.addr, &extra)).await;
    // Three connections, each idle after one answer, in this order.
    let mut open = Vec::new();
    for _ in 0..3 {
        let mut c = TcpStream::connect(addr).await.unwrap();
        assert!(ask_on(&mut c, NAME).await.is_some());
        open.push(c);
    }
    // A fourth: served, and the first (idle the longest) is closed for it.
    let mut fourth = TcpStream::connect(addr).await.unwrap();
    assert!(ask_on(&mut fourth, NAME).await.is_some());
    assert_no_reply_then_closed(&mut open[0], Duration::from_secs(5)).await;
    // The second and third are still open and served.
    for c in &mut open[1..] {
        assert!(ask_on(c, NAME).await.is_some());
    }
    // Many more newcomers: each is served, and no more than three stay open.
    let mut newcomers = Vec::new();
    for _ in 0..20 {
        let mut c = TcpStream::connect(addr).await.unwrap();
        assert!(ask_on(&mut c, NAME).await.is_some(), "a newcomer is served");
        newcomers.push(c);
    }
    let mut still_open = 0;
    for c in open
        .iter_mut()
        .chain(newcomers.iter_mut())
        .chain([&mut fourth])
    {
        match read_until_closed(c, Duration::from_millis(200)).await {
            None => still_open += 1,
            Some(received) => assert!(received.is_empty(), "a reply before closing: {received:?}"),
        }
    }
    assert!(
        still_open <= 3,
        "{still_open} connections open past a limit of 3"
    );
    still_serving(addr).await;
}

#[tokio::test]
async fn a_connection_busy_answering_is_not_closed_to_make_room() {
    let up = TestUpstream::start().await;
    up.rule(
        "slow.example.test",
        Behaviour::Delay {
            ms: 600,
            ips: vec![ip("192.0.2.93")],
            ttl: 60,
        },
    );
    let extra = format!("[dns]\nmax_tcp_connections = 1\ntcp_idle_timeout = \"30s\"\n{ONE}");
    let (_s, addr) = start(config(up.addr, &extra)).await;
    let mut busy = TcpStream::connect(addr).await.unwrap();
    let waiting = tokio::spawn(async move { ask_on(&mut busy, "slow.example.test.").await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    // The only connection is answering: the newcomer is closed, not it.
    let mut newcomer = TcpStream::connect(addr).await.unwrap();
    assert!(
        ask_on(&mut newcomer, NAME).await.is_none(),
        "the newcomer is closed"
    );
    let answer = waiting
        .await
        .unwrap()
        .expect("the busy connection gets its answer");
    assert_eq!(ipv4s(&answer), vec![ip("192.0.2.93")]);
}

#[tokio::test]
async fn a_connection_closed_while_busy_frees_its_place() {
    let up = TestUpstream::start().await;
    up.rule(
        "slow.example.test",
        Behaviour::Delay {
            ms: 300,
            ips: vec![ip("192.0.2.95")],
            ttl: 60,
        },
    );
    let extra = format!("[dns]\nmax_tcp_connections = 1\ntcp_idle_timeout = \"30s\"\n{ONE}");
    let (_s, addr) = start(config(up.addr, &extra)).await;
    // The only place is taken by a connection that asks, then goes away before its answer.
    let mut gone = TcpStream::connect(addr).await.unwrap();
    let msg = query_msg("slow.example.test.", RecordType::A, None)
        .to_vec()
        .unwrap();
    let mut framed = (msg.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(&msg);
    gone.write_all(&framed).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Reset, not closed: writing the answer then fails, with the connection still busy.
    socket2::SockRef::from(&gone)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(gone);
    // Once its answer could not be written, the place is free again.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut next = TcpStream::connect(addr).await.unwrap();
    assert!(
        ask_on(&mut next, NAME).await.is_some(),
        "the place was freed"
    );
}

#[tokio::test]
async fn a_forwarding_flood_is_bounded_and_overrides_keep_answering() {
    let up = TestUpstream::start().await;
    const FLOOD: usize = 60;
    for i in 0..FLOOD {
        up.rule(&format!("n{i}.flood.test"), Behaviour::Silent);
    }
    up.rule(
        "after.flood.test",
        Behaviour::Answer {
            ips: vec![ip("192.0.2.9")],
            ttl: 60,
        },
    );
    let extra = format!("[upstream]\nmax_inflight = 4\ntimeout_ms = 3000\n{ONE}");
    let (_s, addr) = start(config(up.addr, &extra)).await;
    let flood: Vec<_> = (0..FLOOD)
        .map(|i| {
            let msg = query_msg(&format!("n{i}.flood.test."), RecordType::A, None);
            tokio::spawn(async move { udp(addr, &msg).await })
        })
        .collect();
    // While the upstream sits on the first queries, overrides are answered.
    for _ in 0..5 {
        let ok = ask(addr, NAME, RecordType::A).await;
        assert_eq!(ipv4s(&ok), vec![ip("10.1.0.10")]);
    }
    // Every flooded query is answered (SERVFAIL: the upstream sits on them), for its own
    // question.
    for (i, f) in flood.into_iter().enumerate() {
        let reply = f.await.unwrap();
        assert_eq!(reply.metadata.response_code, ResponseCode::ServFail, "n{i}");
        assert_eq!(
            reply.queries[0].name().to_string(),
            format!("n{i}.flood.test.")
        );
    }
    let asked = up.seen().len();
    assert!(
        asked <= 4,
        "{asked} queries went upstream past max_inflight = 4"
    );
    // The flood is over: its places are free again, and a forwarded name is answered.
    let after = ask(addr, "after.flood.test.", RecordType::A).await;
    assert_eq!(ipv4s(&after), vec![ip("192.0.2.9")]);
    still_serving(addr).await;
}

#[tokio::test]
async fn the_rate_limit_drops_a_noisy_client_and_spares_the_others() {
    let up = TestUpstream::start().await;
    let extra = format!("[dns.rate_limit]\nqueries_per_second = 1\nburst = 5\n{ONE}");
    let (_s, addr) = start(config(up.addr, &extra)).await;
    let noisy = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let query = query_msg(NAME, RecordType::A, None).to_vec().unwrap();
    for _ in 0..30 {
        noisy.send_to(&query, addr).await.unwrap();
    }
    let mut answered = 0;
    let mut buf = [0u8; 512];
    while let Ok(Ok(_)) = timeout(Duration::from_millis(500), noisy.recv_from(&mut buf)).await {
        answered += 1;
    }
    // The burst, plus a token or two refilled while the replies were awaited.
    assert!((5..=7).contains(&answered), "{answered} of 30 answered");
    // Another client is not affected.
    let quiet = UdpSocket::bind("127.0.0.2:0").await.unwrap();
    quiet.send_to(&query, addr).await.unwrap();
    let got = timeout(Duration::from_secs(2), quiet.recv_from(&mut buf)).await;
    assert!(matches!(got, Ok(Ok(_))), "a quiet client is answered");
}

#[tokio::test]
async fn without_a_rate_limit_a_busy_client_is_answered_in_full() {
    let up = TestUpstream::start().await;
    let (_s, addr) = start(config(up.addr, ONE)).await;
    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let query = query_msg(NAME, RecordType::A, None).to_vec().unwrap();
    for _ in 0..30 {
        client.send_to(&query, addr).await.unwrap();
    }
    let mut answered = 0;
    let mut buf = [0u8; 512];
    while answered < 30 {
        match timeout(Duration::from_secs(2), client.recv_from(&mut buf)).await {
            Ok(Ok(_)) => answered += 1,
            _ => break,
        }
    }
    assert_eq!(answered, 30);
}
