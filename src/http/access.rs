//! Access log (target `hookbay::access`, off at the default filter) with
//! secrets redacted: the ingest key in `/in/{key}` and credential-bearing
//! query parameters never reach a log line.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;

/// Query parameters that carry credentials.
const SECRET_PARAMS: &[&str] = &[
    "token",
    "access_token",
    "hub.verify_token",
    "validationToken",
];

pub fn redact_path(path: &str) -> String {
    match path.strip_prefix("/in/") {
        Some(rest) => match rest.split_once('/') {
            Some((_, tail)) => format!("/in/<key>/{tail}"),
            None => "/in/<key>".into(),
        },
        None => path.to_string(),
    }
}

pub fn redact_query(q: &str) -> String {
    crate::query::redact(q, SECRET_PARAMS)
}

pub async fn log(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if !tracing::enabled!(target: "hookbay::access", tracing::Level::INFO) {
        return next.call(req).await;
    }
    let started = Instant::now();
    let method = req.method().to_string();
    let path = redact_path(req.path());
    let query = redact_query(req.query_string());
    let res = next.call(req).await?;
    tracing::info!(
        target: "hookbay::access",
        method,
        path,
        query,
        status = res.status().as_u16(),
        ms = started.elapsed().as_secs_f64() * 1000.0,
    );
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_keys_and_credentials() {
        assert_eq!(redact_path("/in/abcdef"), "/in/<key>");
        assert_eq!(redact_path("/in/abcdef/github/x"), "/in/<key>/github/x");
        assert_eq!(redact_path("/v1/queues/q_1"), "/v1/queues/q_1");
        assert_eq!(
            redact_query("a=1&token=s3cret&access_token=jwt&b"),
            "a=1&token=<redacted>&access_token=<redacted>&b"
        );
        // percent-encoded names are the same parameters
        assert_eq!(
            redact_query("access%5Ftoken=jwt&%74oken=s"),
            "access%5Ftoken=<redacted>&%74oken=<redacted>"
        );
    }
}
