//! The command line's shape (clap): every command, its flags, and the flags several share.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use super::logging::LogFormat;
use crate::config::{Config, ConfigError, Flags};

/// The environment variable that can hold the whole configuration as TOML text.
pub const CONFIG_TOML_VAR: &str = "BEDROCK_LINK_CONFIG_TOML";

#[derive(Debug, Parser)]
#[command(
    name = "bedrock-link",
    version,
    about = "Private DNS for AWS interface endpoints across regions",
    long_about = "Answers the chosen AWS service hostnames (bedrock*.<region>.amazonaws.com by default) \
                  with the private IPs of interface VPC endpoints, and forwards every other query to \
                  the VPC resolver."
)]
pub struct Cli {
    /// Log format.
    #[arg(
        long,
        global = true,
        value_enum,
        default_value = "text",
        env = "BEDROCK_LINK_LOG_FORMAT"
    )]
    pub log_format: LogFormat,
    /// Log level or tracing filter (RUST_LOG overrides it).
    #[arg(
        long,
        global = true,
        default_value = "info",
        env = "BEDROCK_LINK_LOG_LEVEL"
    )]
    pub log_level: String,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The DNS resolver.
    #[command(subcommand)]
    Dns(DnsCommand),
    /// Configuration files.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Run one discovery pass over every [[source]] and print what EC2 holds.
    Discover(DiscoverArgs),
    /// Route 53 private hosted zone mode (the Terraform fallback).
    #[command(subcommand)]
    Phz(PhzCommand),
    /// Check a live setup end to end: EC2 API, endpoints, resolution, TCP 443, upstreams.
    Doctor(DoctorArgs),
    /// Exit 0 when the admin endpoint says ready (a container health check without curl).
    Healthcheck(HealthcheckArgs),
}

#[derive(Debug, Subcommand)]
pub enum DnsCommand {
    /// Serve DNS until SIGTERM/SIGINT; SIGHUP reloads the configuration.
    Serve(ServeArgs),
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate a configuration and print what it configures.
    Check(CheckArgs),
}

#[derive(Debug, Subcommand)]
pub enum PhzCommand {
    /// Print the zones and records PHZ mode would create for this configuration.
    Plan(SourceArgs),
}

/// The flags of the commands that read a configuration's sources and print what they find
/// (`discover`, `phz plan`, `doctor`).
#[derive(Debug, Args)]
pub struct SourceArgs {
    /// Configuration file (TOML).
    #[arg(long, short, env = "BEDROCK_LINK_CONFIG")]
    pub config: PathBuf,
    #[command(flatten)]
    pub endpoint: EndpointArg,
    /// Output format.
    #[arg(long, short, value_enum, default_value = "table")]
    pub output: Output,
}

impl SourceArgs {
    /// The configuration, with `--endpoint-url` as the only override.
    pub fn load(&self) -> Result<Config, ConfigError> {
        let flags = Flags {
            endpoint_url: self.endpoint.endpoint_url.clone(),
            ..Flags::default()
        };
        Config::load(&self.config, &flags)
    }
}

/// `--endpoint-url`, for every command that talks to EC2.
#[derive(Debug, Args)]
pub struct EndpointArg {
    /// EC2 API endpoint for every [[source]]. Replaces source.endpoint_url.
    #[arg(long, value_name = "URL")]
    pub endpoint_url: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    Table,
    Json,
}

#[derive(Debug, Args)]
pub struct DiscoverArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// Also connect to each address of sources with health_check on its health_check_port,
    /// as the resolver's probes do, and show whether it accepts (run it from the app VPC).
    #[arg(long)]
    pub probe: bool,
    #[command(flatten)]
    pub app_region: AppRegionArg,
}

/// `--app-region`: also ask whether that region offers each served service over native
/// cross-region PrivateLink (one DescribeVpcEndpointServices call per service).
#[derive(Debug, Args)]
pub struct AppRegionArg {
    /// The app VPC's region (the resolver module sets BEDROCK_LINK_APP_REGION in the task).
    #[arg(long = "app-region", env = "BEDROCK_LINK_APP_REGION", value_name = "REGION", value_parser = parse_region)]
    pub region: Option<String>,
}

fn parse_region(s: &str) -> Result<String, String> {
    if crate::config::is_region(s) {
        Ok(s.to_string())
    } else {
        Err(format!(
            "{s:?} is not an AWS region name (like \"ap-southeast-2\")"
        ))
    }
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// The resolver to check names through (default: the first dns.listen address).
    #[arg(long, value_name = "ADDR")]
    pub resolver: Option<SocketAddr>,
    /// The endpoints' port for the connection check.
    #[arg(long, default_value_t = 443)]
    pub port: u16,
    /// Skip the TCP connection check.
    #[arg(long)]
    pub no_connect: bool,
    #[command(flatten)]
    pub app_region: AppRegionArg,
}

#[derive(Debug, Args)]
pub struct HealthcheckArgs {
    /// The URL to ask (plain HTTP).
    #[arg(long, default_value = "http://127.0.0.1:9153/readyz")]
    pub url: String,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The configuration file. Without it, the configuration `dns serve` would read:
    /// $BEDROCK_LINK_CONFIG (a path), else $BEDROCK_LINK_CONFIG_TOML (the text), as in a
    /// container.
    #[arg(env = "BEDROCK_LINK_CONFIG", required_unless_present = "config_toml")]
    pub path: Option<PathBuf>,
    /// The configuration itself, as TOML text.
    #[arg(long, env = CONFIG_TOML_VAR, hide_env_values = true)]
    pub config_toml: Option<String>,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Configuration file (TOML).
    #[arg(
        long,
        short,
        env = "BEDROCK_LINK_CONFIG",
        conflicts_with_all = ["demo", "config_toml"],
        required_unless_present_any = ["demo", "config_toml"]
    )]
    pub config: Option<PathBuf>,
    /// The configuration itself, as TOML text (for containers: set BEDROCK_LINK_CONFIG_TOML).
    #[arg(long, env = CONFIG_TOML_VAR, hide_env_values = true, conflicts_with = "demo")]
    pub config_toml: Option<String>,
    /// Use the built-in demo configuration (static overrides on 127.0.0.1:5353).
    #[arg(long)]
    pub demo: bool,
    #[command(flatten)]
    pub flags: FlagArgs,
}

/// Values that replace the file's.
#[derive(Debug, Args)]
pub struct FlagArgs {
    /// Listen address (UDP and TCP); repeat for several. Replaces dns.listen.
    #[arg(long, value_name = "ADDR")]
    pub listen: Vec<SocketAddr>,
    /// Upstream resolver ("auto", IP or IP:PORT); repeat for several. Replaces upstream.servers.
    #[arg(long, value_name = "ADDR")]
    pub upstream: Vec<String>,
    /// Admin HTTP listen address. Replaces admin.listen.
    #[arg(long, value_name = "ADDR")]
    pub admin: Option<SocketAddr>,
    #[command(flatten)]
    pub endpoint: EndpointArg,
}

impl From<FlagArgs> for Flags {
    fn from(f: FlagArgs) -> Self {
        Flags {
            listen: f.listen,
            upstreams: f.upstream,
            admin_listen: f.admin,
            endpoint_url: f.endpoint.endpoint_url,
        }
    }
}
