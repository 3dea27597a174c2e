//! Endpoint health over the network: three addresses on loopback with a TCP listener each;
//! the answers follow which of them accept connections.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::time::{Duration, Instant};

use crate::support::*;
use bedrock_link::serve::Running;
use hickory_proto::rr::RecordType;

const NAME: &str = "bedrock-runtime.ap-southeast-2.amazonaws.com.";
const OTHER: &str = "bedrock.ap-southeast-2.amazonaws.com.";
const UNCHECKED: &str = "bedrock-agent.ap-southeast-2.amazonaws.com.";
const INTERVAL: Duration = Duration::from_secs(1);
const TIMEOUT: Duration = Duration::from_millis(200);
const DOWN_AFTER: u32 = 2;
const UP_AFTER: u32 = 1;

/// The README's bound: `down_after` (or `up_after`) probes, each up to 1.1 intervals apart,
/// the last one's timeout, and the table's rebuild (immediate); plus a second of slack.
fn bound(probes: u32) -> Duration {
    INTERVAL.mul_f64(1.1 * f64::from(probes)) + TIMEOUT + Duration::from_secs(1)
}

fn ips() -> [Ipv4Addr; 3] {
    [1, 2, 3].map(|i| Ipv4Addr::new(127, 0, 0, 10 + i))
}

/// Listeners on the three addresses, all on one port.
fn listeners() -> (u16, Vec<Option<TcpListener>>) {
    for _ in 0..20 {
        let first = TcpListener::bind((ips()[0], 0)).unwrap();
        let port = first.local_addr().unwrap().port();
        let rest: Vec<_> = ips()[1..]
            .iter()
            .map(|ip| TcpListener::bind((*ip, port)))
            .collect();
        if rest.iter().all(Result::is_ok) {
            let mut all = vec![Some(first)];
            all.extend(rest.into_iter().map(|l| Some(l.unwrap())));
            return (port, all);
        }
    }
    panic!("no port free on all three addresses");
}

async fn answer(addr: SocketAddr, name: &str) -> Vec<Ipv4Addr> {
    let mut got = ipv4s(&ask(addr, name, RecordType::A).await);
    got.sort();
    got
}

/// Polls until `name` answers `want`, and says how long that took (None: not within `limit`).
async fn answers_within(
    addr: SocketAddr,
    name: &str,
    want: &[Ipv4Addr],
    limit: Duration,
) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if answer(addr, name).await == want {
            return Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

fn metric(running: &Running, line_start: &str) -> Option<f64> {
    running
        .metrics()
        .render()
        .lines()
        .find(|l| l.starts_with(line_start))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_leave_out_an_address_that_refuses_and_never_go_empty() {
    let (port, mut listening) = listeners();
    let [a, b, c] = ips();
    let list = format!("[\"{a}\", \"{b}\", \"{c}\"]");
    let up = TestUpstream::start().await;
    let cfg = config(
        up.addr,
        &format!(
            "[health]\ninterval = \"1s\"\ntimeout = \"200ms\"\ndown_after = {DOWN_AFTER}\nup_after = {UP_AFTER}\n\
             [[static]]\nname = \"{NAME}\"\nipv4 = {list}\nhealth_check = true\nhealth_check_port = {port}\n\
             [[static]]\nname = \"{OTHER}\"\nipv4 = {list}\nhealth_check = true\nhealth_check_port = {port}\n\
             [[static]]\nname = \"{UNCHECKED}\"\nipv4 = {list}\n"
        ),
    );
    let (running, addr) = start(cfg).await;
    let all = vec![a, b, c];
    assert_eq!(answer(addr, NAME).await, all, "all up at first");

    // One address stops accepting: it leaves the answers of both names that probe it.
    listening[1] = None;
    let t = answers_within(addr, NAME, &[a, c], bound(DOWN_AFTER)).await;
    assert!(t.is_some(), "b not dropped within {:?}", bound(DOWN_AFTER));
    assert_eq!(answer(addr, OTHER).await, vec![a, c]);
    assert_eq!(
        answer(addr, UNCHECKED).await,
        all,
        "a name without a check keeps it"
    );
    let down = format!("bedrock_link_endpoint_up{{address=\"{b}\",port=\"{port}\"}}");
    assert_eq!(metric(&running, &down), Some(0.0));

    // It accepts again: back within up_after probes.
    listening[1] = Some(TcpListener::bind((b, port)).unwrap());
    let t = answers_within(addr, NAME, &all, bound(UP_AFTER)).await;
    assert!(t.is_some(), "b not back within {:?}", bound(UP_AFTER));
    assert_eq!(metric(&running, &down), Some(1.0));

    // One probe per address, however many names share it: over a few intervals, the probes
    // counted are about 3 per interval, not 6.
    let total = "bedrock_link_health_probes_total{result=\"ok\"}";
    let (before, since) = (metric(&running, total).unwrap(), Instant::now());
    tokio::time::sleep(Duration::from_secs(3)).await;
    let probes = metric(&running, total).unwrap() - before;
    let most = 3.0 * (since.elapsed().as_secs_f64() / (0.9 * INTERVAL.as_secs_f64())).ceil() + 3.0;
    assert!(
        probes >= 3.0 && probes <= most,
        "{probes} probes, want 3..={most}"
    );

    // Every address refuses: the answer holds them all, and says so in the metrics.
    listening.clear();
    tokio::time::sleep(bound(DOWN_AFTER)).await;
    assert_eq!(answer(addr, NAME).await, all, "never an empty answer");
    assert_eq!(answer(addr, OTHER).await, all);
    let everything_down = ips().iter().all(|ip| {
        let line = format!("bedrock_link_endpoint_up{{address=\"{ip}\",port=\"{port}\"}}");
        metric(&running, &line) == Some(0.0)
    });
    assert!(everything_down, "{}", running.metrics().render());
    assert_eq!(
        metric(&running, "bedrock_link_health_all_down_names "),
        Some(2.0)
    );
    assert!(metric(&running, "bedrock_link_health_fallback_answers_total ").unwrap() >= 2.0);
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ipv6_family_all_down_is_answered_whole_and_counted() {
    // Nothing listens on this port of ::1; the name's IPv4 address is not probed down.
    let port = free_port();
    let up = TestUpstream::start().await;
    let cfg = config(
        up.addr,
        &format!(
            "[health]\ninterval = \"1s\"\ntimeout = \"200ms\"\ndown_after = {DOWN_AFTER}\nup_after = {UP_AFTER}\n\
             [[static]]\nname = \"{NAME}\"\nipv6 = [\"::1\"]\nhealth_check = true\nhealth_check_port = {port}\n"
        ),
    );
    let (running, addr) = start(cfg).await;
    let down = format!("bedrock_link_endpoint_up{{address=\"::1\",port=\"{port}\"}}");
    let deadline = Instant::now() + bound(DOWN_AFTER) + Duration::from_secs(2);
    while metric(&running, &down) != Some(0.0) {
        assert!(Instant::now() < deadline, "{}", running.metrics().render());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let fallbacks = "bedrock_link_health_fallback_answers_total ";
    let before = metric(&running, fallbacks).unwrap();
    let reply = ask(addr, NAME, RecordType::AAAA).await;
    assert_eq!(
        ipv6s(&reply),
        vec!["::1".parse::<std::net::Ipv6Addr>().unwrap()]
    );
    assert_eq!(
        metric(&running, fallbacks),
        Some(before + 1.0),
        "one fallback answer"
    );
    running.stop().await;
}
