//! Storage layer: the store contract and its two backends. `Store` is what
//! the rest of the relay holds; every call is dispatched to
//! - `redis`: Redis streams on one Redis or a Redis Cluster (scale-out,
//!   any number of stateless relay nodes), or
//! - `embedded`: SQLite on local disk (one process, nothing to install).
//!
//! Both answer the same calls with the same values (`types`); the
//! integration suite runs every test against both. Nothing here knows about
//! HTTP; every call returns a `Result` the caller must map.

pub mod embedded;
pub mod redis;
pub mod types;

use std::time::Duration;

use crate::model::{
    DeliveryState, Lease, Queue, QueueCounts, Source, StoredMessage, Tenant, TokenRecord,
};
pub use types::{
    Fanout, IngestOutcome, NewMessage, ReapTotals, ReplaySelector, SettleItem, SettleOp,
    SettleOutcome, Usage,
};

/// Why a storage call failed. Domain outcomes (not found, stale lease) are
/// values, not errors. The split decides what the client is told: an
/// `Unavailable` store may answer on the next try (503 + `Retry-After`); a
/// `Failed` or `Corrupt` one will fail the same way again (500), so telling
/// the client to retry would only repeat the error forever.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Transient: unreachable, connection dropped or refused, timed out,
    /// loading, failing over.
    #[error("store unavailable: {0}")]
    Unavailable(#[source] BoxError),
    /// Deterministic: a script error, a wrong-type key, a refused command.
    #[error("store command failed: {0}")]
    Failed(#[source] BoxError),
    /// Stored data or a reply could not be decoded.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

/// The error a `StoreError` carries.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A storage call that did not answer within its bound.
#[derive(Debug, thiserror::Error)]
#[error("timed out after {0:?}")]
pub struct TimedOut(pub Duration);

impl StoreError {
    /// A call that ran out of time: always transient.
    pub fn timed_out(after: Duration) -> StoreError {
        crate::metrics::redis_error();
        StoreError::Unavailable(Box::new(TimedOut(after)))
    }

    /// Whether the same call may succeed later.
    pub fn is_transient(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        StoreError::Corrupt(e.to_string())
    }
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// Handle to the configured backend; cheap to clone.
#[derive(Clone)]
pub enum Store {
    Redis(redis::RedisStore),
    Embedded(embedded::EmbeddedStore),
}

/// The store contract: every call both backends answer, dispatched by
/// backend. A method missing from either backend fails to compile.
macro_rules! contract {
    ($( $(#[$doc:meta])* fn $name:ident(&self $(, $arg:ident: $ty:ty)*) -> $ret:ty; )*) => {
        impl Store {
            $(
                $(#[$doc])*
                pub async fn $name(&self $(, $arg: $ty)*) -> Result<$ret> {
                    match self {
                        Store::Redis(s) => s.$name($($arg),*).await,
                        Store::Embedded(s) => s.$name($($arg),*).await,
                    }
                }
            )*
        }
    };
}

contract! {
    /// Whether the backend can take writes now (readiness).
    fn ping(&self) -> ();
    /// Take this interval's reaper lock (one node reaps per interval).
    fn reap_lock(&self, owner: &str, ttl: Duration) -> bool;
    /// The signing key kept in the store, created once from `fresh`.
    fn secret_key(&self, fresh: &str) -> String;

    // ---- tenants and tokens
    fn create_tenant(&self, t: &Tenant) -> ();
    fn update_tenant(&self, t: &Tenant) -> ();
    fn tenant(&self, id: &str) -> Option<Tenant>;
    fn tenants(&self) -> Vec<Tenant>;
    /// Remove the tenant record: from here on the tenant does not exist.
    fn retire_tenant(&self, tenant_id: &str) -> ();
    /// Remove what is left of a retired tenant (tokens, index sets).
    fn delete_tenant(&self, tenant_id: &str, token_ids: &[String]) -> ();
    /// Add `id` to a tenant's `kind` set unless that would pass `limit`.
    fn reserve(&self, tenant_id: &str, kind: &str, id: &str, limit: u64) -> bool;
    /// Take up to `want` tokens from the tenant's `kind` bucket (burst: 2 s
    /// worth): `Ok(granted)` or `Err(ms until a token is available)`.
    fn take_tokens(&self, tenant_id: &str, kind: &str, per_second: u64, want: u64)
        -> std::result::Result<u64, u64>;
    fn usage(&self, tenant_id: &str) -> Usage;
    fn create_token(&self, t: &TokenRecord) -> ();
    fn token(&self, id: &str) -> Option<TokenRecord>;
    fn tokens(&self, tenant_id: &str) -> Vec<TokenRecord>;
    /// Mark a token revoked; kept on the revocation list until it expires.
    fn revoke_token(&self, rec: &TokenRecord, expires_unix: i64) -> ();
    fn revoked_token_ids(&self) -> Vec<String>;
    fn delete_token_record(&self, rec: &TokenRecord) -> ();

    // ---- sources and queues
    fn create_source(&self, s: &Source) -> ();
    fn update_source(&self, s: &Source) -> ();
    fn source(&self, id: &str) -> Option<Source>;
    fn source_by_ingest_key(&self, key: &str) -> Option<Source>;
    fn sources(&self, tenant_id: &str) -> Vec<Source>;
    fn all_source_ids(&self) -> Vec<String>;
    /// Delete a source, its queues and all their state; ingest stops first.
    fn delete_source(&self, s: &Source) -> ();
    fn create_queue(&self, q: &Queue) -> ();
    fn update_queue(&self, q: &Queue) -> ();
    fn queue(&self, id: &str) -> Option<Queue>;
    fn queues(&self, tenant_id: &str) -> Vec<Queue>;
    fn delete_queue(&self, q: &Queue) -> ();
    /// The source's routing version and its attached queues' records (what
    /// ingest routes on; see `routing`).
    fn source_routes(&self, source_id: &str) -> (u64, Vec<Queue>);
    /// Queue ids attached to a source (engine view), sorted.
    fn source_queue_ids(&self, source_id: &str) -> Vec<String>;
    fn count_verification_failures(&self, source_id: &str, n: u64) -> ();
    fn verification_failures(&self, source_id: &str) -> u64;

    // ---- the queue engine
    /// Store one message and fan it out to every queue of the source in one
    /// atomic, durable step.
    fn ingest(&self, source_id: &str, m: &NewMessage<'_>) -> IngestOutcome;
    /// Lease up to `count` ready deliveries. `None` when the queue is gone.
    fn lease(&self, source_id: &str, queue_id: &str, count: usize, lease_ms: u64)
        -> Option<Vec<Lease>>;
    /// Apply consumers' outcomes to leases of one queue in one atomic
    /// step, one outcome per item in order (each `Gone` when the queue is).
    fn settle_many(&self, source_id: &str, queue_id: &str, items: &[SettleItem])
        -> Vec<SettleOutcome>;
    /// Make messages deliverable again on one queue (`None`: queue gone).
    fn replay(&self, source_id: &str, queue_id: &str, sel: &ReplaySelector) -> Option<u64>;
    /// Depth by state and the age of the oldest ready delivery.
    fn queue_counts(&self, source_id: &str, queue_id: &str) -> QueueCounts;
    /// A page of dead letters, oldest first.
    fn dead_letters(&self, source_id: &str, queue_id: &str, offset: u64, limit: u64)
        -> Vec<(String, DeliveryState)>;
    /// Stored messages, newest first, received in [from_ms, to_ms],
    /// strictly older than `before` when given.
    fn history(&self, source_id: &str, from_ms: i64, to_ms: i64, before: Option<&str>,
        limit: usize) -> Vec<StoredMessage>;
    /// Stored messages, oldest first, received in [from_ms, to_ms],
    /// strictly newer than `after` when given.
    fn scan(&self, source_id: &str, from_ms: i64, to_ms: i64, after: Option<&str>,
        limit: usize) -> Vec<StoredMessage>;
    fn message(&self, source_id: &str, stream_id: &str) -> Option<StoredMessage>;
    fn delivery_state(&self, source_id: &str, queue_id: &str, stream_id: &str)
        -> Option<DeliveryState>;
    /// For each (stream id, generation): is it still leased under it?
    fn still_leased(&self, source_id: &str, queue_id: &str, held: &[(String, u64)]) -> Vec<bool>;
    /// One upkeep pass over a source: due redeliveries, expired leases,
    /// retention; returns depth totals.
    fn reap(&self, source_id: &str) -> ReapTotals;

    // ---- moving between backends (see `transfer`)
    /// Store an exported message under its own stream id (ascending per
    /// source) with each queue's delivery state, in one atomic step.
    fn import_message(&self, m: &types::MessageRecord) -> ();
    /// After an import: only messages imported with a delivery belong to
    /// the source's queues (none is "fresh" by absence of state).
    fn seal_import(&self, source_id: &str) -> ();
}

impl Store {
    /// Apply a consumer's outcome to a lease it holds.
    pub async fn settle(
        &self,
        source_id: &str,
        queue_id: &str,
        stream_id: &str,
        generation: u64,
        op: SettleOp,
        reason: &str,
    ) -> Result<SettleOutcome> {
        let item = SettleItem {
            stream_id: stream_id.to_string(),
            generation,
            op,
            reason: reason.to_string(),
        };
        self.settle_many(source_id, queue_id, std::slice::from_ref(&item))
            .await?
            .pop()
            .ok_or_else(|| StoreError::Corrupt("settle: no outcome".into()))
    }

    /// Which backend, for logs.
    pub fn backend(&self) -> &'static str {
        match self {
            Store::Redis(_) => "redis",
            Store::Embedded(_) => "embedded",
        }
    }
}
