//! Metric names and the Prometheus exporter, in one place. Label values are
//! bounded (outcomes, states) — never tenant, queue or message ids.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Install the process-wide recorder (idempotent; tests build many apps).
pub fn install() {
    HANDLE.get_or_init(|| PrometheusBuilder::new().install_recorder().ok());
}

/// Prometheus text exposition.
pub fn render() -> String {
    HANDLE
        .get()
        .and_then(|h| h.as_ref())
        .map(|h| h.render())
        .unwrap_or_default()
}

/// outcome: stored | duplicate | unauthorized | too_large | not_found | unavailable | handshake
pub fn ingest(outcome: &'static str) {
    metrics::counter!("hookbay_ingest_total", "outcome" => outcome).increment(1);
}

/// reason: missing | malformed | stale | mismatch
pub fn verification_failure(reason: &'static str) {
    metrics::counter!("hookbay_verification_failures_total", "reason" => reason).increment(1);
}

/// Deliveries handed to consumers; via: next | stream
pub fn delivered(via: &'static str, n: u64) {
    metrics::counter!("hookbay_deliveries_total", "via" => via).increment(n);
}

/// outcome: ack | nack | reject | extend | stale | expired
pub fn settled(outcome: &'static str) {
    metrics::counter!("hookbay_settlements_total", "outcome" => outcome).increment(1);
}

pub fn lease_expiries(n: u64) {
    metrics::counter!("hookbay_lease_expiries_total").increment(n);
}

pub fn trimmed(n: u64) {
    metrics::counter!("hookbay_retention_trimmed_total").increment(n);
}

/// Depth over all queues, by state (set by the reaper each pass).
pub fn queue_depth(state: &'static str, n: u64) {
    metrics::gauge!("hookbay_queue_depth", "state" => state).set(n as f64);
}

pub fn sse_clients(delta: f64) {
    metrics::gauge!("hookbay_sse_clients").increment(delta);
}

pub fn long_polls(delta: f64) {
    metrics::gauge!("hookbay_long_polls_waiting").increment(delta);
}

/// kind: ingest | consume
pub fn rate_limited(kind: &'static str) {
    metrics::counter!("hookbay_rate_limited_total", "kind" => kind).increment(1);
}

pub fn redis_error() {
    metrics::counter!("hookbay_redis_errors_total").increment(1);
}

/// A failed embedded-store (SQLite) operation.
pub fn store_error() {
    metrics::counter!("hookbay_store_errors_total", "backend" => "embedded").increment(1);
}

/// One Redis script call (`kind`: ingest | settle) carrying `requests`
/// coalesced requests.
pub fn store_batch(kind: &'static str, requests: u64) {
    metrics::counter!("hookbay_store_batches_total", "kind" => kind).increment(1);
    metrics::counter!("hookbay_store_batched_requests_total", "kind" => kind).increment(requests);
}

/// Deleted sources and queues whose rows the embedded store is still
/// removing.
pub fn purges_pending(n: u64) {
    metrics::gauge!("hookbay_store_purges_pending").set(n as f64);
}

/// One group commit of the embedded store with `changes` changes in it.
pub fn store_commit(changes: u64) {
    metrics::counter!("hookbay_store_commits_total").increment(1);
    metrics::counter!("hookbay_store_changes_total").increment(changes);
}
