//! The file's shape as serde reads it: sections, keys, their types and defaults. Unknown keys
//! and wrong types are rejected here; what a type cannot express is checked in `validate`.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use ipnet::IpNet;
use serde::Deserialize;
use toml::Spanned;

/// What to answer for an overridden name that has no usable address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnUnavailable {
    /// Fail closed: SERVFAIL, so a client never reaches a public address by accident.
    Servfail,
    /// Forward the query upstream (explicit opt-in; the answer will be the public one).
    Forward,
}

/// The whole file, as serde reads it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    #[serde(default)]
    pub dns: DnsSection,
    #[serde(default)]
    pub upstream: UpstreamSection,
    #[serde(default, rename = "static")]
    pub statics: Vec<StaticSection>,
    #[serde(default, rename = "source")]
    pub sources: Vec<Spanned<SourceSection>>,
    pub admin: Option<AdminSection>,
    #[serde(default)]
    pub health: HealthSection,
    #[serde(default)]
    pub metrics: MetricsSection,
}

/// `[dns]`: the listening side.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsSection {
    #[serde(default = "default_listen")]
    pub listen: Spanned<Vec<SocketAddr>>,
    #[serde(default = "default_ttl")]
    pub ttl: Spanned<u32>,
    #[serde(default = "default_on_unavailable")]
    pub on_unavailable: OnUnavailable,
    #[serde(default = "default_allow")]
    pub allow: Vec<IpNet>,
    /// Largest UDP answer we send, whatever a client advertises (DNS flag day 2020: 1232).
    #[serde(default = "default_max_udp_payload")]
    pub max_udp_payload: Spanned<u16>,
    /// Concurrent TCP connections; past this the longest-idle one is closed to make room.
    #[serde(default = "default_max_tcp_connections")]
    pub max_tcp_connections: Spanned<usize>,
    /// A TCP connection with no complete query for this long is closed.
    #[serde(default = "default_tcp_idle_timeout", with = "humantime_serde")]
    pub tcp_idle_timeout: Duration,
    /// Per-client query rate limit (off when absent).
    #[serde(default)]
    pub rate_limit: Option<RateLimitSection>,
    /// Threads reading each listen address's UDP socket (default: half the cores, 1 to 8).
    #[serde(default)]
    pub udp_threads: Option<Spanned<usize>>,
}

/// `[dns.rate_limit]`: a token bucket per client address; queries over it are dropped.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitSection {
    pub queries_per_second: Spanned<u32>,
    /// Queries a client may send at once after a quiet spell (default: one second's worth).
    #[serde(default)]
    pub burst: Option<Spanned<u32>>,
}

impl Default for DnsSection {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            ttl: default_ttl(),
            on_unavailable: default_on_unavailable(),
            allow: default_allow(),
            max_udp_payload: default_max_udp_payload(),
            max_tcp_connections: default_max_tcp_connections(),
            tcp_idle_timeout: default_tcp_idle_timeout(),
            rate_limit: None,
            udp_threads: None,
        }
    }
}

/// `[upstream]`: where everything that is not overridden goes.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamSection {
    #[serde(default = "default_servers")]
    pub servers: Spanned<Vec<String>>,
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: Spanned<u64>,
    #[serde(default = "default_cache_size")]
    pub cache_size: usize,
    /// What the cached answers may hold in all, in bytes (a bound besides `cache_size`).
    #[serde(default = "default_cache_max_bytes")]
    pub cache_max_bytes: u64,
    /// Queries waiting on an upstream at once; past this, new ones get SERVFAIL at once.
    #[serde(default = "default_max_inflight")]
    pub max_inflight: Spanned<usize>,
    /// How long past its expiry an answer may still be given when no upstream can answer
    /// (RFC 8767); 0 turns it off.
    #[serde(default = "default_serve_stale", with = "humantime_serde")]
    pub serve_stale: Duration,
    /// Refresh an answer in steady use in the background before it expires.
    #[serde(default = "default_prefetch")]
    pub prefetch: bool,
    /// The most queries sent to the upstreams in any one second (0: no limit).
    #[serde(default = "default_max_queries_per_second")]
    pub max_queries_per_second: u32,
}

impl Default for UpstreamSection {
    fn default() -> Self {
        Self {
            servers: default_servers(),
            timeout_ms: default_timeout_ms(),
            cache_size: default_cache_size(),
            cache_max_bytes: default_cache_max_bytes(),
            max_inflight: default_max_inflight(),
            serve_stale: default_serve_stale(),
            prefetch: default_prefetch(),
            max_queries_per_second: default_max_queries_per_second(),
        }
    }
}

/// `[[static]]`: a fixed override.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticSection {
    pub name: Spanned<String>,
    #[serde(default)]
    pub ipv4: Vec<Ipv4Addr>,
    #[serde(default)]
    pub ipv6: Vec<Ipv6Addr>,
    /// Probe the addresses and leave out those that refuse (off: they are fixed on purpose).
    #[serde(default)]
    pub health_check: bool,
    #[serde(default = "default_health_check_port")]
    pub health_check_port: Spanned<u16>,
}

/// `[[source]]`: EC2 discovery of interface endpoints.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceSection {
    pub region: String,
    pub vpc_id: Option<String>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    #[serde(default = "default_services")]
    pub services: Vec<String>,
    /// DNS domains besides the partition's under which the services' names live.
    #[serde(default)]
    pub domains: Vec<String>,
    pub endpoint_url: Option<String>,
    /// A role to assume (STS AssumeRole) for this source's EC2 calls.
    pub role_arn: Option<String>,
    /// The external ID the role's trust policy asks for.
    pub external_id: Option<String>,
    /// The session name the assumed role's calls are logged under (CloudTrail).
    pub session_name: Option<String>,
    #[serde(default = "default_refresh", with = "humantime_serde")]
    pub refresh: Duration,
    #[serde(default = "default_max_stale", with = "humantime_serde")]
    pub max_stale: Duration,
    /// Probe the endpoints' addresses and leave out those that refuse (on by default).
    #[serde(default = "default_true")]
    pub health_check: bool,
    #[serde(default = "default_health_check_port")]
    pub health_check_port: Spanned<u16>,
}

/// `[health]`: how the addresses of names with `health_check` are probed.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthSection {
    /// Time between two probes of one address (each wait is jittered by up to 10%).
    #[serde(default = "default_health_interval", with = "humantime_serde")]
    pub interval: Duration,
    /// A probe that has not connected in this long has failed.
    #[serde(default = "default_health_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// Consecutive failed probes that take an address out of answers.
    #[serde(default = "default_down_after")]
    pub down_after: Spanned<u32>,
    /// Consecutive good probes that bring it back.
    #[serde(default = "default_up_after")]
    pub up_after: Spanned<u32>,
    /// Probes in flight at once, across all addresses.
    #[serde(default = "default_max_probes")]
    pub max_in_flight: Spanned<usize>,
}

impl Default for HealthSection {
    fn default() -> Self {
        let d = super::HealthSettings::default();
        Self {
            interval: d.interval,
            timeout: d.timeout,
            down_after: unplaced(d.down_after),
            up_after: unplaced(d.up_after),
            max_in_flight: unplaced(d.max_in_flight),
        }
    }
}

/// `[metrics]`: figures written where a platform collects them without an agent.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSection {
    /// Write CloudWatch Embedded Metric Format lines to stdout.
    #[serde(default)]
    pub emf: bool,
    /// The figures of one interval per line (and the last, partial one at shutdown).
    #[serde(default = "default_emf_interval", with = "humantime_serde")]
    pub emf_interval: Duration,
    #[serde(default = "default_emf_namespace")]
    pub emf_namespace: Spanned<String>,
    /// The `Service` dimension: one name for every task of a deployment.
    #[serde(default = "default_emf_service")]
    pub emf_service: Spanned<String>,
}

impl Default for MetricsSection {
    fn default() -> Self {
        Self {
            emf: false,
            emf_interval: default_emf_interval(),
            emf_namespace: default_emf_namespace(),
            emf_service: default_emf_service(),
        }
    }
}

fn default_emf_interval() -> Duration {
    Duration::from_secs(60)
}
fn default_emf_namespace() -> Spanned<String> {
    unplaced("BedrockLink".to_string())
}
fn default_emf_service() -> Spanned<String> {
    unplaced("bedrock-link".to_string())
}

/// `[admin]`: the HTTP health and metrics listener.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminSection {
    /// Loopback unless said otherwise: the metrics are for the host's own agent.
    #[serde(default = "default_admin_listen")]
    pub listen: SocketAddr,
}

fn default_admin_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9153))
}

/// A default value: it has no place in the file.
pub(super) fn unplaced<T>(value: T) -> Spanned<T> {
    Spanned::new(0..0, value)
}
/// Where a value stands in the file, if it came from the file.
pub(super) fn place<T>(value: &Spanned<T>) -> Option<usize> {
    let span = value.span();
    (!span.is_empty()).then_some(span.start)
}
pub(super) fn default_listen() -> Spanned<Vec<SocketAddr>> {
    unplaced(vec![SocketAddr::from(([127, 0, 0, 1], 5353))])
}
fn default_ttl() -> Spanned<u32> {
    unplaced(30)
}
fn default_on_unavailable() -> OnUnavailable {
    OnUnavailable::Servfail
}
/// Private and loopback ranges: never an open resolver by default.
pub fn default_allow() -> Vec<IpNet> {
    [
        "127.0.0.0/8",
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "100.64.0.0/10",
        "::1/128",
        "fc00::/7",
    ]
    .iter()
    .map(|s| s.parse().expect("built-in CIDR"))
    .collect()
}
fn default_max_udp_payload() -> Spanned<u16> {
    unplaced(1232)
}
fn default_max_tcp_connections() -> Spanned<usize> {
    unplaced(1024)
}
fn default_tcp_idle_timeout() -> Duration {
    Duration::from_secs(10)
}
fn default_servers() -> Spanned<Vec<String>> {
    unplaced(vec!["auto".to_string()])
}
fn default_timeout_ms() -> Spanned<u64> {
    unplaced(2000)
}
fn default_cache_size() -> usize {
    10_000
}
fn default_cache_max_bytes() -> u64 {
    4 << 20
}
fn default_max_inflight() -> Spanned<usize> {
    unplaced(4096)
}
fn default_serve_stale() -> Duration {
    Duration::from_secs(24 * 3600)
}
fn default_prefetch() -> bool {
    true
}
/// Under the 1024 packets/s the VPC resolver takes from one network interface, with room for
/// the host's own lookups.
fn default_max_queries_per_second() -> u32 {
    900
}
/// The resolver's default service patterns; the Terraform module's default services match these.
pub fn default_services() -> Vec<String> {
    vec!["bedrock*".to_string()]
}
fn default_refresh() -> Duration {
    Duration::from_secs(60)
}
fn default_max_stale() -> Duration {
    Duration::from_secs(24 * 3600)
}
fn default_true() -> bool {
    true
}
fn default_health_check_port() -> Spanned<u16> {
    unplaced(443)
}
fn default_health_interval() -> Duration {
    super::HealthSettings::default().interval
}
fn default_health_timeout() -> Duration {
    super::HealthSettings::default().timeout
}
fn default_down_after() -> Spanned<u32> {
    unplaced(super::HealthSettings::default().down_after)
}
fn default_up_after() -> Spanned<u32> {
    unplaced(super::HealthSettings::default().up_after)
}
fn default_max_probes() -> Spanned<usize> {
    unplaced(super::HealthSettings::default().max_in_flight)
}
