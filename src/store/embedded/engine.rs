//! The queue engine on SQLite, its writing half (reads are in `reads.rs`):
//! the same state machine as the Redis backend's Lua scripts (see
//! `store/redis/lua/`), one writer change per state change. Ingest writes the message and one delivery row per queue
//! of the source in the same change, so the fan-out is atomic with the
//! write and durable with it.

use rusqlite::{params, Connection, OptionalExtension};

use super::rows::{
    message_from_row, message_row, policy, source_number, Delivery, Policy, DEAD, DELAYED,
    DELIVERY_COLS, LEASED, MESSAGE_COLS, READY,
};
use super::writer::{Ctx, Memory};
use super::{now_ms, EmbeddedStore};
use crate::model::{Lease, StoredMessage};
use crate::store::types::{
    dedupe_digest, IngestOutcome, NewMessage, ReapTotals, ReplaySelector, SettleItem, SettleOp,
    SettleOutcome, REAP_BATCH, REPLAY_LIMIT,
};
use crate::store::Result;

/// Due redeliveries and expired leases a lease call handles first.
const LEASE_UPKEEP: usize = 100;

/// An ingest, owned (it crosses to the writer thread).
struct Owned {
    method: String,
    path: String,
    query: String,
    headers: String,
    content_type: Option<String>,
    body: Vec<u8>,
    verified: bool,
    scheme: String,
    dedupe_key: Option<String>,
    digest: Option<String>,
    window_ms: i64,
    size: i64,
    event_type: Option<String>,
    routes_version: u64,
    /// Queues routing filtered out (a queue not known to the caller gets
    /// the message, as on Redis).
    skip: Vec<String>,
}

/// Note that `queue_id` may have work: its next lease skips the idle check.
fn mark_busy(busy: &mut std::collections::HashSet<String>, queue_id: &str) {
    if !busy.contains(queue_id) {
        if busy.len() >= 100_000 {
            busy.clear(); // deleted queues never leave on their own
        }
        busy.insert(queue_id.to_string());
    }
}

/// A queue's deliveries in a state whose `k` has come (?1 qn, ?2 state,
/// ?3 now), earliest first.
fn come_due_sql() -> String {
    format!(
        "SELECT {DELIVERY_COLS} FROM deliveries d \
         WHERE d.qn = ?1 AND d.state = ?2 AND d.k <= ?3 ORDER BY d.k"
    )
}

/// A queue's deliveries in a state with their messages (?1 qn, ?2 state),
/// in `k` order.
fn ready_sql() -> String {
    format!(
        "SELECT {DELIVERY_COLS}, {MESSAGE_COLS} FROM deliveries d \
         JOIN messages m ON m.id = d.msg \
         WHERE d.qn = ?1 AND d.state = ?2 ORDER BY d.k"
    )
}

/// Up to `limit` deliveries of a queue in `state` whose time (`k`: due
/// time, lease expiry) has come, earliest first.
///
/// No statement of the writer binds its LIMIT: SQLite plans a statement
/// again at every run when a bound parameter is its LIMIT (measured: every
/// lease re-parsed three statements, a quarter of the writer's time), so
/// the rows are taken from the index-ordered scan instead.
fn come_due(db: &Connection, qn: i64, state: i64, now: i64, limit: usize) -> Result<Vec<Delivery>> {
    Ok(db
        .prepare_cached(&come_due_sql())?
        .query_map(params![qn, state, now], Delivery::from_row)?
        .take(limit)
        .collect::<rusqlite::Result<_>>()?)
}

/// Move due delayed deliveries of a queue to ready. Returns how many.
fn promote_due(db: &Connection, mem: &mut Memory, qn: i64, now: i64, limit: usize) -> Result<u64> {
    let due = come_due(db, qn, DELAYED, now, limit)?;
    let n = due.len() as u64;
    for mut d in due {
        d.due = None;
        d.make_ready(mem);
        d.save(db)?;
    }
    Ok(n)
}

/// Expired leases count as failed attempts. Returns (expired, made ready).
fn reclaim_expired(
    db: &Connection,
    mem: &mut Memory,
    pol: &Policy,
    now: i64,
    limit: usize,
) -> Result<(u64, u64)> {
    let exp = come_due(db, pol.qn, LEASED, now, limit)?;
    let n = exp.len() as u64;
    let mut ready = 0;
    for mut d in exp {
        if d.fail(pol, now, "expired", "lease_expired", None, mem) == READY {
            ready += 1;
        }
        d.save(db)?;
    }
    Ok((n, ready))
}

pub(super) fn count(db: &Connection, qn: i64, state: i64) -> Result<u64> {
    let n: i64 = db
        .prepare_cached("SELECT count(*) FROM deliveries WHERE qn = ?1 AND state = ?2")?
        .query_row([qn, state], |r| r.get(0))?;
    Ok(n as u64)
}

fn ingest(
    c: &mut Ctx<'_>,
    source_id: &str,
    m: &Owned,
    busy: &super::Busy,
) -> Result<IngestOutcome> {
    let db = c.db;
    let Some((sn, last_ms, last_seq, rv)) = db
        .prepare_cached("SELECT sn, last_ms, last_seq, rv FROM sources WHERE id = ?1")?
        .query_row([source_id], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, i64>(3)?,
            ))
        })
        .optional()?
    else {
        return Ok(IngestOutcome::SourceGone);
    };
    let now = now_ms();
    if let Some(dk) = &m.digest {
        let prev: Option<(i64, i64)> = db
            .prepare_cached(
                "SELECT ms, seq FROM dedupe WHERE sn = ?1 AND digest = ?2 AND expires > ?3",
            )?
            .query_row(params![sn, dk, now], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        if let Some((ms, seq)) = prev {
            return Ok(IngestOutcome::Duplicate {
                stream_id: format!("{ms}-{seq}"),
            });
        }
    }
    if rv as u64 != m.routes_version {
        return Ok(IngestOutcome::Reroute);
    }
    // stream ids only grow, whatever the clock does (as Redis XADD)
    let (ms, seq) = if now > last_ms {
        (now, 0)
    } else {
        (last_ms, last_seq + 1)
    };
    db.prepare_cached(
        "INSERT INTO messages (sn, ms, seq, method, path, query, headers, content_type, body, \
         verified, scheme, dedupe_key, size, event_type) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
    )?
    .execute(params![
        sn,
        ms,
        seq,
        m.method,
        m.path,
        m.query,
        m.headers,
        m.content_type,
        m.body,
        m.verified as i64,
        m.scheme,
        m.dedupe_key,
        m.size,
        m.event_type
    ])?;
    let msg = db.last_insert_rowid();
    if let Some(dk) = &m.digest {
        db.prepare_cached(
            "INSERT OR REPLACE INTO dedupe (sn, digest, ms, seq, expires) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )?
        .execute(params![sn, dk, ms, seq, now + m.window_ms])?;
    }
    db.prepare_cached(
        "UPDATE sources SET last_ms = ?2, last_seq = ?3, bytes = bytes + ?4 WHERE sn = ?1",
    )?
    .execute(params![sn, ms, seq, m.size])?;
    let queues: Vec<(i64, String)> = db
        .prepare_cached("SELECT qn, id FROM queues WHERE sn = ?1")?
        .query_map([sn], |r| Ok((r.get(0)?, r.get::<_, String>(1)?)))?
        .filter(|q| q.as_ref().map_or(true, |(_, id)| !m.skip.contains(id)))
        .collect::<rusqlite::Result<_>>()?;
    let mut insert =
        db.prepare_cached("INSERT INTO deliveries (msg, qn, state, k) VALUES (?1, ?2, 0, ?3)")?;
    for (qn, _) in &queues {
        insert.execute(params![msg, qn, c.mem.next_rank()])?;
    }
    // their next lease goes straight to the writer (see `lease`): marked
    // before the commit's wake-ups reach their consumers
    let mut busy = busy.lock().unwrap_or_else(|p| p.into_inner());
    for (_, id) in &queues {
        mark_busy(&mut busy, id);
    }
    drop(busy);
    // every ingest wakes the source's waiters: queues it reached, and tails
    c.wake(source_id, "*", 1);
    Ok(IngestOutcome::Stored {
        stream_id: format!("{ms}-{seq}"),
        queues: queues.len() as u64,
    })
}

fn lease(
    c: &mut Ctx<'_>,
    source_id: &str,
    queue_id: &str,
    want: usize,
    lease_ms: u64,
) -> Result<Option<Vec<Lease>>> {
    let db = c.db;
    let Some(pol) = policy(db, source_id, queue_id)? else {
        return Ok(None);
    };
    let now = now_ms();
    let mut moved = promote_due(db, c.mem, pol.qn, now, LEASE_UPKEEP)?;
    moved += reclaim_expired(db, c.mem, &pol, now, LEASE_UPKEEP)?.1;
    let lease = if lease_ms == 0 {
        pol.lease_ms
    } else {
        lease_ms as i64
    };
    let picked: Vec<(Delivery, StoredMessage)> = db
        .prepare_cached(&ready_sql())?
        .query_map(params![pol.qn, READY], |r| {
            Ok((Delivery::from_row(r)?, message_from_row(r, 12)?))
        })?
        .take(want)
        .collect::<rusqlite::Result<_>>()
        .map_err(super::rows::corrupt_on_decode)?;
    let mut out = Vec::with_capacity(picked.len());
    for (mut d, message) in picked {
        d.lease(now, lease);
        d.save(db)?;
        out.push(Lease {
            message,
            attempt: d.attempts,
            generation: d.gen,
            expires_at_ms: now + lease,
            max_attempts: pol.max_attempts,
            replayed: d.replayed,
        });
    }
    if moved > 0 {
        // others may take what this lease left ready (never a scan here)
        c.wake(source_id, queue_id, moved);
    }
    Ok(Some(out))
}

fn settle(
    c: &mut Ctx<'_>,
    source_id: &str,
    queue_id: &str,
    stream_id: &str,
    generation: u64,
    op: SettleOp,
    reason: &str,
) -> Result<SettleOutcome> {
    let db = c.db;
    let Some(pol) = policy(db, source_id, queue_id)? else {
        return Ok(SettleOutcome::Gone);
    };
    let Some(msg) = message_row(db, pol.sn, stream_id)? else {
        return Ok(SettleOutcome::Gone);
    };
    let Some(mut d) = Delivery::load(db, msg, pol.qn)? else {
        return Ok(SettleOutcome::Gone);
    };
    if d.state != LEASED || d.gen != generation {
        return Ok(SettleOutcome::Stale);
    }
    let now = now_ms();
    if d.lease_exp.unwrap_or(0) <= now {
        return Ok(SettleOutcome::Expired);
    }
    let done = |state: &str, e: i64| SettleOutcome::Done {
        state: state.into(),
        lease_expires_at_ms: e,
    };
    Ok(match op {
        SettleOp::Ack => {
            d.close_attempt("ack", "", now);
            d.state = super::rows::ACKED;
            d.k = 0;
            d.lease_exp = None;
            d.save(db)?;
            done("acked", 0)
        }
        SettleOp::Nack(delay) => {
            let s = d.fail(&pol, now, "nack", reason, delay.map(|d| d as i64), c.mem);
            d.save(db)?;
            if s == READY {
                c.wake(source_id, queue_id, 1);
            }
            done(super::rows::state_name(s), 0)
        }
        SettleOp::Reject => {
            d.close_attempt("reject", reason, now);
            d.state = DEAD;
            d.lease_exp = None;
            d.dead_at = Some(now);
            d.k = now;
            d.dead_reason = Some(if reason.is_empty() {
                "rejected".into()
            } else {
                reason.into()
            });
            d.save(db)?;
            done("dead", 0)
        }
        SettleOp::Extend(ms) => {
            let e = now + ms as i64;
            d.lease_exp = Some(e);
            d.k = e;
            d.save(db)?;
            done("leased", e)
        }
    })
}

fn replay(
    c: &mut Ctx<'_>,
    source_id: &str,
    queue_id: &str,
    sel: &ReplaySelector,
) -> Result<Option<u64>> {
    let db = c.db;
    let Some(pol) = policy(db, source_id, queue_id)? else {
        return Ok(None);
    };
    let msgs: Vec<i64> = match sel {
        ReplaySelector::Ids(ids) => {
            let mut v = Vec::with_capacity(ids.len());
            for sid in ids {
                if let Some(m) = message_row(db, pol.sn, sid)? {
                    v.push(m);
                }
            }
            v
        }
        ReplaySelector::Range { from_ms, to_ms } => db
            .prepare_cached(
                "SELECT id FROM messages WHERE sn = ?1 AND ms >= ?2 AND ms <= ?3 \
                 ORDER BY ms, seq",
            )?
            .query_map(params![pol.sn, from_ms, to_ms], |r| r.get(0))?
            .take(REPLAY_LIMIT)
            .collect::<rusqlite::Result<_>>()?,
        ReplaySelector::DeadLetters => db
            .prepare_cached(
                "SELECT msg FROM deliveries WHERE qn = ?1 AND state = ?2 \
                 ORDER BY k, msg",
            )?
            .query_map(params![pol.qn, DEAD], |r| r.get(0))?
            .take(REPLAY_LIMIT)
            .collect::<rusqlite::Result<_>>()?,
    };
    let now = now_ms();
    let mut n = 0;
    for msg in msgs {
        let mut d =
            Delivery::load(db, msg, pol.qn)?.unwrap_or_else(|| Delivery::fresh(msg, pol.qn));
        if d.state == LEASED {
            d.close_attempt("replaced", "replayed", now);
        }
        d.attempts = 0;
        d.replayed = true;
        d.lease_exp = None;
        d.due = None;
        d.dead_reason = None;
        d.dead_at = None;
        d.make_ready(c.mem);
        d.save(db)?;
        n += 1;
    }
    c.wake(source_id, queue_id, n);
    Ok(Some(n))
}

/// The writing half of a reap pass (due redeliveries, expired leases,
/// dedupe windows, retention); bounded work per call. The depth totals are
/// counted afterwards on a reader, so the writer never scans a deep queue.
fn reap(c: &mut Ctx<'_>, source_id: &str) -> Result<ReapTotals> {
    let db = c.db;
    let mut t = ReapTotals::default();
    let Some((sn, retention)) = db
        .prepare_cached("SELECT sn, retention_ms FROM sources WHERE id = ?1")?
        .query_row([source_id], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
        })
        .optional()?
    else {
        return Ok(t);
    };
    let now = now_ms();
    let queue_ids: Vec<String> = db
        .prepare_cached("SELECT id FROM queues WHERE sn = ?1")?
        .query_map([sn], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for qid in &queue_ids {
        let Some(pol) = policy(db, source_id, qid)? else {
            continue;
        };
        let moved = promote_due(db, c.mem, pol.qn, now, REAP_BATCH)?;
        let (expired, made_ready) = reclaim_expired(db, c.mem, &pol, now, REAP_BATCH)?;
        t.expired += expired;
        if moved + made_ready > 0 {
            // the waiters look for themselves: wake as many as were made ready
            c.wake(source_id, qid, moved + made_ready);
        }
    }
    db.prepare_cached("DELETE FROM dedupe WHERE sn = ?1 AND expires <= ?2")?
        .execute([sn, now])?;
    if retention > 0 {
        let cutoff = now - retention;
        let (cm, cs) = c.mem.trim.get(&sn).copied().unwrap_or((-1, -1));
        let entries: Vec<(i64, i64, i64, i64)> = db
            .prepare_cached(
                "SELECT id, ms, seq, size FROM messages \
                 WHERE sn = ?1 AND (ms, seq) > (?2, ?3) AND ms <= ?4 \
                 ORDER BY ms, seq",
            )?
            .query_map(params![sn, cm, cs, cutoff], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })?
            .take(REAP_BATCH)
            .collect::<rusqlite::Result<_>>()?;
        // pending on a live queue: a deleted queue's rows (still being
        // purged, see purge.rs) hold nothing back
        let mut pending = db.prepare_cached(
            "SELECT 1 FROM deliveries WHERE msg = ?1 AND state IN (0, 1, 2) \
             AND qn IN (SELECT qn FROM queues WHERE sn = ?2) LIMIT 1",
        )?;
        let mut freed = 0i64;
        for (id, _, _, size) in &entries {
            if pending.exists([*id, sn])? {
                continue;
            }
            db.prepare_cached("DELETE FROM deliveries WHERE msg = ?1")?
                .execute([id])?;
            db.prepare_cached("DELETE FROM messages WHERE id = ?1")?
                .execute([id])?;
            freed += size;
            t.trimmed += 1;
        }
        if freed > 0 {
            db.prepare_cached("UPDATE sources SET bytes = bytes - ?2 WHERE sn = ?1")?
                .execute([sn, freed])?;
        }
        match entries.last() {
            Some((_, ms, seq, _)) if entries.len() >= REAP_BATCH => {
                c.mem.trim.insert(sn, (*ms, *seq));
            }
            _ => {
                c.mem.trim.remove(&sn);
            }
        }
    }
    Ok(t)
}

impl EmbeddedStore {
    pub async fn ingest(&self, source_id: &str, m: &NewMessage<'_>) -> Result<IngestOutcome> {
        let headers = serde_json::to_string(m.headers)?;
        let owned = Owned {
            size: m.stored_size(&headers) as i64,
            method: m.method.into(),
            path: m.path.into(),
            query: m.query.into(),
            headers,
            content_type: m.content_type.map(Into::into),
            body: m.body.to_vec(),
            verified: m.verified,
            scheme: m.scheme.into(),
            dedupe_key: m.dedupe_key.map(Into::into),
            digest: m.dedupe_key.map(dedupe_digest),
            window_ms: (m.dedupe_window_secs as i64).saturating_mul(1000),
            event_type: m.event_type.map(Into::into),
            routes_version: m.fanout.version,
            skip: m.fanout.skipped().map(String::from).collect(),
        };
        let source_id = source_id.to_string();
        let busy = self.inner.busy.clone();
        self.write(move |c| ingest(c, &source_id, &owned, &busy))
            .await
    }

    pub async fn lease(
        &self,
        source_id: &str,
        queue_id: &str,
        count: usize,
        lease_ms: u64,
    ) -> Result<Option<Vec<Lease>>> {
        // most calls of idle consumers find nothing (an SSE stream checks
        // every few seconds on its own): ask a reader first, so they never
        // queue behind ingests on the one writer — unless the queue's last
        // lease found something (a consumer draining a backlog) or an
        // ingest reached it since, where the check would cost a thread hop
        // and a read for nothing (measured: 8 pollers, relay CPU per
        // message 125 → 75 µs)
        if !self.is_busy(queue_id) && self.idle(source_id, queue_id).await? {
            return Ok(Some(vec![]));
        }
        let (s, q) = (source_id.to_string(), queue_id.to_string());
        let leased = self
            .write_relaxed(move |c| lease(c, &s, &q, count, lease_ms))
            .await?;
        self.set_busy(queue_id, leased.as_ref().is_some_and(|l| !l.is_empty()));
        Ok(leased)
    }

    fn is_busy(&self, queue_id: &str) -> bool {
        let busy = self.inner.busy.lock().unwrap_or_else(|p| p.into_inner());
        busy.contains(queue_id)
    }

    fn set_busy(&self, queue_id: &str, yes: bool) {
        let mut busy = self.inner.busy.lock().unwrap_or_else(|p| p.into_inner());
        if yes {
            mark_busy(&mut busy, queue_id);
        } else {
            busy.remove(queue_id);
        }
    }

    /// Nothing to lease in the queue now (checked on a reader)?
    async fn idle(&self, source_id: &str, queue_id: &str) -> Result<bool> {
        let (s, q) = (source_id.to_string(), queue_id.to_string());
        self.read(move |db| {
            let Some(pol) = policy(db, &s, &q)? else {
                return Ok(false); // gone: the writer's path says so
            };
            let now = now_ms();
            let any = |state: i64, k_max: i64| -> Result<bool> {
                Ok(db
                    .prepare_cached(
                        "SELECT 1 FROM deliveries WHERE qn = ?1 AND state = ?2 AND k <= ?3 LIMIT 1",
                    )?
                    .query_row(params![pol.qn, state, k_max], |_| Ok(()))
                    .optional()?
                    .is_some())
            };
            Ok(!any(READY, i64::MAX)? && !any(DELAYED, now)? && !any(LEASED, now)?)
        })
        .await
    }

    pub async fn settle_many(
        &self,
        source_id: &str,
        queue_id: &str,
        items: &[SettleItem],
    ) -> Result<Vec<SettleOutcome>> {
        let (s, q, items) = (source_id.to_string(), queue_id.to_string(), items.to_vec());
        // one writer change: the items apply in order, all or none on a
        // failed commit (so each is atomic on its own)
        self.write_relaxed(move |c| {
            items
                .iter()
                .map(|it| settle(c, &s, &q, &it.stream_id, it.generation, it.op, &it.reason))
                .collect()
        })
        .await
    }

    pub async fn replay(
        &self,
        source_id: &str,
        queue_id: &str,
        sel: &ReplaySelector,
    ) -> Result<Option<u64>> {
        let (s, q, sel) = (source_id.to_string(), queue_id.to_string(), sel.clone());
        self.write(move |c| replay(c, &s, &q, &sel)).await
    }

    pub async fn reap(&self, source_id: &str) -> Result<ReapTotals> {
        let s = source_id.to_string();
        let mut t = self.write(move |c| reap(c, &s)).await?;
        [t.ready, t.delayed, t.leased, t.dead] = self.depth(source_id).await?;
        Ok(t)
    }

    /// A source's depth by state (ready, delayed, leased, dead), for the
    /// queue-depth gauges. Counting walks the index of every delivery, so a
    /// deep backlog made every reaper pass (each 500 ms) scan millions of
    /// entries: the count is redone at most every `DEPTH_EVERY` per source.
    async fn depth(&self, source_id: &str) -> Result<[u64; 4]> {
        if let Some(d) = self.inner.depths.get(source_id) {
            return Ok(*d);
        }
        let s = source_id.to_string();
        let depth = self
            .read_counts(move |db| {
                let mut d = [0u64; 4];
                let Some(sn) = source_number(db, &s)? else {
                    return Ok(d);
                };
                let qns: Vec<i64> = db
                    .prepare_cached("SELECT qn FROM queues WHERE sn = ?1")?
                    .query_map([sn], |r| r.get(0))?
                    .collect::<rusqlite::Result<_>>()?;
                for qn in qns {
                    for (i, state) in [READY, DELAYED, LEASED, DEAD].into_iter().enumerate() {
                        d[i] += count(db, qn, state)?;
                    }
                }
                Ok(d)
            })
            .await?;
        self.inner.depths.put(source_id, std::sync::Arc::new(depth));
        Ok(depth)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::StatementStatus;

    /// How often SQLite planned `sql` again over 5 runs with different
    /// parameters (`limit` is appended as a bound LIMIT when given).
    fn replans(sql: &str, params: usize, limit: bool) -> i32 {
        let db = Connection::open_in_memory().unwrap();
        db.execute_batch(super::super::SCHEMA).unwrap();
        let sql = if limit {
            format!("{sql} LIMIT ?{}", params + 1)
        } else {
            sql.to_string()
        };
        let mut st = db.prepare(&sql).unwrap();
        for i in 0..5i64 {
            let mut values: Vec<i64> = vec![1, i % 3, 1_000 + i][..params].to_vec();
            if limit {
                values.push(10 + i);
            }
            let n = st
                .query_map(rusqlite::params_from_iter(values), |_| Ok(()))
                .unwrap()
                .take(10)
                .count();
            assert_eq!(n, 0);
        }
        st.get_status(StatementStatus::RePrepare)
    }

    /// The lease path's scans are planned once, not at every run: a bound
    /// LIMIT would make SQLite plan them again each time (it did: a quarter
    /// of the writer's time under 8 pollers).
    #[test]
    fn the_lease_scans_are_planned_once() {
        assert_eq!(replans(&come_due_sql(), 3, false), 0);
        assert_eq!(replans(&ready_sql(), 2, false), 0);
        // what the test guards against
        assert!(replans(&come_due_sql(), 3, true) > 0);
    }
}
