//! The request path: any bytes from a client, over UDP and TCP, through `Handler::begin`.
//! Whatever it replies must be a well-formed response to that client's ID that fits UDP limits.
#![no_main]

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use bedrock_link::config::{Config, Flags};
use bedrock_link::dns::cache::AnswerCache;
use bedrock_link::dns::handler::{Handler, Step, Transport};
use bedrock_link::metrics::Metrics;
use bedrock_link::zone::publisher::TablePublisher;
use hickory_proto::op::Message;
use libfuzzer_sys::fuzz_target;

const CONFIG: &str = r#"
[dns]
listen = ["127.0.0.1:0"]
max_udp_payload = 1232
[upstream]
servers = ["127.0.0.1:9"]
[[static]]
name = "bedrock-runtime.us-west-2.amazonaws.com"
ipv4 = ["10.1.0.10", "10.1.1.10"]
ipv6 = ["fd00::10"]
[[static]]
name = "*.vpce.us-west-2.amazonaws.com"
ipv4 = ["10.1.0.11"]
"#;

fn handler() -> &'static Handler {
    static HANDLER: OnceLock<Handler> = OnceLock::new();
    HANDLER.get_or_init(|| {
        let config = Config::from_toml(CONFIG, Path::new("fuzz.toml"), &Flags::default())
            .expect("fuzz config");
        let metrics = Arc::new(Metrics::new());
        let zone = Arc::new(TablePublisher::new(config.statics.clone(), Vec::new(), config.health, metrics.clone()));
        let cache = Arc::new(AnswerCache::new(config.cache_size, config.cache_max_bytes));
        Handler::new(config, zone, cache, metrics)
    })
}

fuzz_target!(|data: &[u8]| {
    let handler = handler();
    let client: SocketAddr = ([127, 0, 0, 1], 5353).into();
    for transport in [Transport::Udp, Transport::Tcp] {
        match handler.begin(data, client, transport) {
            // A reply, or a cache hit's reply and its refresh (forgotten here).
            Step::Reply(reply) | Step::Refresh(reply, _) => {
                assert!(reply.len() >= 12, "reply shorter than a header");
                assert_eq!(reply[..2], data[..2], "reply ID differs from the query's");
                assert!(reply[2] & 0x80 != 0, "reply without QR");
                if transport == Transport::Udp {
                    assert!(reply.len() <= 1232, "UDP reply of {} bytes", reply.len());
                }
                // We author every byte of these replies: they must decode.
                Message::from_vec(&reply).expect("our reply decodes");
            }
            // Dropped, or on its way upstream (the pending query is simply forgotten here).
            Step::Drop | Step::Forward(_) => {}
        }
    }
});
