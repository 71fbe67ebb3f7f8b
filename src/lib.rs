//! hookbay — a self-hostable, multi-tenant inbound webhook relay on Redis
//! streams. The library builds the whole relay without binding a socket so
//! that the binary, the integration tests and the benchmark share one path.

pub mod app;
pub mod auth;
pub mod config;
pub mod http;
pub mod ids;
pub mod listen;
pub mod metrics;
pub mod model;
pub mod notify;
pub mod query;
pub mod ratelimit;
pub mod reaper;
pub mod sse;
pub mod store;
pub mod verify;
