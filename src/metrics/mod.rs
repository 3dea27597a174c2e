//! Prometheus metrics. Counters are plain atomics handed out once, so the query path never
//! takes a lock to count. [`emf`] writes the same figures as CloudWatch Embedded Metric
//! Format lines.

pub mod emf;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

type Labels = Vec<(&'static str, &'static str)>;
type SourceLabels = Vec<(&'static str, String)>;
type FloatGauge = Gauge<f64, std::sync::atomic::AtomicU64>;

/// How a query ended; each query is counted under exactly one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Answered from the record table (addresses, NODATA or NXDOMAIN).
    Override,
    /// Relayed from an upstream.
    Forwarded,
    /// Answered from the cache.
    CacheHit,
    /// Answered from the cache past its expiry, because no upstream could answer (RFC 8767).
    Stale,
    /// Client outside `allow`.
    Refused,
    /// We answered SERVFAIL (no upstream answer, or an unavailable override).
    Servfail,
    /// Malformed query.
    Formerr,
    /// Unsupported opcode.
    Notimp,
    /// Not answered at all (unparseable, or a response sent to us).
    Dropped,
    /// Dropped by the per-client rate limit.
    RateLimited,
}

impl Outcome {
    const ALL: [Outcome; 10] = [
        Outcome::Override,
        Outcome::Forwarded,
        Outcome::CacheHit,
        Outcome::Stale,
        Outcome::Refused,
        Outcome::Servfail,
        Outcome::Formerr,
        Outcome::Notimp,
        Outcome::Dropped,
        Outcome::RateLimited,
    ];

    fn label(self) -> &'static str {
        match self {
            Outcome::Override => "override",
            Outcome::Forwarded => "forwarded",
            Outcome::CacheHit => "cache_hit",
            Outcome::Stale => "stale",
            Outcome::Refused => "refused",
            Outcome::Servfail => "servfail",
            Outcome::Formerr => "formerr",
            Outcome::Notimp => "notimp",
            Outcome::Dropped => "dropped",
            Outcome::RateLimited => "rate_limited",
        }
    }
}

/// Why an upstream query got no usable reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamFailure {
    /// No server answered in time.
    Timeout,
    /// A socket error, or only malformed or error replies.
    Network,
    /// Not sent: the upstream budget (`upstream.max_queries_per_second`) was spent.
    Budget,
    /// Not sent: the server has gone silent and this was not its probe.
    Silent,
}

/// Every metric the server exports.
pub struct Metrics {
    registry: Registry,
    outcomes: [Counter; 10],
    upstream_timeouts: Counter,
    upstream_errors: Counter,
    upstream_refusals: Counter,
    upstream_skipped: Counter,
    /// Queries sent to upstream servers (retries and TCP fallbacks included).
    pub upstream_queries: Counter,
    /// The upstream budget in queries per second (0: no limit).
    pub upstream_budget: Gauge,
    /// Background refreshes of cached answers near their expiry.
    pub prefetches: Counter,
    upstream_latency: Histogram,
    /// Queries that waited for an identical question already on its way upstream.
    pub upstream_coalesced: Counter,
    pub cache_entries: Gauge,
    pub cache_bytes: Gauge,
    pub records: Gauge,
    pub reloads: Counter,
    pub reload_failures: Counter,
    discovery_last_success: Family<SourceLabels, FloatGauge>,
    discovery_duration: Family<SourceLabels, FloatGauge>,
    discovery_records: Family<SourceLabels, Gauge>,
    discovery_stale: Family<SourceLabels, Gauge>,
    discovery_errors: Family<SourceLabels, Counter>,
    endpoint_up: Family<SourceLabels, Gauge>,
    endpoint_last_change: Family<SourceLabels, FloatGauge>,
    health_probes: Family<Labels, Counter>,
    /// Answers given with every address of a family because all of them were down.
    pub health_fallback_answers: Counter,
    /// Names (per family) whose every probed address is down, answered with all of them.
    pub health_all_down_names: Gauge,
    /// Probed addresses now marked down (the `endpoint_up` series at 0).
    endpoints_down: Gauge,
}

/// The figures EMF reports, read at one moment: counters since start, gauges as of now.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reading {
    /// Queries by [`Outcome`], in the order of `Outcome::ALL`.
    pub outcomes: [u64; 10],
    pub upstream_queries: u64,
    /// Upstream failures: timeouts, network errors, budget refusals, silent-server skips.
    pub upstream_timeouts: u64,
    pub upstream_network_errors: u64,
    pub upstream_budget_refusals: u64,
    pub upstream_silent_skips: u64,
    pub upstream_budget: i64,
    pub endpoints_down: i64,
    pub all_down_names: i64,
    pub fallback_answers: u64,
    /// Per source (in the order asked for): the Unix time of its last success (`None`:
    /// none yet) and whether it is stale (`None`: not known until its first pass ends).
    pub sources: Vec<SourceReading>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SourceReading {
    pub label: String,
    pub last_success: Option<f64>,
    pub stale: Option<bool>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("bedrock_link");
        let queries = Family::<Labels, Counter>::default();
        let outcomes =
            Outcome::ALL.map(|o| queries.get_or_create(&vec![("outcome", o.label())]).clone());
        registry.register("queries", "DNS queries by how they were answered", queries);

        let upstream = Family::<Labels, Counter>::default();
        let upstream_timeouts = upstream.get_or_create(&vec![("kind", "timeout")]).clone();
        let upstream_errors = upstream.get_or_create(&vec![("kind", "network")]).clone();
        let upstream_refusals = upstream.get_or_create(&vec![("kind", "budget")]).clone();
        let upstream_skipped = upstream.get_or_create(&vec![("kind", "silent")]).clone();
        registry.register(
            "upstream_errors",
            "Upstream queries that got no usable reply (budget: not sent, the budget was spent; \
             silent: not sent, the server has not answered for a while and is only probed)",
            upstream,
        );
        let upstream_queries = Counter::default();
        registry.register(
            "upstream_queries",
            "Queries sent to upstream servers, retries and TCP fallbacks included",
            upstream_queries.clone(),
        );
        let upstream_budget = Gauge::default();
        registry.register(
            "upstream_budget_queries_per_second",
            "upstream.max_queries_per_second: the most queries sent upstream in any second (0: no limit)",
            upstream_budget.clone(),
        );
        let prefetches = Counter::default();
        registry.register(
            "prefetches",
            "Background refreshes of cached answers in the last tenth of their TTL",
            prefetches.clone(),
        );

        // 100 µs .. ~3.3 s
        let upstream_latency = Histogram::new(exponential_buckets(0.0001, 2.0, 16));
        registry.register(
            "upstream_duration_seconds",
            "Time from sending a query upstream to its matching reply",
            upstream_latency.clone(),
        );
        let upstream_coalesced = Counter::default();
        registry.register(
            "upstream_coalesced",
            "Queries answered by an identical question already on its way upstream",
            upstream_coalesced.clone(),
        );
        let cache_entries = Gauge::default();
        registry.register(
            "cache_entries",
            "Answers held in the cache",
            cache_entries.clone(),
        );
        let cache_bytes = Gauge::default();
        registry.register(
            "cache_bytes",
            "What the cached answers weigh, in bytes (bounded by upstream.cache_max_bytes)",
            cache_bytes.clone(),
        );
        let records = Gauge::default();
        registry.register(
            "override_names",
            "Names in the record table",
            records.clone(),
        );
        let reloads = Counter::default();
        registry.register(
            "reloads",
            "Successful configuration reloads",
            reloads.clone(),
        );
        let reload_failures = Counter::default();
        registry.register(
            "reload_failures",
            "Reloads rejected because the new configuration was invalid",
            reload_failures.clone(),
        );

        let discovery_last_success = Family::<SourceLabels, FloatGauge>::default();
        registry.register(
            "discovery_last_success_timestamp_seconds",
            "Unix time of the last successful discovery pass, per source",
            discovery_last_success.clone(),
        );
        let discovery_duration = Family::<SourceLabels, FloatGauge>::default();
        registry.register(
            "discovery_pass_duration_seconds",
            "Duration of the last successful discovery pass, per source",
            discovery_duration.clone(),
        );
        let discovery_records = Family::<SourceLabels, Gauge>::default();
        registry.register(
            "discovery_names",
            "Hostnames found by the last pass, per source",
            discovery_records.clone(),
        );
        let discovery_stale = Family::<SourceLabels, Gauge>::default();
        registry.register(
            "discovery_stale",
            "1 while a source has no successful pass within max_stale (its names fail closed)",
            discovery_stale.clone(),
        );
        let discovery_errors = Family::<SourceLabels, Counter>::default();
        registry.register(
            "discovery_errors",
            "Failed discovery passes by source and kind",
            discovery_errors.clone(),
        );

        let endpoint_up = Family::<SourceLabels, Gauge>::default();
        registry.register(
            "endpoint_up",
            "1 while a probed endpoint address accepts connections, 0 while it is left out of answers",
            endpoint_up.clone(),
        );
        let endpoint_last_change = Family::<SourceLabels, FloatGauge>::default();
        registry.register(
            "endpoint_last_change_timestamp_seconds",
            "Unix time a probed address was last marked up or down (or first probed)",
            endpoint_last_change.clone(),
        );
        let health_probes = Family::<Labels, Counter>::default();
        registry.register(
            "health_probes",
            "TCP connect probes of endpoint addresses by result",
            health_probes.clone(),
        );
        let health_fallback_answers = Counter::default();
        registry.register(
            "health_fallback_answers",
            "Answers that carry every address of a name because all of them were down",
            health_fallback_answers.clone(),
        );
        let health_all_down_names = Gauge::default();
        registry.register(
            "health_all_down_names",
            "Names (per address family) whose every address is down, answered with all of them",
            health_all_down_names.clone(),
        );

        let endpoints_down = Gauge::default();
        registry.register(
            "endpoints_down",
            "Probed endpoint addresses now marked down and left out of answers",
            endpoints_down.clone(),
        );

        Self {
            registry,
            endpoints_down,
            endpoint_up,
            endpoint_last_change,
            health_probes,
            health_fallback_answers,
            health_all_down_names,
            discovery_last_success,
            discovery_duration,
            discovery_records,
            discovery_stale,
            discovery_errors,
            outcomes,
            upstream_timeouts,
            upstream_errors,
            upstream_refusals,
            upstream_skipped,
            upstream_queries,
            upstream_budget,
            prefetches,
            upstream_latency,
            upstream_coalesced,
            cache_entries,
            cache_bytes,
            records,
            reloads,
            reload_failures,
        }
    }

    /// The figures [`emf`] reports, with the per-source ones for `sources` (labels).
    pub fn reading(&self, sources: &[String]) -> Reading {
        let source = |label: &String| {
            let labels = vec![("source", label.clone())];
            SourceReading {
                label: label.clone(),
                last_success: self.discovery_last_success.get(&labels).map(|g| g.get()),
                stale: self.discovery_stale.get(&labels).map(|g| g.get() != 0),
            }
        };
        Reading {
            outcomes: self.outcomes.each_ref().map(Counter::get),
            upstream_queries: self.upstream_queries.get(),
            upstream_timeouts: self.upstream_timeouts.get(),
            upstream_network_errors: self.upstream_errors.get(),
            upstream_budget_refusals: self.upstream_refusals.get(),
            upstream_silent_skips: self.upstream_skipped.get(),
            upstream_budget: self.upstream_budget.get(),
            endpoints_down: self.endpoints_down.get(),
            all_down_names: self.health_all_down_names.get(),
            fallback_answers: self.health_fallback_answers.get(),
            sources: sources.iter().map(source).collect(),
        }
    }

    pub fn count(&self, outcome: Outcome) {
        self.outcomes[outcome as usize].inc();
    }

    pub fn upstream_answered(&self, seconds: f64) {
        self.upstream_latency.observe(seconds);
    }

    pub fn upstream_failed(&self, why: UpstreamFailure) {
        match why {
            UpstreamFailure::Timeout => self.upstream_timeouts.inc(),
            UpstreamFailure::Network => self.upstream_errors.inc(),
            UpstreamFailure::Budget => self.upstream_refusals.inc(),
            UpstreamFailure::Silent => self.upstream_skipped.inc(),
        };
    }

    pub fn discovery_succeeded(
        &self,
        source: &str,
        duration: std::time::Duration,
        names: usize,
        unix_time: f64,
    ) {
        let labels = vec![("source", source.to_string())];
        self.discovery_last_success
            .get_or_create(&labels)
            .set(unix_time);
        self.discovery_duration
            .get_or_create(&labels)
            .set(duration.as_secs_f64());
        self.discovery_records
            .get_or_create(&labels)
            .set(names as i64);
    }

    pub fn discovery_failed(&self, source: &str, kind: &'static str) {
        let labels = vec![("source", source.to_string()), ("kind", kind.to_string())];
        self.discovery_errors.get_or_create(&labels).inc();
    }

    pub fn discovery_stale(&self, source: &str, stale: bool) {
        let labels = vec![("source", source.to_string())];
        self.discovery_stale
            .get_or_create(&labels)
            .set(i64::from(stale));
    }

    /// A probed address's state, as of now (`port`: the probe's).
    pub fn endpoint_state(&self, address: std::net::SocketAddr, up: bool) {
        let labels = endpoint_labels(address);
        let was_down = self.endpoint_up.get(&labels).is_some_and(|g| g.get() == 0);
        match (was_down, up) {
            (true, true) => self.endpoints_down.dec(),
            (false, false) => self.endpoints_down.inc(),
            _ => 0,
        };
        self.endpoint_up.get_or_create(&labels).set(i64::from(up));
        self.endpoint_last_change
            .get_or_create(&labels)
            .set(unix_now());
    }

    /// An address no longer probed: its series go away.
    pub fn endpoint_removed(&self, address: std::net::SocketAddr) {
        let labels = endpoint_labels(address);
        if self.endpoint_up.get(&labels).is_some_and(|g| g.get() == 0) {
            self.endpoints_down.dec();
        }
        self.endpoint_up.remove(&labels);
        self.endpoint_last_change.remove(&labels);
    }

    pub fn health_probed(&self, ok: bool) {
        let result = if ok { "ok" } else { "failed" };
        self.health_probes
            .get_or_create(&vec![("result", result)])
            .inc();
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        out
    }
}

fn endpoint_labels(address: std::net::SocketAddr) -> SourceLabels {
    vec![
        ("address", address.ip().to_string()),
        ("port", address.port().to_string()),
    ]
}

/// Seconds since the Unix epoch, for the `*_timestamp_seconds` gauges.
pub fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}
