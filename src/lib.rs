//! hookbay — a self-hostable, multi-tenant inbound webhook relay on Redis
//! streams. The library builds the whole relay without binding a socket so
//! that the binary, the integration tests and the benchmark share one path.

pub mod app;
pub mod auth;
pub mod cache;
pub mod cli;
pub mod client;
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
pub mod routing;
pub mod service;
pub mod sse;
pub mod state;
pub mod store;
pub mod transfer;
pub mod verify;

/// Case counts for the property tests that double as fuzz targets (named
/// `fuzz_*`): a few hundred in the default test run, as many as
/// `HOOKBAY_FUZZ_CASES` says in the long run (`scripts/fuzz`).
#[cfg(test)]
pub(crate) fn fuzz_config(default_cases: u32) -> proptest::test_runner::Config {
    let cases = std::env::var("HOOKBAY_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default_cases);
    proptest::test_runner::Config {
        cases,
        // a long run must not stop to shrink-persist on every machine
        failure_persistence: None,
        ..proptest::test_runner::Config::default()
    }
}
