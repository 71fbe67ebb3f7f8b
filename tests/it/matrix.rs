//! Route matrices derived from the route table (`V1_ROUTES`): a route added
//! without an entry here fails these tests.
//!
//! - isolation: tenant B's all-scope token against every route aimed at
//!   tenant A's resources → 404 (or refused as operator-only), and A's state
//!   is unchanged;
//! - scopes: each single-scope token is allowed exactly on its routes.

use crate::common::*;
use hookbay::http::V1_ROUTES;
use serde_json::{json, Value};

struct Fixture {
    tenant: Tenant,
    source: String,
    queue: String,
    message: String,
    token_id: String,
    ingest: String,
}

async fn fixture(relay: &Relay) -> Fixture {
    let tenant = relay.tenant().await;
    let (source, ingest) = relay.source(&tenant, json!({})).await;
    let queue = relay.queue(&tenant, &source, json!({})).await;
    let message = relay.ingest(&ingest, "text/plain", "hello").await;
    let r = relay
        .admin_post(
            &format!("/v1/tenants/{}/tokens", tenant.id),
            json!({"scopes": ["read"]}),
        )
        .await;
    let token_id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    Fixture {
        tenant,
        source,
        queue,
        message,
        token_id,
        ingest,
    }
}

fn concrete(path: &str, f: &Fixture) -> String {
    path.replace("{tenant_id}", &f.tenant.id)
        .replace("{token_id}", &f.token_id)
        .replace("{source_id}", &f.source)
        .replace("{queue_id}", &f.queue)
        .replace("{message_id}", &f.message)
        .replace("{op}", "ack")
}

/// A valid body for each route, so a refusal is never a validation error.
fn body(method: &str, path: &str, f: &Fixture, scope: &str) -> Option<Value> {
    Some(match (method, path) {
        ("post", "/v1/tenants") => json!({"name": "x"}),
        ("patch", "/v1/tenants/{tenant_id}") => json!({"name": "x"}),
        ("post", "/v1/tenants/{tenant_id}/tokens") => json!({"scopes": [scope]}),
        ("post", "/v1/sources") => json!({"name": "x", "verification": {"type": "none"}}),
        ("patch", "/v1/sources/{source_id}") => json!({"name": "x"}),
        ("post", "/v1/queues") => json!({"sourceId": f.source, "name": "x"}),
        ("patch", "/v1/queues/{queue_id}") => json!({"name": "x"}),
        ("post", "/v1/queues/{queue_id}/replay") => json!({"deadLetters": true}),
        ("post", "/v1/queues/{queue_id}/filter/test") => json!({"sample": {}}),
        ("post", "/v1/queues/{queue_id}/lease") => json!({"max": 1}),
        ("post", "/v1/queues/{queue_id}/settle") => {
            json!({"items": [{"token": "x", "outcome": "ack"}]})
        }
        _ => return None,
    })
}

async fn call(relay: &Relay, token: &str, method: &str, url: &str, body: Option<Value>) -> u16 {
    let m = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
    let mut r = relay.http.request(m, relay.url(url)).bearer_auth(token);
    if let Some(b) = body {
        r = r.json(&b);
    }
    r.send().await.unwrap().status().as_u16()
}

/// A's observable state, to prove B changed nothing.
async fn snapshot(relay: &Relay, f: &Fixture) -> Vec<Value> {
    let t = &f.tenant.token;
    let mut v = vec![];
    for p in [
        format!("/v1/tenants/{}", f.tenant.id),
        format!("/v1/sources/{}", f.source),
        format!("/v1/queues/{}", f.queue),
        format!("/v1/messages/{}", f.message),
        format!("/v1/tenants/{}/tokens", f.tenant.id),
        "/v1/sources".into(),
        "/v1/queues".into(),
    ] {
        let mut j = relay.get_json(t, &p).await;
        if let Some(c) = j.get_mut("counts").and_then(|c| c.as_object_mut()) {
            c.remove("oldestReadyAgeSeconds"); // grows with time, not with B
        }
        v.push(j);
    }
    v
}

async fn tenant_b_cannot_touch_tenant_a_on_any_route(b: Backend) {
    let store = Storage::start(b);
    let relay = Relay::start(&store).await;
    let a = fixture(&relay).await;
    let b = fixture(&relay).await;
    let before = snapshot(&relay, &a).await;
    // B's own lease token, aimed at A's queue and message
    let bd = relay.next(&b.tenant, &b.queue, "").await.unwrap();
    let b_lease = bd.meta["ackUrl"]
        .as_str()
        .unwrap()
        .split("token=")
        .nth(1)
        .unwrap()
        .to_string();

    for (method, path) in V1_ROUTES {
        let url = concrete(path, &a);
        let expect: &[u16] = match (*method, *path) {
            // operator-only routes refuse tenant tokens outright
            ("post", "/v1/tenants") | ("get", "/v1/tenants") => &[403],
            // B acting in its own tenant; checked for leaks below
            ("post", "/v1/sources") => &[201],
            ("get", "/v1/sources") | ("get", "/v1/queues") | ("get", "/v1/providers") => &[200],
            // A's source id in the body
            ("post", "/v1/queues") => &[404],
            ("post", "/v1/queues/{queue_id}/messages/{message_id}/{op}") => {
                let status = relay
                    .http
                    .post(relay.url(&format!("{url}?token={b_lease}")))
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16();
                assert_eq!(status, 404, "{method} {path}");
                continue;
            }
            (_, p) if p.contains('{') => &[404],
            other => panic!("no isolation case for route {other:?}: add one"),
        };
        let status = call(
            &relay,
            &b.tenant.token,
            method,
            &url,
            body(method, path, &a, "read"),
        )
        .await;
        assert!(
            expect.contains(&status),
            "{method} {path}: {status}, expected {expect:?}"
        );
        if *method == "get" && (*path == "/v1/sources" || *path == "/v1/queues") {
            let listed = relay.get_json(&b.tenant.token, path).await.to_string();
            assert!(
                !listed.contains(&a.source) && !listed.contains(&a.queue),
                "{path} leaks A"
            );
        }
    }
    assert_eq!(snapshot(&relay, &a).await, before, "A's state changed");
    // A's ingest still works and the message is still there to consume
    relay.ingest(&a.ingest, "text/plain", "after").await;
    assert_eq!(
        relay.next(&a.tenant, &a.queue, "").await.unwrap().body,
        b"hello"
    );
}

/// Which scopes each route accepts; `None`: operator only; `Some(&[])`:
/// a capability URL (no bearer scope involved).
fn scopes_for(method: &str, path: &str) -> Option<&'static [&'static str]> {
    Some(match (method, path) {
        ("post", "/v1/tenants") | ("get", "/v1/tenants") => return None,
        ("patch", "/v1/tenants/{tenant_id}") | ("delete", "/v1/tenants/{tenant_id}") => {
            return None
        }
        ("get", "/v1/tenants/{tenant_id}") => &["manage", "read"],
        (_, p) if p.starts_with("/v1/tenants/{tenant_id}/tokens") => &["manage"],
        ("get", "/v1/sources") | ("get", "/v1/sources/{source_id}") => &["manage", "read"],
        ("get", "/v1/sources/{source_id}/messages") | ("get", "/v1/sources/{source_id}/tail") => {
            &["read"]
        }
        (_, "/v1/sources") | (_, "/v1/sources/{source_id}") => &["manage"],
        ("get", "/v1/queues") | ("get", "/v1/queues/{queue_id}") => &["manage", "read"],
        (_, "/v1/queues") | (_, "/v1/queues/{queue_id}") => &["manage"],
        ("get", "/v1/queues/{queue_id}/next")
        | ("get", "/v1/queues/{queue_id}/stream")
        | ("post", "/v1/queues/{queue_id}/lease")
        | ("post", "/v1/queues/{queue_id}/settle") => &["consume"],
        ("get", "/v1/queues/{queue_id}/dead-letters") => &["read", "replay"],
        ("post", "/v1/queues/{queue_id}/replay") => &["replay"],
        ("post", "/v1/queues/{queue_id}/filter/test") => &["read"],
        ("get", "/v1/providers") => &["manage", "read"],
        ("post", "/v1/queues/{queue_id}/messages/{message_id}/{op}") => &[],
        ("get", "/v1/messages/{message_id}") => &["read"],
        other => panic!("no scope case for route {other:?}: add one"),
    })
}

async fn each_scope_allows_exactly_its_routes(b: Backend) {
    let store = Storage::start(b);
    let relay = Relay::start(&store).await;
    for (method, path) in V1_ROUTES {
        let Some(allowed) = scopes_for(method, path) else {
            // operator-only: every tenant scope is refused, the operator is not
            let f = fixture(&relay).await;
            let url = concrete(path, &f);
            for scope in ["manage", "consume", "replay", "read"] {
                let tok = relay.token(&f.tenant.id, json!({"scopes": [scope]})).await;
                let s = call(&relay, &tok, method, &url, body(method, path, &f, scope)).await;
                assert_eq!(s, 403, "{method} {path} with {scope}");
            }
            let s = call(&relay, ADMIN, method, &url, body(method, path, &f, "read")).await;
            assert!(s < 300, "{method} {path} as operator: {s}");
            continue;
        };
        if allowed.is_empty() {
            continue; // capability URL: covered by the lease-token tests
        }
        for scope in ["manage", "consume", "replay", "read"] {
            // fresh resources: some allowed calls delete things
            let f = fixture(&relay).await;
            let tok = relay.token(&f.tenant.id, json!({"scopes": [scope]})).await;
            let url = concrete(path, &f);
            let s = call(&relay, &tok, method, &url, body(method, path, &f, scope)).await;
            let ok = !matches!(s, 401 | 403);
            assert_eq!(
                ok,
                allowed.contains(&scope),
                "{method} {path} with {scope}: {s}"
            );
            if ok {
                assert!(s < 300, "{method} {path} with {scope}: {s}");
            }
        }
    }
}

crate::both!(
    tenant_b_cannot_touch_tenant_a_on_any_route,
    each_scope_allows_exactly_its_routes,
);
