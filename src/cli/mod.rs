//! The command line: parsing with clap, dispatch, and exit codes
//! (0 success, 1 runtime failure, 2 usage or configuration error).
//!
//! | module | concern |
//! |---|---|
//! | [`args`] | every command's flags (clap), and the flags several share ([`args::SourceArgs`]) |
//! | [`serve`] | `dns serve` |
//! | [`check`] | `config check` |
//! | [`discover`] | `discover` (and `--probe`), with its JSON rows |
//! | [`phz`] | `phz plan` |
//! | [`doctor`] | `doctor` |
//! | [`healthcheck`] | `healthcheck` |
//! | [`output`] | tables and JSON on standard output |
//! | [`logging`] | the tracing subscriber |

pub mod args;
pub mod check;
pub mod discover;
pub mod doctor;
pub mod healthcheck;
pub mod logging;
pub mod output;
pub mod phz;
pub mod serve;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

use self::args::{Cli, Command, ConfigCommand, DnsCommand, PhzCommand};
use crate::config::{Config, ConfigError};
use crate::discovery;
use crate::serve::ConfigSource;

pub use self::args::CONFIG_TOML_VAR;

/// Exit code for a runtime failure.
pub const EXIT_RUNTIME: u8 = 1;
/// Exit code for a usage or configuration error (clap uses it for usage errors too).
pub const EXIT_CONFIG: u8 = 2;

/// Why a command failed: the message and the exit code it maps to.
pub struct Failure {
    code: u8,
    message: String,
}

impl Failure {
    pub fn config(message: impl ToString) -> Self {
        Self {
            code: EXIT_CONFIG,
            message: message.to_string(),
        }
    }
    pub fn runtime(message: impl ToString) -> Self {
        Self {
            code: EXIT_RUNTIME,
            message: message.to_string(),
        }
    }
}

impl From<ConfigError> for Failure {
    fn from(e: ConfigError) -> Self {
        Self::config(e)
    }
}

/// Parses the command line, runs the command and returns the process exit code.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    logging::init(cli.log_format, &cli.log_level);
    let result = match cli.command {
        Command::Config(ConfigCommand::Check(args)) => check::run(args),
        Command::Dns(DnsCommand::Serve(args)) => serve::run(args),
        Command::Discover(args) => discover::run(args),
        Command::Phz(PhzCommand::Plan(args)) => phz::run(args),
        Command::Healthcheck(args) => healthcheck::run(args),
        Command::Doctor(args) => doctor::run_command(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("error: {}", failure.message);
            ExitCode::from(failure.code)
        }
    }
}

/// The async runtime of a command: multi-threaded for `dns serve`, one thread otherwise.
fn runtime(multi_thread: bool) -> Result<tokio::runtime::Runtime, Failure> {
    let mut builder = if multi_thread {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        // Flags and cache hits are answered on the UDP listener threads (one per core), so
        // the runtime, which relays cache misses, gets half the cores: fewer idle workers
        // waking to look for work cost less CPU per relayed query (30 against 37 µs measured).
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        builder.worker_threads((cores / 2).max(1));
        builder
    } else {
        tokio::runtime::Builder::new_current_thread()
    };
    builder
        .enable_all()
        .build()
        .map_err(|e| Failure::runtime(format!("cannot start the async runtime: {e}")))
}

/// Where `dns serve` and `config check` read the configuration: a file wins over the text in
/// the environment; with neither, the demo.
fn config_source(path: Option<PathBuf>, text: Option<String>) -> ConfigSource {
    match (path, text) {
        (Some(path), _) => ConfigSource::File(path),
        (None, Some(text)) => ConfigSource::Text {
            variable: CONFIG_TOML_VAR.to_string(),
            text,
        },
        (None, None) => ConfigSource::Demo,
    }
}

/// One pass over the configuration's sources (`discover`, `phz plan`).
fn snapshots(config: &Config) -> Result<Vec<(String, discovery::Snapshot)>, Failure> {
    runtime(false)?
        .block_on(discovery::discover_once(&config.sources, &config.upstreams))
        .map_err(|(source, e)| Failure::runtime(format!("source {source}: {e}")))
}
