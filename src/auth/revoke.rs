//! Token revocation. Revoked token ids live in the store (kept until the
//! token would have expired anyway); every node keeps an in-memory copy
//! refreshed every `REFRESH`, so checking a request costs no store round
//! trip and a revocation reaches every node within `REFRESH` plus one.

use std::collections::HashSet;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::store::Store;

/// How often each node reloads the revocation list.
pub const REFRESH: Duration = Duration::from_millis(250);

#[derive(Default)]
pub struct Revocations {
    ids: RwLock<HashSet<String>>,
}

impl Revocations {
    pub fn is_revoked(&self, token_id: &str) -> bool {
        self.ids
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains(token_id)
    }

    /// Apply a revocation made on this node at once.
    pub fn add(&self, token_id: &str) {
        self.ids
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(token_id.to_string());
    }

    fn replace(&self, ids: HashSet<String>) {
        *self.ids.write().unwrap_or_else(|p| p.into_inner()) = ids;
    }

    /// Load the list once (at start) and keep it fresh in the background.
    pub async fn start(self: &Arc<Self>, store: Store) -> tokio::task::JoinHandle<()> {
        if let Ok(ids) = store.revoked_token_ids().await {
            self.replace(ids.into_iter().collect());
        }
        let me = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(REFRESH);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(me) = me.upgrade() else { return };
                match store.revoked_token_ids().await {
                    Ok(ids) => me.replace(ids.into_iter().collect()),
                    // keep the last known list; new revocations need Redis anyway
                    Err(e) => tracing::debug!(error = %e, "revocation refresh failed"),
                }
            }
        })
    }
}
