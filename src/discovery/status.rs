//! What is known of one source between passes: its last good snapshot, when it was taken,
//! and every name it has served; as a [`Feed`], what it gives the record table.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::snapshot::Snapshot;
use crate::config::SourceConfig;
use crate::sync::lock;
use crate::zone::publisher::Feed;
use crate::zone::scope::Scope;
use crate::zone::table::NameRecord;

/// What is known of one source: its last good snapshot and when it was taken.
pub struct SourceStatus {
    pub config: SourceConfig,
    pub label: String,
    inner: Mutex<StatusInner>,
}

#[derive(Default)]
struct StatusInner {
    snapshot: Option<Arc<Snapshot>>,
    last_success: Option<Instant>,
    /// Every hostname this source has served: they stay in scope (and fail closed) even
    /// after their endpoint is gone, wherever they live (`api.aws` included).
    ever_served: BTreeSet<String>,
}

impl SourceStatus {
    pub fn new(config: SourceConfig) -> Self {
        Self {
            label: config.label(),
            config,
            inner: Mutex::new(StatusInner::default()),
        }
    }

    /// Takes a new snapshot; returns whether what clients get changed.
    pub fn record_success(&self, snapshot: Snapshot) -> bool {
        let mut inner = lock(&self.inner);
        let changed = inner
            .snapshot
            .as_ref()
            .is_none_or(|old| old.records() != snapshot.records());
        for record in snapshot.records() {
            inner.ever_served.insert(record.name.clone());
        }
        inner.snapshot = Some(Arc::new(snapshot));
        inner.last_success = Some(Instant::now());
        changed
    }

    /// Whether the last success is recent enough to serve.
    pub fn is_fresh(&self, now: Instant) -> bool {
        let inner = lock(&self.inner);
        inner
            .last_success
            .is_some_and(|t| now.saturating_duration_since(t) <= self.config.max_stale)
    }

    /// How long until the source turns stale, if it is fresh now.
    pub fn time_until_stale(&self, now: Instant) -> Option<Duration> {
        let inner = lock(&self.inner);
        let age = now.saturating_duration_since(inner.last_success?);
        self.config.max_stale.checked_sub(age)
    }

    /// Names with addresses to serve (empty addresses when stale or not discovered yet).
    pub fn records(&self, now: Instant) -> Vec<NameRecord> {
        let fresh = self.is_fresh(now);
        let inner = lock(&self.inner);
        let mut out: Vec<_> = match (&inner.snapshot, fresh) {
            (Some(snapshot), true) => snapshot.records().to_vec(),
            _ => Vec::new(),
        };
        for name in &inner.ever_served {
            if !out.iter().any(|r| &r.name == name) {
                out.push(NameRecord::unavailable(name.clone()));
            }
        }
        out
    }
}

impl Feed for SourceStatus {
    fn label(&self) -> &str {
        &self.label
    }

    fn scope(&self) -> Scope {
        let c = &self.config;
        Scope::new(&c.region, &c.services, &c.domains)
    }

    fn records(&self, now: Instant) -> Vec<NameRecord> {
        SourceStatus::records(self, now)
    }

    fn is_fresh(&self, now: Instant) -> bool {
        SourceStatus::is_fresh(self, now)
    }

    fn health_check(&self) -> Option<u16> {
        self.config.health_check
    }
}

/// The record table as a source feeds it (through the publisher's writer).
#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr as V4;

    use hickory_proto::rr::{LowerName, Name};
    use tokio_util::sync::CancellationToken;

    use super::*;
    use crate::config::{StaticOverride, parse_override_name};
    use crate::discovery::Endpoint;
    use crate::metrics::Metrics;
    use crate::zone::publisher::TablePublisher;
    use crate::zone::table::Lookup;

    /// A publisher fed by `source`, its writer running.
    fn publisher(statics: Vec<StaticOverride>, source: &Arc<SourceStatus>) -> Arc<TablePublisher> {
        let feed: Arc<dyn Feed> = source.clone();
        let tables = Arc::new(TablePublisher::new(
            statics,
            vec![feed],
            Default::default(),
            Arc::new(Metrics::new()),
        ));
        tokio::spawn(tables.clone().run_writer(CancellationToken::new()));
        tables
    }

    /// Signals the writer, as a pass does, and waits for the table it publishes.
    async fn rebuilt(tables: &TablePublisher) {
        let ticket = tables.request_rebuild();
        tables.wait_published(ticket).await;
    }
    fn source(max_stale: Duration) -> Arc<SourceStatus> {
        Arc::new(SourceStatus::new(SourceConfig {
            region: "us-east-1".into(),
            vpc_id: Some("vpc-1".into()),
            tags: Default::default(),
            services: vec!["s3".into(), "bedrock*".into()],
            domains: vec![],
            endpoint_url: None,
            role: None,
            refresh: Duration::from_secs(1),
            max_stale,
            health_check: None,
        }))
    }

    fn endpoint(service: &str, names: &[&str], ip: [u8; 4]) -> Endpoint {
        Endpoint {
            id: format!("vpce-{service}"),
            service: format!("com.amazonaws.us-east-1.{service}"),
            vpc_id: "vpc-1".into(),
            state: "available".into(),
            hostnames: names.iter().map(|n| n.to_string()).collect(),
            ipv4: vec![V4::from(ip)],
            ipv6: vec![],
            ip_address_type: "ipv4".into(),
            dns_entries: vec![],
        }
    }

    fn lookup(tables: &TablePublisher, name: &str) -> Lookup {
        tables
            .current()
            .lookup(&LowerName::new(&Name::from_ascii(name).unwrap()))
    }

    fn ip(l: &Lookup) -> Option<V4> {
        match l {
            Lookup::Records { addrs, .. } => addrs.ipv4.first().copied(),
            _ => None,
        }
    }

    #[tokio::test]
    async fn discovered_names_wildcards_and_ever_served_names() {
        let src = source(Duration::from_secs(3600));
        let tables = publisher(vec![], &src);
        assert_eq!(
            lookup(&tables, "bedrock-runtime.us-east-1.amazonaws.com."),
            Lookup::Unavailable
        );
        assert!(!tables.all_feeds_fresh());

        src.record_success(Snapshot::new(
            vec![
                endpoint(
                    "s3",
                    &["s3.us-east-1.amazonaws.com", "*.s3.us-east-1.amazonaws.com"],
                    [10, 0, 0, 1],
                ),
                endpoint(
                    "bedrock-mantle",
                    &["bedrock-mantle.us-east-1.api.aws"],
                    [10, 0, 0, 2],
                ),
            ],
            Duration::ZERO,
        ));
        rebuilt(&tables).await;
        assert!(tables.all_feeds_fresh());
        assert_eq!(
            ip(&lookup(&tables, "bucket.s3.us-east-1.amazonaws.com.")),
            Some(V4::new(10, 0, 0, 1))
        );
        assert_eq!(
            ip(&lookup(&tables, "s3.us-east-1.amazonaws.com.")),
            Some(V4::new(10, 0, 0, 1))
        );
        assert_eq!(
            ip(&lookup(&tables, "bedrock-mantle.us-east-1.api.aws.")),
            Some(V4::new(10, 0, 0, 2))
        );

        // The api.aws endpoint goes away: its name stays ours, with no address (fail closed).
        src.record_success(Snapshot::new(
            vec![endpoint(
                "s3",
                &["s3.us-east-1.amazonaws.com"],
                [10, 0, 0, 1],
            )],
            Duration::ZERO,
        ));
        rebuilt(&tables).await;
        match lookup(&tables, "bedrock-mantle.us-east-1.api.aws.") {
            Lookup::Records { addrs, .. } => assert!(addrs.is_empty()),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn static_overrides_win_and_stale_sources_serve_nothing() {
        let src = source(Duration::from_millis(1));
        let statics = vec![StaticOverride {
            name: parse_override_name("bedrock.us-east-1.amazonaws.com").unwrap(),
            ipv4: vec![V4::new(10, 9, 9, 9)],
            ipv6: vec![],
            health_check: None,
        }];
        let tables = publisher(statics, &src);
        src.record_success(Snapshot::new(
            vec![
                endpoint(
                    "bedrock",
                    &["bedrock.us-east-1.amazonaws.com"],
                    [10, 0, 0, 3],
                ),
                endpoint(
                    "bedrock-runtime",
                    &["bedrock-runtime.us-east-1.amazonaws.com"],
                    [10, 0, 0, 4],
                ),
            ],
            Duration::ZERO,
        ));
        std::thread::sleep(Duration::from_millis(5));
        rebuilt(&tables).await;
        assert!(!tables.all_feeds_fresh());
        assert_eq!(
            ip(&lookup(&tables, "bedrock.us-east-1.amazonaws.com.")),
            Some(V4::new(10, 9, 9, 9)),
            "static wins"
        );
        match lookup(&tables, "bedrock-runtime.us-east-1.amazonaws.com.") {
            Lookup::Records { addrs, .. } => assert!(addrs.is_empty(), "stale: no address"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_success_says_whether_what_clients_get_changed() {
        let src = source(Duration::from_secs(60));
        let one = || {
            vec![endpoint(
                "s3",
                &["s3.us-east-1.amazonaws.com"],
                [10, 0, 0, 1],
            )]
        };
        assert!(
            src.record_success(Snapshot::new(one(), Duration::ZERO)),
            "the first"
        );
        assert!(
            !src.record_success(Snapshot::new(one(), Duration::ZERO)),
            "the same again"
        );
        let moved = vec![endpoint(
            "s3",
            &["s3.us-east-1.amazonaws.com"],
            [10, 0, 0, 2],
        )];
        assert!(
            src.record_success(Snapshot::new(moved, Duration::ZERO)),
            "a new address"
        );
    }

    #[test]
    fn a_source_turns_stale_max_stale_after_its_last_success() {
        let src = source(Duration::from_secs(60));
        assert_eq!(
            src.time_until_stale(Instant::now()),
            None,
            "never succeeded"
        );
        src.record_success(Snapshot::new(vec![], Duration::ZERO));
        let now = Instant::now();
        let left = src.time_until_stale(now).expect("fresh");
        assert!(
            left <= Duration::from_secs(60) && left > Duration::from_secs(59),
            "{left:?}"
        );
        assert_eq!(
            src.time_until_stale(now + Duration::from_secs(61)),
            None,
            "stale"
        );
    }

    #[tokio::test]
    async fn a_sources_health_check_port_probes_its_addresses() {
        let src = Arc::new(SourceStatus::new(SourceConfig {
            health_check: Some(443),
            ..source(Duration::from_secs(60)).config.clone()
        }));
        assert_eq!(Feed::label(&*src), "us-east-1/vpc-1");
        let tables = publisher(vec![], &src);
        let mut ep = endpoint("s3", &["s3.us-east-1.amazonaws.com"], [10, 0, 0, 1]);
        ep.ipv4.push(V4::new(10, 0, 0, 2));
        src.record_success(Snapshot::new(vec![ep], Duration::ZERO));
        rebuilt(&tables).await;
        // One address refuses port 443 (three probes in a row, the default): left out.
        let board = tables.health();
        let down = std::net::SocketAddr::from(([10, 0, 0, 1], 443));
        for _ in 0..3 {
            board.record(down, Err("refused".into()));
        }
        rebuilt(&tables).await;
        match lookup(&tables, "s3.us-east-1.amazonaws.com.") {
            Lookup::Records { addrs, .. } => assert_eq!(addrs.ipv4, vec![V4::new(10, 0, 0, 2)]),
            other => panic!("{other:?}"),
        }
    }
}
