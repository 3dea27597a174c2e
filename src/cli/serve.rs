//! `dns serve`: the resolver, until SIGTERM or SIGINT.

use super::args::ServeArgs;
use super::{Failure, config_source, runtime};
use crate::serve::{self, ServeError};

pub fn run(args: ServeArgs) -> Result<(), Failure> {
    let source = config_source(args.config, args.config_toml);
    runtime(true)?
        .block_on(serve::run(source, args.flags.into()))
        .map_err(|e| match e {
            ServeError::Config(_) => Failure::config(e),
            _ => Failure::runtime(e),
        })
}
