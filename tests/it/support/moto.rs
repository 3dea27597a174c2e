//! moto's server as the EC2 API, on 127.0.0.1, and the topology tests build in it with the
//! Rust SDK (static fake credentials, explicit endpoint: nothing can reach AWS).

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_ec2::Client;
use aws_sdk_ec2::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_ec2::types::{Filter, VpcEndpointType};

pub const REGION: &str = "ap-southeast-2";

/// Where the README's test command installs moto.
fn moto_server_path() -> PathBuf {
    if let Some(p) = std::env::var_os("MOTO_SERVER") {
        return p.into();
    }
    let venv = std::env::var_os("BEDROCK_LINK_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var("HOME").unwrap_or_default())
                .join(".cache/bedrock-link/venv")
        });
    venv.join("bin/moto_server")
}

/// A moto server process; killed on drop.
pub struct Moto {
    pub addr: SocketAddr,
    child: Child,
}

impl Moto {
    pub fn start() -> Self {
        let path = moto_server_path();
        assert!(
            path.is_file(),
            "{} is missing: run `bash tests/run-all.sh`, which installs moto[server] in a venv",
            path.display()
        );
        let port = super::free_port();
        // moto writes its request recording into its working directory: keep it out of the repo.
        let dir = std::env::temp_dir().join(format!("bedrock-link-moto-{port}"));
        std::fs::create_dir_all(&dir).unwrap();
        let child = Command::new(&path)
            .current_dir(&dir)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server starts");
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let moto = Self { addr, child };
        // Generous: on a loaded machine (mutation runs, parallel tests) Python starts slowly.
        let deadline = Instant::now() + Duration::from_secs(90);
        while moto.http("GET", "/moto-api/").is_none() {
            assert!(
                Instant::now() < deadline,
                "moto_server did not come up on {addr}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        moto
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// An EC2 client for this server.
    pub fn client(&self) -> Client {
        self.client_as(Credentials::new("test", "test", None, None, "tests"))
    }

    /// An EC2 client signing with `credentials` (moto acts in the account they belong to).
    pub fn client_as(&self, credentials: Credentials) -> Client {
        let config = aws_sdk_ec2::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .credentials_provider(credentials)
            .endpoint_url(self.url())
            .http_client(aws_smithy_http_client::Builder::new().build_http())
            .build();
        Client::from_conf(config)
    }

    /// A bare HTTP request; the body, or None when the server is not answering.
    pub fn http(&self, method: &str, path: &str) -> Option<String> {
        let mut s = TcpStream::connect_timeout(&self.addr, Duration::from_secs(2)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
        write!(s, "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", self.addr).ok()?;
        let mut text = String::new();
        s.read_to_string(&mut text).ok()?;
        text.split_once("\r\n\r\n")
            .map(|(_, body)| body.to_string())
    }

    /// The EC2 actions of the requests made between `start_recording` and now.
    pub fn start_recording(&self) {
        self.http("POST", "/moto-api/recorder/reset-recording")
            .expect("moto answers");
        self.http("POST", "/moto-api/recorder/start-recording")
            .expect("moto answers");
    }

    pub fn recorded_actions(&self) -> Vec<String> {
        let mut actions = self.recorded_calls();
        actions.dedup();
        actions
    }

    /// The EC2 action of every request made between `start_recording` and now, sorted.
    pub fn recorded_calls(&self) -> Vec<String> {
        let mut actions: Vec<String> = self.recorded_requests().into_iter().map(|r| r.0).collect();
        actions.sort();
        actions
    }

    /// Each request made between `start_recording` and now, in order: its action and the
    /// access key id it was signed with (from the SigV4 `Authorization` header).
    pub fn recorded_requests(&self) -> Vec<(String, String)> {
        self.http("POST", "/moto-api/recorder/stop-recording")
            .expect("moto answers");
        let log = self
            .http("GET", "/moto-api/recorder/download-recording")
            .expect("moto answers");
        log.lines()
            .filter_map(|line| {
                use base64::Engine;
                let entry: serde_json::Value = serde_json::from_str(line).ok()?;
                let body = entry["body"].as_str()?;
                let body = if entry["body_encoded"].as_bool() == Some(true) {
                    String::from_utf8(
                        base64::engine::general_purpose::STANDARD
                            .decode(body)
                            .ok()?,
                    )
                    .ok()?
                } else {
                    body.to_string()
                };
                let action = body
                    .split('&')
                    .find_map(|kv| kv.strip_prefix("Action="))?
                    .to_string();
                let auth = entry["headers"]["Authorization"]
                    .as_str()
                    .or_else(|| entry["headers"]["authorization"].as_str())
                    .unwrap_or_default();
                let key = auth
                    .split("Credential=")
                    .nth(1)
                    .and_then(|c| c.split('/').next())
                    .unwrap_or_default()
                    .to_string();
                Some((action, key))
            })
            .collect()
    }

    /// Stops the server (the EC2 API "goes away").
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A VPC with `subnets` subnets.
pub async fn vpc(client: &Client, cidr_second_octet: u8, subnets: u8) -> (String, Vec<String>) {
    let vpc = client
        .create_vpc()
        .cidr_block(format!("10.{cidr_second_octet}.0.0/16"))
        .send()
        .await
        .unwrap()
        .vpc
        .unwrap()
        .vpc_id
        .unwrap();
    let mut ids = Vec::new();
    for i in 0..subnets {
        let az = format!("{REGION}{}", (b'a' + i % 3) as char);
        let subnet = client
            .create_subnet()
            .vpc_id(&vpc)
            .cidr_block(format!("10.{cidr_second_octet}.{i}.0/24"))
            .availability_zone(az)
            .send()
            .await
            .unwrap();
        ids.push(subnet.subnet.unwrap().subnet_id.unwrap());
    }
    (vpc, ids)
}

/// An endpoint for `short` (e.g. "bedrock-runtime") of type `kind`; its id. Interface
/// endpoints get an ENI per subnet; gateway endpoints (S3, DynamoDB) are never served.
pub async fn endpoint(
    client: &Client,
    vpc: &str,
    short: &str,
    kind: VpcEndpointType,
    subnets: &[String],
) -> String {
    let request = client
        .create_vpc_endpoint()
        .vpc_id(vpc)
        .service_name(format!("com.amazonaws.{REGION}.{short}"))
        .vpc_endpoint_type(kind.clone());
    let request = match kind {
        VpcEndpointType::Interface => request
            .set_subnet_ids(Some(subnets.to_vec()))
            .private_dns_enabled(true),
        _ => request,
    };
    request
        .send()
        .await
        .unwrap()
        .vpc_endpoint
        .unwrap()
        .vpc_endpoint_id
        .unwrap()
}

/// An interface endpoint in those subnets.
pub async fn interface_endpoint(
    client: &Client,
    vpc: &str,
    short: &str,
    subnets: &[String],
) -> String {
    endpoint(client, vpc, short, VpcEndpointType::Interface, subnets).await
}

pub async fn delete_endpoint(client: &Client, id: &str) {
    client
        .delete_vpc_endpoints()
        .vpc_endpoint_ids(id)
        .send()
        .await
        .unwrap();
}

/// The ENI ids of an endpoint.
pub async fn eni_ids(client: &Client, endpoint: &str) -> Vec<String> {
    let out = client
        .describe_vpc_endpoints()
        .vpc_endpoint_ids(endpoint)
        .send()
        .await
        .unwrap();
    out.vpc_endpoints()[0].network_interface_ids().to_vec()
}

/// Every IPv4 address of an endpoint's ENIs, sorted: what the resolver must answer.
pub async fn endpoint_ips(client: &Client, endpoint: &str) -> Vec<Ipv4Addr> {
    let ids = eni_ids(client, endpoint).await;
    let filter = Filter::builder()
        .name("network-interface-id")
        .set_values(Some(ids))
        .build();
    let out = client
        .describe_network_interfaces()
        .filters(filter)
        .send()
        .await
        .unwrap();
    let mut ips: Vec<Ipv4Addr> = out
        .network_interfaces()
        .iter()
        .flat_map(|eni| eni.private_ip_addresses())
        .filter_map(|a| a.private_ip_address()?.parse().ok())
        .collect();
    ips.sort();
    ips
}

/// Adds a secondary private IP to an ENI (the endpoint "gains an address").
pub async fn add_ip(client: &Client, eni: &str, ip: Ipv4Addr) {
    client
        .assign_private_ip_addresses()
        .network_interface_id(eni)
        .private_ip_addresses(ip.to_string())
        .send()
        .await
        .unwrap();
}

/// A tiny HTTP server playing the EC2 API: `answer` gets each request's form body and gives
/// the status line's code and reason (e.g. "200 OK") and the XML body. It counts the requests.
pub struct FakeEc2 {
    pub addr: SocketAddr,
    pub requests: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

/// What a `FakeEc2` answers a request body with: (status, XML).
pub type Answer = dyn Fn(&str) -> (&'static str, String) + Send + Sync;

impl FakeEc2 {
    pub async fn start(answer: std::sync::Arc<Answer>) -> Self {
        use std::sync::atomic::Ordering;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = requests.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    return;
                };
                let (counter, answer) = (counter.clone(), answer.clone());
                tokio::spawn(async move {
                    // Read the head and the body it announces, then answer.
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    let body = loop {
                        let Ok(n) = stream.read(&mut chunk).await else {
                            return;
                        };
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                        let text = String::from_utf8_lossy(&buf);
                        if let Some(head_end) = text.find("\r\n\r\n") {
                            let length = text[..head_end]
                                .lines()
                                .find_map(|l| {
                                    l.to_ascii_lowercase()
                                        .strip_prefix("content-length:")
                                        .map(|v| v.trim().parse().unwrap_or(0))
                                })
                                .unwrap_or(0usize);
                            if buf.len() >= head_end + 4 + length {
                                break text[head_end + 4..].to_string();
                            }
                        }
                    };
                    counter.fetch_add(1, Ordering::Relaxed);
                    let (status, body) = answer(&body);
                    let reply = format!(
                        "HTTP/1.1 {status}\r\nContent-Type: text/xml;charset=UTF-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = stream.write_all(reply.as_bytes()).await;
                });
            }
        });
        Self {
            addr,
            requests,
            task,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for FakeEc2 {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A `FakeEc2` that answers every request with one API error, the way EC2 does (XML body,
/// 4xx/5xx status).
pub struct ErrorApi(FakeEc2);

impl std::ops::Deref for ErrorApi {
    type Target = FakeEc2;
    fn deref(&self) -> &FakeEc2 {
        &self.0
    }
}

impl ErrorApi {
    /// `status` is e.g. "403 Forbidden"; `code` e.g. "UnauthorizedOperation".
    pub async fn start(status: &'static str, code: &'static str) -> Self {
        Self(FakeEc2::start(std::sync::Arc::new(move |_: &str| ec2_error(status, code))).await)
    }
}

/// An EC2 error reply, as EC2 gives one (XML body, 4xx/5xx status): (status, XML).
pub fn ec2_error(status: &'static str, code: &str) -> (&'static str, String) {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>{code}</Code>\
         <Message>Test refusal: {code}</Message></Error></Errors>\
         <RequestID>00000000-0000-0000-0000-000000000000</RequestID></Response>"
    );
    (status, body)
}
