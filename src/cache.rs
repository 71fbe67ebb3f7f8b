//! A tiny map whose entries expire: the node's short-lived copies of
//! catalog records (read on every hot-path request) and of other figures
//! that are costly to recompute each time.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a node trusts its in-memory copy of a source or queue record.
/// Deletion is still exact: the engine refuses writes to deleted sources
/// and queues whatever the cache says.
pub const RECORD_TTL: Duration = Duration::from_secs(2);

/// A tiny TTL map for catalog records read on every hot-path request.
pub struct TtlCache<T> {
    map: Mutex<HashMap<String, (Instant, Arc<T>)>>,
    ttl: Duration,
}

impl<T> Default for TtlCache<T> {
    fn default() -> Self {
        Self::with_ttl(RECORD_TTL)
    }
}

impl<T> TtlCache<T> {
    /// Entries live `ttl` instead of `RECORD_TTL`.
    pub fn with_ttl(ttl: Duration) -> Self {
        TtlCache {
            map: Mutex::new(HashMap::new()),
            ttl,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Instant, Arc<T>)>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn get(&self, k: &str) -> Option<Arc<T>> {
        let m = self.lock();
        m.get(k)
            .filter(|(t, _)| t.elapsed() < self.ttl)
            .map(|(_, v)| v.clone())
    }

    pub fn put(&self, k: &str, v: Arc<T>) {
        let mut m = self.lock();
        if m.len() > 10_000 {
            m.retain(|_, (t, _)| t.elapsed() < self.ttl);
        }
        m.insert(k.to_string(), (Instant::now(), v));
    }

    pub fn forget(&self, k: &str) {
        self.lock().remove(k);
    }
}
