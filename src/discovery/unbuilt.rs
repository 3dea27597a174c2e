//! The sources of a build without the `aws` feature: there is no EC2 client, so a
//! configuration with sources is refused at start.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::Notify;

use super::error::StartError;
use super::status::SourceStatus;
use crate::metrics::Metrics;

/// No discovery sources, ever.
pub struct Sources;

impl Sources {
    pub fn start(
        sources: Vec<Arc<SourceStatus>>,
        _upstreams: &[SocketAddr],
        _changed: Arc<Notify>,
        _metrics: Arc<Metrics>,
    ) -> Result<Self, StartError> {
        if sources.is_empty() {
            Ok(Self)
        } else {
            Err(StartError::NotBuilt)
        }
    }

    pub fn set_upstreams(&self, _upstreams: &[SocketAddr]) {}

    pub async fn stop(self) {}
}
