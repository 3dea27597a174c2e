//! `phz plan`: what PHZ mode (the Terraform module's `dns_mode = "phz"`) would create for the
//! current configuration: one private hosted zone per hostname, with alias records to the
//! endpoint's regional DNS name (A, and AAAA for a dual-stack endpoint), or plain records for
//! static overrides. An operator can compare it with the resolver before switching modes.

use serde::Serialize;

use crate::config::Config;
use crate::discovery::{Endpoint, Snapshot};

/// One record PHZ mode would hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedRecord {
    /// The private hosted zone (the hostname, without a leading `*.`).
    pub zone: String,
    /// The record's name (the hostname itself; `*.zone` for a wildcard).
    pub name: String,
    /// `A` or `AAAA`.
    pub r#type: &'static str,
    /// Alias target for a discovered endpoint.
    pub alias_target: Option<String>,
    pub alias_zone_id: Option<String>,
    /// Fixed addresses for a static override.
    pub values: Vec<String>,
    /// Where it comes from: an endpoint id, or `static`.
    pub origin: String,
    /// The endpoint's state (`static` for static overrides).
    pub state: String,
}

fn zone_of(hostname: &str) -> String {
    hostname.strip_prefix("*.").unwrap_or(hostname).to_string()
}

/// Records for the endpoints of one discovery snapshot.
pub fn plan_snapshot(snapshot: &Snapshot) -> Vec<PlannedRecord> {
    let mut out = Vec::new();
    for ep in &snapshot.endpoints {
        for name in &ep.hostnames {
            for rtype in types_of(ep) {
                let target = ep.dns_entries.first();
                out.push(PlannedRecord {
                    zone: zone_of(name),
                    name: name.clone(),
                    r#type: rtype,
                    alias_target: target.map(|t| t.dns_name.clone()),
                    alias_zone_id: target.map(|t| t.hosted_zone_id.clone()),
                    values: Vec::new(),
                    origin: ep.id.clone(),
                    state: ep.state.clone(),
                });
            }
        }
    }
    out
}

/// A for every endpoint; AAAA too when it is dual-stack (or IPv6-only).
fn types_of(ep: &Endpoint) -> Vec<&'static str> {
    let t = ep.ip_address_type.to_ascii_lowercase();
    match t.as_str() {
        "dualstack" => vec!["A", "AAAA"],
        "ipv6" => vec!["AAAA"],
        _ => vec!["A"],
    }
}

/// Records for the static overrides of `config`.
pub fn plan_statics(config: &Config) -> Vec<PlannedRecord> {
    let mut out = Vec::new();
    for st in &config.statics {
        let name = st.name.to_string().trim_end_matches('.').to_string();
        let sets = [
            (
                "A",
                st.ipv4.iter().map(ToString::to_string).collect::<Vec<_>>(),
            ),
            ("AAAA", st.ipv6.iter().map(ToString::to_string).collect()),
        ];
        for (rtype, values) in sets {
            if values.is_empty() {
                continue;
            }
            out.push(PlannedRecord {
                zone: zone_of(&name),
                name: name.clone(),
                r#type: rtype,
                alias_target: None,
                alias_zone_id: None,
                values,
                origin: "static".into(),
                state: "static".into(),
            });
        }
    }
    out
}
