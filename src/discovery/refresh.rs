//! Keeping the sources fresh (feature `aws`): one task per source, passes on its refresh
//! interval, exponential backoff with jitter after failures, a wake-up when it turns stale;
//! and the one-off pass of `discover`, `phz plan` and `doctor`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::ec2;
use super::error::{DiscoveryError, StartError};
use super::resolver::UpstreamDns;
use super::snapshot::Snapshot;
use super::status::SourceStatus;
use crate::config::SourceConfig;
use crate::metrics::Metrics;

/// The discovery sources of a running server: one task per source, and the resolver their
/// AWS clients share.
pub struct Sources {
    shutdown: CancellationToken,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    dns: UpstreamDns,
}

impl Sources {
    /// Starts a task per source; each signals `changed` after its passes.
    pub fn start(
        sources: Vec<Arc<SourceStatus>>,
        upstreams: &[SocketAddr],
        changed: Arc<Notify>,
        metrics: Arc<Metrics>,
    ) -> Result<Self, StartError> {
        let shutdown = CancellationToken::new();
        // The sources' own lookups (the EC2 endpoint's name) go to the upstream servers.
        let dns = UpstreamDns::new(upstreams)?;
        let tasks = sources
            .into_iter()
            .map(|s| {
                let (dns, changed, metrics) = (dns.clone(), changed.clone(), metrics.clone());
                tokio::spawn(run(s, dns, changed, metrics, shutdown.clone()))
            })
            .collect();
        Ok(Self {
            shutdown,
            tasks,
            dns,
        })
    }

    /// The sources' lookups go to `upstreams` from now on (a reload changed them).
    pub fn set_upstreams(&self, upstreams: &[SocketAddr]) {
        if let Err(e) = self.dns.set_servers(upstreams) {
            warn!(error = %e, "discovery keeps resolving through the previous upstream servers");
        }
    }

    /// Stops every source and waits for it.
    pub async fn stop(self) {
        self.shutdown.cancel();
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// The wait before the next pass: the refresh interval (minus up to 10% jitter) after a
/// success; after failures, 1 s doubling per failure, with jitter, capped at the interval.
fn next_wait(refresh: Duration, failures: u32) -> Duration {
    let jitter = |d: Duration, spread: f64| d.mul_f64(1.0 - spread * rand::random::<f64>());
    if failures == 0 {
        return jitter(refresh, 0.1);
    }
    let backoff = Duration::from_secs(1).saturating_mul(1 << failures.min(16).saturating_sub(1));
    jitter(backoff.min(refresh), 0.5)
}

/// Keeps one source fresh until `shutdown`, signalling `changed` after every pass (and when
/// it turns stale); the EC2 endpoint's name is resolved through `dns`.
pub async fn run(
    status: Arc<SourceStatus>,
    dns: UpstreamDns,
    changed: Arc<Notify>,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
) {
    let mut access = tokio::select! {
        a = ec2::Access::new(&status.config, &dns) => a,
        _ = shutdown.cancelled() => return,
    };
    let mut names = ec2::ServiceNames::default();
    let mut failures = 0u32;
    loop {
        let pass = async {
            let client = access.client().await?;
            ec2::discover(&client, &status.config, &mut names).await
        };
        let result = tokio::select! {
            r = pass => r,
            _ = shutdown.cancelled() => return,
        };
        match result {
            Ok(snapshot) => {
                failures = 0;
                let records: usize = snapshot.records().len();
                metrics.discovery_succeeded(
                    &status.label,
                    snapshot.duration,
                    records,
                    crate::metrics::unix_now(),
                );
                if status.record_success(snapshot) {
                    info!(source = %status.label, names = records, "discovery: endpoints changed");
                }
            }
            Err(e) => {
                failures += 1;
                metrics.discovery_failed(&status.label, e.kind());
                warn!(source = %status.label, kind = e.kind(), error = %e, "discovery pass failed; keeping the last good table");
            }
        }
        let now = Instant::now();
        metrics.discovery_stale(&status.label, !status.is_fresh(now));
        changed.notify_one();
        // Wake up when the source turns stale, too, so its names stop being served on time.
        let mut wait = next_wait(status.config.refresh, failures);
        if let Some(left) = status.time_until_stale(now) {
            wait = wait.min(left + Duration::from_millis(10));
        }
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.cancelled() => return,
        }
    }
}

/// One pass over every source (for `discover` and `phz plan`): each source's region and
/// snapshot, in configuration order. Names are resolved through `upstreams`.
pub async fn discover_once(
    sources: &[SourceConfig],
    upstreams: &[SocketAddr],
) -> Result<Vec<(String, Snapshot)>, (String, DiscoveryError)> {
    let dns = UpstreamDns::new(upstreams).map_err(|e| {
        let label = sources.first().map(SourceConfig::label).unwrap_or_default();
        let e = DiscoveryError::from_parts("resolver", None, e.to_string(), false);
        (label, e)
    })?;
    let mut out = Vec::new();
    for source in sources {
        let pass = async {
            let client = ec2::Access::new(source, &dns).await.client().await?;
            ec2::discover(&client, source, &mut ec2::ServiceNames::default()).await
        };
        let snapshot = pass.await.map_err(|e| (source.label(), e))?;
        info!(
            source = %source.label(),
            endpoints = snapshot.endpoints.len(),
            names = snapshot.records().len(),
            duration_ms = snapshot.duration.as_millis() as u64,
            "discovery pass"
        );
        out.push((source.region.clone(), snapshot));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let refresh = Duration::from_secs(60);
        for _ in 0..50 {
            let w = next_wait(refresh, 0);
            assert!(w <= refresh && w >= refresh.mul_f64(0.9));
            assert!(next_wait(refresh, 1) <= Duration::from_secs(1));
            let third = next_wait(refresh, 3);
            assert!(third <= Duration::from_secs(4) && third >= Duration::from_secs(2));
            assert!(next_wait(refresh, 40) <= refresh);
        }
    }
}
