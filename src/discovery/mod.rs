//! EC2 discovery: each `[[source]]` is refreshed on its own schedule, and its last good
//! snapshot feeds the record table: a source signals the table's writer after each pass (see
//! `table`), it never builds the table itself.
//!
//! A failed pass keeps the last good snapshot and backs off exponentially (with jitter, up to
//! the refresh interval); once the last success is older than `max_stale`, the source's names
//! become unavailable (SERVFAIL by default) instead of serving addresses that may be gone.

#[cfg(feature = "aws")]
pub mod ec2;
#[cfg(feature = "aws")]
pub mod resolver;
pub mod services;

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
#[cfg(feature = "aws")]
use tracing::{info, warn};

#[cfg(feature = "aws")]
pub use resolver::UpstreamDns;

use crate::config::SourceConfig;
use crate::metrics::Metrics;
use crate::sync::lock;
use crate::zone::publisher::Feed;
use crate::zone::scope::Scope;
use crate::zone::table::NameRecord;

/// One interface endpoint found by a pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub id: String,
    /// Full service name, e.g. `com.amazonaws.ap-southeast-2.bedrock-runtime`.
    pub service: String,
    pub vpc_id: String,
    /// As the API says it (`available`, `pending`, `deleting`...).
    pub state: String,
    /// Private DNS names of the service (lower case, may start with `*.`).
    pub hostnames: Vec<String>,
    /// Addresses of its ENIs; empty unless the endpoint is available.
    pub ipv4: Vec<Ipv4Addr>,
    pub ipv6: Vec<Ipv6Addr>,
    /// `ipv4`, `dualstack` or `ipv6`, as the API says.
    pub ip_address_type: String,
    /// The endpoint's own DNS names (regional first), with their Route 53 hosted zone ids:
    /// the alias targets of PHZ mode.
    pub dns_entries: Vec<DnsEntry>,
}

/// One `DnsEntries` item of an endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DnsEntry {
    pub dns_name: String,
    pub hosted_zone_id: String,
}

/// The result of one successful pass.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub endpoints: Vec<Endpoint>,
    pub duration: Duration,
    /// Derived from `endpoints` once, in [`Snapshot::new`].
    records: Vec<NameRecord>,
}

impl Snapshot {
    pub fn new(endpoints: Vec<Endpoint>, duration: Duration) -> Self {
        let records = name_records(&endpoints);
        Self {
            endpoints,
            duration,
            records,
        }
    }

    /// Hostnames with the addresses of every endpoint that serves them.
    pub fn records(&self) -> &[NameRecord] {
        &self.records
    }
}

/// Merges the endpoints' addresses per hostname.
fn name_records(endpoints: &[Endpoint]) -> Vec<NameRecord> {
    let mut out: Vec<NameRecord> = Vec::new();
    for ep in endpoints {
        for name in &ep.hostnames {
            match out.iter_mut().find(|(n, _, _)| n == name) {
                Some((_, v4, v6)) => {
                    v4.extend(&ep.ipv4);
                    v6.extend(&ep.ipv6);
                }
                None => out.push((name.clone(), ep.ipv4.clone(), ep.ipv6.clone())),
            }
        }
    }
    for (_, v4, v6) in &mut out {
        v4.sort();
        v4.dedup();
        v6.sort();
        v6.dedup();
    }
    out
}

impl Snapshot {
    /// One row per hostname and endpoint, as `discover` prints them.
    pub fn rows(&self, region: &str) -> Vec<Row> {
        let mut rows = Vec::new();
        for ep in &self.endpoints {
            for name in &ep.hostnames {
                rows.push(Row {
                    name: name.clone(),
                    service: ep.service.clone(),
                    endpoint_id: ep.id.clone(),
                    vpc_id: ep.vpc_id.clone(),
                    region: region.to_string(),
                    state: ep.state.clone(),
                    ipv4: ep.ipv4.clone(),
                    ipv6: ep.ipv6.clone(),
                });
            }
        }
        rows
    }
}

/// A `discover` output row (the JSON shape is part of the product's contract).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Row {
    pub name: String,
    pub service: String,
    pub endpoint_id: String,
    pub vpc_id: String,
    pub region: String,
    pub state: String,
    pub ipv4: Vec<Ipv4Addr>,
    pub ipv6: Vec<Ipv6Addr>,
}

/// Why a pass failed, sorted by what an operator does about it.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DiscoveryError {
    #[error(
        "{operation}: access denied ({code}): {message}; the role needs ec2:DescribeVpcEndpoints, ec2:DescribeVpcEndpointServices and ec2:DescribeNetworkInterfaces"
    )]
    AccessDenied {
        operation: &'static str,
        code: String,
        message: String,
    },
    #[error("{operation}: throttled by the EC2 API ({code}): {message}")]
    Throttled {
        operation: &'static str,
        code: String,
        message: String,
    },
    #[error("{operation}: EC2 API unreachable: {message}")]
    Unreachable {
        operation: &'static str,
        message: String,
    },
    #[error("{operation}: {message}")]
    Other {
        operation: &'static str,
        code: Option<String>,
        message: String,
    },
}

impl DiscoveryError {
    #[cfg_attr(not(feature = "aws"), allow(dead_code))]
    pub(crate) fn from_parts(
        operation: &'static str,
        code: Option<String>,
        message: String,
        unreachable: bool,
    ) -> Self {
        const DENIED: [&str; 5] = [
            "UnauthorizedOperation",
            "AccessDenied",
            "AccessDeniedException",
            "AuthFailure",
            "InvalidClientTokenId",
        ];
        const THROTTLED: [&str; 4] = [
            "RequestLimitExceeded",
            "Throttling",
            "ThrottlingException",
            "TooManyRequestsException",
        ];
        match code {
            _ if unreachable => Self::Unreachable { operation, message },
            Some(c) if DENIED.contains(&c.as_str()) => Self::AccessDenied {
                operation,
                code: c,
                message,
            },
            Some(c) if THROTTLED.contains(&c.as_str()) => Self::Throttled {
                operation,
                code: c,
                message,
            },
            code => Self::Other {
                operation,
                code,
                message,
            },
        }
    }

    /// The metric label of this kind of failure.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::AccessDenied { .. } => "access_denied",
            Self::Throttled { .. } => "throttled",
            Self::Unreachable { .. } => "unreachable",
            Self::Other { .. } => "other",
        }
    }

    /// The API error code, when the API gave one.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::AccessDenied { code, .. } | Self::Throttled { code, .. } => Some(code),
            Self::Other { code, .. } => code.as_deref(),
            Self::Unreachable { .. } => None,
        }
    }
}

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
    #[cfg_attr(not(feature = "aws"), allow(dead_code))]
    pub(crate) fn record_success(&self, snapshot: Snapshot) -> bool {
        let mut inner = lock(&self.inner);
        let changed = inner
            .snapshot
            .as_ref()
            .is_none_or(|old| old.records() != snapshot.records());
        for (name, _, _) in snapshot.records() {
            inner.ever_served.insert(name.clone());
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
    #[cfg_attr(not(feature = "aws"), allow(dead_code))]
    fn time_until_stale(&self, now: Instant) -> Option<Duration> {
        let inner = lock(&self.inner);
        let age = now.saturating_duration_since(inner.last_success?);
        self.config.max_stale.checked_sub(age)
    }

    /// Names with addresses to serve (empty addresses when stale or not discovered yet).
    pub fn records(&self, now: Instant) -> Vec<(String, Vec<Ipv4Addr>, Vec<Ipv6Addr>)> {
        let fresh = self.is_fresh(now);
        let inner = lock(&self.inner);
        let mut out: Vec<_> = match (&inner.snapshot, fresh) {
            (Some(snapshot), true) => snapshot.records().to_vec(),
            _ => Vec::new(),
        };
        for name in &inner.ever_served {
            if !out.iter().any(|(n, _, _)| n == name) {
                out.push((name.clone(), Vec::new(), Vec::new()));
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

/// The discovery sources of a running server: one task per source, and the resolver their
/// AWS clients share. Built without the `aws` feature, there is no EC2 client: a
/// configuration with sources is refused.
pub struct Sources {
    shutdown: CancellationToken,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    #[cfg(feature = "aws")]
    dns: UpstreamDns,
}

impl Sources {
    /// Starts a task per source; each signals `changed` after its passes.
    #[cfg_attr(not(feature = "aws"), allow(unused_variables))]
    pub fn start(
        sources: Vec<Arc<SourceStatus>>,
        upstreams: &[std::net::SocketAddr],
        changed: Arc<Notify>,
        metrics: Arc<Metrics>,
    ) -> Result<Self, String> {
        let shutdown = CancellationToken::new();
        #[cfg(feature = "aws")]
        {
            // The sources' own lookups (the EC2 endpoint's name) go to the upstream servers.
            let dns = UpstreamDns::new(upstreams)?;
            let tasks = sources
                .into_iter()
                .map(|s| {
                    let (dns, changed, metrics) = (dns.clone(), changed.clone(), metrics.clone());
                    tokio::spawn(run(s, dns, changed, metrics, shutdown.clone()))
                })
                .collect();
            Ok(Self {
                shutdown,
                tasks,
                dns,
            })
        }
        #[cfg(not(feature = "aws"))]
        {
            if !sources.is_empty() {
                return Err("this build has no EC2 discovery (built without the \"aws\" feature): remove the [[source]] sections, or use a full build".into());
            }
            Ok(Self {
                shutdown,
                tasks: Vec::new(),
            })
        }
    }

    /// The sources' lookups go to `upstreams` from now on (a reload changed them).
    #[cfg_attr(not(feature = "aws"), allow(unused_variables))]
    pub fn set_upstreams(&self, upstreams: &[std::net::SocketAddr]) {
        #[cfg(feature = "aws")]
        if let Err(e) = self.dns.set_servers(upstreams) {
            warn!(error = %e, "discovery keeps resolving through the previous upstream servers");
        }
    }

    /// Stops every source and waits for it.
    pub async fn stop(self) {
        self.shutdown.cancel();
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

#[cfg(feature = "aws")]
/// The wait before the next pass: the refresh interval (minus up to 10% jitter) after a
/// success; after failures, 1 s doubling per failure, with jitter, capped at the interval.
fn next_wait(refresh: Duration, failures: u32) -> Duration {
    let jitter = |d: Duration, spread: f64| d.mul_f64(1.0 - spread * rand::random::<f64>());
    if failures == 0 {
        return jitter(refresh, 0.1);
    }
    let backoff = Duration::from_secs(1).saturating_mul(1 << failures.min(16).saturating_sub(1));
    jitter(backoff.min(refresh), 0.5)
}

#[cfg(feature = "aws")]
/// Keeps one source fresh until `shutdown`, signalling `changed` after every pass (and when
/// it turns stale); the EC2 endpoint's name is resolved through `dns`.
pub async fn run(
    status: Arc<SourceStatus>,
    dns: UpstreamDns,
    changed: Arc<Notify>,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
) {
    let client = tokio::select! {
        c = ec2::client(&status.config, &dns) => c,
        _ = shutdown.cancelled() => return,
    };
    let mut names = ec2::ServiceNames::default();
    let mut failures = 0u32;
    loop {
        let result = tokio::select! {
            r = ec2::discover(&client, &status.config, &mut names) => r,
            _ = shutdown.cancelled() => return,
        };
        match result {
            Ok(snapshot) => {
                failures = 0;
                let records: usize = snapshot.records().len();
                metrics.discovery_succeeded(
                    &status.label,
                    snapshot.duration,
                    records,
                    crate::metrics::unix_now(),
                );
                if status.record_success(snapshot) {
                    info!(source = %status.label, names = records, "discovery: endpoints changed");
                }
            }
            Err(e) => {
                failures += 1;
                metrics.discovery_failed(&status.label, e.kind());
                warn!(source = %status.label, kind = e.kind(), error = %e, "discovery pass failed; keeping the last good table");
            }
        }
        let now = Instant::now();
        metrics.discovery_stale(&status.label, !status.is_fresh(now));
        changed.notify_one();
        // Wake up when the source turns stale, too, so its names stop being served on time.
        let mut wait = next_wait(status.config.refresh, failures);
        if let Some(left) = status.time_until_stale(now) {
            wait = wait.min(left + Duration::from_millis(10));
        }
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.cancelled() => return,
        }
    }
}

#[cfg(feature = "aws")]
/// One pass over every source (for `discover` and `phz plan`): each source's region and
/// snapshot, in configuration order. Names are resolved through `upstreams`.
pub async fn discover_once(
    sources: &[SourceConfig],
    upstreams: &[std::net::SocketAddr],
) -> Result<Vec<(String, Snapshot)>, (String, DiscoveryError)> {
    let dns = UpstreamDns::new(upstreams).map_err(|e| {
        let label = sources.first().map(SourceConfig::label).unwrap_or_default();
        (
            label,
            DiscoveryError::from_parts("resolver", None, e, false),
        )
    })?;
    let mut out = Vec::new();
    for source in sources {
        let client = ec2::client(source, &dns).await;
        let snapshot = ec2::discover(&client, source, &mut ec2::ServiceNames::default())
            .await
            .map_err(|e| (source.label(), e))?;
        info!(
            source = %source.label(),
            endpoints = snapshot.endpoints.len(),
            names = snapshot.records().len(),
            duration_ms = snapshot.duration.as_millis() as u64,
            "discovery pass"
        );
        out.push((source.region.clone(), snapshot));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "aws")]
    #[test]
    fn backoff_grows_and_is_capped() {
        let refresh = Duration::from_secs(60);
        for _ in 0..50 {
            let w = next_wait(refresh, 0);
            assert!(w <= refresh && w >= refresh.mul_f64(0.9));
            assert!(next_wait(refresh, 1) <= Duration::from_secs(1));
            let third = next_wait(refresh, 3);
            assert!(third <= Duration::from_secs(4) && third >= Duration::from_secs(2));
            assert!(next_wait(refresh, 40) <= refresh);
        }
    }

    #[test]
    fn errors_are_classified() {
        let e = DiscoveryError::from_parts(
            "DescribeVpcEndpoints",
            Some("UnauthorizedOperation".into()),
            "no".into(),
            false,
        );
        assert_eq!(e.kind(), "access_denied");
        assert!(e.to_string().contains("ec2:DescribeNetworkInterfaces"));
        let e = DiscoveryError::from_parts(
            "X",
            Some("RequestLimitExceeded".into()),
            "slow down".into(),
            false,
        );
        assert_eq!(e.kind(), "throttled");
        assert_eq!(
            DiscoveryError::from_parts("X", None, "refused".into(), true).kind(),
            "unreachable"
        );
        assert_eq!(
            DiscoveryError::from_parts(
                "X",
                Some("InvalidParameterValue".into()),
                "?".into(),
                false
            )
            .kind(),
            "other"
        );
    }

    // The table as a source feeds it (through the publisher's writer).
    use std::net::Ipv4Addr as V4;

    use hickory_proto::rr::{LowerName, Name};

    use crate::config::{StaticOverride, parse_override_name};
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
}
