//! The embedded engine's read side: counts, dead-letter pages, history,
//! single messages and delivery states, lease checks — all on reader
//! connections, never on the writer thread.

use rusqlite::{params, OptionalExtension};

use super::engine::count;
use super::rows::{
    message_from_row, message_row, policy, source_number, Delivery, DEAD, DELAYED, DELIVERY_COLS,
    LEASED, MESSAGE_COLS, READY,
};
use super::{now_ms, EmbeddedStore};
use crate::model::{DeliveryState, QueueCounts, StoredMessage};
use crate::store::Result;

impl EmbeddedStore {
    pub async fn queue_counts(&self, source_id: &str, queue_id: &str) -> Result<QueueCounts> {
        let (s, q) = (source_id.to_string(), queue_id.to_string());
        self.read(move |db| {
            let mut out = QueueCounts {
                ready: 0,
                delayed: 0,
                leased: 0,
                dead: 0,
                oldest_ready_age_seconds: 0.0,
            };
            let Some(pol) = policy(db, &s, &q)? else {
                return Ok(out);
            };
            out.ready = count(db, pol.qn, READY)?;
            out.delayed = count(db, pol.qn, DELAYED)?;
            out.leased = count(db, pol.qn, LEASED)?;
            out.dead = count(db, pol.qn, DEAD)?;
            let oldest: Option<i64> = db
                .prepare_cached(
                    "SELECT m.ms FROM deliveries d JOIN messages m ON m.id = d.msg \
                     WHERE d.qn = ?1 AND d.state = ?2 ORDER BY d.k LIMIT 1",
                )?
                .query_row([pol.qn, READY], |r| r.get(0))
                .optional()?;
            if let Some(ms) = oldest {
                out.oldest_ready_age_seconds = ((now_ms() - ms).max(0) as f64) / 1000.0;
            }
            Ok(out)
        })
        .await
    }

    pub async fn dead_letters(
        &self,
        source_id: &str,
        queue_id: &str,
        offset: u64,
        limit: u64,
    ) -> Result<Vec<(String, DeliveryState)>> {
        let (s, q) = (source_id.to_string(), queue_id.to_string());
        self.read(move |db| {
            let Some(pol) = policy(db, &s, &q)? else {
                return Ok(vec![]);
            };
            if limit == 0 || offset > i64::MAX as u64 {
                return Ok(vec![]);
            }
            // a bound LIMIT makes SQLite plan the statement again at every
            // run (see `engine::come_due`): fine for this rare listing
            let rows: Vec<(String, DeliveryState)> = db
                .prepare_cached(&format!(
                    "SELECT {DELIVERY_COLS}, m.ms, m.seq FROM deliveries d \
                     JOIN messages m ON m.id = d.msg \
                     WHERE d.qn = ?1 AND d.state = ?2 ORDER BY d.k, d.msg LIMIT ?3 OFFSET ?4"
                ))?
                .query_map(
                    params![
                        pol.qn,
                        DEAD,
                        limit.min(i64::MAX as u64) as i64,
                        offset as i64
                    ],
                    |r| {
                        let d = Delivery::from_row(r)?;
                        let (ms, seq): (i64, i64) = (r.get(12)?, r.get(13)?);
                        Ok((format!("{ms}-{seq}"), d.to_state()))
                    },
                )?
                .collect::<rusqlite::Result<_>>()
                .map_err(super::rows::corrupt_on_decode)?;
            Ok(rows)
        })
        .await
    }

    pub async fn history(
        &self,
        source_id: &str,
        from_ms: i64,
        to_ms: i64,
        before: Option<&str>,
        limit: usize,
    ) -> Result<Vec<StoredMessage>> {
        self.page(source_id, (from_ms, to_ms), before, false, limit)
            .await
    }

    pub async fn scan(
        &self,
        source_id: &str,
        from_ms: i64,
        to_ms: i64,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<StoredMessage>> {
        self.page(source_id, (from_ms, to_ms), after, true, limit)
            .await
    }

    /// Messages received in [from, to], strictly past `cursor` (a stream
    /// id), newest first or, when `ascending`, oldest first.
    async fn page(
        &self,
        source_id: &str,
        (from_ms, to_ms): (i64, i64),
        cursor: Option<&str>,
        ascending: bool,
        limit: usize,
    ) -> Result<Vec<StoredMessage>> {
        let s = source_id.to_string();
        let cursor = match cursor {
            Some(c) => match crate::store::types::parse_stream_id(c) {
                Some(p) => p,
                None => return Ok(vec![]),
            },
            None if ascending => (-1, -1),
            None => (i64::MAX, i64::MAX),
        };
        let (cmp, order) = if ascending {
            (">", "m.ms, m.seq")
        } else {
            ("<", "m.ms DESC, m.seq DESC")
        };
        self.read(move |db| {
            let Some(sn) = source_number(db, &s)? else {
                return Ok(vec![]);
            };
            let v = db
                .prepare_cached(&format!(
                    "SELECT {MESSAGE_COLS} FROM messages m \
                     WHERE m.sn = ?1 AND (m.ms, m.seq) {cmp} (?2, ?3) AND m.ms >= ?4 AND m.ms <= ?5 \
                     ORDER BY {order}"
                ))?
                .query_map(params![sn, cursor.0, cursor.1, from_ms, to_ms], |r| {
                    message_from_row(r, 0)
                })?
                .take(limit)
                .collect::<rusqlite::Result<_>>()
                .map_err(super::rows::corrupt_on_decode)?;
            Ok(v)
        })
        .await
    }

    pub async fn message(&self, source_id: &str, stream_id: &str) -> Result<Option<StoredMessage>> {
        let (s, sid) = (source_id.to_string(), stream_id.to_string());
        self.read(move |db| {
            let Some(sn) = source_number(db, &s)? else {
                return Ok(None);
            };
            let Some(id) = message_row(db, sn, &sid)? else {
                return Ok(None);
            };
            db.prepare_cached(&format!(
                "SELECT {MESSAGE_COLS} FROM messages m WHERE m.id = ?1"
            ))?
            .query_row([id], |r| message_from_row(r, 0))
            .optional()
            .map_err(super::rows::corrupt_on_decode)
        })
        .await
    }

    pub async fn delivery_state(
        &self,
        source_id: &str,
        queue_id: &str,
        stream_id: &str,
    ) -> Result<Option<DeliveryState>> {
        let (s, q, sid) = (
            source_id.to_string(),
            queue_id.to_string(),
            stream_id.to_string(),
        );
        self.read(move |db| {
            let Some(pol) = policy(db, &s, &q)? else {
                return Ok(None);
            };
            let Some(msg) = message_row(db, pol.sn, &sid)? else {
                return Ok(None);
            };
            Ok(Delivery::load(db, msg, pol.qn)?.map(|d| d.to_state()))
        })
        .await
    }

    pub async fn still_leased(
        &self,
        source_id: &str,
        queue_id: &str,
        held: &[(String, u64)],
    ) -> Result<Vec<bool>> {
        if held.is_empty() {
            return Ok(vec![]);
        }
        let (s, q, held) = (source_id.to_string(), queue_id.to_string(), held.to_vec());
        self.read(move |db| {
            let Some(pol) = policy(db, &s, &q)? else {
                return Ok(vec![false; held.len()]);
            };
            let now = now_ms();
            let mut out = Vec::with_capacity(held.len());
            for (sid, g) in &held {
                let d = match message_row(db, pol.sn, sid)? {
                    Some(msg) => Delivery::load(db, msg, pol.qn)?,
                    None => None,
                };
                out.push(d.is_some_and(|d| {
                    d.state == LEASED && d.gen == *g && d.lease_exp.unwrap_or(0) > now
                }));
            }
            Ok(out)
        })
        .await
    }
}
