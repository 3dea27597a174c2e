//! `config check`: validates a configuration and prints what it configures.

use super::args::CheckArgs;
use super::output::join;
use super::{Failure, config_source};
use crate::config::Flags;
use crate::serve::ConfigSource;

pub fn run(args: CheckArgs) -> Result<(), Failure> {
    check(&config_source(args.path, args.config_toml))
}

fn check(source: &ConfigSource) -> Result<(), Failure> {
    let c = source.load(&Flags::default())?;
    println!("{}: ok", source.name());
    println!("  listen:         {}", join(&c.listen));
    println!("  upstreams:      {}", join(&c.upstreams));
    println!("  overrides:      {}", c.statics.len());
    for s in &c.sources {
        println!(
            "  source:         {} services={} refresh={:?} max_stale={:?}",
            s.label(),
            s.services.join(","),
            s.refresh,
            s.max_stale
        );
    }
    println!("  ttl:            {}s", c.ttl);
    println!("  on_unavailable: {:?}", c.on_unavailable);
    println!("  cache_size:     {}", c.cache_size);
    let admin = c.admin_listen.map_or("off".to_string(), |a| a.to_string());
    println!("  admin:          {admin}");
    Ok(())
}
