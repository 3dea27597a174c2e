//! DNS clients over UDP and TCP (decoded or raw), raw-packet builders, and readers of replies.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RData, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::timeout;

/// A query message for `name`/`qtype` with RD set and, when `edns` is given, an OPT with that
/// payload size.
pub fn query_msg(name: &str, qtype: RecordType, edns: Option<u16>) -> Message {
    let mut msg = Message::new(rand::random(), MessageType::Query, OpCode::Query);
    msg.metadata.recursion_desired = true;
    msg.add_query(Query::query(Name::from_ascii(name).unwrap(), qtype));
    if let Some(payload) = edns {
        let mut e = Edns::new();
        e.set_max_payload(payload);
        msg.set_edns(e);
    }
    msg
}

/// A raw query header: ID 0xBEEF, the first flags byte as given (0x01 is RD), and the
/// question, answer and additional counts (authority 0).
pub fn header(flags: u8, qd: u16, an: u16, ar: u16) -> Vec<u8> {
    let mut h = vec![0xbe, 0xef, flags, 0];
    for c in [qd, an, 0, ar] {
        h.extend_from_slice(&c.to_be_bytes());
    }
    h
}

/// A name in uncompressed wire form.
pub fn name_wire(name: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for label in name.trim_end_matches('.').split('.') {
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
    out
}

/// A raw question section: `name`, type A, class IN.
pub fn question(name: &str) -> Vec<u8> {
    let mut q = name_wire(name);
    q.extend_from_slice(&[0, 1, 0, 1]);
    q
}

/// The RCODE of a raw reply.
pub fn rcode_of(reply: &[u8]) -> u8 {
    reply[3] & 0x0f
}

/// The RA bit of a raw reply.
pub fn recursion_available(reply: &[u8]) -> bool {
    reply[3] & 0x80 != 0
}

/// Sends raw bytes over UDP and returns the reply, or None after `wait`.
pub async fn udp_raw(server: SocketAddr, packet: &[u8], wait: Duration) -> Option<Vec<u8>> {
    let bind: SocketAddr = if server.is_ipv4() {
        "127.0.0.1:0".parse().unwrap()
    } else {
        "[::1]:0".parse().unwrap()
    };
    let socket = UdpSocket::bind(bind).await.unwrap();
    socket.send_to(packet, server).await.unwrap();
    let mut buf = vec![0u8; 65535];
    match timeout(wait, socket.recv_from(&mut buf)).await {
        Ok(Ok((n, _))) => Some(buf[..n].to_vec()),
        _ => None,
    }
}

/// Sends a message over UDP and decodes the reply (panics after 5 s without one).
pub async fn udp(server: SocketAddr, msg: &Message) -> Message {
    let reply = udp_raw(server, &msg.to_vec().unwrap(), Duration::from_secs(5))
        .await
        .expect("a UDP reply");
    let decoded = Message::from_vec(&reply).expect("a well-formed reply");
    assert_eq!(decoded.metadata.id, msg.metadata.id, "reply ID matches");
    decoded
}

/// Sends a message over TCP and decodes the reply.
pub async fn tcp(server: SocketAddr, msg: &Message) -> Message {
    let reply = tcp_raw(server, &msg.to_vec().unwrap())
        .await
        .expect("a TCP reply");
    let decoded = Message::from_vec(&reply).expect("a well-formed reply");
    assert_eq!(decoded.metadata.id, msg.metadata.id, "reply ID matches");
    decoded
}

/// Sends raw bytes over TCP (length-prefixed) and returns the reply.
pub async fn tcp_raw(server: SocketAddr, packet: &[u8]) -> Option<Vec<u8>> {
    let mut stream = timeout(Duration::from_secs(5), TcpStream::connect(server))
        .await
        .ok()?
        .ok()?;
    let mut framed = (packet.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(packet);
    stream.write_all(&framed).await.ok()?;
    let len = timeout(Duration::from_secs(5), stream.read_u16())
        .await
        .ok()?
        .ok()?;
    let mut buf = vec![0u8; len as usize];
    stream.read_exact(&mut buf).await.ok()?;
    Some(buf)
}

/// Shorthand: an A query over UDP with EDNS 1232.
pub async fn ask(server: SocketAddr, name: &str, qtype: RecordType) -> Message {
    udp(server, &query_msg(name, qtype, Some(1232))).await
}

/// The IPv4 addresses in the answer section.
pub fn ipv4s(msg: &Message) -> Vec<Ipv4Addr> {
    msg.answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(a.0),
            _ => None,
        })
        .collect()
}

pub fn ipv6s(msg: &Message) -> Vec<std::net::Ipv6Addr> {
    msg.answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::AAAA(a) => Some(a.0),
            _ => None,
        })
        .collect()
}

/// TTLs of the answer section.
pub fn ttls(msg: &Message) -> Vec<u32> {
    msg.answers.iter().map(|r| r.ttl).collect()
}

pub fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

/// A loopback port that is free for both UDP and TCP right now (for processes that must be
/// told their port up front, such as dnsmasq or the binary).
pub fn free_port() -> u16 {
    loop {
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = udp.local_addr().unwrap().port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// The Extended DNS Error options of a raw reply's OPT record: (info code, extra text).
pub fn ede_of(reply: &[u8]) -> Vec<(u16, String)> {
    let msg = Message::from_vec(reply).unwrap();
    let Some(edns) = msg.edns else {
        return vec![];
    };
    let mut raw = Vec::new();
    let mut encoder = hickory_proto::serialize::binary::BinEncoder::new(&mut raw);
    hickory_proto::serialize::binary::BinEncodable::emit(edns.options(), &mut encoder).unwrap();
    let mut out = Vec::new();
    let mut pos = 0;
    while pos + 4 <= raw.len() {
        let code = u16::from_be_bytes([raw[pos], raw[pos + 1]]);
        let len = u16::from_be_bytes([raw[pos + 2], raw[pos + 3]]) as usize;
        let data = &raw[pos + 4..pos + 4 + len];
        if code == 15 {
            let info = u16::from_be_bytes([data[0], data[1]]);
            out.push((info, String::from_utf8_lossy(&data[2..]).into_owned()));
        }
        pos += 4 + len;
    }
    out
}
