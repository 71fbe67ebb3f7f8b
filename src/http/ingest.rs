//! `POST|PUT|PATCH /in/{ingestKey}[/{path}]`: verify, store, then answer.
//! A 2xx is sent only after the message and its fan-out are in Redis.

use std::sync::Arc;

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt;

use super::error::ApiError;
use super::Data;
use crate::ids;
use crate::metrics;
use crate::model::is_hop_by_hop;
use crate::model::{Handshake, Source, DEDUPE_WINDOW_SECS};
use crate::routing::{Routes, Subject};
use crate::store::{Fanout, IngestOutcome, NewMessage};
use crate::verify::spec::GetHandshake;
use crate::verify::{query_param, Delivery};

/// Time left for the store calls of one ingest request. Every store call
/// of the request (source lookup, tenant limits and usage, rate limit, the
/// write) draws on one budget of `HOOKBAY_INGEST_TIMEOUT_MS`, so a store
/// that hangs answers `503` within that bound however many calls miss the
/// node's caches. Reading the body is the client's time, not the store's.
struct Budget {
    left: std::time::Duration,
}

impl Budget {
    async fn run<T>(
        &mut self,
        call: impl std::future::Future<Output = Result<T, ApiError>>,
    ) -> Result<T, ApiError> {
        let started = std::time::Instant::now();
        let r = tokio::time::timeout(self.left, call).await;
        self.left = self.left.saturating_sub(started.elapsed());
        r.unwrap_or_else(|_| {
            metrics::redis_error();
            Err(ApiError::Unavailable)
        })
    }
}

async fn source_for_key(state: &Data, key: &str) -> Result<Arc<Source>, ApiError> {
    if key.len() != 43 {
        return Err(ApiError::NotFound);
    }
    if let Some(s) = state.sources.get(key) {
        return Ok(s);
    }
    let s = Arc::new(
        state
            .store
            .source_by_ingest_key(key)
            .await?
            .ok_or(ApiError::NotFound)?,
    );
    state.sources.put(key, s.clone());
    Ok(s)
}

/// The source's queues as ingest routes them: this node's copy (refreshed
/// every `RECORD_TTL`), or a fresh read when the store said the copy is
/// out of date.
async fn routes_for(state: &Data, source_id: &str, fresh: bool) -> Result<Arc<Routes>, ApiError> {
    if !fresh {
        if let Some(r) = state.routes.get(source_id) {
            return Ok(r);
        }
    }
    let (version, queues) = state.store.source_routes(source_id).await?;
    let r = Arc::new(Routes::new(version, &queues));
    state.routes.put(source_id, r.clone());
    Ok(r)
}

/// The tenant's ingest rate and storage quota, charged only for deliveries
/// that passed verification. Stored bytes are summed per tenant at most
/// every 2 s per node, so the quota may be overshot by what arrives in that
/// window.
async fn enforce_limits(state: &Data, src: &Source) -> Result<(), ApiError> {
    let limits = super::tenant_limits(state, &src.tenant_id).await?;
    super::rate_limit(state, &src.tenant_id, "ingest", limits.ingest_per_second).await?;
    let stored = match state.usage.get(&src.tenant_id) {
        Some(b) => *b,
        None => {
            let b = state.store.usage(&src.tenant_id).await?.stored_bytes;
            state.usage.put(&src.tenant_id, Arc::new(b));
            b
        }
    };
    if stored >= limits.max_stored_bytes {
        // a quota frees up as retention trims: ask the provider to retry later
        return Err(ApiError::TooManyRequests(60));
    }
    Ok(())
}

async fn read_body(mut payload: web::Payload, limit: u64) -> Result<bytes::Bytes, ApiError> {
    let mut body = bytes::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| ApiError::bad(format!("cannot read body: {e}")))?;
        if (body.len() + chunk.len()) as u64 > limit {
            return Err(ApiError::TooLarge(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// The request headers: lower-case names, hop-by-hop headers dropped.
fn request_headers(req: &HttpRequest) -> Vec<(String, String)> {
    req.headers()
        .iter()
        .filter(|(n, _)| !is_hop_by_hop(n.as_str()))
        .map(|(n, v)| {
            (
                n.as_str().to_ascii_lowercase(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect()
}

fn dedupe_key(src: &Source, headers: &[(String, String)], body: &[u8]) -> Option<String> {
    let d = src.dedupe.as_ref()?;
    if let Some(h) = &d.header {
        return headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(h))
            .map(|(_, v)| v.clone());
    }
    let ptr = d.json_pointer.as_ref()?;
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    match v.pointer(ptr)? {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Count an ingest outcome on the way out.
fn outcome_label(e: &ApiError) -> &'static str {
    match e {
        ApiError::NotFound => "not_found",
        ApiError::Unauthorized => "unauthorized",
        ApiError::TooLarge(_) => "too_large",
        ApiError::TooManyRequests(_) => "rate_limited",
        ApiError::BadRequest(_) => "bad_request",
        _ => "unavailable",
    }
}

#[utoipa::path(post, path = "/in/{key}", tag = "ingest", operation_id = "ingest.post", summary = "Deliver a webhook", description = "Verify, store durably, fan out to every queue of the source, then answer. The body is any content type, kept byte-exact. Also `/in/{key}/{path}`. Handshakes (Slack, Zoom, Microsoft Graph) are answered here and not stored.", params(("key" = String, Path, description = "The source's ingest key")), request_body(content = Vec<u8>, content_type = "*/*", description = "The provider's raw body"), responses((status = 202, body = super::openapi::Accepted), (status = 200, description = "A handshake answer, or the source's fixed response"), (status = 413, body = super::openapi::Problem, content_type = "application/problem+json", description = "Body over the source's limit")), security(()))]
pub async fn ingest(
    state: Data,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    ingest_inner(state, req, payload)
        .await
        .inspect_err(|e| metrics::ingest(outcome_label(e)))
}

async fn ingest_inner(
    state: Data,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let mut budget = Budget {
        left: state.settings.ingest_timeout,
    };
    let key = req.match_info().get("key").unwrap_or_default();
    let src = budget.run(source_for_key(&state, key)).await?;
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > src.max_body_bytes) {
        return Err(ApiError::TooLarge(src.max_body_bytes));
    }
    let body = read_body(payload, src.max_body_bytes).await?;

    let raw_query = req.query_string();
    // Microsoft Graph's validation request is unsigned by design
    if let Some(Handshake::MsGraph {}) = &src.handshake {
        if let Some(token) = query_param(raw_query, "validationToken") {
            return Ok(echo(&token));
        }
    }
    // verification sees every header; what is stored never holds the
    // source's credential (header or query parameter)
    let mut headers = request_headers(&req);
    let url = match raw_query {
        "" => format!("{}{}", state.settings.public_url, req.path()),
        q => format!("{}{}?{q}", state.settings.public_url, req.path()),
    };
    let delivery = Delivery {
        method: req.method().as_str(),
        headers: &headers,
        query: raw_query,
        body: &body,
        url: &url,
        now: chrono::Utc::now().timestamp(),
    };
    // verify first: it costs CPU only, so forged deliveries spend neither
    // the tenant's rate limit nor a store round trip
    let verdict = match src.verification.verify(&delivery) {
        Ok(v) => v,
        Err(e) => {
            metrics::verification_failure(e.label());
            tracing::info!(source = %src.id, reason = e.label(), "ingest verification failed");
            state.verify_failures.add(&src.id);
            return Err(ApiError::Unauthorized);
        }
    };
    if let Some(reply) = src.verification.handshake(&verdict, &delivery) {
        metrics::ingest("handshake");
        return Ok(HttpResponse::Ok()
            .content_type(reply.content_type)
            .insert_header(("X-Content-Type-Options", "nosniff"))
            .body(reply.body));
    }
    budget.run(enforce_limits(&state, &src)).await?;
    // a preset's delivery id is never a credential; a source's own dedupe
    // rule sees only what is stored (it cannot make a secret the dedupe key)
    let preset_id = src.verification.delivery_id(&delivery);
    let preset_event = match &src.event_type {
        Some(_) => None,
        None => src.verification.event_type(&delivery),
    };
    let (cred_header, cred_param) = src.verification.credential_locations();
    if let Some(c) = cred_header {
        headers.retain(|(n, _)| !n.eq_ignore_ascii_case(c));
    }
    let dedupe = dedupe_key(&src, &headers, &body).or(preset_id);
    let query = match cred_param {
        Some(p) => crate::query::without(raw_query, &[p]),
        None => raw_query.to_string(),
    };
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let event_type = crate::routing::clean_event_type(match &src.event_type {
        Some(rule) => rule.read(&headers, &body),
        None => preset_event,
    });
    let method = req.method().as_str();
    let path = req.match_info().get("tail").unwrap_or_default();
    let subject = Subject {
        method,
        path,
        query: &query,
        headers: &headers,
        event_type: event_type.as_deref(),
        content_type: content_type.as_deref(),
        body: &body,
    };
    // route on this node's view of the source's queues; the store refuses
    // a view whose routing version moved, and the view is read again
    let mut fresh = false;
    let (stream_id, duplicate) = loop {
        let routes = budget.run(routes_for(&state, &src.id, fresh)).await?;
        let decisions = routes.decide(&subject);
        let msg = NewMessage {
            method,
            path,
            query: &query,
            headers: &headers,
            content_type: content_type.as_deref(),
            body: &body,
            verified: verdict.verified,
            scheme: verdict.scheme,
            dedupe_key: dedupe.as_deref(),
            dedupe_window_secs: src
                .dedupe
                .as_ref()
                .and_then(|d| d.window_seconds)
                .unwrap_or(DEDUPE_WINDOW_SECS),
            event_type: event_type.as_deref(),
            fanout: Fanout {
                version: routes.version,
                queues: &decisions,
            },
        };
        let outcome = budget
            .run(async { Ok(state.store.ingest(&src.id, &msg).await?) })
            .await?;
        match outcome {
            IngestOutcome::Stored { stream_id, .. } => break (stream_id, false),
            IngestOutcome::Duplicate { stream_id } => break (stream_id, true),
            IngestOutcome::SourceGone => {
                state.sources.forget(key);
                return Err(ApiError::NotFound);
            }
            IngestOutcome::Reroute => {
                // the budget bounds how often queue changes can make us retry
                state.routes.forget(&src.id);
                fresh = true;
            }
        }
    };
    metrics::ingest(if duplicate { "duplicate" } else { "stored" });
    let id = ids::message_id(&src.id, &stream_id);
    let mut resp = match &src.response {
        Some(r) => {
            let mut b = HttpResponse::build(
                actix_web::http::StatusCode::from_u16(r.status)
                    .unwrap_or(actix_web::http::StatusCode::OK),
            );
            b.content_type(
                r.content_type
                    .as_deref()
                    .unwrap_or("text/plain; charset=utf-8"),
            );
            b.insert_header(("X-Hookbay-Message-Id", id.as_str()));
            b.body(r.body.clone())
        }
        None => HttpResponse::Accepted()
            .insert_header(("X-Hookbay-Message-Id", id.as_str()))
            .json(super::openapi::Accepted {
                id: id.clone(),
                duplicate,
            }),
    };
    if duplicate {
        resp.headers_mut().insert(
            header::HeaderName::from_static("x-hookbay-duplicate"),
            header::HeaderValue::from_static("true"),
        );
    }
    Ok(resp)
}

/// Documentation only: `PUT` ingests like `POST`.
#[utoipa::path(put, path = "/in/{key}", tag = "ingest", operation_id = "ingest.put", summary = "Deliver a webhook (PUT)", params(("key" = String, Path)), request_body(content = Vec<u8>, content_type = "*/*"), responses((status = 202, body = super::openapi::Accepted)), security(()))]
#[allow(dead_code)]
pub(crate) fn ingest_put_doc() {}

/// Documentation only: `PATCH` ingests like `POST`.
#[utoipa::path(patch, path = "/in/{key}", tag = "ingest", operation_id = "ingest.patch", summary = "Deliver a webhook (PATCH)", params(("key" = String, Path)), request_body(content = Vec<u8>, content_type = "*/*"), responses((status = 202, body = super::openapi::Accepted)), security(()))]
#[allow(dead_code)]
pub(crate) fn ingest_patch_doc() {}

/// Echo a handshake token as inert text.
fn echo(token: &str) -> HttpResponse {
    metrics::ingest("handshake");
    HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .body(token.chars().take(1024).collect::<String>())
}

/// `GET /in/{key}`: the validation handshakes of providers that need one.
#[utoipa::path(get, path = "/in/{key}", tag = "ingest", operation_id = "ingest.challenge", summary = "Validation handshake (GET challenge, Microsoft Graph, Dropbox, Okta)", params(("key" = String, Path, description = "The source's ingest key"), ("challenge" = Option<String>, Query), ("hub.challenge" = Option<String>, Query), ("hub.verify_token" = Option<String>, Query), ("validationToken" = Option<String>, Query)), responses((status = 200, content_type = "text/plain", body = String, description = "The challenge, echoed"), (status = 405, body = super::openapi::Problem, content_type = "application/problem+json", description = "The source has no GET handshake")), security(()))]
pub async fn challenge(state: Data, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let key = req.match_info().get("key").unwrap_or_default();
    let src = source_for_key(&state, key).await?;
    let q = req.query_string();
    match &src.handshake {
        Some(Handshake::GetChallenge { verify_token }) => {
            if let Some(ch) = query_param(q, "hub.challenge") {
                if query_param(q, "hub.mode").as_deref() != Some("subscribe") {
                    return Err(ApiError::bad("hub.mode must be subscribe"));
                }
                if let Some(want) = verify_token {
                    let given = query_param(q, "hub.verify_token").unwrap_or_default();
                    if !crate::verify::any_secret_matches(
                        std::slice::from_ref(want),
                        given.as_bytes(),
                    ) {
                        metrics::ingest("unauthorized");
                        return Err(ApiError::Unauthorized);
                    }
                }
                return Ok(echo(&ch));
            }
            match query_param(q, "challenge") {
                Some(ch) => Ok(echo(&ch)),
                None => Err(ApiError::bad("expected ?challenge= or ?hub.challenge=")),
            }
        }
        Some(Handshake::MsGraph {}) => match query_param(q, "validationToken") {
            Some(t) => Ok(echo(&t)),
            None => Err(ApiError::bad("expected ?validationToken=")),
        },
        None => preset_challenge(&src, &req),
    }
}

/// The `GET` handshakes a preset brings (Dropbox's `?challenge=`, Okta's
/// verification header, answered only with the source's token).
fn preset_challenge(src: &Source, req: &HttpRequest) -> Result<HttpResponse, ApiError> {
    let q = req.query_string();
    match src.verification.preset().and_then(|p| p.spec.get) {
        Some(GetHandshake::EchoChallenge) => match query_param(q, "challenge") {
            Some(ch) => Ok(echo(&ch)),
            None => Err(ApiError::bad("expected ?challenge=")),
        },
        Some(GetHandshake::OktaVerification) => {
            let challenge = req
                .headers()
                .get("x-okta-verification-challenge")
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .ok_or_else(|| ApiError::bad("expected X-Okta-Verification-Challenge"))?;
            let headers = request_headers(req);
            let delivery = Delivery {
                method: "GET",
                headers: &headers,
                query: q,
                body: b"",
                url: "",
                now: chrono::Utc::now().timestamp(),
            };
            if src.verification.verify(&delivery).is_err() {
                metrics::ingest("unauthorized");
                return Err(ApiError::Unauthorized);
            }
            metrics::ingest("handshake");
            Ok(HttpResponse::Ok().json(serde_json::json!({ "verification": challenge })))
        }
        None => Err(ApiError::MethodNotAllowed),
    }
}

/// `HEAD /in/{key}`: 200 when the source exists (Trello and Intercom probe
/// the URL this way before they send anything).
#[utoipa::path(head, path = "/in/{key}", tag = "ingest", operation_id = "ingest.probe", summary = "Probe an ingest URL", params(("key" = String, Path, description = "The source's ingest key")), responses((status = 200, description = "The source exists"), (status = 404, description = "No such source")), security(()))]
pub async fn probe(state: Data, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let key = req.match_info().get("key").unwrap_or_default();
    source_for_key(&state, key).await?;
    Ok(HttpResponse::Ok().finish())
}
