//! The configuration parser: any text must give a configuration or an error that names a
//! place, never a panic.
#![no_main]

use std::path::Path;

use bedrock_link::config::{Config, Flags};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Config::from_toml(text, Path::new("fuzz.toml"), &Flags::default()) {
        Ok(config) => assert!(!config.listen.is_empty() && !config.upstreams.is_empty()),
        Err(e) => assert!(e.to_string().starts_with("fuzz.toml"), "error without a place: {e}"),
    }
});
