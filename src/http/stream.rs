//! `GET /v1/queues/{id}/stream`: Server-Sent Events with a prefetch window.
//! Each stream is one task: it leases up to `prefetch` deliveries, sends
//! them, and leases more as they settle. Settlements made on this node reach
//! the stream at once through `StreamRegistry`; settlements made elsewhere
//! and expired leases are found by a once-a-second check of the stream's
//! in-flight deliveries.

use std::sync::Arc;
use std::time::Duration;

use actix_web::{web, HttpRequest, Responder};
use actix_web_lab::sse;
use serde::Deserialize;
use tokio::sync::mpsc;

use super::auth::{resolve, Principal};
use super::consume::lease_ms;
use super::error::ApiError;
use super::{meta, tenant_queue, Data};
use crate::model::{Queue, Scope};
use crate::notify::FALLBACK;
use crate::state::AppState;
use crate::{ids, metrics};

pub const KEEP_ALIVE: Duration = Duration::from_secs(10);
const RECHECK: Duration = Duration::from_secs(1);
pub const MAX_PREFETCH: usize = 1000;

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StreamQuery {
    prefetch: Option<usize>,
    /// Lease length in seconds (fractional allowed); default: the queue's.
    lease: Option<f64>,
    access_token: Option<String>,
}

#[utoipa::path(get, path = "/v1/queues/{queue_id}/stream", tag = "consume", operation_id = "queue.stream", summary = "Subscribe with Server-Sent Events", description = "Each message is `event: message`, `id: <messageId>`, `data: <StreamEvent JSON>`. At most `prefetch` unsettled messages per stream; keep-alive comments every 10 s; `event: close` when the queue is deleted or the token revoked.", params(("queue_id" = String, Path, description = "Queue id (q_…)"), StreamQuery), responses((status = 200, content_type = "text/event-stream", body = super::openapi::StreamEvent)), security(("tenant" = ["consume"]), ("accessToken" = [])))]
pub async fn stream(
    state: Data,
    req: HttpRequest,
    path: web::Path<String>,
    q: web::Query<StreamQuery>,
) -> Result<impl Responder, ApiError> {
    // a browser EventSource cannot send headers: accept ?access_token= too
    let who = match &q.access_token {
        Some(t) => resolve(&state, t)?,
        None => {
            use actix_web::FromRequest;
            Principal::extract(&req).await?
        }
    };
    let claims = who.tenant(&[Scope::Consume])?;
    let prefetch = q.prefetch.unwrap_or(10);
    if !(1..=MAX_PREFETCH).contains(&prefetch) {
        return Err(ApiError::bad(format!(
            "prefetch must be 1..={MAX_PREFETCH}"
        )));
    }
    let lease = lease_ms(q.lease)?;
    let queue = tenant_queue(&state, claims, &path).await?;
    super::consume_rate(&state, &queue.tenant_id).await?;
    let token = (claims.jti.clone(), claims.exp);
    // boxed events: the channel's first block of slots is allocated with
    // it, 32 × 96 bytes unboxed (memory per idle stream)
    let (tx, mut rx) = mpsc::channel::<Box<sse::Event>>(prefetch.min(64));
    tokio::spawn(run(state.into_inner(), queue, token, prefetch, lease, tx));
    let events = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx).map(|e| e.map(|b| *b)));
    Ok(sse::Sse::from_infallible_stream(events).with_keep_alive(KEEP_ALIVE))
}

struct Gauge;
impl Drop for Gauge {
    fn drop(&mut self) {
        metrics::sse_clients(-1.0);
    }
}

fn event(state: &AppState, queue: &Queue, l: &crate::model::Lease) -> sse::Event {
    let m = meta::build(state, queue, l);
    let (payload, encoding) = meta::payload(&l.message.body);
    let data = super::openapi::StreamEvent {
        payload,
        encoding,
        content_type: l.message.content_type.as_deref(),
        meta: m,
    };
    sse::Event::Data(
        sse::Data::new(serde_json::to_string(&data).unwrap_or_default())
            .event("message")
            .id(ids::message_id(&queue.source_id, &l.message.stream_id)),
    )
}

/// `token`: (id, expiry) of the token that opened the stream; the stream
/// ends when it is revoked or expires.
async fn run(
    state: Arc<AppState>,
    queue: Arc<Queue>,
    token: (String, i64),
    prefetch: usize,
    lease: u64,
    tx: mpsc::Sender<Box<sse::Event>>,
) {
    metrics::sse_clients(1.0);
    let _gauge = Gauge;
    let watch = state.notifier.watch(&queue.source_id, &queue.id);
    let (settle_tx, mut settle_rx) = mpsc::unbounded_channel::<String>();
    let mut inflight: Vec<(String, u64)> = Vec::new();
    let mut recheck = tokio::time::interval(RECHECK);
    recheck.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut stopping = state.stopping.subscribe();
    'outer: loop {
        let notified = watch.signal().notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let room = prefetch.saturating_sub(inflight.len());
        let mut filled = false;
        if room > 0 {
            // boxed: the store's future lives only while it runs, not in
            // every idle stream's task (2 KiB of its 2.6 KiB)
            match Box::pin(state.store.lease(&queue.source_id, &queue.id, room, lease)).await {
                Ok(Some(leases)) => {
                    filled = leases.len() == room;
                    metrics::delivered("stream", leases.len() as u64);
                    for l in &leases {
                        let sid = l.message.stream_id.clone();
                        state
                            .streams
                            .hold(&queue.id, &sid, l.generation, &settle_tx);
                        inflight.push((sid, l.generation));
                    }
                    for l in &leases {
                        if tx.send(Box::new(event(&state, &queue, l))).await.is_err() {
                            break 'outer;
                        }
                    }
                    if !leases.is_empty() && !filled {
                        // there may be more right away; loop without waiting
                        continue;
                    }
                }
                Ok(None) => {
                    let _ = tx
                        .send(Box::new(sse::Event::Data(
                            sse::Data::new(r#"{"reason":"queue deleted"}"#).event("close"),
                        )))
                        .await;
                    break;
                }
                Err(e) => tracing::debug!(error = %e, "stream lease failed"),
            }
        }
        let window_full = inflight.len() >= prefetch || filled;
        let fallback = tokio::time::sleep(FALLBACK);
        tokio::pin!(fallback);
        // wait for something that can make a lease worthwhile: a wake-up,
        // a freed window slot, or the fallback period
        loop {
            tokio::select! {
                _ = tx.closed() => break 'outer,
                // the node stops: end the stream (no `close` event — the
                // client reconnects, to this node when it is back or to
                // another)
                _ = crate::notify::until_stopping(&mut stopping) => break 'outer,
                _ = &mut notified, if !window_full => break,
                _ = &mut fallback, if !window_full => break,
                Some(sid) = settle_rx.recv() => {
                    inflight.retain(|(s, _)| *s != sid);
                    while let Ok(sid) = settle_rx.try_recv() {
                        inflight.retain(|(s, _)| *s != sid);
                    }
                    break;
                }
                _ = recheck.tick() => {
                    if state.revocations.is_revoked(&token.0)
                        || chrono::Utc::now().timestamp() >= token.1
                    {
                        let _ = tx
                            .send(Box::new(sse::Event::Data(
                                sse::Data::new(r#"{"reason":"token revoked or expired"}"#)
                                    .event("close"),
                            )))
                            .await;
                        break 'outer;
                    }
                    if inflight.is_empty() {
                        continue;
                    }
                    // settled through another node, or expired
                    let before = inflight.len();
                    if let Ok(held) = Box::pin(
                        state
                            .store
                            .still_leased(&queue.source_id, &queue.id, &inflight),
                    )
                    .await
                    {
                        let mut i = 0;
                        inflight.retain(|(s, g)| {
                            let keep = held.get(i).copied().unwrap_or(true);
                            i += 1;
                            if !keep {
                                state.streams.release(&queue.id, s, *g);
                            }
                            keep
                        });
                    }
                    if inflight.len() < before {
                        break;
                    }
                }
            }
        }
    }
    for (s, g) in &inflight {
        state.streams.release(&queue.id, s, *g);
    }
}
