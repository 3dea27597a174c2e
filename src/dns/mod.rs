//! The query path, from a client's bytes to the reply's bytes: listeners hand raw queries to
//! the handler, which answers our names from the zone and everything else from the cache or
//! the upstreams.
//!
//! | module | concern |
//! |---|---|
//! | [`listeners`] | UDP listener threads, TCP listeners, connection limits, draining |
//! | [`handler`] | begin (inline: ACL, our names, cache hits) / relay and finish (upstream); chains into our names |
//! | [`coalesce`] | one upstream query for every identical question asked while it is on its way |
//! | [`request`] | decoding a client's query (hickory-proto) |
//! | [`response`] | the replies we author: our names (as a PHZ answers), completed chains, errors, truncation |
//! | [`framing`] | DNS over TCP's two-byte length, read and written |
//! | [`wire`] | byte-level walking and patching of messages |
//! | [`prepared`] | a reply encoded once, patched per client (ID, case, aged TTLs, our OPT) |
//! | [`cache`] | upstream answers kept by TTL (RFC 2308 for negative ones), bounded in entries and bytes |
//! | [`upstream`] | asking the upstream resolvers: pooled sockets on rotating random ports, random IDs, failover |
//! | [`ratelimit`] | optional per-client token bucket |

pub mod cache;
pub mod coalesce;
pub mod framing;
pub mod handler;
pub mod listeners;
pub mod prepared;
pub mod ratelimit;
pub mod request;
pub mod response;
pub mod upstream;
pub mod wire;
