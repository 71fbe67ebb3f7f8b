//! What every request handler shares: the store, the notification hub, the
//! signing keys, settings, and the node's short-lived caches and counters.
//! Built once by `app::start`; the HTTP layer only reads it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::auth::{Keys, Revocations};
use crate::config::Settings;
use crate::model::{Queue, Source, Tenant};
use crate::notify::{Notifier, StreamRegistry};
use crate::store::Store;

pub use crate::cache::{TtlCache, RECORD_TTL};

/// Verification failures counted in memory and added to the sources'
/// stored counters once a second: a flood of forged deliveries costs no
/// store round trip per request.
#[derive(Default)]
pub struct FailureCounts {
    pending: Mutex<HashMap<String, u64>>,
}

impl FailureCounts {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, u64>> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// One refused delivery at `source_id`.
    pub fn add(&self, source_id: &str) {
        *self.lock().entry(source_id.to_string()).or_default() += 1;
    }

    /// Counted here and not yet flushed.
    pub fn pending(&self, source_id: &str) -> u64 {
        self.lock().get(source_id).copied().unwrap_or(0)
    }

    /// Add what was counted to the store; what fails to flush is kept for
    /// the next pass.
    pub async fn flush(&self, store: &Store) {
        let batch: Vec<(String, u64)> = self.lock().drain().collect();
        for (src, n) in batch {
            if let Err(e) = store.count_verification_failures(&src, n).await {
                tracing::debug!(error = %e, "could not flush verification failures");
                *self.lock().entry(src).or_default() += n;
            }
        }
    }

    pub(crate) fn spawn_flusher(self: &Arc<Self>, store: Store) -> tokio::task::JoinHandle<()> {
        let me = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                let Some(me) = me.upgrade() else { return };
                me.flush(&store).await;
            }
        })
    }
}

/// Everything a request handler needs.
pub struct AppState {
    pub store: Store,
    pub notifier: Notifier,
    pub keys: Keys,
    pub settings: Settings,
    /// ingest key -> source
    pub sources: TtlCache<Source>,
    /// queue id -> queue
    pub queues: TtlCache<Queue>,
    /// source id -> its queues as ingest routes them
    pub routes: TtlCache<crate::routing::Routes>,
    /// tenant id -> tenant (for limits on hot paths)
    pub tenants: TtlCache<Tenant>,
    /// tenant id -> stored bytes (for the storage quota at ingest)
    pub usage: TtlCache<u64>,
    pub streams: StreamRegistry,
    pub revocations: Arc<Revocations>,
    pub rates: crate::ratelimit::RateLimiter,
    pub verify_failures: Arc<FailureCounts>,
    /// Set when the node stops: long-lived streams (SSE, tails) end at once
    /// (their clients reconnect) instead of holding the graceful shutdown.
    pub stopping: tokio::sync::watch::Sender<bool>,
}
