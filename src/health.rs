//! Endpoint health: which addresses of our names accept a TCP connection on the service port.
//!
//! A Route 53 alias to an interface endpoint answers with every ENI address, healthy or not;
//! when a zone of the endpoint region fails, a share of the clients' connections hang until
//! their connect timeout. Here, each address of a name with `health_check` is probed (one
//! probe per address and port, however many names share it), and the table leaves out the
//! addresses that are down.
//!
//! Data flow: the table's writer ([`crate::zone::publisher`]) tells the [`Board`] which
//! addresses to probe, each time it builds a table; the prober ([`run`]) connects to them and
//! records the results; a change of state (after `down_after` failures or `up_after`
//! successes in a row) signals the writer, which builds a new table. Queries read only the
//! table: nothing of this is on the query path.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::Rng;
use tokio::net::TcpStream;
use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::config::HealthSettings;
use crate::metrics::Metrics;
use crate::sync::lock;

/// What the board knows of one probed address.
#[derive(Debug, Clone)]
struct State {
    /// In answers (a new address is, until it fails `down_after` probes).
    up: bool,
    /// Probe results in a row that disagree with `up`.
    streak: u32,
    /// When the next probe is due.
    next: Instant,
    /// A probe is in flight.
    probing: bool,
    /// One of the names the address serves, for logs.
    name: String,
    /// Why the last probe failed, if it did.
    last_error: Option<String>,
}

/// The addresses to probe and their states.
pub struct Board {
    settings: HealthSettings,
    targets: Mutex<HashMap<SocketAddr, State>>,
    /// Wakes the prober: addresses were added.
    added: Notify,
    /// Signalled on every change of state (the table writer's change signal).
    changed: Arc<Notify>,
    metrics: Arc<Metrics>,
}

impl Board {
    pub fn new(settings: HealthSettings, changed: Arc<Notify>, metrics: Arc<Metrics>) -> Self {
        Self {
            settings,
            targets: Mutex::new(HashMap::new()),
            added: Notify::new(),
            changed,
            metrics,
        }
    }

    pub fn settings(&self) -> HealthSettings {
        self.settings
    }

    /// Makes `wanted` (address and probe port, each with a name it serves) the set probed,
    /// keeping what is known of addresses already in it, and returns those that are down.
    ///
    /// A new address is first probed after a random part of the interval: a table with many
    /// new addresses spreads its probes instead of sending them all at once.
    pub fn set_targets(&self, wanted: HashMap<SocketAddr, String>) -> HashSet<SocketAddr> {
        let now = Instant::now();
        let mut targets = lock(&self.targets);
        targets.retain(|target, _| {
            let keep = wanted.contains_key(target);
            if !keep {
                self.metrics.endpoint_removed(*target);
            }
            keep
        });
        let mut added = false;
        for (target, name) in wanted {
            targets.entry(target).or_insert_with(|| {
                added = true;
                self.metrics.endpoint_state(target, true);
                State {
                    up: true,
                    streak: 0,
                    next: now + self.settings.interval.mul_f64(rand::rng().random::<f64>()),
                    probing: false,
                    name,
                    last_error: None,
                }
            });
        }
        if added {
            self.added.notify_one();
        }
        targets
            .iter()
            .filter(|(_, s)| !s.up)
            .map(|(t, _)| *t)
            .collect()
    }

    /// Takes the addresses whose probe is due (marking them in flight and scheduling their
    /// next one), and says when the next one after them is due.
    fn take_due(&self, now: Instant) -> (Vec<SocketAddr>, Option<Instant>) {
        let mut due = Vec::new();
        let mut soonest: Option<Instant> = None;
        let mut rng = rand::rng();
        for (target, s) in lock(&self.targets).iter_mut() {
            if s.next <= now && !s.probing {
                s.probing = true;
                // Up to 10% either way, so that probes started together drift apart.
                let jitter = 0.9 + 0.2 * rng.random::<f64>();
                s.next = now + self.settings.interval.mul_f64(jitter);
                due.push(*target);
            }
            if !s.probing || s.next > now {
                soonest = Some(soonest.map_or(s.next, |t| t.min(s.next)));
            }
        }
        (due, soonest)
    }

    /// Records a probe's result; a change of state is logged, exported and signalled.
    pub(crate) fn record(&self, target: SocketAddr, result: Result<(), String>) {
        self.metrics.health_probed(result.is_ok());
        let mut targets = lock(&self.targets);
        // Gone meanwhile: no longer in any table.
        let Some(s) = targets.get_mut(&target) else {
            return;
        };
        s.probing = false;
        let ok = result.is_ok();
        s.last_error = result.err();
        if ok == s.up {
            s.streak = 0;
            return;
        }
        s.streak += 1;
        let needed = if s.up {
            self.settings.down_after
        } else {
            self.settings.up_after
        };
        if s.streak < needed {
            return;
        }
        s.up = ok;
        s.streak = 0;
        self.metrics.endpoint_state(target, s.up);
        let (address, port, name) = (target.ip(), target.port(), &s.name);
        if s.up {
            info!(%address, port, %name, probes = needed, "endpoint address accepts connections again: back in answers");
        } else {
            let error = s.last_error.as_deref().unwrap_or("");
            warn!(%address, port, %name, probes = needed, error, "endpoint address refuses connections: left out of answers");
        }
        drop(targets);
        self.changed.notify_one();
    }
}

/// Probes with at most `max_in_flight` connections open at a time: the one bound on probing,
/// for the resolver's prober and for `discover --probe` and `doctor`.
#[derive(Debug, Clone)]
pub struct Prober {
    permits: Arc<Semaphore>,
    timeout: Duration,
}

impl Prober {
    pub fn new(max_in_flight: usize, timeout: Duration) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(max_in_flight)),
            timeout,
        }
    }

    /// Waits for room, then probes `target` in a task of its own; `done` gets the result.
    pub async fn start(
        &self,
        target: SocketAddr,
        done: impl FnOnce(SocketAddr, Result<(), String>) + Send + 'static,
    ) {
        let permit = self.permits.clone().acquire_owned().await;
        let permit = permit.expect("the semaphore is never closed");
        let timeout = self.timeout;
        tokio::spawn(async move {
            done(target, probe(target, timeout).await);
            drop(permit);
        });
    }

    /// Probes each of `targets` once and returns every result.
    pub async fn probe_all(
        &self,
        targets: impl IntoIterator<Item = SocketAddr>,
    ) -> HashMap<SocketAddr, Result<(), String>> {
        let (tell, mut results) = tokio::sync::mpsc::unbounded_channel();
        for target in targets {
            let tell = tell.clone();
            self.start(target, move |target, result| {
                let _ = tell.send((target, result));
            })
            .await;
        }
        drop(tell);
        let mut out = HashMap::new();
        while let Some((target, result)) = results.recv().await {
            out.insert(target, result);
        }
        out
    }
}

/// Probes the board's addresses until `shutdown`: each when due, at most
/// `max_in_flight` at once.
pub async fn run(board: Arc<Board>, shutdown: CancellationToken) {
    let settings = board.settings();
    let prober = Prober::new(settings.max_in_flight, settings.timeout);
    loop {
        let (due, next) = board.take_due(Instant::now());
        for target in due {
            let board = board.clone();
            tokio::select! {
                _ = prober.start(target, move |target, result| board.record(target, result)) => {}
                _ = shutdown.cancelled() => return,
            }
        }
        // A probe in flight has its next one scheduled already; wake for the soonest.
        let wake = next.unwrap_or_else(|| Instant::now() + settings.interval);
        tokio::select! {
            _ = tokio::time::sleep_until(wake.into()) => {}
            _ = board.added.notified() => {}
            _ = shutdown.cancelled() => return,
        }
    }
}

/// One probe: a TCP connection to `target` within `timeout`, closed at once.
pub async fn probe(target: SocketAddr, timeout: Duration) -> Result<(), String> {
    match tokio::time::timeout(timeout, TcpStream::connect(target)).await {
        Ok(Ok(_stream)) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {timeout:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn board(down_after: u32, up_after: u32) -> (Board, Arc<Notify>) {
        let (board, changed, _) = observed_board(down_after, up_after);
        (board, changed)
    }

    /// A board, its change signal and its metrics.
    fn observed_board(down_after: u32, up_after: u32) -> (Board, Arc<Notify>, Arc<Metrics>) {
        let changed = Arc::new(Notify::new());
        let settings = HealthSettings {
            interval: Duration::from_secs(5),
            timeout: Duration::from_secs(1),
            down_after,
            up_after,
            max_in_flight: 4,
        };
        let metrics = Arc::new(Metrics::new());
        let board = Board::new(settings, changed.clone(), metrics.clone());
        (board, changed, metrics)
    }

    /// Whether `notify` was signalled since it was last waited on.
    async fn signalled(notify: &Notify) -> bool {
        tokio::time::timeout(Duration::from_millis(20), notify.notified())
            .await
            .is_ok()
    }

    /// The value of the metric line that starts with `series`, if there is one.
    fn metric(metrics: &Metrics, series: &str) -> Option<String> {
        let text = metrics.render();
        let line = text.lines().find(|l| l.starts_with(series))?;
        Some(line.rsplit(' ').next()?.to_string())
    }

    #[tokio::test]
    async fn a_change_of_state_is_exported_and_signalled_and_nothing_else_is() {
        let t: SocketAddr = "127.0.0.2:443".parse().unwrap();
        let up = "bedrock_link_endpoint_up{address=\"127.0.0.2\",port=\"443\"}";
        let (board, changed, metrics) = observed_board(2, 1);
        board.set_targets(one(t));
        assert!(
            signalled(&board.added).await,
            "a new address wakes the prober"
        );
        board.set_targets(one(t));
        assert!(!signalled(&board.added).await, "the same addresses do not");
        assert_eq!(metric(&metrics, up).as_deref(), Some("1"));

        board.record(t, Err("refused".into()));
        assert!(
            !signalled(&changed).await,
            "one failure of two changes nothing"
        );
        assert_eq!(metric(&metrics, up).as_deref(), Some("1"));
        board.record(t, Err("refused".into()));
        assert!(signalled(&changed).await, "down: the writer is told");
        assert_eq!(metric(&metrics, up).as_deref(), Some("0"));
        board.record(t, Ok(()));
        assert!(signalled(&changed).await, "up again");
        assert_eq!(metric(&metrics, up).as_deref(), Some("1"));
        let probes = "bedrock_link_health_probes_total{result=";
        assert_eq!(
            metric(&metrics, &format!("{probes}\"failed\"}}")).as_deref(),
            Some("2")
        );
        assert_eq!(
            metric(&metrics, &format!("{probes}\"ok\"}}")).as_deref(),
            Some("1")
        );

        board.set_targets(HashMap::new());
        assert_eq!(
            metric(&metrics, up),
            None,
            "a forgotten address has no series"
        );
    }

    #[test]
    fn the_next_probe_is_the_soonest_due_and_is_rescheduled_about_an_interval_on() {
        let (a, b): (SocketAddr, SocketAddr) = (
            "127.0.0.2:443".parse().unwrap(),
            "127.0.0.3:443".parse().unwrap(),
        );
        let (board, _) = board(1, 1);
        board.set_targets(HashMap::from([(a, "a".into()), (b, "b".into())]));
        let now = Instant::now();
        for (t, after) in [(a, 1), (b, 2)] {
            lock(&board.targets).get_mut(&t).unwrap().next = now + Duration::from_secs(after);
        }
        assert_eq!(
            board.take_due(now),
            (vec![], Some(now + Duration::from_secs(1)))
        );
        let later = now + Duration::from_millis(1500);
        let (due, next) = board.take_due(later);
        assert_eq!(due, vec![a]);
        assert_eq!(
            next,
            Some(now + Duration::from_secs(2)),
            "b, not a (in flight)"
        );
        let a_next = lock(&board.targets)[&a].next;
        assert!(
            a_next >= later + Duration::from_millis(4500),
            "{:?}",
            a_next - later
        );
        assert!(
            a_next <= later + Duration::from_millis(5500),
            "{:?}",
            a_next - later
        );
        assert!(lock(&board.targets)[&a].probing);
        board.record(a, Ok(()));
        assert!(!lock(&board.targets)[&a].probing, "a result ends the probe");
    }

    #[test]
    fn a_probe_in_flight_past_its_time_does_not_make_the_prober_wake_for_it() {
        let t: SocketAddr = "127.0.0.2:443".parse().unwrap();
        let (board, _) = board(1, 1);
        board.set_targets(one(t));
        let now = Instant::now();
        lock(&board.targets).get_mut(&t).unwrap().next = now + Duration::from_secs(1);
        let at = |ms: u64| now + Duration::from_millis(ms);
        assert_eq!(board.take_due(now), (vec![], Some(at(1000))));
        let (due, next) = board.take_due(at(1500));
        assert_eq!(due, vec![t]);
        let rescheduled = lock(&board.targets)[&t].next;
        assert_eq!(
            next,
            Some(rescheduled),
            "taken, its next probe is the soonest"
        );
        // Still in flight after its next time: not taken again, and nothing to wake for.
        assert_eq!(board.take_due(at(10_000)), (vec![], None));
        board.record(t, Ok(()));
        assert_eq!(board.take_due(at(10_000)).0, vec![t], "done: due again");
    }

    #[test]
    fn the_board_keeps_its_settings() {
        let settings = HealthSettings {
            interval: Duration::from_secs(7),
            timeout: Duration::from_millis(1500),
            down_after: 4,
            up_after: 5,
            max_in_flight: 9,
        };
        assert_ne!(settings, HealthSettings::default());
        let board = Board::new(settings, Arc::new(Notify::new()), Arc::new(Metrics::new()));
        assert_eq!(board.settings(), settings);
    }

    #[tokio::test]
    async fn the_prober_finds_a_closed_port_down_and_keeps_an_open_one_up() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let open = listener.local_addr().unwrap();
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let settings = HealthSettings {
            interval: Duration::from_millis(100),
            timeout: Duration::from_secs(1),
            down_after: 1,
            up_after: 1,
            max_in_flight: 2,
        };
        let changed = Arc::new(Notify::new());
        let board = Arc::new(Board::new(settings, changed, Arc::new(Metrics::new())));
        let wanted = HashMap::from([(open, "open".into()), (closed, "closed".into())]);
        board.set_targets(wanted.clone());
        let shutdown = CancellationToken::new();
        let prober = tokio::spawn(run(board.clone(), shutdown.clone()));
        let mut down = HashSet::new();
        for _ in 0..100 {
            down = board.set_targets(wanted.clone());
            if !down.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(down, HashSet::from([closed]));
        // A few more rounds: the open port stays up.
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(board.set_targets(wanted), HashSet::from([closed]));
        shutdown.cancel();
        prober.await.unwrap();
    }

    #[tokio::test]
    async fn probes_tell_an_open_port_from_a_closed_one() {
        let open = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let open = open.local_addr().unwrap();
        let results = Prober::new(1, Duration::from_secs(2))
            .probe_all([open, closed])
            .await;
        assert_eq!(results.len(), 2);
        assert_eq!(results[&open], Ok(()));
        assert!(
            results[&closed]
                .as_ref()
                .is_err_and(|e| e.contains("refused")),
            "{results:?}"
        );
    }

    fn one(target: SocketAddr) -> HashMap<SocketAddr, String> {
        HashMap::from([(target, "n.example.test".to_string())])
    }

    #[test]
    fn down_after_failures_in_a_row_and_up_after_successes_in_a_row() {
        let t: SocketAddr = "127.0.0.2:443".parse().unwrap();
        let (board, _) = board(3, 2);
        assert!(board.set_targets(one(t)).is_empty(), "a new address is up");
        let fail = || Err("refused".to_string());
        board.record(t, fail());
        board.record(t, fail());
        board.record(t, Ok(())); // the streak starts again
        board.record(t, fail());
        board.record(t, fail());
        assert!(
            board.set_targets(one(t)).is_empty(),
            "two failures in a row"
        );
        board.record(t, fail());
        assert_eq!(board.set_targets(one(t)), HashSet::from([t]), "three");
        let last_error = lock(&board.targets)[&t].last_error.clone();
        assert_eq!(last_error.as_deref(), Some("refused"));
        board.record(t, Ok(()));
        assert_eq!(board.set_targets(one(t)), HashSet::from([t]), "one success");
        board.record(t, Ok(()));
        assert!(board.set_targets(one(t)).is_empty(), "two");
    }

    #[test]
    fn a_removed_address_is_forgotten_and_its_late_result_ignored() {
        let t: SocketAddr = "127.0.0.2:443".parse().unwrap();
        let (board, _) = board(1, 1);
        board.set_targets(one(t));
        board.set_targets(HashMap::new());
        board.record(t, Err("refused".into()));
        assert!(lock(&board.targets).is_empty());
        assert!(board.set_targets(one(t)).is_empty(), "back as new: up");
    }

    #[test]
    fn new_addresses_are_spread_over_the_interval_and_each_is_taken_once() {
        let (board, _) = board(1, 1);
        let wanted: HashMap<SocketAddr, String> = (0..200u16)
            .map(|p| (SocketAddr::from(([127, 0, 0, 2], 1000 + p)), "n".into()))
            .collect();
        board.set_targets(wanted);
        let now = Instant::now();
        let (first, _) = board.take_due(now + Duration::from_millis(500));
        // About a tenth of the interval's worth; never all of them at once.
        assert!(first.len() > 2 && first.len() < 60, "{}", first.len());
        let (again, _) = board.take_due(now + Duration::from_millis(500));
        assert!(again.is_empty(), "in flight: not taken twice");
        let (rest, _) = board.take_due(now + Duration::from_secs(5));
        assert_eq!(first.len() + rest.len(), 200);
    }
}
