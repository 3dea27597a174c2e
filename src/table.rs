//! The record table in force: built from the static overrides and every discovery source's
//! last good snapshot, and swapped in whole whenever either changes. Queries read it without
//! a lock and never see a half-built table.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use arc_swap::ArcSwap;
use tracing::debug;

use crate::config::{StaticOverride, parse_override_name};
use crate::discovery::SourceStatus;
use crate::metrics::Metrics;
use crate::records::{Addresses, RecordTable};

/// The current table and what it is built from.
pub struct Tables {
    current: ArcSwap<RecordTable>,
    statics: Mutex<Vec<StaticOverride>>,
    sources: Vec<Arc<SourceStatus>>,
    metrics: Arc<Metrics>,
}

impl Tables {
    pub fn new(
        statics: Vec<StaticOverride>,
        sources: Vec<Arc<SourceStatus>>,
        metrics: Arc<Metrics>,
    ) -> Self {
        let tables = Self {
            current: ArcSwap::from_pointee(RecordTable::default()),
            statics: Mutex::new(statics),
            sources,
            metrics,
        };
        tables.rebuild();
        tables
    }

    /// The table queries are answered from.
    pub fn current(&self) -> arc_swap::Guard<Arc<RecordTable>> {
        self.current.load()
    }

    pub fn sources(&self) -> &[Arc<SourceStatus>] {
        &self.sources
    }

    /// Replaces the static overrides (a reload) and rebuilds.
    pub fn set_statics(&self, statics: Vec<StaticOverride>) {
        *self.statics.lock().expect("statics lock") = statics;
        self.rebuild();
    }

    /// Whether every source has a fresh snapshot.
    pub fn all_sources_fresh(&self) -> bool {
        let now = Instant::now();
        self.sources.iter().all(|s| s.is_fresh(now))
    }

    /// Builds a new table and swaps it in. Static overrides win over discovered names.
    pub fn rebuild(&self) {
        let now = Instant::now();
        let mut table = RecordTable::default();
        for source in &self.sources {
            table.add_scope(&source.config.region, &source.config.services);
            for (name, ipv4, ipv6) in source.records(now) {
                match parse_override_name(&name) {
                    Ok(name) => table.insert(&name, Addresses { ipv4, ipv6 }),
                    Err(e) => {
                        debug!(source = %source.label, error = %e, "skipping a private DNS name")
                    }
                }
            }
        }
        for st in self.statics.lock().expect("statics lock").iter() {
            table.insert(
                &st.name,
                Addresses {
                    ipv4: st.ipv4.clone(),
                    ipv6: st.ipv6.clone(),
                },
            );
        }
        self.metrics.records.set(table.len() as i64);
        self.current.store(Arc::new(table));
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;
    use std::time::Duration;

    use hickory_proto::rr::{LowerName, Name};

    use super::*;
    use crate::config::SourceConfig;
    use crate::discovery::{Endpoint, Snapshot};
    use crate::records::Lookup;

    fn source(max_stale: Duration) -> Arc<SourceStatus> {
        Arc::new(SourceStatus::new(SourceConfig {
            region: "us-east-1".into(),
            vpc_id: Some("vpc-1".into()),
            tags: Default::default(),
            services: vec!["s3".into(), "bedrock*".into()],
            endpoint_url: None,
            refresh: Duration::from_secs(1),
            max_stale,
        }))
    }

    fn endpoint(service: &str, names: &[&str], ip: [u8; 4]) -> Endpoint {
        Endpoint {
            id: format!("vpce-{service}"),
            service: format!("com.amazonaws.us-east-1.{service}"),
            vpc_id: "vpc-1".into(),
            state: "available".into(),
            hostnames: names.iter().map(|n| n.to_string()).collect(),
            ipv4: vec![Ipv4Addr::from(ip)],
            ipv6: vec![],
            ip_address_type: "ipv4".into(),
            dns_entries: vec![],
        }
    }

    fn lookup(tables: &Tables, name: &str) -> Lookup {
        tables
            .current()
            .lookup(&LowerName::new(&Name::from_ascii(name).unwrap()))
    }

    fn ip(l: &Lookup) -> Option<Ipv4Addr> {
        match l {
            Lookup::Records { addrs, .. } => addrs.ipv4.first().copied(),
            _ => None,
        }
    }

    #[test]
    fn discovered_names_wildcards_and_ever_served_names() {
        let src = source(Duration::from_secs(3600));
        let tables = Tables::new(vec![], vec![src.clone()], Arc::new(Metrics::new()));
        assert_eq!(
            lookup(&tables, "bedrock-runtime.us-east-1.amazonaws.com."),
            Lookup::Unavailable
        );
        assert!(!tables.all_sources_fresh());

        src.record_success(Snapshot::new(
            vec![
                endpoint(
                    "s3",
                    &["s3.us-east-1.amazonaws.com", "*.s3.us-east-1.amazonaws.com"],
                    [10, 0, 0, 1],
                ),
                endpoint(
                    "bedrock-mantle",
                    &["bedrock-mantle.us-east-1.api.aws"],
                    [10, 0, 0, 2],
                ),
            ],
            Duration::ZERO,
        ));
        tables.rebuild();
        assert!(tables.all_sources_fresh());
        assert_eq!(
            ip(&lookup(&tables, "bucket.s3.us-east-1.amazonaws.com.")),
            Some(Ipv4Addr::new(10, 0, 0, 1))
        );
        assert_eq!(
            ip(&lookup(&tables, "s3.us-east-1.amazonaws.com.")),
            Some(Ipv4Addr::new(10, 0, 0, 1))
        );
        assert_eq!(
            ip(&lookup(&tables, "bedrock-mantle.us-east-1.api.aws.")),
            Some(Ipv4Addr::new(10, 0, 0, 2))
        );

        // The api.aws endpoint goes away: its name stays ours, with no address (fail closed).
        src.record_success(Snapshot::new(
            vec![endpoint(
                "s3",
                &["s3.us-east-1.amazonaws.com"],
                [10, 0, 0, 1],
            )],
            Duration::ZERO,
        ));
        tables.rebuild();
        match lookup(&tables, "bedrock-mantle.us-east-1.api.aws.") {
            Lookup::Records { addrs, .. } => assert!(addrs.is_empty()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn static_overrides_win_and_stale_sources_serve_nothing() {
        let src = source(Duration::from_millis(1));
        let statics = vec![StaticOverride {
            name: parse_override_name("bedrock.us-east-1.amazonaws.com").unwrap(),
            ipv4: vec![Ipv4Addr::new(10, 9, 9, 9)],
            ipv6: vec![],
        }];
        let tables = Tables::new(statics, vec![src.clone()], Arc::new(Metrics::new()));
        src.record_success(Snapshot::new(
            vec![
                endpoint(
                    "bedrock",
                    &["bedrock.us-east-1.amazonaws.com"],
                    [10, 0, 0, 3],
                ),
                endpoint(
                    "bedrock-runtime",
                    &["bedrock-runtime.us-east-1.amazonaws.com"],
                    [10, 0, 0, 4],
                ),
            ],
            Duration::ZERO,
        ));
        std::thread::sleep(Duration::from_millis(5));
        tables.rebuild();
        assert!(!tables.all_sources_fresh());
        assert_eq!(
            ip(&lookup(&tables, "bedrock.us-east-1.amazonaws.com.")),
            Some(Ipv4Addr::new(10, 9, 9, 9)),
            "static wins"
        );
        match lookup(&tables, "bedrock-runtime.us-east-1.amazonaws.com.") {
            Lookup::Records { addrs, .. } => assert!(addrs.is_empty(), "stale: no address"),
            other => panic!("{other:?}"),
        }
    }
}
