//! One discovery pass through the EC2 API:
//! DescribeVpcEndpoints -> DescribeVpcEndpointServices -> DescribeNetworkInterfaces.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use aws_sdk_ec2::Client;
use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ec2::types::Filter;

use super::assume::RoleCredentials;
use super::resolver::UpstreamDns;
use super::services::{service_matches, short_name};
use super::{DiscoveryError, DnsEntry, Endpoint, Snapshot};
use crate::config::SourceConfig;
use crate::zone::scope::partition_domains;

/// The EC2 API actions a pass calls: the whole IAM policy bedrock-link needs.
pub const IAM_ACTIONS: [&str; 3] = [
    "ec2:DescribeVpcEndpoints",
    "ec2:DescribeVpcEndpointServices",
    "ec2:DescribeNetworkInterfaces",
];

/// How long a service's private DNS names are trusted before asking again.
const SERVICE_NAMES_TTL: Duration = Duration::from_secs(3600);
/// ENI ids per DescribeNetworkInterfaces call (a filter takes up to 200 values).
const ENI_BATCH: usize = 100;

/// The EC2 client of a source: its region, the default credential chain (or the source's
/// role, assumed from it), the endpoint override when one is given, and names resolved
/// through `dns` (the upstream servers, never the system resolver). TLS: rustls with ring.
pub struct Access {
    /// The source's SDK configuration without its EC2 endpoint (STS has its own).
    base: aws_config::SdkConfig,
    endpoint_url: Option<String>,
    role: Option<RoleCredentials>,
    client: Option<Client>,
}

impl Access {
    pub async fn new(source: &SourceConfig, dns: &UpstreamDns) -> Self {
        let base = sdk_config(&source.region, dns).await;
        let role = source.role.as_ref().map(|r| RoleCredentials::new(&base, r));
        Self {
            base,
            endpoint_url: source.endpoint_url.clone(),
            role,
            client: None,
        }
    }

    /// The client for the next pass: with the role's credentials, renewed when they are about
    /// to expire; the role step's failure is the pass's.
    pub async fn client(&mut self) -> Result<Client, DiscoveryError> {
        let credentials = match &mut self.role {
            None => None,
            Some(role) => match role.get().await? {
                (_, false) => None,
                (fresh, true) => Some(fresh),
            },
        };
        if self.client.is_none() || credentials.is_some() {
            let mut config = aws_sdk_ec2::config::Builder::from(&self.base);
            if let Some(url) = &self.endpoint_url {
                config = config.endpoint_url(url);
            }
            if let Some(c) = credentials {
                config = config.credentials_provider(c);
            }
            self.client = Some(Client::from_conf(config.build()));
        }
        Ok(self.client.clone().expect("built above"))
    }
}

/// The SDK configuration for `region`: the default chain, timeouts, rustls, names resolved
/// through `dns`; no endpoint override (each client sets its own).
pub async fn sdk_config(region: &str, dns: &UpstreamDns) -> aws_config::SdkConfig {
    use aws_config::timeout::TimeoutConfig;
    use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};

    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_with_resolver(dns.clone());
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(3))
        .operation_attempt_timeout(Duration::from_secs(10))
        .operation_timeout(Duration::from_secs(30))
        .build();
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(region.to_string()))
        .http_client(http)
        .timeout_config(timeouts)
        .load()
        .await
}

/// Private DNS names per service, remembered between passes.
#[derive(Debug, Default)]
pub struct ServiceNames {
    entries: HashMap<String, (Vec<String>, Instant)>,
}

/// Runs one pass for `source`.
pub async fn discover(
    client: &Client,
    source: &SourceConfig,
    names: &mut ServiceNames,
) -> Result<Snapshot, DiscoveryError> {
    let started = Instant::now();
    let endpoints = describe_endpoints(client, source).await?;

    let services: BTreeSet<&str> = endpoints.iter().map(|e| e.service.as_str()).collect();
    names.refresh(client, &services).await?;

    let eni_ids: Vec<String> = endpoints
        .iter()
        .filter(|e| e.is_available())
        .flat_map(|e| e.eni_ids.iter().cloned())
        .collect();
    let addresses = describe_enis(client, &eni_ids).await?;

    let endpoints = endpoints
        .into_iter()
        .map(|e| {
            let hostnames = names.get(&e.service, &source.region);
            let (mut ipv4, mut ipv6) = (Vec::new(), Vec::new());
            if e.is_available() {
                for id in &e.eni_ids {
                    if let Some((v4, v6)) = addresses.get(id) {
                        ipv4.extend(v4);
                        ipv6.extend(v6);
                    }
                }
            }
            ipv4.sort();
            ipv6.sort();
            Endpoint {
                id: e.id,
                service: e.service,
                vpc_id: e.vpc_id,
                state: e.state,
                hostnames,
                ipv4,
                ipv6,
                ip_address_type: e.ip_address_type,
                dns_entries: e.dns_entries,
            }
        })
        .collect();
    Ok(Snapshot::new(endpoints, started.elapsed()))
}

/// An endpoint as DescribeVpcEndpoints reports it.
struct RawEndpoint {
    id: String,
    service: String,
    vpc_id: String,
    state: String,
    eni_ids: Vec<String>,
    ip_address_type: String,
    dns_entries: Vec<DnsEntry>,
}

impl RawEndpoint {
    /// The SDK maps the API's `available` to `State::Unknown`, so compare the string.
    fn is_available(&self) -> bool {
        self.state.eq_ignore_ascii_case("available")
    }
}

/// The source's interface endpoints whose service matches its patterns, in any state.
async fn describe_endpoints(
    client: &Client,
    source: &SourceConfig,
) -> Result<Vec<RawEndpoint>, DiscoveryError> {
    let mut request = client
        .describe_vpc_endpoints()
        .filters(filter("vpc-endpoint-type", "Interface"));
    if let Some(vpc) = &source.vpc_id {
        request = request.filters(filter("vpc-id", vpc));
    }
    for (key, value) in &source.tags {
        request = request.filters(filter(&format!("tag:{key}"), value));
    }
    let mut pages = request.into_paginator().send();
    let mut out = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| classify("DescribeVpcEndpoints", e))?;
        for ep in page.vpc_endpoints() {
            let (Some(id), Some(service)) = (ep.vpc_endpoint_id(), ep.service_name()) else {
                continue;
            };
            // Filters are applied by EC2; matching services is ours (wildcards in filter
            // values are not documented for this API).
            if !service_matches(&source.services, service, &source.region) {
                continue;
            }
            out.push(RawEndpoint {
                id: id.to_string(),
                service: service.to_string(),
                vpc_id: ep.vpc_id().unwrap_or_default().to_string(),
                state: ep
                    .state()
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_default(),
                eni_ids: ep.network_interface_ids().to_vec(),
                ip_address_type: ep
                    .ip_address_type()
                    .map(|t| t.as_str().to_string())
                    .unwrap_or_else(|| "ipv4".to_string()),
                dns_entries: ep
                    .dns_entries()
                    .iter()
                    .filter_map(|d| {
                        Some(DnsEntry {
                            dns_name: d.dns_name()?.to_string(),
                            hosted_zone_id: d.hosted_zone_id()?.to_string(),
                        })
                    })
                    .collect(),
            });
        }
    }
    out.sort_by(|a, b| (&a.service, &a.id).cmp(&(&b.service, &b.id)));
    Ok(out)
}

impl ServiceNames {
    /// Asks DescribeVpcEndpointServices for the services not known (or known too long).
    async fn refresh(
        &mut self,
        client: &Client,
        services: &BTreeSet<&str>,
    ) -> Result<(), DiscoveryError> {
        let now = Instant::now();
        let wanted = self.wanted(services, now);
        if wanted.is_empty() {
            return Ok(());
        }
        match describe_services(client, &wanted).await {
            Ok(found) => self.store(&wanted, found, now),
            // One service the region does not know fails the whole call: ask one by one.
            Err(e) if e.code() == Some("InvalidServiceName") => {
                for service in wanted {
                    match describe_services(client, &[service]).await {
                        Ok(found) => self.store(&[service], found, now),
                        Err(e) if e.code() == Some("InvalidServiceName") => {
                            self.store(&[service], BTreeMap::new(), now)
                        }
                        Err(e) => return Err(e),
                    }
                }
            }
            Err(e) => return Err(e),
        }
        Ok(())
    }

    /// The services whose names are not known at `now`, or known for longer than the TTL.
    fn wanted<'a>(&self, services: &BTreeSet<&'a str>, now: Instant) -> Vec<&'a str> {
        services
            .iter()
            .copied()
            .filter(|s| {
                self.entries
                    .get(*s)
                    .is_none_or(|(_, at)| now.duration_since(*at) > SERVICE_NAMES_TTL)
            })
            .collect()
    }

    fn store(&mut self, wanted: &[&str], mut found: BTreeMap<String, Vec<String>>, now: Instant) {
        for service in wanted {
            let names = found.remove(*service).unwrap_or_default();
            self.entries.insert(service.to_string(), (names, now));
        }
    }

    /// The hostnames of `service`: its private DNS names, or `SHORT.REGION.<partition's
    /// domain>` (`amazonaws.com`, `amazonaws.com.cn`, ...) when the API gives none.
    fn get(&self, service: &str, region: &str) -> Vec<String> {
        match self.entries.get(service) {
            Some((names, _)) if !names.is_empty() => names.clone(),
            _ => vec![format!(
                "{}.{region}.{}",
                short_name(service, region).to_ascii_lowercase(),
                partition_domains(region)[0]
            )],
        }
    }
}

/// Private DNS names (wildcards included) of Interface-type service details.
async fn describe_services(
    client: &Client,
    services: &[&str],
) -> Result<BTreeMap<String, Vec<String>>, DiscoveryError> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut token = None;
    loop {
        let mut request = client
            .describe_vpc_endpoint_services()
            .set_next_token(token.take());
        for s in services {
            request = request.service_names(*s);
        }
        let page = request
            .send()
            .await
            .map_err(|e| classify("DescribeVpcEndpointServices", e))?;
        for detail in page.service_details() {
            let interface = detail.service_type().iter().any(|t| {
                t.service_type()
                    .is_some_and(|t| t.as_str().eq_ignore_ascii_case("interface"))
            });
            let Some(service) = detail.service_name().filter(|_| interface) else {
                continue;
            };
            let names = out.entry(service.to_string()).or_default();
            let listed = detail
                .private_dns_names()
                .iter()
                .filter_map(|d| d.private_dns_name());
            for name in listed.chain(detail.private_dns_name()) {
                let name = name.trim_end_matches('.').to_ascii_lowercase();
                if !name.is_empty() && !names.contains(&name) {
                    names.push(name);
                }
            }
        }
        match page.next_token() {
            Some(t) if !t.is_empty() => token = Some(t.to_string()),
            _ => return Ok(out),
        }
    }
}

/// IPv4 and IPv6 addresses of each ENI.
async fn describe_enis(
    client: &Client,
    ids: &[String],
) -> Result<HashMap<String, (Vec<Ipv4Addr>, Vec<Ipv6Addr>)>, DiscoveryError> {
    let mut out = HashMap::new();
    // A filter, not NetworkInterfaceIds: an id deleted meanwhile is simply absent instead of
    // failing the whole call.
    for batch in ids.chunks(ENI_BATCH) {
        let filter = Filter::builder()
            .name("network-interface-id")
            .set_values(Some(batch.to_vec()))
            .build();
        let mut pages = client
            .describe_network_interfaces()
            .filters(filter)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| classify("DescribeNetworkInterfaces", e))?;
            for eni in page.network_interfaces() {
                let Some(id) = eni.network_interface_id() else {
                    continue;
                };
                let v4 = eni
                    .private_ip_addresses()
                    .iter()
                    .filter_map(|a| a.private_ip_address()?.parse().ok())
                    .collect();
                let v6 = eni
                    .ipv6_addresses()
                    .iter()
                    .filter_map(|a| a.ipv6_address()?.parse().ok())
                    .collect();
                out.insert(id.to_string(), (v4, v6));
            }
        }
    }
    Ok(out)
}

fn filter(name: &str, value: &str) -> Filter {
    Filter::builder().name(name).values(value).build()
}

/// Sorts an SDK error into what an operator needs to know.
pub(super) fn classify<E, R>(operation: &'static str, err: SdkError<E, R>) -> DiscoveryError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let code = err.code().map(str::to_string);
    // Only a service error has a message of its own; for the rest the chain of causes says it.
    let message = match (&err, err.message()) {
        (SdkError::ServiceError(_), Some(m)) => m.to_string(),
        _ => error_chain(&err),
    };
    let unreachable = matches!(
        err,
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_)
    );
    DiscoveryError::from_parts(operation, code, message, unreachable)
}

/// "outer: inner: root cause", skipping links that repeat what the previous one said.
fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(err);
    while let Some(e) = next {
        let text = e.to_string();
        if !parts.last().is_some_and(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = e.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_names_are_asked_again_only_after_an_hour() {
        let mut names = ServiceNames::default();
        let services: BTreeSet<&str> = ["bedrock", "bedrock-runtime"].into();
        let at = Instant::now();
        assert_eq!(names.wanted(&services, at), ["bedrock", "bedrock-runtime"]);
        names.store(&["bedrock"], BTreeMap::new(), at);
        let later = |secs| at + Duration::from_secs(secs);
        assert_eq!(names.wanted(&services, later(60)), ["bedrock-runtime"]);
        assert_eq!(names.wanted(&services, later(3600)), ["bedrock-runtime"]);
        assert_eq!(
            names.wanted(&services, later(3601)),
            ["bedrock", "bedrock-runtime"]
        );
    }

    #[test]
    fn only_an_available_endpoint_is_served() {
        let endpoint = |state: &str| RawEndpoint {
            id: "vpce-1".into(),
            service: "com.amazonaws.us-east-1.bedrock".into(),
            vpc_id: "vpc-1".into(),
            state: state.into(),
            eni_ids: vec!["eni-1".into()],
            ip_address_type: "ipv4".into(),
            dns_entries: vec![],
        };
        assert!(endpoint("available").is_available());
        assert!(
            endpoint("Available").is_available(),
            "the API's case varies"
        );
        for state in [
            "pendingAcceptance",
            "pending",
            "deleting",
            "failed",
            "rejected",
        ] {
            assert!(!endpoint(state).is_available(), "{state}");
        }
    }
}
