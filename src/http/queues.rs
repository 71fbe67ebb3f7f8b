//! Queue management (tenant `manage`; `read` may list and get with counts).

use std::sync::Arc;

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use super::auth::Principal;
use super::error::{parse_json, ApiError};
use super::openapi::{Items, QueueView};
use super::{tenant_queue, tenant_source, Data};
use crate::ids;
use crate::model::{now_rfc3339, validate_policy, Backoff, Queue, Scope};
use crate::state::AppState;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CreateQueue {
    source_id: String,
    name: String,
    lease_seconds: Option<u64>,
    max_attempts: Option<u32>,
    backoff: Option<Backoff>,
    /// Deliver only matching messages (see docs/routing.md).
    #[schema(value_type = Option<Object>)]
    filter: Option<serde_json::Value>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct PatchQueue {
    name: Option<String>,
    lease_seconds: Option<u64>,
    max_attempts: Option<u32>,
    backoff: Option<Backoff>,
    /// A new filter; `null` removes it (messages ingested afterwards).
    #[serde(default, with = "super::error::double_option")]
    #[schema(value_type = Option<Object>)]
    filter: Option<Option<serde_json::Value>>,
}

fn check(q: &Queue) -> Result<(), ApiError> {
    let name = q.name.trim();
    if name.is_empty() || name.len() > 100 {
        return Err(ApiError::bad("name must be 1..=100 characters"));
    }
    validate_policy(q.lease_seconds, q.max_attempts, &q.backoff).map_err(ApiError::bad)?;
    if let Some(f) = &q.filter {
        crate::routing::Filter::compile(f).map_err(ApiError::bad)?;
    }
    Ok(())
}

#[utoipa::path(post, path = "/v1/queues", tag = "queues", operation_id = "queue.create", summary = "Create a queue on a source", request_body = CreateQueue, responses((status = 201, body = super::openapi::QueueView), (status = 409, body = super::openapi::Problem, content_type = "application/problem+json", description = "Quota maxQueues reached")), security(("tenant" = ["manage"])))]
pub async fn create(
    state: Data,
    who: Principal,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let c = who.tenant(&[Scope::Manage])?;
    let b: CreateQueue = parse_json(&body, false)?;
    let src = tenant_source(&state, c, &b.source_id).await?;
    let q = Queue {
        id: ids::queue_id(),
        tenant_id: c.sub.clone(),
        source_id: src.id,
        name: b.name.trim().to_string(),
        lease_seconds: b.lease_seconds.unwrap_or(30),
        max_attempts: b.max_attempts.unwrap_or(5),
        backoff: b.backoff.unwrap_or_default(),
        filter: b.filter.filter(|f| !f.is_null()),
        created_at: now_rfc3339(),
    };
    check(&q)?;
    let limit = super::tenant_limits(&state, &c.sub).await?.max_queues;
    crate::service::catalog::create_queue(&state, &q, limit).await?;
    Ok(HttpResponse::Created().json(QueueView {
        queue: q,
        counts: None,
    }))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    source_id: Option<String>,
}

#[utoipa::path(get, path = "/v1/queues", tag = "queues", operation_id = "queue.list", summary = "List queues", params(ListQuery), responses((status = 200, body = super::openapi::Items<crate::model::Queue>)), security(("tenant" = ["manage", "read"])))]
pub async fn list(
    state: Data,
    who: Principal,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let c = who.tenant(&[Scope::Manage, Scope::Read])?;
    let items: Vec<Queue> = state
        .store
        .queues(&c.sub)
        .await?
        .into_iter()
        .filter(|x| c.allows_queue(&x.id))
        .filter(|x| q.source_id.as_ref().is_none_or(|s| *s == x.source_id))
        .collect();
    Ok(HttpResponse::Ok().json(Items { items }))
}

async fn with_counts(state: &AppState, q: Arc<Queue>) -> Result<HttpResponse, ApiError> {
    let counts = state.store.queue_counts(&q.source_id, &q.id).await?;
    Ok(HttpResponse::Ok().json(QueueView {
        queue: (*q).clone(),
        counts: Some(counts),
    }))
}

#[utoipa::path(get, path = "/v1/queues/{queue_id}", tag = "queues", operation_id = "queue.get", summary = "A queue's policy and counts", params(("queue_id" = String, Path, description = "Queue id (q_…)")), responses((status = 200, body = super::openapi::QueueView)), security(("tenant" = ["manage", "read"])))]
pub async fn get(
    state: Data,
    who: Principal,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let c = who.tenant(&[Scope::Manage, Scope::Read])?;
    let q = tenant_queue(&state, c, &path).await?;
    with_counts(&state, q).await
}

#[utoipa::path(patch, path = "/v1/queues/{queue_id}", tag = "queues", operation_id = "queue.update", summary = "Change a queue's name or policy", params(("queue_id" = String, Path, description = "Queue id (q_…)")), request_body = PatchQueue, responses((status = 200, body = super::openapi::QueueView)), security(("tenant" = ["manage"])))]
pub async fn patch(
    state: Data,
    who: Principal,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let c = who.tenant(&[Scope::Manage])?;
    let p: PatchQueue = parse_json(&body, false)?;
    // read through the cache-free path: a PATCH must start from the truth
    state.queues.forget(&path);
    let mut q = (*tenant_queue(&state, c, &path).await?).clone();
    if let Some(n) = p.name {
        q.name = n.trim().to_string();
    }
    if let Some(l) = p.lease_seconds {
        q.lease_seconds = l;
    }
    if let Some(m) = p.max_attempts {
        q.max_attempts = m;
    }
    if let Some(b) = p.backoff {
        q.backoff = b;
    }
    if let Some(f) = p.filter {
        q.filter = f.filter(|f| !f.is_null());
    }
    check(&q)?;
    let q = crate::service::catalog::update_queue(&state, q).await?;
    with_counts(&state, q).await
}

#[utoipa::path(delete, path = "/v1/queues/{queue_id}", tag = "queues", operation_id = "queue.delete", summary = "Delete a queue and its delivery state", params(("queue_id" = String, Path, description = "Queue id (q_…)")), responses((status = 204, description = "Deleted")), security(("tenant" = ["manage"])))]
pub async fn delete(
    state: Data,
    who: Principal,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let c = who.tenant(&[Scope::Manage])?;
    let q = tenant_queue(&state, c, &path).await?;
    crate::service::catalog::delete_queue(&state, &q).await?;
    Ok(HttpResponse::NoContent().finish())
}
