//! `dns serve`: starting everything, reloading on SIGHUP, draining on SIGTERM.

pub mod admin;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::signal::unix::{SignalKind, signal};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use self::admin::Status;
use crate::config::{Config, ConfigError, Flags};
use crate::discovery::{self, SourceStatus};
use crate::dns::cache::AnswerCache;
use crate::dns::handler::Handler;
use crate::dns::listeners::{self, BindError, Limits, Server};
use crate::health;
use crate::metrics::{Metrics, emf};
use crate::sync::lock;
use crate::zone::publisher::{Feed, TablePublisher};

/// The demo configuration built into the binary (`dns serve --demo`).
pub const DEMO_CONFIG: &str = include_str!("../../config/demo.toml");

/// Where the configuration comes from; SIGHUP reads it again from there.
#[derive(Debug, Clone)]
pub enum ConfigSource {
    File(PathBuf),
    /// TOML text handed over in an environment variable (containers without a config file).
    Text {
        variable: String,
        text: String,
    },
    Demo,
}

impl ConfigSource {
    pub fn load(&self, flags: &Flags) -> Result<Config, ConfigError> {
        match self {
            ConfigSource::File(path) => Config::load(path, flags),
            ConfigSource::Text { text, .. } => {
                Config::from_toml(text, Path::new(&self.name()), flags)
            }
            ConfigSource::Demo => Config::from_toml(DEMO_CONFIG, Path::new(&self.name()), flags),
        }
    }

    /// How errors and reports name it: the path, `$VARIABLE`, or the demo.
    pub fn name(&self) -> String {
        match self {
            ConfigSource::File(path) => path.display().to_string(),
            ConfigSource::Text { variable, .. } => format!("${variable}"),
            ConfigSource::Demo => "<built-in demo>".to_string(),
        }
    }
}

/// Why serving stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Bind(#[from] BindError),
    #[error("cannot listen on admin address {addr}: {source}")]
    AdminBind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot install signal handlers: {0}")]
    Signals(#[source] std::io::Error),
    #[error(transparent)]
    Discovery(#[from] discovery::StartError),
}

/// A running resolver: DNS listeners and the query handler, the admin listener, and what they
/// read: the record table (and its writer), the answer cache and the metrics.
pub struct Running {
    handler: Arc<Handler>,
    zone: Arc<TablePublisher>,
    cache: Arc<AnswerCache>,
    metrics: Arc<Metrics>,
    server: Server,
    status: Arc<Status>,
    admin_addr: Option<SocketAddr>,
    admin_task: Option<JoinHandle<std::io::Result<()>>>,
    admin_shutdown: CancellationToken,
    /// The discovery sources at work.
    discovery: discovery::Sources,
    /// The record table's writer, the health prober, and what stops them.
    table_writer: JoinHandle<()>,
    prober: JoinHandle<()>,
    table_writer_shutdown: CancellationToken,
    /// The EMF writer (`[metrics] emf`), stopped after the drain so its last line counts it.
    emf: Option<(JoinHandle<()>, CancellationToken)>,
    /// The configuration the listeners were started with, to tell what a reload cannot change.
    started: Config,
    /// The upstreams in force: a reload that changes them empties the cache.
    upstreams: Mutex<Vec<SocketAddr>>,
    drain: Duration,
}

impl Running {
    /// Binds every listener and starts serving `config`.
    pub async fn start(config: Config) -> Result<Self, ServeError> {
        let metrics = Arc::new(Metrics::new());
        let limits = Limits {
            max_tcp_connections: config.max_tcp_connections,
            tcp_idle_timeout: config.tcp_idle_timeout,
            udp_threads: config
                .udp_threads
                .unwrap_or_else(listeners::default_udp_threads),
        };
        let started = config.clone();
        let listen = config.listen.clone();
        let admin_listen = config.admin_listen;
        // In-flight queries end within the upstream timeout; allow a second more to send.
        let drain = config.upstream_timeout + Duration::from_secs(1);
        let sources: Vec<Arc<SourceStatus>> = config
            .sources
            .iter()
            .map(|s| Arc::new(SourceStatus::new(s.clone())))
            .collect();
        let tables = Arc::new(TablePublisher::new(
            config.statics.clone(),
            sources.iter().map(|s| s.clone() as Arc<dyn Feed>).collect(),
            config.health,
            metrics.clone(),
        ));
        let cache = Arc::new(AnswerCache::new(config.cache_size, config.cache_max_bytes));
        let handler = Arc::new(Handler::new(
            config,
            tables.clone(),
            cache.clone(),
            metrics.clone(),
        ));
        let status = Arc::new(Status::new(tables.clone(), cache.clone(), metrics.clone()));

        let admin_listener = match admin_listen {
            Some(addr) => Some(
                admin::bind(addr)
                    .await
                    .map_err(|source| ServeError::AdminBind { addr, source })?,
            ),
            None => None,
        };
        let table_writer_shutdown = CancellationToken::new();
        let table_writer = tokio::spawn(tables.clone().run_writer(table_writer_shutdown.clone()));
        // Probes only addresses of names with a health check; answers read the table alone.
        let prober = tokio::spawn(health::run(tables.health(), table_writer_shutdown.clone()));
        let server = Server::start(&listen, limits, handler.clone()).await?;
        status.serving.store(true, Ordering::Relaxed);
        let emf = started.emf.clone().map(|settings| {
            let labels = started.sources.iter().map(|s| s.label()).collect();
            let stop = CancellationToken::new();
            let task = emf::start(metrics.clone(), settings, labels, stop.clone());
            (task, stop)
        });

        // Discovery starts once the listeners are bound; until a source's first pass its
        // names fail closed (and /readyz says not ready).
        let discovery = discovery::Sources::start(
            sources,
            &started.upstreams,
            tables.change_signal(),
            metrics.clone(),
        )?;

        let admin_shutdown = CancellationToken::new();
        let admin_addr = admin_listener.as_ref().and_then(|l| l.local_addr().ok());
        let admin_task = admin_listener
            .map(|l| tokio::spawn(admin::serve(l, status.clone(), admin_shutdown.clone())));
        Ok(Self {
            handler,
            zone: tables,
            cache,
            metrics,
            server,
            status,
            admin_addr,
            admin_task,
            admin_shutdown,
            discovery,
            table_writer,
            prober,
            table_writer_shutdown,
            emf,
            upstreams: Mutex::new(started.upstreams.clone()),
            started,
            drain,
        })
    }

    /// The bound DNS addresses, in the order of `dns.listen`.
    pub fn dns_addrs(&self) -> &[SocketAddr] {
        self.server.local_addrs()
    }

    /// The bound admin address, when there is an admin listener.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin_addr
    }

    /// The counters, gauges and histograms `/metrics` renders.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The answer cache for forwarded names.
    pub fn cache(&self) -> &AnswerCache {
        &self.cache
    }

    /// Applies a new configuration, and returns once the record table holds its static
    /// overrides. What only a restart can change is reported by key.
    pub async fn reload(&self, config: Config) {
        let restart_needed = restart_only_changes(&self.started, &config);
        if !restart_needed.is_empty() {
            warn!(keys = ?restart_needed, "these settings changed but apply only after a restart");
        }
        self.discovery.set_upstreams(&config.upstreams);
        let summary = summary(&config);
        let upstreams_changed = {
            let mut in_force = lock(&self.upstreams);
            std::mem::replace(&mut *in_force, config.upstreams.clone()) != config.upstreams
        };
        let ticket = self.zone.set_statics(config.statics.clone());
        self.handler.set_config(config);
        // Answers from other servers are not the new servers' answers.
        if upstreams_changed {
            self.cache.clear();
        }
        self.zone.wait_published(ticket).await;
        self.metrics.reloads.inc();
        info!(%summary, "configuration reloaded");
    }

    /// Stops taking queries, drains those in flight, stops the admin listener.
    pub async fn stop(self) -> bool {
        self.status.serving.store(false, Ordering::Relaxed);
        self.discovery.stop().await;
        self.table_writer_shutdown.cancel();
        let _ = self.table_writer.await;
        let _ = self.prober.await;
        let drained = self.server.shutdown(self.drain).await;
        if let Some((task, stop)) = self.emf {
            stop.cancel();
            let _ = task.await;
        }
        self.admin_shutdown.cancel();
        if let Some(task) = self.admin_task {
            let _ = task.await;
        }
        drained
    }
}

/// Keys whose new values a reload cannot apply (they shape listeners or the cache).
fn restart_only_changes(old: &Config, new: &Config) -> Vec<&'static str> {
    let changed = [
        ("dns.listen", old.listen != new.listen),
        (
            "dns.max_tcp_connections",
            old.max_tcp_connections != new.max_tcp_connections,
        ),
        (
            "dns.tcp_idle_timeout",
            old.tcp_idle_timeout != new.tcp_idle_timeout,
        ),
        ("dns.udp_threads", old.udp_threads != new.udp_threads),
        ("upstream.cache_size", old.cache_size != new.cache_size),
        (
            "upstream.cache_max_bytes",
            old.cache_max_bytes != new.cache_max_bytes,
        ),
        ("admin.listen", old.admin_listen != new.admin_listen),
        ("source", old.sources != new.sources),
        ("health", old.health != new.health),
        ("metrics", old.emf != new.emf),
    ];
    changed
        .into_iter()
        .filter_map(|(key, changed)| changed.then_some(key))
        .collect()
}

fn summary(config: &Config) -> String {
    format!(
        "listen={:?} upstreams={:?} overrides={} sources={} cache_size={} on_unavailable={:?}",
        config.listen,
        config.upstreams,
        config.statics.len(),
        config
            .sources
            .iter()
            .map(|s| s.label())
            .collect::<Vec<_>>()
            .join(","),
        config.cache_size,
        config.on_unavailable
    )
}

/// Runs the daemon until SIGTERM or SIGINT.
pub async fn run(source: ConfigSource, flags: Flags) -> Result<(), ServeError> {
    let config = source.load(&flags)?;
    let mut hangup = signal(SignalKind::hangup()).map_err(ServeError::Signals)?;
    let mut terminate = signal(SignalKind::terminate()).map_err(ServeError::Signals)?;
    let mut interrupt = signal(SignalKind::interrupt()).map_err(ServeError::Signals)?;

    let startup = summary(&config);
    let running = Running::start(config).await?;
    info!(
        version = env!("CARGO_PKG_VERSION"),
        dns = ?running.dns_addrs(),
        admin = ?running.admin_addr(),
        %startup,
        "bedrock-link serving"
    );

    loop {
        tokio::select! {
            _ = hangup.recv() => match source.load(&flags) {
                Ok(config) => running.reload(config).await,
                Err(e) => {
                    running.metrics.reload_failures.inc();
                    error!(error = %e, "reload rejected; keeping the running configuration");
                }
            },
            _ = terminate.recv() => break,
            _ = interrupt.recv() => break,
        }
    }
    info!("shutting down: draining queries in flight");
    if running.stop().await {
        info!("stopped");
    } else {
        warn!("stopped before every query in flight had finished");
    }
    Ok(())
}
