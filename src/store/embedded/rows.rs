//! Rows of the embedded schema and their conversion to the store's value
//! types: a delivery's state machine row, and a stored message.

use rusqlite::{Connection, OptionalExtension, Row};
use serde::{Deserialize, Serialize};

use crate::model::{rfc3339_ms, Attempt, DeliveryState, StoredMessage};
use crate::store::types::{backoff_ms, HISTORY_CAP};
use crate::store::{Result, StoreError};

use super::writer::Memory;

pub const READY: i64 = 0;
pub const DELAYED: i64 = 1;
pub const LEASED: i64 = 2;
pub const ACKED: i64 = 3;
pub const DEAD: i64 = 4;

pub fn state_name(s: i64) -> &'static str {
    match s {
        READY => "ready",
        DELAYED => "delayed",
        LEASED => "leased",
        ACKED => "acked",
        _ => "dead",
    }
}

/// One attempt in a delivery's history (the same fields the Redis
/// backend's Lua keeps).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RawAttempt {
    pub n: u32,
    pub l: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub o: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub r: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub t: Option<i64>,
}

/// A queue's engine policy.
#[derive(Debug, Clone)]
pub struct Policy {
    pub qn: i64,
    pub sn: i64,
    pub lease_ms: i64,
    pub max_attempts: u32,
    pub init_ms: f64,
    pub mult: f64,
    pub cap_ms: f64,
}

/// The policy of `queue_id` when it is attached to `source_id`.
pub fn policy(db: &Connection, source_id: &str, queue_id: &str) -> Result<Option<Policy>> {
    Ok(db
        .prepare_cached(
            "SELECT q.qn, q.sn, q.lease_ms, q.max_attempts, q.init_ms, q.mult, q.cap_ms \
             FROM queues q JOIN sources s ON s.sn = q.sn WHERE q.id = ?1 AND s.id = ?2",
        )?
        .query_row([queue_id, source_id], |r| {
            Ok(Policy {
                qn: r.get(0)?,
                sn: r.get(1)?,
                lease_ms: r.get(2)?,
                max_attempts: r.get(3)?,
                init_ms: r.get(4)?,
                mult: r.get(5)?,
                cap_ms: r.get(6)?,
            })
        })
        .optional()?)
}

/// The source number of `source_id`.
pub fn source_number(db: &Connection, source_id: &str) -> Result<Option<i64>> {
    Ok(db
        .prepare_cached("SELECT sn FROM sources WHERE id = ?1")?
        .query_row([source_id], |r| r.get(0))
        .optional()?)
}

/// The rowid of message `stream_id` of source `sn`.
pub fn message_row(db: &Connection, sn: i64, stream_id: &str) -> Result<Option<i64>> {
    let Some((ms, seq)) = crate::store::types::parse_stream_id(stream_id) else {
        return Ok(None);
    };
    Ok(db
        .prepare_cached("SELECT id FROM messages WHERE sn = ?1 AND ms = ?2 AND seq = ?3")?
        .query_row([sn, ms, seq], |r| r.get(0))
        .optional()?)
}

/// One (message, queue) delivery row.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub msg: i64,
    pub qn: i64,
    pub state: i64,
    pub k: i64,
    pub attempts: u32,
    pub gen: u64,
    pub replayed: bool,
    pub lease_exp: Option<i64>,
    pub due: Option<i64>,
    pub dead_reason: Option<String>,
    pub dead_at: Option<i64>,
    pub history: Vec<RawAttempt>,
}

pub const DELIVERY_COLS: &str =
    "d.msg, d.qn, d.state, d.k, d.attempts, d.gen, d.replayed, d.lease_exp, d.due, \
     d.dead_reason, d.dead_at, d.history";

impl Delivery {
    /// A delivery that has never been leased.
    pub fn fresh(msg: i64, qn: i64) -> Delivery {
        Delivery {
            msg,
            qn,
            state: READY,
            k: 0,
            attempts: 0,
            gen: 0,
            replayed: false,
            lease_exp: None,
            due: None,
            dead_reason: None,
            dead_at: None,
            history: vec![],
        }
    }

    /// Decode the first 12 columns (`DELIVERY_COLS`) of a row.
    pub fn from_row(r: &Row<'_>) -> rusqlite::Result<Delivery> {
        let history: Option<String> = r.get(11)?;
        Ok(Delivery {
            msg: r.get(0)?,
            qn: r.get(1)?,
            state: r.get(2)?,
            k: r.get(3)?,
            attempts: r.get(4)?,
            gen: r.get::<_, i64>(5)? as u64,
            replayed: r.get::<_, i64>(6)? != 0,
            lease_exp: r.get(7)?,
            due: r.get(8)?,
            dead_reason: r.get(9)?,
            dead_at: r.get(10)?,
            history: match history {
                Some(h) => serde_json::from_str(&h).map_err(|e| {
                    rusqlite::Error::FromSqlConversionFailure(
                        11,
                        rusqlite::types::Type::Text,
                        Box::new(e),
                    )
                })?,
                None => vec![],
            },
        })
    }

    pub fn load(db: &Connection, msg: i64, qn: i64) -> Result<Option<Delivery>> {
        Ok(db
            .prepare_cached(&format!(
                "SELECT {DELIVERY_COLS} FROM deliveries d WHERE d.msg = ?1 AND d.qn = ?2"
            ))?
            .query_row([msg, qn], Delivery::from_row)
            .optional()?)
    }

    /// Write the row: an update in place when it exists (the common case:
    /// a state change), else an insert.
    pub fn save(&self, db: &Connection) -> Result<()> {
        let history = if self.history.is_empty() {
            None
        } else {
            Some(serde_json::to_string(&self.history)?)
        };
        let values = rusqlite::params![
            self.msg,
            self.qn,
            self.state,
            self.k,
            self.attempts,
            self.gen as i64,
            self.replayed as i64,
            self.lease_exp,
            self.due,
            self.dead_reason,
            self.dead_at,
            history,
        ];
        let updated = db
            .prepare_cached(
                "UPDATE deliveries SET state = ?3, k = ?4, attempts = ?5, gen = ?6, \
                 replayed = ?7, lease_exp = ?8, due = ?9, dead_reason = ?10, dead_at = ?11, \
                 history = ?12 WHERE msg = ?1 AND qn = ?2",
            )?
            .execute(values)?;
        if updated == 0 {
            db.prepare_cached(
                "INSERT INTO deliveries (msg, qn, state, k, attempts, gen, replayed, \
                 lease_exp, due, dead_reason, dead_at, history) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            )?
            .execute(values)?;
        }
        Ok(())
    }

    /// Close the open attempt with an outcome.
    pub fn close_attempt(&mut self, outcome: &str, reason: &str, now: i64) {
        if let Some(a) = self.history.last_mut() {
            a.o = Some(outcome.into());
            if !reason.is_empty() {
                a.r = Some(reason.into());
            }
            a.t = Some(now);
        }
    }

    pub fn make_ready(&mut self, mem: &mut Memory) {
        self.state = READY;
        self.k = mem.next_rank();
    }

    /// Start an attempt: leased until `now + lease_ms`.
    pub fn lease(&mut self, now: i64, lease_ms: i64) {
        self.attempts += 1;
        self.gen += 1;
        self.state = LEASED;
        self.lease_exp = Some(now + lease_ms);
        self.k = now + lease_ms;
        self.history.push(RawAttempt {
            n: self.attempts,
            l: now,
            o: None,
            r: None,
            t: None,
        });
        if self.history.len() > HISTORY_CAP {
            self.history.remove(0);
        }
    }

    /// A leased delivery failed (nack or expired lease): dead-letter it
    /// once the attempts are used up, else schedule the redelivery
    /// (`delay`: ms, `None` = the backoff policy). Returns the new state.
    pub fn fail(
        &mut self,
        pol: &Policy,
        now: i64,
        outcome: &str,
        reason: &str,
        delay: Option<i64>,
        mem: &mut Memory,
    ) -> i64 {
        self.close_attempt(outcome, reason, now);
        self.lease_exp = None;
        if self.attempts >= pol.max_attempts {
            self.state = DEAD;
            self.dead_reason = Some("max_attempts".into());
            self.dead_at = Some(now);
            self.k = now;
            return DEAD;
        }
        let delay = delay
            .unwrap_or_else(|| backoff_ms(pol.init_ms, pol.mult, pol.cap_ms, self.attempts.max(1)));
        if delay <= 0 {
            self.make_ready(mem);
            return READY;
        }
        self.state = DELAYED;
        self.due = Some(now + delay);
        self.k = now + delay;
        DELAYED
    }

    pub fn to_state(&self) -> DeliveryState {
        let ts = |v: Option<i64>| v.map(rfc3339_ms);
        DeliveryState {
            state: state_name(self.state).into(),
            attempts: self.attempts,
            replayed: self.replayed,
            lease_expires_at: ts(self.lease_exp),
            next_attempt_at: ts(self.due),
            dead_reason: self.dead_reason.clone(),
            dead_at: ts(self.dead_at),
            generation: self.gen,
            history: self
                .history
                .iter()
                .map(|a| Attempt {
                    attempt: a.n,
                    leased_at: rfc3339_ms(a.l),
                    outcome: a.o.clone(),
                    reason: a.r.clone(),
                    settled_at: ts(a.t),
                })
                .collect(),
        }
    }
}

/// The message columns, prefixed `m.`.
pub const MESSAGE_COLS: &str = "m.ms, m.seq, m.method, m.path, m.query, m.headers, \
     m.content_type, m.body, m.verified, m.scheme, m.dedupe_key, m.event_type";

/// Decode `MESSAGE_COLS` starting at column `at`.
pub fn message_from_row(r: &Row<'_>, at: usize) -> rusqlite::Result<StoredMessage> {
    let ms: i64 = r.get(at)?;
    let seq: i64 = r.get(at + 1)?;
    let headers: String = r.get(at + 5)?;
    let body: Vec<u8> = r.get(at + 7)?;
    Ok(StoredMessage {
        stream_id: format!("{ms}-{seq}"),
        received_at_ms: ms,
        method: r.get(at + 2)?,
        path: r.get(at + 3)?,
        query: r.get(at + 4)?,
        headers: serde_json::from_str(&headers).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(
                at + 5,
                rusqlite::types::Type::Text,
                Box::new(e),
            )
        })?,
        content_type: r.get(at + 6)?,
        body: bytes::Bytes::from(body),
        verified: r.get::<_, i64>(at + 8)? != 0,
        scheme: r.get(at + 9)?,
        dedupe_key: r.get(at + 10)?,
        event_type: r.get(at + 11)?,
    })
}

/// A decode failure of stored data is corruption, not a transient error.
pub fn corrupt_on_decode(e: rusqlite::Error) -> StoreError {
    match e {
        rusqlite::Error::FromSqlConversionFailure(..) | rusqlite::Error::InvalidColumnType(..) => {
            StoreError::Corrupt(e.to_string())
        }
        e => e.into(),
    }
}
