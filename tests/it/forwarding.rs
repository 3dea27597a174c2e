//! Forwarding over the network: faithful relaying, the cache, poisoning defences, failures.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::support::*;
use bedrock_link::serve::Running;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{RData, RecordType};

#[tokio::test]
async fn relays_answers_ttls_and_flags() {
    let up = TestUpstream::start().await;
    up.rule(
        "www.example.test",
        Behaviour::Answer {
            ips: vec![ip("192.0.2.1"), ip("192.0.2.2")],
            ttl: 300,
        },
    );
    let (_s, addr) = start(config(up.addr, "")).await;
    let reply = ask(addr, "WWW.Example.test.", RecordType::A).await;
    assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
    assert_eq!(ipv4s(&reply), vec![ip("192.0.2.1"), ip("192.0.2.2")]);
    assert_eq!(ttls(&reply), vec![300, 300]);
    assert!(reply.metadata.authoritative, "AA from upstream is relayed");
    assert!(reply.metadata.recursion_available);
    assert_eq!(
        reply.queries[0].name().to_string(),
        "WWW.Example.test.",
        "question keeps the client's case"
    );
    let seen = up.seen_for("www.example.test");
    assert_eq!(seen.len(), 1);
    assert!(seen[0].has_edns, "we always send EDNS upstream");
}

#[tokio::test]
async fn nxdomain_keeps_its_soa_and_servfail_stays_servfail() {
    let up = TestUpstream::start().await;
    up.rule(
        "gone.example.test",
        Behaviour::NxDomain {
            soa_ttl: 900,
            soa_min: 120,
        },
    );
    up.rule("broken.example.test", Behaviour::ServFail);
    let (_s, addr) = start(config(up.addr, "")).await;

    let nx = ask(addr, "gone.example.test.", RecordType::A).await;
    assert_eq!(nx.metadata.response_code, ResponseCode::NXDomain);
    let soa = nx
        .authorities
        .iter()
        .find(|r| matches!(r.data, RData::SOA(_)))
        .expect("SOA kept");
    assert_eq!(soa.ttl, 900);

    let sf = ask(addr, "broken.example.test.", RecordType::A).await;
    assert_eq!(sf.metadata.response_code, ResponseCode::ServFail);
}

#[tokio::test]
async fn cache_serves_repeats_with_ttls_counting_down() {
    let up = TestUpstream::start().await;
    up.rule(
        "cached.example.test",
        Behaviour::Answer {
            ips: vec![ip("192.0.2.7")],
            ttl: 100,
        },
    );
    up.rule(
        "volatile.example.test",
        Behaviour::Answer {
            ips: vec![ip("192.0.2.8")],
            ttl: 0,
        },
    );
    let (_s, addr) = start(config(up.addr, "")).await;

    let first = ask(addr, "cached.example.test.", RecordType::A).await;
    assert_eq!(ttls(&first), vec![100]);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let second = ask(addr, "CACHED.example.test.", RecordType::A).await;
    assert_eq!(ipv4s(&second), vec![ip("192.0.2.7")]);
    let ttl = ttls(&second)[0];
    assert!(
        (97..=98).contains(&ttl),
        "TTL counts down in the cache: {ttl}"
    );
    assert_eq!(
        second.queries[0].name().to_string(),
        "CACHED.example.test.",
        "cached reply carries this client's case"
    );
    assert_eq!(second.answers[0].name.to_string(), "CACHED.example.test.");
    assert_eq!(
        up.seen_for("cached.example.test").len(),
        1,
        "second answer came from the cache"
    );

    // A different type is a different question.
    let aaaa = ask(addr, "cached.example.test.", RecordType::AAAA).await;
    assert_eq!(aaaa.queries[0].query_type(), RecordType::AAAA);
    assert_eq!(up.seen_for("cached.example.test").len(), 2);

    // TTL 0 is never cached.
    ask(addr, "volatile.example.test.", RecordType::A).await;
    ask(addr, "volatile.example.test.", RecordType::A).await;
    assert_eq!(up.seen_for("volatile.example.test").len(), 2);
}

#[tokio::test]
async fn negative_answers_are_cached_by_soa_minimum_only_with_soa() {
    let up = TestUpstream::start().await;
    up.rule(
        "nx.example.test",
        Behaviour::NxDomain {
            soa_ttl: 3600,
            soa_min: 60,
        },
    );
    up.rule("nodata.example.test", Behaviour::NoDataNoSoa);
    let (_s, addr) = start(config(up.addr, "")).await;
    for _ in 0..3 {
        assert_eq!(
            ask(addr, "nx.example.test.", RecordType::A)
                .await
                .metadata
                .response_code,
            ResponseCode::NXDomain
        );
        ask(addr, "nodata.example.test.", RecordType::A).await;
    }
    assert_eq!(
        up.seen_for("nx.example.test").len(),
        1,
        "NXDOMAIN with SOA is cached"
    );
    assert_eq!(
        up.seen_for("nodata.example.test").len(),
        3,
        "no SOA, no negative caching (RFC 2308 5)"
    );
}

#[tokio::test]
async fn cache_can_be_disabled() {
    let up = TestUpstream::start().await;
    up.rule(
        "c.example.test",
        Behaviour::Answer {
            ips: vec![ip("192.0.2.9")],
            ttl: 100,
        },
    );
    let (_s, addr) = start(config(up.addr, "[upstream]\ncache_size = 0\n").clone()).await;
    ask(addr, "c.example.test.", RecordType::A).await;
    ask(addr, "c.example.test.", RecordType::A).await;
    assert_eq!(up.seen_for("c.example.test").len(), 2);
}

#[tokio::test]
async fn truncated_upstream_reply_is_retried_over_tcp() {
    let up = TestUpstream::start().await;
    let ips: Vec<_> = (1..=20).map(|i| ip(&format!("192.0.2.{i}"))).collect();
    up.rule(
        "tc.example.test",
        Behaviour::Truncate {
            ips: ips.clone(),
            ttl: 60,
        },
    );
    let (_s, addr) = start(config(up.addr, "")).await;
    let reply = ask(addr, "tc.example.test.", RecordType::A).await;
    assert!(!reply.metadata.truncation);
    assert_eq!(ipv4s(&reply), ips);
    let seen = up.seen_for("tc.example.test");
    assert_eq!(seen.iter().filter(|s| !s.tcp).count(), 1);
    assert_eq!(seen.iter().filter(|s| s.tcp).count(), 1);
    // A client over TCP is answered from a task, which retries over TCP the same way.
    up.rule(
        "tc-task.example.test",
        Behaviour::Truncate {
            ips: ips.clone(),
            ttl: 60,
        },
    );
    let query = query_msg("tc-task.example.test.", RecordType::A, Some(1232));
    let reply = tcp(addr, &query).await;
    assert_eq!(ipv4s(&reply), ips);
    let seen = up.seen_for("tc-task.example.test");
    assert_eq!(
        seen.iter().map(|s| s.tcp).collect::<Vec<_>>(),
        [false, true]
    );
}

#[tokio::test]
async fn upstream_queries_use_random_ids_and_rotating_ports() {
    use bedrock_link::dns::upstream::pool::{POOL_SIZE, SOCKET_BUDGET};
    let up = TestUpstream::start().await;
    // Faster than the default budget of 900 a second allows.
    let (_s, addr) = start(config(up.addr, "[upstream]\nmax_queries_per_second = 0\n")).await;
    // Enough queries to wear out every pooled socket several times over.
    let total = 3 * POOL_SIZE * SOCKET_BUDGET as usize;
    for i in 0..total {
        ask(addr, &format!("n{i}.random.test."), RecordType::A).await;
    }
    let seen = up.seen();
    assert_eq!(seen.len(), total);
    let ids: HashSet<u16> = seen.iter().map(|s| s.id).collect();
    // 1200 draws from 65536 repeat about 11 times on average; many more means no randomness.
    assert!(
        ids.len() >= total - 40,
        "IDs repeat too often: {}",
        ids.len()
    );
    let sequential = seen
        .windows(2)
        .filter(|w| w[1].id == w[0].id.wrapping_add(1))
        .count();
    assert!(sequential < 3, "IDs look sequential");
    // Each source port carries at most one socket's budget, then a new random port takes over.
    let mut per_port = std::collections::HashMap::<u16, usize>::new();
    for s in &seen {
        *per_port.entry(s.src.port()).or_default() += 1;
    }
    let busiest = per_port.values().max().copied().unwrap_or(0);
    assert!(
        busiest <= SOCKET_BUDGET as usize,
        "a source port carried {busiest} queries"
    );
    assert!(
        per_port.len() >= total / SOCKET_BUDGET as usize,
        "only {} source ports for {total} queries",
        per_port.len()
    );
    // And a socket carries its budget before it is replaced, not one query each.
    assert!(
        per_port.len() <= total / SOCKET_BUDGET as usize + 2 * POOL_SIZE,
        "{} source ports for {total} queries",
        per_port.len()
    );
    let mut ports: Vec<u16> = per_port.into_keys().collect();
    ports.sort_unstable();
    let consecutive = ports.windows(2).filter(|w| w[1] == w[0] + 1).count();
    assert!(
        consecutive < ports.len() / 2,
        "source ports look sequential: {ports:?}"
    );
}

/// Asks twice for a name the upstream answers with 192.0.2.50 after sending forgeries the way
/// `behaviour` says: only the real reply may be believed, and only it cached. Returns the
/// upstream and server for further checks.
async fn only_the_real_reply_counts(behaviour: Behaviour) -> (TestUpstream, Running, SocketAddr) {
    let up = TestUpstream::start().await;
    up.rule("bank.example.test", behaviour);
    let (s, addr) = start(config(up.addr, "")).await;
    let reply = ask(addr, "bank.example.test.", RecordType::A).await;
    assert_eq!(
        ipv4s(&reply),
        vec![ip("192.0.2.50")],
        "only the real reply counts"
    );
    let again = ask(addr, "bank.example.test.", RecordType::A).await;
    assert_eq!(
        ipv4s(&again),
        vec![ip("192.0.2.50")],
        "and only it is cached"
    );
    (up, s, addr)
}

#[tokio::test]
async fn forged_replies_are_ignored_and_never_cached() {
    let (_up, _s, addr) = only_the_real_reply_counts(Behaviour::ForgeFirst {
        ips: vec![ip("192.0.2.50")],
        ttl: 300,
    })
    .await;
    let evil = ask(addr, "evil.example.", RecordType::A).await;
    assert!(
        !ipv4s(&evil).contains(&ip("6.6.6.6")),
        "an unsolicited answer was not cached"
    );
}

#[tokio::test]
async fn forgeries_from_another_port_or_address_are_ignored_and_never_cached() {
    let (up, _s, _addr) = only_the_real_reply_counts(Behaviour::ForgeElsewhere {
        ips: vec![ip("192.0.2.50")],
        ttl: 300,
    })
    .await;
    assert_eq!(up.seen_for("bank.example.test").len(), 1);
}

#[tokio::test]
async fn silent_upstream_gives_servfail() {
    let up = TestUpstream::start().await;
    up.rule("slow.example.test", Behaviour::Silent);
    let (_s, addr) = start(config(up.addr, "[upstream]\ntimeout_ms = 300\n")).await;
    let reply = ask(addr, "slow.example.test.", RecordType::A).await;
    assert_eq!(reply.metadata.response_code, ResponseCode::ServFail);
}

#[tokio::test]
async fn upstream_going_away_gives_servfail_and_the_server_keeps_serving() {
    let up = TestUpstream::start().await;
    up.rule(
        "a.example.test",
        Behaviour::Answer {
            ips: vec![ip("192.0.2.1")],
            ttl: 0,
        },
    );
    let upstream_addr = up.addr;
    let extra = "[[static]]\nname = \"bedrock-runtime.ap-southeast-2.amazonaws.com\"\nipv4 = [\"10.1.0.10\"]\n";
    let (_s, addr) = start(config(upstream_addr, extra)).await;
    assert_eq!(
        ipv4s(&ask(addr, "a.example.test.", RecordType::A).await),
        vec![ip("192.0.2.1")]
    );
    up.stop().await;
    let reply = ask(addr, "a.example.test.", RecordType::A).await;
    assert_eq!(reply.metadata.response_code, ResponseCode::ServFail);
    let override_reply = ask(
        addr,
        "bedrock-runtime.ap-southeast-2.amazonaws.com.",
        RecordType::A,
    )
    .await;
    assert_eq!(
        ipv4s(&override_reply),
        vec![ip("10.1.0.10")],
        "overrides do not depend on the upstream"
    );
}

#[tokio::test]
async fn next_upstream_is_tried_when_the_first_is_silent() {
    let silent = TestUpstream::start().await;
    silent.rule("x.example.test", Behaviour::Silent);
    let good = TestUpstream::start().await;
    good.rule(
        "x.example.test",
        Behaviour::Answer {
            ips: vec![ip("192.0.2.77")],
            ttl: 60,
        },
    );
    let mut cfg = config(silent.addr, "");
    cfg.upstreams = vec![silent.addr, good.addr];
    let (_s, addr) = start(cfg).await;
    let reply = ask(addr, "x.example.test.", RecordType::A).await;
    assert_eq!(ipv4s(&reply), vec![ip("192.0.2.77")]);
    assert_eq!(silent.seen().len(), 1);
}

#[tokio::test]
async fn shutdown_drains_queries_in_flight() {
    let up = TestUpstream::start().await;
    up.rule(
        "slow.example.test",
        Behaviour::Delay {
            ms: 400,
            ips: vec![ip("192.0.2.33")],
            ttl: 60,
        },
    );
    let (server, addr) = start(config(up.addr, "")).await;
    let pending = tokio::spawn(async move { ask(addr, "slow.example.test.", RecordType::A).await });
    // Give the query time to reach the upstream before shutting down.
    for _ in 0..100 {
        if !up.seen().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(server.stop().await, "drained in time");
    let reply = pending.await.unwrap();
    assert_eq!(ipv4s(&reply), vec![ip("192.0.2.33")]);
    assert!(
        crate::support::udp_raw(
            addr,
            &query_msg("x.test.", RecordType::A, None).to_vec().unwrap(),
            Duration::from_millis(300)
        )
        .await
        .is_none(),
        "no longer listening"
    );
}

/// dnsmasq as the upstream, as the VPC resolver stand-in of the end-to-end tests.
struct Dnsmasq(Child);

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn relays_a_real_dnsmasq() {
    let dnsmasq =
        which("dnsmasq").expect("dnsmasq is installed (the README's test command installs it)");
    let port = free_port();
    let child = Command::new(dnsmasq)
        .args([
            "--keep-in-foreground",
            "--no-resolv",
            "--no-hosts",
            "--bind-interfaces",
            "--listen-address=127.0.0.1",
            &format!("--port={port}"),
            "--address=/public.example.test/198.51.100.4",
            "--local=/local.test/",
            "--pid-file=",
            "--conf-file=/dev/null",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("dnsmasq starts");
    let _guard = Dnsmasq(child);
    let upstream = format!("127.0.0.1:{port}").parse().unwrap();
    let (_s, addr) = start(config(upstream, "")).await;

    let mut reply = None;
    for _ in 0..50 {
        let r = ask(addr, "www.public.example.test.", RecordType::A).await;
        if r.metadata.response_code == ResponseCode::NoError {
            reply = Some(r);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await; // dnsmasq still starting
    }
    let reply = reply.expect("dnsmasq answered");
    assert_eq!(ipv4s(&reply), vec![ip("198.51.100.4")]);
    let nx = ask(addr, "nothing.local.test.", RecordType::A).await;
    assert_eq!(nx.metadata.response_code, ResponseCode::NXDomain);
}

fn which(cmd: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .chain(["/usr/sbin", "/sbin"])
        .map(|d| std::path::Path::new(d).join(cmd))
        .find(|p| p.is_file())
}

#[tokio::test]
async fn an_upstream_reply_larger_than_advertised_is_fetched_again_over_tcp() {
    let up = TestUpstream::start().await;
    // 300 A records: about 4.8 KB in one UDP datagram, far past the 1232 bytes we advertise.
    let ips: Vec<_> = (0..300u16)
        .map(|i| std::net::Ipv4Addr::new(192, 0, 2 + (i / 250) as u8, (i % 250) as u8))
        .collect();
    up.rule(
        "huge.example.test",
        Behaviour::Answer {
            ips: ips.clone(),
            ttl: 60,
        },
    );
    let (_s, addr) = start(config(up.addr, "")).await;
    let reply = tcp(addr, &query_msg("huge.example.test.", RecordType::A, None)).await;
    assert_eq!(
        reply.answers.len(),
        300,
        "the whole answer, fetched over TCP"
    );
    let seen = up.seen_for("huge.example.test");
    assert!(seen.iter().any(|s| s.tcp), "retried over TCP: {seen:?}");
}

// --- Negative caching after a CNAME, huge TTLs (RFC 2308 section 5, RFC 2181 section 8) ------

#[tokio::test]
async fn negative_answers_after_a_cname_live_no_longer_than_the_cname() {
    let up = TestUpstream::start().await;
    up.rule(
        "alias.example.test",
        Behaviour::CnameNxDomain {
            target: "gone.example.test".into(),
            cname_ttl: 1,
            soa_ttl: 900,
        },
    );
    let (_s, addr) = start(config(up.addr, "")).await;
    let first = ask(addr, "alias.example.test.", RecordType::A).await;
    assert_eq!(first.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(ttls(&first), vec![1], "the CNAME is relayed");
    ask(addr, "alias.example.test.", RecordType::A).await;
    assert_eq!(
        up.seen_for("alias.example.test").len(),
        1,
        "cached at first"
    );
    // The CNAME's second is up: the whole negative answer goes with it, not after the SOA's 900.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let again = ask(addr, "alias.example.test.", RecordType::A).await;
    assert_eq!(again.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(up.seen_for("alias.example.test").len(), 2, "asked again");
}

#[tokio::test]
async fn ttls_of_two_to_the_31_or_more_count_as_zero() {
    let up = TestUpstream::start().await;
    up.rule(
        "huge.example.test",
        Behaviour::RawTtl {
            ip: ip("192.0.2.31"),
            ttl: 0x8000_0005,
        },
    );
    let (_s, addr) = start(config(up.addr, "")).await;
    let first = ask(addr, "huge.example.test.", RecordType::A).await;
    assert_eq!(ipv4s(&first), vec![ip("192.0.2.31")]);
    assert_eq!(ttls(&first), vec![0], "relayed as 0");
    let second = ask(addr, "huge.example.test.", RecordType::A).await;
    assert_eq!(ttls(&second), vec![0]);
    assert_eq!(up.seen_for("huge.example.test").len(), 2, "never cached");
}

// --- Upstream failures: the next server is asked ---------------------------------------------

#[tokio::test]
async fn an_error_without_a_question_passes_the_query_to_the_next_server_at_once() {
    let (first, second) = (TestUpstream::start().await, TestUpstream::start().await);
    first.rule("slow.example.test", Behaviour::ErrorWithoutQuestion(5));
    // The second server needs 2 of the 3 seconds: only there if the first's REFUSED (without a
    // question) ends its turn at once instead of its 1.5 s share running out.
    second.rule(
        "slow.example.test",
        Behaviour::Delay {
            ms: 2000,
            ips: vec![ip("192.0.2.41")],
            ttl: 60,
        },
    );
    let extra = "[upstream]\ntimeout_ms = 3000\n";
    let (_s, addr) = start(config_servers(&[first.addr, second.addr], extra)).await;
    let reply = ask(addr, "slow.example.test.", RecordType::A).await;
    assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
    assert_eq!(ipv4s(&reply), vec![ip("192.0.2.41")]);
    assert_eq!(first.seen_for("slow.example.test").len(), 1);
}

#[tokio::test]
async fn servfail_and_refused_pass_the_query_to_the_next_server() {
    let (first, second) = (TestUpstream::start().await, TestUpstream::start().await);
    first.rule("a.example.test", Behaviour::ServFail);
    first.rule("b.example.test", Behaviour::Refused);
    for name in ["a.example.test", "b.example.test"] {
        second.rule(
            name,
            Behaviour::Answer {
                ips: vec![ip("192.0.2.42")],
                ttl: 60,
            },
        );
    }
    // Both fail: the last server's error comes back as it was.
    first.rule("c.example.test", Behaviour::Refused);
    second.rule("c.example.test", Behaviour::ServFail);
    let (_s, addr) = start(config_servers(&[first.addr, second.addr], "")).await;
    for name in ["a.example.test.", "b.example.test."] {
        let reply = ask(addr, name, RecordType::A).await;
        assert_eq!(
            reply.metadata.response_code,
            ResponseCode::NoError,
            "{name}"
        );
        assert_eq!(ipv4s(&reply), vec![ip("192.0.2.42")], "{name}");
    }
    let both = ask(addr, "c.example.test.", RecordType::A).await;
    assert_eq!(both.metadata.response_code, ResponseCode::ServFail);
    assert_eq!(second.seen_for("c.example.test").len(), 1);
    // A client over TCP is answered from a task: the same rule.
    first.rule("d.example.test", Behaviour::ServFail);
    second.rule(
        "d.example.test",
        Behaviour::Answer {
            ips: vec![ip("192.0.2.42")],
            ttl: 60,
        },
    );
    let reply = tcp(
        addr,
        &query_msg("d.example.test.", RecordType::A, Some(1232)),
    )
    .await;
    assert_eq!(ipv4s(&reply), vec![ip("192.0.2.42")]);
}

#[tokio::test]
async fn a_reply_with_opt_outside_the_additional_section_is_not_relayed() {
    let (first, second) = (TestUpstream::start().await, TestUpstream::start().await);
    first.rule(
        "opt.example.test",
        Behaviour::OptInAnswer {
            ips: vec![ip("192.0.2.43")],
        },
    );
    let (one, alone) = start(config(first.addr, "")).await;
    // The only server's reply is malformed: SERVFAIL, well-formed (`ask` decodes it).
    let reply = ask(alone, "opt.example.test.", RecordType::A).await;
    assert_eq!(reply.metadata.response_code, ResponseCode::ServFail);
    // A malformed reply is an error of the server's, not a timeout.
    let metrics = one.metrics().render();
    let kind = |k: &str| {
        process::metric(
            &metrics,
            &format!("bedrock_link_upstream_errors_total{{kind=\"{k}\"}}"),
        )
    };
    assert_eq!((kind("network"), kind("timeout")), (1.0, 0.0), "{metrics}");
    // With a second server, its answer.
    second.rule(
        "opt.example.test",
        Behaviour::Answer {
            ips: vec![ip("192.0.2.44")],
            ttl: 60,
        },
    );
    let (_two, addr) = start(config_servers(&[first.addr, second.addr], "")).await;
    let reply = ask(addr, "opt.example.test.", RecordType::A).await;
    assert_eq!(ipv4s(&reply), vec![ip("192.0.2.44")]);
}

// --- Extended DNS Errors are relayed (RFC 8914) ----------------------------------------------

#[tokio::test]
async fn extended_dns_errors_from_upstream_reach_the_client() {
    let up = TestUpstream::start().await;
    up.rule(
        "bogus.example.test",
        Behaviour::ServFailEde {
            code: 9,
            text: "DNSKEY Missing".into(),
        },
    );
    let (_s, addr) = start(config(up.addr, "")).await;
    let query = query_msg("bogus.example.test.", RecordType::A, Some(1232));
    let reply = udp_raw(addr, &query.to_vec().unwrap(), Duration::from_secs(3))
        .await
        .unwrap();
    assert_eq!(rcode_of(&reply), 2);
    assert_eq!(ede_of(&reply), vec![(9, "DNSKEY Missing".to_string())]);
}

// --- Identical concurrent misses share one upstream query ------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identical_concurrent_misses_share_one_upstream_query() {
    let up = TestUpstream::start().await;
    up.rule(
        "burst.example.test",
        Behaviour::Delay {
            ms: 300,
            ips: vec![ip("192.0.2.50")],
            ttl: 60,
        },
    );
    let (running, addr) = start(config(up.addr, "")).await;
    let askers: Vec<_> = (0..20)
        .map(|i| {
            let name = if i % 2 == 0 {
                "burst.example.test."
            } else {
                "BURST.Example.Test."
            };
            tokio::spawn(async move { ask(addr, name, RecordType::A).await })
        })
        .collect();
    for asker in askers {
        let reply = asker.await.unwrap();
        assert_eq!(ipv4s(&reply), vec![ip("192.0.2.50")]);
    }
    assert_eq!(
        up.seen_for("burst.example.test").len(),
        1,
        "one upstream query"
    );
    let metrics = running.metrics().render();
    assert!(
        metrics.contains("bedrock_link_upstream_coalesced_total 19"),
        "{metrics}"
    );
}

// --- The cache is bounded in bytes -----------------------------------------------------------

#[tokio::test]
async fn the_cache_holds_no_more_bytes_than_its_budget() {
    let up = TestUpstream::start().await;
    for i in 0..60 {
        up.rule(
            &format!("big{i}.example.test"),
            Behaviour::Large { bytes: 16_000 },
        );
    }
    // Room for 10,000 entries but only 256 KiB: about 15 of these 16 KB answers.
    let budget = 256 * 1024;
    let extra = format!("[upstream]\ncache_size = 10000\ncache_max_bytes = {budget}\n");
    let (running, addr) = start(config(up.addr, &extra)).await;
    for i in 0..60 {
        let reply = tcp(
            addr,
            &query_msg(&format!("big{i}.example.test."), RecordType::TXT, None),
        )
        .await;
        assert_eq!(reply.answers.len(), 16);
    }
    let held = running.cache().bytes();
    assert!(held > 0 && held <= budget, "{held} bytes cached");
    assert!(
        running.cache().len() < 20,
        "{} entries",
        running.cache().len()
    );
    // Asked again, most of them must go upstream: they could not all be kept.
    let seen = |i: usize| up.seen_for(&format!("big{i}.example.test")).len();
    let before: Vec<usize> = (0..60).map(seen).collect();
    for i in 0..60 {
        tcp(
            addr,
            &query_msg(&format!("big{i}.example.test."), RecordType::TXT, None),
        )
        .await;
    }
    let asked_again = (0..60).filter(|&i| seen(i) > before[i]).count();
    assert!(
        asked_again >= 40,
        "only {asked_again} of 60 were asked again"
    );
}

#[tokio::test]
async fn answers_to_different_rd_ad_cd_or_do_flags_are_cached_apart() {
    let up = TestUpstream::start().await;
    up.rule(
        "flags.example.test",
        Behaviour::Answer {
            ips: vec![ip("192.0.2.44")],
            ttl: 300,
        },
    );
    let (_s, addr) = start(config(up.addr, "")).await;
    let name = "flags.example.test.";
    let with = |rd: bool, ad: bool, cd: bool, dnssec_ok: bool| {
        let mut msg = query_msg(name, RecordType::A, dnssec_ok.then_some(1232));
        if let Some(edns) = msg.edns.as_mut() {
            edns.set_dnssec_ok(true);
        }
        msg.metadata.recursion_desired = rd;
        msg.metadata.authentic_data = ad;
        msg.metadata.checking_disabled = cd;
        msg
    };
    let variants = [
        with(true, false, false, false),
        with(false, false, false, false),
        with(true, true, false, false),
        with(true, false, true, false),
        with(true, false, false, true),
    ];
    for (i, query) in variants.iter().enumerate() {
        let reply = udp(addr, query).await;
        assert_eq!(ipv4s(&reply), vec![ip("192.0.2.44")], "variant {i}");
        assert_eq!(
            up.seen_for("flags.example.test").len(),
            i + 1,
            "variant {i}: its own question upstream"
        );
    }
    // Each again: all from the cache.
    for query in &variants {
        udp(addr, query).await;
    }
    assert_eq!(up.seen_for("flags.example.test").len(), variants.len());
}

// --- What counts as the upstream's answer ----------------------------------------------------

#[tokio::test]
async fn an_answer_from_the_first_server_is_final() {
    let (first, second) = (TestUpstream::start().await, TestUpstream::start().await);
    first.rule(
        "final.example.test",
        Behaviour::Answer {
            ips: vec![ip("192.0.2.45")],
            ttl: 60,
        },
    );
    first.rule(
        "gone.example.test",
        Behaviour::NxDomain {
            soa_ttl: 60,
            soa_min: 60,
        },
    );
    first.rule(
        "final-tcp.example.test",
        Behaviour::Answer {
            ips: vec![ip("192.0.2.45")],
            ttl: 60,
        },
    );
    for name in [
        "final.example.test",
        "gone.example.test",
        "final-tcp.example.test",
    ] {
        second.rule(
            name,
            Behaviour::Answer {
                ips: vec![ip("192.0.2.46")],
                ttl: 60,
            },
        );
    }
    let (_s, addr) = start(config_servers(&[first.addr, second.addr], "")).await;
    let reply = ask(addr, "final.example.test.", RecordType::A).await;
    assert_eq!(ipv4s(&reply), vec![ip("192.0.2.45")]);
    let nx = ask(addr, "gone.example.test.", RecordType::A).await;
    assert_eq!(nx.metadata.response_code, ResponseCode::NXDomain);
    // Over TCP the query is asked from a task (not relayed): the same rule.
    let query = query_msg("final-tcp.example.test.", RecordType::A, Some(1232));
    let over_tcp = tcp(addr, &query).await;
    assert_eq!(ipv4s(&over_tcp), vec![ip("192.0.2.45")]);
    let asked = first.seen_for("final-tcp.example.test");
    assert_eq!(
        asked.iter().map(|s| s.tcp).collect::<Vec<_>>(),
        [false],
        "asked over UDP"
    );
    assert!(
        second.seen().is_empty(),
        "NOERROR and NXDOMAIN end the query"
    );
}

#[tokio::test]
async fn datagrams_that_do_not_answer_the_question_are_ignored() {
    let up = TestUpstream::start().await;
    up.rule(
        "echo.example.test",
        Behaviour::EchoFirst {
            ips: vec![ip("192.0.2.47")],
        },
    );
    up.rule(
        "empty.example.test",
        Behaviour::NoQuestionFirst {
            ips: vec![ip("192.0.2.48")],
        },
    );
    up.rule(
        "forged-tcp.example.test",
        Behaviour::TruncateThenForgeFirst {
            ips: vec![ip("192.0.2.49")],
            ttl: 60,
        },
    );
    let (_s, addr) = start(config(up.addr, "")).await;
    // A query sent back (QR clear) is not a reply, and a NOERROR without a question is not an
    // error that ends the wait: the real answer after each is the one relayed.
    let echo = ask(addr, "echo.example.test.", RecordType::A).await;
    assert_eq!(ipv4s(&echo), vec![ip("192.0.2.47")]);
    let empty = ask(addr, "empty.example.test.", RecordType::A).await;
    assert_eq!(empty.metadata.response_code, ResponseCode::NoError);
    assert_eq!(ipv4s(&empty), vec![ip("192.0.2.48")]);
    // Over TCP too (after truncation), a frame with another ID is not the answer.
    let tcp = ask(addr, "forged-tcp.example.test.", RecordType::A).await;
    assert_eq!(ipv4s(&tcp), vec![ip("192.0.2.49")]);
    let seen = up.seen_for("forged-tcp.example.test");
    assert_eq!(
        seen.iter().map(|s| s.tcp).collect::<Vec<_>>(),
        [false, true]
    );
}

#[tokio::test]
async fn the_flags_that_change_an_answer_reach_the_upstream() {
    let up = TestUpstream::start().await;
    let (_s, addr) = start(config(up.addr, "")).await;
    for (i, (rd, ad, cd, dnssec_ok)) in [
        (true, true, false, false),
        (true, false, true, false),
        (true, false, false, true),
        (false, false, false, false),
    ]
    .into_iter()
    .enumerate()
    {
        let name = format!("f{i}.example.test.");
        let mut query = query_msg(&name, RecordType::A, Some(1232));
        query.metadata.recursion_desired = rd;
        query.metadata.authentic_data = ad;
        query.metadata.checking_disabled = cd;
        if let Some(edns) = query.edns.as_mut() {
            edns.set_dnssec_ok(dnssec_ok);
        }
        udp(addr, &query).await;
        let seen = up.seen_for(&name);
        let want = Flags {
            rd,
            ad,
            cd,
            dnssec_ok,
        };
        assert_eq!(
            seen.iter().map(|s| s.flags).collect::<Vec<_>>(),
            [want],
            "{name}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_upstream_is_probed_not_flooded_and_heard_again_at_once() {
    let up = TestUpstream::start().await;
    let (running, addr) = start(config(up.addr, "[upstream]\ntimeout_ms = 200\n")).await;
    up.rule(
        "before.silent.test",
        Behaviour::Answer {
            ips: vec![ip("192.0.2.90")],
            ttl: 0,
        },
    );
    ask(addr, "before.silent.test.", RecordType::A).await;
    // 60 names that get no answer, one asked every 50 ms for 3 s: after 5 are left unanswered
    // and a quiet second, the server is silent and only one query per 100 ms is sent to it.
    let mut askers = Vec::new();
    for i in 0..60 {
        let name = format!("q{i}.silent.test");
        up.rule(&name, Behaviour::Silent);
        askers.push(tokio::spawn(async move {
            ask(addr, &format!("{name}."), RecordType::A).await
        }));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for asker in askers {
        let reply = asker.await.unwrap();
        assert_eq!(reply.metadata.response_code, ResponseCode::ServFail);
    }
    let sent = up.seen().len() - 1;
    // About 20 in the first second, then about 10 a second: 40 or so, never all 60.
    assert!(sent <= 45, "{sent} of 60 sent to a silent server");
    let metrics = running.metrics().render();
    let skipped = process::metric(
        &metrics,
        "bedrock_link_upstream_errors_total{kind=\"silent\"}",
    );
    assert_eq!(skipped as usize, 60 - sent, "{metrics}");

    // It answers again: within a probe or two, so are the queries.
    up.rule(
        "after.silent.test",
        Behaviour::Answer {
            ips: vec![ip("192.0.2.91")],
            ttl: 0,
        },
    );
    let mut tries = 0;
    loop {
        tries += 1;
        let reply = ask(addr, "after.silent.test.", RecordType::A).await;
        if reply.metadata.response_code == ResponseCode::NoError {
            assert_eq!(ipv4s(&reply), vec![ip("192.0.2.91")]);
            break;
        }
        assert!(tries < 10, "still skipped after {tries} tries");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let reply = ask(addr, "before.silent.test.", RecordType::A).await;
    assert_eq!(
        ipv4s(&reply),
        vec![ip("192.0.2.90")],
        "heard again: no more skipping"
    );
}

#[tokio::test]
async fn every_server_gets_its_share_of_what_is_left_of_the_timeout() {
    let servers = [
        TestUpstream::start().await,
        TestUpstream::start().await,
        TestUpstream::start().await,
    ];
    servers[0].rule("share.example.test", Behaviour::Silent);
    servers[1].rule("share.example.test", Behaviour::Silent);
    servers[2].rule(
        "share.example.test",
        Behaviour::Answer {
            ips: vec![ip("192.0.2.92")],
            ttl: 60,
        },
    );
    // 1.5 s for three: 0.5 s each. The third answers at once, at about 1 s.
    let addrs: Vec<_> = servers.iter().map(|s| s.addr).collect();
    let extra = "[upstream]\ntimeout_ms = 1500\n";
    let (_s, addr) = start(config_servers(&addrs, extra)).await;
    let reply = ask(addr, "share.example.test.", RecordType::A).await;
    assert_eq!(ipv4s(&reply), vec![ip("192.0.2.92")]);
    for server in &servers {
        assert_eq!(server.seen_for("share.example.test").len(), 1);
    }
}

#[tokio::test]
async fn a_silent_first_server_hands_on_at_its_deadline_even_when_nothing_else_happens() {
    let (first, second) = (TestUpstream::start().await, TestUpstream::start().await);
    // 300 ms for two: the first has 150 ms, well under the second the upstream receiver may
    // sleep when it has nothing to do; it must wake for this deadline.
    let extra = "[upstream]\ntimeout_ms = 300\n";
    let (_s, addr) = start(config_servers(&[first.addr, second.addr], extra)).await;
    for i in 0..4 {
        let name = format!("idle{i}.example.test");
        first.rule(&name, Behaviour::Silent);
        second.rule(
            &name,
            Behaviour::Answer {
                ips: vec![ip("192.0.2.94")],
                ttl: 60,
            },
        );
        let reply = ask(addr, &format!("{name}."), RecordType::A).await;
        assert_eq!(ipv4s(&reply), vec![ip("192.0.2.94")], "{name}");
        // Long enough for the receiver to go back to its idle sleep.
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
}

#[tokio::test]
async fn an_upstream_port_that_refuses_is_a_network_error_not_a_timeout() {
    // Nothing listens there: the kernel's "port unreachable" ends the query at once.
    let closed: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let (running, addr) = start(config(closed, "[upstream]\ntimeout_ms = 2000\n")).await;
    let reply = ask(addr, "refused.example.test.", RecordType::A).await;
    assert_eq!(reply.metadata.response_code, ResponseCode::ServFail);
    let metrics = running.metrics().render();
    let kind = |k: &str| {
        process::metric(
            &metrics,
            &format!("bedrock_link_upstream_errors_total{{kind=\"{k}\"}}"),
        )
    };
    assert_eq!((kind("network"), kind("timeout")), (1.0, 0.0), "{metrics}");
}
