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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::config::SourceConfig;

    #[test]
    fn a_configuration_with_sources_is_refused_and_one_without_starts() {
        let start = |sources| {
            Sources::start(
                sources,
                &[],
                Arc::new(Notify::new()),
                Arc::new(Metrics::new()),
            )
        };
        assert!(start(vec![]).is_ok());
        let source = Arc::new(SourceStatus::new(SourceConfig {
            region: "us-east-1".into(),
            vpc_id: Some("vpc-1".into()),
            tags: Default::default(),
            services: vec!["bedrock*".into()],
            domains: vec![],
            endpoint_url: None,
            role: None,
            refresh: Duration::from_secs(60),
            max_stale: Duration::from_secs(3600),
            health_check: None,
        }));
        assert!(matches!(start(vec![source]), Err(StartError::NotBuilt)));
    }
}
