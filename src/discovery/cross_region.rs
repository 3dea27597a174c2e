//! Whether the app region now offers a served service over native cross-region PrivateLink
//! (an interface endpoint in the app VPC with `service_region`), for `doctor` and `discover`:
//! DescribeVpcEndpointServices in the app region, filtered by the service's own region. The
//! call is the one discovery already makes (and the IAM policy allows), with the task's own
//! credentials: what a region offers does not depend on the account that asks.

use std::collections::BTreeSet;
use std::net::SocketAddr;

use aws_sdk_ec2::Client;
use aws_sdk_ec2::error::ProvideErrorMetadata;

use super::ec2::{classify, sdk_config};
use super::{DiscoveryError, UpstreamDns};

/// What the app region said of one service.
#[derive(Debug)]
pub struct Offer {
    /// The full service name (`com.amazonaws.us-east-1.bedrock-runtime`).
    pub service: String,
    /// The region the service (and today's endpoint) lives in.
    pub service_region: String,
    pub app_region: String,
    pub offered: Result<bool, DiscoveryError>,
}

impl Offer {
    /// One line for an operator: the answer and what to do about it.
    pub fn advice(&self) -> String {
        let (service, from, here) = (&self.service, &self.service_region, &self.app_region);
        match &self.offered {
            Ok(true) => format!(
                "{service} is offered in {here} over cross-region PrivateLink: it can move to an endpoint in the app VPC (interconnect services[\"...\"].connectivity = \"cross_region_endpoint\"; README: \"Moving a service to cross-region PrivateLink\")"
            ),
            Ok(false) => format!(
                "{service} is not offered in {here} from {from} over cross-region PrivateLink: keep peering and the resolver"
            ),
            Err(e) => format!("{service}: cannot tell whether {here} offers it from {from}: {e}"),
        }
    }
}

/// Asks `app_region` about each `(service, service_region)` once, in order, leaving out the
/// services of the app region itself; its EC2 API's name is resolved through `upstreams`, and
/// `AWS_ENDPOINT_URL_EC2` applies as usual.
pub async fn offers(
    app_region: &str,
    services: &[(String, String)],
    upstreams: &[SocketAddr],
) -> Vec<Offer> {
    let services: BTreeSet<&(String, String)> =
        services.iter().filter(|(_, r)| r != app_region).collect();
    let client = match UpstreamDns::new(upstreams) {
        Ok(dns) => Some(Client::new(&sdk_config(app_region, &dns).await)),
        Err(_) => None,
    };
    let mut out = Vec::new();
    for (service, service_region) in services {
        let offered = match &client {
            Some(c) => offered(c, service, service_region).await,
            None => Err(DiscoveryError::from_parts(
                "resolver",
                None,
                "the upstream servers cannot be used".into(),
                false,
            )),
        };
        out.push(Offer {
            service: service.clone(),
            service_region: service_region.clone(),
            app_region: app_region.to_string(),
            offered,
        });
    }
    out
}

async fn offered(client: &Client, service: &str, region: &str) -> Result<bool, DiscoveryError> {
    let reply = client
        .describe_vpc_endpoint_services()
        .service_names(service)
        .service_regions(region)
        .send()
        .await;
    match reply {
        Ok(page) => Ok(page.service_details().iter().any(|d| {
            d.service_name() == Some(service)
                && d.service_region()
                    .is_some_and(|r| r.eq_ignore_ascii_case(region))
        })),
        // The region does not know that name from that region: not offered (yet).
        Err(e) if e.code() == Some("InvalidServiceName") => Ok(false),
        Err(e) => Err(classify("DescribeVpcEndpointServices", e)),
    }
}
