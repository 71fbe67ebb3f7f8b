//! Routing: what a message is (its event type) and where it goes (the
//! queues whose filters it matches). Decided at ingest, before the store's
//! one atomic write, from the node's view of the source's queues; the view
//! carries the source's routing version, which the store checks in the same
//! atomic step, so a queue created, changed or deleted meanwhile on any node
//! makes the ingest re-route instead of using a stale view.

pub mod filter;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use filter::Filter;

use crate::model::{header_map, Queue};

/// Longest event type kept (longer values are cut at a character boundary).
pub const MAX_EVENT_TYPE: usize = 256;

/// Where a source reads a message's event type (overrides the preset's).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EventTypeRule {
    /// Request header whose value is the event type (case-insensitive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<String>,
    /// JSON pointer into the body (`/type`); strings and numbers count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json_pointer: Option<String>,
}

impl EventTypeRule {
    pub fn validate(&self) -> Result<(), String> {
        match (&self.header, &self.json_pointer) {
            (Some(h), None) if !h.is_empty() && h.len() <= 256 => Ok(()),
            (None, Some(p)) if p.starts_with('/') && p.len() <= 256 => Ok(()),
            _ => {
                Err("eventType needs exactly one of header or jsonPointer (starting with /)".into())
            }
        }
    }

    /// The event type of a delivery under this rule.
    pub fn read(&self, headers: &[(String, String)], body: &[u8]) -> Option<String> {
        if let Some(h) = &self.header {
            return headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(h))
                .map(|(_, v)| v.trim().to_string());
        }
        let ptr = self.json_pointer.as_deref()?;
        let v: Value = serde_json::from_slice(body).ok()?;
        scalar(v.pointer(ptr)?)
    }
}

/// A JSON string or number as text; anything else is no event type.
pub fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Cut an event type to `MAX_EVENT_TYPE` bytes; empty means none.
pub fn clean_event_type(t: Option<String>) -> Option<String> {
    let mut t = t?;
    if t.len() > MAX_EVENT_TYPE {
        let mut end = MAX_EVENT_TYPE;
        while !t.is_char_boundary(end) {
            end -= 1;
        }
        t.truncate(end);
    }
    (!t.is_empty()).then_some(t)
}

/// Whether a content type says JSON (`application/json`, `…+json`).
pub fn is_json(content_type: Option<&str>) -> bool {
    let Some(ct) = content_type else { return false };
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json" || essence.ends_with("+json")
}

/// What a filter sees of a message.
pub struct Subject<'a> {
    pub method: &'a str,
    pub path: &'a str,
    /// Raw query string (first value of each parameter counts).
    pub query: &'a str,
    pub headers: &'a [(String, String)],
    pub event_type: Option<&'a str>,
    pub content_type: Option<&'a str>,
    pub body: &'a [u8],
}

impl Subject<'_> {
    /// The document filters match: `{"method", "path", "query", "headers",
    /// "eventType", "body"}`. `body` is there only when the content type is
    /// JSON and it parses.
    pub fn document(&self, with_body: bool) -> Value {
        let body = filter::field_bit("body");
        let all = if with_body { u8::MAX } else { !body };
        self.document_of(all)
    }

    /// The document with only the fields in `uses` (bits of
    /// `filter::field_bit`): building the others costs, and parsing the
    /// body most of all.
    pub fn document_of(&self, uses: u8) -> Value {
        let has = |f: &str| uses & filter::field_bit(f) != 0;
        let mut doc = Map::new();
        if has("method") {
            doc.insert("method".into(), Value::String(self.method.into()));
        }
        if has("path") {
            doc.insert("path".into(), Value::String(self.path.into()));
        }
        if has("query") {
            let mut query = Map::new();
            for (k, v) in url::form_urlencoded::parse(self.query.as_bytes()) {
                query
                    .entry(k.into_owned())
                    .or_insert_with(|| Value::String(v.into_owned()));
            }
            doc.insert("query".into(), Value::Object(query));
        }
        if has("headers") {
            let headers: Map<String, Value> = header_map(self.headers)
                .into_iter()
                .map(|(k, v)| (k.to_string(), Value::String(v)))
                .collect();
            doc.insert("headers".into(), Value::Object(headers));
        }
        if has("eventType") {
            doc.insert(
                "eventType".into(),
                self.event_type
                    .map(|t| Value::String(t.into()))
                    .unwrap_or(Value::Null),
            );
        }
        if has("body") && is_json(self.content_type) {
            if let Ok(b) = serde_json::from_slice::<Value>(self.body) {
                doc.insert("body".into(), b);
            }
        }
        Value::Object(doc)
    }
}

/// Check one filter against a subject document: `Err(reason)` names the
/// first failing path. A filter that looks into the body never matches a
/// body that is not JSON.
pub fn check(f: &Filter, doc: &Value) -> Result<(), String> {
    if f.uses_body() && doc.get("body").is_none() {
        return Err("body: not JSON (the filter looks into the body)".into());
    }
    f.check(doc)
}

/// One queue of a source as routing sees it.
#[derive(Debug, Clone)]
pub struct Route {
    pub queue_id: String,
    pub filter: Option<Filter>,
}

/// A source's queues with the routing version they were read at.
#[derive(Debug, Clone, Default)]
pub struct Routes {
    pub version: u64,
    pub queues: Vec<Route>,
}

impl Routes {
    /// Build from queue records. A stored filter that no longer compiles
    /// (it was valid when saved) lets everything through rather than lose
    /// messages.
    pub fn new(version: u64, queues: &[Queue]) -> Routes {
        Routes {
            version,
            queues: queues
                .iter()
                .map(|q| Route {
                    queue_id: q.id.clone(),
                    filter: q.filter.as_ref().and_then(|f| Filter::compile(f).ok()),
                })
                .collect(),
        }
    }

    /// The queues whose filter the message does not match, each with
    /// `false` (every other queue — unfiltered, matching, or one the store
    /// knows and this view does not — gets it). Nothing to decide — no
    /// allocation, no document — when no queue has a filter.
    pub fn decide(&self, s: &Subject<'_>) -> Vec<(String, bool)> {
        let uses = self
            .queues
            .iter()
            .filter_map(|r| r.filter.as_ref())
            .fold(0, |u, f| u | f.uses());
        if !self.queues.iter().any(|r| r.filter.is_some()) {
            return Vec::new();
        }
        let doc = s.document_of(uses);
        // only the queues the message does not go to: the store delivers to
        // every other queue, so a message that matches every filter costs
        // the store call nothing extra
        self.queues
            .iter()
            .filter_map(|r| {
                let f = r.filter.as_ref()?;
                check(f, &doc).is_err().then(|| (r.queue_id.clone(), false))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_type_rules() {
        let h = vec![("x-event".to_string(), " push ".to_string())];
        let by_header = EventTypeRule {
            header: Some("X-Event".into()),
            json_pointer: None,
        };
        assert_eq!(by_header.read(&h, b""), Some("push".into()));
        let by_ptr = EventTypeRule {
            header: None,
            json_pointer: Some("/a/b".into()),
        };
        assert_eq!(by_ptr.read(&h, br#"{"a":{"b":"x.y"}}"#), Some("x.y".into()));
        assert_eq!(by_ptr.read(&h, br#"{"a":{"b":7}}"#), Some("7".into()));
        assert_eq!(by_ptr.read(&h, br#"{"a":{"b":{}}}"#), None);
        assert_eq!(by_ptr.read(&h, b"not json"), None);
        assert!(EventTypeRule {
            header: Some("a".into()),
            json_pointer: Some("/a".into())
        }
        .validate()
        .is_err());
        assert!(by_ptr.validate().is_ok());
        assert_eq!(clean_event_type(Some(String::new())), None);
        assert_eq!(clean_event_type(Some("é".repeat(200))).unwrap().len(), 256);
    }

    #[test]
    fn subject_documents() {
        let headers = vec![
            ("x-a".to_string(), "1".to_string()),
            ("x-a".to_string(), "2".to_string()),
        ];
        let s = Subject {
            method: "POST",
            path: "p",
            query: "a=1&a=2&b=%20x",
            headers: &headers,
            event_type: None,
            content_type: Some("application/vnd.api+json; charset=utf-8"),
            body: br#"{"k":1}"#,
        };
        let d = s.document(true);
        assert_eq!(d["query"], serde_json::json!({"a": "1", "b": " x"}));
        assert_eq!(d["headers"]["x-a"], "1, 2");
        assert_eq!(d["eventType"], Value::Null);
        assert_eq!(d["body"]["k"], 1);
        assert!(s.document(false).get("body").is_none());
        let f = Filter::compile(&serde_json::json!({"body": {"$exists": false}})).unwrap();
        let text = Subject {
            content_type: Some("text/plain"),
            ..s
        };
        assert!(check(&f, &text.document(true)).is_err());
    }
}
