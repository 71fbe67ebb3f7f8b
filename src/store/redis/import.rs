//! Importing an export (`hookbay import`): a message under its own stream
//! id with each queue's delivery state (`lua/import.lua`), and sealing the
//! queues afterwards (`lua/seal_import.lua`).

use super::keys::SourceKeys;
use super::RedisStore;
use crate::store::{Result, StoreError};

/// A delivery record as the JSON state the Lua scripts keep, and the score
/// of its sorted set.
fn lua_state(d: &crate::store::types::DeliveryRecord) -> (String, i64) {
    let mut st = serde_json::json!({
        "s": d.state,
        "a": d.attempts,
        "g": d.generation,
    });
    let put = |st: &mut serde_json::Value, k: &str, v: Option<serde_json::Value>| {
        if let Some(v) = v {
            st[k] = v;
        }
    };
    put(&mut st, "e", d.lease_expires_at_ms.map(Into::into));
    put(&mut st, "due", d.next_attempt_at_ms.map(Into::into));
    put(&mut st, "r", d.replayed.then_some(1.into()));
    put(&mut st, "dr", d.dead_reason.clone().map(Into::into));
    put(&mut st, "dt", d.dead_at_ms.map(Into::into));
    if !d.history.is_empty() {
        let h: Vec<serde_json::Value> = d
            .history
            .iter()
            .map(|a| {
                let mut e = serde_json::json!({"n": a.attempt, "l": a.leased_at_ms});
                put(&mut e, "o", a.outcome.clone().map(Into::into));
                put(&mut e, "r", a.reason.clone().map(Into::into));
                put(&mut e, "t", a.settled_at_ms.map(Into::into));
                e
            })
            .collect();
        st["h"] = h.into();
    }
    let score = match d.state.as_str() {
        "delayed" => d.next_attempt_at_ms,
        "leased" => d.lease_expires_at_ms,
        "dead" => d.dead_at_ms,
        _ => None,
    }
    .unwrap_or(0);
    (st.to_string(), score)
}

impl RedisStore {
    pub async fn import_message(&self, m: &crate::store::types::MessageRecord) -> Result<()> {
        let body = m
            .body_bytes()
            .ok_or_else(|| StoreError::Failed("import: body is not base64".into()))?;
        let headers = serde_json::to_string(&m.headers)?;
        let new = m.as_new(&body);
        self.bounded(async {
            let k = SourceKeys::new(&m.source_id);
            let mut inv = self.scripts().import.prepare_invoke();
            inv.key(&k.src)
                .key(&k.log)
                .key(&k.qp)
                .arg(&k.prefix)
                .arg(&m.stream_id)
                .arg(m.deliveries.len());
            for d in &m.deliveries {
                let (json, score) = lua_state(d);
                inv.arg(&d.queue_id).arg(json).arg(score);
            }
            for (name, value) in new.fields(&headers) {
                inv.arg(name).arg(value);
            }
            let _: i64 = inv.invoke_async(&mut self.conn()).await?;
            Ok(())
        })
        .await
    }

    pub async fn seal_import(&self, source_id: &str) -> Result<()> {
        self.bounded(async {
            let k = SourceKeys::new(source_id);
            let _: i64 = self
                .scripts()
                .seal_import
                .key(&k.qp)
                .key(&k.log)
                .invoke_async(&mut self.conn())
                .await?;
            Ok(())
        })
        .await
    }
}
