//! Pull consumption (`GET /next`, long poll) and the capability URLs that
//! settle a lease (ack, nack, reject, extend).

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use serde::Deserialize;

use super::auth::Principal;
use super::error::{parse_json, ApiError};
use super::{load_queue, meta, tenant_queue, Data};
use crate::model::{rfc3339_ms, Scope, MAX_DELAY_SECS, MAX_LEASE_SECS};
use crate::notify::FALLBACK;
use crate::store::{SettleOp, SettleOutcome};
use crate::{ids, metrics};

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct NextQuery {
    /// Seconds to wait for a message (0..=30, fractional allowed).
    wait: Option<f64>,
    /// Lease length in seconds (fractional allowed); default: the queue's.
    lease: Option<f64>,
}

/// Lease length in ms from `?lease=`, or 0 for the queue default.
pub fn lease_ms(lease: Option<f64>) -> Result<u64, ApiError> {
    match lease {
        None => Ok(0),
        Some(s) => super::seconds_ms(s, "lease", 1, MAX_LEASE_SECS),
    }
}

#[utoipa::path(get, path = "/v1/queues/{queue_id}/next", tag = "consume", operation_id = "queue.next", summary = "Lease the next message (long poll)", description = "The body is the raw payload with its original Content-Type; the meta (see the Meta schema) is in the X-Hookbay-Meta header.", params(("queue_id" = String, Path, description = "Queue id (q_…)"), NextQuery), responses((status = 200, content_type = "*/*", body = Vec<u8>, headers(("X-Hookbay-Meta" = super::openapi::Meta, description = "The meta as compact JSON, non-ASCII escaped"), ("X-Hookbay-Message-Id" = String))), (status = 204, description = "Nothing arrived within wait")), security(("tenant" = ["consume"])))]
pub async fn next(
    state: Data,
    who: Principal,
    path: web::Path<String>,
    q: web::Query<NextQuery>,
) -> Result<HttpResponse, ApiError> {
    let claims = who.tenant(&[Scope::Consume])?;
    let wait_ms = super::seconds_ms(q.wait.unwrap_or(0.0), "wait", 0, 30)?;
    let lease = lease_ms(q.lease)?;
    let queue = tenant_queue(&state, claims, &path).await?;
    super::consume_rate(&state, &queue.tenant_id).await?;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_millis(wait_ms);
    let watch = (wait_ms > 0).then(|| state.notifier.watch(&queue.source_id, &queue.id));
    let _waiting = watch.as_ref().map(|_| WaitGauge::new());
    loop {
        let notified = watch.as_ref().map(|w| w.signal().notified());
        tokio::pin!(notified);
        if let Some(n) = notified.as_mut().as_pin_mut() {
            n.enable();
        }
        let leased = state
            .store
            .lease(&queue.source_id, &queue.id, 1, lease)
            .await?
            .ok_or(ApiError::NotFound)?;
        if let Some(l) = leased.into_iter().next() {
            metrics::delivered("next", 1);
            let m = meta::build(&state, &queue, &l);
            let meta_json = meta::ascii_json(&m);
            let ct = l
                .message
                .content_type
                .clone()
                .unwrap_or_else(|| "application/octet-stream".into());
            return Ok(HttpResponse::Ok()
                .insert_header((header::CONTENT_TYPE, ct))
                .insert_header(("X-Hookbay-Meta", meta_json))
                .insert_header(("X-Hookbay-Message-Id", m.message_id.as_str()))
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .body(l.message.body));
        }
        let now = tokio::time::Instant::now();
        if now >= deadline {
            return Ok(HttpResponse::NoContent().finish());
        }
        let nap = (deadline - now).min(FALLBACK);
        match notified.as_mut().as_pin_mut() {
            Some(n) => {
                let _ = tokio::time::timeout(nap, n).await;
            }
            None => tokio::time::sleep(nap).await,
        }
    }
}

/// Counts waiting long polls while alive.
pub(super) struct WaitGauge;
impl WaitGauge {
    pub(super) fn new() -> Self {
        metrics::long_polls(1.0);
        WaitGauge
    }
}
impl Drop for WaitGauge {
    fn drop(&mut self) {
        metrics::long_polls(-1.0);
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TokenQuery {
    token: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct NackBody {
    reason: Option<String>,
    /// Seconds before redelivery (fractional allowed); default: backoff.
    delay_seconds: Option<f64>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RejectBody {
    reason: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ExtendBody {
    /// New lease length from now, in seconds (fractional allowed).
    seconds: f64,
}

pub(super) fn check_reason(r: Option<String>) -> Result<String, ApiError> {
    let r = r.unwrap_or_default();
    if r.len() > 1024 {
        return Err(ApiError::bad("reason must be at most 1024 bytes"));
    }
    Ok(r)
}

/// `POST /v1/queues/{q}/messages/{m}/{ack|nack|reject|extend}?token=`.
/// The lease token is the credential; it must name this queue and message.
#[utoipa::path(post, path = "/v1/queues/{queue_id}/messages/{message_id}/{op}", tag = "consume", operation_id = "lease.settle", summary = "Ack, nack, reject or extend a lease (the capability URLs of the meta)", description = "ack: empty body → 204. nack: optional NackBody → 204. reject: optional RejectBody → 204. extend: ExtendBody → 200 LeaseExtended.", params(("queue_id" = String, Path, description = "Queue id (q_…)"), ("message_id" = String, Path, description = "Message id (msg_…)"), ("op" = String, Path, description = "ack | nack | reject | extend"), TokenQuery), request_body(content = Option<NackBody>, description = "nack: {reason, delaySeconds}; reject: {reason}; extend: {seconds}"), responses((status = 204, description = "Settled"), (status = 200, body = super::openapi::LeaseExtended, description = "extend"), (status = 409, body = super::openapi::Problem, content_type = "application/problem+json", description = "The lease expired or was superseded; nothing changed")), security(("leaseToken" = [])))]
pub async fn settle(
    state: Data,
    path: web::Path<(String, String, String)>,
    q: web::Query<TokenQuery>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let (queue_id, message_id, op) = path.into_inner();
    if !matches!(op.as_str(), "ack" | "nack" | "reject" | "extend") {
        return Err(ApiError::NotFound);
    }
    let token = q.token.as_deref().ok_or(ApiError::Unauthorized)?;
    let lease = state
        .keys
        .verify_lease(token)
        .ok_or(ApiError::Unauthorized)?;
    let (source_id, stream_id) = ids::parse_message_id(&message_id).ok_or(ApiError::NotFound)?;
    if lease.queue_id != queue_id || lease.stream_id != stream_id {
        return Err(ApiError::NotFound);
    }
    let queue = load_queue(&state, &queue_id).await?;
    if queue.tenant_id != lease.tenant_id || queue.source_id != source_id {
        return Err(ApiError::NotFound);
    }
    super::consume_rate(&state, &queue.tenant_id).await?;
    let (settle_op, reason) = match op.as_str() {
        "ack" => (SettleOp::Ack, String::new()),
        "nack" => {
            let b: NackBody = parse_json(&body, true)?;
            let delay = b
                .delay_seconds
                .map(|d| super::seconds_ms(d, "delaySeconds", 0, MAX_DELAY_SECS))
                .transpose()?;
            (SettleOp::Nack(delay), check_reason(b.reason)?)
        }
        "reject" => {
            let b: RejectBody = parse_json(&body, true)?;
            (SettleOp::Reject, check_reason(b.reason)?)
        }
        _ => {
            let b: ExtendBody = parse_json(&body, false)?;
            let ms = super::seconds_ms(b.seconds, "seconds", 1, MAX_LEASE_SECS)?;
            (SettleOp::Extend(ms), String::new())
        }
    };
    let outcome = state
        .store
        .settle(
            &queue.source_id,
            &queue.id,
            &stream_id,
            lease.generation,
            settle_op,
            &reason,
        )
        .await?;
    match outcome {
        SettleOutcome::Done {
            lease_expires_at_ms,
            ..
        } => {
            if let SettleOp::Extend(_) = settle_op {
                metrics::settled("extend");
                return Ok(HttpResponse::Ok().json(super::openapi::LeaseExtended {
                    lease_expires_at: rfc3339_ms(lease_expires_at_ms),
                }));
            }
            metrics::settled(match settle_op {
                SettleOp::Ack => "ack",
                SettleOp::Nack(_) => "nack",
                _ => "reject",
            });
            state
                .streams
                .settled(&queue.id, &stream_id, lease.generation);
            Ok(HttpResponse::NoContent().finish())
        }
        SettleOutcome::Stale => {
            metrics::settled("stale");
            Err(ApiError::Conflict(
                "this lease is no longer current (settled, replayed or redelivered)".into(),
            ))
        }
        SettleOutcome::Expired => {
            metrics::settled("expired");
            Err(ApiError::Conflict("this lease has expired".into()))
        }
        SettleOutcome::Gone => Err(ApiError::NotFound),
    }
}
