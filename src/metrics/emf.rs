//! CloudWatch Embedded Metric Format (`[metrics] emf`): every `emf_interval`, the figures of
//! that interval as JSON lines on stdout. On ECS the awslogs driver ships stdout to CloudWatch
//! Logs, which extracts the metrics: no agent, no API call, no IAM permission.
//!
//! Each interval gives one line for the service and one per discovery source (an EMF line
//! holds one value per dimension). The dimensions are bounded by the configuration:
//! `Service` (one configured value) and `Source` (a configured source's label). No line ever
//! carries a query name or a client address.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};
use tokio::io::AsyncWriteExt;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use super::{Metrics, Outcome, Reading, unix_now};
use crate::config::EmfSettings;

/// Starts the writer: a line set every interval until `shutdown`, then one last for the
/// partial interval, so that nothing counted before a drain is lost. Counted from now, and
/// from zero: the counters have counted since the server started, not since the task ran.
pub fn start(
    metrics: Arc<Metrics>,
    settings: EmfSettings,
    sources: Vec<String>,
    shutdown: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    let started = unix_now();
    let since = Instant::now();
    tokio::spawn(run(metrics, settings, sources, since, started, shutdown))
}

async fn run(
    metrics: Arc<Metrics>,
    settings: EmfSettings,
    sources: Vec<String>,
    mut since: Instant,
    started: f64,
    shutdown: CancellationToken,
) {
    let mut previous = Reading::default();
    let mut out = tokio::io::stdout();
    let mut tick = tokio::time::interval_at(
        tokio::time::Instant::from_std(since) + settings.interval,
        settings.interval,
    );
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let last = tokio::select! {
            _ = tick.tick() => false,
            _ = shutdown.cancelled() => true,
        };
        let now = metrics.reading(&sources);
        let interval = Interval {
            seconds: since.elapsed().as_secs_f64(),
            at_unix: unix_now(),
            started_unix: started,
        };
        since = Instant::now();
        let mut text = String::new();
        for line in lines(&settings, &previous, &now, &interval) {
            text.push_str(&line);
            text.push('\n');
        }
        // One write per interval: the lines of an interval are never split by another writer.
        if let Err(e) = write(&mut out, text.as_bytes()).await {
            warn!(error = %e, "cannot write the EMF metrics to stdout; dropping this interval's");
        }
        previous = now;
        if last {
            return;
        }
    }
}

async fn write(out: &mut tokio::io::Stdout, bytes: &[u8]) -> std::io::Result<()> {
    // A stdout that nobody reads must not hold the task forever.
    match tokio::time::timeout(Duration::from_secs(5), async {
        out.write_all(bytes).await?;
        out.flush().await
    })
    .await
    {
        Ok(result) => result,
        Err(_) => Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "stdout took more than 5s",
        )),
    }
}

/// The time an interval covers.
#[derive(Debug, Clone, Copy)]
pub struct Interval {
    pub seconds: f64,
    /// When it ended (the lines' timestamp).
    pub at_unix: f64,
    /// When the server started: the age of a source that has never succeeded counts from it.
    pub started_unix: f64,
}

/// One metric of a line: its name, CloudWatch unit and value.
struct Figure {
    name: &'static str,
    unit: &'static str,
    value: Value,
}

fn figure(name: &'static str, unit: &'static str, value: impl Into<Value>) -> Figure {
    Figure {
        name,
        unit,
        value: value.into(),
    }
}

/// The metric name of an outcome's query count.
fn outcome_metric(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Override => "QueriesOverride",
        Outcome::Forwarded => "QueriesForwarded",
        Outcome::CacheHit => "QueriesCacheHit",
        Outcome::Stale => "QueriesStale",
        Outcome::Refused => "QueriesRefused",
        Outcome::Servfail => "QueriesServfail",
        Outcome::Formerr => "QueriesFormerr",
        Outcome::Notimp => "QueriesNotimp",
        Outcome::Dropped => "QueriesDropped",
        Outcome::RateLimited => "QueriesRateLimited",
    }
}

/// The EMF lines for the interval from `previous` to `now`: counters as their increase over
/// it, gauges as of its end. A ratio with nothing to divide by is left out, not written as 0.
pub fn lines(
    settings: &EmfSettings,
    previous: &Reading,
    now: &Reading,
    interval: &Interval,
) -> Vec<String> {
    let delta = |now: u64, before: u64| now.saturating_sub(before);
    let of = |o: Outcome| delta(now.outcomes[o as usize], previous.outcomes[o as usize]);
    let queries: u64 = Outcome::ALL.iter().map(|&o| of(o)).sum();
    let upstream = delta(now.upstream_queries, previous.upstream_queries);

    let mut service = vec![figure("Queries", "Count", queries)];
    service.extend(
        Outcome::ALL
            .iter()
            .map(|&o| figure(outcome_metric(o), "Count", of(o))),
    );
    if queries > 0 {
        let ratio = 100.0 * of(Outcome::Servfail) as f64 / queries as f64;
        service.push(figure("ServfailRatio", "Percent", ratio));
    }
    let cacheable = of(Outcome::CacheHit) + of(Outcome::Forwarded) + of(Outcome::Stale);
    if cacheable > 0 {
        let ratio = 100.0 * of(Outcome::CacheHit) as f64 / cacheable as f64;
        service.push(figure("CacheHitRatio", "Percent", ratio));
    }
    service.extend([
        figure("UpstreamQueries", "Count", upstream),
        figure(
            "UpstreamQueriesPerSecond",
            "Count/Second",
            upstream as f64 / interval.seconds.max(0.001),
        ),
        figure("UpstreamBudget", "Count/Second", now.upstream_budget),
        figure(
            "UpstreamBudgetRefusals",
            "Count",
            delta(
                now.upstream_budget_refusals,
                previous.upstream_budget_refusals,
            ),
        ),
        figure(
            "UpstreamTimeouts",
            "Count",
            delta(now.upstream_timeouts, previous.upstream_timeouts),
        ),
        figure(
            "UpstreamNetworkErrors",
            "Count",
            delta(
                now.upstream_network_errors,
                previous.upstream_network_errors,
            ),
        ),
        figure(
            "UpstreamSilentSkips",
            "Count",
            delta(now.upstream_silent_skips, previous.upstream_silent_skips),
        ),
        figure("EndpointsDown", "Count", now.endpoints_down),
        figure("AllDownNames", "Count", now.all_down_names),
        figure(
            "FallbackAnswers",
            "Count",
            delta(now.fallback_answers, previous.fallback_answers),
        ),
    ]);

    let mut out = vec![line(settings, interval, &[], service)];
    for source in &now.sources {
        let since = source.last_success.unwrap_or(interval.started_unix);
        let figures = vec![
            figure(
                "DiscoveryAge",
                "Seconds",
                (interval.at_unix - since).max(0.0),
            ),
            // Until its first pass ends a source's names fail closed, as a stale one's do.
            figure(
                "DiscoveryStale",
                "Count",
                u8::from(source.stale.unwrap_or(true)),
            ),
        ];
        out.push(line(
            settings,
            interval,
            &[("Source", source.label.as_str())],
            figures,
        ));
    }
    out
}

/// One EMF document: the `_aws` metadata naming the metrics, then their values and the
/// dimension values as top-level members.
fn line(
    settings: &EmfSettings,
    interval: &Interval,
    dimensions: &[(&'static str, &str)],
    figures: Vec<Figure>,
) -> String {
    let mut names = vec!["Service"];
    names.extend(dimensions.iter().map(|(name, _)| *name));
    let metrics: Vec<Value> = figures
        .iter()
        .map(|f| json!({ "Name": f.name, "Unit": f.unit }))
        .collect();
    let mut doc = Map::new();
    doc.insert(
        "_aws".into(),
        json!({
            "Timestamp": (interval.at_unix * 1000.0) as u64,
            "CloudWatchMetrics": [{
                "Namespace": settings.namespace,
                "Dimensions": [names],
                "Metrics": metrics,
            }],
        }),
    );
    doc.insert("Service".into(), settings.service.clone().into());
    for (name, value) in dimensions {
        doc.insert((*name).into(), (*value).into());
    }
    for f in figures {
        doc.insert(f.name.into(), f.value);
    }
    Value::Object(doc).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::SourceReading;

    fn settings() -> EmfSettings {
        EmfSettings {
            interval: Duration::from_secs(60),
            namespace: "BedrockLink".into(),
            service: "svc".into(),
        }
    }

    fn parse(line: &str) -> Map<String, Value> {
        match serde_json::from_str(line).unwrap() {
            Value::Object(m) => m,
            other => panic!("not an object: {other}"),
        }
    }

    #[test]
    fn counters_are_reported_as_their_increase_and_ratios_only_with_a_denominator() {
        let interval = Interval {
            seconds: 10.0,
            at_unix: 1000.0,
            started_unix: 900.0,
        };
        let mut before = Reading::default();
        before.outcomes[Outcome::Servfail as usize] = 5;
        before.upstream_queries = 100;
        let mut after = before.clone();
        after.outcomes[Outcome::Servfail as usize] = 6;
        after.outcomes[Outcome::CacheHit as usize] = 3;
        after.upstream_queries = 150;
        after.upstream_budget = 900;
        after.sources = vec![
            SourceReading {
                label: "r/vpc-1".into(),
                last_success: Some(990.0),
                stale: Some(false),
            },
            SourceReading {
                label: "r/vpc-2".into(),
                last_success: None,
                stale: None,
            },
        ];
        let lines = lines(&settings(), &before, &after, &interval);
        assert_eq!(lines.len(), 3);
        let service = parse(&lines[0]);
        assert_eq!(service["Queries"], 4);
        assert_eq!(service["QueriesServfail"], 1);
        assert_eq!(service["ServfailRatio"], 25.0);
        assert_eq!(service["CacheHitRatio"], 100.0);
        assert_eq!(service["UpstreamQueriesPerSecond"], 5.0);
        assert_eq!(service["UpstreamBudget"], 900);
        assert_eq!(service["_aws"]["Timestamp"], 1_000_000);
        let first = parse(&lines[1]);
        assert_eq!(first["Source"], "r/vpc-1");
        assert_eq!(first["DiscoveryAge"], 10.0);
        assert_eq!(first["DiscoveryStale"], 0);
        let never = parse(&lines[2]);
        assert_eq!(never["DiscoveryAge"], 100.0);
        assert_eq!(never["DiscoveryStale"], 1);

        let idle = parse(&super::lines(&settings(), &after, &after, &interval)[0]);
        assert_eq!(idle["Queries"], 0);
        assert!(!idle.contains_key("ServfailRatio"));
        assert!(!idle.contains_key("CacheHitRatio"));
        let named: Vec<&Value> = idle["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| &m["Name"])
            .collect();
        assert!(!named.contains(&&Value::from("ServfailRatio")));
    }
}
