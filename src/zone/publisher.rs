//! The record table in force: built from the static overrides and every source's [`Feed`]
//! (a discovery source's last good snapshot and its scope), and swapped in whole whenever
//! either changes. Queries read it without a lock and never see a half-built table.
//!
//! One writer builds and publishes it ([`TablePublisher::run_writer`]). Sources and reloads
//! only signal that something changed; each build reads everything afresh, so the table
//! published last is always built from the newest inputs, and no older build can overwrite a
//! newer one.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use arc_swap::ArcSwap;
use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;
use tracing::debug;

use hickory_proto::rr::Name;

use crate::config::{HealthSettings, StaticOverride, parse_override_name};
use crate::health::Board;
use crate::metrics::Metrics;
use crate::sync::lock;
use crate::zone::scope::Scope;
use crate::zone::table::{Addresses, NameRecord, RecordTable};

/// What a discovery source gives the table (the source implements it; the zone never looks
/// inside a source).
pub trait Feed: Send + Sync {
    /// A short name for logs.
    fn label(&self) -> &str;
    /// What the source claims in DNS besides the names it has found.
    fn scope(&self) -> Scope;
    /// The names to serve at `now`, each with its addresses (none: in scope, nothing usable).
    fn records(&self, now: Instant) -> Vec<NameRecord>;
    /// Whether the source's last good pass is recent enough to serve.
    fn is_fresh(&self, now: Instant) -> bool;
    /// The port its names' addresses are probed on (`None`: not probed).
    fn health_check(&self) -> Option<u16>;
}

/// The record table in force, what it is built from, and its one writer.
pub struct TablePublisher {
    current: ArcSwap<RecordTable>,
    statics: Mutex<Vec<StaticOverride>>,
    feeds: Vec<Arc<dyn Feed>>,
    /// Which probed addresses are down (left out of the table's answers).
    health: Arc<Board>,
    metrics: Arc<Metrics>,
    /// Wakes the writer: something the table is built from changed.
    changed: Arc<Notify>,
    /// Changes signalled so far (a ticket per signal).
    requested: AtomicU64,
    /// The newest ticket whose change is in the published table.
    published: watch::Sender<u64>,
}

impl TablePublisher {
    /// A publisher with a first table already built from `statics` and the feeds; addresses
    /// with a health check are probed as `health` says (see [`Self::health`]).
    pub fn new(
        statics: Vec<StaticOverride>,
        feeds: Vec<Arc<dyn Feed>>,
        health: HealthSettings,
        metrics: Arc<Metrics>,
    ) -> Self {
        let changed = Arc::new(Notify::new());
        let tables = Self {
            current: ArcSwap::from_pointee(RecordTable::default()),
            statics: Mutex::new(statics),
            feeds,
            health: Arc::new(Board::new(health, changed.clone(), metrics.clone())),
            metrics,
            changed,
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

    /// The probed addresses: [`crate::health::run`] probes them, and a change of state
    /// rebuilds the table.
    pub fn health(&self) -> Arc<Board> {
        self.health.clone()
    }

    /// What sources signal through when their state changes.
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
        *lock(&self.statics) = statics;
        self.request_rebuild()
    }

    /// Waits until the published table holds the change with `ticket` (or a later one).
    pub async fn wait_published(&self, ticket: u64) {
        let mut published = self.published.subscribe();
        let _ = published.wait_for(|&done| done >= ticket).await;
    }

    /// Whether every feed is fresh.
    pub fn all_feeds_fresh(&self) -> bool {
        let now = Instant::now();
        self.feeds.iter().all(|f| f.is_fresh(now))
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
    /// Addresses that are down are left out, unless every address of the family is.
    fn build_and_publish(&self) {
        let now = Instant::now();
        let mut table = RecordTable::default();
        // (name, addresses, probe port) in the order they go in: feeds, then statics.
        let mut entries: Vec<(Name, Addresses, Option<u16>)> = Vec::new();
        for feed in &self.feeds {
            table.add_scope(feed.scope());
            let port = feed.health_check();
            for record in feed.records(now) {
                match parse_override_name(&record.name) {
                    Ok(name) => {
                        let addrs = Addresses::new(record.ipv4, record.ipv6);
                        entries.push((name, addrs, port));
                    }
                    Err(e) => {
                        debug!(source = %feed.label(), error = %e, "skipping a private DNS name")
                    }
                }
            }
        }
        for st in lock(&self.statics).iter() {
            let addrs = Addresses::new(st.ipv4.clone(), st.ipv6.clone());
            entries.push((st.name.clone(), addrs, st.health_check));
        }

        let mut probed = HashMap::new();
        for (name, addrs, port) in &entries {
            let Some(port) = *port else { continue };
            for ip in addrs.ips() {
                probed
                    .entry(SocketAddr::new(ip, port))
                    .or_insert_with(|| name.to_string());
            }
        }
        let down = self.health.set_targets(probed);
        let mut all_down = 0;
        for (name, mut addrs, port) in entries {
            if let Some(port) = port
                && !down.is_empty()
            {
                let is_down = |ip: IpAddr| down.contains(&SocketAddr::new(ip, port));
                addrs.ipv4_all_down = leave_out(&mut addrs.ipv4, |a| is_down(a.into()));
                addrs.ipv6_all_down = leave_out(&mut addrs.ipv6, |a| is_down(a.into()));
                all_down += i64::from(addrs.ipv4_all_down) + i64::from(addrs.ipv6_all_down);
            }
            table.insert(&name, addrs);
        }
        self.metrics.health_all_down_names.set(all_down);
        self.metrics.records.set(table.len() as i64);
        self.current.store(Arc::new(table));
    }
}

/// Removes the addresses that are down from `list`, unless that would empty it: then it
/// keeps them all (a client is no worse off than with a PHZ) and says so.
fn leave_out<A: Copy>(list: &mut Vec<A>, is_down: impl Fn(A) -> bool) -> bool {
    if list.is_empty() {
        return false;
    }
    if list.iter().all(|&a| is_down(a)) {
        return true;
    }
    list.retain(|&a| !is_down(a));
    false
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use hickory_proto::rr::{LowerName, Name};
    use tokio_util::sync::CancellationToken;

    use super::*;

    fn lookup(tables: &TablePublisher, name: &str) -> crate::zone::table::Lookup {
        tables
            .current()
            .lookup(&LowerName::new(&Name::from_ascii(name).unwrap()))
    }

    fn ip(l: &crate::zone::table::Lookup) -> Option<Ipv4Addr> {
        match l {
            crate::zone::table::Lookup::Records { addrs, .. } => addrs.ipv4.first().copied(),
            _ => None,
        }
    }

    // Reloads that race each other (and, in production, discovery passes): once things are
    // quiet, the published table must hold the statics stored last. With builds by whoever
    // changed something, an older build can be stored after a newer one and stay.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn the_table_published_last_holds_the_newest_statics() {
        let tables = Arc::new(TablePublisher::new(
            vec![],
            vec![],
            Default::default(),
            Arc::new(Metrics::new()),
        ));
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
                    health_check: None,
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
            let stored = lock(&tables.statics)[0].ipv4[0];
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

    /// A feed whose records the test sets.
    struct TestFeed {
        records: Mutex<Vec<NameRecord>>,
        health_check: Option<u16>,
    }

    impl Feed for TestFeed {
        fn label(&self) -> &str {
            "test"
        }
        fn scope(&self) -> Scope {
            Scope::new("us-east-1", &[], &[])
        }
        fn records(&self, _now: Instant) -> Vec<NameRecord> {
            lock(&self.records).clone()
        }
        fn is_fresh(&self, _now: Instant) -> bool {
            true
        }
        fn health_check(&self) -> Option<u16> {
            self.health_check
        }
    }

    fn record(name: &str, ipv4: &[[u8; 4]]) -> NameRecord {
        NameRecord {
            name: name.to_string(),
            ipv4: ipv4.iter().map(|&o| Ipv4Addr::from(o)).collect(),
            ipv6: vec![],
        }
    }

    /// Waits (at most 2 s) until `read` gives `want`.
    async fn until_value(read: impl Fn() -> i64, want: i64) -> i64 {
        for _ in 0..200 {
            if read() == want {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        read()
    }

    /// A publisher over one test feed, its writer running, and its metrics.
    fn fed(feed: &Arc<TestFeed>) -> (Arc<TablePublisher>, Arc<Metrics>, CancellationToken) {
        let metrics = Arc::new(Metrics::new());
        let health = HealthSettings {
            down_after: 1,
            up_after: 1,
            ..Default::default()
        };
        let feeds: Vec<Arc<dyn Feed>> = vec![feed.clone()];
        let tables = Arc::new(TablePublisher::new(vec![], feeds, health, metrics.clone()));
        let shutdown = CancellationToken::new();
        tokio::spawn(tables.clone().run_writer(shutdown.clone()));
        (tables, metrics, shutdown)
    }

    /// Waits (at most 2 s) until the published table gives `name` these IPv4 addresses.
    async fn until_addresses(tables: &TablePublisher, name: &str, want: &[[u8; 4]]) -> bool {
        let want: Vec<Ipv4Addr> = want.iter().map(|&o| Ipv4Addr::from(o)).collect();
        for _ in 0..200 {
            if let crate::zone::table::Lookup::Records { addrs, .. } = lookup(tables, name)
                && addrs.ipv4 == want
            {
                return true;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        false
    }

    #[tokio::test]
    async fn a_feeds_signal_rebuilds_the_table() {
        let feed = Arc::new(TestFeed {
            records: Mutex::new(vec![record("a.example.test", &[[10, 0, 0, 1]])]),
            health_check: None,
        });
        let (tables, _, shutdown) = fed(&feed);
        assert!(until_addresses(&tables, "a.example.test.", &[[10, 0, 0, 1]]).await);
        *lock(&feed.records) = vec![record("a.example.test", &[[10, 0, 0, 2]])];
        // What a discovery source does after a pass.
        tables.change_signal().notify_one();
        assert!(until_addresses(&tables, "a.example.test.", &[[10, 0, 0, 2]]).await);
        shutdown.cancel();
    }

    #[tokio::test]
    async fn down_addresses_are_left_out_unless_all_of_them_are() {
        let feed = Arc::new(TestFeed {
            records: Mutex::new(vec![NameRecord {
                ipv6: vec!["fd00::1".parse().unwrap()],
                ..record("a.example.test", &[[10, 0, 0, 1], [10, 0, 0, 2]])
            }]),
            health_check: Some(443),
        });
        let (tables, metrics, shutdown) = fed(&feed);
        let board = tables.health();
        let target = |last: u8| SocketAddr::from(([10, 0, 0, last], 443));
        let v6: SocketAddr = "[fd00::1]:443".parse().unwrap();
        let all_down = || metrics.health_all_down_names.get();

        board.record(target(1), Err("refused".into()));
        assert!(until_addresses(&tables, "a.example.test.", &[[10, 0, 0, 2]]).await);
        assert_eq!(all_down(), 0);

        // Every address down: all of them are kept (as a PHZ would answer), and it is counted.
        board.record(target(2), Err("refused".into()));
        let both = [[10, 0, 0, 1], [10, 0, 0, 2]];
        assert!(until_addresses(&tables, "a.example.test.", &both).await);
        assert_eq!(until_value(all_down, 1).await, 1, "one family of one name");
        match lookup(&tables, "a.example.test.") {
            crate::zone::table::Lookup::Records { addrs, .. } => {
                assert!(addrs.ipv4_all_down && !addrs.ipv6_all_down)
            }
            other => panic!("{other:?}"),
        }
        // And the IPv6 one: each family counts.
        board.record(v6, Err("refused".into()));
        assert_eq!(until_value(all_down, 2).await, 2, "both families");
        board.record(v6, Ok(()));
        assert_eq!(until_value(all_down, 1).await, 1);

        board.record(target(1), Ok(()));
        assert!(until_addresses(&tables, "a.example.test.", &[[10, 0, 0, 1]]).await);
        shutdown.cancel();
    }
}
