//! Batch consumption for high-throughput workers: `POST /lease` takes up to
//! 100 messages in one call (long-polling like `/next`), `POST /settle`
//! applies up to 100 outcomes in one store step, each item on its own — one
//! bad or stale item never affects the others.

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};

use super::auth::Principal;
use super::error::{parse_json, ApiError};
use super::{meta, tenant_queue, Data};
use crate::metrics;
use crate::model::{Scope, MAX_DELAY_SECS};
use crate::notify::FALLBACK;
use crate::store::{SettleOp, SettleOutcome};

/// Most messages one lease call returns and one settle call takes.
pub const MAX_BATCH: usize = 100;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LeaseBody {
    /// Most messages to lease (1..=100; default 10).
    max: Option<u64>,
    /// Seconds to wait for the first message (0..=30, fractional allowed;
    /// default 0).
    wait: Option<f64>,
    /// Lease length in seconds (fractional allowed); default: the queue's.
    lease: Option<f64>,
}

/// What a lease call returns: each item the same shape as an SSE event's
/// data.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Leased<'a> {
    pub messages: Vec<super::openapi::StreamEvent<'a>>,
}

#[utoipa::path(post, path = "/v1/queues/{queue_id}/lease", tag = "consume", operation_id = "queue.lease", summary = "Lease up to 100 messages in one call", description = "Returns as soon as at least one message is leased, or after `wait` with an empty list. Each item is the data of an SSE `message` event (payload, encoding, contentType, meta with the ack/nack/reject/extend URLs).", params(("queue_id" = String, Path, description = "Queue id (q_…)")), request_body = LeaseBody, responses((status = 200, body = Leased)), security(("tenant" = ["consume"])))]
pub async fn lease(
    state: Data,
    who: Principal,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let claims = who.tenant(&[Scope::Consume])?;
    let b: LeaseBody = parse_json(&body, true)?;
    let max = match b.max {
        None => 10,
        Some(n) if (1..=MAX_BATCH as u64).contains(&n) => n as usize,
        Some(_) => return Err(ApiError::bad(format!("max must be 1..={MAX_BATCH}"))),
    };
    let wait_ms = super::seconds_ms(b.wait.unwrap_or(0.0), "wait", 0, 30)?;
    let lease_ms = super::consume::lease_ms(b.lease)?;
    let queue = tenant_queue(&state, claims, &path).await?;
    super::consume_rate(&state, &queue.tenant_id).await?;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_millis(wait_ms);
    let watch = (wait_ms > 0).then(|| state.notifier.watch(&queue.source_id, &queue.id));
    let _waiting = watch.as_ref().map(|_| super::consume::WaitGauge::new());
    let leases = loop {
        let notified = watch.as_ref().map(|w| w.signal().notified());
        tokio::pin!(notified);
        if let Some(n) = notified.as_mut().as_pin_mut() {
            n.enable();
        }
        let got = state
            .store
            .lease(&queue.source_id, &queue.id, max, lease_ms)
            .await?
            .ok_or(ApiError::NotFound)?;
        let now = tokio::time::Instant::now();
        if !got.is_empty() || now >= deadline {
            break got;
        }
        let nap = (deadline - now).min(FALLBACK);
        match notified.as_mut().as_pin_mut() {
            Some(n) => {
                let _ = tokio::time::timeout(nap, n).await;
            }
            None => tokio::time::sleep(nap).await,
        }
    };
    metrics::delivered("lease", leases.len() as u64);
    let messages = leases
        .iter()
        .map(|l| {
            let (payload, encoding) = meta::payload(&l.message.body);
            super::openapi::StreamEvent {
                payload,
                encoding,
                content_type: l.message.content_type.as_deref(),
                meta: meta::build(&state, &queue, l),
            }
        })
        .collect();
    Ok(HttpResponse::Ok()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(Leased { messages }))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SettleItem {
    /// The lease token: the `token` parameter of the meta's URLs.
    token: String,
    /// `ack`, `nack` or `reject`.
    outcome: String,
    reason: Option<String>,
    /// nack: seconds before redelivery (fractional allowed); default: backoff.
    delay_seconds: Option<f64>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettleBody {
    items: Vec<SettleItem>,
}

/// One item's outcome: `204` settled, `409` the lease expired or was
/// superseded (nothing changed), `404` no such lease on this queue, `401`
/// the token is not a valid lease token.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SettleResult {
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<&'static str>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Settled {
    /// In the order of the items.
    pub results: Vec<SettleResult>,
}

fn result(status: u16, detail: &'static str) -> SettleResult {
    SettleResult {
        status,
        detail: Some(detail),
    }
}

#[utoipa::path(post, path = "/v1/queues/{queue_id}/settle", tag = "consume", operation_id = "queue.settle", summary = "Ack, nack or reject up to 100 leases in one call", description = "Each item is applied on its own (atomic per item); the results come back in order. A malformed request (not 1..=100 items, an unknown outcome, a bad delay or reason) is refused whole with 400 and changes nothing.", params(("queue_id" = String, Path, description = "Queue id (q_…)")), request_body = SettleBody, responses((status = 200, body = Settled)), security(("tenant" = ["consume"])))]
pub async fn settle(
    state: Data,
    who: Principal,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let claims = who.tenant(&[Scope::Consume])?;
    let b: SettleBody = parse_json(&body, false)?;
    if b.items.is_empty() || b.items.len() > MAX_BATCH {
        return Err(ApiError::bad(format!(
            "items must hold 1..={MAX_BATCH} items"
        )));
    }
    // check every item before touching anything
    let mut ops = Vec::with_capacity(b.items.len());
    for (i, it) in b.items.iter().enumerate() {
        let reason = super::consume::check_reason(it.reason.clone())
            .map_err(|_| ApiError::bad(format!("items[{i}].reason must be at most 1024 bytes")))?;
        let op = match (it.outcome.as_str(), it.delay_seconds) {
            ("ack", None) => SettleOp::Ack,
            ("reject", None) => SettleOp::Reject,
            ("nack", d) => SettleOp::Nack(
                d.map(|d| {
                    super::seconds_ms(d, &format!("items[{i}].delaySeconds"), 0, MAX_DELAY_SECS)
                })
                .transpose()?,
            ),
            ("ack" | "reject", Some(_)) => {
                return Err(ApiError::bad(format!(
                    "items[{i}].delaySeconds is for nack only"
                )))
            }
            (o, _) => {
                return Err(ApiError::bad(format!(
                    "items[{i}].outcome must be ack, nack or reject, not {o:?}"
                )))
            }
        };
        ops.push((op, reason));
    }
    let queue = tenant_queue(&state, claims, &path).await?;
    super::consume_rate(&state, &queue.tenant_id).await?;
    // each item's lease, or why it has none; the valid ones go to the
    // store in one atomic step
    let mut results: Vec<Option<SettleResult>> = Vec::with_capacity(ops.len());
    let mut leases = vec![];
    let mut items = vec![];
    for (it, (op, reason)) in b.items.iter().zip(ops) {
        match state.keys.verify_lease(&it.token) {
            None => results.push(Some(result(401, "not a valid lease token"))),
            Some(l) if l.queue_id != queue.id || l.tenant_id != queue.tenant_id => {
                results.push(Some(result(404, "no such lease on this queue")))
            }
            Some(l) => {
                results.push(None);
                items.push(crate::store::SettleItem {
                    stream_id: l.stream_id.clone(),
                    generation: l.generation,
                    op,
                    reason,
                });
                leases.push(l);
            }
        }
    }
    let outcomes = if items.is_empty() {
        vec![]
    } else {
        state
            .store
            .settle_many(&queue.source_id, &queue.id, &items)
            .await?
    };
    let mut done = items.iter().zip(&leases).zip(outcomes);
    let results: Vec<SettleResult> = results
        .into_iter()
        .map(|r| {
            r.unwrap_or_else(|| {
                let Some(((it, lease), outcome)) = done.next() else {
                    return result(500, "no outcome");
                };
                match outcome {
                    SettleOutcome::Done { .. } => {
                        metrics::settled(match it.op {
                            SettleOp::Ack => "ack",
                            SettleOp::Nack(_) => "nack",
                            _ => "reject",
                        });
                        state
                            .streams
                            .settled(&queue.id, &lease.stream_id, lease.generation);
                        SettleResult {
                            status: 204,
                            detail: None,
                        }
                    }
                    SettleOutcome::Stale => {
                        metrics::settled("stale");
                        result(
                            409,
                            "this lease is no longer current (settled, replayed or redelivered)",
                        )
                    }
                    SettleOutcome::Expired => {
                        metrics::settled("expired");
                        result(409, "this lease has expired")
                    }
                    SettleOutcome::Gone => result(404, "no such message on this queue"),
                }
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(Settled { results }))
}
