//! `[metrics] emf`: the CloudWatch Embedded Metric Format lines the binary writes to stdout,
//! read as CloudWatch would read them and checked against `/metrics`.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use hickory_proto::rr::RecordType;
use serde_json::Value;

use crate::support::process::*;
use crate::support::*;

const SOURCE: &str = "us-east-1/vpc-0e3f0000000000001";

/// CloudWatch's units (PutMetricData's `StandardUnit`).
const UNITS: [&str; 27] = [
    "Seconds",
    "Microseconds",
    "Milliseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
    "Percent",
    "Count",
    "Bytes/Second",
    "Kilobytes/Second",
    "Megabytes/Second",
    "Gigabytes/Second",
    "Terabytes/Second",
    "Bits/Second",
    "Kilobits/Second",
    "Megabits/Second",
    "Gigabits/Second",
    "Terabits/Second",
    "Count/Second",
    "None",
];

/// Each EMF query count and the `/metrics` series it must add up to.
const OUTCOMES: [(&str, &str); 10] = [
    ("QueriesOverride", "override"),
    ("QueriesForwarded", "forwarded"),
    ("QueriesCacheHit", "cache_hit"),
    ("QueriesStale", "stale"),
    ("QueriesRefused", "refused"),
    ("QueriesServfail", "servfail"),
    ("QueriesFormerr", "formerr"),
    ("QueriesNotimp", "notimp"),
    ("QueriesDropped", "dropped"),
    ("QueriesRateLimited", "rate_limited"),
];

/// A configuration with an override, a probed override whose address refuses (so it is down),
/// an upstream, a source whose EC2 API refuses (so it is stale), and `extra` at the end.
fn config_text(dns: SocketAddr, admin: SocketAddr, upstream: SocketAddr, extra: &str) -> String {
    let closed = free_port();
    format!(
        "[dns]\nlisten = [\"{dns}\"]\n[upstream]\nservers = [\"{upstream}\"]\ntimeout_ms = 500\n\
         [admin]\nlisten = \"{admin}\"\n\
         [health]\ninterval = \"1s\"\ntimeout = \"100ms\"\ndown_after = 1\n\
         [[static]]\nname = \"bedrock-runtime.ap-southeast-2.amazonaws.com\"\nipv4 = [\"10.1.0.10\"]\n\
         [[static]]\nname = \"bedrock.us-west-2.amazonaws.com\"\nipv4 = [\"127.0.0.1\"]\n\
         health_check = true\nhealth_check_port = {closed}\n\
         [[source]]\nregion = \"us-east-1\"\nvpc_id = \"vpc-0e3f0000000000001\"\nendpoint_url = \"http://127.0.0.1:1\"\n\
         {extra}"
    )
}

/// Checks one line the way CloudWatch reads it, and returns it.
fn parse_emf(line: &str) -> serde_json::Map<String, Value> {
    let Ok(Value::Object(doc)) = serde_json::from_str::<Value>(line) else {
        panic!("not a JSON object: {line}");
    };
    let meta = &doc["_aws"];
    let at = meta["Timestamp"].as_u64().expect("Timestamp in ms");
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    assert!(
        at <= now_ms && now_ms - at < 60_000,
        "timestamp {at} is not the last minute's"
    );
    let directives = meta["CloudWatchMetrics"].as_array().expect("directives");
    assert_eq!(directives.len(), 1, "{line}");
    let directive = &directives[0];
    assert_eq!(directive["Namespace"], "BedrockLinkTest");
    let sets = directive["Dimensions"].as_array().unwrap();
    assert_eq!(sets.len(), 1, "one dimension set: {line}");
    let set: Vec<&str> = sets[0]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap())
        .collect();
    assert!(
        set == ["Service"] || set == ["Service", "Source"],
        "dimensions {set:?}"
    );
    for dimension in &set {
        assert!(doc[*dimension].is_string(), "{dimension} has no value");
    }
    assert_eq!(doc["Service"], "emf-test");
    if set.len() == 2 {
        assert_eq!(doc["Source"], SOURCE);
    }
    let metrics = directive["Metrics"].as_array().unwrap();
    assert!(
        !metrics.is_empty() && metrics.len() <= 100,
        "EMF allows 100"
    );
    for m in metrics {
        let name = m["Name"].as_str().unwrap();
        assert!(
            UNITS.contains(&m["Unit"].as_str().unwrap()),
            "unit of {name}"
        );
        assert!(doc[name].is_number(), "{name} has no value: {line}");
    }
    // Nothing else at the top level: no member that could carry a name or an address.
    assert_eq!(doc.len(), 1 + set.len() + metrics.len(), "{line}");
    doc
}

#[tokio::test(flavor = "multi_thread")]
async fn emf_lines_are_what_cloudwatch_reads_and_add_up_to_the_metrics() {
    let up = TestUpstream::start().await;
    up.rule(
        "fwd.example.test",
        Behaviour::Answer {
            ips: vec![ip("192.0.2.5")],
            ttl: 60,
        },
    );
    let dns: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let admin: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let extra = "[metrics]\nemf = true\nemf_interval = \"1s\"\nemf_namespace = \"BedrockLinkTest\"\n\
                 emf_service = \"emf-test\"\n";
    let dir = temp_dir("emf");
    let path = write(&dir, "emf.toml", &config_text(dns, admin, up.addr, extra));
    let started = Instant::now();
    let mut d = Daemon::start(&["dns", "serve", "--config", path.to_str().unwrap()]);
    d.wait_for("bedrock-link serving");

    // At once: what is counted before the writer's first turn is in its first line.
    let name = "bedrock-runtime.ap-southeast-2.amazonaws.com.";
    for _ in 0..3 {
        assert_eq!(
            ipv4s(&ask(dns, name, RecordType::A).await),
            [ip("10.1.0.10")]
        );
    }
    // One forwarded, then two from the cache; one more line goes by in between.
    ask(dns, "fwd.example.test.", RecordType::A).await;
    let read = d
        .stdout_line(Duration::from_secs(3))
        .expect("a line within the interval");
    ask(dns, "fwd.example.test.", RecordType::A).await;
    // The source's first pass (refused, after the SDK's retries) makes it stale, and the
    // probed name's only address goes down.
    let stale = format!("bedrock_link_discovery_stale{{source=\"{SOURCE}\"}}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while {
        let body = http_get(admin, "/metrics").1;
        !body.contains(&stale) || metric(&body, "bedrock_link_endpoints_down") < 1.0
    } {
        assert!(
            Instant::now() < deadline,
            "no stale source or no address down"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // The last query just before the exit: only the last, partial interval's line has it.
    ask(dns, "fwd.example.test.", RecordType::A).await;
    let (_, body) = http_get(admin, "/metrics");
    d.signal("TERM");
    assert_eq!(d.wait_exit(), Some(0));
    let lived = started.elapsed().as_secs_f64();
    let mut lines = vec![read];
    lines.extend(d.stdout_to_end());

    let docs: Vec<_> = lines.iter().map(|l| parse_emf(l)).collect();
    let (service, sources): (Vec<_>, Vec<_>) = docs.iter().partition(|d| !d.contains_key("Source"));
    // Each second a line for the service and one for the source, and the last, partial
    // interval's at exit.
    assert!(
        service.len() + 1 >= lived as usize,
        "{} lines in {lived:.1}s",
        service.len()
    );
    assert_eq!(
        service.len(),
        sources.len(),
        "a source line with each service line"
    );

    let sum = |key: &str| -> f64 { service.iter().map(|d| d[key].as_f64().unwrap()).sum() };
    for (emf, outcome) in OUTCOMES {
        let series = format!("bedrock_link_queries_total{{outcome=\"{outcome}\"}}");
        assert_eq!(sum(emf), metric(&body, &series), "{emf} against {series}");
    }
    assert_eq!(sum("QueriesOverride"), 3.0);
    assert_eq!(
        sum("QueriesCacheHit"),
        2.0,
        "the last one in the exit's line"
    );
    assert_eq!(sum("Queries"), 6.0);
    assert_eq!(
        sum("UpstreamQueries"),
        metric(&body, "bedrock_link_upstream_queries_total")
    );
    assert_eq!(sum("UpstreamQueries"), 1.0);
    for (emf, kind) in [
        ("UpstreamTimeouts", "timeout"),
        ("UpstreamNetworkErrors", "network"),
        ("UpstreamBudgetRefusals", "budget"),
        ("UpstreamSilentSkips", "silent"),
    ] {
        let series = format!("bedrock_link_upstream_errors_total{{kind=\"{kind}\"}}");
        assert_eq!(sum(emf), metric(&body, &series), "{emf}");
    }
    let last = service.last().unwrap();
    for (emf, series) in [
        (
            "UpstreamBudget",
            "bedrock_link_upstream_budget_queries_per_second",
        ),
        ("EndpointsDown", "bedrock_link_endpoints_down"),
        ("AllDownNames", "bedrock_link_health_all_down_names"),
    ] {
        assert_eq!(last[emf].as_f64(), Some(metric(&body, series)), "{emf}");
    }
    assert_eq!(last["UpstreamBudget"], 900);
    assert_eq!(last["EndpointsDown"], 1);
    assert_eq!(last["AllDownNames"], 1);
    // The interval with the forwarded query and its cache hits has its ratios.
    assert!(
        service
            .iter()
            .any(|d| d.contains_key("CacheHitRatio") && d["ServfailRatio"] == 0.0)
    );

    let source = sources.last().unwrap();
    assert_eq!(
        source["DiscoveryStale"].as_f64(),
        Some(metric(&body, &stale))
    );
    assert_eq!(source["DiscoveryStale"], 1, "its EC2 API refuses");
    let age = source["DiscoveryAge"].as_f64().unwrap();
    assert!(
        age > 1.0 && age <= lived,
        "never succeeded: age {age} is the uptime"
    );

    for line in &lines {
        for private in ["fwd.example", "bedrock-runtime", "127.0.0.1", "192.0.2.5"] {
            assert!(!line.contains(private), "{private} in {line}");
        }
    }
    up.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn without_metrics_emf_nothing_is_written_to_stdout() {
    let up = TestUpstream::start().await;
    let dns: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let admin: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let dir = temp_dir("emf-off");
    let path = write(&dir, "emf.toml", &config_text(dns, admin, up.addr, ""));
    let mut d = Daemon::start(&["dns", "serve", "--config", path.to_str().unwrap()]);
    d.wait_for("bedrock-link serving");
    let name = "bedrock-runtime.ap-southeast-2.amazonaws.com.";
    assert_eq!(
        ipv4s(&ask(dns, name, RecordType::A).await),
        [ip("10.1.0.10")]
    );
    std::thread::sleep(Duration::from_millis(1200));
    d.signal("TERM");
    assert_eq!(d.wait_exit(), Some(0));
    assert_eq!(d.stdout_to_end(), Vec::<String>::new());
    up.stop().await;
}

#[test]
fn bad_metrics_settings_are_refused_by_key() {
    let dir = temp_dir("emf-bad");
    for (extra, key) in [
        (
            "emf = true\nemf_interval = \"100ms\"\n",
            "metrics.emf_interval",
        ),
        (
            "emf = true\nemf_namespace = \"AWS/EC2\"\n",
            "metrics.emf_namespace",
        ),
        (
            "emf = true\nemf_namespace = \"a\\u00e9\"\n",
            "metrics.emf_namespace",
        ),
        ("emf = true\nemf_service = \"\"\n", "metrics.emf_service"),
        (
            "emf = true\nemf_dimensions = [\"client\"]\n",
            "emf_dimensions",
        ),
    ] {
        let path = write(&dir, "bad.toml", &format!("[metrics]\n{extra}"));
        let out = command()
            .args(["config", "check", path.to_str().unwrap()])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{extra}: {stderr}");
        assert!(stderr.contains(key), "{extra}: {stderr}");
    }
}
