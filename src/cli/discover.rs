//! `discover`: one discovery pass over every `[[source]]`, printed as a table or as JSON rows
//! (the rows' JSON shape is part of the product's contract); `--probe` adds whether each
//! address accepts a connection, as the resolver's health checks would see it.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use serde::Serialize;

use super::args::{DiscoverArgs, Output};
use super::output::{join, print_json, print_table};
use super::{Failure, runtime, snapshots};
use crate::config::HealthSettings;
use crate::discovery::{self, Snapshot};
use crate::health::Prober;

/// One output row: a hostname of one endpoint.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Row {
    pub name: String,
    pub service: String,
    pub endpoint_id: String,
    pub vpc_id: String,
    pub region: String,
    pub state: String,
    pub ipv4: Vec<Ipv4Addr>,
    pub ipv6: Vec<Ipv6Addr>,
}

/// One row per hostname and endpoint of `snapshot`.
pub fn rows(snapshot: &Snapshot, region: &str) -> Vec<Row> {
    let mut rows = Vec::new();
    for ep in &snapshot.endpoints {
        for name in &ep.hostnames {
            rows.push(Row {
                name: name.clone(),
                service: ep.service.clone(),
                endpoint_id: ep.id.clone(),
                vpc_id: ep.vpc_id.clone(),
                region: region.to_string(),
                state: ep.state.clone(),
                ipv4: ep.ipv4.clone(),
                ipv6: ep.ipv6.clone(),
            });
        }
    }
    rows
}

/// One address probed by `discover --probe`: `"up"`, or `"down: why"`.
type Probed = BTreeMap<String, String>;

pub fn run(args: DiscoverArgs) -> Result<(), Failure> {
    let source = &args.source;
    let config = source.load()?;
    if config.sources.is_empty() {
        let m = format!("{}: no [[source]] to discover", source.config.display());
        return Err(Failure::config(m));
    }
    let mut all: Vec<Row> = Vec::new();
    // The probe port of each row's source (`discover_once` keeps the sources' order).
    let mut ports: Vec<Option<u16>> = Vec::new();
    for ((region, snapshot), source) in snapshots(&config)?.iter().zip(&config.sources) {
        for row in rows(snapshot, region) {
            all.push(row);
            ports.push(source.health_check);
        }
    }
    if let Some(app_region) = &args.app_region.region {
        let services: Vec<(String, String)> = all
            .iter()
            .map(|r| (r.service.clone(), r.region.clone()))
            .collect();
        let offers = runtime(false)?.block_on(discovery::cross_region::offers(
            app_region,
            &services,
            &config.upstreams,
        ));
        // On stderr: stdout keeps the rows' contract.
        for offer in &offers {
            eprintln!("cross-region privatelink: {}", offer.advice());
        }
    }
    let health = if args.probe {
        Some(probe_rows(&all, &ports, config.health)?)
    } else {
        None
    };
    match source.output {
        Output::Json => match &health {
            None => print_json(&all),
            Some(health) => {
                let probed: Vec<serde_json::Value> = all
                    .iter()
                    .zip(health)
                    .map(|(row, h)| {
                        let mut v = serde_json::to_value(row).expect("a row is plain data");
                        v["health"] = serde_json::to_value(h).expect("plain data");
                        v
                    })
                    .collect();
                print_json(&probed)
            }
        },
        Output::Table => {
            print_rows(&all, health.as_deref());
            Ok(())
        }
    }
}

fn print_rows(rows: &[Row], health: Option<&[Option<Probed>]>) {
    let base = |r: &Row| {
        [
            r.name.clone(),
            discovery::services::short_name(&r.service, &r.region).to_string(),
            r.endpoint_id.clone(),
            r.state.clone(),
            join(&r.ipv4),
            join(&r.ipv6),
        ]
    };
    const HEADER: [&str; 6] = ["NAME", "SERVICE", "ENDPOINT", "STATE", "IPV4", "IPV6"];
    match health {
        None => print_table(HEADER, rows.iter().map(base)),
        Some(health) => {
            let [a, b, c, d, e, f] = HEADER;
            let cells = rows.iter().zip(health).map(|(r, h)| {
                let [a, b, c, d, e, f] = base(r);
                [a, b, c, d, e, f, health_cell(h)]
            });
            print_table([a, b, c, d, e, f, "HEALTH"], cells);
        }
    }
}

/// Probes every address of every row whose source has a health check (each address and
/// port once, at most `max_in_flight` at a time).
fn probe_rows(
    rows: &[Row],
    ports: &[Option<u16>],
    settings: HealthSettings,
) -> Result<Vec<Option<Probed>>, Failure> {
    let targets: BTreeSet<SocketAddr> = rows
        .iter()
        .zip(ports)
        .filter_map(|(r, port)| Some(targets_of(r, (*port)?)))
        .flatten()
        .collect();
    let prober = Prober::new(settings.max_in_flight, settings.timeout);
    let results = runtime(false)?.block_on(prober.probe_all(targets));
    Ok(rows
        .iter()
        .zip(ports)
        .map(|(r, port)| {
            let probed = targets_of(r, (*port)?)
                .map(|target| {
                    let state = match &results[&target] {
                        Ok(()) => "up".to_string(),
                        Err(e) => format!("down: {e}"),
                    };
                    (target.to_string(), state)
                })
                .collect();
            Some(probed)
        })
        .collect())
}

/// A row's addresses on its source's probe port.
fn targets_of(r: &Row, port: u16) -> impl Iterator<Item = SocketAddr> + '_ {
    let v4 = r.ipv4.iter().map(|&a| IpAddr::from(a));
    let v6 = r.ipv6.iter().map(|&a| IpAddr::from(a));
    v4.chain(v6).map(move |ip| SocketAddr::new(ip, port))
}

fn health_cell(probed: &Option<Probed>) -> String {
    let Some(probed) = probed else {
        return "not checked".into();
    };
    let down: Vec<&str> = probed
        .iter()
        .filter(|(_, state)| *state != "up")
        .map(|(target, _)| target.as_str())
        .collect();
    if down.is_empty() {
        format!("{} up", probed.len())
    } else {
        format!(
            "{}/{} up; down: {}",
            probed.len() - down.len(),
            probed.len(),
            down.join(", ")
        )
    }
}
