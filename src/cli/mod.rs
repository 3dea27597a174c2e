//! The command line: parsing with clap, dispatch, and exit codes
//! (0 success, 1 runtime failure, 2 usage or configuration error).

pub mod doctor;
pub mod logging;
pub mod phz;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use self::logging::LogFormat;
use crate::config::{Config, Flags};
use crate::discovery;
use crate::serve::{self, ConfigSource, ServeError};

/// The environment variable that can hold the whole configuration as TOML text.
pub const CONFIG_TOML_VAR: &str = "BEDROCK_LINK_CONFIG_TOML";

/// Exit code for a runtime failure.
pub const EXIT_RUNTIME: u8 = 1;
/// Exit code for a usage or configuration error (clap uses it for usage errors too).
pub const EXIT_CONFIG: u8 = 2;

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
    log_format: LogFormat,
    /// Log level or tracing filter (RUST_LOG overrides it).
    #[arg(
        long,
        global = true,
        default_value = "info",
        env = "BEDROCK_LINK_LOG_LEVEL"
    )]
    log_level: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The DNS resolver.
    #[command(subcommand)]
    Dns(DnsCommand),
    /// Configuration files.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Run one discovery pass over every [[source]] and print what EC2 holds.
    Discover(DiscoverCommand),
    /// Route 53 private hosted zone mode (the Terraform fallback).
    #[command(subcommand)]
    Phz(PhzCommand),
    /// Check a live setup end to end: EC2 API, endpoints, resolution, TCP 443, upstreams.
    Doctor(DoctorArgs),
    /// Exit 0 when the admin endpoint says ready (a container health check without curl).
    Healthcheck {
        /// The URL to ask (plain HTTP).
        #[arg(long, default_value = "http://127.0.0.1:9153/readyz")]
        url: String,
    },
}

#[derive(Debug, Args)]
struct DoctorArgs {
    /// Configuration file (TOML).
    #[arg(long, short, env = "BEDROCK_LINK_CONFIG")]
    config: PathBuf,
    /// The resolver to check names through (default: the first dns.listen address).
    #[arg(long, value_name = "ADDR")]
    resolver: Option<std::net::SocketAddr>,
    /// The endpoints' port for the connection check.
    #[arg(long, default_value_t = 443)]
    port: u16,
    /// Skip the TCP connection check.
    #[arg(long)]
    no_connect: bool,
    /// EC2 API endpoint for every [[source]]. Replaces source.endpoint_url.
    #[arg(long, value_name = "URL")]
    endpoint_url: Option<String>,
    /// Output format.
    #[arg(long, short, value_enum, default_value = "table")]
    output: Output,
}

#[derive(Debug, Subcommand)]
enum PhzCommand {
    /// Print the zones and records PHZ mode would create for this configuration.
    Plan(DiscoverArgs),
}

#[derive(Debug, Args)]
struct DiscoverCommand {
    #[command(flatten)]
    args: DiscoverArgs,
    /// Also connect to each address of sources with health_check on its health_check_port,
    /// as the resolver's probes do, and show whether it accepts (run it from the app VPC).
    #[arg(long)]
    probe: bool,
}

#[derive(Debug, Args)]
struct DiscoverArgs {
    /// Configuration file (TOML).
    #[arg(long, short, env = "BEDROCK_LINK_CONFIG")]
    config: PathBuf,
    /// EC2 API endpoint for every [[source]]. Replaces source.endpoint_url.
    #[arg(long, value_name = "URL")]
    endpoint_url: Option<String>,
    /// Output format.
    #[arg(long, short, value_enum, default_value = "table")]
    output: Output,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Output {
    Table,
    Json,
}

#[derive(Debug, Subcommand)]
enum DnsCommand {
    /// Serve DNS until SIGTERM/SIGINT; SIGHUP reloads the configuration.
    Serve(ServeArgs),
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Validate a configuration and print what it configures.
    Check {
        /// The configuration file. Without it, the configuration `dns serve` would read:
        /// $BEDROCK_LINK_CONFIG (a path), else $BEDROCK_LINK_CONFIG_TOML (the text), as in a
        /// container.
        #[arg(env = "BEDROCK_LINK_CONFIG", required_unless_present = "config_toml")]
        path: Option<PathBuf>,
        /// The configuration itself, as TOML text.
        #[arg(long, env = CONFIG_TOML_VAR, hide_env_values = true)]
        config_toml: Option<String>,
    },
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Configuration file (TOML).
    #[arg(
        long,
        short,
        env = "BEDROCK_LINK_CONFIG",
        conflicts_with_all = ["demo", "config_toml"],
        required_unless_present_any = ["demo", "config_toml"]
    )]
    config: Option<PathBuf>,
    /// The configuration itself, as TOML text (for containers: set BEDROCK_LINK_CONFIG_TOML).
    #[arg(long, env = CONFIG_TOML_VAR, hide_env_values = true, conflicts_with = "demo")]
    config_toml: Option<String>,
    /// Use the built-in demo configuration (static overrides on 127.0.0.1:5353).
    #[arg(long)]
    demo: bool,
    #[command(flatten)]
    flags: FlagArgs,
}

/// Values that replace the file's.
#[derive(Debug, Args)]
struct FlagArgs {
    /// Listen address (UDP and TCP); repeat for several. Replaces dns.listen.
    #[arg(long, value_name = "ADDR")]
    listen: Vec<SocketAddr>,
    /// Upstream resolver ("auto", IP or IP:PORT); repeat for several. Replaces upstream.servers.
    #[arg(long, value_name = "ADDR")]
    upstream: Vec<String>,
    /// Admin HTTP listen address. Replaces admin.listen.
    #[arg(long, value_name = "ADDR")]
    admin: Option<SocketAddr>,
    /// EC2 API endpoint for every [[source]]. Replaces source.endpoint_url.
    #[arg(long, value_name = "URL")]
    endpoint_url: Option<String>,
}

impl From<FlagArgs> for Flags {
    fn from(f: FlagArgs) -> Self {
        Flags {
            listen: f.listen,
            upstreams: f.upstream,
            admin_listen: f.admin,
            endpoint_url: f.endpoint_url,
        }
    }
}

/// Parses the command line, runs the command and returns the process exit code.
/// Why a command failed: the message and the exit code it maps to.
struct Failure {
    code: u8,
    message: String,
}

impl Failure {
    fn config(message: impl ToString) -> Self {
        Self {
            code: EXIT_CONFIG,
            message: message.to_string(),
        }
    }
    fn runtime(message: impl ToString) -> Self {
        Self {
            code: EXIT_RUNTIME,
            message: message.to_string(),
        }
    }
}

/// Parses the command line, runs the command and returns the process exit code.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    logging::init(cli.log_format, &cli.log_level);
    let result = match cli.command {
        Command::Config(ConfigCommand::Check { path, config_toml }) => {
            check(&config_source(path, config_toml))
        }
        Command::Dns(DnsCommand::Serve(args)) => dns_serve(args),
        Command::Discover(command) => discover(command),
        Command::Phz(PhzCommand::Plan(args)) => phz_plan(args),
        Command::Healthcheck { url } => healthcheck(&url),
        Command::Doctor(args) => doctor(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("error: {}", failure.message);
            ExitCode::from(failure.code)
        }
    }
}

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

fn check(source: &ConfigSource) -> Result<(), Failure> {
    let c = source.load(&Flags::default()).map_err(Failure::config)?;
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

/// The `--endpoint-url` of `discover`, `phz plan` and `doctor`, as the only override.
fn endpoint_flag(url: &Option<String>) -> Flags {
    Flags {
        endpoint_url: url.clone(),
        ..Flags::default()
    }
}

/// One pass over the configuration's sources.
fn snapshots(config: &Config) -> Result<Vec<(String, discovery::Snapshot)>, Failure> {
    runtime(false)?
        .block_on(discovery::discover_once(&config.sources, &config.upstreams))
        .map_err(|(source, e)| Failure::runtime(format!("source {source}: {e}")))
}

fn print_json<T: serde::Serialize>(value: &T) -> Result<(), Failure> {
    let json = serde_json::to_string_pretty(value).map_err(Failure::runtime)?;
    println!("{json}");
    Ok(())
}

fn discover(command: DiscoverCommand) -> Result<(), Failure> {
    let args = command.args;
    let config =
        Config::load(&args.config, &endpoint_flag(&args.endpoint_url)).map_err(Failure::config)?;
    if config.sources.is_empty() {
        let m = format!("{}: no [[source]] to discover", args.config.display());
        return Err(Failure::config(m));
    }
    let snapshots = snapshots(&config)?;
    let mut rows: Vec<discovery::Row> = Vec::new();
    // The probe port of each row's source (`discover_once` keeps the sources' order).
    let mut ports: Vec<Option<u16>> = Vec::new();
    for ((region, snapshot), source) in snapshots.iter().zip(&config.sources) {
        for row in snapshot.rows(region) {
            rows.push(row);
            ports.push(source.health_check);
        }
    }
    let health = if command.probe {
        Some(probe_rows(&rows, &ports, config.health)?)
    } else {
        None
    };
    match args.output {
        Output::Json => match &health {
            None => print_json(&rows)?,
            Some(health) => {
                let probed: Vec<serde_json::Value> = rows
                    .iter()
                    .zip(health)
                    .map(|(row, h)| {
                        let mut v = serde_json::to_value(row).expect("a row is plain data");
                        v["health"] = serde_json::to_value(h).expect("plain data");
                        v
                    })
                    .collect();
                print_json(&probed)?
            }
        },
        Output::Table => {
            let base = |r: &discovery::Row| {
                [
                    r.name.clone(),
                    discovery::services::short_name(&r.service, &r.region).to_string(),
                    r.endpoint_id.clone(),
                    r.state.clone(),
                    join(&r.ipv4),
                    join(&r.ipv6),
                ]
            };
            const HEADER: [&str; 6] = ["NAME", "SERVICE", "ENDPOINT", "STATE", "IPV4", "IPV6"];
            match &health {
                None => print_table(HEADER, rows.iter().map(base)),
                Some(health) => {
                    let [a, b, c, d, e, f] = HEADER;
                    let cells = rows.iter().zip(health).map(|(r, h)| {
                        let [a, b, c, d, e, f] = base(r);
                        [a, b, c, d, e, f, health_cell(h)]
                    });
                    print_table([a, b, c, d, e, f, "HEALTH"], cells);
                }
            }
        }
    }
    Ok(())
}

/// One address probed by `discover --probe`: `"up"`, or `"down: why"`.
type Probed = std::collections::BTreeMap<String, String>;

/// Probes every address of every row whose source has a health check (each address and
/// port once, at most `max_in_flight` at a time).
fn probe_rows(
    rows: &[discovery::Row],
    ports: &[Option<u16>],
    settings: crate::config::HealthSettings,
) -> Result<Vec<Option<Probed>>, Failure> {
    use std::collections::{BTreeSet, HashMap};
    use std::net::SocketAddr;
    let targets: BTreeSet<SocketAddr> = rows
        .iter()
        .zip(ports)
        .filter_map(|(r, port)| Some(targets_of(r, (*port)?)))
        .flatten()
        .collect();
    let results: HashMap<SocketAddr, Result<(), String>> = runtime(false)?.block_on(async {
        let permits = std::sync::Arc::new(tokio::sync::Semaphore::new(settings.max_in_flight));
        let mut probes = tokio::task::JoinSet::new();
        for target in targets {
            let permits = permits.clone();
            probes.spawn(async move {
                let _permit = permits.acquire().await;
                (target, crate::health::probe(target, settings.timeout).await)
            });
        }
        let mut results = HashMap::new();
        while let Some(done) = probes.join_next().await {
            let (target, result) = done.expect("a probe does not panic");
            results.insert(target, result);
        }
        results
    });
    Ok(rows
        .iter()
        .zip(ports)
        .map(|(r, port)| {
            let probed = targets_of(r, (*port)?)
                .map(|target| {
                    let state = match &results[&target] {
                        Ok(()) => "up".to_string(),
                        Err(e) => format!("down: {e}"),
                    };
                    (target.to_string(), state)
                })
                .collect();
            Some(probed)
        })
        .collect())
}

/// A row's addresses on its source's probe port.
fn targets_of(r: &discovery::Row, port: u16) -> impl Iterator<Item = std::net::SocketAddr> + '_ {
    let v4 = r.ipv4.iter().map(|&a| std::net::IpAddr::from(a));
    let v6 = r.ipv6.iter().map(|&a| std::net::IpAddr::from(a));
    v4.chain(v6)
        .map(move |ip| std::net::SocketAddr::new(ip, port))
}

fn health_cell(probed: &Option<Probed>) -> String {
    let Some(probed) = probed else {
        return "not checked".into();
    };
    let down: Vec<&str> = probed
        .iter()
        .filter(|(_, state)| *state != "up")
        .map(|(target, _)| target.as_str())
        .collect();
    if down.is_empty() {
        format!("{} up", probed.len())
    } else {
        format!(
            "{}/{} up; down: {}",
            probed.len() - down.len(),
            probed.len(),
            down.join(", ")
        )
    }
}

fn phz_plan(args: DiscoverArgs) -> Result<(), Failure> {
    let config =
        Config::load(&args.config, &endpoint_flag(&args.endpoint_url)).map_err(Failure::config)?;
    let mut records = crate::cli::phz::plan_statics(&config);
    if !config.sources.is_empty() {
        for (_, snapshot) in snapshots(&config)? {
            records.extend(crate::cli::phz::plan_snapshot(&snapshot));
        }
    }
    match args.output {
        Output::Json => print_json(&records)?,
        Output::Table => {
            let cells = records.iter().map(|r| {
                let target = match (&r.alias_target, &r.alias_zone_id) {
                    (Some(t), Some(z)) => format!("alias {t} ({z})"),
                    _ => r.values.join(", "),
                };
                [
                    r.zone.clone(),
                    r.name.clone(),
                    r.r#type.to_string(),
                    target,
                    r.origin.clone(),
                    r.state.clone(),
                ]
            });
            print_table(
                ["ZONE", "RECORD", "TYPE", "TARGET", "ORIGIN", "STATE"],
                cells,
            );
        }
    }
    Ok(())
}

fn doctor(args: DoctorArgs) -> Result<(), Failure> {
    let config = Config::load(&args.config, &endpoint_flag(&args.endpoint_url)).map_err(|e| {
        match args.output {
            Output::Json => println!("{}", serde_json::json!([{"check": "configuration", "ok": false, "detail": e.to_string(), "fix": "correct the file"}])),
            Output::Table => println!("FAIL  configuration  {e}"),
        }
        Failure::config(e)
    })?;
    let options = crate::cli::doctor::Options {
        resolver: args.resolver,
        port: args.port,
        no_connect: args.no_connect,
        timeout: std::time::Duration::from_secs(3),
    };
    let checks = runtime(false)?.block_on(crate::cli::doctor::run(&config, &options));
    match args.output {
        Output::Json => print_json(&checks)?,
        Output::Table => {
            for c in &checks {
                let verdict = if c.ok { "PASS" } else { "FAIL" };
                match &c.fix {
                    Some(fix) => println!("{verdict}  {}  {}\n      fix: {fix}", c.check, c.detail),
                    None => println!("{verdict}  {}  {}", c.check, c.detail),
                }
            }
        }
    }
    let failed = checks.iter().filter(|c| !c.ok).count();
    if failed == 0 {
        Ok(())
    } else {
        Err(Failure::runtime(format!(
            "{failed} of {} checks failed",
            checks.len()
        )))
    }
}

/// A plain HTTP GET with short timeouts: exit 0 on 200, 1 otherwise.
fn healthcheck(url: &str) -> Result<(), Failure> {
    use std::io::{Read, Write};
    use std::net::{TcpStream, ToSocketAddrs};
    use std::time::Duration;

    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| Failure::config(format!("{url}: only http:// URLs are supported")))?;
    let (host, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_string()), |(h, p)| (h, format!("/{p}")));
    let addr = host
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| Failure::config(format!("{url}: host must be IP:PORT")))?;
    let fail = |e: std::io::Error| Failure::runtime(format!("{url}: {e}"));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).map_err(fail)?;
    stream
        .set_read_timeout(Some(Duration::from_secs(2)))
        .map_err(fail)?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n").map_err(fail)?;
    let mut reply = String::new();
    stream.read_to_string(&mut reply).map_err(fail)?;
    let status = reply.split_whitespace().nth(1).unwrap_or("none");
    if status == "200" {
        println!("{url}: ready");
        Ok(())
    } else {
        Err(Failure::runtime(format!("{url}: HTTP status {status}")))
    }
}

/// Left-aligned columns, two spaces apart.
fn print_table<const N: usize>(header: [&str; N], rows: impl Iterator<Item = [String; N]>) {
    let rows: Vec<[String; N]> = rows.collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.len());
        }
    }
    let line = |cells: Vec<&str>| {
        let text: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", text.join("  ").trim_end());
    };
    line(header.to_vec());
    for row in &rows {
        line(row.iter().map(String::as_str).collect());
    }
    if rows.is_empty() {
        println!("(nothing)");
    }
}

fn join<T: ToString>(items: &[T]) -> String {
    items
        .iter()
        .map(T::to_string)
        .collect::<Vec<_>>()
        .join(", ")
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

fn dns_serve(args: ServeArgs) -> Result<(), Failure> {
    let source = config_source(args.config, args.config_toml);
    runtime(true)?
        .block_on(serve::run(source, args.flags.into()))
        .map_err(|e| match e {
            ServeError::Config(_) => Failure::config(e),
            _ => Failure::runtime(e),
        })
}
