//! `POST /v1/queues/{queueId}/filter/test`: would this message (a stored
//! one, or a sample) be delivered to the queue under its filter, or under
//! a filter being drafted?

use std::collections::BTreeMap;

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::auth::Principal;
use super::error::{parse_json, ApiError};
use super::{tenant_queue, Data};
use crate::ids;
use crate::model::Scope;
use crate::routing::{check, Filter};

/// A message made up for the test; every part is optional.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Sample {
    /// Header name → value (names are matched lower-case).
    #[serde(default)]
    headers: BTreeMap<String, String>,
    /// The body as JSON (omit for a non-JSON body).
    #[schema(value_type = Option<Object>)]
    body: Option<Value>,
    method: Option<String>,
    path: Option<String>,
    /// Parameter → value.
    #[serde(default)]
    query: BTreeMap<String, String>,
    event_type: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FilterTest {
    /// A stored message of the queue's source…
    message_id: Option<String>,
    /// …or a sample message.
    sample: Option<Sample>,
    /// A filter to try instead of the queue's own.
    #[schema(value_type = Option<Object>)]
    filter: Option<Value>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct FilterResult {
    pub matches: bool,
    /// The first failing path and why; `null` when it matches.
    pub reason: Option<String>,
}

impl Sample {
    fn document(self) -> Value {
        let mut doc = Map::new();
        doc.insert(
            "method".into(),
            Value::String(self.method.unwrap_or_else(|| "POST".into())),
        );
        doc.insert("path".into(), Value::String(self.path.unwrap_or_default()));
        doc.insert(
            "query".into(),
            Value::Object(
                self.query
                    .into_iter()
                    .map(|(k, v)| (k, Value::String(v)))
                    .collect(),
            ),
        );
        doc.insert(
            "headers".into(),
            Value::Object(
                self.headers
                    .into_iter()
                    .map(|(k, v)| (k.to_ascii_lowercase(), Value::String(v)))
                    .collect(),
            ),
        );
        doc.insert(
            "eventType".into(),
            self.event_type.map(Value::String).unwrap_or(Value::Null),
        );
        if let Some(b) = self.body {
            doc.insert("body".into(), b);
        }
        Value::Object(doc)
    }
}

#[utoipa::path(post, path = "/v1/queues/{queue_id}/filter/test", tag = "queues", operation_id = "queue.testFilter", summary = "Would a message be delivered to this queue?", description = "Give `messageId` (a stored message of the queue's source) or `sample`; optionally `filter` to try a draft instead of the queue's own. A queue without a filter matches everything.", params(("queue_id" = String, Path, description = "Queue id (q_…)")), request_body = FilterTest, responses((status = 200, body = FilterResult), (status = 400, body = super::openapi::Problem, content_type = "application/problem+json", description = "Invalid filter (the detail names the path) or request")), security(("tenant" = ["read"])))]
pub async fn test(
    state: Data,
    who: Principal,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let c = who.tenant(&[Scope::Read])?;
    let b: FilterTest = parse_json(&body, false)?;
    let queue = tenant_queue(&state, c, &path).await?;
    let filter = match b.filter.as_ref().or(queue.filter.as_ref()) {
        Some(doc) => Some(Filter::compile(doc).map_err(ApiError::bad)?),
        None => None,
    };
    let doc = match (b.message_id, b.sample) {
        (Some(id), None) => {
            let m = match ids::parse_message_id(&id) {
                Some((src, sid)) if src == queue.source_id => {
                    state.store.message(&src, &sid).await?
                }
                _ => None,
            }
            .ok_or(ApiError::NotFound)?;
            crate::service::routing::document(&m, true)
        }
        (None, Some(s)) => s.document(),
        _ => return Err(ApiError::bad("give exactly one of messageId or sample")),
    };
    let outcome = match &filter {
        None => Ok(()),
        Some(f) => check(f, &doc),
    };
    Ok(HttpResponse::Ok().json(FilterResult {
        matches: outcome.is_ok(),
        reason: outcome.err(),
    }))
}
