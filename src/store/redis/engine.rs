//! The queue engine: every state change of a delivery is one Lua script in
//! one Cluster slot (see `lua/`). This file only marshals arguments and
//! decodes replies.

use redis::{AsyncCommands, Value};
use serde::Deserialize;

use super::keys::{QueueKeys, SourceKeys};
use super::value::{array, bytes, corrupt, int, status, string};
use super::RedisStore;
use crate::model::{rfc3339_ms, Attempt, DeliveryState, Lease, QueueCounts, StoredMessage};
use crate::store::types::{
    dedupe_digest, IngestOutcome, NewMessage, ReapTotals, ReplaySelector, SettleItem,
    SettleOutcome, REAP_BATCH, REPLAY_LIMIT,
};
use crate::store::{Result, StoreError};

/// The delivery state JSON written by the Lua scripts (cjson numbers may
/// come back as floats, hence f64).
#[derive(Deserialize)]
struct RawState {
    s: String,
    #[serde(default)]
    a: f64,
    #[serde(default)]
    g: f64,
    e: Option<f64>,
    due: Option<f64>,
    r: Option<f64>,
    dr: Option<String>,
    dt: Option<f64>,
    #[serde(default, deserialize_with = "history")]
    h: Vec<RawAttempt>,
}

#[derive(Deserialize)]
struct RawAttempt {
    n: f64,
    l: f64,
    o: Option<String>,
    r: Option<String>,
    t: Option<f64>,
}

/// cjson encodes an empty table as `{}`; accept it as an empty history.
fn history<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Vec<RawAttempt>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum H {
        List(Vec<RawAttempt>),
        Other(serde::de::IgnoredAny),
    }
    Ok(match H::deserialize(d)? {
        H::List(v) => v,
        H::Other(_) => vec![],
    })
}

impl RawState {
    fn into_state(self) -> DeliveryState {
        let ts = |v: Option<f64>| v.map(|x| rfc3339_ms(x as i64));
        DeliveryState {
            state: self.s,
            attempts: self.a as u32,
            replayed: self.r.unwrap_or(0.0) > 0.0,
            lease_expires_at: ts(self.e),
            next_attempt_at: ts(self.due),
            dead_reason: self.dr,
            dead_at: ts(self.dt),
            generation: self.g as u64,
            history: self
                .h
                .into_iter()
                .map(|a| Attempt {
                    attempt: a.n as u32,
                    leased_at: rfc3339_ms(a.l as i64),
                    outcome: a.o,
                    reason: a.r,
                    settled_at: ts(a.t),
                })
                .collect(),
        }
    }
}

fn parse_state(raw: &str) -> Result<DeliveryState> {
    Ok(serde_json::from_str::<RawState>(raw)?.into_state())
}

/// Decode a stream entry's field/value list into a message.
pub(super) fn parse_entry(stream_id: String, fields: &[Value]) -> Result<StoredMessage> {
    let mut m = StoredMessage {
        received_at_ms: crate::ids::stream_id_ms(&stream_id),
        stream_id,
        method: String::new(),
        path: String::new(),
        query: String::new(),
        headers: vec![],
        content_type: None,
        body: bytes::Bytes::new(),
        verified: false,
        scheme: String::new(),
        dedupe_key: None,
        event_type: None,
    };
    for pair in fields.chunks(2) {
        let [k, v] = pair else {
            return Err(corrupt("odd field list"));
        };
        match string(k)?.as_str() {
            "m" => m.method = string(v)?,
            "p" => m.path = string(v)?,
            "q" => m.query = string(v)?,
            "h" => m.headers = serde_json::from_str(&string(v)?)?,
            "ct" => m.content_type = Some(string(v)?),
            "b" => m.body = bytes(v)?,
            "v" => m.verified = string(v)? == "1",
            "vs" => m.scheme = string(v)?,
            "dk" => m.dedupe_key = Some(string(v)?),
            "et" => m.event_type = Some(string(v)?),
            _ => {}
        }
    }
    Ok(m)
}

/// Whether an XRANGE reply's entry went to `queue_id`: yes unless routing
/// filtered it out (its `to` field then lists where it went; see
/// `routed` in lua/common.lua).
fn routed_to(v: &Value, queue_id: &str) -> Result<bool> {
    let Some(e) = array(v)?.first() else {
        return Ok(true);
    };
    let [_, fields] = array(e)? else {
        return Err(corrupt("stream entry"));
    };
    for pair in array(fields)?.chunks(2) {
        if let [k, v] = pair {
            if string(k)? == "to" {
                return Ok(string(v)?.split(' ').any(|q| q == queue_id));
            }
        }
    }
    Ok(true)
}

fn parse_entries(v: &Value) -> Result<Vec<StoredMessage>> {
    array(v)?
        .iter()
        .map(|e| {
            let e = array(e)?;
            match e {
                [id, fields] => parse_entry(string(id)?, array(fields)?),
                _ => Err(corrupt("stream entry")),
            }
        })
        .collect()
}

impl RedisStore {
    /// Store one message and fan it out to every queue of the source in one
    /// atomic step; concurrent ingests into the source share one script
    /// call (see `batch`).
    pub async fn ingest(&self, source_id: &str, m: &NewMessage<'_>) -> Result<IngestOutcome> {
        let headers = serde_json::to_string(m.headers)?;
        let dedupe = m.dedupe_key.map(dedupe_digest).unwrap_or_default();
        let fields = m.fields(&headers);
        // only the queues routing filtered out: the script delivers to
        // every queue not listed (most messages go everywhere, and each
        // argument costs Redis a conversion into Lua)
        let skipped: Vec<&str> = m.fanout.skipped().collect();
        let mut args: Vec<Vec<u8>> = Vec::with_capacity(5 + 2 * skipped.len() + 2 * fields.len());
        args.push(dedupe.into_bytes());
        args.push(m.dedupe_window_secs.to_string().into_bytes());
        args.push(m.fanout.version.to_string().into_bytes());
        args.push(skipped.len().to_string().into_bytes());
        for q in skipped {
            args.push(q.as_bytes().to_vec());
            args.push(b"0".to_vec());
        }
        args.push((2 * fields.len()).to_string().into_bytes());
        for (name, value) in fields {
            args.push(name.as_bytes().to_vec());
            args.push(value.to_vec());
        }
        self.coalesce(source_id.to_string(), super::batch::Ingest(args))
            .await
    }

    /// Lease up to `count` ready deliveries. `None` when the queue is gone.
    /// Concurrent leases of the queue (same lease time) share one lease.lua
    /// call (see `batch`).
    pub async fn lease(
        &self,
        source_id: &str,
        queue_id: &str,
        count: usize,
        lease_ms: u64,
    ) -> Result<Option<Vec<Lease>>> {
        let key = (source_id.to_string(), queue_id.to_string(), lease_ms);
        self.coalesce(key, super::batch::LeaseJob(count)).await
    }

    /// Apply a consumer's outcome to a lease it holds.
    /// Apply outcomes to leases of one queue in one atomic step; one
    /// outcome per item, in order (all `Gone` when the queue is gone).
    pub async fn settle_many(
        &self,
        source_id: &str,
        queue_id: &str,
        items: &[SettleItem],
    ) -> Result<Vec<SettleOutcome>> {
        // concurrent settles on the queue share one settle.lua call (see
        // `batch`)
        let key = (source_id.to_string(), queue_id.to_string());
        self.coalesce(key, super::batch::Settle(items.to_vec()))
            .await
    }

    /// Make messages deliverable again on one queue. `None` when the queue
    /// is gone; otherwise how many were replayed.
    pub async fn replay(
        &self,
        source_id: &str,
        queue_id: &str,
        sel: &ReplaySelector,
    ) -> Result<Option<u64>> {
        self.bounded(async {
            let k = SourceKeys::new(source_id);
            let qk = k.queue(queue_id);
            let mut inv = self.scripts().replay.prepare_invoke();
            inv.key(&k.log)
                .key(&k.qp)
                .key(qk.all().as_slice())
                .arg(queue_id);
            match sel {
                ReplaySelector::Ids(ids) => {
                    inv.arg("ids").arg(REPLAY_LIMIT).arg(ids);
                }
                ReplaySelector::Range { from_ms, to_ms } => {
                    inv.arg("range").arg(REPLAY_LIMIT).arg(from_ms).arg(to_ms);
                }
                ReplaySelector::DeadLetters => {
                    inv.arg("dead").arg(REPLAY_LIMIT);
                }
            }
            let reply: Value = inv.invoke_async(&mut self.conn()).await?;
            Ok(match array(&reply)? {
                [s, n, ..] if string(s)? == "ok" => Some(int(n)? as u64),
                [s, ..] if string(s)? == "gone" => None,
                _ => return Err(corrupt("replay reply")),
            })
        })
        .await
    }

    /// Depth by state and the age of the oldest ready delivery.
    pub async fn queue_counts(&self, source_id: &str, queue_id: &str) -> Result<QueueCounts> {
        self.bounded(async {
            let qk = SourceKeys::new(source_id).queue(queue_id);
            let (ready, delayed, leased, dead, oldest, time): (
                u64,
                u64,
                u64,
                u64,
                Option<String>,
                (i64, i64),
            ) = redis::pipe()
                .atomic()
                .llen(&qk.ready)
                .zcard(&qk.delayed)
                .zcard(&qk.leased)
                .zcard(&qk.dead)
                .lindex(&qk.ready, 0)
                .cmd("TIME")
                .query_async(&mut self.conn())
                .await?;
            let now_ms = time.0 * 1000 + time.1 / 1000;
            let oldest_ready_age_seconds = oldest
                .map(|sid| ((now_ms - crate::ids::stream_id_ms(&sid)).max(0) as f64) / 1000.0)
                .unwrap_or(0.0);
            Ok(QueueCounts {
                ready,
                delayed,
                leased,
                dead,
                oldest_ready_age_seconds,
            })
        })
        .await
    }

    /// A page of dead letters, oldest first: (stream id, state).
    pub async fn dead_letters(
        &self,
        source_id: &str,
        queue_id: &str,
        offset: u64,
        limit: u64,
    ) -> Result<Vec<(String, DeliveryState)>> {
        self.bounded(async {
            let qk = SourceKeys::new(source_id).queue(queue_id);
            let mut c = self.conn();
            // a page beyond what a sorted set can index is simply empty
            let (Ok(start), Some(stop)) = (
                isize::try_from(offset),
                offset
                    .checked_add(limit)
                    .and_then(|e| isize::try_from(e).ok())
                    .map(|e| e - 1),
            ) else {
                return Ok(vec![]);
            };
            if limit == 0 {
                return Ok(vec![]);
            }
            let sids: Vec<String> = c.zrange(&qk.dead, start, stop).await?;
            if sids.is_empty() {
                return Ok(vec![]);
            }
            let raws: Vec<Option<String>> = redis::cmd("HMGET")
                .arg(&qk.st)
                .arg(&sids)
                .query_async(&mut c)
                .await?;
            let mut out = vec![];
            for (sid, raw) in sids.into_iter().zip(raws) {
                if let Some(raw) = raw {
                    out.push((sid, parse_state(&raw)?));
                }
            }
            Ok(out)
        })
        .await
    }

    /// Stored messages of a source, newest first, received in
    /// [from_ms, to_ms], strictly older than `before` when given.
    pub async fn history(
        &self,
        source_id: &str,
        from_ms: i64,
        to_ms: i64,
        before: Option<&str>,
        limit: usize,
    ) -> Result<Vec<StoredMessage>> {
        self.bounded(async {
            let k = SourceKeys::new(source_id);
            let end = match before {
                Some(b) => format!("({b}"),
                None => to_ms.to_string(),
            };
            let reply: Value = redis::cmd("XREVRANGE")
                .arg(&k.log)
                .arg(end)
                .arg(from_ms)
                .arg("COUNT")
                .arg(limit)
                .query_async(&mut self.conn())
                .await?;
            let mut v = parse_entries(&reply)?;
            v.retain(|m| m.received_at_ms <= to_ms);
            Ok(v)
        })
        .await
    }

    /// Stored messages, oldest first (see `Store::scan`).
    pub async fn scan(
        &self,
        source_id: &str,
        from_ms: i64,
        to_ms: i64,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<StoredMessage>> {
        self.bounded(async {
            let k = SourceKeys::new(source_id);
            let start = match after {
                Some(a) => format!("({a}"),
                None => from_ms.to_string(),
            };
            let reply: Value = redis::cmd("XRANGE")
                .arg(&k.log)
                .arg(start)
                .arg(to_ms)
                .arg("COUNT")
                .arg(limit)
                .query_async(&mut self.conn())
                .await?;
            let mut v = parse_entries(&reply)?;
            v.retain(|m| m.received_at_ms >= from_ms);
            Ok(v)
        })
        .await
    }

    /// One stored message.
    pub async fn message(&self, source_id: &str, stream_id: &str) -> Result<Option<StoredMessage>> {
        self.bounded(async {
            let k = SourceKeys::new(source_id);
            let reply: Value = redis::cmd("XRANGE")
                .arg(&k.log)
                .arg(stream_id)
                .arg(stream_id)
                .query_async(&mut self.conn())
                .await?;
            Ok(parse_entries(&reply)?.into_iter().next())
        })
        .await
    }

    /// The delivery state of one message on one queue.
    pub async fn delivery_state(
        &self,
        source_id: &str,
        queue_id: &str,
        stream_id: &str,
    ) -> Result<Option<DeliveryState>> {
        self.bounded(async {
            let k = SourceKeys::new(source_id);
            let qk: QueueKeys = k.queue(queue_id);
            let (raw, policy, entry): (Option<String>, Option<String>, Value) = redis::pipe()
                .hget(&qk.st, stream_id)
                .hget(&k.qp, queue_id)
                .cmd("XRANGE")
                .arg(&k.log)
                .arg(stream_id)
                .arg(stream_id)
                .query_async(&mut self.conn())
                .await?;
            if let Some(r) = raw {
                return parse_state(&r).map(Some);
            }
            // filtered out of this queue at ingest: never delivered here
            if !routed_to(&entry, queue_id)? {
                return Ok(None);
            }
            // no state yet: fresh and ready if ingested after the queue
            // was attached (see lua/common.lua)
            let since = policy
                .as_deref()
                .and_then(|p| p.split_whitespace().nth(5))
                .unwrap_or("0-0")
                .to_string();
            Ok(after(stream_id, &since).then(|| DeliveryState {
                state: "ready".into(),
                attempts: 0,
                replayed: false,
                lease_expires_at: None,
                next_attempt_at: None,
                dead_reason: None,
                dead_at: None,
                history: vec![],
                generation: 0,
            }))
        })
        .await
    }

    /// For each stream id: is it still leased under this generation?
    pub async fn still_leased(
        &self,
        source_id: &str,
        queue_id: &str,
        held: &[(String, u64)],
    ) -> Result<Vec<bool>> {
        if held.is_empty() {
            return Ok(vec![]);
        }
        self.bounded(async {
            let qk = SourceKeys::new(source_id).queue(queue_id);
            let sids: Vec<&str> = held.iter().map(|(s, _)| s.as_str()).collect();
            // the scripts stamp expiries with Redis time: compare with the
            // same clock, never the node's (which may be skewed)
            let (raws, (secs, micros)): (Vec<Option<String>>, (i64, i64)) = redis::pipe()
                .cmd("HMGET")
                .arg(&qk.st)
                .arg(&sids)
                .cmd("TIME")
                .query_async(&mut self.conn())
                .await?;
            let now = (secs * 1000 + micros / 1000) as f64;
            Ok(raws
                .into_iter()
                .zip(held)
                .map(|(raw, (_, g))| {
                    raw.and_then(|r| serde_json::from_str::<RawState>(&r).ok())
                        .is_some_and(|s| {
                            s.s == "leased" && s.g as u64 == *g && s.e.unwrap_or(0.0) > now
                        })
                })
                .collect())
        })
        .await
    }

    /// One upkeep pass over a source (see `lua/reap.lua`).
    pub async fn reap(&self, source_id: &str) -> Result<ReapTotals> {
        self.bounded(async {
            let k = SourceKeys::new(source_id);
            let t: Vec<u64> = self
                .scripts()
                .reap
                .key(&k.src)
                .key(&k.log)
                .key(&k.queues)
                .key(&k.qp)
                .key(&k.trim)
                .arg(&k.prefix)
                .arg(REAP_BATCH)
                .invoke_async(&mut self.conn())
                .await?;
            let [ready, delayed, leased, dead, expired, trimmed] = t[..] else {
                return Err(StoreError::Corrupt("reap reply".into()));
            };
            Ok(ReapTotals {
                ready,
                delayed,
                leased,
                dead,
                expired,
                trimmed,
            })
        })
        .await
    }
}

/// Decode `ingest.lua`'s reply; a reply of the wrong shape is `Corrupt`,
/// never a panic.
pub(super) fn ingest_reply(reply: &Value) -> Result<IngestOutcome> {
    match array(reply)? {
        [s, sid, n] if string(s)? == "ok" => Ok(IngestOutcome::Stored {
            stream_id: string(sid)?,
            queues: int(n)? as u64,
        }),
        [s, sid] if string(s)? == "dup" => Ok(IngestOutcome::Duplicate {
            stream_id: string(sid)?,
        }),
        [s] if string(s)? == "gone" => Ok(IngestOutcome::SourceGone),
        [s] if string(s)? == "reroute" => Ok(IngestOutcome::Reroute),
        _ => Err(corrupt("ingest reply")),
    }
}

/// Decode `settle.lua`'s reply (see `ingest_reply`).
pub(super) fn settle_reply(reply: &Value) -> Result<SettleOutcome> {
    let r = array(reply)?;
    Ok(match (status(r)?.as_str(), r) {
        ("ok", [_, st, e]) => SettleOutcome::Done {
            state: string(st)?,
            lease_expires_at_ms: int(e)?,
        },
        ("stale", [_]) => SettleOutcome::Stale,
        ("expired", [_]) => SettleOutcome::Expired,
        ("gone", [_]) => SettleOutcome::Gone,
        _ => return Err(corrupt("settle reply")),
    })
}

/// Stream id order: is `a` after `b`?
fn after(a: &str, b: &str) -> bool {
    let parts = |s: &str| -> (u64, u64) {
        let (x, y) = s.split_once('-').unwrap_or((s, "0"));
        (x.parse().unwrap_or(0), y.parse().unwrap_or(0))
    };
    parts(a) > parts(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(parts: &[&str]) -> Value {
        Value::Array(
            parts
                .iter()
                .map(|p| Value::BulkString(p.as_bytes().to_vec()))
                .collect(),
        )
    }

    #[test]
    fn short_or_odd_replies_are_corrupt_not_panics() {
        assert_eq!(
            ingest_reply(&reply(&["ok", "1-0", "2"])).unwrap(),
            IngestOutcome::Stored {
                stream_id: "1-0".into(),
                queues: 2
            }
        );
        for bad in [&["ok"][..], &["ok", "1-0"], &["dup"], &["what"], &[]] {
            assert!(matches!(
                ingest_reply(&reply(bad)),
                Err(StoreError::Corrupt(_))
            ));
        }
        assert!(matches!(
            ingest_reply(&Value::Int(3)),
            Err(StoreError::Corrupt(_))
        ));
        assert_eq!(
            settle_reply(&reply(&["stale"])).unwrap(),
            SettleOutcome::Stale
        );
        for bad in [&["ok"][..], &["ok", "acked"], &[], &["nope"]] {
            assert!(matches!(
                settle_reply(&reply(bad)),
                Err(StoreError::Corrupt(_))
            ));
        }
    }
}
