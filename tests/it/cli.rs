//! The binary as an operator runs it: exit codes, `config check`, `dns serve` with signals and
//! the admin listener.

use std::net::SocketAddr;
use std::process::Output;
use std::time::Duration;

use crate::support::process::*;
use crate::support::*;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;

fn run(args: &[&str]) -> Output {
    command().args(args).output().expect("binary runs")
}

#[test]
fn version_help_and_usage_errors() {
    let v = run(&["--version"]);
    assert!(v.status.success());
    assert!(String::from_utf8_lossy(&v.stdout).contains(env!("CARGO_PKG_VERSION")));
    assert!(run(&["dns", "serve", "--help"]).status.success());
    assert_eq!(run(&["dns", "serve", "--bogus"]).status.code(), Some(2));
    assert_eq!(
        run(&["dns", "serve"]).status.code(),
        Some(2),
        "no configuration given"
    );
    assert_eq!(run(&["nonsense"]).status.code(), Some(2));
}

#[test]
fn config_check_accepts_the_shipped_examples() {
    for file in ["config/demo.toml", "config/production.toml"] {
        let out = run(&["config", "check", file]);
        assert!(
            out.status.success(),
            "{file}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("ok"));
    }
}

#[test]
fn config_errors_name_file_line_and_key_and_exit_2() {
    let dir = temp_dir("check");
    let cases = [
        (
            "unknown.toml",
            "[dns]\nttl = 30\nlisten_on = []\n",
            ":3:",
            "listen_on",
        ),
        (
            "type.toml",
            "[upstream]\ntimeout_ms = \"fast\"\n",
            ":2:",
            "upstream.timeout_ms",
        ),
        (
            "name.toml",
            "[[static]]\nname = \"ok.example.com\"\n\n[[static]]\nname = \"bad name\"\n",
            ":5:",
            "static[1].name",
        ),
        (
            "ip.toml",
            "[[static]]\nname = \"a.example.com\"\nipv4 = [\"10.0.0.300\"]\n",
            ":3:",
            "static[0].ipv4",
        ),
        ("syntax.toml", "[dns\n", ":1:", ""),
    ];
    for (file, text, line, key) in cases {
        let path = write(&dir, file, text);
        let out = run(&["config", "check", path.to_str().unwrap()]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{file}: {err}");
        assert!(
            err.contains(&format!("{file}{line}")),
            "{file}: names file and line: {err}"
        );
        assert!(err.contains(key), "{file}: names the key {key}: {err}");
    }
    let missing = run(&["config", "check", "/nonexistent/bedrock-link.toml"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/nonexistent/bedrock-link.toml"));
}

#[test]
fn serve_refuses_an_upstream_that_is_itself() {
    let port = free_port();
    let out = run(&[
        "dns",
        "serve",
        "--demo",
        "--admin",
        "127.0.0.1:0",
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--upstream",
        &format!("127.0.0.1:{port}"),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("loop"));
}

#[test]
fn serve_exits_1_when_it_cannot_listen() {
    let taken = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = run(&[
        "dns",
        "serve",
        "--demo",
        "--admin",
        "127.0.0.1:0",
        "--listen",
        &addr,
        "--upstream",
        "127.0.0.1:9",
    ]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains(&addr));
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_reloads_on_sighup_reports_on_admin_and_exits_0_on_sigterm() {
    let up = TestUpstream::start().await;
    up.rule(
        "fwd.example.test",
        Behaviour::Answer {
            ips: vec![ip("192.0.2.5")],
            ttl: 60,
        },
    );
    let (dns_port, admin_port) = (free_port(), free_port());
    let dns: SocketAddr = format!("127.0.0.1:{dns_port}").parse().unwrap();
    let admin: SocketAddr = format!("127.0.0.1:{admin_port}").parse().unwrap();
    let file = |ip: &str| {
        format!(
            "[dns]\nlisten = [\"{dns}\"]\n[upstream]\nservers = [\"{}\"]\n[admin]\nlisten = \"{admin}\"\n\
             [[static]]\nname = \"bedrock-runtime.ap-southeast-2.amazonaws.com\"\nipv4 = [\"{ip}\"]\n",
            up.addr
        )
    };
    let dir = temp_dir("serve");
    let path = write(&dir, "bedrock-link.toml", &file("10.1.0.10"));
    let mut d = Daemon::start(&[
        "--log-format",
        "json",
        "dns",
        "serve",
        "--config",
        path.to_str().unwrap(),
    ]);
    let started = d.wait_for("bedrock-link serving");
    assert!(
        started.starts_with('{') && started.contains("\"level\":\"INFO\""),
        "JSON logs: {started}"
    );
    assert!(
        started.contains("overrides=1"),
        "startup summary: {started}"
    );

    let name = "bedrock-runtime.ap-southeast-2.amazonaws.com.";
    assert_eq!(
        ipv4s(&ask(dns, name, RecordType::A).await),
        vec![ip("10.1.0.10")]
    );
    assert_eq!(
        ipv4s(&ask(dns, "fwd.example.test.", RecordType::A).await),
        vec![ip("192.0.2.5")]
    );
    assert_eq!(
        ipv4s(&ask(dns, "fwd.example.test.", RecordType::A).await),
        vec![ip("192.0.2.5")]
    );

    let (status, _) = http_get(admin, "/healthz");
    assert_eq!(status, 200);
    let (status, _) = http_get(admin, "/readyz");
    assert_eq!(status, 200);
    let (status, body) = http_get(admin, "/metrics");
    assert_eq!(status, 200);
    assert_eq!(
        metric(&body, "bedrock_link_queries_total{outcome=\"override\"}"),
        1.0
    );
    assert_eq!(
        metric(&body, "bedrock_link_queries_total{outcome=\"forwarded\"}"),
        1.0
    );
    assert_eq!(
        metric(&body, "bedrock_link_queries_total{outcome=\"cache_hit\"}"),
        1.0
    );
    assert_eq!(metric(&body, "bedrock_link_cache_entries"), 1.0);
    assert_eq!(
        metric(&body, "bedrock_link_upstream_duration_seconds_count"),
        1.0
    );

    // A good file takes effect on SIGHUP; what needs a restart is named.
    std::fs::write(
        &path,
        file("10.1.9.9").replace("[upstream]\n", "[upstream]\ncache_size = 5\n"),
    )
    .unwrap();
    d.signal("HUP");
    let warned = d.wait_for("apply only after a restart");
    assert!(warned.contains("upstream.cache_size"), "{warned}");
    d.wait_for("configuration reloaded");
    assert_eq!(
        ipv4s(&ask(dns, name, RecordType::A).await),
        vec![ip("10.1.9.9")]
    );

    // A broken file is rejected and the running configuration stays.
    std::fs::write(&path, "[dns]\nttl = \"soon\"\n").unwrap();
    d.signal("HUP");
    let rejected = d.wait_for("reload rejected");
    assert!(rejected.contains("dns.ttl"), "names the key: {rejected}");
    assert_eq!(
        ipv4s(&ask(dns, name, RecordType::A).await),
        vec![ip("10.1.9.9")]
    );
    let (_, body) = http_get(admin, "/metrics");
    assert_eq!(metric(&body, "bedrock_link_reload_failures_total"), 1.0);

    d.signal("TERM");
    assert_eq!(d.wait_exit(), Some(0), "SIGTERM drains and exits 0");
    assert!(
        crate::support::udp_raw(
            dns,
            &query_msg(name, RecordType::A, None).to_vec().unwrap(),
            Duration::from_millis(300)
        )
        .await
        .is_none()
    );
}

#[test]
fn demo_serves_from_the_built_in_configuration() {
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut d = Daemon::start(&[
        "dns",
        "serve",
        "--demo",
        "--admin",
        "127.0.0.1:0",
        "--listen",
        &listen,
        "--upstream",
        "127.0.0.1:9",
    ]);
    d.wait_for("bedrock-link serving");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let reply = rt.block_on(ask(
        listen.parse().unwrap(),
        "bedrock-runtime.ap-southeast-2.amazonaws.com.",
        RecordType::A,
    ));
    assert_eq!(ipv4s(&reply), vec![ip("10.1.0.10"), ip("10.1.1.10")]);
    d.signal("INT");
    assert_eq!(d.wait_exit(), Some(0));
}

#[test]
fn config_from_the_environment_and_the_healthcheck_command() {
    let (dns_port, admin_port) = (free_port(), free_port());
    let text = format!(
        "[dns]\nlisten = [\"127.0.0.1:{dns_port}\"]\n[upstream]\nservers = [\"127.0.0.1:9\"]\n\
         [admin]\nlisten = \"127.0.0.1:{admin_port}\"\n\
         [[static]]\nname = \"bedrock-runtime.ap-southeast-2.amazonaws.com\"\nipv4 = [\"10.7.0.1\"]\n"
    );
    let url = format!("http://127.0.0.1:{admin_port}/readyz");
    let health = || {
        command()
            .args(["healthcheck", "--url", &url])
            .output()
            .unwrap()
    };
    assert_eq!(health().status.code(), Some(1), "nothing listens yet");

    let mut child = command()
        .args(["dns", "serve"])
        .env("BEDROCK_LINK_CONFIG_TOML", &text)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !health().status.success() {
        assert!(std::time::Instant::now() < deadline, "never ready");
        std::thread::sleep(Duration::from_millis(50));
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dns: SocketAddr = format!("127.0.0.1:{dns_port}").parse().unwrap();
    let reply = rt.block_on(ask(
        dns,
        "bedrock-runtime.ap-southeast-2.amazonaws.com.",
        RecordType::A,
    ));
    assert_eq!(
        ipv4s(&reply),
        vec![ip("10.7.0.1")],
        "served from the configuration in the environment"
    );
    let _ = child.kill();
    let _ = child.wait();

    let bad = command()
        .args(["dns", "serve"])
        .env("BEDROCK_LINK_CONFIG_TOML", "[dns]\nttl = \"x\"\n")
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("$BEDROCK_LINK_CONFIG_TOML:2"),
        "names the variable and line"
    );
}

#[test]
fn config_check_reads_the_configuration_dns_serve_would() {
    // A container has no file to name: with no path, `config check` checks the text in
    // $BEDROCK_LINK_CONFIG_TOML, and names it in what it says.
    let text = "[dns]\nlisten = [\"127.0.0.1:5399\"]\n[upstream]\nservers = [\"127.0.0.1:9\"]\n";
    let check = |args: &[&str], env: Option<&str>| {
        let mut cmd = command();
        cmd.args(args);
        if let Some(text) = env {
            cmd.env("BEDROCK_LINK_CONFIG_TOML", text);
        }
        cmd.output().unwrap()
    };
    let ok = check(&["config", "check"], Some(text));
    let stdout = String::from_utf8_lossy(&ok.stdout);
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(
        stdout.starts_with("$BEDROCK_LINK_CONFIG_TOML: ok"),
        "{stdout}"
    );
    assert!(
        stdout.contains("listen:         127.0.0.1:5399"),
        "{stdout}"
    );

    let bad = check(&["config", "check"], Some("[dns]\nttl = \"x\"\n"));
    assert_eq!(bad.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        stderr.contains("$BEDROCK_LINK_CONFIG_TOML:2:7: dns.ttl"),
        "{stderr}"
    );

    // A path wins over the text, as for `dns serve`.
    let dir = temp_dir("config-check-env");
    let file = dir.join("c.toml");
    std::fs::write(&file, text.replace("5399", "5398")).unwrap();
    let both = check(&["config", "check", file.to_str().unwrap()], Some(text));
    let stdout = String::from_utf8_lossy(&both.stdout);
    assert_eq!(both.status.code(), Some(0));
    assert!(
        stdout.starts_with(&format!("{}: ok", file.display())),
        "{stdout}"
    );
    assert!(stdout.contains("127.0.0.1:5398"), "{stdout}");

    // Neither: a usage error.
    assert_eq!(check(&["config", "check"], None).status.code(), Some(2));
}

#[tokio::test(flavor = "multi_thread")]
async fn reloads_leave_no_upstream_receiver_threads_behind() {
    let up = TestUpstream::start().await;
    let dns: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let file = |timeout: u32| {
        format!(
            "[dns]\nlisten = [\"{dns}\"]\n[upstream]\nservers = [\"{}\"]\ntimeout_ms = {timeout}\n",
            up.addr
        )
    };
    let dir = temp_dir("reload-threads");
    let path = write(&dir, "bedrock-link.toml", &file(1000));
    let mut d = Daemon::start(&["dns", "serve", "--config", path.to_str().unwrap()]);
    d.wait_for("bedrock-link serving");
    // A forwarded query starts the upstream server's receiver thread.
    let ask_new = |i: u32| async move {
        let reply = ask(dns, &format!("r{i}.reload.test."), RecordType::A).await;
        assert_eq!(reply.metadata.response_code, ResponseCode::NXDomain);
    };
    ask_new(0).await;
    let before = d.threads();
    // Each reload makes new upstream pools, and a query starts their receiver; the old pools
    // are dropped, and their receivers end.
    for i in 1..=5 {
        std::fs::write(&path, file(1000 + i)).unwrap();
        d.signal("HUP");
        d.wait_for("configuration reloaded");
        ask_new(i).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(d.threads(), before, "threads after 5 reloads");
}

#[tokio::test(flavor = "multi_thread")]
async fn retired_upstream_sockets_are_closed() {
    use bedrock_link::dns::upstream::pool::{POOL_SIZE, SOCKET_BUDGET};
    let up = TestUpstream::start().await;
    let dns: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let text = format!(
        "[dns]\nlisten = [\"{dns}\"]\n[upstream]\nservers = [\"{}\"]\nmax_queries_per_second = 0\n",
        up.addr
    );
    let dir = temp_dir("retired-sockets");
    let path = write(&dir, "bedrock-link.toml", &text);
    let mut d = Daemon::start(&["dns", "serve", "--config", path.to_str().unwrap()]);
    d.wait_for("bedrock-link serving");
    let mut asked = 0;
    let mut ask_next = async || {
        asked += 1;
        let reply = ask(dns, &format!("s{asked}.sockets.test."), RecordType::A).await;
        assert_eq!(reply.metadata.response_code, ResponseCode::NXDomain);
    };
    // Every pooled socket opened.
    for _ in 0..POOL_SIZE {
        ask_next().await;
    }
    let before = d.open_files();
    // Each socket replaced twice over: the old ones closed once their queries ended.
    for _ in 0..2 * POOL_SIZE * SOCKET_BUDGET as usize {
        ask_next().await;
    }
    assert_eq!(
        d.open_files(),
        before,
        "files open after every socket was replaced"
    );
    // And again with 16 queries at a time, each answered after 20 ms: sockets are replaced
    // while queries still wait on them, and close when the last of those ends.
    let total = 2 * POOL_SIZE * SOCKET_BUDGET as usize;
    for i in 0..total {
        up.rule(
            &format!("c{i}.sockets.test"),
            Behaviour::Delay {
                ms: 20,
                ips: vec![ip("192.0.2.96")],
                ttl: 0,
            },
        );
    }
    for wave in 0..total / 16 {
        let askers: Vec<_> = (0..16)
            .map(|j| {
                let name = format!("c{}.sockets.test.", wave * 16 + j);
                tokio::spawn(async move { ask(dns, &name, RecordType::A).await })
            })
            .collect();
        for asker in askers {
            assert_eq!(ipv4s(&asker.await.unwrap()), vec![ip("192.0.2.96")]);
        }
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        d.open_files(),
        before,
        "files open after replacing sockets under load"
    );
}
