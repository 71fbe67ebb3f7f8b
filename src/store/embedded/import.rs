//! Importing an export (`hookbay import`) into the embedded store: a
//! message under its own stream id with each queue's delivery row, in one
//! change.

use rusqlite::params;

use super::rows::{policy, source_number, Delivery, DEAD, DELAYED, LEASED, READY};
use super::writer::Ctx;
use super::EmbeddedStore;
use crate::store::Result;

fn import_message(c: &mut Ctx<'_>, m: &crate::store::types::MessageRecord) -> Result<()> {
    use crate::store::StoreError;
    let db = c.db;
    let Some(sn) = source_number(db, &m.source_id)? else {
        return Err(StoreError::Failed(
            format!("import: source {} is not there", m.source_id).into(),
        ));
    };
    let Some((ms, seq)) = crate::store::types::parse_stream_id(&m.stream_id) else {
        return Err(StoreError::Failed(
            format!("import: bad stream id {}", m.stream_id).into(),
        ));
    };
    let body = m
        .body_bytes()
        .ok_or_else(|| StoreError::Failed("import: body is not base64".into()))?;
    let headers = serde_json::to_string(&m.headers)?;
    let size = m.as_new(&body).stored_size(&headers) as i64;
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
        headers,
        m.content_type,
        body,
        m.verified as i64,
        m.scheme,
        m.dedupe_key,
        size,
        m.event_type
    ])?;
    let msg = db.last_insert_rowid();
    db.prepare_cached(
        "UPDATE sources SET bytes = bytes + ?2, \
         last_seq = CASE WHEN (?3, ?4) > (last_ms, last_seq) THEN ?4 ELSE last_seq END, \
         last_ms = max(last_ms, ?3) WHERE sn = ?1",
    )?
    .execute(params![sn, size, ms, seq])?;
    for d in &m.deliveries {
        let Some(pol) = policy(db, &m.source_id, &d.queue_id)? else {
            continue; // a queue that is not exported: nothing to keep
        };
        let state = match d.state.as_str() {
            "ready" => READY,
            "delayed" => DELAYED,
            "leased" => LEASED,
            "acked" => super::rows::ACKED,
            "dead" => DEAD,
            other => {
                return Err(StoreError::Failed(
                    format!("import: unknown delivery state {other}").into(),
                ))
            }
        };
        let k = match state {
            READY => c.mem.next_rank(),
            DELAYED => d.next_attempt_at_ms.unwrap_or(0),
            LEASED => d.lease_expires_at_ms.unwrap_or(0),
            DEAD => d.dead_at_ms.unwrap_or(0),
            _ => 0,
        };
        Delivery {
            msg,
            qn: pol.qn,
            state,
            k,
            attempts: d.attempts,
            gen: d.generation,
            replayed: d.replayed,
            lease_exp: d.lease_expires_at_ms,
            due: d.next_attempt_at_ms,
            dead_reason: d.dead_reason.clone(),
            dead_at: d.dead_at_ms,
            history: d
                .history
                .iter()
                .map(|a| super::rows::RawAttempt {
                    n: a.attempt,
                    l: a.leased_at_ms,
                    o: a.outcome.clone(),
                    r: a.reason.clone(),
                    t: a.settled_at_ms,
                })
                .collect(),
        }
        .save(db)?;
    }
    Ok(())
}

impl EmbeddedStore {
    pub async fn import_message(&self, m: &crate::store::types::MessageRecord) -> Result<()> {
        let m = m.clone();
        self.write(move |c| import_message(c, &m)).await
    }

    /// Nothing to seal: a delivery exists exactly where a row was written.
    pub async fn seal_import(&self, _source_id: &str) -> Result<()> {
        Ok(())
    }
}
