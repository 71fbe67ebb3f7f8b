//! Middleware that holds for every route: an upper bound on the request
//! header section (431 before a handler runs, so nothing is read or
//! stored), and problem+json for every error response — including those
//! actix's own extractors and router produce as plain text.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{header, StatusCode};
use actix_web::middleware::Next;
use actix_web::{web, ResponseError};

use super::error::{problem, ApiError};
use crate::state::AppState;

/// Bytes of the header section as sent: `name: value\r\n` per field.
fn header_bytes(req: &ServiceRequest) -> usize {
    req.headers()
        .iter()
        .map(|(n, v)| n.as_str().len() + v.len() + 4)
        .sum()
}

pub async fn header_limit(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let max = req
        .app_data::<web::Data<AppState>>()
        .map(|s| s.settings.max_header_bytes)
        .unwrap_or(16 * 1024);
    if header_bytes(&req) > max {
        let resp = ApiError::HeadersTooLarge(max).error_response();
        return Ok(req.into_response(resp));
    }
    Ok(next.call(req).await?.map_into_boxed_body())
}

fn is_problem(res: &ServiceResponse<impl MessageBody>) -> bool {
    res.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/problem+json"))
}

/// A stable code and a title for a status that reached us without one.
fn code_title(status: StatusCode) -> (&'static str, &'static str) {
    match status.as_u16() {
        400 => ("invalid_request", "Invalid request"),
        401 => ("unauthorized", "Unauthorized"),
        403 => ("forbidden", "Forbidden"),
        404 => ("not_found", "Not found"),
        405 => ("method_not_allowed", "Method not allowed"),
        408 => ("request_timeout", "Request timeout"),
        411 => ("length_required", "Length required"),
        413 => ("payload_too_large", "Payload too large"),
        415 => ("unsupported_media_type", "Unsupported media type"),
        431 => ("headers_too_large", "Request header fields too large"),
        503 => ("unavailable", "Service unavailable"),
        s if s >= 500 => ("internal", "Internal error"),
        _ => ("invalid_request", "Invalid request"),
    }
}

/// Rewrites any error response that is not problem+json yet. A client
/// error keeps actix's own message (bounded, it names what was wrong and
/// carries no secret); a server error gets a generic detail.
pub async fn problem_errors(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let res = match next.call(req).await {
        Ok(r) => r,
        Err(e) => {
            // an error escaped the inner services: answer it here
            let status = e.as_response_error().status_code();
            let (code, title) = code_title(status);
            let detail = if status.is_client_error() {
                e.to_string()
            } else {
                "internal error".to_string()
            };
            return Err(actix_web::error::InternalError::from_response(
                e,
                problem(status, code, title, &detail),
            )
            .into());
        }
    };
    let status = res.status();
    if !(status.is_client_error() || status.is_server_error()) || is_problem(&res) {
        return Ok(res.map_into_boxed_body());
    }
    let (req, old) = res.into_parts();
    // keep what tells the client how to go on
    let kept: Vec<_> = [header::ALLOW, header::RETRY_AFTER, header::WWW_AUTHENTICATE]
        .into_iter()
        .filter_map(|n| old.headers().get(&n).cloned().map(|v| (n, v)))
        .collect();
    let detail = if status.is_client_error() {
        let body = actix_web::body::to_bytes_limited(old.into_body(), 1024)
            .await
            .ok()
            .and_then(|r| r.ok())
            .unwrap_or_default();
        let text = String::from_utf8_lossy(&body).trim().to_string();
        if text.is_empty() {
            status.canonical_reason().unwrap_or("error").to_string()
        } else {
            text
        }
    } else {
        "internal error".to_string()
    };
    let (code, title) = code_title(status);
    let mut fresh = problem(status, code, title, &detail);
    for (n, v) in kept {
        fresh.headers_mut().insert(n, v);
    }
    Ok(ServiceResponse::new(req, fresh))
}
