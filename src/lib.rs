//! bedrock-link: a small DNS resolver that answers AWS interface-endpoint hostnames with the
//! endpoints' private IPs, and forwards everything else to the VPC resolver.
//!
//! # Layout
//!
//! Data flows one way: configuration and EC2 discovery feed the zone (our names), the zone
//! feeds the DNS query path, the query path runs under the daemon; for forwarded names,
//! upstream -> cache -> client. No module reaches back against that flow.
//!
//! | folder or module | concern |
//! |---|---|
//! | [`config`] | the TOML file: shape ([`config::file`]), validation, names, errors with file/line/key; command-line [`config::Flags`] |
//! | [`discovery`] | EC2 discovery per `[[source]]`: what a pass found ([`discovery::snapshot`]), a source between passes ([`discovery::status`], a [`zone::publisher::Feed`]), errors; the refresh loop, the EC2 calls and the AWS client's own DNS (feature `aws`) |
//! | [`zone`] | our names: the immutable [`zone::table::RecordTable`] and its PHZ-equivalent lookup, the [`zone::scope`] sources claim, the single writer that publishes the table ([`zone::publisher::TablePublisher`]) |
//! | [`health`] | TCP probes of the endpoints' addresses, bounded by one [`health::Prober`]; the table leaves out those that are down |
//! | [`dns`] | the query path: [`dns::listeners`], [`dns::handler`] (answers only), [`dns::coalesce`], [`dns::request`], [`dns::response`], [`dns::wire`], [`dns::framing`], [`dns::cache`] (and its stale answers), [`dns::upstream`] (its [`dns::upstream::pool`] of sockets, [`dns::upstream::budget`] of queries per second, and [`dns::upstream::silence`] of a server that stopped answering), [`dns::ratelimit`] |
//! | [`serve`] | the daemon: owns the zone's writer, the answer cache and the metrics; start, SIGHUP reload, SIGTERM drain; [`serve::admin`] (`/healthz`, `/readyz`, `/metrics`) |
//! | [`cli`] | command line (feature `aws`, as the binary): [`cli::args`], one file per command, output, logging, exit codes |
//! | [`metrics`] | Prometheus counters and histograms, shared by the rest |
//! | [`sync`] | a poison-tolerant lock |
//!
//! Why the listeners are our own and not hickory-server's `Server`: that server decodes every
//! request into its own types and re-encodes every response from records, so a relayed reply
//! would be decoded and re-encoded (costing time and byte-faithfulness), and it has no bound on
//! TCP connections. Here the listeners hand raw bytes to [`dns::handler::Handler`], hickory-proto does
//! the decoding and encoding, and the upstream reply reaches the client as the upstream sent it
//! but for the ID, the question's case, aged TTLs and our OPT record.

#![forbid(unsafe_code)]

#[cfg(feature = "aws")]
pub mod cli;
pub mod config;
pub mod discovery;
pub mod dns;
pub mod health;
pub mod metrics;
pub mod serve;
pub mod sync;
pub mod zone;
