//! Shared test support, by what it provides. Everything binds 127.0.0.1 / ::1 on ephemeral
//! ports.
#![allow(dead_code)]

pub mod clients;
pub mod config;
pub mod moto;
pub mod process;
pub mod upstream;

pub use clients::*;
pub use config::*;
pub use upstream::*;
