//! Call coalescing. Concurrent ingests into one source — and concurrent
//! leases and settles of one queue — on one thread share one script call
//! (`ingest.lua`, `lease.lua`, `settle.lua`): the first starts a flusher task, the ones
//! that arrive while its call is in flight wait in the slot and go together
//! in the next call (natural batching: no timer, no added wait when the
//! relay is idle — a lone request is a batch of one).
//!
//! Atomicity is per message (per settle item), as without batching: the
//! script applies each in one step and answers each with its own outcome.
//! A call that fails (Redis unreachable, timed out) answers every request
//! of its batch with that error, 503 at the HTTP layer, exactly as a single
//! request's failed call does. The flusher is a task of its own, so a
//! request that goes away (client disconnect, ingest budget) never cuts a
//! batch short.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;
use std::thread::ThreadId;

use redis::Value;
use tokio::sync::oneshot;

use super::value::{array, corrupt, int, status, string};
use super::RedisStore;
use crate::model::Lease;
use crate::store::{IngestOutcome, Result, SettleItem, SettleOp, SettleOutcome, StoreError};

/// One request's share of a call.
pub trait Job: Sized + Send + 'static {
    type Out: Send + 'static;
    /// What the calls of one batch share (the source, the queue, …).
    type Key: std::hash::Hash + Eq + Clone + Send + Sync + 'static;
    /// The call's name in metrics.
    const NAME: &'static str;
    /// Most units (messages, settle items) in one call.
    const MAX_UNITS: usize;
    /// The store's slots for this kind of call.
    fn slots(store: &RedisStore) -> &Slots<Self>;
    /// (units, argument bytes) this job adds to a call.
    fn size(&self) -> (usize, usize);
    /// One script call for `jobs` (all of one `key`): an outcome per job,
    /// in order.
    fn call<'a>(
        store: &'a RedisStore,
        key: &'a Self::Key,
        jobs: &'a [Self],
    ) -> impl Future<Output = Result<Vec<Self::Out>>> + Send + 'a;
}

/// Most argument bytes in one call (one job always goes, however big).
const MAX_BYTES: usize = 1 << 20;

type Waiting<J> = (J, oneshot::Sender<Result<<J as Job>::Out>>);

pub struct Slot<J: Job> {
    jobs: Vec<Waiting<J>>,
    /// a flusher task is running for this slot
    busy: bool,
}

/// (thread, key) -> waiting jobs. Per thread, so a batch is answered on
/// the thread its requests run on (no cross-thread wake-ups) and sent on
/// that thread's own connection.
pub struct Slots<J: Job>(Mutex<HashMap<SlotKey<J>, Slot<J>>>);

type SlotKey<J> = (ThreadId, <J as Job>::Key);

impl<J: Job> Default for Slots<J> {
    fn default() -> Self {
        Slots(Mutex::new(HashMap::new()))
    }
}

impl RedisStore {
    /// Queue `job` under `key` and wait for its batch's outcome.
    pub(super) async fn coalesce<J: Job>(&self, key: J::Key, job: J) -> Result<J::Out> {
        let (tx, rx) = oneshot::channel();
        let key = (std::thread::current().id(), key);
        let start = {
            let mut slots = J::slots(self).0.lock().unwrap_or_else(|p| p.into_inner());
            let slot = slots.entry(key.clone()).or_insert_with(|| Slot {
                jobs: Vec::new(),
                busy: false,
            });
            slot.jobs.push((job, tx));
            !std::mem::replace(&mut slot.busy, true)
        };
        if start {
            let me = self.clone();
            tokio::spawn(async move { me.flush::<J>(key).await });
        }
        rx.await
            .unwrap_or_else(|_| Err(StoreError::Unavailable("the batch was dropped".into())))
    }

    /// Send the slot's waiting jobs, a batch per call, until none wait.
    async fn flush<J: Job>(&self, key: SlotKey<J>) {
        let mut guard = Abandon {
            slots: J::slots(self),
            key: &key,
            armed: true,
        };
        loop {
            let (jobs, txs): (Vec<J>, Vec<_>) = {
                let mut slots = J::slots(self).0.lock().unwrap_or_else(|p| p.into_inner());
                let Some(slot) = slots.get_mut(&key) else {
                    guard.armed = false;
                    return;
                };
                if slot.jobs.is_empty() {
                    slots.remove(&key);
                    guard.armed = false;
                    return;
                }
                let (mut n, mut units, mut bytes) = (0, 0, 0);
                for (j, _) in &slot.jobs {
                    let (u, b) = j.size();
                    if n > 0 && (units + u > J::MAX_UNITS || bytes + b > MAX_BYTES) {
                        break;
                    }
                    n += 1;
                    units += u;
                    bytes += b;
                }
                slot.jobs.drain(..n).unzip()
            };
            crate::metrics::store_batch(J::NAME, jobs.len() as u64);
            match self.bounded(J::call(self, &key.1, &jobs)).await {
                Ok(outcomes) => {
                    for (tx, o) in txs.into_iter().zip(outcomes) {
                        let _ = tx.send(Ok(o));
                    }
                }
                Err(e) => {
                    let why = e.to_string();
                    let transient = e.is_transient();
                    for tx in txs {
                        let _ = tx.send(Err(if transient {
                            StoreError::Unavailable(why.clone().into())
                        } else {
                            StoreError::Failed(why.clone().into())
                        }));
                    }
                }
            }
        }
    }
}

/// A flusher that stops other than by finding its slot empty (a panic, or
/// its runtime shutting down) takes its slot with it: the requests waiting
/// there get an error at once instead of waiting for a flusher that is
/// gone, and the next request starts a new slot.
struct Abandon<'a, J: Job> {
    slots: &'a Slots<J>,
    key: &'a SlotKey<J>,
    armed: bool,
}

impl<J: Job> Drop for Abandon<'_, J> {
    fn drop(&mut self) {
        if self.armed {
            let mut slots = self.slots.0.lock().unwrap_or_else(|p| p.into_inner());
            slots.remove(self.key);
        }
    }
}

/// One message's ingest: its arguments, as the ARGV layout of `ingest.lua`
/// lists them per message. Key: the source id.
pub struct Ingest(pub Vec<Vec<u8>>);

impl Job for Ingest {
    type Out = IngestOutcome;
    /// the source id
    type Key = String;
    const NAME: &'static str = "ingest";
    const MAX_UNITS: usize = 64;

    fn slots(store: &RedisStore) -> &Slots<Self> {
        &store.inner.ingests
    }

    fn size(&self) -> (usize, usize) {
        (1, self.0.iter().map(Vec::len).sum())
    }

    async fn call(
        store: &RedisStore,
        source_id: &String,
        jobs: &[Self],
    ) -> Result<Vec<IngestOutcome>> {
        let k = super::keys::SourceKeys::new(source_id);
        let mut inv = store.scripts().ingest.prepare_invoke();
        inv.key(&k.src)
            .key(&k.log)
            .key(&k.queues)
            .arg(&k.prefix)
            .arg(jobs.len());
        for j in jobs {
            inv.arg(&j.0);
        }
        let reply: Value = inv.invoke_async(&mut store.conn()).await?;
        let items = array(&reply)?;
        if items.len() != jobs.len() {
            return Err(corrupt("ingest reply: one outcome per message"));
        }
        items.iter().map(super::engine::ingest_reply).collect()
    }
}

/// One caller's settle items on one queue.
pub struct Settle(pub Vec<SettleItem>);

impl Job for Settle {
    type Out = Vec<SettleOutcome>;
    /// (source id, queue id)
    type Key = (String, String);
    const NAME: &'static str = "settle";
    const MAX_UNITS: usize = 256;

    fn slots(store: &RedisStore) -> &Slots<Self> {
        &store.inner.settles
    }

    fn size(&self) -> (usize, usize) {
        let bytes = self
            .0
            .iter()
            .map(|i| i.stream_id.len() + i.reason.len() + 32)
            .sum();
        (self.0.len(), bytes)
    }

    async fn call(
        store: &RedisStore,
        (source_id, queue_id): &(String, String),
        jobs: &[Self],
    ) -> Result<Vec<Vec<SettleOutcome>>> {
        let k = super::keys::SourceKeys::new(source_id);
        let qk = k.queue(queue_id);
        let total: usize = jobs.iter().map(|j| j.0.len()).sum();
        let mut inv = store.scripts().settle.prepare_invoke();
        inv.key(&k.qp)
            .key(qk.all().as_slice())
            .arg(queue_id)
            .arg(total);
        for it in jobs.iter().flat_map(|j| &j.0) {
            let (name, num): (&str, i64) = match it.op {
                SettleOp::Ack => ("ack", 0),
                SettleOp::Nack(d) => ("nack", d.map(|d| d as i64).unwrap_or(-1)),
                SettleOp::Reject => ("reject", 0),
                SettleOp::Extend(ms) => ("extend", ms as i64),
            };
            inv.arg(name)
                .arg(&it.stream_id)
                .arg(it.generation)
                .arg(&it.reason)
                .arg(num);
        }
        let reply: Value = inv.invoke_async(&mut store.conn()).await?;
        let r = array(&reply)?;
        let mut flat: Vec<SettleOutcome> = match r.split_first() {
            Some((s, _)) if string(s)? == "gone" => vec![SettleOutcome::Gone; total],
            Some((s, rest)) if string(s)? == "ok" && rest.len() == total => rest
                .iter()
                .map(super::engine::settle_reply)
                .collect::<Result<_>>()?,
            _ => return Err(corrupt("settle reply")),
        }
        .into_iter()
        .rev()
        .collect();
        // split back, in order: `flat` is reversed so each job pops its own
        Ok(jobs
            .iter()
            .map(|j| (0..j.0.len()).filter_map(|_| flat.pop()).collect())
            .collect())
    }
}

/// One caller's lease of up to `.0` deliveries of a queue. The call leases
/// the sum; each caller gets its share in
/// order (FIFO across the callers of the call), fewer when fewer are ready.
pub struct LeaseJob(pub usize);

impl Job for LeaseJob {
    type Out = Option<Vec<Lease>>;
    /// (source id, queue id, lease ms)
    type Key = (String, String, u64);
    const NAME: &'static str = "lease";
    const MAX_UNITS: usize = 200;

    fn slots(store: &RedisStore) -> &Slots<Self> {
        &store.inner.leases
    }

    fn size(&self) -> (usize, usize) {
        (self.0.max(1), 0)
    }

    async fn call(
        store: &RedisStore,
        (source_id, queue_id, lease_ms): &(String, String, u64),
        jobs: &[Self],
    ) -> Result<Vec<Option<Vec<Lease>>>> {
        let k = super::keys::SourceKeys::new(source_id);
        let qk = k.queue(queue_id);
        let total: usize = jobs.iter().map(|j| j.0).sum();
        let reply: Value = store
            .scripts()
            .lease
            .key(&k.log)
            .key(&k.qp)
            .key(qk.all().as_slice())
            .arg(queue_id)
            .arg(total)
            .arg(lease_ms)
            .invoke_async(&mut store.conn())
            .await?;
        let r = array(&reply)?;
        if status(r)? == "gone" {
            return Ok(jobs.iter().map(|_| None).collect());
        }
        let mut leased = Vec::new();
        for item in r.iter().skip(2) {
            let it = array(item)?;
            let [sid, a, g, e, max, rep, fields] = it else {
                return Err(corrupt("lease item"));
            };
            leased.push(Lease {
                message: super::engine::parse_entry(string(sid)?, array(fields)?)?,
                attempt: int(a)? as u32,
                generation: int(g)? as u64,
                expires_at_ms: int(e)?,
                max_attempts: int(max)? as u32,
                replayed: int(rep)? > 0,
            });
        }
        let mut leased = leased.into_iter();
        Ok(jobs
            .iter()
            .map(|j| Some(leased.by_ref().take(j.0).collect()))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn waiting(
        slots: &Slots<Ingest>,
        key: &SlotKey<Ingest>,
    ) -> oneshot::Receiver<Result<IngestOutcome>> {
        let (tx, rx) = oneshot::channel();
        let mut map = slots.0.lock().unwrap();
        let slot = map.entry(key.clone()).or_insert_with(|| Slot {
            jobs: Vec::new(),
            busy: true,
        });
        slot.jobs.push((Ingest(vec![]), tx));
        rx
    }

    #[test]
    fn an_abandoned_flusher_releases_its_waiting_requests() {
        let slots = Slots::<Ingest>::default();
        let key = (std::thread::current().id(), "src_a".to_string());
        let mut rx = waiting(&slots, &key);
        drop(Abandon {
            slots: &slots,
            key: &key,
            armed: true,
        });
        assert!(
            matches!(rx.try_recv(), Err(oneshot::error::TryRecvError::Closed)),
            "the waiting request is told at once"
        );
        assert!(
            slots.0.lock().unwrap().is_empty(),
            "the next request starts afresh"
        );
    }

    #[test]
    fn a_flusher_that_finished_leaves_a_new_slot_alone() {
        let slots = Slots::<Ingest>::default();
        let key = (std::thread::current().id(), "src_a".to_string());
        // a request arrived after the flusher found its slot empty and left
        let _rx = waiting(&slots, &key);
        drop(Abandon {
            slots: &slots,
            key: &key,
            armed: false,
        });
        assert_eq!(slots.0.lock().unwrap()[&key].jobs.len(), 1);
    }
}
