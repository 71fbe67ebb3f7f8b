//! The defects a careful review found (issue 8), each pinned by a test that
//! failed before the fix: credentials in stored headers, percent-encoded
//! parameter names, the ingest time bound, typed store errors, bounded
//! cursors, node-clock lease accounting, tenant deletion leftovers, forged
//! deliveries spending the tenant's budget, one header shape.

use std::time::{Duration, Instant};

use base64::Engine;
use redis::AsyncCommands;
use serde_json::{json, Value};

use crate::common::*;

fn meta_headers(d: &Delivery) -> &serde_json::Map<String, Value> {
    d.meta["headers"].as_object().expect("headers object")
}

async fn credentials_of_token_and_basic_sources_are_never_stored(b: Backend) {
    let store = Storage::start(b);
    let relay = Relay::start(&store).await;
    let t = relay.tenant().await;
    let secret = "tok-secret-value";
    let (src, ingest) = relay
        .source(
            &t,
            json!({"verification": {"type": "token", "secrets": [secret], "header": "X-Webhook-Token"}}),
        )
        .await;
    let q = relay.queue(&t, &src, json!({})).await;

    // by header
    let r = relay
        .http
        .post(&ingest)
        .header("X-Webhook-Token", secret)
        .header("x-other", "kept")
        .body("one")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let id1 = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    // by a percent-encoded query parameter name: verifies, and is stripped
    let r = relay
        .http
        .post(format!("{ingest}?a=1&%74oken={secret}&b=%20"))
        .body("two")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);

    let d1 = relay.next(&t, &q, "").await.expect("first");
    assert!(!meta_headers(&d1).contains_key("x-webhook-token"));
    assert_eq!(meta_headers(&d1)["x-other"], "kept");
    let d2 = relay.next(&t, &q, "").await.expect("second");
    assert_eq!(d2.meta["query"], "a=1&b=%20");
    // the message view and SSE meta hold no trace of the secret either
    let view = relay
        .get(&t.token, &format!("/v1/messages/{id1}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(!view.contains(secret), "{view}");
    assert!(!view.contains("x-webhook-token"), "{view}");
    let history = relay
        .get(&t.token, &format!("/v1/sources/{src}/messages"))
        .await
        .text()
        .await
        .unwrap();
    assert!(!history.contains(secret));

    // basic: the Authorization header is dropped
    let (bsrc, bingest) = relay
        .source(
            &t,
            json!({"verification": {"type": "basic", "username": "u", "password": "pw-secret"}}),
        )
        .await;
    let bq = relay.queue(&t, &bsrc, json!({})).await;
    let cred = base64::engine::general_purpose::STANDARD.encode("u:pw-secret");
    let r = relay
        .http
        .post(&bingest)
        .header("authorization", format!("Basic {cred}"))
        .body("b")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let mut sse = Sse::connect(
        &relay,
        &relay.url(&format!("/v1/queues/{bq}/stream?access_token={}", t.token)),
    )
    .await;
    let ev = sse
        .next_within(Duration::from_secs(10))
        .await
        .expect("event");
    let text = ev.data.to_string();
    assert!(
        !text.contains(&cred) && !text.contains("authorization"),
        "{text}"
    );
}

async fn signature_headers_of_hmac_schemes_stay_for_reverification(b: Backend) {
    let store = Storage::start(b);
    let relay = Relay::start(&store).await;
    let t = relay.tenant().await;
    let (src, ingest) = relay
        .source(
            &t,
            json!({"verification": {"type": "github", "secrets": ["gh-secret"]}}),
        )
        .await;
    let q = relay.queue(&t, &src, json!({})).await;
    let body = br#"{"zen":"x"}"#;
    let sig = {
        use hmac::{Hmac, Mac};
        let mut m = Hmac::<sha2::Sha256>::new_from_slice(b"gh-secret").unwrap();
        m.update(body);
        format!("sha256={}", hex::encode(m.finalize().into_bytes()))
    };
    let r = relay
        .http
        .post(&ingest)
        .header("x-hub-signature-256", &sig)
        .header("x-github-delivery", "d-1")
        .body(body.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let d = relay.next(&t, &q, "").await.expect("message");
    assert_eq!(meta_headers(&d)["x-hub-signature-256"], sig.as_str());
}

async fn repeated_headers_have_one_shape_everywhere(b: Backend) {
    let store = Storage::start(b);
    let relay = Relay::start(&store).await;
    let t = relay.tenant().await;
    let (src, ingest) = relay.source(&t, json!({})).await;
    let q = relay.queue(&t, &src, json!({})).await;
    let r = relay
        .http
        .post(&ingest)
        .header("x-multi", "a")
        .header("x-multi", "b")
        .header("x-one", "1")
        .body("x")
        .send()
        .await
        .unwrap();
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let d = relay.next(&t, &q, "").await.expect("message");
    assert_eq!(meta_headers(&d)["x-multi"], "a, b");
    let view = relay
        .get_json(&t.token, &format!("/v1/messages/{id}"))
        .await;
    let h = view["headers"]
        .as_object()
        .expect("an object, as in the meta");
    assert_eq!(h["x-multi"], "a, b");
    assert_eq!(h["x-one"], "1");
    // the same map, key for key
    assert_eq!(&view["headers"], &d.meta["headers"]);
}

/// Commands Redis has run so far (from INFO commandstats); `None` on the
/// embedded store (no round trips to count).
async fn redis_calls(store: &Storage) -> Option<u64> {
    let Storage::Redis(redis) = store else {
        return None;
    };
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(&mut redis.conn().await)
        .await
        .unwrap();
    info.lines()
        .filter(|l| l.starts_with("cmdstat_") && !l.starts_with("cmdstat_info"))
        .filter_map(|l| {
            l.split("calls=")
                .nth(1)?
                .split(',')
                .next()?
                .parse::<u64>()
                .ok()
        })
        .sum::<u64>()
        .into()
}

async fn forged_deliveries_spend_neither_the_rate_limit_nor_redis_round_trips(b: Backend) {
    let store = Storage::start(b);
    let mut cfg = config(&store);
    cfg.reap_interval_ms = 60_000; // keep the reaper's commands out of the count
    let relay = Relay::start_with(cfg).await;
    let t = relay.tenant().await;
    let r = relay
        .http
        .patch(relay.url(&format!("/v1/tenants/{}", t.id)))
        .bearer_auth(ADMIN)
        .json(&json!({"limits": {"ingestPerSecond": 1}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (src, ingest) = relay
        .source(
            &t,
            json!({"verification": {"type": "token", "secrets": ["real-secret"]}}),
        )
        .await;
    // one forged request caches the source record on the node
    let forged = |n: usize| {
        let (http, url) = (relay.http.clone(), format!("{ingest}?token=forged-{n}"));
        async move { http.post(url).body("x").send().await.unwrap().status() }
    };
    assert_eq!(forged(0).await, 401);
    let before = redis_calls(&store).await;
    for n in 1..=50 {
        assert_eq!(forged(n).await, 401);
    }
    if let (Some(before), Some(after)) = (before, redis_calls(&store).await) {
        // the node flushes its failure count once a second (plus the
        // revocation refresh and the reaper): nothing per forged request
        let during = after - before;
        assert!(
            during < 50,
            "{during} Redis commands for 50 forged requests"
        );
    }
    // the tenant's one-per-second budget is untouched
    let r = relay
        .http
        .post(format!("{ingest}?token=real-secret"))
        .body("real")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    // and the failures are still counted on the source (flushed within ~1 s)
    eventually(Duration::from_secs(5), || async {
        let v = relay
            .get_json(&t.token, &format!("/v1/sources/{src}"))
            .await;
        v["stats"]["verificationFailures"] == 51
    })
    .await;
    if let Storage::Redis(redis) = &store {
        eventually(Duration::from_secs(5), || async {
            let n: Option<u64> = redis
                .conn()
                .await
                .hget(
                    hookbay::store::redis::keys::SourceKeys::new(&src).src,
                    "verify_failures",
                )
                .await
                .unwrap();
            n == Some(51)
        })
        .await;
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// 20 ingests against a Redis that does not answer: each gets 503 with
/// Retry-After; returns the first one's time and all of them, sorted.
async fn twenty_unavailable(relay: &Relay, ingest: &str) -> (Duration, Vec<Duration>) {
    let mut times = vec![];
    for _ in 0..20 {
        let started = Instant::now();
        let r = relay
            .http
            .post(format!("{ingest}?token=real-secret"))
            .body("x")
            .send()
            .await
            .unwrap();
        times.push(started.elapsed());
        assert_eq!(r.status(), 503);
        assert_eq!(r.headers()["retry-after"], "1");
        assert_eq!(
            r.headers()["content-type"],
            "application/problem+json",
            "problem+json"
        );
        // never a hang: far above the 800 ms bound, far below a stuck call
        assert!(started.elapsed() < Duration::from_secs(3));
    }
    let first = times[0];
    times.sort();
    (first, times)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_is_bounded_when_redis_hangs_or_is_gone() {
    let mut redis = RedisServer::start();
    let relay = Relay::start(&redis).await;
    let t = relay.tenant().await;
    let (_, ingest) = relay
        .source(
            &t,
            json!({"verification": {"type": "token", "secrets": ["real-secret"]}}),
        )
        .await;
    // a forged delivery caches the source but (verification first) none of
    // the tenant's limits: the next good delivery misses those caches
    let r = relay
        .http
        .post(format!("{ingest}?token=nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    redis.pause();
    let (hung_first, hung) = twenty_unavailable(&relay, &ingest).await;
    redis.resume();
    eventually(Duration::from_secs(10), || async {
        relay
            .http
            .post(format!("{ingest}?token=real-secret"))
            .body("x")
            .send()
            .await
            .unwrap()
            .status()
            == 202
    })
    .await;

    redis.stop();
    let (gone_first, gone) = twenty_unavailable(&relay, &ingest).await;
    eprintln!(
        "ingest while Redis hangs (SIGSTOP): first {:?} p50 {:?} p99 {:?}; \
         while Redis is down: first {:?} p50 {:?} p99 {:?}",
        hung_first,
        percentile(&hung, 0.5),
        percentile(&hung, 0.99),
        gone_first,
        percentile(&gone, 0.5),
        percentile(&gone, 0.99)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_script_error_is_a_500_never_a_retry() {
    let redis = RedisServer::start();
    let relay = Relay::start(&redis).await;
    let t = relay.tenant().await;
    let (src, ingest) = relay.source(&t, json!({})).await;
    let q = relay.queue(&t, &src, json!({})).await;
    relay.ingest(&ingest, "text/plain", "x").await;
    // a key of the wrong type makes the lease script fail (WRONGTYPE)
    let qp = hookbay::store::redis::keys::SourceKeys::new(&src).qp;
    let mut c = redis.conn().await;
    let _: () = c.del(&qp).await.unwrap();
    let _: () = c.set(&qp, "not a hash").await.unwrap();
    let r = relay.get(&t.token, &format!("/v1/queues/{q}/next")).await;
    assert_eq!(r.status(), 500);
    assert!(r.headers().get("retry-after").is_none());
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["code"], "store_error");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn minting_a_queue_limited_token_during_a_redis_outage_is_503_not_400() {
    let mut redis = RedisServer::start();
    let relay = Relay::start(&redis).await;
    let t = relay.tenant().await;
    let (src, _) = relay.source(&t, json!({})).await;
    let q = relay.queue(&t, &src, json!({})).await;
    // the tenant record is in the node's cache now; the queue is not
    let body = json!({"scopes": ["consume"], "queues": [q]});
    let mint = || {
        relay
            .http
            .post(relay.url(&format!("/v1/tenants/{}/tokens", t.id)))
            .bearer_auth(&t.token)
            .json(&body)
            .send()
    };
    assert_eq!(mint().await.unwrap().status(), 201);
    redis.stop();
    let r = mint().await.unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["retry-after"], "1");
}

async fn dead_letter_cursors_are_bounded(b: Backend) {
    let store = Storage::start(b);
    let relay = Relay::start(&store).await;
    let t = relay.tenant().await;
    let (src, _) = relay.source(&t, json!({})).await;
    let q = relay.queue(&t, &src, json!({})).await;
    let path = |c: &str| format!("/v1/queues/{q}/dead-letters?limit=1000&cursor={c}");
    for c in ["18446744073709551615", "18446744073709551000", "-1", "x"] {
        let r = relay.get(&t.token, &path(c)).await;
        assert_eq!(r.status(), 400, "cursor {c}");
        assert_eq!(r.headers()["content-type"], "application/problem+json");
    }
    let v = relay.get_json(&t.token, &path("1099511627776")).await;
    assert_eq!(v["items"], json!([]));
    assert_eq!(v["nextCursor"], Value::Null);
}

async fn tenant_deletion_leaves_no_token_record_and_source_deletion_evicts_queues(b: Backend) {
    let store = Storage::start(b);
    let relay = Relay::start(&store).await;
    let t = relay.tenant().await;
    let (src, _) = relay.source(&t, json!({})).await;
    let q = relay.queue(&t, &src, json!({})).await;
    // cached on the node by this read
    relay.get_json(&t.token, &format!("/v1/queues/{q}")).await;
    assert_eq!(
        relay
            .delete(&t.token, &format!("/v1/sources/{src}"))
            .await
            .status(),
        204
    );
    assert_eq!(
        relay
            .get(&t.token, &format!("/v1/queues/{q}"))
            .await
            .status(),
        404,
        "the deleted source's queue must not be served from the cache"
    );

    let tokens = relay
        .get_json(ADMIN, &format!("/v1/tenants/{}/tokens", t.id))
        .await;
    let ids: Vec<String> = tokens["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["id"].as_str().unwrap().to_string())
        .collect();
    assert!(!ids.is_empty());
    assert_eq!(
        relay
            .delete(ADMIN, &format!("/v1/tenants/{}", t.id))
            .await
            .status(),
        204
    );
    for id in &ids {
        // a revoked id stays on the revocation list until it expires
        let left: Vec<String> = store
            .mentions(id)
            .await
            .into_iter()
            .filter(|m| !m.contains("revoked"))
            .collect();
        assert!(left.is_empty(), "token record {id} left behind: {left:?}");
    }
    // and the tenant's token is refused at once
    assert_eq!(relay.get(&t.token, "/v1/sources").await.status(), 401);
}

/// Redis only: the embedded store has no clock but the node's own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_clock_ahead_of_redis_does_not_free_prefetch_slots() {
    // the relay binary runs 5 minutes in the future (libfaketime); Redis
    // keeps the real time
    let store = Storage::start(Backend::Redis);
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut child = spawn_relay(
        &store,
        port,
        &[
            "env",
            "FAKETIME_DONT_FAKE_MONOTONIC=1",
            "faketime",
            "-f",
            "+300s",
        ],
    );
    let http = reqwest::Client::new();
    wait_healthy(&http, &base).await;
    let admin = |path: &str, body: Value| {
        http.post(format!("{base}{path}"))
            .bearer_auth(ADMIN)
            .json(&body)
            .send()
    };
    let tenant: Value = admin("/v1/tenants", json!({"name": "skew"}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let tid = tenant["id"].as_str().unwrap();
    let tok: Value = admin(
        &format!("/v1/tenants/{tid}/tokens"),
        json!({"scopes": ["manage", "consume"]}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let token = tok["token"].as_str().unwrap().to_string();
    // the skew is real: the relay dates what it mints 5 minutes ahead
    let short: Value = admin(
        &format!("/v1/tenants/{tid}/tokens"),
        json!({"scopes": ["read"], "expiresInSeconds": 60}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let exp = chrono::DateTime::parse_from_rfc3339(short["expiresAt"].as_str().unwrap()).unwrap();
    assert!(
        exp.timestamp() > chrono::Utc::now().timestamp() + 200,
        "faketime is not in effect"
    );
    let post = |path: &str, body: Value| {
        http.post(format!("{base}{path}"))
            .bearer_auth(&token)
            .json(&body)
            .send()
    };
    let src: Value = post(
        "/v1/sources",
        json!({"name": "s", "verification": {"type": "none"}}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let q: Value = post(
        "/v1/queues",
        json!({"sourceId": src["id"], "name": "w", "leaseSeconds": 60}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let qid = q["id"].as_str().unwrap();
    for i in 0..5 {
        let r = http
            .post(src["ingestUrl"].as_str().unwrap())
            .body(format!("m{i}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
    }
    let r = http
        .get(format!("{base}/v1/queues/{qid}/stream?prefetch=2"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let mut body = r.bytes_stream();
    let mut parser = hookbay::sse::Parser::new();
    let mut events = 0;
    // two leases are open for 60 s of Redis time; the stream re-checks them
    // every second — with the node's clock it would see them expired and
    // send more than the prefetch window
    let until = tokio::time::Instant::now() + Duration::from_secs(4);
    while let Ok(Some(Ok(chunk))) = tokio::time::timeout_at(until, {
        use futures_util::StreamExt;
        body.next()
    })
    .await
    {
        events += parser
            .push(&chunk)
            .iter()
            .filter(|e| e.event == "message")
            .count();
    }
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(events, 2, "the prefetch window holds");
}

async fn oversized_headers_get_431_and_nothing_is_stored(b: Backend) {
    let store = Storage::start(b);
    let relay = Relay::start(&store).await;
    let t = relay.tenant().await;
    let (src, ingest) = relay.source(&t, json!({})).await;
    let big = "v".repeat(64 * 1024);
    let r = relay
        .http
        .post(&ingest)
        .header("x-big", &big)
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 431);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let h = relay
        .get_json(&t.token, &format!("/v1/sources/{src}/messages"))
        .await;
    assert_eq!(h["items"], json!([]));
    // on the API too; just under the bound is fine
    let r = relay
        .http
        .get(relay.url("/v1/sources"))
        .bearer_auth(&t.token)
        .header("x-big", "v".repeat(17 * 1024))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 431);
    let r = relay
        .http
        .get(relay.url("/v1/sources"))
        .bearer_auth(&t.token)
        .header("x-big", "v".repeat(12 * 1024))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

async fn every_error_is_problem_json_even_from_extractors(b: Backend) {
    let store = Storage::start(b);
    let relay = Relay::start(&store).await;
    let t = relay.tenant().await;
    let huge = vec![b' '; 3 << 20];
    let r = relay
        .http
        .post(relay.url("/v1/sources"))
        .bearer_auth(&t.token)
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["status"], 413);
    assert_eq!(p["code"], "payload_too_large");
    assert_eq!(
        relay.get_json(&t.token, "/v1/sources").await["items"],
        json!([])
    );
}

async fn fractional_seconds_and_short_lived_tokens_are_accepted(b: Backend) {
    let store = Storage::start(b);
    let relay = Relay::start(&store).await;
    let t = relay.tenant().await;
    let (src, ingest) = relay.source(&t, json!({})).await;
    let q = relay.queue(&t, &src, json!({})).await;
    let r = relay
        .get(&t.token, &format!("/v1/queues/{q}/next?wait=0.2&lease=1.5"))
        .await;
    assert_eq!(r.status(), 204);
    relay.ingest(&ingest, "text/plain", "x").await;
    let d = relay.next(&t, &q, "lease=2.5").await.expect("message");
    let r = relay
        .http
        .post(d.meta["extendUrl"].as_str().unwrap())
        .json(&json!({"seconds": 1.5}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        relay
            .settle(&d.meta, "nackUrl", Some(json!({"delaySeconds": 0.25})))
            .await,
        204
    );
    let r = relay
        .post(
            ADMIN,
            &format!("/v1/tenants/{}/tokens", t.id),
            json!({"scopes": ["consume"], "expiresInSeconds": 1}),
        )
        .await;
    assert_eq!(r.status(), 201);
    for bad in ["wait=-1", "wait=30.5", "wait=NaN", "lease=0.5", "wait=inf"] {
        let r = relay
            .get(&t.token, &format!("/v1/queues/{q}/next?{bad}"))
            .await;
        assert_eq!(r.status(), 400, "{bad}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_racing_a_tenant_deletion_on_another_redis_node_leaves_no_orphan() {
    let redis = RedisServer::start();
    let a = Relay::start(&redis).await;
    let b = Relay::start(&redis).await;
    let t = a.tenant().await;
    // node b has the tenant (and its limits) cached and trusts the token
    b.source(&t, json!({})).await;
    assert_eq!(
        a.delete(ADMIN, &format!("/v1/tenants/{}", t.id))
            .await
            .status(),
        204
    );
    // at once on b: its revocation list may not have caught up yet (≤ 0.5 s)
    let r = b
        .post(
            &t.token,
            "/v1/sources",
            json!({"name": "late", "verification": {"type": "none"}}),
        )
        .await;
    let status = r.status().as_u16();
    assert!(status == 404 || status == 401, "got {status}");
    let mut c = redis.conn().await;
    let left: Vec<String> = c.keys("hb:source:*").await.unwrap();
    assert!(left.is_empty(), "orphan source records {left:?}");
    let all: Vec<String> = c.smembers("hb:sources").await.unwrap();
    assert!(all.is_empty(), "orphan source ids {all:?}");
    let tenant_keys: Vec<String> = c.keys(format!("hb:tenant:{}*", t.id)).await.unwrap();
    assert!(tenant_keys.is_empty(), "tenant keys left {tenant_keys:?}");
}

crate::both!(
    tenant_deletion_leaves_no_token_record_and_source_deletion_evicts_queues,
    credentials_of_token_and_basic_sources_are_never_stored,
    signature_headers_of_hmac_schemes_stay_for_reverification,
    repeated_headers_have_one_shape_everywhere,
    forged_deliveries_spend_neither_the_rate_limit_nor_redis_round_trips,
    dead_letter_cursors_are_bounded,
    oversized_headers_get_431_and_nothing_is_stored,
    every_error_is_problem_json_even_from_extractors,
    fractional_seconds_and_short_lived_tokens_are_accepted,
);
