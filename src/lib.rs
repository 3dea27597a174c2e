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
//! | [`discovery`] | EC2 discovery per `[[source]]` (feature `aws`): passes, refresh, backoff, staleness; a source is a [`zone::publisher::Feed`]; the AWS client's own DNS |
//! | [`zone`] | our names: the immutable [`zone::table::RecordTable`] and its PHZ-equivalent lookup, the [`zone::scope`] sources claim, the single writer that publishes the table ([`zone::publisher::TablePublisher`]) |
//! | [`health`] | TCP probes of the endpoints' addresses; the table leaves out those that are down |
//! | [`dns`] | the query path: [`dns::listeners`], [`dns::handler`], [`dns::request`], [`dns::response`], [`dns::wire`], [`dns::cache`], [`dns::upstream`], [`dns::ratelimit`] |
//! | [`serve`] | the daemon: start, SIGHUP reload, SIGTERM drain; [`serve::admin`] (`/healthz`, `/readyz`, `/metrics`) |
//! | [`cli`] | command line, exit codes, output; logging; `doctor` and `phz plan` (feature `aws`, as the binary) |
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
