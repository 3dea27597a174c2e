//! EC2 discovery against moto's server: the binary discovers the topology and serves it over
//! DNS, follows changes, keeps serving stale data while the API is away, fails closed past
//! `max_stale` and before its first pass, and reports access denied and throttling clearly.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use crate::support::moto::{self, Moto, REGION};
use crate::support::process::*;
use crate::support::*;
use aws_sdk_ec2::types::VpcEndpointType;
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;

/// Moto's ENI addresses are not hosts of this machine: nothing may be sent to them.
const NO_PROBES: &str = "health_check = false\n";
const RUNTIME: &str = "bedrock-runtime.ap-southeast-2.amazonaws.com.";
const AGENT_RUNTIME: &str = "bedrock-agent-runtime.ap-southeast-2.amazonaws.com.";
const BEDROCK: &str = "bedrock.ap-southeast-2.amazonaws.com.";
const STS: &str = "sts.ap-southeast-2.amazonaws.com.";
const PUBLIC: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 7);

/// A running `dns serve` with one source, its DNS and admin addresses.
struct Served {
    daemon: Daemon,
    dns: SocketAddr,
    admin: SocketAddr,
    config: std::path::PathBuf,
}

fn serve(upstream: SocketAddr, source: &str) -> Served {
    let (dns_port, admin_port) = (free_port(), free_port());
    let dns: SocketAddr = format!("127.0.0.1:{dns_port}").parse().unwrap();
    let admin: SocketAddr = format!("127.0.0.1:{admin_port}").parse().unwrap();
    let text = format!(
        "[dns]\nlisten = [\"{dns}\"]\nttl = 1\n[upstream]\nservers = [\"{upstream}\"]\ntimeout_ms = 500\n\
         [admin]\nlisten = \"{admin}\"\n[[source]]\nregion = \"{REGION}\"\n{NO_PROBES}{source}\n"
    );
    let dir = temp_dir(&format!("discovery-{dns_port}"));
    let path = write(&dir, "bedrock-link.toml", &text);
    let mut daemon = Daemon::start(&["dns", "serve", "--config", path.to_str().unwrap()]);
    daemon.wait_for("bedrock-link serving");
    Served {
        daemon,
        dns,
        admin,
        config: path,
    }
}

/// An upstream that would give every name a public address: resolving a Bedrock name with it
/// would be the leak the resolver exists to prevent.
async fn public_upstream() -> TestUpstream {
    let up = TestUpstream::start().await;
    for name in [RUNTIME, AGENT_RUNTIME, BEDROCK, STS] {
        up.rule(
            name,
            Behaviour::Answer {
                ips: vec![PUBLIC],
                ttl: 60,
            },
        );
    }
    up
}

/// Polls until `check` accepts the reply for `name`, for up to 15 s.
async fn until(
    dns: SocketAddr,
    name: &str,
    what: &str,
    check: impl Fn(&Message) -> bool,
) -> Message {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let reply = ask(dns, name, RecordType::A).await;
        if check(&reply) {
            return reply;
        }
        assert!(
            Instant::now() < deadline,
            "{name}: never {what}; last reply: {reply}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn servfail(m: &Message) -> bool {
    m.metadata.response_code == ResponseCode::ServFail
}

/// Polls the admin `/metrics` until `series` satisfies `check`, for up to 15 s.
async fn until_metric(admin: SocketAddr, series: &str, check: impl Fn(f64) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (_, body) = http_get(admin, "/metrics");
        if body.lines().any(|l| {
            l.starts_with(series)
                && l.rsplit(' ')
                    .next()
                    .and_then(|v| v.parse().ok())
                    .is_some_and(&check)
        }) {
            return;
        }
        assert!(Instant::now() < deadline, "{series} never matched:\n{body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Polls until `api` has had `n` requests, for up to 15 s (`what` says what failed).
async fn until_requests(api: &moto::FakeEc2, n: usize, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while api.requests.load(std::sync::atomic::Ordering::Relaxed) < n {
        assert!(Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn ready(admin: SocketAddr) -> bool {
    http_get(admin, "/readyz").0 == 200
}

/// The Bedrock names, asked now, are not answered with the public address, and none of them
/// ever reached the upstream (these questions included).
async fn assert_no_leak(up: &TestUpstream, dns: SocketAddr) {
    for name in [RUNTIME, AGENT_RUNTIME, BEDROCK] {
        let reply = ask(dns, name, RecordType::A).await;
        assert!(
            !ipv4s(&reply).contains(&PUBLIC),
            "{name} was answered with the public address"
        );
        assert!(up.seen_for(name).is_empty(), "{name} was sent upstream");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn serves_what_ec2_holds_and_follows_changes() {
    let mut moto = Moto::start();
    let ec2 = moto.client();
    let (vpc, subnets) = moto::vpc(&ec2, 20, 3).await;
    let runtime = moto::interface_endpoint(&ec2, &vpc, "bedrock-runtime", &subnets[..2]).await;
    let agent = moto::interface_endpoint(&ec2, &vpc, "bedrock-agent-runtime", &subnets[..1]).await;
    moto::interface_endpoint(&ec2, &vpc, "sts", &subnets[..1]).await; // not a bedrock* service
    moto::endpoint(&ec2, &vpc, "s3", VpcEndpointType::Gateway, &[]).await; // gateway: never served
    let (decoy, decoy_subnets) = moto::vpc(&ec2, 30, 1).await; // another VPC's endpoint
    let decoy_ep = moto::interface_endpoint(&ec2, &decoy, "bedrock", &decoy_subnets).await;

    let up = public_upstream().await;
    let s = serve(
        up.addr,
        &format!(
            "vpc_id = \"{vpc}\"\nendpoint_url = \"{}\"\nrefresh = \"1s\"",
            moto.url()
        ),
    );

    let runtime_ips = moto::endpoint_ips(&ec2, &runtime).await;
    assert_eq!(runtime_ips.len(), 2);
    let reply = until(s.dns, RUNTIME, "answered", |m| !m.answers.is_empty()).await;
    let mut got = ipv4s(&reply);
    got.sort();
    assert_eq!(got, runtime_ips, "exactly the ENI IPs EC2 reports");
    assert!(reply.metadata.authoritative);
    let mut got = ipv4s(&ask(s.dns, AGENT_RUNTIME, RecordType::A).await);
    got.sort();
    assert_eq!(got, moto::endpoint_ips(&ec2, &agent).await);
    assert!(ready(s.admin), "ready after the first pass");
    // A discovered name is a zone apex too: its SOA is answered positively.
    let soa = ask(s.dns, RUNTIME, RecordType::SOA).await;
    assert!(soa.metadata.authoritative);
    assert_eq!(soa.answers.len(), 1);
    assert_eq!(soa.answers[0].record_type(), RecordType::SOA);

    // bedrock has an endpoint only in the decoy VPC: in scope, no address: fail closed.
    assert!(servfail(&ask(s.dns, BEDROCK, RecordType::A).await));
    // sts is not a bedrock* service: forwarded as any other name.
    assert_eq!(ipv4s(&ask(s.dns, STS, RecordType::A).await), vec![PUBLIC]);

    // The JSON of `discover` is what EC2 holds, one row per hostname.
    let rows = run_json(&[
        "discover",
        "--config",
        s.config.to_str().unwrap(),
        "--output",
        "json",
    ]);
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 2, "{rows:?}");
    let row = rows
        .iter()
        .find(|r| r["endpoint_id"] == runtime.as_str())
        .expect("runtime row");
    assert_eq!(row["name"], "bedrock-runtime.ap-southeast-2.amazonaws.com");
    assert_eq!(
        row["service"],
        "com.amazonaws.ap-southeast-2.bedrock-runtime"
    );
    assert_eq!(row["vpc_id"], vpc.as_str());
    assert_eq!(row["region"], REGION);
    assert_eq!(row["state"], "available");
    let json_ips: Vec<Ipv4Addr> = row["ipv4"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().parse().unwrap())
        .collect();
    assert_eq!(json_ips, runtime_ips);
    assert_eq!(row["ipv6"], serde_json::json!([]));
    // The decoy VPC's endpoint is never served: its addresses are in no answer, its id in no row.
    let decoy_ips = moto::endpoint_ips(&ec2, &decoy_ep).await;
    assert!(!decoy_ips.is_empty());
    for name in [RUNTIME, AGENT_RUNTIME, BEDROCK] {
        let served = ipv4s(&ask(s.dns, name, RecordType::A).await);
        assert!(
            served.iter().all(|a| !decoy_ips.contains(a)),
            "{name} answered with the decoy VPC's address"
        );
    }
    assert!(rows.iter().all(|r| r["endpoint_id"] != decoy_ep.as_str()));

    // `phz plan`: one zone per hostname, an alias A record to the endpoint's regional DNS name.
    let plan = run_json(&[
        "phz",
        "plan",
        "--config",
        s.config.to_str().unwrap(),
        "--output",
        "json",
    ]);
    let described = ec2
        .describe_vpc_endpoints()
        .vpc_endpoint_ids(&runtime)
        .send()
        .await
        .unwrap();
    let entry = &described.vpc_endpoints()[0].dns_entries()[0];
    let record = plan
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["origin"] == runtime.as_str())
        .expect("a record for the runtime endpoint");
    assert_eq!(
        record["zone"],
        "bedrock-runtime.ap-southeast-2.amazonaws.com"
    );
    assert_eq!(record["type"], "A");
    assert_eq!(record["alias_target"], entry.dns_name().unwrap());
    assert_eq!(record["alias_zone_id"], entry.hosted_zone_id().unwrap());

    // An ENI gains an address: the answer follows.
    let eni = moto::eni_ids(&ec2, &runtime).await[0].clone();
    let extra = Ipv4Addr::new(10, 20, 0, 200);
    moto::add_ip(&ec2, &eni, extra).await;
    until(s.dns, RUNTIME, "showed the new address", |m| {
        ipv4s(m).contains(&extra)
    })
    .await;

    // A new endpoint appears: served.
    let bedrock_ep = moto::interface_endpoint(&ec2, &vpc, "bedrock", &subnets[2..]).await;
    let reply = until(s.dns, BEDROCK, "answered", |m| !m.answers.is_empty()).await;
    assert_eq!(ipv4s(&reply), moto::endpoint_ips(&ec2, &bedrock_ep).await);

    // An endpoint is deleted: its name fails closed, never the public answer.
    moto::delete_endpoint(&ec2, &agent).await;
    until(s.dns, AGENT_RUNTIME, "failed closed", servfail).await;
    let below = ask(s.dns, &format!("x.{AGENT_RUNTIME}"), RecordType::A).await;
    assert_ne!(
        below.metadata.response_code,
        ResponseCode::NoError,
        "its subtree stays ours"
    );

    // The EC2 API goes away: the last good table keeps being served.
    moto.stop();
    let source = format!("{REGION}/{vpc}");
    let errors =
        format!("bedrock_link_discovery_errors_total{{source=\"{source}\",kind=\"unreachable\"}}");
    until_metric(s.admin, &errors, |v| v >= 1.0).await;
    let mut got = ipv4s(&ask(s.dns, RUNTIME, RecordType::A).await);
    got.sort();
    assert!(
        got.contains(&extra) && got.len() == 3,
        "stale answers keep flowing: {got:?}"
    );
    assert!(ready(s.admin), "still within max_stale: ready");
    let (_, metrics) = http_get(s.admin, "/metrics");
    assert_eq!(
        metric(
            &metrics,
            &format!("bedrock_link_discovery_stale{{source=\"{source}\"}}")
        ),
        0.0
    );
    assert!(
        metric(
            &metrics,
            &format!(
                "bedrock_link_discovery_last_success_timestamp_seconds{{source=\"{source}\"}}"
            )
        ) > 1.7e9
    );
    // runtime, bedrock, and the deleted endpoint's name (moto keeps it, state "deleted").
    assert_eq!(
        metric(
            &metrics,
            &format!("bedrock_link_discovery_names{{source=\"{source}\"}}")
        ),
        3.0
    );

    assert_no_leak(&up, s.dns).await;
    drop(s.daemon);
}

#[tokio::test(flavor = "multi_thread")]
async fn stale_past_max_stale_fails_closed_and_unready() {
    let mut moto = Moto::start();
    let ec2 = moto.client();
    let (vpc, subnets) = moto::vpc(&ec2, 21, 1).await;
    moto::interface_endpoint(&ec2, &vpc, "bedrock-runtime", &subnets).await;
    let up = public_upstream().await;
    let s = serve(
        up.addr,
        &format!(
            "vpc_id = \"{vpc}\"\nendpoint_url = \"{}\"\nrefresh = \"1s\"\nmax_stale = \"3s\"",
            moto.url()
        ),
    );
    until(s.dns, RUNTIME, "answered", |m| !m.answers.is_empty()).await;
    moto.stop();
    until(s.dns, RUNTIME, "failed closed past max_stale", servfail).await;
    assert!(!ready(s.admin), "a stale source makes the resolver unready");
    // The gauge is set at the end of each pass; answers turn stale by the clock, so the gauge
    // may follow them by the pass under way (the SDK retrying a dead endpoint).
    let stale = format!("bedrock_link_discovery_stale{{source=\"{REGION}/{vpc}\"}}");
    until_metric(s.admin, &stale, |v| v == 1.0).await;
    assert_no_leak(&up, s.dns).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn names_fail_closed_before_the_first_pass() {
    let up = public_upstream().await;
    // Nothing listens there: the first pass never succeeds.
    let nowhere = format!("http://127.0.0.1:{}", free_port());
    let s = serve(
        up.addr,
        &format!("vpc_id = \"vpc-0abc\"\nendpoint_url = \"{nowhere}\"\nrefresh = \"1s\""),
    );
    for name in [RUNTIME, BEDROCK, &format!("x.{RUNTIME}")] {
        assert!(servfail(&ask(s.dns, name, RecordType::A).await), "{name}");
    }
    assert_eq!(
        ipv4s(&ask(s.dns, STS, RecordType::A).await),
        vec![PUBLIC],
        "out of scope: forwarded"
    );
    assert!(!ready(s.admin), "not ready before the first pass");
    assert_no_leak(&up, s.dns).await;
}

/// Runs `bedrock-link discover` for VPC vpc-0abc against `api`, with `env` on top of the
/// test environment.
async fn discover_against(
    api: &moto::FakeEc2,
    dir: &str,
    env: &[(&'static str, &'static str)],
) -> std::process::Output {
    let config = write(
        &temp_dir(dir),
        "c.toml",
        &format!(
            "[[source]]\nregion = \"{REGION}\"\n{NO_PROBES}vpc_id = \"vpc-0abc\"\nendpoint_url = \"{}\"\n",
            api.url()
        ),
    );
    let env = env.to_vec();
    tokio::task::spawn_blocking(move || {
        command()
            .envs(env)
            .args(["discover", "--config", config.to_str().unwrap()])
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn access_denied_is_reported_by_discover_and_serve() {
    let api = moto::ErrorApi::start("403 Forbidden", "UnauthorizedOperation").await;
    let out = discover_against(&api, "denied", &[]).await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("access denied") && err.contains("UnauthorizedOperation"),
        "{err}"
    );
    // The API's own message, as it gave it.
    assert!(
        err.contains("(UnauthorizedOperation): Test refusal: UnauthorizedOperation;"),
        "{err}"
    );
    assert!(
        err.contains("ec2:DescribeVpcEndpoints"),
        "says which permission: {err}"
    );

    let up = public_upstream().await;
    let mut s = serve(
        up.addr,
        &format!(
            "vpc_id = \"vpc-0abc\"\nendpoint_url = \"{}\"\nrefresh = \"1s\"",
            api.url()
        ),
    );
    let line = s.daemon.wait_for("discovery pass failed");
    assert!(line.contains("access_denied"), "{line}");
    assert!(servfail(&ask(s.dns, RUNTIME, RecordType::A).await));
    let errors = format!(
        "bedrock_link_discovery_errors_total{{source=\"{REGION}/vpc-0abc\",kind=\"access_denied\"}}"
    );
    until_metric(s.admin, &errors, |v| v >= 1.0).await;
    assert_no_leak(&up, s.dns).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_api_is_reported_with_its_cause() {
    // A port nothing listens on.
    let config = write(
        &temp_dir("unreachable"),
        "c.toml",
        &format!(
            "[[source]]\nregion = \"{REGION}\"\n{NO_PROBES}vpc_id = \"vpc-0abc\"\nendpoint_url = \"http://127.0.0.1:{}\"\n",
            free_port()
        ),
    );
    let out = tokio::task::spawn_blocking(move || {
        command()
            .args(["discover", "--config", config.to_str().unwrap()])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("EC2 API unreachable"), "{err}");
    assert!(
        err.to_ascii_lowercase().contains("connection refused"),
        "says why: {err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stopped_server_stops_its_sources() {
    use std::sync::atomic::Ordering;
    let api = moto::ErrorApi::start("503 Service Unavailable", "RequestLimitExceeded").await;
    let up = TestUpstream::start().await;
    let source = format!(
        "[[source]]\nregion = \"{REGION}\"\n{NO_PROBES}vpc_id = \"vpc-0abc\"\nendpoint_url = \"{}\"\nrefresh = \"1s\"\n",
        api.url()
    );
    let (running, _) = start(config(up.addr, &source)).await;
    until_requests(&api, 1, "the source never called the API").await;
    running.stop().await;
    let at_stop = api.requests.load(Ordering::Relaxed);
    // Passes retry after at most a second (the refresh interval) and the SDK retries within
    // a pass: a source still running would call again in this while.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        api.requests.load(Ordering::Relaxed),
        at_stop,
        "a source still calls EC2"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn after_a_reload_the_ec2_endpoint_is_resolved_through_the_new_upstreams() {
    // Every request on a connection of its own (the API says Connection: close), so each
    // one looks the endpoint's name up again.
    let api = moto::ErrorApi::start("503 Service Unavailable", "RequestLimitExceeded").await;
    let resolving = || async {
        let up = TestUpstream::start().await;
        up.rule(
            "ec2.discovery.test",
            Behaviour::Answer {
                ips: vec![Ipv4Addr::LOCALHOST],
                ttl: 1,
            },
        );
        up
    };
    let (first, second) = (resolving().await, resolving().await);
    let source = format!(
        "[[source]]\nregion = \"{REGION}\"\n{NO_PROBES}vpc_id = \"vpc-0abc\"\nendpoint_url = \"http://ec2.discovery.test:{}\"\nrefresh = \"1s\"\n",
        api.addr.port()
    );
    let (running, _) = start(config(first.addr, &source)).await;
    until_requests(&api, 1, "the source never reached the API").await;
    assert!(!first.seen_for("ec2.discovery.test").is_empty());
    running.reload(config(second.addr, &source)).await;
    let deadline = Instant::now() + Duration::from_secs(15);
    while second.seen_for("ec2.discovery.test").is_empty() {
        assert!(
            Instant::now() < deadline,
            "the new upstream was never asked for the endpoint"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_pass_is_retried_within_seconds_not_at_the_refresh_interval() {
    // A client error: the SDK does not retry it, so each request is one pass.
    let api = moto::ErrorApi::start("400 Bad Request", "InvalidParameterValue").await;
    let up = TestUpstream::start().await;
    let source = format!(
        "[[source]]\nregion = \"{REGION}\"\n{NO_PROBES}vpc_id = \"vpc-0abc\"\nendpoint_url = \"{}\"\nrefresh = \"1h\"\n",
        api.url()
    );
    let (running, _) = start(config(up.addr, &source)).await;
    // Backoff after one failure: about a second (with jitter); the refresh interval is an hour.
    until_requests(&api, 2, "no second pass after a failure").await;
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn throttling_is_reported_and_retried() {
    let api = moto::ErrorApi::start("503 Service Unavailable", "RequestLimitExceeded").await;
    let up = public_upstream().await;
    let mut s = serve(
        up.addr,
        &format!(
            "vpc_id = \"vpc-0abc\"\nendpoint_url = \"{}\"\nrefresh = \"1s\"",
            api.url()
        ),
    );
    let line = s.daemon.wait_for("discovery pass failed");
    assert!(
        line.contains("throttled") && line.contains("RequestLimitExceeded"),
        "{line}"
    );
    assert!(
        api.requests.load(std::sync::atomic::Ordering::Relaxed) >= 2,
        "the SDK retries a throttled call"
    );
    assert!(servfail(&ask(s.dns, RUNTIME, RecordType::A).await));
}

#[tokio::test(flavor = "multi_thread")]
async fn service_names_are_asked_once_not_at_every_pass() {
    let moto = Moto::start();
    let ec2 = moto.client();
    let (vpc, subnets) = moto::vpc(&ec2, 40, 1).await;
    moto::interface_endpoint(&ec2, &vpc, "bedrock-runtime", &subnets).await;
    let up = public_upstream().await;
    moto.start_recording();
    let s = serve(
        up.addr,
        &format!(
            "vpc_id = \"{vpc}\"\nendpoint_url = \"{}\"\nrefresh = \"1s\"",
            moto.url()
        ),
    );
    // Three passes: three different times of the last success.
    let series = format!(
        "bedrock_link_discovery_last_success_timestamp_seconds{{source=\"{REGION}/{vpc}\"}}"
    );
    let mut seen = std::collections::BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(15);
    while seen.len() < 3 {
        assert!(
            Instant::now() < deadline,
            "fewer than three passes: {seen:?}"
        );
        let (_, body) = http_get(s.admin, "/metrics");
        if let Some(v) = body.lines().find_map(|l| l.strip_prefix(series.as_str())) {
            seen.insert(v.trim().to_string());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let calls = moto.recorded_calls();
    let count = |action: &str| calls.iter().filter(|c| *c == action).count();
    assert!(count("DescribeVpcEndpoints") >= 3, "{calls:?}");
    // The services' private DNS names are kept for an hour.
    assert_eq!(count("DescribeVpcEndpointServices"), 1, "{calls:?}");
    drop(s);
}

#[tokio::test(flavor = "multi_thread")]
async fn each_service_gets_the_names_the_api_gives_or_else_its_regional_name() {
    let moto = Moto::start();
    let ec2 = moto.client();
    let (vpc, subnets) = moto::vpc(&ec2, 41, 1).await;
    let runtime = moto::interface_endpoint(&ec2, &vpc, "bedrock-runtime", &subnets).await;
    // DescribeVpcEndpointServices says InvalidServiceName for it, failing the whole call.
    let preview = moto::interface_endpoint(&ec2, &vpc, "bedrock-preview", &subnets).await;
    // A service whose private DNS name is not <short name>.<region>.amazonaws.com.
    let ecr = moto::interface_endpoint(&ec2, &vpc, "ecr.api", &subnets).await;
    let up = public_upstream().await;
    let s = serve(
        up.addr,
        &format!(
            "vpc_id = \"{vpc}\"\nendpoint_url = \"{}\"\nrefresh = \"1s\"\nservices = [\"bedrock*\", \"ecr.api\"]",
            moto.url()
        ),
    );
    let reply = until(s.dns, RUNTIME, "answered", |m| !m.answers.is_empty()).await;
    let mut got = ipv4s(&reply);
    got.sort();
    assert_eq!(got, moto::endpoint_ips(&ec2, &runtime).await);
    let name = format!("bedrock-preview.{REGION}.amazonaws.com.");
    let mut got = ipv4s(&ask(s.dns, &name, RecordType::A).await);
    got.sort();
    assert_eq!(got, moto::endpoint_ips(&ec2, &preview).await);
    let mut got = ipv4s(
        &ask(
            s.dns,
            &format!("api.ecr.{REGION}.amazonaws.com."),
            RecordType::A,
        )
        .await,
    );
    got.sort();
    assert_eq!(
        got,
        moto::endpoint_ips(&ec2, &ecr).await,
        "the name the API gives"
    );
    drop(s);
}

/// An EC2 API with one bedrock-runtime endpoint (one ENI, 10.0.0.9) whose service's private
/// DNS name (`bedrock-runtime.<region>.api.aws`) comes on the second page of
/// DescribeVpcEndpointServices, after a page of another service; the second page ends with
/// an empty token.
fn paged_ec2(body: &str) -> (&'static str, String) {
    let ns = "xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\"";
    let action = body
        .split('&')
        .find_map(|kv| kv.strip_prefix("Action="))
        .unwrap_or("");
    let xml = match action {
        "DescribeVpcEndpoints" => format!(
            "<DescribeVpcEndpointsResponse {ns}><requestId>1</requestId><vpcEndpointSet><item>\
             <vpcEndpointId>vpce-0paged</vpcEndpointId><vpcEndpointType>Interface</vpcEndpointType>\
             <vpcId>vpc-0feed</vpcId><serviceName>com.amazonaws.{REGION}.bedrock-runtime</serviceName>\
             <state>available</state><ipAddressType>ipv4</ipAddressType>\
             <networkInterfaceIdSet><item>eni-0paged</item></networkInterfaceIdSet>\
             </item></vpcEndpointSet></DescribeVpcEndpointsResponse>"
        ),
        "DescribeVpcEndpointServices" => {
            let (service, dns, token) = if body.contains("NextToken=page2") {
                (
                    "bedrock-runtime",
                    format!("bedrock-runtime.{REGION}.api.aws"),
                    "",
                )
            } else {
                (
                    "bedrock",
                    format!("bedrock.{REGION}.amazonaws.com"),
                    "page2",
                )
            };
            format!(
                "<DescribeVpcEndpointServicesResponse {ns}><requestId>2</requestId><serviceDetailSet><item>\
                 <serviceName>com.amazonaws.{REGION}.{service}</serviceName>\
                 <serviceType><item><serviceType>Interface</serviceType></item></serviceType>\
                 <privateDnsName>{dns}</privateDnsName></item></serviceDetailSet>\
                 <nextToken>{token}</nextToken></DescribeVpcEndpointServicesResponse>"
            )
        }
        "DescribeNetworkInterfaces" => format!(
            "<DescribeNetworkInterfacesResponse {ns}><requestId>3</requestId><networkInterfaceSet><item>\
             <networkInterfaceId>eni-0paged</networkInterfaceId><privateIpAddress>10.0.0.9</privateIpAddress>\
             <privateIpAddressesSet><item><privateIpAddress>10.0.0.9</privateIpAddress><primary>true</primary></item>\
             </privateIpAddressesSet></item></networkInterfaceSet></DescribeNetworkInterfacesResponse>"
        ),
        other => panic!("unexpected EC2 action {other:?}"),
    };
    ("200 OK", xml)
}

#[tokio::test(flavor = "multi_thread")]
async fn service_names_are_read_from_every_page() {
    let api = moto::FakeEc2::start(std::sync::Arc::new(paged_ec2)).await;
    let up = public_upstream().await;
    let s = serve(
        up.addr,
        &format!(
            "vpc_id = \"vpc-0feed\"\nendpoint_url = \"{}\"\nrefresh = \"1s\"",
            api.url()
        ),
    );
    let name = format!("bedrock-runtime.{REGION}.api.aws.");
    let reply = until(s.dns, &name, "answered", |m| !m.answers.is_empty()).await;
    assert_eq!(ipv4s(&reply), vec![Ipv4Addr::new(10, 0, 0, 9)]);
    drop(s);
}

/// Endpoints of bedrock-runtime and of bedrock-preview, a service the region does not list:
/// DescribeVpcEndpointServices refuses any call naming it (InvalidServiceName), and throttles
/// any call naming bedrock-runtime alone.
fn throttled_one_by_one(body: &str) -> (&'static str, String) {
    let ns = "xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\"";
    let item = |service: &str| {
        format!(
            "<item><vpcEndpointId>vpce-0{service}</vpcEndpointId><vpcEndpointType>Interface</vpcEndpointType>\
             <vpcId>vpc-0abc</vpcId><serviceName>com.amazonaws.{REGION}.{service}</serviceName>\
             <state>available</state><ipAddressType>ipv4</ipAddressType><networkInterfaceIdSet/></item>"
        )
    };
    if body.contains("Action=DescribeVpcEndpoints&") {
        let items = item("bedrock-runtime") + &item("bedrock-preview");
        let xml = format!(
            "<DescribeVpcEndpointsResponse {ns}><requestId>1</requestId><vpcEndpointSet>{items}</vpcEndpointSet>\
             </DescribeVpcEndpointsResponse>"
        );
        return ("200 OK", xml);
    }
    assert!(
        body.contains("Action=DescribeVpcEndpointServices"),
        "{body}"
    );
    if body.contains("bedrock-preview") {
        moto::ec2_error("400 Bad Request", "InvalidServiceName")
    } else {
        moto::ec2_error("503 Service Unavailable", "RequestLimitExceeded")
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_throttled_service_name_lookup_fails_the_pass() {
    // The one-by-one fallback takes InvalidServiceName for "no names", and nothing else:
    // throttled, the pass fails (and is retried) instead of keeping no names for an hour.
    let api = moto::FakeEc2::start(std::sync::Arc::new(throttled_one_by_one)).await;
    let out = discover_against(&api, "throttled-names", &[]).await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("DescribeVpcEndpointServices: throttled")
            && err.contains("RequestLimitExceeded"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_source_gone_stale_comes_back_when_ec2_answers_again() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let answering = std::sync::Arc::new(AtomicBool::new(true));
    let switch = answering.clone();
    let api = moto::FakeEc2::start(std::sync::Arc::new(move |body: &str| {
        if switch.load(Ordering::Relaxed) {
            paged_ec2(body)
        } else {
            moto::ec2_error("400 Bad Request", "InvalidParameterValue")
        }
    }))
    .await;
    let up = public_upstream().await;
    let s = serve(
        up.addr,
        &format!(
            "vpc_id = \"vpc-0feed\"\nendpoint_url = \"{}\"\nrefresh = \"1s\"\nmax_stale = \"2s\"",
            api.url()
        ),
    );
    let name = format!("bedrock-runtime.{REGION}.api.aws.");
    until(s.dns, &name, "answered", |m| !m.answers.is_empty()).await;
    answering.store(false, Ordering::Relaxed);
    until(s.dns, &name, "stale (SERVFAIL)", servfail).await;
    answering.store(true, Ordering::Relaxed);
    let reply = until(s.dns, &name, "answered again", |m| !m.answers.is_empty()).await;
    assert_eq!(ipv4s(&reply), vec![Ipv4Addr::new(10, 0, 0, 9)]);
    drop(s);
}

#[tokio::test(flavor = "multi_thread")]
async fn iam_policy_is_exactly_the_calls_discovery_makes() {
    let moto = Moto::start();
    let ec2 = moto.client();
    let (vpc, subnets) = moto::vpc(&ec2, 22, 1).await;
    moto::interface_endpoint(&ec2, &vpc, "bedrock-runtime", &subnets).await;
    let dir = temp_dir("iam");
    let config = write(
        &dir,
        "c.toml",
        &format!(
            "[[source]]\nregion = \"{REGION}\"\n{NO_PROBES}vpc_id = \"{vpc}\"\nendpoint_url = \"{}\"\n",
            moto.url()
        ),
    );
    moto.start_recording();
    run_ok(&["discover", "--config", config.to_str().unwrap()]);
    let called: Vec<String> = moto
        .recorded_actions()
        .into_iter()
        .map(|a| format!("ec2:{a}"))
        .collect();

    let policy: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string("deploy/iam/discovery-policy.json").unwrap())
            .unwrap();
    let mut allowed: Vec<String> = policy["Statement"][0]["Action"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect();
    allowed.sort();
    assert_eq!(
        called, allowed,
        "the policy allows exactly what a pass calls"
    );
    let mut declared: Vec<String> = bedrock_link::discovery::ec2::IAM_ACTIONS
        .iter()
        .map(|s| s.to_string())
        .collect();
    declared.sort();
    assert_eq!(declared, allowed);
}

fn doctor(config: &std::path::Path, extra: &[&str]) -> (Option<i32>, Vec<serde_json::Value>) {
    let mut args = vec![
        "doctor",
        "--config",
        config.to_str().unwrap(),
        "--output",
        "json",
    ];
    args.extend_from_slice(extra);
    let out = command().args(&args).output().unwrap();
    let checks: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code(), checks.as_array().unwrap().clone())
}

fn verdict(checks: &[serde_json::Value], prefix: &str) -> bool {
    let check = checks
        .iter()
        .find(|c| c["check"].as_str().unwrap().starts_with(prefix))
        .unwrap_or_else(|| panic!("no check {prefix}: {checks:?}"));
    check["ok"].as_bool().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn doctor_says_what_passes_and_what_to_fix() {
    let moto = Moto::start();
    let ec2 = moto.client();
    let (vpc, subnets) = moto::vpc(&ec2, 23, 2).await;
    moto::interface_endpoint(&ec2, &vpc, "bedrock-runtime", &subnets).await;
    let up = public_upstream().await;
    // Two static names on loopback addresses; only one of them accepts connections.
    let listener = tokio::net::TcpListener::bind("127.0.0.2:0").await.unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let statics = "[[static]]\nname = \"bedrock.eu-west-1.amazonaws.com\"\nipv4 = [\"127.0.0.2\"]\n\
                   [[static]]\nname = \"bedrock-runtime.eu-west-1.amazonaws.com\"\nipv4 = [\"127.0.0.3\"]\n";
    let s = serve(
        up.addr,
        &format!(
            "vpc_id = \"{vpc}\"\nendpoint_url = \"{}\"\nrefresh = \"1s\"\n{statics}",
            moto.url()
        ),
    );
    until(s.dns, RUNTIME, "answered", |m| !m.answers.is_empty()).await;
    let resolver = s.dns.to_string();

    // Discovery, resolution of every name and the upstream pass; the TCP checks run against
    // loopback only (the discovered ENI addresses are moto's, so --no-connect for those).
    let config = s.config.clone();
    let (code, checks) = tokio::task::spawn_blocking({
        let (config, resolver) = (config.clone(), resolver.clone());
        move || doctor(&config, &["--resolver", &resolver, "--no-connect"])
    })
    .await
    .unwrap();
    assert_eq!(code, Some(0), "{checks:#?}");
    for prefix in [
        "configuration",
        "ec2 api",
        "endpoints",
        "resolve bedrock-runtime.ap-southeast-2",
        "resolve bedrock.eu-west-1",
        "upstream",
    ] {
        assert!(verdict(&checks, prefix), "{prefix}: {checks:#?}");
    }

    // A static-only configuration lets the connection check run safely on loopback.
    let dir = temp_dir("doctor");
    let statics_only = write(
        &dir,
        "statics.toml",
        &format!(
            "[dns]\nlisten = [\"{resolver}\"]\n[upstream]\nservers = [\"{}\"]\n{statics}",
            up.addr
        ),
    );
    let (code, checks) =
        tokio::task::spawn_blocking(move || doctor(&statics_only, &["--port", &port]))
            .await
            .unwrap();
    assert_eq!(
        code,
        Some(1),
        "one address refuses connections: {checks:#?}"
    );
    assert!(verdict(&checks, "connect 127.0.0.2:"));
    let refused = checks
        .iter()
        .find(|c| {
            c["check"]
                .as_str()
                .unwrap()
                .starts_with("connect 127.0.0.3:")
        })
        .unwrap();
    assert_eq!(refused["ok"], false);
    assert!(
        refused["fix"].as_str().unwrap().contains("security group"),
        "{refused}"
    );
    drop(listener);

    // Access denied: the EC2 check fails and says which policy to attach.
    let api = moto::ErrorApi::start("403 Forbidden", "UnauthorizedOperation").await;
    let denied = write(
        &dir,
        "denied.toml",
        &format!(
            "[upstream]\nservers = [\"{}\"]\n[[source]]\nregion = \"{REGION}\"\n{NO_PROBES}vpc_id = \"vpc-0abc\"\nendpoint_url = \"{}\"\n",
            up.addr,
            api.url()
        ),
    );
    let (code, checks) = tokio::task::spawn_blocking(move || doctor(&denied, &["--no-connect"]))
        .await
        .unwrap();
    assert_eq!(code, Some(1));
    let ec2 = checks
        .iter()
        .find(|c| c["check"].as_str().unwrap().starts_with("ec2 api"))
        .unwrap();
    assert_eq!(ec2["ok"], false);
    assert!(
        ec2["fix"]
            .as_str()
            .unwrap()
            .contains("deploy/iam/discovery-policy.json"),
        "{ec2}"
    );
    assert_no_leak(&up, s.dns).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn credentials_never_reach_the_logs_even_at_trace() {
    // Distinctive fake credentials, so that any trace of them in the output is found.
    const KEY_ID: &str = "AKIDLEAKCHECK7Q2Z";
    const SECRET: &str = "leakcheck/Secret+9Xy7Wq";
    let api = moto::ErrorApi::start("403 Forbidden", "UnauthorizedOperation").await;
    let env = [
        ("AWS_ACCESS_KEY_ID", KEY_ID),
        ("AWS_SECRET_ACCESS_KEY", SECRET),
        ("RUST_LOG", "trace"),
    ];
    let out = discover_against(&api, "leak", &env).await;
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        all.contains("UnauthorizedOperation"),
        "the request was made: {all}"
    );
    assert!(all.contains("TRACE"), "trace logging was on: {all}");
    assert!(!all.contains(SECRET), "the secret key was logged");
    assert!(!all.contains(KEY_ID), "the access key ID was logged");
}
