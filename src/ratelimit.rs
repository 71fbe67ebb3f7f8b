//! Per-tenant rate limits: one token bucket per tenant and kind in Redis,
//! shared by every node. A node takes tokens in small batches (about 50 ms
//! worth of the tenant's rate) and spends them locally for at most
//! `HOLD`, so at high rates most requests cost no Redis round trip while the
//! global rate still holds across nodes (a node can run ahead by at most one
//! batch).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::store::{Result, Store};

/// How long a node may keep tokens it took but did not spend.
const HOLD: Duration = Duration::from_millis(100);

type Key = (String, &'static str);
/// (tenant, kind) -> (tokens left, when they were taken)
type Local = HashMap<Key, (u64, Instant)>;
/// (tenant, kind) -> lock held while fetching a batch
type Fetching = HashMap<Key, Arc<tokio::sync::Mutex<()>>>;

#[derive(Default)]
pub struct RateLimiter {
    local: Mutex<Local>,
    /// one batch fetch in flight per (tenant, kind) on this node
    fetching: Mutex<Fetching>,
}

impl RateLimiter {
    /// Spend one locally held token, if a fresh one is left.
    fn spend_local(&self, key: &(String, &'static str)) -> bool {
        let mut m = self.local.lock().unwrap_or_else(|p| p.into_inner());
        match m.get_mut(key) {
            Some((left, at)) if *left > 0 && at.elapsed() < HOLD => {
                *left -= 1;
                true
            }
            _ => false,
        }
    }

    /// `Ok(None)` when the request may proceed, `Ok(Some(ms))` to wait.
    pub async fn check(
        &self,
        store: &Store,
        tenant_id: &str,
        kind: &'static str,
        per_second: u64,
    ) -> Result<Option<u64>> {
        let key = (tenant_id.to_string(), kind);
        if self.spend_local(&key) {
            return Ok(None);
        }
        let lock = {
            let mut f = self.fetching.lock().unwrap_or_else(|p| p.into_inner());
            if f.len() > 100_000 {
                f.retain(|_, l| Arc::strong_count(l) > 1);
            }
            f.entry(key.clone()).or_default().clone()
        };
        let _fetching = lock.lock().await;
        // whoever held the lock before us may have fetched a batch
        if self.spend_local(&key) {
            return Ok(None);
        }
        let batch = (per_second / 20).max(1);
        match store
            .take_tokens(tenant_id, kind, per_second, batch)
            .await?
        {
            Ok(granted) => {
                let mut m = self.local.lock().unwrap_or_else(|p| p.into_inner());
                if m.len() > 100_000 {
                    m.retain(|_, (_, at)| at.elapsed() < HOLD);
                }
                m.insert(key, (granted - 1, Instant::now()));
                Ok(None)
            }
            Err(wait) => Ok(Some(wait)),
        }
    }
}
