//! The upstream budget (`upstream.max_queries_per_second`): no second carries more queries to
//! the upstreams than it allows, and a query beyond it is answered at once.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::support::*;
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;
use tokio::net::UdpSocket;

/// Sends one query for each of `names`, as fast as it can, and collects the replies until all
/// have come or `wait` is up: the RCODE of each reply, by name. Fifty queries per socket, each
/// read while the others send, a socket every 10 ms: a burst, but not one that overflows the
/// server's receive buffer (which would be a test of the kernel, not of the budget).
async fn burst(addr: SocketAddr, names: &[String], wait: Duration) -> HashMap<String, u8> {
    let deadline = Instant::now() + wait;
    let mut askers = Vec::new();
    for chunk in names.chunks(50) {
        tokio::time::sleep(Duration::from_millis(10)).await;
        let chunk = chunk.to_vec();
        askers.push(tokio::spawn(async move {
            let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            for (i, name) in chunk.iter().enumerate() {
                let mut msg = query_msg(name, RecordType::A, Some(1232));
                msg.metadata.id = i as u16;
                socket.send_to(&msg.to_vec().unwrap(), addr).await.unwrap();
            }
            let mut replies = HashMap::new();
            let mut buf = vec![0u8; 4096];
            while replies.len() < chunk.len() {
                let left = deadline.saturating_duration_since(Instant::now());
                let Ok(Ok(n)) = tokio::time::timeout(left, socket.recv(&mut buf)).await else {
                    break;
                };
                let reply = Message::from_vec(&buf[..n]).unwrap();
                if let Some(name) = chunk.get(usize::from(reply.metadata.id)) {
                    replies.insert(name.clone(), buf[3] & 0x0f);
                }
            }
            replies
        }));
    }
    let mut replies = HashMap::new();
    for asker in askers {
        replies.extend(asker.await.unwrap());
    }
    replies
}

/// The most arrival times in any one-second window.
fn busiest_second(mut at: Vec<Instant>) -> usize {
    at.sort();
    let mut most = 0;
    let mut start = 0;
    for end in 0..at.len() {
        while at[end].duration_since(at[start]) >= Duration::from_secs(1) {
            start += 1;
        }
        most = most.max(end - start + 1);
    }
    most
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_misses_puts_no_more_than_the_budget_on_the_wire_and_all_are_answered() {
    let up = TestUpstream::start().await;
    // Long enough that a query left waiting on the upstream would miss the client's wait.
    let extra = "[upstream]\ntimeout_ms = 5000\nmax_queries_per_second = 100\n";
    let (running, addr) = start(config(up.addr, extra)).await;
    let names: Vec<String> = (0..1000).map(|i| format!("n{i}.burst.test.")).collect();
    let replies = burst(addr, &names, Duration::from_secs(3)).await;
    assert_eq!(replies.len(), 1000, "every client is answered at once");

    let seen = up.seen();
    let busiest = busiest_second(seen.iter().map(|s| s.at).collect());
    assert!(busiest <= 100, "{busiest} upstream queries in one second");
    assert!(seen.len() >= 100, "the budget is used: {} sent", seen.len());
    // Those sent got the upstream's answer (NXDOMAIN for unknown names); the rest SERVFAIL.
    let answered = replies.values().filter(|&&r| r == 3).count();
    let refused = replies.values().filter(|&&r| r == 2).count();
    assert_eq!(answered, seen.len());
    assert_eq!(answered + refused, 1000);
    let metrics = running.metrics().render();
    let by_budget = process::metric(
        &metrics,
        "bedrock_link_upstream_errors_total{kind=\"budget\"}",
    );
    assert_eq!(by_budget as usize, refused, "{metrics}");
    let sent = process::metric(&metrics, "bedrock_link_upstream_queries_total");
    assert_eq!(sent as usize, seen.len(), "{metrics}");

    // A second later the budget is there again.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let reply = ask(addr, "after.burst.test.", RecordType::A).await;
    assert_eq!(reply.metadata.response_code, ResponseCode::NXDomain);
}

#[tokio::test]
async fn with_the_budget_spent_a_cached_answer_is_given_stale_at_once() {
    let up = TestUpstream::start().await;
    up.rule(
        "kept.burst.test",
        Behaviour::Answer {
            ips: vec![ip("192.0.2.70")],
            ttl: 1,
        },
    );
    let extra = "[upstream]\ntimeout_ms = 5000\nmax_queries_per_second = 5\n";
    let (_s, addr) = start(config(up.addr, extra)).await;
    let fresh = ask(addr, "kept.burst.test.", RecordType::A).await;
    assert_eq!(ipv4s(&fresh), vec![ip("192.0.2.70")]);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    // Spend the budget on other names, then ask the expired one.
    let others: Vec<String> = (0..5).map(|i| format!("o{i}.burst.test.")).collect();
    burst(addr, &others, Duration::from_secs(3)).await;
    let before = up.seen_for("kept.burst.test").len();
    let stale = ask(addr, "kept.burst.test.", RecordType::A).await;
    assert_eq!(stale.metadata.response_code, ResponseCode::NoError);
    assert_eq!(ipv4s(&stale), vec![ip("192.0.2.70")]);
    assert_eq!(ttls(&stale), vec![30]);
    assert_eq!(up.seen_for("kept.burst.test").len(), before, "not sent");
}
