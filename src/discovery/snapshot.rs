//! What one discovery pass found: the endpoints, and the names they answer for. Always built
//! (the `aws` feature adds only the EC2 client that fills it).

use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use serde::Serialize;

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
            match out.iter_mut().find(|r| &r.name == name) {
                Some(record) => {
                    record.ipv4.extend(&ep.ipv4);
                    record.ipv6.extend(&ep.ipv6);
                }
                None => out.push(NameRecord {
                    name: name.clone(),
                    ipv4: ep.ipv4.clone(),
                    ipv6: ep.ipv6.clone(),
                }),
            }
        }
    }
    for record in &mut out {
        record.ipv4.sort();
        record.ipv4.dedup();
        record.ipv6.sort();
        record.ipv6.dedup();
    }
    out
}
