//! Every `/v1` route (from the route table, so a new route is walked too)
//! against each class of malformed input: bad JSON, wrong types, unknown
//! fields, out-of-range numbers, oversized bodies and headers, non-UTF-8
//! paths and query strings. Each answer must have the exact status and a
//! problem+json body, and nothing may change: the views of every touched
//! resource are compared before and after.

use serde_json::{json, Value};

use crate::common::*;

struct Fixture {
    t: Tenant,
    source: String,
    queue: String,
    message: String,
    token_id: String,
    lease_token: String,
}

async fn fixture(relay: &Relay) -> Fixture {
    let t = relay.tenant().await;
    let (source, ingest) = relay.source(&t, json!({})).await;
    let queue = relay
        .queue(&t, &source, json!({"leaseSeconds": 3600}))
        .await;
    let message = relay
        .ingest(&ingest, "application/json", r#"{"a":1}"#)
        .await;
    relay.ingest(&ingest, "text/plain", "second").await;
    let d = relay.next(&t, &queue, "").await.expect("leased");
    let lease_token = d.meta["nackUrl"]
        .as_str()
        .unwrap()
        .split("token=")
        .nth(1)
        .unwrap()
        .to_string();
    let tokens = relay
        .get_json(ADMIN, &format!("/v1/tenants/{}/tokens", t.id))
        .await;
    let token_id = tokens["items"][0]["id"].as_str().unwrap().to_string();
    Fixture {
        t,
        source,
        queue,
        message,
        token_id,
        lease_token,
    }
}

/// Everything the malformed requests could have touched.
async fn snapshot(relay: &Relay, f: &Fixture) -> Value {
    let (s, q, m, t) = (&f.source, &f.queue, &f.message, &f.t.id);
    let mut out = serde_json::Map::new();
    for (who, path) in [
        (ADMIN, "/v1/tenants".to_string()),
        (ADMIN, format!("/v1/tenants/{t}")),
        (ADMIN, format!("/v1/tenants/{t}/tokens")),
        (&f.t.token, "/v1/sources".to_string()),
        (&f.t.token, format!("/v1/sources/{s}")),
        (&f.t.token, format!("/v1/sources/{s}/messages")),
        (&f.t.token, "/v1/queues".to_string()),
        (&f.t.token, format!("/v1/queues/{q}")),
        (&f.t.token, format!("/v1/queues/{q}/dead-letters")),
        (&f.t.token, format!("/v1/messages/{m}")),
    ] {
        let mut v = relay.get_json(who, &path).await;
        // the one field that moves by itself
        if let Some(c) = v.get_mut("counts").and_then(|c| c.as_object_mut()) {
            c.remove("oldestReadyAgeSeconds");
        }
        out.insert(path, v);
    }
    Value::Object(out)
}

/// A valid body of each body-taking route (so an unknown field added to it
/// is the only fault), plus one wrong-typed and one out-of-range variant.
fn bodies(route: &str, f: &Fixture) -> Option<(Value, Value, Value)> {
    Some(match route {
        "/v1/tenants" => (
            json!({"name": "n"}),
            json!({"name": 5}),
            json!({"name": "n", "limits": {"maxSources": -1}}),
        ),
        "/v1/tenants/{tenant_id}" => (
            json!({"name": "n"}),
            json!({"limits": "many"}),
            json!({"limits": {"maxSources": 1e40}}),
        ),
        "/v1/tenants/{tenant_id}/tokens" => (
            json!({"scopes": ["read"]}),
            json!({"scopes": "read"}),
            json!({"scopes": ["read"], "expiresInSeconds": 0}),
        ),
        "/v1/sources" => (
            json!({"name": "n", "verification": {"type": "none"}}),
            json!({"name": "n", "verification": "none"}),
            json!({"name": "n", "verification": {"type": "none"}, "maxBodyBytes": 0}),
        ),
        "/v1/sources/{source_id}" => (
            json!({"name": "n"}),
            json!({"maxBodyBytes": "big"}),
            json!({"retentionHours": 99_999_999}),
        ),
        "/v1/queues" => (
            json!({"sourceId": f.source, "name": "n"}),
            json!({"sourceId": 7, "name": "n"}),
            json!({"sourceId": f.source, "name": "n", "leaseSeconds": 0}),
        ),
        "/v1/queues/{queue_id}" => (
            json!({"name": "n"}),
            json!({"backoff": 3}),
            json!({"maxAttempts": -5}),
        ),
        "/v1/queues/{queue_id}/replay" => (
            json!({"deadLetters": true}),
            json!({"deadLetters": "yes"}),
            json!({"from": 1e300, "to": 5}),
        ),
        "/v1/queues/{queue_id}/lease" => (
            json!({"max": 1}),
            json!({"max": "ten"}),
            json!({"max": 101}),
        ),
        "/v1/queues/{queue_id}/settle" => (
            json!({"items": [{"token": "x", "outcome": "ack"}]}),
            json!({"items": [{"token": 5, "outcome": "ack"}]}),
            json!({"items": [{"token": "x", "outcome": "nack", "delaySeconds": 1e12}]}),
        ),
        "/v1/queues/{queue_id}/filter/test" => (
            json!({"sample": {"eventType": "x"}}),
            json!({"sample": {"headers": 5}}),
            json!({"sample": {}, "filter": {"body": {"$gtx": 1}}}),
        ),
        "/v1/queues/{queue_id}/messages/{message_id}/{op}" => (
            json!({"reason": "r"}),
            json!({"reason": 5}),
            json!({"delaySeconds": 1e12}),
        ),
        _ => return None,
    })
}

/// A numeric query parameter of routes that take a query, for the
/// non-UTF-8 and out-of-range query classes.
fn query_param(route: &str) -> Option<&'static str> {
    Some(match route {
        "/v1/sources/{source_id}/messages" | "/v1/queues/{queue_id}/dead-letters" => "limit",
        "/v1/queues/{queue_id}/next" => "wait",
        "/v1/queues/{queue_id}/stream" => "prefetch",
        _ => return None,
    })
}

fn fill(route: &str, f: &Fixture, id: Option<&str>) -> String {
    let mut p = route.to_string();
    for (k, v) in [
        ("{tenant_id}", &f.t.id),
        ("{source_id}", &f.source),
        ("{queue_id}", &f.queue),
        ("{message_id}", &f.message),
        ("{token_id}", &f.token_id),
    ] {
        p = p.replace(k, id.unwrap_or(v));
    }
    p.replace("{op}", "nack")
}

struct Case {
    what: String,
    method: reqwest::Method,
    url: String,
    bearer: Option<String>,
    header: Option<String>,
    body: Option<Vec<u8>>,
    status: u16,
}

async fn every_route_refuses_every_malformed_input_and_changes_nothing(b: Backend) {
    let store = Storage::start(b);
    let relay = Relay::start(&store).await;
    let f = fixture(&relay).await;
    let before = snapshot(&relay, &f).await;

    let mut cases = vec![];
    for (method, route) in hookbay::http::V1_ROUTES {
        let m: reqwest::Method = method.to_uppercase().parse().unwrap();
        let settle = route.ends_with("/{op}");
        let admin = route.starts_with("/v1/tenants");
        let bearer = if settle {
            None
        } else if admin {
            Some(ADMIN.to_string())
        } else {
            Some(f.t.token.clone())
        };
        let with_auth = |path: String| {
            let url = relay.url(&path);
            if settle {
                let sep = if url.contains('?') { '&' } else { '?' };
                format!("{url}{sep}token={}", f.lease_token)
            } else {
                url
            }
        };
        let case = |what: &str, url: String, header, body, status| Case {
            what: format!("{method} {route}: {what}"),
            method: m.clone(),
            url,
            bearer: bearer.clone(),
            header,
            body,
            status,
        };
        let path = fill(route, &f, None);
        cases.push(case(
            "oversized headers",
            with_auth(path.clone()),
            Some("v".repeat(20 * 1024)),
            None,
            431,
        ));
        let takes_body = matches!(*method, "post" | "patch");
        let valid_body = bodies(route, &f)
            .filter(|_| takes_body)
            .map(|(v, _, _)| v.to_string().into_bytes());
        if route.contains("_id}") {
            // the path is the only fault: a body-taking route gets a valid body
            cases.push(case(
                "non-UTF-8 path",
                with_auth(fill(route, &f, Some("%FF%FE"))),
                None,
                valid_body.clone(),
                404,
            ));
        }
        if let Some(p) = query_param(route).filter(|_| *method == "get") {
            for (what, q) in [
                ("non-UTF-8 query value", format!("{p}=%FF%FE")),
                ("non-UTF-8 query name", "%FF%FE=1".to_string()),
                (
                    "out-of-range query number",
                    format!("{p}=99999999999999999999"),
                ),
                ("unknown query parameter", "zzUnknown=1".to_string()),
            ] {
                cases.push(case(
                    what,
                    with_auth(format!("{path}?{q}")),
                    None,
                    None,
                    400,
                ));
            }
        }
        if let Some((valid, wrong_type, out_of_range)) = bodies(route, &f).filter(|_| takes_body) {
            let mut unknown = valid.clone();
            unknown["zzUnknown"] = json!(1);
            for (what, body, status) in [
                ("bad JSON", br#"{"name":"#.to_vec(), 400),
                ("not an object", b"[]".to_vec(), 400),
                ("wrong type", wrong_type.to_string().into_bytes(), 400),
                ("unknown field", unknown.to_string().into_bytes(), 400),
                ("out of range", out_of_range.to_string().into_bytes(), 400),
                ("non-UTF-8 body", b"{\"name\":\"\xff\xfe\"}".to_vec(), 400),
                ("oversized body", vec![b' '; 3 << 20], 413),
            ] {
                cases.push(case(
                    what,
                    with_auth(path.clone()),
                    None,
                    Some(body),
                    status,
                ));
            }
        }
    }
    assert!(cases.len() > 100, "{} cases", cases.len());

    for c in &cases {
        let mut req = relay.http.request(c.method.clone(), &c.url);
        if let Some(b) = &c.bearer {
            req = req.bearer_auth(b);
        }
        if let Some(h) = &c.header {
            req = req.header("x-oversized", h);
        }
        if let Some(b) = &c.body {
            req = req
                .header("content-type", "application/json")
                .body(b.clone());
        }
        let r = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", c.what));
        let status = r.status().as_u16();
        let ct = r
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let text = r.text().await.unwrap_or_default();
        assert_eq!(status, c.status, "{}: {text}", c.what);
        assert_eq!(ct, "application/problem+json", "{}", c.what);
        let p: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{}: {text}", c.what));
        assert_eq!(p["status"], c.status, "{}", c.what);
        assert!(
            p["code"].is_string() && p["detail"].is_string(),
            "{}",
            c.what
        );
    }
    assert_eq!(snapshot(&relay, &f).await, before, "state changed");
}

crate::both!(every_route_refuses_every_malformed_input_and_changes_nothing,);
