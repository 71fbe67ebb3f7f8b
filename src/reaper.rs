//! Background upkeep: each pass runs `reap.lua` on every source (due
//! redeliveries, expired leases, retention, depth totals). Passes are
//! idempotent; to keep the work from multiplying with the number of relay
//! nodes, a node only runs a pass when it wins that interval's lock in
//! Redis, so one node reaps per interval (another takes over at once if it
//! dies). Consumers never wait on the reaper: leasing does the same upkeep
//! for its own queue.

use std::time::Duration;

use futures_util::StreamExt;

use crate::store::{ReapTotals, Store};

/// Sources reaped concurrently within one pass.
const PARALLEL: usize = 8;

pub fn spawn(store: Store, every: Duration) -> tokio::task::JoinHandle<()> {
    let node = uuid::Uuid::new_v4().simple().to_string();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match store.reap_lock(&node, every).await {
                Ok(true) => {
                    if let Err(e) = pass(&store).await {
                        tracing::debug!(error = %e, "reaper pass failed");
                    }
                }
                Ok(false) => {}
                Err(e) => tracing::debug!(error = %e, "reaper lock failed"),
            }
        }
    })
}

/// Longest a pass keeps trimming one source.
const TRIM_FOR: Duration = Duration::from_millis(250);

/// Reap one source; while a step trims a full batch there may be more past
/// retention: keep going for up to `TRIM_FOR`, so retention keeps up with
/// sources that ingest faster than one batch per interval. Depth totals are
/// the last step's; expiries and trims add up.
async fn reap_source(store: &Store, id: &str) -> crate::store::Result<ReapTotals> {
    let started = tokio::time::Instant::now();
    let full = crate::store::types::REAP_BATCH as u64;
    let mut t = store.reap(id).await?;
    let mut last = t.trimmed;
    while last == full && started.elapsed() < TRIM_FOR {
        let next = store.reap(id).await?;
        last = next.trimmed;
        t = ReapTotals {
            expired: t.expired + next.expired,
            trimmed: t.trimmed + next.trimmed,
            ..next
        };
    }
    Ok(t)
}

/// One pass over every source; returns the summed totals.
pub async fn pass(store: &Store) -> crate::store::Result<ReapTotals> {
    let ids = store.all_source_ids().await?;
    let results: Vec<_> = futures_util::stream::iter(ids)
        .map(|id| async move { reap_source(store, &id).await })
        .buffer_unordered(PARALLEL)
        .collect()
        .await;
    let mut sum = ReapTotals::default();
    for t in results {
        let t = t?;
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
