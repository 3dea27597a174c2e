//! bedrock-link: a small DNS resolver that answers AWS interface-endpoint hostnames with the
//! endpoints' private IPs, and forwards everything else to the VPC resolver.
//!
//! # Layout
//!
//! Data flows one way: configuration and EC2 discovery -> record table -> query handler ->
//! listeners, and for forwarded names upstream -> cache -> client.
//!
//! | module | concern |
//! |---|---|
//! | [`cli`] | command line, exit codes |
//! | [`config`] | the TOML file: shape, defaults, validation, errors with file/line/key |
//! | [`discovery`] | EC2 discovery per `[[source]]`: passes, refresh, backoff, staleness; the AWS client's own lookups through the upstream servers |
//! | [`table`] | the record table in force: statics + discovered names, built by one writer, swapped atomically |
//! | [`records`] | the record table and PHZ-equivalent lookup (exact, subtree, wildcard, scope) |
//! | [`request`] | decoding a client's query (hickory-proto) |
//! | [`response`] | encoding the replies we author: overrides (PHZ apex SOA/NS), chains completed from the table, errors, truncation |
//! | [`wire`] | byte-level walking and patching of relayed replies |
//! | [`cache`] | the answer cache: TTL countdown, RFC 2308 negative caching, bounded in entries and bytes |
//! | [`upstream`] | asking the upstream resolvers: pooled sockets on rotating random ports, random IDs, matching, TCP retry, failover |
//! | [`handler`] | the query path shared by UDP and TCP: begin (inline) / finish (upstream, coalesced); chains into our names |
//! | [`server`] | UDP listener threads, TCP listeners, connection limits (longest-idle evicted), draining |
//! | [`ratelimit`] | optional per-client token bucket (DHCP mode) |
//! | [`admin`] | `/healthz`, `/readyz`, `/metrics` over HTTP |
//! | [`metrics`] | Prometheus counters and histograms |
//! | [`serve`] | the daemon: start, SIGHUP reload, SIGTERM drain |
//! | [`phz`] | `phz plan`: the private hosted zones PHZ mode would create |
//! | [`doctor`] | `doctor`: end-to-end checks of a live setup, with what to fix |
//! | [`logging`] | tracing output, text or JSON |
//!
//! Why the listeners are our own and not hickory-server's `Server`: that server decodes every
//! request into its own types and re-encodes every response from records, so a relayed reply
//! would be decoded and re-encoded (costing time and byte-faithfulness), and it has no bound on
//! TCP connections. Here the listeners hand raw bytes to [`handler::Handler`], hickory-proto does
//! the decoding and encoding, and the upstream reply reaches the client as the upstream sent it
//! but for the ID, the question's case, aged TTLs and our OPT record.

#![forbid(unsafe_code)]

pub mod admin;
pub mod cache;
pub mod cli;
pub mod config;
pub mod discovery;
pub mod doctor;
pub mod handler;
pub mod logging;
pub mod metrics;
pub mod phz;
pub mod ratelimit;
pub mod records;
pub mod request;
pub mod response;
pub mod serve;
pub mod server;
pub mod table;
pub mod upstream;
pub mod wire;
