//! Override semantics over the network: what a Route 53 private hosted zone would answer.

use crate::support::*;
use bedrock_link::serve::Running;
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
async fn a_name_of_the_longest_length_under_a_wildcard_is_answered() {
    let up = TestUpstream::start().await;
    let (_s, addr) = start(config(up.addr, STATICS)).await;
    // 3 x 64 + 35 + 28 = 255 bytes in wire form, the most a name may have.
    let name = format!(
        "{a}.{a}.{a}.{b}.s3.us-east-1.amazonaws.com.",
        a = "a".repeat(63),
        b = "b".repeat(34)
    );
    let wire_len: usize = name.split('.').map(|l| l.len() + 1).sum();
    assert_eq!(wire_len, 255);
    let reply = ask(addr, &name, RecordType::A).await;
    assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
    assert_eq!(ipv4s(&reply), vec![ip("10.2.0.5")]);
    assert!(up.seen().is_empty());
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
    // ANY gets every record at the name, as Route 53 returns: A, AAAA, and at the apex the
    // zone's SOA and NS.
    let any = ask(
        addr,
        "bedrock-agent.ap-southeast-2.amazonaws.com.",
        RecordType::ANY,
    )
    .await;
    let types: Vec<RecordType> = any.answers.iter().map(|r| r.record_type()).collect();
    assert_eq!(
        types,
        [
            RecordType::A,
            RecordType::AAAA,
            RecordType::AAAA,
            RecordType::SOA,
            RecordType::NS
        ]
    );
    assert!(up.seen().is_empty());
}

/// SOA and NS at an override's own name are answered as at a private hosted zone's apex:
/// positively, authoritatively, our fixed SOA and our one NS. Below the apex they are NODATA.
#[tokio::test]
async fn soa_and_ns_at_the_apex_are_answered_like_a_zone() {
    let up = TestUpstream::start().await;
    let (_s, addr) = start(config(up.addr, STATICS)).await;
    for apex in [
        "Bedrock-Runtime.ap-southeast-2.amazonaws.com.", // a static name
        "s3.us-east-1.amazonaws.com.",                   // a wildcard's apex
        "bedrock-pending.ap-southeast-2.amazonaws.com.", // a name with no address yet
    ] {
        let soa = ask(addr, apex, RecordType::SOA).await;
        if apex.starts_with("bedrock-pending") {
            // Unavailable names fail closed whatever the type.
            assert_eq!(soa.metadata.response_code, ResponseCode::ServFail);
            continue;
        }
        assert_eq!(soa.metadata.response_code, ResponseCode::NoError, "{apex}");
        assert!(soa.metadata.authoritative, "{apex}");
        assert_eq!(soa.answers.len(), 1, "{apex}");
        let record = &soa.answers[0];
        assert_eq!(
            record.name.to_string(),
            apex,
            "owner keeps the question's case"
        );
        assert_eq!(record.ttl, 42);
        match &record.data {
            RData::SOA(s) => {
                assert_eq!(s.mname.to_string(), "ns.bedrock-link.invalid.");
                assert_eq!(s.rname.to_string(), "hostmaster.bedrock-link.invalid.");
                assert_eq!((s.serial, s.minimum), (1, 42));
            }
            other => panic!("{apex}: {other:?}"),
        }
        assert!(
            soa.authorities.is_empty(),
            "{apex}: no SOA contradicting the answer"
        );

        let ns = ask(addr, apex, RecordType::NS).await;
        assert_eq!(ns.metadata.response_code, ResponseCode::NoError, "{apex}");
        assert!(ns.metadata.authoritative);
        let names: Vec<String> = ns
            .answers
            .iter()
            .map(|r| match &r.data {
                RData::NS(ns) => ns.0.to_string(),
                other => panic!("{apex}: {other:?}"),
            })
            .collect();
        assert_eq!(names, ["ns.bedrock-link.invalid."], "{apex}");
    }
    // Below an apex (a wildcard's name): no SOA or NS of its own, NODATA with the apex's SOA.
    for qtype in [RecordType::SOA, RecordType::NS] {
        let below = ask(addr, "bucket.s3.us-east-1.amazonaws.com.", qtype).await;
        assert_eq!(below.metadata.response_code, ResponseCode::NoError);
        assert!(below.answers.is_empty(), "{qtype}");
        let (owner, _, _) = soa_of(&below).expect("an SOA");
        assert_eq!(owner, "s3.us-east-1.amazonaws.com.");
    }
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

// --- Forwarded CNAME/DNAME chains that reach our names -----------------------------------------

/// Every address in a reply's answer section, A and AAAA.
fn addresses(msg: &hickory_proto::op::Message) -> Vec<String> {
    msg.answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(a.0.to_string()),
            RData::AAAA(a) => Some(a.0.to_string()),
            _ => None,
        })
        .collect()
}

/// The CNAME targets in a reply's answer section, in order.
fn cnames(msg: &hickory_proto::op::Message) -> Vec<String> {
    msg.answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::CNAME(c) => Some(c.0.to_string()),
            _ => None,
        })
        .collect()
}

const PUBLIC: &str = "13.54.114.61";

/// An upstream where `*.corp.test` names CNAME into our names (and, like the VPC resolver,
/// carries the public records of those names), and bedrock-link with the STATICS plus a
/// discovery source for us-west-2 that never gets a pass (its EC2 API is a closed port).
async fn chains() -> (TestUpstream, Running, std::net::SocketAddr) {
    let up = TestUpstream::start().await;
    let chain = |targets: &[&str]| Behaviour::Chain {
        targets: targets.iter().map(|t| t.to_string()).collect(),
        ips: vec![ip(PUBLIC)],
        ttl: 300,
    };
    up.rule(
        "llm.corp.test",
        chain(&[
            "hop.corp.test",
            "bedrock-runtime.ap-southeast-2.amazonaws.com",
        ]),
    );
    up.rule(
        "below.corp.test",
        chain(&["x.bedrock-runtime.ap-southeast-2.amazonaws.com"]),
    );
    up.rule(
        "bucket.corp.test",
        chain(&["my-bucket.s3.us-east-1.amazonaws.com"]),
    );
    up.rule(
        "pending.corp.test",
        chain(&["bedrock-pending.ap-southeast-2.amazonaws.com"]),
    );
    up.rule(
        "scope.corp.test",
        chain(&["bedrock-agent.us-west-2.amazonaws.com"]),
    );
    up.rule("public.corp.test", chain(&["www.example.test"]));
    up.rule(
        "bedrock-runtime.corp-dname.test",
        Behaviour::Dname {
            owner: "corp-dname.test".into(),
            target: "ap-southeast-2.amazonaws.com".into(),
            ips: vec![ip(PUBLIC)],
            ttl: 300,
        },
    );
    up.rule(
        "bedrock-runtime.corp-dname-bare.test",
        Behaviour::DnameOnly {
            owner: "corp-dname-bare.test".into(),
            target: "ap-southeast-2.amazonaws.com".into(),
            ips: vec![],
            ttl: 300,
        },
    );
    up.rule(
        "a.b.s3.corp-dname-only.test",
        Behaviour::DnameOnly {
            owner: "corp-dname-only.test".into(),
            target: "us-east-1.amazonaws.com".into(),
            ips: vec![ip(PUBLIC)],
            ttl: 300,
        },
    );
    up.rule(
        "bedrock-runtime.corp-dname-only.test",
        Behaviour::DnameOnly {
            owner: "corp-dname-only.test".into(),
            target: "ap-southeast-2.amazonaws.com".into(),
            ips: vec![ip(PUBLIC)],
            ttl: 300,
        },
    );
    let source = format!(
        "[[source]]\nregion = \"us-west-2\"\nhealth_check = false\nvpc_id = \"vpc-0a\"\nendpoint_url = \"http://127.0.0.1:{}\"\n",
        free_port()
    );
    let (running, addr) = start(config(up.addr, &format!("{STATICS}{source}"))).await;
    (up, running, addr)
}

#[tokio::test]
async fn a_cname_chain_into_an_override_is_completed_from_our_table() {
    let (_up, _s, addr) = chains().await;
    // Two CNAMEs, then our addresses: never the upstream's public one.
    let reply = ask(addr, "llm.corp.test.", RecordType::A).await;
    assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
    assert_eq!(
        cnames(&reply),
        [
            "hop.corp.test.",
            "bedrock-runtime.ap-southeast-2.amazonaws.com."
        ]
    );
    assert_eq!(addresses(&reply), ["10.1.0.10", "10.1.1.10"]);
    let owners: Vec<String> = reply.answers[2..]
        .iter()
        .map(|r| r.name.to_string())
        .collect();
    assert_eq!(owners, ["bedrock-runtime.ap-southeast-2.amazonaws.com."; 2]);
    assert!(reply.answers[2..].iter().all(|r| r.ttl == 42), "our TTL");
    assert_eq!(ttls(&reply)[..2], [300, 300], "the chain keeps its TTLs");
    assert!(!reply.metadata.authentic_data);
    // No AAAA there: NODATA after the chain, with our SOA.
    for qtype in [RecordType::AAAA, RecordType::TXT] {
        let reply = ask(addr, "llm.corp.test.", qtype).await;
        assert_eq!(
            reply.metadata.response_code,
            ResponseCode::NoError,
            "{qtype}"
        );
        assert_eq!(cnames(&reply).len(), 2, "{qtype}");
        assert!(addresses(&reply).is_empty(), "{qtype}");
        let (owner, _, _) = soa_of(&reply).expect("our SOA");
        assert_eq!(owner, "bedrock-runtime.ap-southeast-2.amazonaws.com.");
    }
    // A CNAME question is answered by the alias itself.
    let alias = ask(addr, "llm.corp.test.", RecordType::CNAME).await;
    assert_eq!(alias.metadata.response_code, ResponseCode::NoError);
    assert_eq!(alias.answers[0].name.to_string(), "llm.corp.test.");
    assert_eq!(
        cnames(&alias),
        [
            "hop.corp.test.",
            "bedrock-runtime.ap-southeast-2.amazonaws.com."
        ]
    );
    assert!(addresses(&alias).is_empty());
}

#[tokio::test]
async fn a_chain_below_an_override_is_nxdomain_and_into_a_wildcard_gets_its_address() {
    let (_up, _s, addr) = chains().await;
    let below = ask(addr, "below.corp.test.", RecordType::A).await;
    assert_eq!(below.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(
        cnames(&below),
        ["x.bedrock-runtime.ap-southeast-2.amazonaws.com."]
    );
    assert!(addresses(&below).is_empty());
    let (owner, _, _) = soa_of(&below).expect("our SOA");
    assert_eq!(owner, "bedrock-runtime.ap-southeast-2.amazonaws.com.");

    let bucket = ask(addr, "bucket.corp.test.", RecordType::A).await;
    assert_eq!(bucket.metadata.response_code, ResponseCode::NoError);
    assert_eq!(addresses(&bucket), ["10.2.0.5"]);
}

#[tokio::test]
async fn a_chain_into_an_unavailable_name_fails_closed() {
    let (_up, _s, addr) = chains().await;
    // A static with no address, and a name in a discovery source's scope before any pass.
    for name in ["pending.corp.test.", "scope.corp.test."] {
        let reply = ask(addr, name, RecordType::A).await;
        assert_eq!(
            reply.metadata.response_code,
            ResponseCode::ServFail,
            "{name}"
        );
        assert!(addresses(&reply).is_empty(), "{name}");
    }
    // A chain that never reaches our names is relayed as it came.
    let public = ask(addr, "public.corp.test.", RecordType::A).await;
    assert_eq!(addresses(&public), [PUBLIC]);
}

#[tokio::test]
async fn a_dname_into_an_override_is_completed_from_our_table() {
    let (_up, _s, addr) = chains().await;
    let reply = ask(addr, "bedrock-runtime.corp-dname.test.", RecordType::A).await;
    assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
    assert_eq!(
        reply.answers[0].record_type(),
        RecordType::DNAME,
        "the DNAME"
    );
    assert_eq!(
        cnames(&reply),
        ["bedrock-runtime.ap-southeast-2.amazonaws.com."]
    );
    assert_eq!(addresses(&reply), ["10.1.0.10", "10.1.1.10"]);
}

#[tokio::test]
async fn a_dname_without_its_cname_is_substituted_and_completed_from_our_table() {
    let (_up, _s, addr) = chains().await;
    let reply = ask(addr, "bedrock-runtime.corp-dname-only.test.", RecordType::A).await;
    assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
    // The DNAME on the way, not the unrelated one the upstream sent along.
    let dnames: Vec<String> = reply
        .answers
        .iter()
        .filter(|r| r.record_type() == RecordType::DNAME)
        .map(|r| r.name.to_string())
        .collect();
    assert_eq!(dnames, ["corp-dname-only.test."]);
    assert_eq!(addresses(&reply), ["10.1.0.10", "10.1.1.10"]);
    let owners: Vec<String> = reply.answers[1..]
        .iter()
        .map(|r| r.name.to_string())
        .collect();
    assert_eq!(owners, ["bedrock-runtime.ap-southeast-2.amazonaws.com."; 2]);
    // Nothing but DNAMEs in the answer: still a chain to follow.
    let bare = ask(addr, "bedrock-runtime.corp-dname-bare.test.", RecordType::A).await;
    assert_eq!(addresses(&bare), ["10.1.0.10", "10.1.1.10"]);
    // Three labels kept below a two-label owner, into a wildcard.
    let deep = ask(addr, "a.b.s3.corp-dname-only.test.", RecordType::A).await;
    assert_eq!(addresses(&deep), ["10.2.0.5"]);
    assert_eq!(
        deep.answers.last().map(|r| r.name.to_string()).as_deref(),
        Some("a.b.s3.us-east-1.amazonaws.com.")
    );
}

#[tokio::test]
async fn a_cached_chain_follows_the_table_when_it_changes() {
    let (up, running, addr) = chains().await;
    let first = ask(addr, "llm.corp.test.", RecordType::A).await;
    assert_eq!(addresses(&first), ["10.1.0.10", "10.1.1.10"]);
    // The override moves: the chain, still in the cache, now ends at the new address.
    let moved = STATICS.replace("[\"10.1.0.10\", \"10.1.1.10\"]", "[\"10.1.0.99\"]");
    running.reload(config(up.addr, &moved)).await;
    let second = ask(addr, "llm.corp.test.", RecordType::A).await;
    assert_eq!(addresses(&second), ["10.1.0.99"]);
    assert_eq!(
        up.seen_for("llm.corp.test").len(),
        1,
        "answered from the cache"
    );
    // The override loses its addresses: the cached chain fails closed.
    let emptied = STATICS.replace("ipv4 = [\"10.1.0.10\", \"10.1.1.10\"]", "");
    running.reload(config(up.addr, &emptied)).await;
    let third = ask(addr, "llm.corp.test.", RecordType::A).await;
    assert_eq!(third.metadata.response_code, ResponseCode::ServFail);
    assert_eq!(up.seen_for("llm.corp.test").len(), 1);
}

/// A discovery source claims its services' names from the first query after a start, before
/// any pass: in its partition's domains (China's too), in `api.aws`, and in any domain its
/// configuration adds. Its EC2 API here is a closed port, so no pass ever succeeds.
#[tokio::test]
async fn a_sources_scope_holds_in_every_domain_of_its_partition_from_the_start() {
    let up = TestUpstream::start().await;
    let dead = free_port();
    let sources = format!(
        "[[source]]\nregion = \"cn-north-1\"\nhealth_check = false\nvpc_id = \"vpc-0c\"\nendpoint_url = \"http://127.0.0.1:{dead}\"\n\
         [[source]]\nregion = \"us-east-1\"\nhealth_check = false\nvpc_id = \"vpc-0e\"\nendpoint_url = \"http://127.0.0.1:{dead}\"\n\
         domains = [\"corp.example\"]\n"
    );
    let (_s, addr) = start(config(up.addr, &sources)).await;
    for ours in [
        "bedrock-runtime.cn-north-1.amazonaws.com.cn.",
        "bedrock.cn-north-1.api.amazonwebservices.com.cn.",
        "bedrock-mantle.us-east-1.api.aws.",
        "bedrock-runtime.us-east-1.amazonaws.com.",
        "bedrock-x.us-east-1.corp.example.",
    ] {
        let reply = ask(addr, ours, RecordType::A).await;
        assert_eq!(
            reply.metadata.response_code,
            ResponseCode::ServFail,
            "{ours}"
        );
        assert!(up.seen_for(ours).is_empty(), "{ours} went upstream");
    }
    for theirs in [
        "bedrock-runtime.cn-north-1.amazonaws.com.",
        "sts.us-east-1.api.aws.",
        "bedrock-x.us-west-2.corp.example.",
    ] {
        ask(addr, theirs, RecordType::A).await;
        assert_eq!(up.seen_for(theirs).len(), 1, "{theirs} is forwarded");
    }
}
