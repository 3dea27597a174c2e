//! The integration tests, one harness: the real server on loopback, queried over UDP and TCP;
//! the binary; discovery against moto's server. Modules by what they prove.

mod assume_role;
mod budget;
mod cli;
mod cross_region;
mod discovery;
mod emf;
mod forwarding;
mod health;
mod hostile;
mod overrides;
mod server;
mod stale;
mod support;
