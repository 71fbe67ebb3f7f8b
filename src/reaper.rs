//! Background upkeep on every node: each pass runs `reap.lua` on every
//! source (due redeliveries, expired leases, retention). Passes are
//! idempotent, so several nodes reaping the same sources is safe; it only
//! costs Redis a little work.

use std::time::Duration;

use crate::store::{ReapTotals, Store};

pub fn spawn(store: Store, every: Duration) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = pass(&store).await {
                tracing::debug!(error = %e, "reaper pass failed");
            }
        }
    });
}

/// One pass over every source; returns the summed totals.
pub async fn pass(store: &Store) -> crate::store::Result<ReapTotals> {
    let mut sum = ReapTotals::default();
    for id in store.all_source_ids().await? {
        let t = store.reap(&id).await?;
        sum.ready += t.ready;
        sum.delayed += t.delayed;
        sum.leased += t.leased;
        sum.dead += t.dead;
        sum.expired += t.expired;
        sum.trimmed += t.trimmed;
    }
    crate::metrics::queue_depth("ready", sum.ready);
    crate::metrics::queue_depth("delayed", sum.delayed);
    crate::metrics::queue_depth("leased", sum.leased);
    crate::metrics::queue_depth("dead", sum.dead);
    crate::metrics::lease_expiries(sum.expired);
    crate::metrics::trimmed(sum.trimmed);
    Ok(sum)
}
