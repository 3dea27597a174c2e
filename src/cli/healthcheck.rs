//! `healthcheck`: a plain HTTP GET with short timeouts, for container health checks in an
//! image without curl: exit 0 on 200, 1 otherwise.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use super::Failure;
use super::args::HealthcheckArgs;

pub fn run(args: HealthcheckArgs) -> Result<(), Failure> {
    let url = args.url.as_str();
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
