//! Redis outages and restarts, and bounded Redis connections under many
//! waiting consumers.

use std::time::{Duration, Instant};

use crate::common::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_gives_fast_503_and_recovers_without_restart() {
    let mut redis = RedisServer::start_with(true);
    let relay = Relay::start(&redis).await;
    let t = relay.tenant().await;
    let (src, ingest) = relay.source(&t, json!({})).await;
    let q = relay.queue(&t, &src, json!({})).await;
    relay.ingest(&ingest, "text/plain", "before").await;
    assert_eq!(
        relay
            .http
            .get(relay.url("/readyz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    redis.stop();
    for _ in 0..3 {
        let started = Instant::now();
        let r = relay
            .http
            .post(&ingest)
            .body("during")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 503);
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(r.headers()["retry-after"], "1");
        assert_eq!(r.headers()["content-type"], "application/problem+json");
    }
    let r = relay.http.get(relay.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(
        relay
            .http
            .get(relay.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    // consumers get a 503 too, not a hang
    let r = relay.get(&t.token, &format!("/v1/queues/{q}/next")).await;
    assert_eq!(r.status(), 503);

    redis.restart();
    eventually(Duration::from_secs(10), || async {
        relay
            .http
            .get(relay.url("/readyz"))
            .send()
            .await
            .unwrap()
            .status()
            == 200
    })
    .await;
    relay.ingest(&ingest, "text/plain", "after").await;
    let d1 = relay.next(&t, &q, "").await.unwrap();
    assert_eq!(d1.body, b"before", "data kept by Redis persistence");
    let d2 = relay.next(&t, &q, "").await.unwrap();
    assert_eq!(d2.body, b"after");

    // the notification path came back too: a long poll is woken promptly
    let poll = relay.spawn_next(&t, &q, 20);
    eventually(Duration::from_secs(5), || async {
        let mut c = redis.conn().await;
        let n: Vec<(String, i64)> = redis::cmd("PUBSUB")
            .arg("NUMSUB")
            .arg(format!("hookbay:wake:{src}"))
            .query_async(&mut c)
            .await
            .unwrap();
        n[0].1 > 0
    })
    .await;
    relay.ingest(&ingest, "text/plain", "wake").await;
    let r = tokio::time::timeout(Duration::from_secs(2), poll)
        .await
        .expect("woken")
        .unwrap();
    assert_eq!(r.text().await.unwrap(), "wake");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flushed_redis_scripts_are_reloaded_transparently() {
    let redis = RedisServer::start();
    let relay = Relay::start(&redis).await;
    let t = relay.tenant().await;
    let (src, ingest) = relay.source(&t, json!({})).await;
    let q = relay.queue(&t, &src, json!({})).await;
    relay.ingest(&ingest, "text/plain", "1").await;
    let mut c = redis.conn().await;
    let _: () = redis::cmd("SCRIPT")
        .arg("FLUSH")
        .query_async(&mut c)
        .await
        .unwrap();
    relay.ingest(&ingest, "text/plain", "2").await;
    let d = relay.next(&t, &q, "").await.unwrap();
    assert_eq!(d.body, b"1");
}

/// The pool bounds a node's connections whatever its worker count: six
/// workers and a pool of three open three command connections and one
/// pub/sub, and every worker still serves requests.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_workers_than_the_pool_share_it_redis_test() {
    let redis = RedisServer::start();
    let mut cfg = config(&redis);
    cfg.redis_pool_size = 3;
    cfg.workers = Some(6);
    let relay = Relay::start_with(cfg).await;
    let t = relay.tenant().await;
    let (src, ingest) = relay.source(&t, json!({})).await;
    let q = relay.queue(&t, &src, json!({})).await;
    // fresh connections land on every worker in turn
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    for i in 0..24 {
        let r = http
            .post(&ingest)
            .body(format!("{i}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
    }
    for i in 0..24 {
        let d = relay.next(&t, &q, "").await.unwrap();
        assert_eq!(d.body, format!("{i}").as_bytes());
    }
    // pool (3) + notifications (1) + this test's own connection (1)
    let n = client_count(&redis).await;
    assert!(n <= 3 + 1 + 1, "{n} redis clients with a pool of 3");
}

/// Count connections whose client port is not the test's own.
async fn client_count(redis: &RedisServer) -> usize {
    let mut c = redis.conn().await;
    let list: String = redis::cmd("CLIENT")
        .arg("LIST")
        .query_async(&mut c)
        .await
        .unwrap();
    list.lines().count() - 1
}

async fn many_waiting_consumers_share_a_bounded_set_of_connections(b: Backend) {
    let store = Storage::start(b);
    let mut cfg = config(&store);
    cfg.redis_pool_size = 4;
    let relay = Relay::start_with(cfg).await;
    let t = relay.tenant().await;
    let (src, ingest) = relay.source(&t, json!({})).await;
    let q = relay.queue(&t, &src, json!({})).await;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();

    let mut polls = vec![];
    for _ in 0..300 {
        let (http, url, tok) = (
            http.clone(),
            relay.url(&format!("/v1/queues/{q}/next?wait=30")),
            t.token.clone(),
        );
        polls.push(tokio::spawn(async move {
            http.get(url)
                .bearer_auth(tok)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    let mut streams = vec![];
    for _ in 0..300 {
        let url = relay.url(&format!(
            "/v1/queues/{q}/stream?prefetch=1&access_token={}",
            t.token
        ));
        streams.push(http.get(url).send().await.unwrap());
    }
    eventually(Duration::from_secs(20), || async {
        relay.metric("hookbay_long_polls_waiting").await >= 300.0
            && relay.metric("hookbay_sse_clients").await >= 300.0
    })
    .await;
    if let Storage::Redis(r) = &store {
        let n = client_count(r).await;
        // pool (4, the workers' own included) + notifications (1) + this
        // test's own connection (1)
        assert!(
            n <= 4 + 1 + 1,
            "{n} redis clients for 600 waiting consumers"
        );
    }
    // and they all still work: streams hold at most one each (prefetch=1),
    // so of 600 messages at least 300 must reach the long polls
    for i in 0..600 {
        relay.ingest(&ingest, "text/plain", format!("{i}")).await;
    }
    let mut ok = 0;
    for p in polls {
        if tokio::time::timeout(Duration::from_secs(30), p)
            .await
            .unwrap()
            .unwrap()
            == 200
        {
            ok += 1;
        }
    }
    assert_eq!(ok, 300, "every long poll got a message");
    if let Storage::Redis(r) = &store {
        assert!(client_count(r).await <= 8);
    }
    drop(streams);
}

crate::both!(many_waiting_consumers_share_a_bounded_set_of_connections,);
