//! The record table in force: built from the static overrides and every discovery source's
//! last good snapshot, and swapped in whole whenever either changes. Queries read it without
//! a lock and never see a half-built table.
//!
//! One writer builds and publishes it ([`Tables::run_writer`]). Discovery sources and reloads
//! only signal that something changed; each build reads everything afresh, so the table
//! published last is always built from the newest inputs, and no older build can overwrite a
//! newer one.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use arc_swap::ArcSwap;
use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;
use tracing::debug;

use crate::config::{StaticOverride, parse_override_name};
use crate::discovery::SourceStatus;
use crate::discovery::pattern::Scope;
use crate::metrics::Metrics;
use crate::records::{Addresses, RecordTable};

/// The current table and what it is built from.
pub struct Tables {
    current: ArcSwap<RecordTable>,
    statics: Mutex<Vec<StaticOverride>>,
    sources: Vec<Arc<SourceStatus>>,
    metrics: Arc<Metrics>,
    /// Wakes the writer: something the table is built from changed.
    changed: Arc<Notify>,
    /// Changes signalled so far (a ticket per signal).
    requested: AtomicU64,
    /// The newest ticket whose change is in the published table.
    published: watch::Sender<u64>,
}

impl Tables {
    /// Tables with a first table already built from `statics` (and the sources' state).
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
            changed: Arc::new(Notify::new()),
            requested: AtomicU64::new(0),
            published: watch::Sender::new(0),
        };
        tables.build_and_publish();
        tables
    }

    /// The table queries are answered from.
    pub fn current(&self) -> arc_swap::Guard<Arc<RecordTable>> {
        self.current.load()
    }

    pub fn sources(&self) -> &[Arc<SourceStatus>] {
        &self.sources
    }

    /// What discovery sources signal through when their state changes.
    pub fn change_signal(&self) -> Arc<Notify> {
        self.changed.clone()
    }

    /// Signals the writer; returns the change's ticket (see [`Self::wait_published`]).
    pub fn request_rebuild(&self) -> u64 {
        let ticket = self.requested.fetch_add(1, Ordering::SeqCst) + 1;
        self.changed.notify_one();
        ticket
    }

    /// Replaces the static overrides (a reload); returns the change's ticket.
    pub fn set_statics(&self, statics: Vec<StaticOverride>) -> u64 {
        *self.statics.lock().expect("statics lock") = statics;
        self.request_rebuild()
    }

    /// Waits until the published table holds the change with `ticket` (or a later one).
    pub async fn wait_published(&self, ticket: u64) {
        let mut published = self.published.subscribe();
        let _ = published.wait_for(|&done| done >= ticket).await;
    }

    /// Whether every source has a fresh snapshot.
    pub fn all_sources_fresh(&self) -> bool {
        let now = Instant::now();
        self.sources.iter().all(|s| s.is_fresh(now))
    }

    /// The one writer: rebuilds on every signal (signals that arrive during a build make one
    /// more build) until `shutdown`.
    pub async fn run_writer(self: Arc<Self>, shutdown: CancellationToken) {
        loop {
            tokio::select! {
                _ = self.changed.notified() => {}
                _ = shutdown.cancelled() => return,
            }
            // Taken before reading the inputs: every change up to this ticket is in them.
            let ticket = self.requested.load(Ordering::SeqCst);
            self.build_and_publish();
            self.published.send_if_modified(|done| {
                let newer = ticket > *done;
                *done = (*done).max(ticket);
                newer
            });
        }
    }

    /// Builds a new table and swaps it in. Static overrides win over discovered names.
    fn build_and_publish(&self) {
        let now = Instant::now();
        let mut table = RecordTable::default();
        for source in &self.sources {
            let config = &source.config;
            table.add_scope(Scope::new(
                &config.region,
                &config.services,
                &config.domains,
            ));
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
    use tokio_util::sync::CancellationToken;

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
            domains: vec![],
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
        tables.build_and_publish();
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
        tables.build_and_publish();
        match lookup(&tables, "bedrock-mantle.us-east-1.api.aws.") {
            Lookup::Records { addrs, .. } => assert!(addrs.is_empty()),
            other => panic!("{other:?}"),
        }
    }

    // Reloads that race each other (and, in production, discovery passes): once things are
    // quiet, the published table must hold the statics stored last. With builds by whoever
    // changed something, an older build can be stored after a newer one and stay.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn the_table_published_last_holds_the_newest_statics() {
        let tables = Arc::new(Tables::new(vec![], vec![], Arc::new(Metrics::new())));
        let shutdown = CancellationToken::new();
        let writer = tokio::spawn(tables.clone().run_writer(shutdown.clone()));
        // Version `v` of the statics: 200 names (a build that takes a while), the first one's
        // address saying `v`.
        let statics = |v: u32| -> Vec<StaticOverride> {
            (0..200)
                .map(|i| StaticOverride {
                    name: parse_override_name(&format!("n{i}.example.test")).unwrap(),
                    ipv4: vec![Ipv4Addr::from(v)],
                    ipv6: vec![],
                })
                .collect()
        };
        let mut stale = 0;
        for round in 0..300u32 {
            let barrier = Arc::new(std::sync::Barrier::new(3));
            let reloads: Vec<_> = (0..3u32)
                .map(|t| {
                    let (tables, barrier, statics) = (tables.clone(), barrier.clone(), statics);
                    std::thread::spawn(move || {
                        let next = statics(round * 3 + t + 1);
                        barrier.wait();
                        tables.set_statics(next)
                    })
                })
                .collect();
            let last_ticket = reloads
                .into_iter()
                .map(|r| r.join().unwrap())
                .max()
                .unwrap();
            tables.wait_published(last_ticket).await;
            let stored = tables.statics.lock().unwrap()[0].ipv4[0];
            if ip(&lookup(&tables, "n0.example.test.")) != Some(stored) {
                stale += 1;
            }
        }
        shutdown.cancel();
        writer.await.unwrap();
        assert_eq!(
            stale, 0,
            "rounds that ended on a table older than the statics"
        );
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
        tables.build_and_publish();
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
