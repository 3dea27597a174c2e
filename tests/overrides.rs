//! Override semantics over the network: what a Route 53 private hosted zone would answer.

mod common;

use common::*;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{RData, RecordType};

const STATICS: &str = r#"
[dns]
ttl = 42
[[static]]
name = "bedrock-runtime.ap-southeast-2.amazonaws.com"
ipv4 = ["10.1.0.10", "10.1.1.10"]
[[static]]
name = "bedrock-agent.ap-southeast-2.amazonaws.com"
ipv4 = ["10.1.0.20"]
ipv6 = ["fd00::20", "fd00::21"]
[[static]]
name = "*.s3.us-east-1.amazonaws.com"
ipv4 = ["10.2.0.5"]
[[static]]
name = "bedrock-pending.ap-southeast-2.amazonaws.com"
"#;

/// The SOA owner and negative TTL in the authority section.
fn soa_of(msg: &hickory_proto::op::Message) -> Option<(String, u32, u32)> {
    msg.authorities.iter().find_map(|r| match &r.data {
        RData::SOA(soa) => Some((r.name.to_string(), r.ttl, soa.minimum)),
        _ => None,
    })
}

#[tokio::test]
async fn a_query_gets_every_ipv4_with_case_ttl_and_aa() {
    let up = TestUpstream::start().await;
    let (_s, addr) = start(config(up.addr, STATICS)).await;

    let reply = ask(
        addr,
        "BedRock-Runtime.AP-southeast-2.amazonaws.com.",
        RecordType::A,
    )
    .await;
    assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
    assert_eq!(ipv4s(&reply), vec![ip("10.1.0.10"), ip("10.1.1.10")]);
    assert_eq!(ttls(&reply), vec![42, 42]);
    for r in &reply.answers {
        assert_eq!(
            r.name.to_string(),
            "BedRock-Runtime.AP-southeast-2.amazonaws.com.",
            "owner keeps the question's case"
        );
    }
    assert_eq!(
        reply.queries[0].name().to_string(),
        "BedRock-Runtime.AP-southeast-2.amazonaws.com."
    );
    assert!(reply.metadata.authoritative, "AA set");
    assert!(reply.metadata.recursion_desired && reply.metadata.recursion_available);
    assert!(up.seen().is_empty(), "an override is never sent upstream");
}

#[tokio::test]
async fn aaaa_is_dual_stack_or_nodata_with_soa() {
    let up = TestUpstream::start().await;
    let (_s, addr) = start(config(up.addr, STATICS)).await;

    let dual = ask(
        addr,
        "bedrock-agent.ap-southeast-2.amazonaws.com.",
        RecordType::AAAA,
    )
    .await;
    let v6: Vec<String> = dual
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::AAAA(a) => Some(a.0.to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(v6, vec!["fd00::20", "fd00::21"]);

    let v4only = ask(
        addr,
        "bedrock-runtime.ap-southeast-2.amazonaws.com.",
        RecordType::AAAA,
    )
    .await;
    assert_eq!(v4only.metadata.response_code, ResponseCode::NoError);
    assert!(v4only.answers.is_empty());
    assert_eq!(
        soa_of(&v4only),
        Some((
            "bedrock-runtime.ap-southeast-2.amazonaws.com.".to_string(),
            42,
            42
        ))
    );
    assert!(up.seen().is_empty());
}

#[tokio::test]
async fn every_other_type_is_nodata() {
    let up = TestUpstream::start().await;
    let (_s, addr) = start(config(up.addr, STATICS)).await;
    for qtype in [
        RecordType::HTTPS,
        RecordType::SVCB,
        RecordType::TXT,
        RecordType::MX,
        RecordType::CNAME,
        RecordType::NS,
    ] {
        let reply = ask(addr, "bedrock-runtime.ap-southeast-2.amazonaws.com.", qtype).await;
        assert_eq!(
            reply.metadata.response_code,
            ResponseCode::NoError,
            "{qtype}"
        );
        assert!(reply.answers.is_empty(), "{qtype}");
        assert!(soa_of(&reply).is_some(), "{qtype} has an SOA");
        assert!(reply.metadata.authoritative);
    }
    // ANY gets every record at the name, as Route 53 returns.
    let any = ask(
        addr,
        "bedrock-agent.ap-southeast-2.amazonaws.com.",
        RecordType::ANY,
    )
    .await;
    assert_eq!(any.answers.len(), 3);
    assert!(up.seen().is_empty());
}

#[tokio::test]
async fn names_below_an_override_are_nxdomain() {
    let up = TestUpstream::start().await;
    let (_s, addr) = start(config(up.addr, STATICS)).await;
    let reply = ask(
        addr,
        "foo.Bedrock-Runtime.ap-southeast-2.amazonaws.com.",
        RecordType::A,
    )
    .await;
    assert_eq!(reply.metadata.response_code, ResponseCode::NXDomain);
    assert!(reply.answers.is_empty());
    assert_eq!(
        soa_of(&reply),
        Some((
            "Bedrock-Runtime.ap-southeast-2.amazonaws.com.".to_string(),
            42,
            42
        )),
        "SOA of the zone apex, in the question's case"
    );
    assert!(up.seen().is_empty(), "the subtree is never forwarded");
}

#[tokio::test]
async fn wildcard_covers_the_subtree() {
    let up = TestUpstream::start().await;
    let (_s, addr) = start(config(up.addr, STATICS)).await;
    for name in [
        "my-bucket.s3.us-east-1.amazonaws.com.",
        "a.b.S3.us-east-1.amazonaws.com.",
    ] {
        let reply = ask(addr, name, RecordType::A).await;
        assert_eq!(ipv4s(&reply), vec![ip("10.2.0.5")], "{name}");
        assert_eq!(reply.answers[0].name.to_string(), name);
    }
    let apex = ask(addr, "s3.us-east-1.amazonaws.com.", RecordType::A).await;
    assert_eq!(apex.metadata.response_code, ResponseCode::NoError);
    assert!(
        apex.answers.is_empty(),
        "the apex of a wildcard-only zone has no A"
    );
    assert!(up.seen().is_empty());
}

#[tokio::test]
async fn unavailable_override_fails_closed() {
    let up = TestUpstream::start().await;
    up.rule(
        "bedrock-pending.ap-southeast-2.amazonaws.com",
        Behaviour::Answer {
            ips: vec![ip("203.0.113.9")],
            ttl: 60,
        },
    );
    let (_s, addr) = start(config(up.addr, STATICS)).await;
    let reply = ask(
        addr,
        "bedrock-pending.ap-southeast-2.amazonaws.com.",
        RecordType::A,
    )
    .await;
    assert_eq!(reply.metadata.response_code, ResponseCode::ServFail);
    assert!(reply.answers.is_empty());
    assert!(
        up.seen().is_empty(),
        "fail closed: the public answer is never asked for"
    );
}

#[tokio::test]
async fn unavailable_override_can_forward_when_chosen() {
    let up = TestUpstream::start().await;
    up.rule(
        "bedrock-pending.ap-southeast-2.amazonaws.com",
        Behaviour::Answer {
            ips: vec![ip("203.0.113.9")],
            ttl: 60,
        },
    );
    let extra = STATICS.replace("ttl = 42", "ttl = 42\non_unavailable = \"forward\"");
    let (_s, addr) = start(config(up.addr, &extra)).await;
    let reply = ask(
        addr,
        "bedrock-pending.ap-southeast-2.amazonaws.com.",
        RecordType::A,
    )
    .await;
    assert_eq!(ipv4s(&reply), vec![ip("203.0.113.9")]);
    assert_eq!(up.seen().len(), 1);
}

#[tokio::test]
async fn names_outside_every_override_are_forwarded() {
    let up = TestUpstream::start().await;
    up.rule(
        "ap-southeast-2.amazonaws.com",
        Behaviour::Answer {
            ips: vec![ip("203.0.113.1")],
            ttl: 60,
        },
    );
    up.rule(
        "sts.ap-southeast-2.amazonaws.com",
        Behaviour::Answer {
            ips: vec![ip("203.0.113.2")],
            ttl: 60,
        },
    );
    let (_s, addr) = start(config(up.addr, STATICS)).await;
    assert_eq!(
        ipv4s(&ask(addr, "ap-southeast-2.amazonaws.com.", RecordType::A).await),
        vec![ip("203.0.113.1")]
    );
    assert_eq!(
        ipv4s(&ask(addr, "sts.ap-southeast-2.amazonaws.com.", RecordType::A).await),
        vec![ip("203.0.113.2")]
    );
    assert_eq!(up.seen().len(), 2);
}

#[tokio::test]
async fn large_override_answer_is_truncated_for_small_udp_and_whole_over_tcp() {
    let up = TestUpstream::start().await;
    let ips: Vec<String> = (1..=60).map(|i| format!("\"10.9.0.{i}\"")).collect();
    let extra = format!(
        "[[static]]\nname = \"big.example.com\"\nipv4 = [{}]\n",
        ips.join(",")
    );
    let (_s, addr) = start(config(up.addr, &extra)).await;

    let plain = udp(addr, &query_msg("big.example.com.", RecordType::A, None)).await;
    assert!(plain.metadata.truncation, "no EDNS: 512 bytes max, so TC");
    assert!(plain.answers.is_empty());
    assert!(plain.edns.is_none(), "no OPT for a client that sent none");

    let edns = udp(
        addr,
        &query_msg("big.example.com.", RecordType::A, Some(1232)),
    )
    .await;
    assert!(!edns.metadata.truncation);
    assert_eq!(edns.answers.len(), 60);
    assert!(edns.edns.is_some());

    let over_tcp = tcp(addr, &query_msg("big.example.com.", RecordType::A, None)).await;
    assert!(!over_tcp.metadata.truncation);
    assert_eq!(over_tcp.answers.len(), 60);
}
