//! Log output through `tracing`: human-readable text or one JSON object per line.

use std::io::IsTerminal;

use clap::ValueEnum;
use tracing_subscriber::EnvFilter;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// The AWS SDK crates that, at debug and trace, print the access key ID (the resolved identity,
/// the signed request's Authorization header). The secret key is redacted, but no part of a
/// credential belongs in logs.
const CREDENTIAL_LOGGERS: [&str; 5] = [
    "aws_smithy_runtime",
    "aws_smithy_runtime_api",
    "aws_sigv4",
    "aws_runtime",
    "aws_config",
];

/// Caps the credential-printing crates at `info`, whatever was asked for (only ever lowering).
fn without_credentials(mut filter: EnvFilter) -> EnvFilter {
    if filter
        .max_level_hint()
        .is_some_and(|max| max > tracing::level_filters::LevelFilter::INFO)
    {
        for target in CREDENTIAL_LOGGERS {
            filter = filter.add_directive(format!("{target}=info").parse().expect("directive"));
        }
    }
    filter
}

/// Installs the global subscriber. `RUST_LOG` wins over `level` when set. Logs go to stderr so
/// that command output (tables, JSON) on stdout stays clean.
pub fn init(format: LogFormat, level: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let filter = without_credentials(filter);
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}
