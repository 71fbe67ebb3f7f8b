//! Domain records shared by the store and the HTTP layer: tenants, tokens,
//! sources, queues, stored messages and delivery states. Records serialize
//! as the camelCase JSON the API shows (minus secrets, see `redacted`).

use serde::{Deserialize, Serialize};

use crate::verify::Verification;

pub const DEFAULT_MAX_BODY: u64 = 1024 * 1024;
pub const MAX_MAX_BODY: u64 = 64 * 1024 * 1024;
pub const DEFAULT_RETENTION_HOURS: u32 = 24 * 7;
pub const MAX_RETENTION_HOURS: u32 = 24 * 90;
pub const DEDUPE_WINDOW_SECS: u64 = 24 * 3600;
/// Longest lease a consumer may ask for (12 h).
pub const MAX_LEASE_SECS: u64 = 12 * 3600;
/// Longest nack delay (7 days).
pub const MAX_DELAY_SECS: u64 = 7 * 24 * 3600;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    Manage,
    Consume,
    Replay,
    Read,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tenant {
    pub id: String,
    pub name: String,
    pub created_at: String,
    /// Operator overrides of the default limits (absent = default).
    #[serde(default)]
    pub limits: LimitOverrides,
}

/// Per-tenant limit overrides, as the operator sets them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LimitOverrides {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_sources: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_queues: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_stored_bytes: Option<u64>,
    /// Sustained ingest requests per second (the bucket holds 2 s worth).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingest_per_second: Option<u64>,
    /// Sustained consumer API requests per second (2 s burst).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consume_per_second: Option<u64>,
}

/// Effective limits of a tenant.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Limits {
    pub max_sources: u64,
    pub max_queues: u64,
    pub max_stored_bytes: u64,
    pub ingest_per_second: u64,
    pub consume_per_second: u64,
}

impl Limits {
    pub fn with(self, o: &LimitOverrides) -> Limits {
        Limits {
            max_sources: o.max_sources.unwrap_or(self.max_sources),
            max_queues: o.max_queues.unwrap_or(self.max_queues),
            max_stored_bytes: o.max_stored_bytes.unwrap_or(self.max_stored_bytes),
            ingest_per_second: o.ingest_per_second.unwrap_or(self.ingest_per_second),
            consume_per_second: o.consume_per_second.unwrap_or(self.consume_per_second),
        }
    }
}

impl LimitOverrides {
    pub fn validate(&self) -> Result<(), String> {
        let check = |v: Option<u64>, name: &str, max: u64| match v {
            Some(x) if !(1..=max).contains(&x) => Err(format!("limits.{name} must be 1..={max}")),
            _ => Ok(()),
        };
        check(self.max_sources, "maxSources", 1_000_000)?;
        check(self.max_queues, "maxQueues", 1_000_000)?;
        check(self.max_stored_bytes, "maxStoredBytes", 1 << 50)?;
        check(self.ingest_per_second, "ingestPerSecond", 1_000_000)?;
        check(self.consume_per_second, "consumePerSecond", 1_000_000)
    }
}

/// What the relay remembers of a minted token (never the token itself).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenRecord {
    pub id: String,
    pub tenant_id: String,
    pub scopes: Vec<Scope>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queues: Option<Vec<String>>,
    pub created_at: String,
    pub expires_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<String>,
}

/// How a source picks the key that makes two deliveries "the same".
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Dedupe {
    /// Request header whose value is the dedupe key (case-insensitive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<String>,
    /// JSON pointer into the body (`/id`), used when `header` is absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json_pointer: Option<String>,
    /// Window in seconds (default 24 h).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_seconds: Option<u64>,
}

/// A fixed answer for providers that expect a specific reply.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CustomResponse {
    pub status: u16,
    #[serde(default)]
    pub body: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
}

/// Unsigned handshakes a source answers itself (signed ones, like Slack's
/// and Zoom's, belong to their verification preset).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(
    tag = "type",
    rename_all = "kebab-case",
    rename_all_fields = "camelCase",
    deny_unknown_fields
)]
pub enum Handshake {
    /// Microsoft Graph: `POST ?validationToken=…` is answered with the token.
    MsGraph {},
    /// `GET ?challenge=…`, or `GET ?hub.mode=subscribe&hub.challenge=…&
    /// hub.verify_token=…` (checked when `verifyToken` is set), echoed back.
    GetChallenge {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        verify_token: Option<String>,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Source {
    pub id: String,
    pub tenant_id: String,
    pub name: String,
    pub ingest_key: String,
    pub verification: Verification,
    pub max_body_bytes: u64,
    pub retention_hours: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dedupe: Option<Dedupe>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<CustomResponse>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handshake: Option<Handshake>,
    /// Where the event type is read (overrides the preset's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_type: Option<crate::routing::EventTypeRule>,
    pub created_at: String,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Backoff {
    pub initial_seconds: f64,
    pub multiplier: f64,
    pub max_seconds: f64,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial_seconds: 1.0,
            multiplier: 2.0,
            max_seconds: 3600.0,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Queue {
    pub id: String,
    pub tenant_id: String,
    pub source_id: String,
    pub name: String,
    pub lease_seconds: u64,
    pub max_attempts: u32,
    pub backoff: Backoff,
    /// Only messages matching this document are delivered (see
    /// `routing::filter`); validated before it is stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub filter: Option<serde_json::Value>,
    pub created_at: String,
}

impl Queue {
    /// The policy string the Lua engine reads:
    /// "leaseMs maxAttempts initialMs multiplier maxMs".
    pub fn policy(&self) -> String {
        format!(
            "{} {} {} {} {}",
            self.lease_seconds * 1000,
            self.max_attempts,
            (self.backoff.initial_seconds * 1000.0).round() as u64,
            self.backoff.multiplier,
            (self.backoff.max_seconds * 1000.0).round() as u64
        )
    }
}

/// Check a queue policy; the message names the offending field.
pub fn validate_policy(lease: u64, attempts: u32, b: &Backoff) -> Result<(), String> {
    if !(1..=MAX_LEASE_SECS).contains(&lease) {
        return Err(format!("leaseSeconds must be 1..={MAX_LEASE_SECS}"));
    }
    if !(1..=100).contains(&attempts) {
        return Err("maxAttempts must be 1..=100".into());
    }
    if !(0.0..=86400.0).contains(&b.initial_seconds) {
        return Err("backoff.initialSeconds must be 0..=86400".into());
    }
    if !(1.0..=100.0).contains(&b.multiplier) {
        return Err("backoff.multiplier must be 1..=100".into());
    }
    if !(b.initial_seconds..=MAX_DELAY_SECS as f64).contains(&b.max_seconds) {
        return Err(format!(
            "backoff.maxSeconds must be between initialSeconds and {MAX_DELAY_SECS}"
        ));
    }
    Ok(())
}

/// One stored delivery, byte-exact.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredMessage {
    pub stream_id: String,
    pub received_at_ms: i64,
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: Vec<(String, String)>,
    pub content_type: Option<String>,
    pub body: bytes::Bytes,
    pub verified: bool,
    pub scheme: String,
    pub dedupe_key: Option<String>,
    pub event_type: Option<String>,
}

/// A delivery handed to one consumer.
#[derive(Debug, Clone)]
pub struct Lease {
    pub message: StoredMessage,
    pub attempt: u32,
    pub generation: u64,
    pub expires_at_ms: i64,
    pub max_attempts: u32,
    pub replayed: bool,
}

/// One attempt in a delivery's history.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Attempt {
    pub attempt: u32,
    pub leased_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub settled_at: Option<String>,
}

/// Per (queue, message) state as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryState {
    pub state: String,
    pub attempts: u32,
    pub replayed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lease_expires_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dead_reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dead_at: Option<String>,
    pub history: Vec<Attempt>,
    #[serde(skip)]
    pub generation: u64,
}

/// Queue depth by state.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct QueueCounts {
    pub ready: u64,
    pub delayed: u64,
    pub leased: u64,
    pub dead: u64,
    pub oldest_ready_age_seconds: f64,
}

/// RFC 3339 with milliseconds, UTC.
pub fn rfc3339_ms(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

pub fn now_rfc3339() -> String {
    rfc3339_ms(chrono::Utc::now().timestamp_millis())
}

/// Hop-by-hop and proxy headers: they describe one connection, not the
/// delivery, so they are neither stored nor forwarded. The one list, used
/// by ingest and by `hookbay listen`.
pub const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
];

/// Whether `name` (any case) is a hop-by-hop header.
pub fn is_hop_by_hop(name: &str) -> bool {
    HOP_BY_HOP.iter().any(|h| h.eq_ignore_ascii_case(name))
}

/// The one wire shape of a message's headers, wherever they appear (meta,
/// `GET /v1/messages/{id}`): an object of lower-case name → value. A
/// header sent several times is one entry, its values joined in arrival
/// order with ", " — the combination RFC 9110 §5.3 defines as equivalent —
/// or with "; " for `cookie` (RFC 9113 §8.2.3).
pub fn header_map(headers: &[(String, String)]) -> std::collections::BTreeMap<&str, String> {
    let mut out: std::collections::BTreeMap<&str, String> = std::collections::BTreeMap::new();
    for (n, v) in headers {
        match out.get_mut(n.as_str()) {
            Some(e) => {
                e.push_str(if n == "cookie" { "; " } else { ", " });
                e.push_str(v);
            }
            None => {
                out.insert(n.as_str(), v.clone());
            }
        }
    }
    out
}
