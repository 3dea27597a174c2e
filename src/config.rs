//! The configuration file: its TOML shape, defaults and validation.
//!
//! Parsing is two steps. Serde reads the file into the `*Section` structs (unknown keys and wrong
//! types are rejected there, with the key's path and line). [`Config::validate`] then checks what a
//! type cannot express (names, duplicates, loops) and produces the [`Config`] the server runs on.
//! Every error names the file, the line when known, and the key.

use std::collections::HashSet;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use hickory_proto::rr::Name;
use ipnet::IpNet;
use serde::Deserialize;
use toml::Spanned;

use crate::ratelimit::Rate;

/// The VPC resolver's link-local address, reachable from every subnet of a VPC.
pub const VPC_RESOLVER: SocketAddr =
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(169, 254, 169, 253)), 53);

/// A configuration error, naming where in which file it is.
#[derive(Debug, thiserror::Error)]
pub struct ConfigError {
    /// The file that was read (or `<flags>` for command-line values).
    pub file: PathBuf,
    /// 1-based line and column, when the error has a position.
    pub position: Option<(usize, usize)>,
    /// The dotted key the error is about (`dns.ttl`, `static[1].name`), if any.
    pub key: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some((line, col)) = self.position {
            write!(f, ":{line}:{col}")?;
        }
        if !self.key.is_empty() {
            write!(f, ": {}", self.key)?;
        }
        write!(f, ": {}", self.message)
    }
}

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
}

impl Default for UpstreamSection {
    fn default() -> Self {
        Self {
            servers: default_servers(),
            timeout_ms: default_timeout_ms(),
            cache_size: default_cache_size(),
            cache_max_bytes: default_cache_max_bytes(),
            max_inflight: default_max_inflight(),
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
}

/// `[[source]]`: EC2 discovery of interface endpoints.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceSection {
    pub region: String,
    pub vpc_id: Option<String>,
    #[serde(default)]
    pub tags: std::collections::BTreeMap<String, String>,
    #[serde(default = "default_services")]
    pub services: Vec<String>,
    /// DNS domains besides the partition's under which the services' names live.
    #[serde(default)]
    pub domains: Vec<String>,
    pub endpoint_url: Option<String>,
    #[serde(default = "default_refresh", with = "humantime_serde")]
    pub refresh: Duration,
    #[serde(default = "default_max_stale", with = "humantime_serde")]
    pub max_stale: Duration,
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
fn unplaced<T>(value: T) -> Spanned<T> {
    Spanned::new(0..0, value)
}
/// Where a value stands in the file, if it came from the file.
fn place<T>(value: &Spanned<T>) -> Option<usize> {
    let span = value.span();
    (!span.is_empty()).then_some(span.start)
}
fn default_listen() -> Spanned<Vec<SocketAddr>> {
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

/// One overridden name with its fixed addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticOverride {
    /// Lower-case, fully qualified; may start with `*.`.
    pub name: Name,
    pub ipv4: Vec<Ipv4Addr>,
    pub ipv6: Vec<Ipv6Addr>,
}

/// One validated `[[source]]`: where to discover endpoints and which services to serve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceConfig {
    pub region: String,
    pub vpc_id: Option<String>,
    /// Endpoint tags that must all match (EC2 `tag:KEY` filters).
    pub tags: std::collections::BTreeMap<String, String>,
    /// Globs (`*`, `?`) over the service's short name, lower case.
    pub services: Vec<String>,
    /// Extra DNS domains of the scope, lower case (the partition's are always in it).
    pub domains: Vec<String>,
    pub endpoint_url: Option<String>,
    pub refresh: Duration,
    pub max_stale: Duration,
}

impl SourceConfig {
    /// A short name for logs and metrics: `region/vpc-id` (or `region/tags`).
    pub fn label(&self) -> String {
        match &self.vpc_id {
            Some(vpc) => format!("{}/{vpc}", self.region),
            None => format!("{}/tags", self.region),
        }
    }
}

/// Checks one `[[source]]`; the error names the key within it.
fn validate_source(s: &SourceSection) -> Result<SourceConfig, (&'static str, String)> {
    if !is_region(&s.region) {
        let m = format!(
            "{:?} is not an AWS region name (like \"ap-southeast-2\")",
            s.region
        );
        return Err(("region", m));
    }
    if let Some(vpc) = &s.vpc_id {
        let hex = vpc.strip_prefix("vpc-").unwrap_or("");
        if hex.is_empty() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            let m = format!("{vpc:?} is not a VPC id (like \"vpc-0123456789abcdef0\")");
            return Err(("vpc_id", m));
        }
    }
    if s.vpc_id.is_none() && s.tags.is_empty() {
        let m = "give vpc_id, tags or both: discovery never takes every endpoint of a region";
        return Err(("vpc_id", m.into()));
    }
    if s.services.is_empty() {
        return Err(("services", "at least one pattern is needed".into()));
    }
    let mut services = Vec::new();
    for pattern in &s.services {
        let valid = !pattern.is_empty()
            && pattern
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-.*?_".contains(&b));
        if !valid {
            let m = format!(
                "{pattern:?}: a pattern is a service short name with * and ? (like \"bedrock*\")"
            );
            return Err(("services", m));
        }
        services.push(pattern.to_ascii_lowercase());
    }
    let mut domains = Vec::new();
    for domain in &s.domains {
        let d = domain.trim_end_matches('.').to_ascii_lowercase();
        let valid = d.contains('.')
            && d.split('.').all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            });
        if !valid {
            let m = format!("{domain:?} is not a DNS domain (like \"example.com\")");
            return Err(("domains", m));
        }
        domains.push(d);
    }
    if let Some(problem) = s.endpoint_url.as_deref().and_then(url_problem) {
        return Err(("endpoint_url", problem));
    }
    if s.refresh < Duration::from_secs(1) {
        return Err(("refresh", "must be at least 1s".into()));
    }
    if s.max_stale < s.refresh {
        return Err(("max_stale", "must be at least as long as refresh".into()));
    }
    Ok(SourceConfig {
        region: s.region.clone(),
        vpc_id: s.vpc_id.clone(),
        tags: s.tags.clone(),
        services,
        domains,
        endpoint_url: s.endpoint_url.clone(),
        refresh: s.refresh,
        max_stale: s.max_stale,
    })
}

/// What is wrong with an EC2 endpoint URL, if anything.
fn url_problem(url: &str) -> Option<String> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    rest.is_none_or(|r| r.is_empty() || r.contains(char::is_whitespace))
        .then(|| format!("{url:?} is not an http(s) URL"))
}

/// `ap-southeast-2`, `us-gov-west-1`, `cn-north-1`, `eu-central-2`...
fn is_region(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    let lower_alnum = |p: &&str| {
        !p.is_empty()
            && p.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    };
    parts.len() >= 3
        && parts.iter().all(lower_alnum)
        && parts[0].len() == 2
        && parts[parts.len() - 1].bytes().all(|b| b.is_ascii_digit())
}

/// The validated configuration the server runs on.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: Vec<SocketAddr>,
    pub ttl: u32,
    pub on_unavailable: OnUnavailable,
    pub allow: Vec<IpNet>,
    pub max_udp_payload: u16,
    pub max_tcp_connections: usize,
    pub tcp_idle_timeout: Duration,
    pub rate_limit: Option<Rate>,
    pub upstreams: Vec<SocketAddr>,
    pub upstream_timeout: Duration,
    pub cache_size: usize,
    pub cache_max_bytes: u64,
    pub max_inflight: usize,
    pub statics: Vec<StaticOverride>,
    pub sources: Vec<SourceConfig>,
    pub admin_listen: Option<SocketAddr>,
}

/// Values given on the command line; each replaces the file's value when present.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub listen: Vec<SocketAddr>,
    pub upstreams: Vec<String>,
    pub admin_listen: Option<SocketAddr>,
    /// The EC2 API endpoint of every `[[source]]`.
    pub endpoint_url: Option<String>,
}

impl Config {
    /// Reads, parses and validates a configuration file, then applies command-line overrides.
    pub fn load(path: &Path, flags: &Overrides) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: path.to_path_buf(),
            position: None,
            key: String::new(),
            message: format!("cannot read the file: {e}"),
        })?;
        Self::from_toml(&text, path, flags)
    }

    /// Parses and validates configuration text; `path` is used in error messages only.
    pub fn from_toml(text: &str, path: &Path, flags: &Overrides) -> Result<Self, ConfigError> {
        let file = parse_file(text, path)?;
        Self::validate(file, text, path, flags)
    }

    fn validate(
        mut file: FileConfig,
        text: &str,
        path: &Path,
        flags: &Overrides,
    ) -> Result<Self, ConfigError> {
        let err = |offset: Option<usize>, key: &str, message: String| ConfigError {
            file: path.to_path_buf(),
            position: offset.map(|o| line_col(text, o)),
            key: key.to_string(),
            message,
        };

        if !flags.listen.is_empty() {
            file.dns.listen = unplaced(flags.listen.clone());
        }
        if !flags.upstreams.is_empty() {
            file.upstream.servers = unplaced(flags.upstreams.clone());
        }
        if let Some(listen) = flags.admin_listen {
            file.admin = Some(AdminSection { listen });
        }
        if let Some(url) = &flags.endpoint_url {
            if let Some(problem) = url_problem(url) {
                return Err(err(None, "--endpoint-url", problem));
            }
            for source in &mut file.sources {
                source.get_mut().endpoint_url = Some(url.clone());
            }
        }

        let dns = &file.dns;
        let listen = dns.listen.get_ref();
        if listen.is_empty() {
            return Err(err(
                place(&dns.listen),
                "dns.listen",
                "at least one address is needed".into(),
            ));
        }
        let mut seen = HashSet::new();
        if let Some(twice) = listen.iter().find(|a| !seen.insert(*a)) {
            return Err(err(
                place(&dns.listen),
                "dns.listen",
                format!("{twice} is listed twice"),
            ));
        }
        if *dns.ttl.get_ref() > 86_400 {
            return Err(err(
                place(&dns.ttl),
                "dns.ttl",
                format!("{} is above the 86400 s limit", dns.ttl.get_ref()),
            ));
        }
        if *dns.max_udp_payload.get_ref() < 512 {
            return Err(err(
                place(&dns.max_udp_payload),
                "dns.max_udp_payload",
                "must be at least 512".into(),
            ));
        }
        if *dns.max_tcp_connections.get_ref() == 0 {
            return Err(err(
                place(&dns.max_tcp_connections),
                "dns.max_tcp_connections",
                "must be at least 1".into(),
            ));
        }
        let rate_limit = match &dns.rate_limit {
            None => None,
            Some(r) => {
                let qps = *r.queries_per_second.get_ref();
                if qps == 0 {
                    return Err(err(
                        place(&r.queries_per_second),
                        "dns.rate_limit.queries_per_second",
                        "must be at least 1 (leave out [dns.rate_limit] for no limit)".into(),
                    ));
                }
                let burst = r.burst.as_ref().map_or(qps, |b| *b.get_ref());
                if burst == 0 {
                    let b = r.burst.as_ref().expect("burst 0 was given");
                    return Err(err(
                        place(b),
                        "dns.rate_limit.burst",
                        "must be at least 1".into(),
                    ));
                }
                Some(Rate {
                    queries_per_second: qps,
                    burst,
                })
            }
        };

        let up = &file.upstream;
        if up.servers.get_ref().is_empty() {
            return Err(err(
                place(&up.servers),
                "upstream.servers",
                "at least one server is needed (or \"auto\")".into(),
            ));
        }
        if !(50..=60_000).contains(up.timeout_ms.get_ref()) {
            return Err(err(
                place(&up.timeout_ms),
                "upstream.timeout_ms",
                format!("{} is outside 50..=60000", up.timeout_ms.get_ref()),
            ));
        }
        if *up.max_inflight.get_ref() == 0 {
            return Err(err(
                place(&up.max_inflight),
                "upstream.max_inflight",
                "must be at least 1".into(),
            ));
        }
        let mut upstreams = Vec::new();
        for (i, s) in up.servers.get_ref().iter().enumerate() {
            let addr = parse_upstream(s)
                .map_err(|m| err(place(&up.servers), &format!("upstream.servers[{i}]"), m))?;
            if !upstreams.contains(&addr) {
                upstreams.push(addr);
            }
        }
        for addr in &upstreams {
            if let Some(own) = listen.iter().find(|l| is_same_server(l, addr)) {
                return Err(err(
                    place(&up.servers),
                    "upstream.servers",
                    format!(
                        "{addr} is this resolver's own listen address {own}: that is a forwarding loop"
                    ),
                ));
            }
        }

        let mut statics: Vec<StaticOverride> = Vec::new();
        for (i, st) in file.statics.iter().enumerate() {
            let key = format!("static[{i}].name");
            let at = Some(st.name.span().start);
            let name = parse_override_name(st.name.get_ref()).map_err(|m| err(at, &key, m))?;
            if statics.iter().any(|o| o.name == name) {
                return Err(err(at, &key, format!("{name} is overridden twice")));
            }
            statics.push(StaticOverride {
                name,
                ipv4: st.ipv4.clone(),
                ipv6: st.ipv6.clone(),
            });
        }

        let mut sources: Vec<SourceConfig> = Vec::new();
        for (i, src) in file.sources.iter().enumerate() {
            let at = Some(src.span().start);
            let source = validate_source(src.get_ref())
                .map_err(|(key, m)| err(at, &format!("source[{i}].{key}"), m))?;
            if sources
                .iter()
                .any(|s| s.label() == source.label() && s.tags == source.tags)
            {
                let m = format!("{} is configured twice", source.label());
                return Err(err(at, &format!("source[{i}]"), m));
            }
            sources.push(source);
        }

        Ok(Config {
            listen: listen.clone(),
            ttl: *dns.ttl.get_ref(),
            on_unavailable: dns.on_unavailable,
            allow: dns.allow.clone(),
            max_udp_payload: *dns.max_udp_payload.get_ref(),
            max_tcp_connections: *dns.max_tcp_connections.get_ref(),
            tcp_idle_timeout: dns.tcp_idle_timeout,
            rate_limit,
            upstreams,
            upstream_timeout: Duration::from_millis(*up.timeout_ms.get_ref()),
            cache_size: up.cache_size,
            cache_max_bytes: up.cache_max_bytes,
            max_inflight: *up.max_inflight.get_ref(),
            statics,
            sources,
            admin_listen: file.admin.map(|a| a.listen),
        })
    }
}

/// Runs serde over the text, turning its errors into [`ConfigError`]s with key path and position.
fn parse_file(text: &str, path: &Path) -> Result<FileConfig, ConfigError> {
    let to_err = |key: String, e: &toml::de::Error| ConfigError {
        file: path.to_path_buf(),
        position: e.span().map(|s| line_col(text, s.start)),
        key,
        message: e.message().trim().to_string(),
    };
    let de = toml::Deserializer::parse(text).map_err(|e| to_err(String::new(), &e))?;
    serde_path_to_error::deserialize(de).map_err(|e| to_err(key_path(e.path()), e.inner()))
}

/// The dotted key of a serde path (`static[1].name`), leaving out serde_spanned's internals.
fn key_path(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut key = String::new();
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => key.push_str(&format!("[{index}]")),
            Segment::Map { key: k } | Segment::Enum { variant: k } if !k.starts_with("$__") => {
                if !key.is_empty() {
                    key.push('.');
                }
                key.push_str(k);
            }
            _ => {}
        }
    }
    key
}

/// 1-based line and column of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, col)
}

/// `"auto"` (the VPC resolver), `"IP"` (port 53) or `"IP:PORT"` / `"[IPv6]:PORT"`.
///
/// Host names are refused on purpose: resolving them would need a resolver, and the one in
/// resolv.conf may be this very server.
pub fn parse_upstream(s: &str) -> Result<SocketAddr, String> {
    if s.eq_ignore_ascii_case("auto") {
        return Ok(VPC_RESOLVER);
    }
    if let Ok(addr) = SocketAddr::from_str(s) {
        return Ok(addr);
    }
    if let Ok(ip) = IpAddr::from_str(s) {
        return Ok(SocketAddr::new(ip, 53));
    }
    Err(format!("{s:?} is not \"auto\", an IP address, or IP:PORT"))
}

/// Whether queries sent to `upstream` would arrive at our own `listen` socket.
fn is_same_server(listen: &SocketAddr, upstream: &SocketAddr) -> bool {
    if listen.port() != upstream.port() {
        return false;
    }
    if listen.ip() == upstream.ip() {
        return true;
    }
    // A wildcard listener receives on every local address: the upstream is us if its IP is
    // local, which binding to it tells without any interface-listing crate.
    listen.ip().is_unspecified()
        && listen.is_ipv4() == upstream.is_ipv4()
        && std::net::UdpSocket::bind(SocketAddr::new(upstream.ip(), 0)).is_ok()
}

/// Validates an override name: a DNS name, optionally with one leading `*.` label.
pub fn parse_override_name(s: &str) -> Result<Name, String> {
    let body = s.strip_prefix("*.").unwrap_or(s);
    if body.is_empty() || body == "." {
        return Err(format!("{s:?} is not a host name"));
    }
    if body.contains('*') {
        return Err(format!(
            "{s:?}: a wildcard is only allowed as the whole first label (\"*.name\")"
        ));
    }
    let valid_chars = body
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_');
    if !valid_chars {
        return Err(format!(
            "{s:?} has characters that are not allowed in a host name"
        ));
    }
    let name = Name::from_ascii(s).map_err(|e| format!("{s:?} is not a valid DNS name: {e}"))?;
    let mut name = name.to_lowercase();
    name.set_fqdn(true);
    if name.num_labels() < 2 {
        return Err(format!("{s:?}: refusing to override a top-level name"));
    }
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Config, ConfigError> {
        Config::from_toml(text, Path::new("t.toml"), &Overrides::default())
    }

    #[test]
    fn defaults_fill_an_empty_file() {
        let c = load("").unwrap();
        assert_eq!(&c.listen, default_listen().get_ref());
        assert_eq!(c.upstreams, vec![VPC_RESOLVER]);
        assert_eq!(c.ttl, 30);
        assert_eq!(c.on_unavailable, OnUnavailable::Servfail);
        assert_eq!(c.cache_size, 10_000);
    }

    #[test]
    fn unknown_key_names_key_and_line() {
        let e = load("[dns]\nttl = 5\nbogus = 1\n").unwrap_err();
        let s = e.to_string();
        assert!(s.starts_with("t.toml:3:"), "{s}");
        assert!(s.contains("bogus"), "{s}");
    }

    #[test]
    fn rate_limit_is_off_by_default_and_checked_when_given() {
        assert_eq!(load("").unwrap().rate_limit, None);
        let c = load("[dns.rate_limit]\nqueries_per_second = 50\n").unwrap();
        let want = Rate {
            queries_per_second: 50,
            burst: 50,
        };
        assert_eq!(c.rate_limit, Some(want));
        let e = load("[dns.rate_limit]\nqueries_per_second = 0\n").unwrap_err();
        assert_eq!(
            (e.key.as_str(), e.position.map(|p| p.0)),
            ("dns.rate_limit.queries_per_second", Some(2))
        );
        let e = load("[dns.rate_limit]\nqueries_per_second = 5\nburst = 0\n").unwrap_err();
        assert_eq!(e.key, "dns.rate_limit.burst");
        let e = load("[dns.rate_limit]\nqps = 5\n").unwrap_err();
        assert!(e.to_string().contains("qps"), "{e}");
    }

    #[test]
    fn admin_listens_on_loopback_unless_told_otherwise() {
        assert_eq!(load("").unwrap().admin_listen, None);
        let c = load("[admin]\n").unwrap();
        assert_eq!(c.admin_listen, Some("127.0.0.1:9153".parse().unwrap()));
    }

    #[test]
    fn wrong_type_names_key_path() {
        let e = load("[dns]\nttl = \"x\"\n").unwrap_err();
        assert_eq!(e.key, "dns.ttl");
        assert_eq!(e.position.unwrap().0, 2);
    }

    #[test]
    fn bad_static_name_names_entry_and_line() {
        let e =
            load("[[static]]\nname = \"ok.example.com\"\n[[static]]\nname = \"a*b.example.com\"\n")
                .unwrap_err();
        assert_eq!(e.key, "static[1].name");
        assert_eq!(e.position.unwrap().0, 4);
    }

    #[test]
    fn duplicate_static_is_rejected_case_insensitively() {
        let e =
            load("[[static]]\nname = \"A.example.com\"\n[[static]]\nname = \"a.EXAMPLE.com.\"\n")
                .unwrap_err();
        assert!(e.message.contains("twice"), "{e}");
    }

    #[test]
    fn upstream_loop_is_refused() {
        let e =
            load("[dns]\nlisten=[\"127.0.0.1:5353\"]\n[upstream]\nservers=[\"127.0.0.1:5353\"]\n")
                .unwrap_err();
        assert!(e.message.contains("loop"), "{e}");
        let e =
            load("[dns]\nlisten=[\"0.0.0.0:5353\"]\n[upstream]\nservers=[\"127.0.0.2:5353\"]\n")
                .unwrap_err();
        assert!(e.message.contains("loop"), "{e}");
        assert!(
            load("[dns]\nlisten=[\"0.0.0.0:5353\"]\n[upstream]\nservers=[\"127.0.0.1:5300\"]\n")
                .is_ok()
        );
    }

    #[test]
    fn semantic_errors_have_lines_too() {
        let e = load("[dns]\n\nttl = 100000\n").unwrap_err();
        assert_eq!(
            (e.key.as_str(), e.position.map(|p| p.0)),
            ("dns.ttl", Some(3))
        );
        let e = load("[upstream]\ntimeout_ms = 5\n").unwrap_err();
        assert_eq!(
            (e.key.as_str(), e.position.map(|p| p.0)),
            ("upstream.timeout_ms", Some(2))
        );
        let e = load("[dns]\nlisten = [\"127.0.0.1:1\", \"127.0.0.1:1\"]\n").unwrap_err();
        assert_eq!(
            (e.key.as_str(), e.position.map(|p| p.0)),
            ("dns.listen", Some(2))
        );
        // A value from a flag has no line in the file.
        let flags = Overrides {
            upstreams: vec!["nope".into()],
            ..Overrides::default()
        };
        let e = Config::from_toml("", Path::new("t.toml"), &flags).unwrap_err();
        assert_eq!((e.key.as_str(), e.position), ("upstream.servers[0]", None));
    }

    #[test]
    fn endpoint_url_flag_replaces_every_source() {
        let text = "[[source]]\nregion = \"ap-southeast-2\"\nvpc_id = \"vpc-0a\"\n\
                    endpoint_url = \"https://vpce-1-a.ec2.ap-southeast-2.vpce.amazonaws.com\"\n\
                    [[source]]\nregion = \"us-east-1\"\nvpc_id = \"vpc-0b\"\n";
        let flags = Overrides {
            endpoint_url: Some("http://127.0.0.1:5000".into()),
            ..Overrides::default()
        };
        let c = Config::from_toml(text, Path::new("t.toml"), &flags).unwrap();
        let urls: Vec<_> = c
            .sources
            .iter()
            .map(|s| s.endpoint_url.as_deref())
            .collect();
        assert_eq!(urls, [Some("http://127.0.0.1:5000"); 2]);

        let flags = Overrides {
            endpoint_url: Some("ftp://x".into()),
            ..Overrides::default()
        };
        let e = Config::from_toml(text, Path::new("t.toml"), &flags).unwrap_err();
        assert_eq!((e.key.as_str(), e.position), ("--endpoint-url", None));
        assert!(e.to_string().contains("not an http(s) URL"), "{e}");
    }

    #[test]
    fn upstream_forms() {
        assert_eq!(parse_upstream("auto").unwrap(), VPC_RESOLVER);
        assert_eq!(
            parse_upstream("10.0.0.2").unwrap(),
            "10.0.0.2:53".parse().unwrap()
        );
        assert_eq!(
            parse_upstream("[::1]:5300").unwrap(),
            "[::1]:5300".parse().unwrap()
        );
        assert!(parse_upstream("dns.example.com").is_err());
    }

    #[test]
    fn sources_parse_with_defaults() {
        let c = load("[[source]]\nregion = \"ap-southeast-2\"\nvpc_id = \"vpc-0a1\"\n").unwrap();
        let s = &c.sources[0];
        assert_eq!(s.services, vec!["bedrock*"]);
        assert_eq!(s.refresh, Duration::from_secs(60));
        assert_eq!(s.max_stale, Duration::from_secs(86_400));
        assert_eq!(s.label(), "ap-southeast-2/vpc-0a1");
        let c = load(
            "[[source]]\nregion = \"us-gov-west-1\"\ntags = { team = \"ml\" }\n\
             services = [\"Bedrock-Runtime\", \"sts\"]\nrefresh = \"5s\"\nmax_stale = \"1h\"\n\
             endpoint_url = \"http://127.0.0.1:5000\"\n",
        )
        .unwrap();
        assert_eq!(c.sources[0].services, vec!["bedrock-runtime", "sts"]);
        assert_eq!(c.sources[0].refresh, Duration::from_secs(5));
    }

    #[test]
    fn bad_sources_name_the_key_and_line() {
        let base = "region = \"ap-southeast-2\"\nvpc_id = \"vpc-1\"\n";
        for (text, key) in [
            (
                "region = \"Sydney\"\nvpc_id = \"vpc-1\"\n".to_string(),
                "source[0].region",
            ),
            (
                "region = \"ap-southeast-2\"\nvpc_id = \"vpc-xyz\"\n".into(),
                "source[0].vpc_id",
            ),
            ("region = \"ap-southeast-2\"\n".into(), "source[0].vpc_id"),
            (format!("{base}services = []"), "source[0].services"),
            (
                format!("{base}services = [\"bed rock\"]"),
                "source[0].services",
            ),
            (
                format!("{base}endpoint_url = \"ftp://x\""),
                "source[0].endpoint_url",
            ),
            (
                format!("{base}domains = [\"not a domain\"]"),
                "source[0].domains",
            ),
            (format!("{base}domains = [\"local\"]"), "source[0].domains"),
            (format!("{base}refresh = \"60\""), "source[0].refresh"),
            (
                format!("{base}refresh = \"10m\"\nmax_stale = \"1m\""),
                "source[0].max_stale",
            ),
            (format!("{base}vcp = 1"), "source[0]"),
        ] {
            let e = load(&format!("[dns]\nttl = 5\n[[source]]\n{text}\n")).unwrap_err();
            assert!(e.key.starts_with(key), "{text}: {e}");
            assert!(e.position.is_some(), "{text}: {e}");
        }
        let twice = format!("[[source]]\n{base}[[source]]\n{base}");
        assert!(load(&twice).unwrap_err().message.contains("twice"));
    }

    #[test]
    fn override_names() {
        assert_eq!(
            parse_override_name("*.S3.us-east-1.amazonaws.com")
                .unwrap()
                .to_string(),
            "*.s3.us-east-1.amazonaws.com."
        );
        assert!(parse_override_name("com").is_err());
        assert!(parse_override_name("a..b").is_err());
        assert!(parse_override_name("bad name.com").is_err());
    }
}
