//! The meta a consumer receives with each delivery (camelCase JSON), with
//! its ready-to-call capability URLs.

use std::collections::BTreeMap;

use base64::Engine;
use serde::Serialize;

use crate::auth::LeaseToken;
use crate::ids;
use crate::model::{rfc3339_ms, Lease, Queue};
use crate::state::AppState;

/// The delivery meta: `X-Hookbay-Meta` on `/next`, `meta` in SSE events.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Meta<'a> {
    pub message_id: String,
    pub queue_id: &'a str,
    pub source_id: &'a str,
    pub received_at: String,
    /// 1-based.
    pub attempt: u32,
    pub max_attempts: u32,
    pub lease_expires_at: String,
    /// Capability URL (carries a lease token); `POST` → 204.
    pub ack_url: String,
    pub nack_url: String,
    pub reject_url: String,
    pub extend_url: String,
    pub method: &'a str,
    /// Sub-path after `/in/{key}/`.
    pub path: &'a str,
    /// Lower-case names; a repeated header's values joined with ", "
    /// ("; " for cookie). The credential header of a token/basic source
    /// is never stored.
    #[schema(value_type = std::collections::BTreeMap<String, String>)]
    pub headers: BTreeMap<&'a str, String>,
    /// Raw query string.
    pub query: &'a str,
    pub content_type: Option<&'a str>,
    /// From the preset or the source's rule; `null` when none.
    pub event_type: Option<&'a str>,
    pub verified: bool,
    pub verification: &'a str,
    pub redelivered: bool,
    pub replayed: bool,
}

pub fn build<'a>(state: &AppState, q: &'a Queue, l: &'a Lease) -> Meta<'a> {
    let m = &l.message;
    let message_id = ids::message_id(&q.source_id, &m.stream_id);
    let token = state.keys.sign_lease(&LeaseToken {
        tenant_id: q.tenant_id.clone(),
        queue_id: q.id.clone(),
        stream_id: m.stream_id.clone(),
        generation: l.generation,
    });
    let url = |op: &str| {
        format!(
            "{}/v1/queues/{}/messages/{}/{op}?token={token}",
            state.settings.public_url, q.id, message_id
        )
    };
    let headers = crate::model::header_map(&m.headers);
    Meta {
        ack_url: url("ack"),
        nack_url: url("nack"),
        reject_url: url("reject"),
        extend_url: url("extend"),
        message_id,
        queue_id: &q.id,
        source_id: &q.source_id,
        received_at: rfc3339_ms(m.received_at_ms),
        attempt: l.attempt,
        max_attempts: l.max_attempts,
        lease_expires_at: rfc3339_ms(l.expires_at_ms),
        method: &m.method,
        path: &m.path,
        headers,
        query: &m.query,
        content_type: m.content_type.as_deref(),
        event_type: m.event_type.as_deref(),
        verified: m.verified,
        verification: &m.scheme,
        redelivered: l.attempt > 1,
        replayed: l.replayed,
    }
}

/// JSON with every non-ASCII character escaped, so it fits a header value.
pub fn ascii_json<T: Serialize>(v: &T) -> String {
    let s = serde_json::to_string(v).unwrap_or_default();
    if s.is_ascii() {
        return s;
    }
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut buf = [0u16; 2];
            for u in c.encode_utf16(&mut buf) {
                out.push_str(&format!("\\u{u:04x}"));
            }
        }
    }
    out
}

/// The body as a JSON string: UTF-8 text as is, anything else as base64.
pub fn payload(body: &[u8]) -> (String, &'static str) {
    match std::str::from_utf8(body) {
        Ok(s) => (s.to_string(), "utf8"),
        Err(_) => (
            base64::engine::general_purpose::STANDARD.encode(body),
            "base64",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_json_escapes_non_ascii() {
        let s = ascii_json(&serde_json::json!({"k": "é😀"}));
        assert!(s.is_ascii());
        let back: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert_eq!(back["k"], "é😀");
    }

    #[test]
    fn payload_falls_back_to_base64() {
        assert_eq!(payload(b"hi"), ("hi".into(), "utf8"));
        assert_eq!(payload(&[0xff, 0x00]), ("/wA=".into(), "base64"));
    }
}
