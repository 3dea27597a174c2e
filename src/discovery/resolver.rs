//! The process's own name lookups (the AWS client's: the EC2 endpoint, STS for web identity
//! credentials) go to `upstream.servers`, never to the system resolver.
//!
//! Why: in DHCP mode the VPC's option set names this resolver (behind a load balancer), and a
//! task's resolv.conf follows the option set. Asking the system resolver for the EC2 endpoint
//! would then ask the load balancer, which sends nothing to a task that is not healthy yet;
//! the first discovery pass, and with it readiness, would wait on itself forever. The
//! upstream (the VPC resolver) answers whether or not any resolver task is up.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;

use aws_smithy_runtime_api::client::dns::{DnsFuture, ResolveDns, ResolveDnsError};
use hickory_resolver::TokioResolver;
use hickory_resolver::config::{
    ConnectionConfig, NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts,
};
use hickory_resolver::net::runtime::TokioRuntimeProvider;

use super::error::ResolverError;

/// A resolver that asks the configured upstream servers (UDP, then TCP when truncated).
/// Clones share it, and [`UpstreamDns::set_servers`] (a reload) changes it for all of them.
#[derive(Clone)]
pub struct UpstreamDns {
    current: Arc<ArcSwap<Current>>,
}

struct Current {
    resolver: TokioResolver,
    servers: Vec<SocketAddr>,
}

impl std::fmt::Debug for UpstreamDns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamDns")
            .field("servers", &self.current.load().servers)
            .finish()
    }
}

impl UpstreamDns {
    /// A resolver over `servers` (each with its own port), tried in order.
    pub fn new(servers: &[SocketAddr]) -> Result<Self, ResolverError> {
        Ok(Self {
            current: Arc::new(ArcSwap::from_pointee(Current::new(servers)?)),
        })
    }

    /// Asks `servers` from now on (a reload changed `upstream.servers`).
    pub fn set_servers(&self, servers: &[SocketAddr]) -> Result<(), ResolverError> {
        if self.current.load().servers != servers {
            self.current.store(Arc::new(Current::new(servers)?));
        }
        Ok(())
    }

    /// The addresses of `name`, through the upstream servers.
    pub async fn lookup(&self, name: &str) -> Result<Vec<IpAddr>, ResolverError> {
        let current = self.current.load_full();
        let found = current
            .resolver
            .lookup_ip(name)
            .await
            .map_err(|e| ResolverError::Lookup {
                name: name.to_string(),
                source: e.into(),
            })?;
        Ok(found.iter().collect())
    }
}

impl Current {
    fn new(servers: &[SocketAddr]) -> Result<Self, ResolverError> {
        let name_servers = servers
            .iter()
            .map(|addr| {
                let mut udp = ConnectionConfig::udp();
                udp.port = addr.port();
                let mut tcp = ConnectionConfig::tcp();
                tcp.port = addr.port();
                let mut ns = NameServerConfig::udp_and_tcp(addr.ip());
                ns.connections = vec![udp, tcp];
                ns
            })
            .collect();
        let mut opts = ResolverOpts::default();
        opts.timeout = Duration::from_secs(2);
        opts.attempts = 2;
        opts.cache_size = 64;
        // /etc/hosts is a file, not a resolver: names pinned there (localhost) still work.
        opts.use_hosts_file = ResolveHosts::Always;
        let resolver = TokioResolver::builder_with_config(
            ResolverConfig::from_name_servers(name_servers),
            TokioRuntimeProvider::default(),
        )
        .with_options(opts)
        .build()
        .map_err(|e| ResolverError::Build(e.into()))?;
        Ok(Self {
            resolver,
            servers: servers.to_vec(),
        })
    }
}

impl ResolveDns for UpstreamDns {
    fn resolve_dns<'a>(&'a self, name: &'a str) -> DnsFuture<'a> {
        DnsFuture::new(async move { self.lookup(name).await.map_err(ResolveDnsError::new) })
    }
}
