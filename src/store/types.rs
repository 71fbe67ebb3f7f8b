//! The store contract's value types: what a caller hands a backend and what
//! it gets back. Both backends (`redis`, `embedded`) speak exactly these.

/// A delivery to store.
pub struct NewMessage<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a str,
    pub headers: &'a [(String, String)],
    pub content_type: Option<&'a str>,
    pub body: &'a [u8],
    pub verified: bool,
    pub scheme: &'a str,
    pub dedupe_key: Option<&'a str>,
    pub dedupe_window_secs: u64,
    pub event_type: Option<&'a str>,
    /// Which of the source's queues get the message.
    pub fanout: Fanout<'a>,
}

/// The routing decision an ingest carries: each queue of the source the
/// caller knew of, with whether the message goes to it, at the source's
/// routing version the caller read. The store applies it only if the
/// version is still current (else `IngestOutcome::Reroute`); a queue the
/// caller did not know of gets the message.
#[derive(Debug, Clone, Copy, Default)]
pub struct Fanout<'a> {
    pub version: u64,
    pub queues: &'a [(String, bool)],
}

impl Fanout<'_> {
    /// The queues routing filtered the message out of (every other queue
    /// gets it).
    pub fn skipped(&self) -> impl Iterator<Item = &str> {
        self.queues
            .iter()
            .filter(|(_, to)| !to)
            .map(|(q, _)| q.as_str())
    }

    /// Whether the message goes to `queue_id`.
    pub fn to(&self, queue_id: &str) -> bool {
        self.queues
            .iter()
            .find(|(q, _)| q == queue_id)
            .is_none_or(|(_, to)| *to)
    }
}

impl NewMessage<'_> {
    /// The stored field/value pairs, in the order the Redis log keeps them
    /// (`headers` is the message's header list as JSON).
    pub fn fields<'b>(&'b self, headers: &'b str) -> Vec<(&'static str, &'b [u8])> {
        let mut f: Vec<(&'static str, &[u8])> = vec![
            ("m", self.method.as_bytes()),
            ("p", self.path.as_bytes()),
            ("q", self.query.as_bytes()),
            ("h", headers.as_bytes()),
            ("b", self.body),
            ("v", if self.verified { b"1" } else { b"0" }),
            ("vs", self.scheme.as_bytes()),
        ];
        if let Some(ct) = self.content_type {
            f.push(("ct", ct.as_bytes()));
        }
        if let Some(dk) = self.dedupe_key {
            f.push(("dk", dk.as_bytes()));
        }
        if let Some(et) = self.event_type {
            f.push(("et", et.as_bytes()));
        }
        f
    }

    /// What the message counts against the tenant's stored-bytes quota: the
    /// lengths of all its stored field names and values (both backends count
    /// the same, so usage figures agree).
    pub fn stored_size(&self, headers: &str) -> u64 {
        self.fields(headers)
            .iter()
            .map(|(k, v)| (k.len() + v.len()) as u64)
            .sum()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum IngestOutcome {
    /// Stored and fanned out to `queues` queues.
    Stored { stream_id: String, queues: u64 },
    /// Same dedupe key seen within the window: the first message's id.
    Duplicate { stream_id: String },
    /// The source was deleted.
    SourceGone,
    /// The source's queues changed since the caller read its routes: read
    /// them again and retry (nothing was written).
    Reroute,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SettleOp {
    Ack,
    /// Redeliver after this many ms, or per backoff when `None`.
    Nack(Option<u64>),
    Reject,
    /// New lease length from now, in ms.
    Extend(u64),
}

/// One outcome to apply to one lease (see `Store::settle_many`).
#[derive(Debug, Clone, PartialEq)]
pub struct SettleItem {
    pub stream_id: String,
    /// The lease generation the caller holds.
    pub generation: u64,
    pub op: SettleOp,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum SettleOutcome {
    Done {
        state: String,
        lease_expires_at_ms: i64,
    },
    /// The lease was superseded (settled, replayed, or re-leased).
    Stale,
    /// The lease ran out before the outcome arrived.
    Expired,
    /// Queue or delivery no longer exists.
    Gone,
}

#[derive(Debug, Clone)]
pub enum ReplaySelector {
    Ids(Vec<String>),
    Range { from_ms: i64, to_ms: i64 },
    DeadLetters,
}

/// Replay and reap handle at most this many messages per call.
pub const REPLAY_LIMIT: usize = 10_000;

/// Attempts kept in a delivery's history (oldest dropped first).
pub const HISTORY_CAP: usize = 50;

/// Items one reap step handles per queue (due, expired, trimmed).
pub const REAP_BATCH: usize = 500;

/// Totals from one reap pass of one source.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReapTotals {
    pub ready: u64,
    pub delayed: u64,
    pub leased: u64,
    pub dead: u64,
    pub expired: u64,
    pub trimmed: u64,
}

/// What a tenant uses of its limits (also its wire shape in tenant views).
#[derive(Debug, Clone, Copy, Default, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Usage {
    pub sources: u64,
    pub queues: u64,
    pub stored_bytes: u64,
}

/// Dedupe keys are provider data of any length: store a fixed-size digest.
pub fn dedupe_digest(key: &str) -> String {
    use sha2::{Digest, Sha256};
    let d = Sha256::digest(key.as_bytes());
    d.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

/// A stream id "<ms>-<seq>" as numbers; `None` when malformed.
pub fn parse_stream_id(s: &str) -> Option<(i64, i64)> {
    let (a, b) = s.split_once('-')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// Retention in ms from the source's hours.
pub fn retention_ms(hours: u32) -> u64 {
    u64::from(hours) * 3_600_000
}

/// The redelivery delay after `failed` failed attempts (1-based), capped.
pub fn backoff_ms(init_ms: f64, multiplier: f64, cap_ms: f64, failed: u32) -> i64 {
    let d = init_ms * multiplier.powi(failed.saturating_sub(1) as i32);
    d.min(cap_ms).floor() as i64
}

/// One attempt of a delivery, times in ms (export/import).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttemptRecord {
    pub attempt: u32,
    pub leased_at_ms: i64,
    pub outcome: Option<String>,
    pub reason: Option<String>,
    pub settled_at_ms: Option<i64>,
}

/// One message's delivery state on one queue, times in ms (export/import).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryRecord {
    pub queue_id: String,
    /// ready | delayed | leased | acked | dead
    pub state: String,
    pub attempts: u32,
    pub generation: u64,
    pub replayed: bool,
    pub lease_expires_at_ms: Option<i64>,
    pub next_attempt_at_ms: Option<i64>,
    pub dead_reason: Option<String>,
    pub dead_at_ms: Option<i64>,
    pub history: Vec<AttemptRecord>,
}

/// One stored message with its stream id and every queue's delivery state
/// (export/import).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageRecord {
    pub source_id: String,
    pub stream_id: String,
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: Vec<(String, String)>,
    pub content_type: Option<String>,
    /// the body, base64 (standard alphabet)
    pub body: String,
    pub verified: bool,
    pub scheme: String,
    pub dedupe_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_type: Option<String>,
    pub deliveries: Vec<DeliveryRecord>,
}

impl MessageRecord {
    /// The decoded body; `None` when it is not valid base64.
    pub fn body_bytes(&self) -> Option<Vec<u8>> {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD
            .decode(&self.body)
            .ok()
    }

    /// The message as an ingest would have stored it (for the stored-size
    /// count), given its decoded body.
    pub fn as_new<'a>(&'a self, body: &'a [u8]) -> NewMessage<'a> {
        NewMessage {
            method: &self.method,
            path: &self.path,
            query: &self.query,
            headers: &self.headers,
            content_type: self.content_type.as_deref(),
            body,
            verified: self.verified,
            scheme: &self.scheme,
            dedupe_key: self.dedupe_key.as_deref(),
            dedupe_window_secs: 0,
            event_type: self.event_type.as_deref(),
            fanout: Fanout::default(),
        }
    }
}
