//! A source's `role_arn`: discovery through STS AssumeRole. moto plays both STS and EC2, and
//! switches accounts on AssumeRole, so the endpoints of "another account" are real there; a
//! local STS responder plays a trust policy that stops allowing the role.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aws_sdk_ec2::config::Credentials;
use aws_sdk_ec2::primitives::{DateTime, DateTimeFormat};
use hickory_proto::rr::RecordType;

use crate::support::moto::{self, FakeEc2, Moto, REGION};
use crate::support::process::*;
use crate::support::*;

const ROLE: &str = "arn:aws:iam::222222222222:role/bedrock-link-discovery";
const RUNTIME: &str = "bedrock-runtime.ap-southeast-2.amazonaws.com.";
const NO_PROBES: &str = "health_check = false\n";

/// Assumes `role` on moto with the test's own credentials, as the binary would.
async fn assume(moto: &Moto, role: &str) -> Credentials {
    let config = aws_sdk_sts::Config::builder()
        .behavior_version(aws_sdk_sts::config::BehaviorVersion::latest())
        .region(aws_sdk_sts::config::Region::new(REGION))
        .credentials_provider(Credentials::new("test", "test", None, None, "tests"))
        .endpoint_url(moto.url())
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .build();
    let out = aws_sdk_sts::Client::from_conf(config)
        .assume_role()
        .role_arn(role)
        .role_session_name("seed")
        .send()
        .await
        .unwrap();
    let c = out.credentials().unwrap();
    Credentials::new(
        c.access_key_id(),
        c.secret_access_key(),
        Some(c.session_token().to_string()),
        None,
        "tests",
    )
}

/// A source for `vpc` on moto's EC2 endpoint, with `extra` keys.
fn source(ec2: &str, vpc: &str, extra: &str) -> String {
    format!(
        "[[source]]\nregion = \"{REGION}\"\n{NO_PROBES}vpc_id = \"{vpc}\"\nendpoint_url = \"{ec2}\"\n{extra}"
    )
}

/// `discover -o json` with STS at `sts`; its exit code, rows and stderr.
async fn discover(config: String, sts: String) -> (Option<i32>, Vec<serde_json::Value>, String) {
    let path = write(
        &temp_dir(&format!("assume-{}", free_port())),
        "c.toml",
        &config,
    );
    let out = tokio::task::spawn_blocking(move || {
        command()
            .env("AWS_ENDPOINT_URL_STS", sts)
            .args(["discover", "-o", "json", "--config", path.to_str().unwrap()])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let rows = serde_json::from_slice(&out.stdout).unwrap_or_default();
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    (out.status.code(), rows, err)
}

fn endpoint_ids(rows: &[serde_json::Value]) -> std::collections::BTreeSet<String> {
    rows.iter()
        .map(|r| r["endpoint_id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_role_in_another_account_is_assumed_and_its_endpoints_discovered() {
    let moto = Moto::start();
    // The endpoint VPC lives in account 222222222222: moto puts what the assumed credentials
    // create there.
    let network = moto.client_as(assume(&moto, ROLE).await);
    let (vpc, subnets) = moto::vpc(&network, 7, 2).await;
    let runtime = moto::interface_endpoint(&network, &vpc, "bedrock-runtime", &subnets).await;
    let agent = moto::interface_endpoint(&network, &vpc, "bedrock-agent-runtime", &subnets).await;

    // With the task's own credentials, that VPC has no endpoints: it is not in their account.
    let (code, rows, err) = discover(source(&moto.url(), &vpc, ""), moto.url()).await;
    assert_eq!(code, Some(0), "{err}");
    assert!(rows.is_empty(), "found without the role: {rows:?}");

    moto.start_recording();
    let with_role = format!("role_arn = \"{ROLE}\"\n");
    let (code, rows, err) = discover(source(&moto.url(), &vpc, &with_role), moto.url()).await;
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(endpoint_ids(&rows), [runtime, agent].into_iter().collect());

    // One AssumeRole signed with the default chain's key, then every EC2 call signed with the
    // key it returned.
    let requests = moto.recorded_requests();
    assert_eq!(
        requests[0],
        ("AssumeRole".to_string(), "test".to_string()),
        "{requests:?}"
    );
    let ec2: Vec<&(String, String)> = requests[1..].iter().collect();
    assert!(
        ec2.iter().any(|(a, _)| a == "DescribeVpcEndpoints"),
        "{requests:?}"
    );
    let assumed = &ec2[0].1;
    assert!(assumed != "test" && !assumed.is_empty(), "{requests:?}");
    assert!(
        ec2.iter()
            .all(|(a, key)| a.starts_with("Describe") && key == assumed),
        "every EC2 call is signed with the assumed key: {requests:?}"
    );
}

/// An STS that answers AssumeRole with credentials valid for two minutes (so every pass
/// renews them), or, once `deny` is set, refuses as a trust policy that no longer allows it.
struct Sts {
    api: FakeEc2,
    deny: Arc<AtomicBool>,
    bodies: Arc<Mutex<Vec<String>>>,
}

impl Sts {
    async fn start() -> Self {
        let deny = Arc::new(AtomicBool::new(false));
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let (d, b) = (deny.clone(), bodies.clone());
        let api = FakeEc2::start(Arc::new(move |body: &str| {
            b.lock().unwrap().push(body.to_string());
            if d.load(Ordering::SeqCst) {
                return ("403 Forbidden", sts_error("AccessDenied"));
            }
            let expires = DateTime::from(SystemTime::now() + Duration::from_secs(120))
                .fmt(DateTimeFormat::DateTime)
                .unwrap();
            ("200 OK", sts_credentials(&expires))
        }))
        .await;
        Self { api, deny, bodies }
    }

    fn assume_calls(&self) -> usize {
        self.bodies.lock().unwrap().len()
    }
}

fn sts_credentials(expires: &str) -> String {
    format!(
        "<AssumeRoleResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><AssumeRoleResult>\
         <Credentials><AccessKeyId>ASIAFAKESTS000000001</AccessKeyId><SecretAccessKey>secret</SecretAccessKey>\
         <SessionToken>token</SessionToken><Expiration>{expires}</Expiration></Credentials>\
         <AssumedRoleUser><AssumedRoleId>AROAFAKE:resolver-test</AssumedRoleId>\
         <Arn>arn:aws:sts::222222222222:assumed-role/bedrock-link-discovery/resolver-test</Arn></AssumedRoleUser>\
         </AssumeRoleResult><ResponseMetadata><RequestId>1</RequestId></ResponseMetadata></AssumeRoleResponse>"
    )
}

fn sts_error(code: &str) -> String {
    format!(
        "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender</Type>\
         <Code>{code}</Code><Message>Test refusal: not authorized to perform sts:AssumeRole</Message>\
         </Error><RequestId>1</RequestId></ErrorResponse>"
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_denied_assume_role_keeps_the_last_good_table_and_names_the_role() {
    let moto = Moto::start();
    let ec2 = moto.client();
    let (vpc, subnets) = moto::vpc(&ec2, 8, 2).await;
    let runtime = moto::interface_endpoint(&ec2, &vpc, "bedrock-runtime", &subnets).await;
    let ips = moto::endpoint_ips(&ec2, &runtime).await;
    let sts = Sts::start().await;

    let up = TestUpstream::start().await;
    let (dns, admin) = (free_port(), free_port());
    let role = format!(
        "role_arn = \"{ROLE}\"\nexternal_id = \"ext-42\"\nsession_name = \"resolver-test\"\nrefresh = \"1s\"\n"
    );
    let text = format!(
        "[dns]\nlisten = [\"127.0.0.1:{dns}\"]\nttl = 1\n[upstream]\nservers = [\"{}\"]\n\
         [admin]\nlisten = \"127.0.0.1:{admin}\"\n{}",
        up.addr,
        source(&moto.url(), &vpc, &role)
    );
    let path = write(&temp_dir(&format!("assume-serve-{dns}")), "c.toml", &text);
    let mut daemon = Daemon::start_with_env(
        &["dns", "serve", "--config", path.to_str().unwrap()],
        &[("AWS_ENDPOINT_URL_STS", &sts.api.url())],
    );
    daemon.wait_for("bedrock-link serving");
    let dns = std::net::SocketAddr::from(([127, 0, 0, 1], dns));
    let admin = std::net::SocketAddr::from(([127, 0, 0, 1], admin));
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while ipv4s(&ask(dns, RUNTIME, RecordType::A).await) != ips {
        assert!(std::time::Instant::now() < deadline, "never served {ips:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Credentials that expire within five minutes are asked for again at the next pass.
    while sts.assume_calls() < 3 {
        assert!(
            std::time::Instant::now() < deadline + Duration::from_secs(10),
            "not renewed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let first = sts.bodies.lock().unwrap()[0].clone();
    for part in [
        "Action=AssumeRole",
        "ExternalId=ext-42",
        "RoleSessionName=resolver-test",
    ] {
        assert!(first.contains(part), "{part} not in {first}");
    }

    sts.deny.store(true, Ordering::SeqCst);
    let line = daemon.wait_for("discovery pass failed");
    assert!(
        line.contains("access_denied") && line.contains(ROLE),
        "{line}"
    );
    assert!(line.contains("trust policy"), "{line}");
    assert_eq!(
        ipv4s(&ask(dns, RUNTIME, RecordType::A).await),
        ips,
        "the last good table"
    );
    let series = format!(
        "bedrock_link_discovery_errors_total{{source=\"{REGION}/{vpc}\",kind=\"access_denied\"}}"
    );
    assert!(metric(&http_get(admin, "/metrics").1, &series) >= 1.0);

    // discover and doctor say the same, doctor on the role's own line.
    let (code, _, err) = discover(source(&moto.url(), &vpc, &role), sts.api.url()).await;
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("AssumeRole") && err.contains("access denied") && err.contains(ROLE),
        "{err}"
    );
    let out = tokio::task::spawn_blocking({
        let (path, url) = (path.clone(), sts.api.url());
        move || {
            command()
                .env("AWS_ENDPOINT_URL_STS", url)
                .args([
                    "doctor",
                    "-o",
                    "json",
                    "--no-connect",
                    "--config",
                    path.to_str().unwrap(),
                ])
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    let checks: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let role_check = checks
        .iter()
        .find(|c| c["check"].as_str().unwrap().starts_with("assume role"))
        .unwrap_or_else(|| panic!("no role check: {checks:?}"));
    assert_eq!(role_check["ok"], false, "{role_check}");
    assert!(
        role_check["fix"].as_str().unwrap().contains("trust policy"),
        "{role_check}"
    );
    assert!(
        !checks
            .iter()
            .any(|c| c["check"].as_str().unwrap().starts_with("ec2 api")),
        "the EC2 step is not tried without credentials: {checks:?}"
    );
}
