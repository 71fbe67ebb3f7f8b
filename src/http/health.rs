//! Liveness, readiness and metrics endpoints.

use actix_web::{http::StatusCode, HttpResponse};

use super::{error::problem, Data};

#[utoipa::path(get, path = "/healthz", tag = "ops", operation_id = "health.live", summary = "Process is up", responses((status = 200, body = super::openapi::Status)))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(super::openapi::Status {
        status: "ok".into(),
    })
}

/// Ready only while the store takes writes (Redis answers; the embedded
/// store commits).
#[utoipa::path(get, path = "/readyz", tag = "ops", operation_id = "health.ready", summary = "The store takes writes", responses((status = 200, body = super::openapi::Status)))]
pub async fn readyz(state: Data) -> HttpResponse {
    match state.store.ping().await {
        Ok(()) => HttpResponse::Ok().json(super::openapi::Status {
            status: "ready".into(),
        }),
        Err(_) => problem(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "Not ready",
            &format!("the {} store is not taking writes", state.store.backend()),
        ),
    }
}

#[utoipa::path(get, path = "/metrics", tag = "ops", operation_id = "metrics.get", summary = "Prometheus metrics", responses((status = 200, content_type = "text/plain", body = String)))]
pub async fn metrics() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(crate::metrics::render())
}
