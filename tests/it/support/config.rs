//! Configurations for bedrock-link in tests, and starting it in-process.

use std::net::SocketAddr;
use std::path::Path;

use bedrock_link::config::{Config, Flags};
use bedrock_link::serve::Running;

/// Builds a configuration: listen on 127.0.0.1:0, the given upstream, plus `extra` TOML.
pub fn config(upstream: SocketAddr, extra: &str) -> Config {
    config_servers(&[upstream], extra)
}

/// [`config`] with several upstream servers, tried in order.
pub fn config_servers(upstreams: &[SocketAddr], extra: &str) -> Config {
    let servers: Vec<String> = upstreams.iter().map(|u| format!("\"{u}\"")).collect();
    let servers = servers.join(", ");
    let mut up = section(extra, "upstream");
    if !up.contains("timeout_ms") {
        up.push_str("timeout_ms = 1000\n");
    }
    let text = format!(
        "[dns]\nlisten = [\"127.0.0.1:0\"]\n{dns}\n[upstream]\nservers = [{servers}]\n{up}\n{rest}",
        dns = section(extra, "dns"),
        rest = without_sections(extra, &["dns", "upstream"]),
    );
    Config::from_toml(&text, Path::new("test.toml"), &Flags::default())
        .unwrap_or_else(|e| panic!("{e}\n{text}"))
}

/// Lines of `extra` that belong to `[name]` (given as a leading block `[name]` ... ).
fn section(extra: &str, name: &str) -> String {
    let header = format!("[{name}]");
    let mut out = String::new();
    let mut inside = false;
    for line in extra.lines() {
        let t = line.trim();
        if t.starts_with('[') {
            inside = t == header;
            continue;
        }
        if inside {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

fn without_sections(extra: &str, names: &[&str]) -> String {
    let headers: Vec<String> = names.iter().map(|n| format!("[{n}]")).collect();
    let mut out = String::new();
    let mut inside = false;
    for line in extra.lines() {
        let t = line.trim();
        if t.starts_with('[') {
            inside = headers.iter().any(|h| h == t);
            if inside {
                continue;
            }
        }
        if !inside {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// Starts bedrock-link in-process; returns it and its DNS address.
pub async fn start(config: Config) -> (Running, SocketAddr) {
    let running = Running::start(config).await.expect("server starts");
    let addr = running.dns_addrs()[0];
    (running, addr)
}
