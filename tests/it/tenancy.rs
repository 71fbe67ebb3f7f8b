//! Tokens, revocation across nodes, key rotation, quotas and rate limits,
//! tenant deletion.

use std::time::{Duration, Instant};

use crate::common::*;
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocation_reaches_another_redis_node_within_a_second() {
    let redis = RedisServer::start();
    let a = Relay::start(&redis).await;
    let b = Relay::start(&redis).await;
    let t = a.tenant().await;
    let (src, _) = a.source(&t, json!({})).await;
    let q = a.queue(&t, &src, json!({})).await;
    let r = a
        .admin_post(
            &format!("/v1/tenants/{}/tokens", t.id),
            json!({"scopes": ["read", "consume"]}),
        )
        .await;
    let minted: Value = r.json().await.unwrap();
    let (tok_id, tok) = (
        minted["id"].as_str().unwrap(),
        minted["token"].as_str().unwrap(),
    );
    assert_eq!(b.get(tok, &format!("/v1/queues/{q}")).await.status(), 200);
    let url = b.url(&format!("/v1/queues/{q}/stream?access_token={tok}"));
    let mut stream = b.http.get(url).send().await.unwrap().bytes_stream();

    let list = a
        .get_json(&t.token, &format!("/v1/tenants/{}/tokens", t.id))
        .await;
    assert!(
        !list.to_string().contains(tok),
        "listing never shows the token"
    );
    assert!(list["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|i| i["id"] == tok_id));

    let r = a
        .delete(&t.token, &format!("/v1/tenants/{}/tokens/{tok_id}", t.id))
        .await;
    assert_eq!(r.status(), 204);
    let revoked = Instant::now();
    assert_eq!(
        a.get(tok, &format!("/v1/queues/{q}")).await.status(),
        401,
        "at once on the revoking node"
    );
    eventually(Duration::from_millis(1000), || async {
        b.get(tok, &format!("/v1/queues/{q}")).await.status() == 401
    })
    .await;
    assert!(revoked.elapsed() <= Duration::from_millis(1000));
    // the open stream on the other node is closed too
    use futures_util::StreamExt;
    let mut seen = String::new();
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(Ok(c)) = stream.next().await {
            seen.push_str(&String::from_utf8_lossy(&c));
            if seen.contains("event: close") {
                return true;
            }
        }
        true
    })
    .await;
    assert_eq!(closed, Ok(true));
    let list = a
        .get_json(&t.token, &format!("/v1/tenants/{}/tokens", t.id))
        .await;
    let rec = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == tok_id)
        .unwrap()
        .clone();
    assert!(rec["revokedAt"].is_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn previous_key_is_accepted_during_rotation_across_redis_nodes() {
    let redis = RedisServer::start();
    let old = Relay::start(&redis).await;
    let t = old.tenant().await;
    let (src, ingest) = old.source(&t, json!({})).await;
    let q = old.queue(&t, &src, json!({})).await;
    old.ingest(&ingest, "text/plain", "x").await;
    let d = old.next(&t, &q, "").await.unwrap();

    let new_key = "rotated-secret-key-0123456789abcdef0123";
    let mut cfg = config(&redis);
    cfg.secret_key = Some(new_key.into());
    cfg.secret_key_previous = Some(SECRET.into());
    let rotating = Relay::start_with(cfg).await;
    assert_eq!(
        rotating
            .get(&t.token, &format!("/v1/queues/{q}"))
            .await
            .status(),
        200
    );
    // lease URLs signed with the old key still settle through the new node
    let ack = d.meta["ackUrl"]
        .as_str()
        .unwrap()
        .replace(&old.running.url(), &rotating.running.url());
    assert_eq!(rotating.http.post(ack).send().await.unwrap().status(), 204);
    // a token minted now is signed with the new key only
    let fresh = rotating.token(&t.id, json!({"scopes": ["read"]})).await;
    assert_eq!(
        old.get(&fresh, &format!("/v1/queues/{q}")).await.status(),
        401
    );

    let mut cfg = config(&redis);
    cfg.secret_key = Some(new_key.into());
    let rotated = Relay::start_with(cfg).await;
    assert_eq!(
        rotated
            .get(&t.token, &format!("/v1/queues/{q}"))
            .await
            .status(),
        401
    );
    assert_eq!(
        rotated
            .get(&fresh, &format!("/v1/queues/{q}"))
            .await
            .status(),
        200
    );
}

async fn bad_tokens_are_401(b: Backend) {
    let store = Storage::start(b);
    let relay = Relay::start(&store).await;
    let t = relay.tenant().await;
    let keys = hookbay::auth::Keys::new(SECRET, None);
    let now = chrono::Utc::now().timestamp();
    let scopes = vec![hookbay::model::Scope::Read];
    let expired = keys
        .sign_tenant_token(&t.id, "tok_x", scopes.clone(), None, now - 600, now - 300)
        .unwrap();
    let wrong = hookbay::auth::Keys::new("some-other-secret-0123456789abcdef", None)
        .sign_tenant_token(&t.id, "tok_x", scopes, None, now, now + 300)
        .unwrap();
    let mut tampered = t.token.clone();
    tampered.replace_range(tampered.len() - 3.., "AAA");
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let none = format!(
        "{}.{}.",
        b64.encode(r#"{"alg":"none","typ":"JWT"}"#),
        b64.encode(format!(
            r#"{{"sub":"{}","jti":"x","scopes":["read"],"iat":{now},"exp":{},"iss":"hookbay"}}"#,
            t.id,
            now + 300
        ))
    );
    for bad in [expired, wrong, tampered, none, "".into(), "x.y.z".into()] {
        let r = relay.get(&bad, "/v1/sources").await;
        assert_eq!(r.status(), 401, "{bad}");
    }
}

async fn ingest_rate_limit_is_per_tenant(b: Backend) {
    let store = Storage::start(b);
    let relay = Relay::start(&store).await;
    let a = relay.tenant().await;
    let b = relay.tenant().await;
    let r = relay
        .http
        .patch(relay.url(&format!("/v1/tenants/{}", a.id)))
        .bearer_auth(ADMIN)
        .json(&json!({"limits": {"ingestPerSecond": 5, "consumePerSecond": 3}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (sa, ia) = relay.source(&a, json!({})).await;
    let qa = relay.queue(&a, &sa, json!({})).await;
    let (_, ib) = relay.source(&b, json!({})).await;
    let burst = |url: String| {
        let http = relay.http.clone();
        async move {
            let mut codes = vec![];
            for _ in 0..30 {
                let r = http.post(&url).body("x").send().await.unwrap();
                if r.status() == 429 {
                    assert!(
                        r.headers()["retry-after"]
                            .to_str()
                            .unwrap()
                            .parse::<u64>()
                            .unwrap()
                            >= 1
                    );
                    assert_eq!(r.headers()["content-type"], "application/problem+json");
                }
                codes.push(r.status().as_u16());
            }
            codes
        }
    };
    let (ca, cb) = tokio::join!(burst(ia), burst(ib));
    let limited = ca.iter().filter(|c| **c == 429).count();
    assert!(limited >= 15, "tenant A throttled: {ca:?}");
    assert!(cb.iter().all(|c| *c == 202), "tenant B unaffected: {cb:?}");
    let stored = relay.counts(&a, &qa).await["ready"].as_u64().unwrap();
    assert_eq!(stored as usize, 30 - limited, "a 429 stores nothing");
    // consumer API: 3/s with a burst of 6
    let mut codes = vec![];
    for _ in 0..12 {
        codes.push(
            relay
                .get(&a.token, &format!("/v1/queues/{qa}/next"))
                .await
                .status()
                .as_u16(),
        );
    }
    assert!(codes.contains(&429), "{codes:?}");
}

async fn quotas_and_usage(b: Backend) {
    let store = Storage::start(b);
    let relay = Relay::start(&store).await;
    let t = relay.tenant().await;
    let r = relay
        .http
        .patch(relay.url(&format!("/v1/tenants/{}", t.id)))
        .bearer_auth(ADMIN)
        .json(&json!({"limits": {"maxSources": 1, "maxQueues": 1, "maxStoredBytes": 2000}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (src, ingest) = relay.source(&t, json!({})).await;
    relay.queue(&t, &src, json!({})).await;
    let r = relay
        .post(
            &t.token,
            "/v1/sources",
            json!({"name": "2", "verification": {"type": "none"}}),
        )
        .await;
    assert_eq!(r.status(), 409);
    let p: Value = r.json().await.unwrap();
    assert!(p["detail"].as_str().unwrap().contains("maxSources"));
    let r = relay
        .post(
            &t.token,
            "/v1/queues",
            json!({"sourceId": src, "name": "2"}),
        )
        .await;
    assert_eq!(r.status(), 409);
    assert!(r.json::<Value>().await.unwrap()["detail"]
        .as_str()
        .unwrap()
        .contains("maxQueues"));
    // storage: fill past 2000 bytes, then ingest is refused with 429
    relay.ingest(&ingest, "text/plain", "y".repeat(3000)).await;
    eventually(Duration::from_secs(10), || async {
        relay
            .http
            .post(&ingest)
            .body("z")
            .send()
            .await
            .unwrap()
            .status()
            == 429
    })
    .await;
    let v = relay
        .get_json(&t.token, &format!("/v1/tenants/{}", t.id))
        .await;
    assert_eq!(v["usage"]["sources"], 1);
    assert_eq!(v["usage"]["queues"], 1);
    assert!(v["usage"]["storedBytes"].as_u64().unwrap() >= 3000);
    assert_eq!(v["limits"]["maxStoredBytes"], 2000);
    assert_eq!(v["limits"]["ingestPerSecond"], 1000, "default kept");
    // tenant tokens cannot change limits
    let r = relay
        .patch(
            &t.token,
            &format!("/v1/tenants/{}", t.id),
            json!({"limits": {}}),
        )
        .await;
    assert_eq!(r.status(), 403);
}

async fn deleting_a_tenant_disables_everything(b: Backend) {
    let store = Storage::start(b);
    let relay = Relay::start(&store).await;
    let t = relay.tenant().await;
    let other = relay.tenant().await;
    let (src, ingest) = relay.source(&t, json!({})).await;
    relay.queue(&t, &src, json!({})).await;
    relay.ingest(&ingest, "text/plain", "x").await;
    let (_, other_ingest) = relay.source(&other, json!({})).await;
    let r = relay
        .delete(&t.token, &format!("/v1/tenants/{}", t.id))
        .await;
    assert_eq!(r.status(), 403, "only the operator deletes tenants");
    let r = relay.delete(ADMIN, &format!("/v1/tenants/{}", t.id)).await;
    assert_eq!(r.status(), 204);
    assert_eq!(
        relay
            .http
            .post(&ingest)
            .body("y")
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(relay.get(&t.token, "/v1/sources").await.status(), 401);
    assert_eq!(
        relay
            .get(ADMIN, &format!("/v1/tenants/{}", t.id))
            .await
            .status(),
        404
    );
    let left = store.mentions(&src).await;
    assert!(
        left.iter().all(|k| k.contains(":dd:")),
        "engine state gone: {left:?}"
    );
    // (a rate bucket expires on its own within seconds)
    let left: Vec<String> = store
        .mentions(&t.id)
        .await
        .into_iter()
        .filter(|k| !k.starts_with("hb:rate:"))
        .collect();
    assert!(left.is_empty(), "tenant state gone: {left:?}");
    relay
        .ingest(&other_ingest, "text/plain", "still fine")
        .await;
}

/// The tenant list has the documented item shape (the same view as
/// `GET /v1/tenants/{id}`, without usage).
async fn tenant_list_items_are_tenant_views(b: Backend) {
    let store = Storage::start(b);
    let relay = Relay::start(&store).await;
    let t = relay.tenant().await;
    let r = relay
        .patch(
            ADMIN,
            &format!("/v1/tenants/{}", t.id),
            json!({"limits": {"maxSources": 3}}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let list = relay.get_json(ADMIN, "/v1/tenants").await;
    let item = &list["items"][0];
    assert_eq!(item["id"], t.id.as_str());
    assert_eq!(item["limitOverrides"], json!({"maxSources": 3}));
    assert_eq!(item["limits"]["maxSources"], 3);
    assert_eq!(item["limits"]["maxQueues"], 1000, "effective limits");
    assert!(item["usage"].is_null());
    let one = relay
        .get_json(ADMIN, &format!("/v1/tenants/{}", t.id))
        .await;
    for k in ["id", "name", "createdAt", "limits", "limitOverrides"] {
        assert_eq!(item[k], one[k], "{k}");
    }
}

crate::both!(
    tenant_list_items_are_tenant_views,
    deleting_a_tenant_disables_everything,
    bad_tokens_are_401,
    ingest_rate_limit_is_per_tenant,
    quotas_and_usage,
);
