//! The API contract: the OpenAPI document is complete (every route, ids of
//! the form `entity.verb`, tags, summaries, problem+json errors), equal to
//! the committed `openapi/openapi.json`, and served offline with its docs.

use std::collections::BTreeSet;

use crate::common::*;
use hookbay::http::V1_ROUTES;
use serde_json::Value;

fn document() -> Value {
    serde_json::from_str(&hookbay::http::openapi::json()).unwrap()
}

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

#[test]
fn committed_document_is_current() {
    let committed =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json"))
            .expect("openapi/openapi.json is committed");
    let generated = hookbay::http::openapi::json();
    assert!(
        committed.trim_end() == generated.trim_end(),
        "openapi/openapi.json is stale: refresh it with `cargo run -- openapi > openapi/openapi.json`"
    );
}

#[test]
fn every_route_is_documented_and_nothing_else() {
    let doc = document();
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for m in METHODS {
            if item.get(m).is_some() {
                documented.insert((m.to_string(), path.clone()));
            }
        }
    }
    let mut routed: BTreeSet<(String, String)> = V1_ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    for (m, p) in [
        ("get", "/healthz"),
        ("get", "/readyz"),
        ("get", "/metrics"),
        ("post", "/in/{key}"),
        ("put", "/in/{key}"),
        ("patch", "/in/{key}"),
        ("get", "/in/{key}"),
    ] {
        routed.insert((m.into(), p.into()));
    }
    assert_eq!(
        documented, routed,
        "the document and the route table differ"
    );
}

#[test]
fn operations_have_ids_tags_summaries_and_problem_errors() {
    let doc = document();
    let mut ids = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for m in METHODS {
            let Some(op) = item.get(m) else { continue };
            let at = format!("{m} {path}");
            let id = op["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{at}: no operationId"));
            let (entity, verb) = id
                .split_once('.')
                .unwrap_or_else(|| panic!("{at}: {id} is not entity.verb"));
            for part in [entity, verb] {
                assert!(
                    !part.is_empty()
                        && part.chars().next().unwrap().is_ascii_lowercase()
                        && part.chars().all(|c| c.is_ascii_alphanumeric()),
                    "{at}: {id} is not entity.verb"
                );
            }
            assert!(
                ids.insert(id.to_string()),
                "{at}: duplicate operationId {id}"
            );
            assert!(
                op["tags"].as_array().is_some_and(|t| !t.is_empty()),
                "{at}: no tag"
            );
            assert!(
                op["summary"].as_str().is_some_and(|s| !s.is_empty()),
                "{at}: no summary"
            );
            let responses = op["responses"].as_object().unwrap();
            let mut problems = 0;
            for (code, r) in responses {
                if code.starts_with('4') || code.starts_with('5') {
                    let schema = &r["content"]["application/problem+json"]["schema"]["$ref"];
                    assert_eq!(
                        schema, "#/components/schemas/Problem",
                        "{at} {code}: not problem+json"
                    );
                    problems += 1;
                }
            }
            assert!(problems >= 1, "{at}: no problem+json error response");
        }
    }
    for id in [
        "queue.next",
        "message.replay",
        "queue.stream",
        "lease.settle",
    ] {
        assert!(ids.contains(id), "{id} missing");
    }
    for scheme in ["tenant", "admin", "accessToken", "leaseToken"] {
        assert!(
            doc["components"]["securitySchemes"].get(scheme).is_some(),
            "{scheme}"
        );
    }
}

async fn served_document_and_offline_docs(b: Backend) {
    let store = Storage::start(b);
    let relay = Relay::start(&store).await;
    let served: Value = relay
        .http
        .get(relay.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(served, document());
    let r = relay.http.get(relay.url("/docs/")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains("swagger-ui"), "Swagger UI page");
    // every asset the page loads comes from the relay itself
    for attr in ["src=\"", "href=\""] {
        for part in html.split(attr).skip(1) {
            let url = part.split('"').next().unwrap();
            assert!(
                !url.starts_with("http://")
                    && !url.starts_with("https://")
                    && !url.starts_with("//"),
                "external asset {url}"
            );
        }
    }
    let r = relay
        .http
        .get(relay.url("/docs/swagger-ui-bundle.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "bundled assets are served");
}

/// Property names declared in the AsyncAPI document (two-space-indented
/// YAML keys under `properties:`).
fn asyncapi_properties(yaml: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut in_props: Option<usize> = None;
    for line in yaml.lines() {
        let indent = line.len() - line.trim_start().len();
        let key = line.trim().strip_suffix(':').map(str::to_string);
        if line.trim() == "properties:" {
            in_props = Some(indent);
            continue;
        }
        if let Some(base) = in_props {
            if indent <= base && !line.trim().is_empty() {
                in_props = None;
            } else if indent == base + 2 {
                if let Some(k) = key {
                    out.insert(k);
                }
            }
        }
    }
    out
}

async fn asyncapi_document_matches_the_events_sent(b: Backend) {
    let yaml = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/openapi/asyncapi.yaml"
    ))
    .unwrap();
    assert!(yaml.starts_with("asyncapi: 3."));
    let declared = asyncapi_properties(&yaml);
    let store = Storage::start(b);
    let relay = Relay::start(&store).await;
    let t = relay.tenant().await;
    let (src, ingest) = relay.source(&t, serde_json::json!({})).await;
    let q = relay.queue(&t, &src, serde_json::json!({})).await;
    relay.ingest(&ingest, "application/json", "{}").await;
    let mut sse = Sse::connect(
        &relay,
        &relay.url(&format!("/v1/queues/{q}/stream?access_token={}", t.token)),
    )
    .await;
    let e = sse.next_event().await.unwrap();
    let mut sent: Vec<String> = e.data.as_object().unwrap().keys().cloned().collect();
    sent.extend(e.data["meta"].as_object().unwrap().keys().cloned());
    for k in &sent {
        assert!(
            declared.contains(k),
            "field {k} sent but not in openapi/asyncapi.yaml"
        );
    }
    // and the OpenAPI schema of the event agrees too
    let doc = document();
    let props = |name: &str| -> BTreeSet<String> {
        doc["components"]["schemas"][name]["properties"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect()
    };
    let mut openapi_fields = props("StreamEvent");
    openapi_fields.extend(props("Meta"));
    let sent: BTreeSet<String> = sent.into_iter().collect();
    assert_eq!(
        sent, openapi_fields,
        "StreamEvent/Meta schemas vs the emitted event"
    );
}

crate::both!(
    served_document_and_offline_docs,
    asyncapi_document_matches_the_events_sent,
);
