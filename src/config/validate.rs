//! From the file as read to the [`Config`] the server runs on: checks that a type cannot
//! express (names, duplicates, loops, ranges), each error naming its key and line.

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use super::error::{ConfigError, line_col};
use super::file::{
    AdminSection, FileConfig, HealthSection, MetricsSection, SourceSection, place, unplaced,
};
use super::names::{is_region, parse_override_name};
use super::{
    AssumeRole, Config, EmfSettings, Flags, HealthSettings, Rate, SourceConfig, StaticOverride,
    VPC_RESOLVER,
};

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
    let role = validate_role(s)?;
    if s.refresh < Duration::from_secs(1) {
        return Err(("refresh", "must be at least 1s".into()));
    }
    if s.max_stale < s.refresh {
        return Err(("max_stale", "must be at least as long as refresh".into()));
    }
    if *s.health_check_port.get_ref() == 0 {
        return Err(("health_check_port", "must be a port from 1 to 65535".into()));
    }
    Ok(SourceConfig {
        region: s.region.clone(),
        vpc_id: s.vpc_id.clone(),
        tags: s.tags.clone(),
        services,
        domains,
        endpoint_url: s.endpoint_url.clone(),
        role,
        refresh: s.refresh,
        max_stale: s.max_stale,
        health_check: s.health_check.then(|| *s.health_check_port.get_ref()),
    })
}

/// `role_arn`, `external_id` and `session_name`, as IAM and STS accept them.
fn validate_role(s: &SourceSection) -> Result<Option<AssumeRole>, (&'static str, String)> {
    let Some(arn) = &s.role_arn else {
        for (key, set) in [
            ("external_id", s.external_id.is_some()),
            ("session_name", s.session_name.is_some()),
        ] {
            if set {
                return Err((key, "only applies with role_arn".into()));
            }
        }
        return Ok(None);
    };
    if !is_role_arn(arn) {
        let m = format!(
            "{arn:?} is not an IAM role ARN (like \"arn:aws:iam::123456789012:role/bedrock-link-discovery\")"
        );
        return Err(("role_arn", m));
    }
    // STS: an external ID is 2-1224 characters, a session name 2-64, both of [\w+=,.@:/-].
    let sts_chars = |v: &str, extra: &[u8]| {
        v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_+=,.@-".contains(&b) || extra.contains(&b))
    };
    if let Some(id) = &s.external_id
        && (!(2..=1224).contains(&id.len()) || !sts_chars(id, b":/"))
    {
        let m =
            format!("{id:?}: an external ID is 2 to 1224 letters, digits and _+=,.@:/- characters");
        return Err(("external_id", m));
    }
    let session_name = s
        .session_name
        .clone()
        .unwrap_or_else(|| "bedrock-link".into());
    if !(2..=64).contains(&session_name.len()) || !sts_chars(&session_name, b"") {
        let m = format!(
            "{session_name:?}: a session name is 2 to 64 letters, digits and _+=,.@- characters"
        );
        return Err(("session_name", m));
    }
    Ok(Some(AssumeRole {
        arn: arn.clone(),
        external_id: s.external_id.clone(),
        session_name,
    }))
}

/// `arn:PARTITION:iam::ACCOUNT:role/[PATH/]NAME`.
fn is_role_arn(arn: &str) -> bool {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let [prefix, partition, service, region, account, resource] = parts[..] else {
        return false;
    };
    let name = resource.strip_prefix("role/").unwrap_or("");
    prefix == "arn"
        && partition.starts_with("aws")
        && service == "iam"
        && region.is_empty()
        && account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit())
        && !name.is_empty()
        && !name.ends_with('/')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_+=,.@-/".contains(&b))
}

/// Checks `[health]`; the error gives the value's place and key.
fn validate_health(
    h: &HealthSection,
) -> Result<HealthSettings, (Option<usize>, &'static str, String)> {
    let second = Duration::from_secs(1);
    if h.interval < second || h.interval > Duration::from_secs(3600) {
        let m = "must be between 1s and 1h".to_string();
        return Err((None, "health.interval", m));
    }
    if h.timeout < Duration::from_millis(10) || h.timeout >= h.interval {
        let m = "must be at least 10ms and shorter than health.interval".to_string();
        return Err((None, "health.timeout", m));
    }
    for (value, key) in [
        (&h.down_after, "health.down_after"),
        (&h.up_after, "health.up_after"),
    ] {
        if !(1..=10).contains(value.get_ref()) {
            let m = format!("{} is not between 1 and 10", value.get_ref());
            return Err((place(value), key, m));
        }
    }
    if !(1..=1024).contains(h.max_in_flight.get_ref()) {
        let m = format!("{} is not between 1 and 1024", h.max_in_flight.get_ref());
        return Err((place(&h.max_in_flight), "health.max_in_flight", m));
    }
    Ok(HealthSettings {
        interval: h.interval,
        timeout: h.timeout,
        down_after: *h.down_after.get_ref(),
        up_after: *h.up_after.get_ref(),
        max_in_flight: *h.max_in_flight.get_ref(),
    })
}

/// Checks `[metrics]`: CloudWatch's own limits on namespaces and dimension values, so a
/// line is never written that CloudWatch would drop.
fn validate_metrics(
    m: &MetricsSection,
) -> Result<Option<EmfSettings>, (Option<usize>, &'static str, String)> {
    if m.emf_interval < Duration::from_secs(1) || m.emf_interval > Duration::from_secs(3600) {
        let e = "must be between 1s and 1h".to_string();
        return Err((None, "metrics.emf_interval", e));
    }
    let namespace = m.emf_namespace.get_ref();
    let allowed = |c: char| c.is_ascii_alphanumeric() || ".-_/#: ".contains(c);
    if namespace.is_empty() || namespace.len() > 255 || !namespace.chars().all(allowed) {
        let e = format!(
            "{namespace:?} is not a CloudWatch namespace (1 to 255 of letters, digits and . - _ / # : space)"
        );
        return Err((place(&m.emf_namespace), "metrics.emf_namespace", e));
    }
    if namespace.starts_with("AWS/") {
        let e = format!("{namespace:?}: namespaces starting with AWS/ are AWS's own");
        return Err((place(&m.emf_namespace), "metrics.emf_namespace", e));
    }
    let service = m.emf_service.get_ref();
    if service.trim().is_empty() || service.len() > 255 || service.chars().any(char::is_control) {
        let e = format!("{service:?} is not a dimension value (1 to 255 printable characters)");
        return Err((place(&m.emf_service), "metrics.emf_service", e));
    }
    Ok(m.emf.then(|| EmfSettings {
        interval: m.emf_interval,
        namespace: namespace.clone(),
        service: service.clone(),
    }))
}

/// What is wrong with an EC2 endpoint URL, if anything.
fn url_problem(url: &str) -> Option<String> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    rest.is_none_or(|r| r.is_empty() || r.contains(char::is_whitespace))
        .then(|| format!("{url:?} is not an http(s) URL"))
}

impl Config {
    pub(super) fn validate(
        mut file: FileConfig,
        text: &str,
        path: &Path,
        flags: &Flags,
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
        if let Some(threads) = &dns.udp_threads
            && !(1..=64).contains(threads.get_ref())
        {
            return Err(err(
                place(threads),
                "dns.udp_threads",
                format!("{} is not between 1 and 64", threads.get_ref()),
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
            if *st.health_check_port.get_ref() == 0 {
                return Err(err(
                    place(&st.health_check_port),
                    &format!("static[{i}].health_check_port"),
                    "must be a port from 1 to 65535".into(),
                ));
            }
            statics.push(StaticOverride {
                name,
                ipv4: st.ipv4.clone(),
                ipv6: st.ipv6.clone(),
                health_check: st.health_check.then(|| *st.health_check_port.get_ref()),
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

        let health = validate_health(&file.health).map_err(|(at, key, m)| err(at, key, m))?;
        let emf = validate_metrics(&file.metrics).map_err(|(at, key, m)| err(at, key, m))?;

        Ok(Config {
            listen: listen.clone(),
            ttl: *dns.ttl.get_ref(),
            on_unavailable: dns.on_unavailable,
            allow: dns.allow.clone(),
            max_udp_payload: *dns.max_udp_payload.get_ref(),
            max_tcp_connections: *dns.max_tcp_connections.get_ref(),
            tcp_idle_timeout: dns.tcp_idle_timeout,
            udp_threads: dns.udp_threads.as_ref().map(|t| *t.get_ref()),
            rate_limit,
            upstreams,
            upstream_timeout: Duration::from_millis(*up.timeout_ms.get_ref()),
            cache_size: up.cache_size,
            cache_max_bytes: up.cache_max_bytes,
            max_inflight: *up.max_inflight.get_ref(),
            serve_stale: up.serve_stale,
            prefetch: up.prefetch,
            max_queries_per_second: up.max_queries_per_second,
            statics,
            sources,
            admin_listen: file.admin.map(|a| a.listen),
            health,
            emf,
        })
    }
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
