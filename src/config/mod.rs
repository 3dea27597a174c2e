//! The configuration file: its TOML shape, defaults and validation.
//!
//! Parsing is two steps. Serde reads the file into the `*Section` structs of [`file`] (unknown
//! keys and wrong types are rejected there, with the key's path and line). [`validate`] then
//! checks what a type cannot express (names, duplicates, loops) and produces the [`Config`]
//! the server runs on. Every error ([`error::ConfigError`]) names the file, the line when
//! known, and the key. Values from the command line ([`Flags`]) replace the file's.

pub mod error;
pub mod file;
pub mod names;
mod validate;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use hickory_proto::rr::Name;
use ipnet::IpNet;

pub use self::error::ConfigError;
pub use self::file::{OnUnavailable, default_allow, default_services};
pub use self::names::{is_region, parse_override_name};
pub use self::validate::parse_upstream;

/// A per-client rate limit (`[dns.rate_limit]`): a token bucket per source address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub queries_per_second: u32,
    pub burst: u32,
}

/// The VPC resolver's link-local address, reachable from every subnet of a VPC.
pub const VPC_RESOLVER: SocketAddr =
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(169, 254, 169, 253)), 53);

/// One overridden name with its fixed addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticOverride {
    /// Lower-case, fully qualified; may start with `*.`.
    pub name: Name,
    pub ipv4: Vec<Ipv4Addr>,
    pub ipv6: Vec<Ipv6Addr>,
    /// The port its addresses are probed on; `None`: not probed.
    pub health_check: Option<u16>,
}

/// How addresses are probed (`[health]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthSettings {
    pub interval: Duration,
    pub timeout: Duration,
    pub down_after: u32,
    pub up_after: u32,
    pub max_in_flight: usize,
}

impl Default for HealthSettings {
    /// The defaults of `[health]`.
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(5),
            timeout: Duration::from_secs(1),
            down_after: 3,
            up_after: 2,
            max_in_flight: 64,
        }
    }
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
    /// The role this source's EC2 calls are made as; `None`: the default credential chain's.
    pub role: Option<AssumeRole>,
    pub refresh: Duration,
    pub max_stale: Duration,
    /// The port the endpoints' addresses are probed on; `None`: not probed.
    pub health_check: Option<u16>,
}

/// A role assumed through STS, starting from the default credential chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssumeRole {
    pub arn: String,
    pub external_id: Option<String>,
    pub session_name: String,
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
    /// Threads per UDP listen address; `None`: chosen from the cores.
    pub udp_threads: Option<usize>,
    pub rate_limit: Option<Rate>,
    pub upstreams: Vec<SocketAddr>,
    pub upstream_timeout: Duration,
    pub cache_size: usize,
    pub cache_max_bytes: u64,
    pub max_inflight: usize,
    /// How long past expiry a cached answer may be given when no upstream answers (0: never).
    pub serve_stale: Duration,
    pub prefetch: bool,
    /// Upstream queries allowed in any one second (0: no limit).
    pub max_queries_per_second: u32,
    pub statics: Vec<StaticOverride>,
    pub sources: Vec<SourceConfig>,
    pub admin_listen: Option<SocketAddr>,
    pub health: HealthSettings,
    /// CloudWatch Embedded Metric Format on stdout (`[metrics] emf`); `None`: off.
    pub emf: Option<EmfSettings>,
}

/// Where and how often the EMF lines go (`[metrics]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmfSettings {
    pub interval: Duration,
    /// The CloudWatch namespace of every metric.
    pub namespace: String,
    /// The value of the `Service` dimension.
    pub service: String,
}

/// Values given on the command line; each replaces the file's value when present.
#[derive(Debug, Default, Clone)]
pub struct Flags {
    pub listen: Vec<SocketAddr>,
    pub upstreams: Vec<String>,
    pub admin_listen: Option<SocketAddr>,
    /// The EC2 API endpoint of every `[[source]]`.
    pub endpoint_url: Option<String>,
}

impl Config {
    /// Reads, parses and validates a configuration file, then applies command-line overrides.
    pub fn load(path: &Path, flags: &Flags) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: path.to_path_buf(),
            position: None,
            key: String::new(),
            message: format!("cannot read the file: {e}"),
        })?;
        Self::from_toml(&text, path, flags)
    }

    /// Parses and validates configuration text; `path` is used in error messages only.
    pub fn from_toml(text: &str, path: &Path, flags: &Flags) -> Result<Self, ConfigError> {
        let file = error::parse_file(text, path)?;
        Self::validate(file, text, path, flags)
    }
}

#[cfg(test)]
mod tests;
