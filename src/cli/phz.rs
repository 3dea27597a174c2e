//! `phz plan`: what PHZ mode (the Terraform module's `dns_mode = "phz"`) would create for the
//! current configuration: one private hosted zone per hostname, with alias records to the
//! endpoint's regional DNS name (A, and AAAA for a dual-stack endpoint), or plain records for
//! static overrides. An operator can compare it with the resolver before switching modes.

use serde::Serialize;

use super::args::{Output, SourceArgs};
use super::output::{print_json, print_table};
use super::{Failure, snapshots};
use crate::config::Config;
use crate::discovery::{DnsEntry, Endpoint, Snapshot};

pub fn run(args: SourceArgs) -> Result<(), Failure> {
    let config = args.load()?;
    let mut records = plan_statics(&config);
    if !config.sources.is_empty() {
        for (_, snapshot) in snapshots(&config)? {
            records.extend(plan_snapshot(&snapshot));
        }
    }
    match args.output {
        Output::Json => print_json(&records)?,
        Output::Table => {
            let cells = records.iter().map(|r| {
                let target = match (&r.alias_target, &r.alias_zone_id) {
                    (Some(t), Some(z)) => format!("alias {t} ({z})"),
                    _ => r.values.join(", "),
                };
                [
                    r.zone.clone(),
                    r.name.clone(),
                    r.r#type.to_string(),
                    target,
                    r.origin.clone(),
                    r.state.clone(),
                ]
            });
            print_table(
                ["ZONE", "RECORD", "TYPE", "TARGET", "ORIGIN", "STATE"],
                cells,
            );
        }
    }
    Ok(())
}

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
                let target = regional_dns_entry(ep);
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

/// The endpoint's regional DNS name: the entry whose first label is `<endpoint id>-<suffix>`.
/// The others are zonal (`<id>-<suffix>-<zone>`: one zone only) or the service's private DNS
/// name (which answers only inside the endpoint's VPC); the API lists them in no set order.
/// The interconnect module's PHZ records pick the same entry.
pub fn regional_dns_entry(ep: &Endpoint) -> Option<&DnsEntry> {
    let prefix = format!("{}-", ep.id);
    ep.dns_entries.iter().find(|d| {
        let first = d.dns_name.split('.').next().unwrap_or_default();
        first.strip_prefix(&prefix).is_some_and(|suffix| {
            !suffix.is_empty() && suffix.bytes().all(|b| b.is_ascii_alphanumeric())
        })
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, zone: &str) -> DnsEntry {
        DnsEntry {
            dns_name: name.into(),
            hosted_zone_id: zone.into(),
        }
    }

    fn endpoint(entries: Vec<DnsEntry>) -> Endpoint {
        Endpoint {
            id: "vpce-0a1b2c3d4e5f60718".into(),
            service: "com.amazonaws.ap-southeast-2.bedrock-runtime".into(),
            vpc_id: "vpc-0123".into(),
            state: "available".into(),
            hostnames: vec!["bedrock-runtime.ap-southeast-2.amazonaws.com".into()],
            ipv4: vec![],
            ipv6: vec![],
            ip_address_type: "ipv4".into(),
            dns_entries: entries,
        }
    }

    // DescribeVpcEndpoints lists the private DNS name, zonal names and the regional name in
    // no set order (these are the shapes it returns); the alias must take the regional one.
    #[test]
    fn the_regional_name_is_chosen_wherever_it_stands() {
        let entries = vec![
            entry("bedrock-runtime.ap-southeast-2.amazonaws.com", "ZPRIVATE"),
            entry(
                "vpce-0a1b2c3d4e5f60718-abcd1234-ap-southeast-2a.bedrock-runtime.ap-southeast-2.vpce.amazonaws.com",
                "ZZONAL",
            ),
            entry(
                "vpce-0a1b2c3d4e5f607189-zzzz9999.bedrock-runtime.ap-southeast-2.vpce.amazonaws.com",
                "ZOTHER",
            ),
            entry(
                "vpce-0a1b2c3d4e5f60718-abcd1234.bedrock-runtime.ap-southeast-2.vpce.amazonaws.com",
                "ZREGIONAL",
            ),
        ];
        for rotation in 0..entries.len() {
            let mut e = entries.clone();
            e.rotate_left(rotation);
            let ep = endpoint(e);
            let chosen = regional_dns_entry(&ep).expect("a regional entry");
            assert_eq!(chosen.hosted_zone_id, "ZREGIONAL", "rotation {rotation}");
            let plan = plan_snapshot(&Snapshot::new(vec![ep], Default::default()));
            assert_eq!(plan[0].alias_zone_id.as_deref(), Some("ZREGIONAL"));
        }
    }

    #[test]
    fn no_regional_name_means_no_alias_target() {
        let ep = endpoint(vec![entry(
            "bedrock-runtime.ap-southeast-2.amazonaws.com",
            "ZPRIVATE",
        )]);
        assert!(regional_dns_entry(&ep).is_none());
        let plan = plan_snapshot(&Snapshot::new(vec![ep], Default::default()));
        assert_eq!(plan[0].alias_target, None);
    }
}
