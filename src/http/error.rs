//! API errors as RFC 9457 `application/problem+json`. Each variant has a
//! stable `code` clients can switch on; details never carry secrets.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("missing, invalid or expired credentials")]
    Unauthorized,
    #[error("{0}")]
    Forbidden(String),
    #[error("no such resource")]
    NotFound,
    #[error("{0}")]
    Conflict(String),
    #[error("the body is larger than this source accepts ({0} bytes)")]
    TooLarge(u64),
    #[error("{0}")]
    QuotaExceeded(String),
    #[error("rate limit exceeded; retry after {0} s")]
    TooManyRequests(u64),
    #[error("this endpoint does not accept that method")]
    MethodNotAllowed,
    #[error("storage is unavailable; retry shortly")]
    Unavailable,
    #[error("internal error")]
    Internal,
    /// The store refused the operation in a way a retry will not change.
    #[error("the store failed this operation; retrying will not help")]
    StoreFailed,
    /// Stored data could not be decoded.
    #[error("stored data could not be decoded")]
    StoreCorrupt,
    #[error("the request headers are larger than {0} bytes")]
    HeadersTooLarge(usize),
}

impl ApiError {
    fn code_title(&self) -> (&'static str, &'static str) {
        match self {
            ApiError::BadRequest(_) => ("invalid_request", "Invalid request"),
            ApiError::Unauthorized => ("unauthorized", "Unauthorized"),
            ApiError::Forbidden(_) => ("forbidden", "Forbidden"),
            ApiError::NotFound => ("not_found", "Not found"),
            ApiError::Conflict(_) => ("conflict", "Conflict"),
            ApiError::TooLarge(_) => ("payload_too_large", "Payload too large"),
            ApiError::QuotaExceeded(_) => ("quota_exceeded", "Quota exceeded"),
            ApiError::TooManyRequests(_) => ("rate_limited", "Too many requests"),
            ApiError::MethodNotAllowed => ("method_not_allowed", "Method not allowed"),
            ApiError::Unavailable => ("unavailable", "Service unavailable"),
            ApiError::Internal => ("internal", "Internal error"),
            ApiError::StoreFailed => ("store_error", "Storage error"),
            ApiError::StoreCorrupt => ("store_corrupt", "Corrupt stored data"),
            ApiError::HeadersTooLarge(_) => {
                ("headers_too_large", "Request header fields too large")
            }
        }
    }

    pub fn bad(msg: impl Into<String>) -> ApiError {
        ApiError::BadRequest(msg.into())
    }
}

/// Build a problem+json response (also used for handler-less errors).
pub fn problem(status: StatusCode, code: &str, title: &str, detail: &str) -> HttpResponse {
    let body = super::openapi::Problem {
        kind: format!("urn:hookbay:problem:{code}"),
        title: title.into(),
        status: status.as_u16(),
        detail: detail.to_string(),
        code: code.into(),
    };
    let mut r = HttpResponse::build(status);
    r.insert_header((header::CONTENT_TYPE, "application/problem+json"));
    if status == StatusCode::SERVICE_UNAVAILABLE {
        r.insert_header((header::RETRY_AFTER, "1"));
    }
    if status == StatusCode::UNAUTHORIZED {
        r.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
    }
    r.body(serde_json::to_string(&body).unwrap_or_default())
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::QuotaExceeded(_) => StatusCode::CONFLICT,
            ApiError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal | ApiError::StoreFailed | ApiError::StoreCorrupt => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
            ApiError::HeadersTooLarge(_) => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let (code, title) = self.code_title();
        let mut r = problem(self.status_code(), code, title, &self.to_string());
        if let ApiError::TooManyRequests(secs) = self {
            if let Ok(v) = header::HeaderValue::from_str(&secs.to_string()) {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        r
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match &e {
            StoreError::Unavailable(_) => {
                tracing::warn!(error = %e, "store unavailable");
                ApiError::Unavailable
            }
            StoreError::Failed(_) => {
                tracing::error!(error = %e, "store command failed");
                ApiError::StoreFailed
            }
            StoreError::Corrupt(_) => {
                tracing::error!(error = %e, "corrupt stored data");
                ApiError::StoreCorrupt
            }
        }
    }
}

impl From<crate::service::ServiceError> for ApiError {
    fn from(e: crate::service::ServiceError) -> Self {
        use crate::service::ServiceError as S;
        match e {
            S::NotFound => ApiError::NotFound,
            S::Quota(m) => ApiError::QuotaExceeded(m),
            S::Forbidden(m) => ApiError::Forbidden(m),
            S::Invalid(m) => ApiError::BadRequest(m),
            S::Internal => ApiError::Internal,
            S::Store(e) => e.into(),
        }
    }
}

/// Parse a JSON request body strictly; an empty body counts as `{}` when
/// `empty_ok`.
pub fn parse_json<T: serde::de::DeserializeOwned>(
    body: &[u8],
    empty_ok: bool,
) -> Result<T, ApiError> {
    let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        if !empty_ok {
            return Err(ApiError::bad("a JSON body is required"));
        }
        b"{}"
    } else {
        body
    };
    serde_json::from_slice(body).map_err(|e| ApiError::bad(format!("invalid JSON body: {e}")))
}

/// Distinguish a missing field from an explicit `null` in a PATCH body
/// (`#[serde(default, with = "double_option")]`).
pub mod double_option {
    use serde::{Deserialize, Deserializer};
    pub fn deserialize<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(d).map(Some)
    }
}
