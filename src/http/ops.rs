//! Operations: dead letters, replay, message history and single messages.

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use super::auth::Principal;
use super::error::{parse_json, ApiError};
use super::openapi::{DeadLetter, MessageDetail, MessageSummary, Page, QueueDelivery};
use super::{meta, page_limit, tenant_queue, tenant_source, Data};
use crate::ids;
use crate::model::{rfc3339_ms, Scope, StoredMessage};
use crate::service::routing::{self, Search};
use crate::store::ReplaySelector;

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    limit: Option<u64>,
    cursor: Option<String>,
}

/// The largest dead-letter offset a cursor may carry (far beyond any real
/// queue; keeps offset arithmetic away from overflow).
const MAX_OFFSET: u64 = 1 << 40;

#[utoipa::path(get, path = "/v1/queues/{queue_id}/dead-letters", tag = "queues", operation_id = "deadLetter.list", summary = "Dead letters, oldest first", params(("queue_id" = String, Path, description = "Queue id (q_…)"), PageQuery), responses((status = 200, body = super::openapi::Page<super::openapi::DeadLetter>)), security(("tenant" = ["read", "replay"])))]
pub async fn dead_letters(
    state: Data,
    who: Principal,
    path: web::Path<String>,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let c = who.tenant(&[Scope::Read, Scope::Replay])?;
    let queue = tenant_queue(&state, c, &path).await?;
    let limit = page_limit(q.limit, 100, 1000)?;
    let offset: u64 = match &q.cursor {
        None => 0,
        Some(s) => s
            .parse()
            .ok()
            .filter(|o| *o <= MAX_OFFSET)
            .ok_or_else(|| ApiError::bad("invalid cursor"))?,
    };
    let page = state
        .store
        .dead_letters(&queue.source_id, &queue.id, offset, limit)
        .await?;
    let next = (page.len() as u64 == limit).then(|| (offset.saturating_add(limit)).to_string());
    let items: Vec<DeadLetter> = page
        .into_iter()
        .map(|(sid, st)| DeadLetter {
            message_id: ids::message_id(&queue.source_id, &sid),
            reason: st.dead_reason,
            dead_at: st.dead_at,
            attempts: st.attempts,
            history: st.history,
        })
        .collect();
    Ok(HttpResponse::Ok().json(Page {
        items,
        next_cursor: next,
    }))
}

/// A point in time: RFC 3339 text or milliseconds since the epoch.
#[derive(Deserialize)]
#[serde(untagged)]
enum Instant {
    Millis(i64),
    Text(String),
}

impl Instant {
    fn ms(&self) -> Result<i64, ApiError> {
        match self {
            Instant::Millis(m) if *m >= 0 => Ok(*m),
            Instant::Millis(_) => Err(ApiError::bad("times must not be negative")),
            Instant::Text(t) => chrono::DateTime::parse_from_rfc3339(t)
                .map(|d| d.timestamp_millis().max(0))
                .map_err(|_| ApiError::bad(format!("not an RFC 3339 time: {t:?}"))),
        }
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ReplayBody {
    message_ids: Option<Vec<String>>,
    /// RFC 3339 time or epoch milliseconds.
    #[schema(value_type = Option<String>)]
    from: Option<Instant>,
    #[schema(value_type = Option<String>)]
    to: Option<Instant>,
    dead_letters: Option<bool>,
}

#[utoipa::path(post, path = "/v1/queues/{queue_id}/replay", tag = "queues", operation_id = "message.replay", summary = "Deliver messages again (ids, time range, or dead letters)", params(("queue_id" = String, Path, description = "Queue id (q_…)")), request_body = ReplayBody, responses((status = 202, body = super::openapi::Replayed)), security(("tenant" = ["replay"])))]
pub async fn replay(
    state: Data,
    who: Principal,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let c = who.tenant(&[Scope::Replay])?;
    let b: ReplayBody = parse_json(&body, false)?;
    let queue = tenant_queue(&state, c, &path).await?;
    let sel = match (&b.message_ids, &b.from, &b.to, b.dead_letters) {
        (Some(ids_), None, None, None) => {
            if ids_.is_empty() || ids_.len() > 1000 {
                return Err(ApiError::bad("messageIds must list 1..=1000 ids"));
            }
            let mut sids = vec![];
            for (i, id) in ids_.iter().enumerate() {
                let (src, sid) = ids::parse_message_id(id)
                    .ok_or_else(|| ApiError::bad(format!("messageIds[{i}] is not a message id")))?;
                if src == queue.source_id {
                    sids.push(sid);
                }
            }
            ReplaySelector::Ids(sids)
        }
        (None, Some(f), Some(t), None) => {
            let (from_ms, to_ms) = (f.ms()?, t.ms()?);
            if from_ms > to_ms {
                return Err(ApiError::bad("from must not be after to"));
            }
            ReplaySelector::Range { from_ms, to_ms }
        }
        (None, None, None, Some(true)) => ReplaySelector::DeadLetters,
        _ => {
            return Err(ApiError::bad(
                "give exactly one of: messageIds, from+to, or deadLetters: true",
            ))
        }
    };
    let n = match &sel {
        ReplaySelector::Ids(v) if v.is_empty() => 0,
        // a range goes through the queue's current filter
        ReplaySelector::Range { from_ms, to_ms } => {
            routing::replay_range(&state, &queue, *from_ms, *to_ms)
                .await?
                .ok_or(ApiError::NotFound)?
        }
        _ => state
            .store
            .replay(&queue.source_id, &queue.id, &sel)
            .await?
            .ok_or(ApiError::NotFound)?,
    };
    Ok(HttpResponse::Accepted().json(super::openapi::Replayed { replayed: n }))
}

pub(super) fn summary(source_id: &str, m: &StoredMessage) -> MessageSummary {
    MessageSummary {
        id: ids::message_id(source_id, &m.stream_id),
        source_id: source_id.into(),
        received_at: rfc3339_ms(m.received_at_ms),
        method: m.method.clone(),
        path: m.path.clone(),
        query: m.query.clone(),
        content_type: m.content_type.clone(),
        event_type: m.event_type.clone(),
        size: m.body.len() as u64,
        verified: m.verified,
        verification: m.scheme.clone(),
        dedupe_key: m.dedupe_key.clone(),
    }
}

/// History query parameters (documentation; parsed by `history_query`,
/// since `header` may repeat).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct HistoryQuery {
    /// Received at or after: RFC 3339 or epoch ms.
    from: Option<String>,
    /// Received at or before: RFC 3339 or epoch ms.
    to: Option<String>,
    limit: Option<u64>,
    cursor: Option<String>,
    /// Only messages of this event type (exact).
    #[param(rename = "eventType")]
    event_type: Option<String>,
    /// `name:value`, repeatable: a header with exactly this value (name
    /// case-insensitive).
    header: Option<Vec<String>>,
    /// Text the raw body contains.
    q: Option<String>,
}

struct History {
    from: i64,
    to: i64,
    limit: u64,
    cursor: Option<String>,
    search: Search,
}

fn history_query(raw: &str) -> Result<History, ApiError> {
    let (mut from, mut to, mut limit, mut cursor) = (None, None, None, None);
    let mut search = Search::default();
    for (k, v) in crate::query::pairs(raw) {
        let v = v.into_owned();
        match k.as_ref() {
            "from" => from = Some(v),
            "to" => to = Some(v),
            "limit" => {
                limit = Some(
                    v.parse::<u64>()
                        .map_err(|_| ApiError::bad("limit must be a whole number"))?,
                )
            }
            "cursor" => cursor = Some(v),
            "eventType" => search.event_type = Some(v),
            "q" => {
                if v.len() > 1024 {
                    return Err(ApiError::bad("q must be at most 1024 bytes"));
                }
                search.text = Some(v)
            }
            "header" => {
                let Some((n, val)) = v.split_once(':') else {
                    return Err(ApiError::bad("header must be name:value"));
                };
                let n = n.trim();
                if n.is_empty() || search.headers.len() >= 10 {
                    return Err(ApiError::bad("header must be name:value (at most 10)"));
                }
                search
                    .headers
                    .push((n.to_ascii_lowercase(), val.trim_start().to_string()));
            }
            other => return Err(ApiError::bad(format!("unknown query parameter {other:?}"))),
        }
    }
    Ok(History {
        from: time_param(&from, 0)?,
        to: time_param(&to, i64::MAX / 4)?,
        limit: page_limit(limit, 100, 1000)?,
        cursor,
        search,
    })
}

fn time_param(v: &Option<String>, default: i64) -> Result<i64, ApiError> {
    match v {
        None => Ok(default),
        Some(t) => match t.parse::<i64>() {
            Ok(ms) => Instant::Millis(ms).ms(),
            Err(_) => Instant::Text(t.clone()).ms(),
        },
    }
}

#[utoipa::path(get, path = "/v1/sources/{source_id}/messages", tag = "messages", operation_id = "message.list", summary = "A source's messages, newest first; search by event type, header, body text", description = "With `eventType`, `header` or `q`, a request looks at no more than 5,000 messages (newest first) and answers with the matches among them and a `nextCursor` to go on from, so a search over a long history is paged: an empty page with a cursor means nothing matched yet.", params(("source_id" = String, Path, description = "Source id (src_…)"), HistoryQuery), responses((status = 200, body = super::openapi::Page<super::openapi::MessageSummary>)), security(("tenant" = ["read"])))]
pub async fn history(
    state: Data,
    who: Principal,
    path: web::Path<String>,
    req: actix_web::HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let c = who.tenant(&[Scope::Read])?;
    let src = tenant_source(&state, c, &path).await?;
    let h = history_query(req.query_string())?;
    let before = match &h.cursor {
        None => None,
        Some(cur) => match ids::parse_message_id(cur) {
            Some((s, sid)) if s == src.id => Some(sid),
            _ => return Err(ApiError::bad("invalid cursor")),
        },
    };
    let (msgs, next) = if h.search.is_empty() {
        let msgs = state
            .store
            .history(&src.id, h.from, h.to, before.as_deref(), h.limit as usize)
            .await?;
        let next = (msgs.len() as u64 == h.limit)
            .then(|| msgs.last().map(|m| m.stream_id.clone()))
            .flatten();
        (msgs, next)
    } else {
        let found = routing::search(
            &state,
            &src.id,
            (h.from, h.to),
            before,
            h.limit as usize,
            &h.search,
        )
        .await?;
        (found.items, found.next)
    };
    let items: Vec<MessageSummary> = msgs.iter().map(|m| summary(&src.id, m)).collect();
    Ok(HttpResponse::Ok().json(Page {
        items,
        next_cursor: next.map(|sid| ids::message_id(&src.id, &sid)),
    }))
}

#[utoipa::path(get, path = "/v1/messages/{message_id}", tag = "messages", operation_id = "message.get", summary = "A stored message and its state on each queue", params(("message_id" = String, Path, description = "Message id (msg_…)")), responses((status = 200, body = super::openapi::MessageDetail)), security(("tenant" = ["read"])))]
pub async fn message(
    state: Data,
    who: Principal,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let c = who.tenant(&[Scope::Read])?;
    let (source_id, sid) = ids::parse_message_id(&path).ok_or(ApiError::NotFound)?;
    let src = tenant_source(&state, c, &source_id).await?;
    let m = state
        .store
        .message(&src.id, &sid)
        .await?
        .ok_or(ApiError::NotFound)?;
    let mut deliveries = vec![];
    for q in state.store.source_queue_ids(&src.id).await? {
        if !c.allows_queue(&q) {
            continue;
        }
        if let Some(st) = state.store.delivery_state(&src.id, &q, &sid).await? {
            deliveries.push(QueueDelivery {
                queue_id: q,
                state: st,
            });
        }
    }
    let (payload, encoding) = meta::payload(&m.body);
    let headers = crate::model::header_map(&m.headers)
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    Ok(HttpResponse::Ok().json(MessageDetail {
        summary: summary(&src.id, &m),
        headers,
        payload,
        encoding: encoding.into(),
        deliveries,
    }))
}
