//! Unit tests of the configuration: defaults, every key's errors, flags.

use super::file::default_listen;
use super::*;

fn load(text: &str) -> Result<Config, ConfigError> {
    Config::from_toml(text, Path::new("t.toml"), &Flags::default())
}

#[test]
fn defaults_fill_an_empty_file() {
    let c = load("").unwrap();
    assert_eq!(&c.listen, default_listen().get_ref());
    assert_eq!(c.upstreams, vec![VPC_RESOLVER]);
    assert_eq!(c.ttl, 30);
    assert_eq!(c.on_unavailable, OnUnavailable::Servfail);
    assert_eq!(c.cache_size, 10_000);
}

#[test]
fn unknown_key_names_key_and_line() {
    let e = load("[dns]\nttl = 5\nbogus = 1\n").unwrap_err();
    let s = e.to_string();
    assert!(s.starts_with("t.toml:3:"), "{s}");
    assert!(s.contains("bogus"), "{s}");
}

#[test]
fn rate_limit_is_off_by_default_and_checked_when_given() {
    assert_eq!(load("").unwrap().rate_limit, None);
    let c = load("[dns.rate_limit]\nqueries_per_second = 50\n").unwrap();
    let want = Rate {
        queries_per_second: 50,
        burst: 50,
    };
    assert_eq!(c.rate_limit, Some(want));
    let e = load("[dns.rate_limit]\nqueries_per_second = 0\n").unwrap_err();
    assert_eq!(
        (e.key.as_str(), e.position.map(|p| p.0)),
        ("dns.rate_limit.queries_per_second", Some(2))
    );
    let e = load("[dns.rate_limit]\nqueries_per_second = 5\nburst = 0\n").unwrap_err();
    assert_eq!(e.key, "dns.rate_limit.burst");
    let e = load("[dns.rate_limit]\nqps = 5\n").unwrap_err();
    assert!(e.to_string().contains("qps"), "{e}");
}

#[test]
fn udp_threads_are_chosen_from_the_cores_unless_given_and_checked_when_given() {
    assert_eq!(load("").unwrap().udp_threads, None);
    assert_eq!(
        load("[dns]\nudp_threads = 3\n").unwrap().udp_threads,
        Some(3)
    );
    for bad in ["0", "65"] {
        let e = load(&format!("[dns]\nudp_threads = {bad}\n")).unwrap_err();
        assert_eq!(
            (e.key.as_str(), e.position.map(|p| p.0)),
            ("dns.udp_threads", Some(2))
        );
    }
}

#[test]
fn admin_listens_on_loopback_unless_told_otherwise() {
    assert_eq!(load("").unwrap().admin_listen, None);
    let c = load("[admin]\n").unwrap();
    assert_eq!(c.admin_listen, Some("127.0.0.1:9153".parse().unwrap()));
}

#[test]
fn wrong_type_names_key_path() {
    let e = load("[dns]\nttl = \"x\"\n").unwrap_err();
    assert_eq!(e.key, "dns.ttl");
    assert_eq!(e.position.unwrap().0, 2);
}

#[test]
fn bad_static_name_names_entry_and_line() {
    let e = load("[[static]]\nname = \"ok.example.com\"\n[[static]]\nname = \"a*b.example.com\"\n")
        .unwrap_err();
    assert_eq!(e.key, "static[1].name");
    assert_eq!(e.position.unwrap().0, 4);
}

#[test]
fn duplicate_static_is_rejected_case_insensitively() {
    let e = load("[[static]]\nname = \"A.example.com\"\n[[static]]\nname = \"a.EXAMPLE.com.\"\n")
        .unwrap_err();
    assert!(e.message.contains("twice"), "{e}");
}

#[test]
fn upstream_loop_is_refused() {
    let e = load("[dns]\nlisten=[\"127.0.0.1:5353\"]\n[upstream]\nservers=[\"127.0.0.1:5353\"]\n")
        .unwrap_err();
    assert!(e.message.contains("loop"), "{e}");
    let e = load("[dns]\nlisten=[\"0.0.0.0:5353\"]\n[upstream]\nservers=[\"127.0.0.2:5353\"]\n")
        .unwrap_err();
    assert!(e.message.contains("loop"), "{e}");
    assert!(
        load("[dns]\nlisten=[\"0.0.0.0:5353\"]\n[upstream]\nservers=[\"127.0.0.1:5300\"]\n")
            .is_ok()
    );
}

#[test]
fn semantic_errors_have_lines_too() {
    let e = load("[dns]\n\nttl = 100000\n").unwrap_err();
    assert_eq!(
        (e.key.as_str(), e.position.map(|p| p.0)),
        ("dns.ttl", Some(3))
    );
    let e = load("[upstream]\ntimeout_ms = 5\n").unwrap_err();
    assert_eq!(
        (e.key.as_str(), e.position.map(|p| p.0)),
        ("upstream.timeout_ms", Some(2))
    );
    let e = load("[dns]\nlisten = [\"127.0.0.1:1\", \"127.0.0.1:1\"]\n").unwrap_err();
    assert_eq!(
        (e.key.as_str(), e.position.map(|p| p.0)),
        ("dns.listen", Some(2))
    );
    // A value from a flag has no line in the file.
    let flags = Flags {
        upstreams: vec!["nope".into()],
        ..Flags::default()
    };
    let e = Config::from_toml("", Path::new("t.toml"), &flags).unwrap_err();
    assert_eq!((e.key.as_str(), e.position), ("upstream.servers[0]", None));
}

#[test]
fn endpoint_url_flag_replaces_every_source() {
    let text = "[[source]]\nregion = \"ap-southeast-2\"\nvpc_id = \"vpc-0a\"\n\
                endpoint_url = \"https://vpce-1-a.ec2.ap-southeast-2.vpce.amazonaws.com\"\n\
                [[source]]\nregion = \"us-east-1\"\nvpc_id = \"vpc-0b\"\n";
    let flags = Flags {
        endpoint_url: Some("http://127.0.0.1:5000".into()),
        ..Flags::default()
    };
    let c = Config::from_toml(text, Path::new("t.toml"), &flags).unwrap();
    let urls: Vec<_> = c
        .sources
        .iter()
        .map(|s| s.endpoint_url.as_deref())
        .collect();
    assert_eq!(urls, [Some("http://127.0.0.1:5000"); 2]);

    let flags = Flags {
        endpoint_url: Some("ftp://x".into()),
        ..Flags::default()
    };
    let e = Config::from_toml(text, Path::new("t.toml"), &flags).unwrap_err();
    assert_eq!((e.key.as_str(), e.position), ("--endpoint-url", None));
    assert!(e.to_string().contains("not an http(s) URL"), "{e}");
}

#[test]
fn upstream_forms() {
    assert_eq!(parse_upstream("auto").unwrap(), VPC_RESOLVER);
    assert_eq!(
        parse_upstream("10.0.0.2").unwrap(),
        "10.0.0.2:53".parse().unwrap()
    );
    assert_eq!(
        parse_upstream("[::1]:5300").unwrap(),
        "[::1]:5300".parse().unwrap()
    );
    assert!(parse_upstream("dns.example.com").is_err());
}

#[test]
fn sources_parse_with_defaults() {
    let c = load("[[source]]\nregion = \"ap-southeast-2\"\nvpc_id = \"vpc-0a1\"\n").unwrap();
    let s = &c.sources[0];
    assert_eq!(s.services, vec!["bedrock*"]);
    assert_eq!(s.refresh, Duration::from_secs(60));
    assert_eq!(s.max_stale, Duration::from_secs(86_400));
    assert_eq!(s.label(), "ap-southeast-2/vpc-0a1");
    let c = load(
        "[[source]]\nregion = \"us-gov-west-1\"\ntags = { team = \"ml\" }\n\
         services = [\"Bedrock-Runtime\", \"sts\"]\nrefresh = \"5s\"\nmax_stale = \"1h\"\n\
         endpoint_url = \"http://127.0.0.1:5000\"\n",
    )
    .unwrap();
    assert_eq!(c.sources[0].services, vec!["bedrock-runtime", "sts"]);
    assert_eq!(c.sources[0].refresh, Duration::from_secs(5));
}

const ROLE: &str = "arn:aws:iam::222222222222:role/network/bedrock-link-discovery";

#[test]
fn a_source_may_assume_a_role() {
    let base = "[[source]]\nregion = \"us-east-1\"\nvpc_id = \"vpc-0a\"\n";
    assert_eq!(load(base).unwrap().sources[0].role, None);
    let c = load(&format!("{base}role_arn = \"{ROLE}\"\n")).unwrap();
    let role = c.sources[0].role.clone().unwrap();
    assert_eq!(role.arn, ROLE);
    assert_eq!(role.external_id, None);
    assert_eq!(role.session_name, "bedrock-link");
    let c = load(&format!(
        "{base}role_arn = \"{ROLE}\"\nexternal_id = \"team-ml:42\"\nsession_name = \"resolver@app\"\n"
    ))
    .unwrap();
    let role = c.sources[0].role.clone().unwrap();
    assert_eq!(role.external_id.as_deref(), Some("team-ml:42"));
    assert_eq!(role.session_name, "resolver@app");
    let gov = "arn:aws-us-gov:iam::123456789012:role/r";
    assert!(load(&format!("{base}role_arn = \"{gov}\"\n")).is_ok());
}

#[test]
fn bad_sources_name_the_key_and_line() {
    let base = "region = \"ap-southeast-2\"\nvpc_id = \"vpc-1\"\n";
    for (text, key) in [
        (
            "region = \"Sydney\"\nvpc_id = \"vpc-1\"\n".to_string(),
            "source[0].region",
        ),
        (
            "region = \"ap-southeast-2\"\nvpc_id = \"vpc-xyz\"\n".into(),
            "source[0].vpc_id",
        ),
        ("region = \"ap-southeast-2\"\n".into(), "source[0].vpc_id"),
        (format!("{base}services = []"), "source[0].services"),
        (
            format!("{base}services = [\"bed rock\"]"),
            "source[0].services",
        ),
        (
            format!("{base}endpoint_url = \"ftp://x\""),
            "source[0].endpoint_url",
        ),
        (
            format!("{base}domains = [\"not a domain\"]"),
            "source[0].domains",
        ),
        (format!("{base}domains = [\"local\"]"), "source[0].domains"),
        (format!("{base}refresh = \"60\""), "source[0].refresh"),
        (
            format!("{base}refresh = \"10m\"\nmax_stale = \"1m\""),
            "source[0].max_stale",
        ),
        (format!("{base}vcp = 1"), "source[0]"),
        (
            format!("{base}role_arn = \"arn:aws:iam::1234:role/x\""),
            "source[0].role_arn",
        ),
        (
            format!("{base}role_arn = \"arn:aws:iam::123456789012:user/x\""),
            "source[0].role_arn",
        ),
        (
            format!("{base}external_id = \"abc\""),
            "source[0].external_id",
        ),
        (
            format!("{base}role_arn = \"{ROLE}\"\nexternal_id = \"a b\""),
            "source[0].external_id",
        ),
        (
            format!("{base}role_arn = \"{ROLE}\"\nsession_name = \"x\""),
            "source[0].session_name",
        ),
    ] {
        let e = load(&format!("[dns]\nttl = 5\n[[source]]\n{text}\n")).unwrap_err();
        assert!(e.key.starts_with(key), "{text}: {e}");
        assert!(e.position.is_some(), "{text}: {e}");
    }
    let twice = format!("[[source]]\n{base}[[source]]\n{base}");
    assert!(load(&twice).unwrap_err().message.contains("twice"));
}

#[test]
fn override_names() {
    assert_eq!(
        parse_override_name("*.S3.us-east-1.amazonaws.com")
            .unwrap()
            .to_string(),
        "*.s3.us-east-1.amazonaws.com."
    );
    assert!(parse_override_name("com").is_err());
    assert!(parse_override_name("a..b").is_err());
    assert!(parse_override_name("bad name.com").is_err());
}

#[test]
fn health_checks_are_on_for_sources_off_for_statics_and_checked_when_given() {
    let src = "[[source]]\nregion = \"us-east-1\"\nvpc_id = \"vpc-0a\"\n";
    let st = "[[static]]\nname = \"a.example.test\"\nipv4 = [\"10.0.0.1\"]\n";
    let c = load(&format!("{src}{st}")).unwrap();
    assert_eq!(c.sources[0].health_check, Some(443));
    assert_eq!(c.statics[0].health_check, None);
    assert_eq!(c.health, HealthSettings::default());
    let c = load(&format!(
        "{src}health_check = false\n{st}health_check = true\nhealth_check_port = 8443\n"
    ))
    .unwrap();
    assert_eq!(c.sources[0].health_check, None);
    assert_eq!(c.statics[0].health_check, Some(8443));

    let e = load(&format!("{st}health_check_port = 0\n")).unwrap_err();
    assert_eq!(
        (e.key.as_str(), e.position.map(|p| p.0)),
        ("static[0].health_check_port", Some(4))
    );
    let e = load(&format!("{src}health_check_port = 0\n")).unwrap_err();
    assert_eq!(e.key, "source[0].health_check_port");
    for (bad, key) in [
        ("interval = \"500ms\"", "health.interval"),
        ("interval = \"2h\"", "health.interval"),
        ("timeout = \"5s\"", "health.timeout"),
        ("down_after = 0", "health.down_after"),
        ("up_after = 11", "health.up_after"),
        ("max_in_flight = 0", "health.max_in_flight"),
    ] {
        let e = load(&format!("[health]\n{bad}\n")).unwrap_err();
        assert_eq!(e.key, key, "{bad}: {e}");
    }
    let e = load("[health]\nretries = 3\n").unwrap_err();
    assert!(e.to_string().contains("retries"), "{e}");
}

#[test]
fn built_in_defaults_are_the_documented_ones() {
    let c = load("").unwrap();
    assert_eq!(c.tcp_idle_timeout, Duration::from_secs(10));
    assert_eq!(c.cache_max_bytes, 4 * 1024 * 1024);
    // Private and loopback clients only: never an open resolver by default.
    let allowed = |ip: &str| {
        let ip: IpAddr = ip.parse().unwrap();
        c.allow.iter().any(|net| net.contains(&ip))
    };
    for ip in [
        "127.0.0.1",
        "10.1.2.3",
        "172.31.0.1",
        "192.168.1.1",
        "100.64.0.1",
        "::1",
        "fd00::1",
    ] {
        assert!(allowed(ip), "{ip}");
    }
    for ip in ["8.8.8.8", "172.32.0.1", "2001:db8::1", "0.0.0.0"] {
        assert!(!allowed(ip), "{ip}");
    }
}

#[test]
fn an_error_names_file_position_and_key_when_it_has_them() {
    let error = |position, key: &str| ConfigError {
        file: "f.toml".into(),
        position,
        key: key.to_string(),
        message: "wrong".to_string(),
    };
    assert_eq!(
        error(Some((2, 3)), "dns.ttl").to_string(),
        "f.toml:2:3: dns.ttl: wrong"
    );
    assert_eq!(error(None, "dns.ttl").to_string(), "f.toml: dns.ttl: wrong");
    assert_eq!(error(None, "").to_string(), "f.toml: wrong");
}

#[test]
fn positions_are_one_based_lines_and_columns() {
    use super::error::line_col;
    let text = "ab\ncde\nf";
    assert_eq!(line_col(text, 0), (1, 1));
    assert_eq!(line_col(text, 1), (1, 2));
    assert_eq!(line_col(text, 3), (2, 1));
    assert_eq!(line_col(text, 5), (2, 3));
    assert_eq!(line_col(text, 7), (3, 1));
    assert_eq!(line_col(text, 99), (3, 2), "past the end: the end");
}

#[test]
fn override_names_are_host_names_of_two_labels_or_more() {
    for good in [
        "example.com",
        "bedrock-runtime.us-east-1.amazonaws.com",
        "*.s3.example",
        "_x.example",
    ] {
        assert!(parse_override_name(good).is_ok(), "{good}");
    }
    for (bad, why) in [
        ("", "not a host name"),
        (".", "not a host name"),
        ("*.", "not a host name"),
        ("com", "top-level"),
        ("a!b.example", "not allowed in a host name"),
        ("a b.example", "not allowed in a host name"),
        ("a.*.example", "wildcard"),
    ] {
        let e = parse_override_name(bad).expect_err(bad);
        assert!(e.contains(why), "{bad:?}: {e}");
    }
}

#[test]
fn regions_are_lower_case_parts_of_two_letters_then_a_number() {
    use super::names::is_region;
    for good in [
        "ap-southeast-2",
        "us-gov-west-1",
        "cn-north-1",
        "eu-central-2",
    ] {
        assert!(is_region(good), "{good}");
    }
    for bad in [
        "US-east-1",
        "us--east-1",
        "use-east-1",
        "us-east-x",
        "us-east",
        "us-east-1a",
        "-east-1",
    ] {
        assert!(!is_region(bad), "{bad}");
    }
}

#[test]
fn health_limits_hold_at_their_edges() {
    let health = |body: &str| load(&format!("[health]\n{body}\n"));
    for good in [
        "interval = \"1s\"\ntimeout = \"10ms\"",
        "interval = \"1h\"",
        "interval = \"1s\"\ntimeout = \"999ms\"",
        "down_after = 1\nup_after = 10",
        "down_after = 10\nup_after = 1",
        "max_in_flight = 1",
        "max_in_flight = 1024",
    ] {
        assert!(health(good).is_ok(), "{good}: {:?}", health(good).err());
    }
    for (bad, key) in [
        ("interval = \"999ms\"", "health.interval"),
        ("interval = \"3601s\"", "health.interval"),
        ("interval = \"1s\"\ntimeout = \"9ms\"", "health.timeout"),
        ("interval = \"1s\"\ntimeout = \"1s\"", "health.timeout"),
        ("down_after = 11", "health.down_after"),
        ("up_after = 0", "health.up_after"),
        ("max_in_flight = 1025", "health.max_in_flight"),
    ] {
        assert_eq!(health(bad).expect_err(bad).key, key, "{bad}");
    }
}

#[test]
fn an_endpoint_url_is_http_or_https_with_a_host() {
    let with_url = |url: &str| {
        load(&format!(
            "[[source]]\nregion = \"us-east-1\"\nvpc_id = \"vpc-0a\"\nendpoint_url = \"{url}\"\n"
        ))
    };
    for good in [
        "https://ec2.us-east-1.amazonaws.com",
        "http://127.0.0.1:5000",
    ] {
        assert!(with_url(good).is_ok(), "{good}");
    }
    for bad in [
        "https://",
        "http://",
        "https://a b",
        "ec2.us-east-1.amazonaws.com",
        "ftp://x",
    ] {
        let e = with_url(bad).expect_err(bad);
        assert_eq!(e.key, "source[0].endpoint_url", "{bad}");
    }
}

#[test]
fn dns_and_upstream_limits_hold_at_their_edges() {
    for (section, key, good, bad) in [
        ("dns", "ttl", ["0", "86400"], ["86401", "100000"]),
        ("dns", "max_udp_payload", ["512", "4096"], ["511", "0"]),
        ("dns", "max_tcp_connections", ["1", "65536"], ["0", "0"]),
        ("dns", "udp_threads", ["1", "64"], ["0", "65"]),
        ("upstream", "timeout_ms", ["50", "60000"], ["49", "60001"]),
        ("upstream", "max_inflight", ["1", "100000"], ["0", "0"]),
    ] {
        let with = |value: &str| load(&format!("[{section}]\n{key} = {value}\n"));
        for value in good {
            assert!(
                with(value).is_ok(),
                "{section}.{key} = {value}: {:?}",
                with(value).err()
            );
        }
        for value in bad {
            let e = with(value).expect_err(value);
            assert_eq!(e.key, format!("{section}.{key}"), "{value}: {e}");
            assert_eq!(e.position.map(|p| p.0), Some(2), "{value}: {e}");
        }
    }
    let e = load("[dns.rate_limit]\nqueries_per_second = 5\nburst = 0\n").unwrap_err();
    assert_eq!(
        (e.key.as_str(), e.position.map(|p| p.0)),
        ("dns.rate_limit.burst", Some(3))
    );
}

#[test]
fn a_wildcard_listener_loops_only_to_a_local_address_of_its_family() {
    let with = |listen: &str, upstream: &str| {
        load(&format!(
            "[dns]\nlisten = [\"{listen}\"]\n[upstream]\nservers = [\"{upstream}\"]\n"
        ))
    };
    // 192.0.2.1 (TEST-NET-1) is no address of this machine: binding to it fails, nothing is sent.
    assert!(with("0.0.0.0:5353", "192.0.2.1:5353").is_ok());
    assert!(
        with("[::]:5353", "127.0.0.1:5353").is_ok(),
        "another family"
    );
    assert!(
        with("127.0.0.1:5353", "127.0.0.2:5353").is_ok(),
        "a specific address"
    );
    let e = with("[::]:5353", "[::1]:5353").unwrap_err();
    assert!(e.message.contains("loop"), "{e}");
}

#[test]
fn source_domains_refresh_and_staleness_hold_at_their_edges() {
    let source = |extra: &str| {
        load(&format!(
            "[[source]]\nregion = \"us-east-1\"\nvpc_id = \"vpc-0a\"\n{extra}\n"
        ))
    };
    let label63 = "a".repeat(63);
    for good in [
        "domains = [\"corp.example\"]".to_string(),
        "domains = [\"corp.example.\"]".to_string(),
        format!("domains = [\"{label63}.example\"]"),
        "domains = [\"my-corp.example\"]".to_string(),
        "refresh = \"1s\"\nmax_stale = \"1s\"".to_string(),
    ] {
        assert!(source(&good).is_ok(), "{good}: {:?}", source(&good).err());
    }
    let label64 = "a".repeat(64);
    for (bad, key) in [
        (
            "domains = [\"corp..example\"]".to_string(),
            "source[0].domains",
        ),
        (
            format!("domains = [\"{label64}.example\"]"),
            "source[0].domains",
        ),
        (
            "domains = [\"corp_x.example\"]".to_string(),
            "source[0].domains",
        ),
        ("domains = [\"example\"]".to_string(), "source[0].domains"),
        ("refresh = \"999ms\"".to_string(), "source[0].refresh"),
        (
            "refresh = \"2s\"\nmax_stale = \"1999ms\"".to_string(),
            "source[0].max_stale",
        ),
    ] {
        let e = source(&bad).expect_err(&bad);
        assert_eq!(e.key, key, "{bad}: {e}");
    }
}

#[test]
fn serve_stale_prefetch_and_the_upstream_budget_default_and_are_checked() {
    let c = load("").unwrap();
    assert_eq!(c.serve_stale, Duration::from_secs(86_400));
    assert!(c.prefetch);
    assert_eq!(c.max_queries_per_second, 900);
    let off =
        load("[upstream]\nserve_stale = \"0s\"\nprefetch = false\nmax_queries_per_second = 0\n")
            .unwrap();
    assert_eq!(off.serve_stale, Duration::ZERO);
    assert!(!off.prefetch);
    assert_eq!(off.max_queries_per_second, 0);
    for (key, bad) in [
        ("serve_stale", "\"soon\""),
        ("serve_stale", "3600"),
        ("prefetch", "\"yes\""),
        ("max_queries_per_second", "-1"),
        ("max_queries_per_second", "4294967296"),
    ] {
        let e = load(&format!("[upstream]\n{key} = {bad}\n")).expect_err(bad);
        assert_eq!(e.key, format!("upstream.{key}"), "{bad}: {e}");
        assert_eq!(e.position.map(|p| p.0), Some(2), "{bad}: {e}");
    }
}
