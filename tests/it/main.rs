//! One integration-test binary (one link step): every suite below runs
//! against a real redis-server the harness starts on a free port and the
//! real HTTP server on port 0.

mod api;
mod batch;
mod cli;
mod client;
mod cluster;
mod coalesce;
mod common;
mod concurrency;
mod crash;
mod embedded;
mod examples;
mod hardening;
mod http1;
mod listen;
mod logs;
mod malformed;
mod matrix;
mod opcli;
mod openapi;
mod presets;
mod providers;
mod relay;
mod resilience;
mod routing;
mod tail;
mod tenancy;
mod transfer;
