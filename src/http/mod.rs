//! The HTTP layer: one route table, thin handlers that authenticate, validate
//! and call the store. Handlers live in one file per area.

pub mod access;
mod auth;
mod batch;
mod consume;
pub mod error;
mod filters;
pub mod guard;
mod health;
mod ingest;
mod meta;
pub mod openapi;
mod ops;
mod providers;
mod queues;
mod sources;
mod stream;
mod tail;
mod tenants;
mod tokens;

use std::sync::Arc;

use actix_web::{http::StatusCode, web, HttpResponse};

use crate::auth::Claims;
use crate::ids;
use crate::metrics;
use crate::model::{Limits, Queue, Source};
use crate::state::AppState;
use error::ApiError;

type Data = web::Data<AppState>;

/// Declares the `/v1` API once: the actix routes and the `V1_ROUTES` list
/// that tests walk (so a new route without a test fails).
macro_rules! v1_routes {
    ($( $method:ident $path:literal => $handler:path ),* $(,)?) => {
        /// Every `/v1` route as (method, path pattern).
        pub const V1_ROUTES: &[(&str, &str)] = &[ $( (stringify!($method), concat!("/v1", $path)) ),* ];

        fn v1(cfg: &mut web::ServiceConfig) {
            $( cfg.route($path, web::$method().to($handler)); )*
        }
    };
}

// actix tries the routes in this order, a pattern match each: the consumer
// hot path (a settle or a lease per message) comes first
v1_routes! {
    post "/queues/{queue_id}/messages/{message_id}/{op}" => consume::settle,
    get "/queues/{queue_id}/next" => consume::next,
    get "/queues/{queue_id}/stream" => stream::stream,
    post "/queues/{queue_id}/lease" => batch::lease,
    post "/queues/{queue_id}/settle" => batch::settle,
    post "/tenants" => tenants::create,
    get "/tenants" => tenants::list,
    get "/tenants/{tenant_id}" => tenants::get,
    patch "/tenants/{tenant_id}" => tenants::patch,
    delete "/tenants/{tenant_id}" => tenants::delete,
    post "/tenants/{tenant_id}/tokens" => tokens::create,
    get "/tenants/{tenant_id}/tokens" => tokens::list,
    delete "/tenants/{tenant_id}/tokens/{token_id}" => tokens::revoke,
    get "/providers" => providers::list,
    post "/sources" => sources::create,
    get "/sources" => sources::list,
    get "/sources/{source_id}" => sources::get,
    patch "/sources/{source_id}" => sources::patch,
    delete "/sources/{source_id}" => sources::delete,
    get "/sources/{source_id}/messages" => ops::history,
    get "/sources/{source_id}/tail" => tail::tail,
    post "/queues" => queues::create,
    get "/queues" => queues::list,
    get "/queues/{queue_id}" => queues::get,
    patch "/queues/{queue_id}" => queues::patch,
    delete "/queues/{queue_id}" => queues::delete,
    get "/queues/{queue_id}/dead-letters" => ops::dead_letters,
    post "/queues/{queue_id}/replay" => ops::replay,
    post "/queues/{queue_id}/filter/test" => filters::test,
    get "/messages/{message_id}" => ops::message,
}

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
                .route(web::head().to(ingest::probe))
                .default_service(web::to(method_not_allowed)),
        )
        .service(web::scope("/v1").configure(v1))
        .default_service(web::to(not_found));
}

/// Query-string errors as problem+json.
pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default()
        .error_handler(|e, _| ApiError::bad(format!("invalid query string: {e}")).into())
}

async fn not_found() -> HttpResponse {
    error::problem(
        StatusCode::NOT_FOUND,
        "not_found",
        "Not found",
        "no such route",
    )
}

/// `/docs` → `/docs/` (Swagger UI, served from the binary: no internet).
pub async fn docs_redirect() -> HttpResponse {
    HttpResponse::PermanentRedirect()
        .insert_header(("Location", "/docs/"))
        .finish()
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

/// A tenant's effective limits, through the node's short cache. A deleted
/// tenant answers 404.
async fn tenant_limits(state: &AppState, tenant_id: &str) -> Result<Limits, ApiError> {
    let t = match state.tenants.get(tenant_id) {
        Some(t) => t,
        None => {
            let t = Arc::new(
                state
                    .store
                    .tenant(tenant_id)
                    .await?
                    .ok_or(ApiError::NotFound)?,
            );
            state.tenants.put(tenant_id, t.clone());
            t
        }
    };
    Ok(state.settings.limits.with(&t.limits))
}

/// Take one request from the tenant's shared `kind` bucket, or 429.
async fn rate_limit(
    state: &AppState,
    tenant_id: &str,
    kind: &'static str,
    per_second: u64,
) -> Result<(), ApiError> {
    match state
        .rates
        .check(&state.store, tenant_id, kind, per_second)
        .await?
    {
        None => Ok(()),
        Some(wait_ms) => {
            metrics::rate_limited(kind);
            Err(ApiError::TooManyRequests(wait_ms.div_ceil(1000).max(1)))
        }
    }
}

/// The consumer API's rate limit for a tenant.
async fn consume_rate(state: &AppState, tenant_id: &str) -> Result<(), ApiError> {
    let l = tenant_limits(state, tenant_id).await?;
    rate_limit(state, tenant_id, "consume", l.consume_per_second).await
}

/// Page size from `?limit=`, bounded.
fn page_limit(limit: Option<u64>, default: u64, max: u64) -> Result<u64, ApiError> {
    match limit {
        None => Ok(default),
        Some(l) if (1..=max).contains(&l) => Ok(l),
        Some(_) => Err(ApiError::bad(format!("limit must be 1..={max}"))),
    }
}

/// A duration given in seconds (fractional allowed: `wait=2.5`,
/// `"delaySeconds": 0.25`) as whole milliseconds, within `min..=max`
/// seconds; anything else (negative, NaN, too large) is a 400 naming it.
pub(crate) fn seconds_ms(v: f64, name: &str, min: u64, max: u64) -> Result<u64, ApiError> {
    if v.is_finite() && v >= min as f64 && v <= max as f64 {
        Ok((v * 1000.0).round() as u64)
    } else {
        Err(ApiError::bad(format!(
            "{name} must be {min}..={max} seconds"
        )))
    }
}
