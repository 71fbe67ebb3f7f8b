//! Ingest coalescing. Concurrent ingests into one source on one thread
//! share one `ingest.lua` call: the first starts a flusher task, the ones
//! that arrive while its call is in flight wait in the slot and go together
//! in the next call (natural batching: no timer, no added wait when the
//! relay is idle — a lone ingest is a batch of one).
//!
//! Atomicity is per message, as without batching: the script stores each
//! message and its fan-out in one step and answers each with its own
//! outcome (stored, duplicate, gone, reroute). A call that fails (Redis
//! unreachable, timed out) answers every request of its batch with that
//! error, 503 at the HTTP layer, exactly as a single request's failed call
//! does. The flusher is a task of its own, so a request that goes away
//! (client disconnect, ingest budget) never cuts a batch short.

use std::collections::HashMap;
use std::sync::Mutex;
use std::thread::ThreadId;

use redis::Value;
use tokio::sync::oneshot;

use super::RedisStore;
use crate::store::{IngestOutcome, Result, StoreError};

/// Most messages in one script call.
pub const MAX_MESSAGES: usize = 64;
/// Most argument bytes in one call (one message always goes, however big).
pub const MAX_BYTES: usize = 1 << 20;

/// One message's arguments (see the ARGV layout in `ingest.lua`) and the
/// request waiting for its outcome.
pub struct Job {
    pub args: Vec<Vec<u8>>,
    pub bytes: usize,
    pub tx: oneshot::Sender<Result<IngestOutcome>>,
}

#[derive(Default)]
pub struct Slot {
    jobs: Vec<Job>,
    /// a flusher task is running for this slot
    busy: bool,
}

/// (thread, source) -> waiting ingests. Per thread, so a batch is answered
/// on the thread its requests run on (no cross-thread wake-ups) and sent on
/// that thread's own connection.
pub type Slots = Mutex<HashMap<(ThreadId, String), Slot>>;

impl RedisStore {
    /// Queue one message's ingest and wait for its batch's outcome.
    pub(super) async fn ingest_batched(
        &self,
        source_id: &str,
        args: Vec<Vec<u8>>,
    ) -> Result<IngestOutcome> {
        let (tx, rx) = oneshot::channel();
        let bytes = args.iter().map(Vec::len).sum();
        let key = (std::thread::current().id(), source_id.to_string());
        let start = {
            let mut slots = self.inner.batches.lock().unwrap_or_else(|p| p.into_inner());
            let slot = slots.entry(key.clone()).or_default();
            slot.jobs.push(Job { args, bytes, tx });
            !std::mem::replace(&mut slot.busy, true)
        };
        if start {
            let me = self.clone();
            tokio::spawn(async move { me.flush(key).await });
        }
        rx.await.unwrap_or_else(|_| {
            Err(StoreError::Unavailable(
                "the ingest batch was dropped".into(),
            ))
        })
    }

    /// Send the slot's waiting ingests, a batch per call, until none wait.
    async fn flush(&self, key: (ThreadId, String)) {
        loop {
            let jobs = {
                let mut slots = self.inner.batches.lock().unwrap_or_else(|p| p.into_inner());
                let Some(slot) = slots.get_mut(&key) else {
                    return;
                };
                if slot.jobs.is_empty() {
                    slots.remove(&key);
                    return;
                }
                let mut n = 0;
                let mut bytes = 0;
                for j in &slot.jobs {
                    if n == MAX_MESSAGES || (n > 0 && bytes + j.bytes > MAX_BYTES) {
                        break;
                    }
                    n += 1;
                    bytes += j.bytes;
                }
                slot.jobs.drain(..n).collect::<Vec<_>>()
            };
            crate::metrics::ingest_batch(jobs.len() as u64);
            match self.bounded(self.ingest_call(&key.1, &jobs)).await {
                Ok(outcomes) => {
                    for (j, o) in jobs.into_iter().zip(outcomes) {
                        let _ = j.tx.send(Ok(o));
                    }
                }
                Err(e) => {
                    let why = e.to_string();
                    let transient = e.is_transient();
                    for j in jobs {
                        let _ = j.tx.send(Err(if transient {
                            StoreError::Unavailable(why.clone().into())
                        } else {
                            StoreError::Failed(why.clone().into())
                        }));
                    }
                }
            }
        }
    }

    /// One `ingest.lua` call for `jobs` (all of one source): an outcome per
    /// job, in order.
    async fn ingest_call(&self, source_id: &str, jobs: &[Job]) -> Result<Vec<IngestOutcome>> {
        let k = super::keys::SourceKeys::new(source_id);
        let mut inv = self.scripts().ingest.prepare_invoke();
        inv.key(&k.src)
            .key(&k.log)
            .key(&k.queues)
            .arg(&k.prefix)
            .arg(jobs.len());
        for j in jobs {
            inv.arg(&j.args);
        }
        let reply: Value = inv.invoke_async(&mut self.conn()).await?;
        let items = super::value::array(&reply)?;
        if items.len() != jobs.len() {
            return Err(StoreError::Corrupt(
                "ingest reply: one outcome per message".into(),
            ));
        }
        items.iter().map(super::engine::ingest_reply).collect()
    }
}
