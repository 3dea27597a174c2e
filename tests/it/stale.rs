//! When the upstream cannot answer: answers given stale (RFC 8767), and answers in steady use
//! refreshed before they expire (prefetch).

use std::time::{Duration, Instant};

use crate::support::*;
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{RData, RecordType};

/// Extended DNS Error 3: Stale Answer (RFC 8914 section 4.4).
const STALE_ANSWER: (u16, String) = (3, String::new());

/// Asks `name` A over UDP with EDNS; the raw reply and the decoded one.
async fn ask_edns(addr: std::net::SocketAddr, name: &str) -> (Vec<u8>, Message) {
    let query = query_msg(name, RecordType::A, Some(1232));
    let raw = udp_raw(addr, &query.to_vec().unwrap(), Duration::from_secs(5))
        .await
        .expect("a reply");
    let msg = Message::from_vec(&raw).unwrap();
    assert_eq!(msg.metadata.id, query.metadata.id);
    (raw, msg)
}

/// Every TTL in the answer and authority sections.
fn all_ttls(msg: &Message) -> Vec<u32> {
    msg.answers
        .iter()
        .chain(&msg.authorities)
        .map(|r| r.ttl)
        .collect()
}

#[tokio::test]
async fn an_expired_answer_is_given_stale_when_the_upstream_goes_silent() {
    let up = TestUpstream::start().await;
    let name = "stale.example.test";
    up.rule(
        name,
        Behaviour::Answer {
            ips: vec![ip("192.0.2.61")],
            ttl: 1,
        },
    );
    let (running, addr) = start(config(up.addr, "[upstream]\ntimeout_ms = 300\n")).await;
    let (raw, fresh) = ask_edns(addr, "stale.example.test.").await;
    assert_eq!(ipv4s(&fresh), vec![ip("192.0.2.61")]);
    assert!(
        ede_of(&raw).is_empty(),
        "a fresh answer is not marked stale"
    );

    up.rule(name, Behaviour::Silent);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let asked = Instant::now();
    let (raw, stale) = ask_edns(addr, "Stale.Example.Test.").await;
    let waited = asked.elapsed();
    assert_eq!(stale.metadata.response_code, ResponseCode::NoError);
    assert_eq!(ipv4s(&stale), vec![ip("192.0.2.61")]);
    assert_eq!(ttls(&stale), vec![30], "a stale answer's TTL is 30 s");
    assert_eq!(ede_of(&raw), vec![STALE_ANSWER]);
    assert_eq!(stale.queries[0].name().to_string(), "Stale.Example.Test.");
    // It was asked for again, and given stale once the upstream's time was up.
    assert_eq!(up.seen_for(name).len(), 2);
    assert!(
        waited < Duration::from_millis(300 + 700),
        "waited {waited:?}"
    );

    // Held: the next query is answered stale at once, without asking again.
    let (raw, again) = ask_edns(addr, "stale.example.test.").await;
    assert_eq!(ipv4s(&again), vec![ip("192.0.2.61")]);
    assert_eq!(ede_of(&raw), vec![STALE_ANSWER]);
    assert_eq!(up.seen_for(name).len(), 2, "held: not asked again");

    // Without EDNS the answer is the same, with no OPT at all.
    let plain = udp(addr, &query_msg("stale.example.test.", RecordType::A, None)).await;
    assert_eq!(ipv4s(&plain), vec![ip("192.0.2.61")]);
    assert!(plain.edns.is_none());

    let metrics = running.metrics().render();
    assert_eq!(
        process::metric(&metrics, "bedrock_link_queries_total{outcome=\"stale\"}"),
        3.0,
        "{metrics}"
    );
}

#[tokio::test]
async fn with_serve_stale_off_an_expired_answer_is_servfail() {
    let up = TestUpstream::start().await;
    let name = "nostale.example.test";
    up.rule(
        name,
        Behaviour::Answer {
            ips: vec![ip("192.0.2.62")],
            ttl: 1,
        },
    );
    let extra = "[upstream]\ntimeout_ms = 300\nserve_stale = \"0s\"\n";
    let (_s, addr) = start(config(up.addr, extra)).await;
    let (_, fresh) = ask_edns(addr, "nostale.example.test.").await;
    assert_eq!(ipv4s(&fresh), vec![ip("192.0.2.62")]);
    up.rule(name, Behaviour::Silent);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let (raw, reply) = ask_edns(addr, "nostale.example.test.").await;
    assert_eq!(reply.metadata.response_code, ResponseCode::ServFail);
    assert!(reply.answers.is_empty());
    assert!(ede_of(&raw).is_empty());
}

#[tokio::test]
async fn negative_answers_are_given_stale_and_so_is_anything_after_a_servfail() {
    let up = TestUpstream::start().await;
    up.rule(
        "gone.example.test",
        Behaviour::NxDomain {
            soa_ttl: 1,
            soa_min: 1,
        },
    );
    up.rule(
        "flaky.example.test",
        Behaviour::Answer {
            ips: vec![ip("192.0.2.63")],
            ttl: 1,
        },
    );
    let (_s, addr) = start(config(up.addr, "[upstream]\ntimeout_ms = 300\n")).await;
    let (_, nx) = ask_edns(addr, "gone.example.test.").await;
    assert_eq!(nx.metadata.response_code, ResponseCode::NXDomain);
    let (_, ok) = ask_edns(addr, "flaky.example.test.").await;
    assert_eq!(ipv4s(&ok), vec![ip("192.0.2.63")]);

    up.rule("gone.example.test", Behaviour::Silent);
    up.rule("flaky.example.test", Behaviour::ServFail);
    tokio::time::sleep(Duration::from_millis(1200)).await;

    let (raw, nx) = ask_edns(addr, "gone.example.test.").await;
    assert_eq!(nx.metadata.response_code, ResponseCode::NXDomain);
    assert!(
        nx.authorities
            .iter()
            .any(|r| matches!(r.data, RData::SOA(_))),
        "the SOA is kept"
    );
    assert_eq!(all_ttls(&nx), vec![30]);
    assert_eq!(ede_of(&raw), vec![STALE_ANSWER]);

    let (raw, ok) = ask_edns(addr, "flaky.example.test.").await;
    assert_eq!(ok.metadata.response_code, ResponseCode::NoError);
    assert_eq!(ipv4s(&ok), vec![ip("192.0.2.63")]);
    assert_eq!(ede_of(&raw), vec![STALE_ANSWER]);
    assert_eq!(up.seen_for("flaky.example.test").len(), 2);
}

#[tokio::test]
async fn a_stale_answer_whose_chain_reaches_our_name_is_completed_from_the_table() {
    let up = TestUpstream::start().await;
    let ours = "bedrock-runtime.ap-southeast-2.amazonaws.com";
    up.rule(
        "alias.example.test",
        Behaviour::Chain {
            targets: vec![ours.into()],
            ips: vec![ip("203.0.113.7")],
            ttl: 1,
        },
    );
    let extra = format!(
        "[dns]\nttl = 42\n[upstream]\ntimeout_ms = 300\n[[static]]\nname = \"{ours}\"\nipv4 = [\"10.1.0.10\"]\n"
    );
    let (_s, addr) = start(config(up.addr, &extra)).await;
    let (_, fresh) = ask_edns(addr, "alias.example.test.").await;
    assert_eq!(ipv4s(&fresh), vec![ip("10.1.0.10")]);

    up.rule("alias.example.test", Behaviour::Silent);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let (raw, stale) = ask_edns(addr, "alias.example.test.").await;
    assert_eq!(stale.metadata.response_code, ResponseCode::NoError);
    assert_eq!(ede_of(&raw), vec![STALE_ANSWER]);
    assert_eq!(
        ipv4s(&stale),
        vec![ip("10.1.0.10")],
        "our address, never the upstream's"
    );
    let cname = stale
        .answers
        .iter()
        .find(|r| matches!(r.data, RData::CNAME(_)))
        .expect("the alias is kept");
    assert_eq!(cname.ttl, 30);
    let ours_ttl: Vec<u32> = stale
        .answers
        .iter()
        .filter(|r| matches!(r.data, RData::A(_)))
        .map(|r| r.ttl)
        .collect();
    assert_eq!(ours_ttl, vec![42], "our part of the chain has our TTL");
}

/// Asks a 10 s answer at 0 s, at 9.2 s (its last tenth) and a few times more, then at
/// 10.5 s (past its first expiry); returns the upstream's count of queries after each step,
/// the last answer's TTL, and the count for a second 10 s name whose refresh fails (SERVFAIL),
/// asked six times in its last tenth.
async fn steady_use(prefetch: bool) -> (usize, usize, usize, u32, usize) {
    let up = TestUpstream::start().await;
    let name = "warm.example.test";
    for (name, last) in [(name, 64), ("failing.example.test", 65)] {
        up.rule(
            name,
            Behaviour::Answer {
                ips: vec![ip(&format!("192.0.2.{last}"))],
                ttl: 10,
            },
        );
    }
    let extra = format!("[upstream]\nprefetch = {prefetch}\n");
    let (_s, addr) = start(config(up.addr, &extra)).await;
    let t0 = Instant::now();
    let first = ask(addr, "warm.example.test.", RecordType::A).await;
    assert_eq!(ipv4s(&first), vec![ip("192.0.2.64")]);
    ask(addr, "failing.example.test.", RecordType::A).await;
    up.rule("failing.example.test", Behaviour::ServFail);
    tokio::time::sleep_until((t0 + Duration::from_millis(9200)).into()).await;
    for _ in 0..6 {
        let reply = ask(addr, "failing.example.test.", RecordType::A).await;
        assert_eq!(ipv4s(&reply), vec![ip("192.0.2.65")], "still a hit");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let near = ask(addr, "warm.example.test.", RecordType::A).await;
    assert_eq!(
        ipv4s(&near),
        vec![ip("192.0.2.64")],
        "answered from the cache"
    );
    // The refresh is in the background: give it time to land.
    let settle = Instant::now() + Duration::from_millis(500);
    while up.seen_for(name).len() < 2 && Instant::now() < settle {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let after_near = up.seen_for(name).len();
    for _ in 0..5 {
        ask(addr, "warm.example.test.", RecordType::A).await;
    }
    let after_more = up.seen_for(name).len();
    tokio::time::sleep_until((t0 + Duration::from_millis(10_500)).into()).await;
    let later = ask(addr, "warm.example.test.", RecordType::A).await;
    assert_eq!(ipv4s(&later), vec![ip("192.0.2.64")]);
    let failing = up.seen_for("failing.example.test").len();
    (
        after_near,
        after_more,
        up.seen_for(name).len(),
        later.answers[0].ttl,
        failing,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hit_near_expiry_refreshes_the_answer_once_in_the_background() {
    let (on, off) = tokio::join!(steady_use(true), steady_use(false));
    // Prefetch: one refresh at the hit in the last tenth, none for the hits after it, and
    // the query after the first expiry is a hit on the refreshed answer.
    assert_eq!((on.0, on.1, on.2), (2, 2, 2), "prefetch on: {on:?}");
    assert!(on.3 >= 8, "the refreshed answer's TTL: {on:?}");
    // A refresh that fails is not tried again by every hit after it.
    assert_eq!(on.4, 2, "one refresh for the failing name: {on:?}");
    assert_eq!(off.4, 1, "{off:?}");
    // Without it: the answer expires and the query after that goes upstream.
    assert_eq!((off.0, off.1, off.2), (1, 1, 2), "prefetch off: {off:?}");
    assert_eq!(off.3, 10);
}
