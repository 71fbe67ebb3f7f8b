//! `GET /v1/sources/{id}/tail`: Server-Sent Events of the messages arriving
//! at a source, as they are stored — read-only: nothing is leased or
//! consumed, and it works whether or not the source has queues. Handy
//! while setting up a provider (`hookbay tail`).
//!
//! Each tail is one task that reads the source's log after the last
//! message it sent, woken by ingest (the source-wide wake-up every ingest
//! publishes) and on its own every `FALLBACK`.

use std::sync::Arc;

use actix_web::{web, HttpRequest, Responder};
use actix_web_lab::sse;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use super::auth::{resolve, Principal};
use super::error::ApiError;
use super::openapi::MessageSummary;
use super::stream::KEEP_ALIVE;
use super::{meta, tenant_source, Data};
use crate::ids;
use crate::model::{Scope, StoredMessage};
use crate::notify::{FALLBACK, TAIL};
use crate::state::AppState;

/// Messages read per store call.
const PAGE: usize = 100;

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TailQuery {
    /// Bearer token for clients that cannot send headers.
    access_token: Option<String>,
}

/// One `message` event of a tail: the history item, the headers and the
/// body (text, or base64 when not UTF-8).
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TailEvent {
    #[serde(flatten)]
    pub summary: MessageSummary,
    pub headers: std::collections::BTreeMap<String, String>,
    pub payload: String,
    /// `utf8` or `base64`.
    pub encoding: &'static str,
}

#[utoipa::path(get, path = "/v1/sources/{source_id}/tail", tag = "messages", operation_id = "message.tail", summary = "Watch messages arrive at a source (SSE, read-only)", description = "Each stored message is `event: message`, `id: <messageId>`, `data: <TailEvent JSON>`, from the moment of connecting on (or after the message named by `Last-Event-ID`, for a reconnecting client); nothing is leased or consumed. Keep-alive comments every 10 s; `event: close` when the source is deleted or the token revoked.", params(("source_id" = String, Path, description = "Source id (src_…)"), TailQuery), responses((status = 200, content_type = "text/event-stream", body = TailEvent)), security(("tenant" = ["read"]), ("accessToken" = [])))]
pub async fn tail(
    state: Data,
    req: HttpRequest,
    path: web::Path<String>,
    q: web::Query<TailQuery>,
) -> Result<impl Responder, ApiError> {
    let who = match &q.access_token {
        Some(t) => resolve(&state, t)?,
        None => {
            use actix_web::FromRequest;
            Principal::extract(&req).await?
        }
    };
    let claims = who.tenant(&[Scope::Read])?;
    let src = tenant_source(&state, claims, &path).await?;
    // a reconnecting client goes on after the last event it saw
    // (Last-Event-ID); a new one starts after the newest message
    let resume = req
        .headers()
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(ids::parse_message_id)
        .filter(|(s, _)| *s == src.id)
        .map(|(_, sid)| sid);
    let last = match resume {
        Some(sid) => Some(sid),
        None => state
            .store
            .history(&src.id, 0, i64::MAX / 4, None, 1)
            .await?
            .into_iter()
            .next()
            .map(|m| m.stream_id),
    };
    let token = (claims.jti.clone(), claims.exp);
    let (tx, rx) = mpsc::channel(16);
    tokio::spawn(run(state.into_inner(), src.id, last, token, tx));
    Ok(sse::Sse::from_infallible_receiver(rx).with_keep_alive(KEEP_ALIVE))
}

fn event(source_id: &str, m: &StoredMessage) -> sse::Event {
    let (payload, encoding) = meta::payload(&m.body);
    let data = TailEvent {
        summary: super::ops::summary(source_id, m),
        headers: crate::model::header_map(&m.headers)
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
        payload,
        encoding,
    };
    sse::Event::Data(
        sse::Data::new(serde_json::to_string(&data).unwrap_or_default())
            .event("message")
            .id(ids::message_id(source_id, &m.stream_id)),
    )
}

fn close(reason: &str) -> sse::Event {
    sse::Event::Data(sse::Data::new(format!("{{\"reason\":\"{reason}\"}}")).event("close"))
}

async fn run(
    state: Arc<AppState>,
    source_id: String,
    mut last: Option<String>,
    token: (String, i64),
    tx: mpsc::Sender<sse::Event>,
) {
    let watch = state.notifier.watch(&source_id, TAIL);
    let mut stopping = state.stopping.subscribe();
    loop {
        let notified = watch.signal().notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if state.revocations.is_revoked(&token.0) || chrono::Utc::now().timestamp() >= token.1 {
            let _ = tx.send(close("token_revoked")).await;
            return;
        }
        // send everything stored since the last message sent
        loop {
            let page = match state
                .store
                .scan(&source_id, 0, i64::MAX / 4, last.as_deref(), PAGE)
                .await
            {
                Ok(p) => p,
                Err(e) => {
                    tracing::debug!(error = %e, "tail: store unavailable, retrying");
                    break;
                }
            };
            for m in &page {
                if tx.send(event(&source_id, m)).await.is_err() {
                    return; // the client went away
                }
                last = Some(m.stream_id.clone());
            }
            if page.len() < PAGE {
                break;
            }
        }
        tokio::select! {
            _ = &mut notified => {}
            _ = tokio::time::sleep(FALLBACK) => {
                if matches!(state.store.source(&source_id).await, Ok(None)) {
                    let _ = tx.send(close("source_deleted")).await;
                    return;
                }
            }
            _ = tx.closed() => return,
            // the node stops: end the stream; the client reconnects
            _ = crate::notify::until_stopping(&mut stopping) => return,
        }
    }
}
