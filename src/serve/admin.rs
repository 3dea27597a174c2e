//! The admin HTTP listener: `/healthz` (the process is up), `/readyz` (it is serving and its
//! data is fresh) and `/metrics` (Prometheus text format).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::dns::cache::AnswerCache;
use crate::metrics::Metrics;
use crate::zone::publisher::TablePublisher;

/// What the admin endpoints report on (the daemon hands it over; everything is read only).
pub struct Status {
    pub zone: Arc<TablePublisher>,
    pub cache: Arc<AnswerCache>,
    pub metrics: Arc<Metrics>,
    /// True once the DNS listeners are bound; false again while shutting down.
    pub serving: AtomicBool,
}

impl Status {
    pub fn new(zone: Arc<TablePublisher>, cache: Arc<AnswerCache>, metrics: Arc<Metrics>) -> Self {
        Self {
            zone,
            cache,
            metrics,
            serving: AtomicBool::new(false),
        }
    }

    /// Ready: listeners bound, not draining, and every discovery source fresh.
    pub fn is_ready(&self) -> bool {
        self.serving.load(Ordering::Relaxed) && self.zone.all_feeds_fresh()
    }
}

/// Binds the admin listener.
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

/// Serves the admin endpoints until `shutdown` is cancelled.
pub async fn serve(
    listener: TcpListener,
    status: Arc<Status>,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let app = Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(status);
    axum::serve(listener, app)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
}

async fn readyz(State(status): State<Arc<Status>>) -> impl IntoResponse {
    if status.is_ready() {
        (StatusCode::OK, "ready\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n")
    }
}

async fn metrics(State(status): State<Arc<Status>>) -> impl IntoResponse {
    let metrics = &status.metrics;
    metrics.cache_entries.set(status.cache.len() as i64);
    metrics
        .cache_bytes
        .set(i64::try_from(status.cache.bytes()).unwrap_or(i64::MAX));
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        metrics.render(),
    )
}
