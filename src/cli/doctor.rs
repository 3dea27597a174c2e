//! `doctor`: checks a live setup end to end and says what to fix.
//!
//! In order: the EC2 API answers and permits each source; each source has available
//! endpoints with addresses; each IP accepts TCP on the endpoint port (its health check's
//! port, for names with one); every hostname resolves through the resolver to exactly the
//! expected private IPs (for a name with a health check, some of them and not none: the
//! resolver leaves out those it found down, and a difference from this run's connection
//! checks is reported); each upstream answers.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{RData, RecordType};
use serde::Serialize;

use super::args::{DoctorArgs, Output};
use super::output::print_json;
use super::{Failure, runtime};
use crate::config::Config;
use crate::discovery::{self, DiscoveryError};
use crate::dns::upstream::{UpstreamQuery, Upstreams};
use crate::health::Prober;

/// The command: every check, printed, and a failure when any fails.
pub fn run_command(args: DoctorArgs) -> Result<(), Failure> {
    let output = args.source.output;
    let config = args.source.load().map_err(|e| {
        match output {
            Output::Json => println!("{}", serde_json::json!([{"check": "configuration", "ok": false, "detail": e.to_string(), "fix": "correct the file"}])),
            Output::Table => println!("FAIL  configuration  {e}"),
        }
        Failure::config(e)
    })?;
    let options = Options {
        resolver: args.resolver,
        port: args.port,
        no_connect: args.no_connect,
        app_region: args.app_region.region,
        timeout: Duration::from_secs(3),
    };
    let checks = runtime(false)?.block_on(run(&config, &options));
    match output {
        Output::Json => print_json(&checks)?,
        Output::Table => {
            for c in &checks {
                let verdict = if c.ok { "PASS" } else { "FAIL" };
                match &c.fix {
                    Some(fix) => println!("{verdict}  {}  {}\n      fix: {fix}", c.check, c.detail),
                    None => println!("{verdict}  {}  {}", c.check, c.detail),
                }
            }
        }
    }
    let failed = checks.iter().filter(|c| !c.ok).count();
    if failed == 0 {
        Ok(())
    } else {
        Err(Failure::runtime(format!(
            "{failed} of {} checks failed",
            checks.len()
        )))
    }
}

/// One verdict.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub check: String,
    pub ok: bool,
    pub detail: String,
    /// What to do about a failure.
    pub fix: Option<String>,
}

impl Check {
    fn pass(check: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            check: check.into(),
            ok: true,
            detail: detail.into(),
            fix: None,
        }
    }
    fn fail(check: impl Into<String>, detail: impl Into<String>, fix: impl Into<String>) -> Self {
        Self {
            check: check.into(),
            ok: false,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }
}

/// How to run the checks.
#[derive(Debug, Clone)]
pub struct Options {
    /// The resolver to ask (default: the first `dns.listen` address).
    pub resolver: Option<SocketAddr>,
    /// The endpoints' port for the TCP check.
    pub port: u16,
    /// Skip the TCP connection check.
    pub no_connect: bool,
    /// Ask this region whether it offers each served service over cross-region PrivateLink.
    pub app_region: Option<String>,
    pub timeout: Duration,
}

/// A name to resolve and the addresses it must resolve to.
struct Expected {
    name: String,
    ipv4: BTreeSet<Ipv4Addr>,
    /// The port its addresses are probed on, if the resolver leaves out those that are down.
    health_check: Option<u16>,
}

/// Runs every check for `config`.
pub async fn run(config: &Config, options: &Options) -> Vec<Check> {
    let mut checks = vec![Check::pass(
        "configuration",
        format!(
            "{} source(s), {} static override(s)",
            config.sources.len(),
            config.statics.len()
        ),
    )];
    let mut expected: Vec<Expected> = config
        .statics
        .iter()
        .filter(|s| !s.ipv4.is_empty())
        .map(|s| Expected {
            name: probe_name(&s.name.to_string()),
            ipv4: s.ipv4.iter().copied().collect(),
            health_check: s.health_check,
        })
        .collect();

    // (service, its region) of every endpoint found, for the cross-region question.
    let mut served: Vec<(String, String)> = Vec::new();
    for source in &config.sources {
        let label = source.label();
        let result =
            discovery::discover_once(std::slice::from_ref(source), &config.upstreams).await;
        // The role step on its own line: a trust policy is fixed elsewhere than a permission.
        if let Some(role) = &source.role {
            match &result {
                Err((_, e)) if e.operation() == "AssumeRole" => {
                    checks.push(assume_failure(&label, &role.arn, e));
                    continue;
                }
                _ => checks.push(Check::pass(
                    format!("assume role {label}"),
                    format!("{} assumed as session {}", role.arn, role.session_name),
                )),
            }
        }
        match result {
            Err((_, e)) => checks.push(api_failure(&label, &e)),
            Ok(results) => {
                checks.push(Check::pass(
                    format!("ec2 api {label}"),
                    "reachable and permitted",
                ));
                let snapshot = &results[0].1;
                checks.push(endpoints_check(&label, source, snapshot));
                let services = snapshot.endpoints.iter().map(|e| &e.service);
                served.extend(services.map(|s| (s.clone(), source.region.clone())));
                for record in snapshot.records() {
                    if !record.ipv4.is_empty() {
                        expected.push(Expected {
                            name: probe_name(&record.name),
                            ipv4: record.ipv4.iter().copied().collect(),
                            health_check: source.health_check,
                        });
                    }
                }
            }
        }
    }

    if let Some(app_region) = &options.app_region {
        let offers = discovery::cross_region::offers(app_region, &served, &config.upstreams).await;
        for offer in offers {
            let check = format!("cross-region privatelink {}", offer.service);
            checks.push(match &offer.offered {
                Ok(_) => Check::pass(check, offer.advice()),
                Err(_) => Check::fail(
                    check,
                    offer.advice(),
                    "the app region's EC2 API must answer DescribeVpcEndpointServices (the discovery policy allows it): check the route to it and AWS_ENDPOINT_URL_EC2",
                ),
            });
        }
    }
    let resolver = options
        .resolver
        .unwrap_or_else(|| local_address(config.listen[0]));
    // Connections first: for a name with a health check, the resolve check reports where the
    // answer differs from which addresses accepted one.
    let mut refused: BTreeSet<SocketAddr> = BTreeSet::new();
    if !options.no_connect {
        let targets: BTreeSet<SocketAddr> = expected
            .iter()
            .flat_map(|e| {
                let port = e.health_check.unwrap_or(options.port);
                e.ipv4
                    .iter()
                    .map(move |&ip| SocketAddr::new(IpAddr::V4(ip), port))
            })
            .collect();
        let prober = Prober::new(config.health.max_in_flight, options.timeout);
        let results = prober.probe_all(targets.iter().copied()).await;
        for target in targets {
            let check = connect_check(target, &results[&target]);
            if !check.ok {
                refused.insert(target);
            }
            checks.push(check);
        }
    }
    for e in &expected {
        let answer = match e.health_check {
            None => Answer::All,
            Some(_) if options.no_connect => Answer::AnySubset,
            Some(port) => {
                let up: BTreeSet<Ipv4Addr> = e
                    .ipv4
                    .iter()
                    .copied()
                    .filter(|&ip| !refused.contains(&SocketAddr::new(IpAddr::V4(ip), port)))
                    .collect();
                if up.is_empty() {
                    Answer::All
                } else {
                    Answer::Exactly(up)
                }
            }
        };
        checks.push(resolve_check(resolver, e, &answer, options.timeout).await);
    }
    for &upstream in &config.upstreams {
        checks.push(upstream_check(upstream, options.timeout).await);
    }
    checks
}

/// A wildcard name is checked through one name below it.
fn probe_name(name: &str) -> String {
    let name = name.trim_end_matches('.');
    match name.strip_prefix("*.") {
        Some(base) => format!("doctor-probe.{base}"),
        None => name.to_string(),
    }
}

/// 0.0.0.0 / :: listen addresses are asked on loopback.
fn local_address(listen: SocketAddr) -> SocketAddr {
    match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::from((Ipv4Addr::LOCALHOST, listen.port()))
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, listen.port()))
        }
        _ => listen,
    }
}

fn assume_failure(label: &str, role: &str, e: &DiscoveryError) -> Check {
    let fix = match e {
        DiscoveryError::AccessDenied { .. } => format!(
            "let the role bedrock-link runs with assume {role}: its trust policy must name that role (and the external ID, if it sets one), and that role needs sts:AssumeRole on it (the interconnect module's discovery_role and the resolver module's discovery_role_arn do both)"
        ),
        DiscoveryError::Unreachable { .. } => {
            "STS cannot be reached: check the route or the STS interface endpoint, and AWS_ENDPOINT_URL_STS if it is set".into()
        }
        _ => "see the error; check role_arn, external_id and the credentials bedrock-link starts from".into(),
    };
    Check::fail(format!("assume role {label}"), e.to_string(), fix)
}

fn api_failure(label: &str, e: &DiscoveryError) -> Check {
    let fix = match e {
        DiscoveryError::AccessDenied { .. } => {
            "attach deploy/iam/discovery-policy.json (ec2:DescribeVpcEndpoints, ec2:DescribeVpcEndpointServices, ec2:DescribeNetworkInterfaces) to the role bedrock-link runs with"
        }
        DiscoveryError::Throttled { .. } => {
            "the account's EC2 API rate is exhausted: raise refresh, or find what else calls Describe* so often"
        }
        DiscoveryError::Unreachable { .. } => {
            "the EC2 API cannot be reached: check endpoint_url, the route and security group to the EC2 endpoint (or NAT), and credentials"
        }
        DiscoveryError::Other { .. } => "see the error; check region, vpc_id and credentials",
    };
    Check::fail(format!("ec2 api {label}"), e.to_string(), fix)
}

fn endpoints_check(
    label: &str,
    source: &crate::config::SourceConfig,
    snapshot: &discovery::Snapshot,
) -> Check {
    let name = format!("endpoints {label}");
    if snapshot.endpoints.is_empty() {
        let fix = format!(
            "create interface endpoints for services matching {:?} in {}, or fix services/vpc_id/tags",
            source.services,
            source.vpc_id.as_deref().unwrap_or("the tagged VPC")
        );
        return Check::fail(name, "no interface endpoint matches", fix);
    }
    let unusable: Vec<String> = snapshot
        .endpoints
        .iter()
        .filter(|e| {
            !e.state.eq_ignore_ascii_case("available") || e.ipv4.is_empty() && e.ipv6.is_empty()
        })
        .map(|e| {
            format!(
                "{} ({}, {} addresses)",
                e.id,
                e.state,
                e.ipv4.len() + e.ipv6.len()
            )
        })
        .collect();
    if unusable.is_empty() {
        let ids: Vec<&str> = snapshot.endpoints.iter().map(|e| e.id.as_str()).collect();
        Check::pass(
            name,
            format!("available with addresses: {}", ids.join(", ")),
        )
    } else {
        Check::fail(
            name,
            format!("not usable: {}", unusable.join(", ")),
            "wait for pending endpoints, or recreate deleted or failed ones",
        )
    }
}

/// What a name's answer must hold.
enum Answer {
    /// Every address (no health check, or every address is down).
    All,
    /// These, the addresses that accepted this run's connection (any non-empty subset of the
    /// name's addresses passes, since the resolver's view lags by a few probes; a difference
    /// is reported).
    Exactly(BTreeSet<Ipv4Addr>),
    /// Some of the addresses, not none (health checked, but not probed here: --no-connect).
    AnySubset,
}

async fn resolve_check(
    resolver: SocketAddr,
    e: &Expected,
    answer: &Answer,
    wait: Duration,
) -> Check {
    let check = format!("resolve {}", e.name);
    let mut wire = Vec::new();
    for label in e.name.split('.').filter(|l| !l.is_empty()) {
        wire.push(label.len() as u8);
        wire.extend_from_slice(label.as_bytes());
    }
    wire.push(0);
    let question = UpstreamQuery::a(&wire);
    let reply = match Upstreams::new(vec![resolver], wait).query(&question).await {
        Ok(r) => r,
        Err(err) => {
            return Check::fail(
                check,
                format!("no answer from {resolver}: {err}"),
                "start bedrock-link, or give --resolver ADDR",
            );
        }
    };
    let Ok(msg) = Message::from_vec(&reply.bytes) else {
        return Check::fail(check, "malformed reply", "report this as a bug");
    };
    let got: BTreeSet<Ipv4Addr> = msg
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(a.0),
            _ => None,
        })
        .collect();
    let rcode = msg.metadata.response_code;
    let expected = match answer {
        Answer::Exactly(up) => up,
        Answer::All | Answer::AnySubset => &e.ipv4,
    };
    // A health-checked name may differ from this one probe's view for a few probes: the
    // resolver changes an address's state only after down_after (or up_after) in a row.
    let in_step = !got.is_empty() && got.is_subset(&e.ipv4);
    let right = match answer {
        Answer::All => got == *expected,
        Answer::Exactly(_) | Answer::AnySubset => in_step,
    };
    if rcode == ResponseCode::NoError && right {
        let left_out: BTreeSet<Ipv4Addr> = e.ipv4.difference(&got).copied().collect();
        let mut detail = format!("{} via {resolver}", join(&got));
        if !left_out.is_empty() {
            detail.push_str(&format!(" ({} left out as down)", join(&left_out)));
        }
        if matches!(answer, Answer::Exactly(_)) && got != *expected {
            detail.push_str(&format!(
                "; this run's probes found {} accepting: the resolver follows after \
                 health.down_after or health.up_after probes in a row",
                join(expected)
            ));
        }
        return Check::pass(check, detail);
    }
    let public: Vec<String> = got
        .iter()
        .filter(|ip| !is_private(**ip))
        .map(ToString::to_string)
        .collect();
    let detail = format!(
        "{rcode} {} from {resolver}; expected {}",
        join(&got),
        join(expected)
    );
    let fix = if !public.is_empty() {
        format!(
            "{} is public: traffic would leave through NAT. Is the client's resolver bedrock-link (and not the VPC resolver)?",
            public.join(", ")
        )
    } else if rcode == ResponseCode::ServFail {
        "the resolver has no usable address for this name: check the discovery checks above and /readyz".to_string()
    } else {
        "the resolver's table differs from EC2: wait one refresh, or check for a static override of this name".to_string()
    };
    Check::fail(check, detail, fix)
}

fn connect_check(addr: SocketAddr, probed: &Result<(), String>) -> Check {
    let check = format!("connect {addr}");
    match probed {
        Ok(()) => Check::pass(check, "TCP connection accepted"),
        Err(e) => Check::fail(
            check,
            e.as_str(),
            "check the peering routes both ways and the endpoint security group (443 from the app CIDRs)",
        ),
    }
}

async fn upstream_check(upstream: SocketAddr, wait: Duration) -> Check {
    let check = format!("upstream {upstream}");
    // The root's NS: any resolver can answer it, and any RCODE shows it is alive.
    let question = UpstreamQuery {
        qtype: u16::from(RecordType::NS),
        ..UpstreamQuery::a(&[0])
    };
    match Upstreams::new(vec![upstream], wait).query(&question).await {
        Ok(_) => Check::pass(check, "answering"),
        Err(e) => Check::fail(
            check,
            e.to_string(),
            "forwarded names get SERVFAIL: check upstream.servers (\"auto\" is 169.254.169.253)",
        ),
    }
}

fn is_private(ip: Ipv4Addr) -> bool {
    ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || (ip.octets()[0] == 100 && ip.octets()[1] & 0xc0 == 64)
}

fn join(ips: &BTreeSet<Ipv4Addr>) -> String {
    if ips.is_empty() {
        return "(none)".into();
    }
    ips.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
