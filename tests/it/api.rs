//! API hygiene: bad input gets a precise problem+json and changes nothing;
//! tokens, scopes and tenant isolation.

use crate::common::*;
use serde_json::{json, Value};

async fn problem(r: reqwest::Response, status: u16) -> Value {
    assert_eq!(r.status(), status);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["status"], status);
    assert!(v["type"]
        .as_str()
        .unwrap()
        .starts_with("urn:hookbay:problem:"));
    assert!(v["detail"].is_string());
    v
}

async fn malformed_management_bodies_are_refused_and_change_nothing(b: Backend) {
    let store = Storage::start(b);
    let relay = Relay::start(&store).await;
    let t = relay.tenant().await;
    let send = |body: &'static str| {
        relay
            .http
            .post(relay.url("/v1/sources"))
            .bearer_auth(&t.token)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    for (body, needle) in [
        ("{not json", "invalid JSON"),
        ("", "JSON body is required"),
        (
            r#"{"name":"a","verification":{"type":"none"},"bogus":1}"#,
            "unknown field",
        ),
        (
            r#"{"name":"a","verification":{"type":"magic"}}"#,
            "unknown verification type \"magic\"",
        ),
        (
            r#"{"name":"a","verification":{"type":"token","secrets":[]}}"#,
            "secrets",
        ),
        (r#"{"name":"","verification":{"type":"none"}}"#, "name"),
        (
            r#"{"name":"a","verification":{"type":"none"},"maxBodyBytes":0}"#,
            "maxBodyBytes",
        ),
        (
            r#"{"name":"a","verification":{"type":"none"},"retentionHours":100000}"#,
            "retentionHours",
        ),
        (
            r#"{"name":"a","verification":{"type":"none"},"maxBodyBytes":"big"}"#,
            "invalid type",
        ),
    ] {
        let v = problem(send(body).await.unwrap(), 400).await;
        assert!(
            v["detail"].as_str().unwrap().contains(needle),
            "{body}: {v}"
        );
    }
    let list = relay.get_json(&t.token, "/v1/sources").await;
    assert_eq!(
        list["items"].as_array().unwrap().len(),
        0,
        "nothing created"
    );

    let (src, _) = relay.source(&t, json!({})).await;
    for body in [
        json!({"sourceId": src, "name": "q", "leaseSeconds": 0}),
        json!({"sourceId": src, "name": "q", "maxAttempts": 0}),
        json!({"sourceId": src, "name": "q", "backoff": {"initialSeconds": 5, "multiplier": 0.5, "maxSeconds": 10}}),
        json!({"sourceId": src, "name": "q", "backoff": {"initialSeconds": 5}}),
        json!({"sourceId": src, "name": "q", "color": "red"}),
    ] {
        problem(relay.post(&t.token, "/v1/queues", body).await, 400).await;
    }
    problem(
        relay
            .post(
                &t.token,
                "/v1/queues",
                json!({"sourceId": "src_nope", "name": "q"}),
            )
            .await,
        404,
    )
    .await;
    let list = relay.get_json(&t.token, "/v1/queues").await;
    assert_eq!(
        list["items"].as_array().unwrap().len(),
        0,
        "nothing created"
    );
}

async fn out_of_range_consumer_parameters_and_bad_ids(b: Backend) {
    let store = Storage::start(b);
    let relay = Relay::start(&store).await;
    let t = relay.tenant().await;
    let (src, ingest) = relay.source(&t, json!({})).await;
    let q = relay.queue(&t, &src, json!({})).await;
    relay.ingest(&ingest, "text/plain", "x").await;
    for query in [
        "wait=31",
        "wait=-1",
        "wait=abc",
        "lease=0",
        "lease=99999999",
        "unknown=1",
    ] {
        problem(
            relay
                .get(&t.token, &format!("/v1/queues/{q}/next?{query}"))
                .await,
            400,
        )
        .await;
    }
    for query in ["prefetch=0", "prefetch=5000", "lease=0", "prefetch=x"] {
        problem(
            relay
                .get(&t.token, &format!("/v1/queues/{q}/stream?{query}"))
                .await,
            400,
        )
        .await;
    }
    for path in [
        "/v1/queues/123/next",
        "/v1/queues/q_zz/next",
        "/v1/messages/42",
        "/v1/sources/abc",
        "/v1/nope",
    ] {
        problem(relay.get(&t.token, path).await, 404).await;
    }
    assert_eq!(relay.counts(&t, &q).await["ready"], 1, "nothing consumed");

    let d = relay.next(&t, &q, "").await.unwrap();
    for (which, body) in [
        ("nackUrl", json!({"delaySeconds": 1_000_000_000u64})),
        ("nackUrl", json!({"delaySeconds": -5})),
        ("nackUrl", json!({"reason": "x".repeat(5000)})),
        ("nackUrl", json!({"why": "unknown field"})),
        ("extendUrl", json!({})),
        ("extendUrl", json!({"seconds": 0})),
    ] {
        let url = d.meta[which].as_str().unwrap();
        problem(relay.http.post(url).json(&body).send().await.unwrap(), 400).await;
    }
    let c = relay.counts(&t, &q).await;
    assert_eq!(
        (c["leased"].as_u64(), c["delayed"].as_u64()),
        (Some(1), Some(0)),
        "lease untouched"
    );
    // tampered or re-pointed lease tokens
    let ack = d.meta["ackUrl"].as_str().unwrap();
    problem(
        relay.http.post(format!("{ack}x")).send().await.unwrap(),
        401,
    )
    .await;
    problem(
        relay
            .http
            .post(ack.split('?').next().unwrap())
            .send()
            .await
            .unwrap(),
        401,
    )
    .await;
    let q2 = relay.queue(&t, &src, json!({})).await;
    let moved = ack.replace(&q, &q2);
    problem(relay.http.post(moved).send().await.unwrap(), 404).await;
    assert_eq!(relay.settle(&d.meta, "ackUrl", None).await, 204);

    // ingest: GET is not a delivery method; huge headers are refused
    let r = relay.http.get(&ingest).send().await.unwrap();
    problem(r, 405).await;
    // a separate client: the relay drops that connection, the pool must not reuse it
    let r = reqwest::Client::new()
        .post(&ingest)
        .header("x-huge", "a".repeat(200 * 1024))
        .body("big headers")
        .send()
        .await;
    if let Ok(r) = r {
        assert!(r.status().is_client_error(), "{}", r.status());
    }
    assert_eq!(relay.counts(&t, &q).await["ready"], 0, "nothing stored");
}

async fn tenants_are_isolated_and_scopes_enforced(b: Backend) {
    let store = Storage::start(b);
    let relay = Relay::start(&store).await;
    let a = relay.tenant().await;
    let b = relay.tenant().await;
    let (src, ingest) = relay.source(&a, json!({})).await;
    let q = relay.queue(&a, &src, json!({})).await;
    let id = relay.ingest(&ingest, "text/plain", "secret of A").await;

    // B sees nothing of A: 404, never 403
    for path in [
        format!("/v1/queues/{q}"),
        format!("/v1/queues/{q}/next"),
        format!("/v1/queues/{q}/stream"),
        format!("/v1/queues/{q}/dead-letters"),
        format!("/v1/sources/{src}"),
        format!("/v1/sources/{src}/messages"),
        format!("/v1/messages/{id}"),
        format!("/v1/tenants/{}", a.id),
    ] {
        problem(relay.get(&b.token, &path).await, 404).await;
    }
    problem(
        relay
            .post(
                &b.token,
                &format!("/v1/queues/{q}/replay"),
                json!({"deadLetters": true}),
            )
            .await,
        404,
    )
    .await;
    problem(
        relay
            .patch(
                &b.token,
                &format!("/v1/queues/{q}"),
                json!({"name": "mine"}),
            )
            .await,
        404,
    )
    .await;
    problem(
        relay
            .patch(
                &b.token,
                &format!("/v1/sources/{src}"),
                json!({"name": "mine"}),
            )
            .await,
        404,
    )
    .await;
    problem(
        relay
            .post(
                &b.token,
                "/v1/queues",
                json!({"sourceId": src, "name": "steal"}),
            )
            .await,
        404,
    )
    .await;
    let r = relay.delete(&b.token, &format!("/v1/queues/{q}")).await;
    problem(r, 404).await;
    problem(
        relay
            .post(
                &b.token,
                &format!("/v1/tenants/{}/tokens", a.id),
                json!({"scopes": ["read"]}),
            )
            .await,
        404,
    )
    .await;
    assert!(relay.get_json(&b.token, "/v1/queues").await["items"]
        .as_array()
        .unwrap()
        .is_empty());
    assert!(relay.get_json(&b.token, "/v1/sources").await["items"]
        .as_array()
        .unwrap()
        .is_empty());
    assert_eq!(
        relay.counts(&a, &q).await["ready"],
        1,
        "A's message untouched"
    );

    // scopes
    let consume = relay.token(&a.id, json!({"scopes": ["consume"]})).await;
    let read = relay.token(&a.id, json!({"scopes": ["read"]})).await;
    problem(
        relay
            .post(
                &consume,
                "/v1/sources",
                json!({"name": "x", "verification": {"type": "none"}}),
            )
            .await,
        403,
    )
    .await;
    problem(relay.get(&read, &format!("/v1/queues/{q}/next")).await, 403).await;
    problem(
        relay
            .post(
                &read,
                &format!("/v1/queues/{q}/replay"),
                json!({"deadLetters": true}),
            )
            .await,
        403,
    )
    .await;
    problem(
        relay.get(&consume, &format!("/v1/messages/{id}")).await,
        403,
    )
    .await;
    assert_eq!(
        relay
            .get(&read, &format!("/v1/messages/{id}"))
            .await
            .status(),
        200
    );
    // operator vs tenant routes
    problem(
        relay
            .post(&a.token, "/v1/tenants", json!({"name": "x"}))
            .await,
        403,
    )
    .await;
    problem(relay.get(ADMIN, &format!("/v1/queues/{q}")).await, 403).await;
    problem(relay.get("garbage", &format!("/v1/queues/{q}")).await, 401).await;
    problem(
        relay
            .http
            .get(relay.url(&format!("/v1/queues/{q}")))
            .send()
            .await
            .unwrap(),
        401,
    )
    .await;
    // minting: never wider than the caller, never for another tenant
    problem(
        relay
            .post(
                &read,
                &format!("/v1/tenants/{}/tokens", a.id),
                json!({"scopes": ["read"]}),
            )
            .await,
        403,
    )
    .await;
    let manage_read = relay
        .token(&a.id, json!({"scopes": ["manage", "read"]}))
        .await;
    problem(
        relay
            .post(
                &manage_read,
                &format!("/v1/tenants/{}/tokens", a.id),
                json!({"scopes": ["consume"]}),
            )
            .await,
        403,
    )
    .await;
    let r = relay
        .post(
            &manage_read,
            &format!("/v1/tenants/{}/tokens", a.id),
            json!({"scopes": ["read"]}),
        )
        .await;
    assert_eq!(r.status(), 201);
    // a queue-limited token only works on its queues
    let q2 = relay.queue(&a, &src, json!({})).await;
    let limited = relay
        .token(&a.id, json!({"scopes": ["consume", "read"], "queues": [q]}))
        .await;
    assert_eq!(
        relay
            .get(&limited, &format!("/v1/queues/{q}"))
            .await
            .status(),
        200
    );
    problem(
        relay.get(&limited, &format!("/v1/queues/{q2}/next")).await,
        404,
    )
    .await;
}

crate::both!(
    malformed_management_bodies_are_refused_and_change_nothing,
    out_of_range_consumer_parameters_and_bad_ids,
    tenants_are_isolated_and_scopes_enforced,
);
