//! The HTTP layer: one route table, thin handlers that authenticate, validate
//! and call the store. Handlers live in one file per area.

mod auth;
mod consume;
pub mod error;
mod health;
mod ingest;
mod meta;
mod ops;
mod queues;
mod sources;
mod stream;
mod tenants;

use std::sync::Arc;

use actix_web::{http::StatusCode, web, HttpRequest, HttpResponse};

pub use stream::StreamRegistry;

use crate::app::AppState;
use crate::auth::Claims;
use crate::ids;
use crate::model::{Queue, Source};
use error::ApiError;

type Data = web::Data<AppState>;

/// The route table — every path the relay serves.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(health::healthz))
        .route("/readyz", web::get().to(health::readyz))
        .route("/metrics", web::get().to(health::metrics))
        .service(
            web::resource(["/in/{key}", "/in/{key}/{tail:.*}"])
                .route(web::post().to(ingest::ingest))
                .route(web::put().to(ingest::ingest))
                .route(web::patch().to(ingest::ingest))
                .route(web::get().to(ingest::challenge))
                .default_service(web::to(method_not_allowed)),
        )
        .service(
            web::scope("/v1")
                .route("/tenants", web::post().to(tenants::create))
                .route("/tenants", web::get().to(tenants::list))
                .route("/tenants/{tenant_id}", web::get().to(tenants::get))
                .route(
                    "/tenants/{tenant_id}/tokens",
                    web::post().to(tenants::create_token),
                )
                .route("/sources", web::post().to(sources::create))
                .route("/sources", web::get().to(sources::list))
                .route("/sources/{source_id}", web::get().to(sources::get))
                .route("/sources/{source_id}", web::patch().to(sources::patch))
                .route("/sources/{source_id}", web::delete().to(sources::delete))
                .route("/sources/{source_id}/messages", web::get().to(ops::history))
                .route("/queues", web::post().to(queues::create))
                .route("/queues", web::get().to(queues::list))
                .route("/queues/{queue_id}", web::get().to(queues::get))
                .route("/queues/{queue_id}", web::patch().to(queues::patch))
                .route("/queues/{queue_id}", web::delete().to(queues::delete))
                .route("/queues/{queue_id}/next", web::get().to(consume::next))
                .route("/queues/{queue_id}/stream", web::get().to(stream::stream))
                .route(
                    "/queues/{queue_id}/dead-letters",
                    web::get().to(ops::dead_letters),
                )
                .route("/queues/{queue_id}/replay", web::post().to(ops::replay))
                .route(
                    "/queues/{queue_id}/messages/{message_id}/{op}",
                    web::post().to(consume::settle),
                )
                .route("/messages/{message_id}", web::get().to(ops::message)),
        )
        .default_service(web::to(not_found));
}

/// Query-string errors as problem+json.
pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default()
        .error_handler(|e, _| ApiError::bad(format!("invalid query string: {e}")).into())
}

async fn not_found(req: HttpRequest) -> HttpResponse {
    let _ = req;
    error::problem(
        StatusCode::NOT_FOUND,
        "not_found",
        "Not found",
        "no such route",
    )
}

async fn method_not_allowed() -> HttpResponse {
    error::problem(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "Method not allowed",
        "ingest accepts POST, PUT and PATCH",
    )
}

/// A queue record by id, through the node's short cache.
async fn load_queue(state: &AppState, id: &str) -> Result<Arc<Queue>, ApiError> {
    if !ids::is_valid(id, "q_") {
        return Err(ApiError::NotFound);
    }
    if let Some(q) = state.queues.get(id) {
        return Ok(q);
    }
    let q = Arc::new(state.store.queue(id).await?.ok_or(ApiError::NotFound)?);
    state.queues.put(id, q.clone());
    Ok(q)
}

/// A queue of the caller's tenant that the token may touch; 404 otherwise.
async fn tenant_queue(state: &AppState, c: &Claims, id: &str) -> Result<Arc<Queue>, ApiError> {
    let q = load_queue(state, id).await?;
    if q.tenant_id != c.sub || !c.allows_queue(&q.id) {
        return Err(ApiError::NotFound);
    }
    Ok(q)
}

/// A source of the caller's tenant; 404 otherwise.
async fn tenant_source(state: &AppState, c: &Claims, id: &str) -> Result<Source, ApiError> {
    if !ids::is_valid(id, "src_") {
        return Err(ApiError::NotFound);
    }
    match state.store.source(id).await? {
        Some(s) if s.tenant_id == c.sub => Ok(s),
        _ => Err(ApiError::NotFound),
    }
}

/// Page size from `?limit=`, bounded.
fn page_limit(limit: Option<u64>, default: u64, max: u64) -> Result<u64, ApiError> {
    match limit {
        None => Ok(default),
        Some(l) if (1..=max).contains(&l) => Ok(l),
        Some(_) => Err(ApiError::bad(format!("limit must be 1..={max}"))),
    }
}
