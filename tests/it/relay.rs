//! End-to-end behaviour of the core relay: ingest, pull, stream, settle,
//! redelivery, dead letters, replay, history — real Redis, real HTTP.

use std::time::Duration;

use crate::common::*;
use base64::Engine;
use serde_json::{json, Value};

async fn ingest_then_next_is_byte_exact_with_full_meta(b: Backend) {
    let store = Storage::start(b);
    let relay = Relay::start(&store).await;
    let t = relay.tenant().await;
    let (src, ingest) = relay.source(&t, json!({})).await;
    let q = relay.queue(&t, &src, json!({})).await;

    let body: Vec<u8> = b"<xml a='1'>\r\n  caf\xc3\xa9 \x00\xff</xml>".to_vec();
    let r = relay
        .http
        .put(format!("{ingest}/github/events?x=1&y=two"))
        .header("content-type", "application/xml")
        .header("X-Custom", "Value")
        .header("connection", "keep-alive")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(id.starts_with("msg_"));

    let d = relay.next(&t, &q, "").await.expect("a delivery");
    assert_eq!(d.body, body, "raw bytes survive");
    assert_eq!(d.ct, "application/xml");
    let m = &d.meta;
    assert_eq!(m["messageId"], id);
    assert_eq!(m["queueId"], q);
    assert_eq!(m["sourceId"], src);
    assert_eq!(m["attempt"], 1);
    assert_eq!(m["maxAttempts"], 5);
    assert_eq!(m["method"], "PUT");
    assert_eq!(m["path"], "github/events");
    assert_eq!(m["query"], "x=1&y=two");
    assert_eq!(m["contentType"], "application/xml");
    assert_eq!(m["headers"]["x-custom"], "Value");
    assert!(
        m["headers"].get("connection").is_none(),
        "hop-by-hop dropped"
    );
    assert_eq!(m["verified"], false);
    assert_eq!(m["redelivered"], false);
    assert_eq!(m["replayed"], false);
    for k in ["receivedAt", "leaseExpiresAt"] {
        chrono::DateTime::parse_from_rfc3339(m[k].as_str().unwrap()).expect(k);
    }
    for k in ["ackUrl", "nackUrl", "rejectUrl", "extendUrl"] {
        assert!(
            m[k].as_str().unwrap().starts_with(&relay.running.url()),
            "{k} is absolute"
        );
    }
    assert!(
        relay.next(&t, &q, "").await.is_none(),
        "leased: not handed out twice"
    );
    assert_eq!(relay.settle(m, "ackUrl", None).await, 204);
    assert_eq!(
        relay.settle(m, "ackUrl", None).await,
        409,
        "ack twice: stale"
    );
    let c = relay.counts(&t, &q).await;
    assert_eq!(
        (c["ready"].as_u64(), c["leased"].as_u64()),
        (Some(0), Some(0))
    );
}

async fn fan_out_delivers_to_every_queue_independently(b: Backend) {
    let store = Storage::start(b);
    let relay = Relay::start(&store).await;
    let t = relay.tenant().await;
    let (src, ingest) = relay.source(&t, json!({})).await;
    let q1 = relay.queue(&t, &src, json!({})).await;
    let q2 = relay.queue(&t, &src, json!({})).await;
    let id = relay
        .ingest(&ingest, "application/json", r#"{"n":1}"#)
        .await;
    let a = relay.next(&t, &q1, "").await.unwrap();
    let b = relay.next(&t, &q2, "").await.unwrap();
    assert_eq!(a.meta["messageId"], id);
    assert_eq!(b.meta["messageId"], id);
    assert_eq!(relay.settle(&a.meta, "ackUrl", None).await, 204);
    // q2's lease is independent of q1's ack
    assert_eq!(
        relay
            .settle(&b.meta, "nackUrl", Some(json!({"delaySeconds": 0})))
            .await,
        204
    );
    let again = relay.next(&t, &q2, "").await.unwrap();
    assert_eq!(again.meta["attempt"], 2);
    assert_eq!(again.meta["redelivered"], true);
    assert!(relay.next(&t, &q1, "").await.is_none());
}

async fn long_poll_wakes_on_ingest_and_times_out_with_204(b: Backend) {
    let store = Storage::start(b);
    let relay = Relay::start(&store).await;
    let t = relay.tenant().await;
    let (src, ingest) = relay.source(&t, json!({})).await;
    let q = relay.queue(&t, &src, json!({})).await;

    let started = std::time::Instant::now();
    assert!(relay.next(&t, &q, "wait=1").await.is_none());
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "waited for `wait`"
    );

    let poll = relay.spawn_next(&t, &q, 30);
    // the poll is parked; wait until the relay counts it before ingesting
    eventually(Duration::from_secs(5), || async {
        relay.metric("hookbay_long_polls_waiting").await > 0.0
    })
    .await;
    relay.ingest(&ingest, "text/plain", "wake up").await;
    let r = tokio::time::timeout(Duration::from_secs(2), poll)
        .await
        .expect("woken well before the 3 s fallback")
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "wake up");
}

async fn sse_sends_non_utf8_as_base64_and_text_as_utf8(b: Backend) {
    let store = Storage::start(b);
    let relay = Relay::start(&store).await;
    let t = relay.tenant().await;
    let (src, ingest) = relay.source(&t, json!({})).await;
    let q = relay.queue(&t, &src, json!({})).await;
    let binary: Vec<u8> = (0u8..=255).collect();
    let id1 = relay
        .ingest(&ingest, "application/octet-stream", binary.clone())
        .await;
    let id2 = relay
        .ingest(&ingest, "application/json", r#"{"héllo":"wörld"}"#)
        .await;

    // access_token in the query, as a browser EventSource would send it
    let url = relay.url(&format!("/v1/queues/{q}/stream?access_token={}", t.token));
    let mut sse = Sse::connect(&relay, &url).await;
    let e1 = sse.next_event().await.unwrap();
    assert_eq!(e1.id, id1);
    assert_eq!(e1.data["encoding"], "base64");
    assert_eq!(e1.data["contentType"], "application/octet-stream");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(e1.data["payload"].as_str().unwrap())
        .unwrap();
    assert_eq!(bytes, binary);
    let e2 = sse.next_event().await.unwrap();
    assert_eq!(e2.id, id2);
    assert_eq!(e2.data["encoding"], "utf8");
    assert_eq!(e2.data["payload"], r#"{"héllo":"wörld"}"#);
    assert_eq!(e2.data["meta"]["messageId"], id2);
    assert_eq!(relay.settle(&e1.data["meta"], "ackUrl", None).await, 204);
}

async fn prefetch_window_limits_unsettled_messages_per_stream(b: Backend) {
    let store = Storage::start(b);
    let relay = Relay::start(&store).await;
    let t = relay.tenant().await;
    let (src, ingest) = relay.source(&t, json!({})).await;
    let q = relay.queue(&t, &src, json!({})).await;
    for i in 0..5 {
        relay.ingest(&ingest, "text/plain", format!("m{i}")).await;
    }
    let url = relay.url(&format!(
        "/v1/queues/{q}/stream?prefetch=2&access_token={}",
        t.token
    ));
    let mut sse = Sse::connect(&relay, &url).await;
    let a = sse.next_event().await.unwrap();
    let b = sse.next_event().await.unwrap();
    assert_eq!(
        (a.data["payload"].as_str(), b.data["payload"].as_str()),
        (Some("m0"), Some("m1"))
    );
    // window full: nothing more arrives, and the rest stays ready
    assert!(sse.next_within(Duration::from_millis(1500)).await.is_none());
    let c = relay.counts(&t, &q).await;
    assert_eq!(
        (c["leased"].as_u64(), c["ready"].as_u64()),
        (Some(2), Some(3))
    );
    // settling one frees one slot
    assert_eq!(relay.settle(&a.data["meta"], "ackUrl", None).await, 204);
    let c3 = sse
        .next_within(Duration::from_secs(5))
        .await
        .expect("slot refilled");
    assert_eq!(c3.data["payload"], "m2");
    assert!(sse.next_within(Duration::from_millis(1000)).await.is_none());
    // a reject frees a slot too
    assert_eq!(relay.settle(&b.data["meta"], "rejectUrl", None).await, 204);
    let c4 = sse
        .next_within(Duration::from_secs(5))
        .await
        .expect("slot refilled");
    assert_eq!(c4.data["payload"], "m3");
}

async fn nack_delay_is_honoured_not_before(b: Backend) {
    let store = Storage::start(b);
    let relay = Relay::start(&store).await;
    let t = relay.tenant().await;
    let (src, ingest) = relay.source(&t, json!({})).await;
    let q = relay.queue(&t, &src, json!({})).await;
    relay.ingest(&ingest, "text/plain", "x").await;
    let d = relay.next(&t, &q, "").await.unwrap();
    let nacked_at = std::time::Instant::now();
    assert_eq!(
        relay
            .settle(
                &d.meta,
                "nackUrl",
                Some(json!({"reason": "busy", "delaySeconds": 2}))
            )
            .await,
        204
    );
    assert_eq!(relay.counts(&t, &q).await["delayed"], 1);
    // a long poll that covers the due time gets it, but not before 2 s
    let again = relay.next(&t, &q, "wait=10").await.expect("redelivered");
    assert!(
        nacked_at.elapsed() >= Duration::from_millis(1950),
        "{:?}",
        nacked_at.elapsed()
    );
    assert_eq!(again.meta["attempt"], 2);
    // the history records the nack with its reason
    let msg = relay
        .get_json(
            &t.token,
            &format!("/v1/messages/{}", d.meta["messageId"].as_str().unwrap()),
        )
        .await;
    let h = &msg["deliveries"][0]["history"];
    assert_eq!(h[0]["outcome"], "nack");
    assert_eq!(h[0]["reason"], "busy");
    assert_eq!(h[1]["attempt"], 2);
}

async fn expired_leases_redeliver_with_backoff_then_dead_letter(b: Backend) {
    let store = Storage::start(b);
    let relay = Relay::start(&store).await;
    let t = relay.tenant().await;
    let (src, ingest) = relay.source(&t, json!({})).await;
    let q = relay
        .queue(
            &t,
            &src,
            json!({"leaseSeconds": 1, "maxAttempts": 2,
                   "backoff": {"initialSeconds": 0, "multiplier": 1, "maxSeconds": 0}}),
        )
        .await;
    let id = relay.ingest(&ingest, "text/plain", "flaky").await;
    let first = relay.next(&t, &q, "").await.unwrap();
    assert_eq!(first.meta["attempt"], 1);
    // nobody settles: the lease runs out and the message comes back
    let second = relay
        .next(&t, &q, "wait=10")
        .await
        .expect("redelivered after expiry");
    assert_eq!(second.meta["attempt"], 2);
    assert_eq!(second.meta["redelivered"], true);
    // the stale token from the first lease cannot settle the second
    assert_eq!(relay.settle(&first.meta, "ackUrl", None).await, 409);
    // second lease also expires -> max attempts -> dead letter
    eventually(Duration::from_secs(10), || async {
        relay.counts(&t, &q).await["dead"] == 1
    })
    .await;
    let dl = relay
        .get_json(&t.token, &format!("/v1/queues/{q}/dead-letters"))
        .await;
    assert_eq!(dl["items"][0]["messageId"], id);
    assert_eq!(dl["items"][0]["reason"], "max_attempts");
    assert_eq!(dl["items"][0]["attempts"], 2);
    assert_eq!(dl["items"][0]["history"][1]["outcome"], "expired");
    // the expired lease's token is refused and changes nothing
    assert_eq!(relay.settle(&second.meta, "ackUrl", None).await, 409);
    assert_eq!(relay.counts(&t, &q).await["dead"], 1);

    // redrive the dead letters
    let r = relay
        .post(
            &t.token,
            &format!("/v1/queues/{q}/replay"),
            json!({"deadLetters": true}),
        )
        .await;
    assert_eq!(r.status(), 202);
    assert_eq!(r.json::<Value>().await.unwrap()["replayed"], 1);
    let again = relay.next(&t, &q, "").await.unwrap();
    assert_eq!(again.meta["messageId"], id);
    assert_eq!(again.meta["attempt"], 1, "attempts reset");
    assert_eq!(again.meta["replayed"], true);
}

async fn reject_dead_letters_with_reason_and_extend_prolongs_the_lease(b: Backend) {
    let store = Storage::start(b);
    let relay = Relay::start(&store).await;
    let t = relay.tenant().await;
    let (src, ingest) = relay.source(&t, json!({})).await;
    let q = relay.queue(&t, &src, json!({"leaseSeconds": 1})).await;
    relay.ingest(&ingest, "text/plain", "a").await;
    let d = relay.next(&t, &q, "").await.unwrap();
    let r = relay
        .http
        .post(d.meta["extendUrl"].as_str().unwrap())
        .json(&json!({"seconds": 60}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let new_exp = r.json::<Value>().await.unwrap()["leaseExpiresAt"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(new_exp.as_str() > d.meta["leaseExpiresAt"].as_str().unwrap());
    // the original 1 s lease would have expired by now; the extended one holds
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(relay.counts(&t, &q).await["leased"], 1);
    assert_eq!(
        relay
            .settle(
                &d.meta,
                "rejectUrl",
                Some(json!({"reason": "schema mismatch"}))
            )
            .await,
        204
    );
    let dl = relay
        .get_json(&t.token, &format!("/v1/queues/{q}/dead-letters"))
        .await;
    assert_eq!(dl["items"][0]["reason"], "schema mismatch");
}

async fn replay_of_acked_messages_by_id_and_time_range(b: Backend) {
    let store = Storage::start(b);
    let relay = Relay::start(&store).await;
    let t = relay.tenant().await;
    let (src, ingest) = relay.source(&t, json!({})).await;
    let q = relay.queue(&t, &src, json!({})).await;
    let before = chrono::Utc::now().to_rfc3339();
    let id = relay.ingest(&ingest, "text/plain", "once").await;
    let d = relay.next(&t, &q, "").await.unwrap();
    assert_eq!(relay.settle(&d.meta, "ackUrl", None).await, 204);
    assert!(relay.next(&t, &q, "").await.is_none());

    let r = relay
        .post(
            &t.token,
            &format!("/v1/queues/{q}/replay"),
            json!({"messageIds": [id]}),
        )
        .await;
    assert_eq!(r.status(), 202);
    assert_eq!(r.json::<Value>().await.unwrap()["replayed"], 1);
    let again = relay.next(&t, &q, "").await.unwrap();
    assert_eq!(again.meta["messageId"], id);
    assert_eq!(again.meta["replayed"], true);
    assert_eq!(again.meta["attempt"], 1);
    assert_eq!(again.body, b"once");
    // replay supersedes the current lease: its token is now stale
    let r = relay
        .post(
            &t.token,
            &format!("/v1/queues/{q}/replay"),
            json!({"from": before, "to": chrono::Utc::now().to_rfc3339()}),
        )
        .await;
    assert_eq!(r.json::<Value>().await.unwrap()["replayed"], 1);
    assert_eq!(relay.settle(&again.meta, "ackUrl", None).await, 409);
    let third = relay.next(&t, &q, "").await.unwrap();
    assert_eq!(relay.settle(&third.meta, "ackUrl", None).await, 204);
}

async fn history_message_detail_and_queue_stats(b: Backend) {
    let store = Storage::start(b);
    let relay = Relay::start(&store).await;
    let t = relay.tenant().await;
    let (src, ingest) = relay.source(&t, json!({})).await;
    let q = relay.queue(&t, &src, json!({})).await;
    let mut ids = vec![];
    for i in 0..5 {
        ids.push(
            relay
                .ingest(&ingest, "application/json", format!(r#"{{"i":{i}}}"#))
                .await,
        );
    }
    let page1 = relay
        .get_json(&t.token, &format!("/v1/sources/{src}/messages?limit=3"))
        .await;
    let items = page1["items"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    assert_eq!(items[0]["id"], ids[4], "newest first");
    let cursor = page1["nextCursor"].as_str().unwrap();
    let page2 = relay
        .get_json(
            &t.token,
            &format!("/v1/sources/{src}/messages?limit=3&cursor={cursor}"),
        )
        .await;
    let rest: Vec<&str> = page2["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(rest, vec![ids[1].as_str(), ids[0].as_str()]);

    let d = relay.next(&t, &q, "").await.unwrap();
    let m = relay
        .get_json(&t.token, &format!("/v1/messages/{}", ids[0]))
        .await;
    assert_eq!(m["payload"], r#"{"i":0}"#);
    assert_eq!(m["deliveries"][0]["queueId"], q);
    assert_eq!(m["deliveries"][0]["state"], "leased");
    assert_eq!(m["deliveries"][0]["attempts"], 1);
    let stats = relay.get_json(&t.token, &format!("/v1/queues/{q}")).await;
    assert_eq!(stats["leaseSeconds"], 30);
    assert_eq!(stats["counts"]["ready"], 4);
    assert_eq!(stats["counts"]["leased"], 1);
    assert!(stats["counts"]["oldestReadyAgeSeconds"].as_f64().unwrap() >= 0.0);
    assert_eq!(relay.settle(&d.meta, "ackUrl", None).await, 204);
    let m = relay
        .get_json(&t.token, &format!("/v1/messages/{}", ids[0]))
        .await;
    assert_eq!(m["deliveries"][0]["state"], "acked");
    assert_eq!(m["deliveries"][0]["history"][0]["outcome"], "ack");
}

async fn body_limit_unknown_key_and_token_verification(b: Backend) {
    let store = Storage::start(b);
    let relay = Relay::start(&store).await;
    let t = relay.tenant().await;
    let (src, ingest) = relay
        .source(
            &t,
            json!({"maxBodyBytes": 1024,
                   "verification": {"type": "token", "secrets": ["s3cret-token"], "header": "X-Webhook-Token"}}),
        )
        .await;
    let q = relay.queue(&t, &src, json!({})).await;
    let post = |url: String, body: Vec<u8>| {
        let http = relay.http.clone();
        async move { http.post(url).body(body).send().await.unwrap() }
    };
    // wrong or missing token -> 401, nothing stored
    let r = post(ingest.clone(), b"x".to_vec()).await;
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let r = post(format!("{ingest}?token=wrong-token"), b"x".to_vec()).await;
    assert_eq!(r.status(), 401);
    // too large -> 413
    let r = post(format!("{ingest}?token=s3cret-token"), vec![b'a'; 1025]).await;
    assert_eq!(r.status(), 413);
    let r = relay
        .http
        .post(format!("{ingest}?token=s3cret-token"))
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            (0..10).map(|_| Ok::<_, std::io::Error>(vec![b'b'; 200])),
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413, "chunked body over the limit");
    // unknown key -> 404
    let r = post(
        relay.url("/in/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
        b"x".to_vec(),
    )
    .await;
    assert_eq!(r.status(), 404);
    assert_eq!(relay.counts(&t, &q).await["ready"], 0, "nothing stored");
    // right token (query) -> stored, verified, and the token is not kept
    let r = post(format!("{ingest}?a=1&token=s3cret-token"), b"ok".to_vec()).await;
    assert_eq!(r.status(), 202);
    let d = relay.next(&t, &q, "").await.unwrap();
    assert_eq!(d.meta["verified"], true);
    assert_eq!(d.meta["query"], "a=1");
    // header form works too and is case-insensitive
    let r = relay
        .http
        .post(&ingest)
        .header("x-webhook-token", "s3cret-token")
        .body("h")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
}

async fn dedupe_and_custom_response(b: Backend) {
    let store = Storage::start(b);
    let relay = Relay::start(&store).await;
    let t = relay.tenant().await;
    let (src, ingest) = relay
        .source(
            &t,
            json!({"dedupe": {"header": "X-Delivery"},
                   "response": {"status": 200, "body": "thanks", "contentType": "text/plain"}}),
        )
        .await;
    let q = relay.queue(&t, &src, json!({})).await;
    let send = || async {
        relay
            .http
            .post(&ingest)
            .header("x-delivery", "abc-1")
            .body("same")
            .send()
            .await
            .unwrap()
    };
    let (a, b) = tokio::join!(send(), send());
    assert_eq!((a.status().as_u16(), b.status().as_u16()), (200, 200));
    let ida = a.headers()["x-hookbay-message-id"]
        .to_str()
        .unwrap()
        .to_string();
    let idb = b.headers()["x-hookbay-message-id"]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(ida, idb, "duplicate answers the first id");
    assert_eq!(a.text().await.unwrap(), "thanks");
    assert_eq!(relay.counts(&t, &q).await["ready"], 1, "stored once");
}

async fn retention_trims_settled_messages_but_never_pending_ones(b: Backend) {
    let storage = Storage::start(b);
    let relay = Relay::start(&storage).await;
    let t = relay.tenant().await;
    let (src, ingest) = relay.source(&t, json!({})).await;
    let q = relay.queue(&t, &src, json!({})).await;
    let acked = relay.ingest(&ingest, "text/plain", "old, acked").await;
    let pending = relay.ingest(&ingest, "text/plain", "old, pending").await;
    let d = relay.next(&t, &q, "").await.unwrap();
    assert_eq!(d.meta["messageId"], acked);
    assert_eq!(relay.settle(&d.meta, "ackUrl", None).await, 204);
    // shrink retention to 1 ms behind the API's back: both are now "old"
    storage.set_retention_ms(&src, 1).await;
    let store = relay.running.state.store.clone();
    eventually(Duration::from_secs(5), || async {
        hookbay::reaper::pass(&store).await.unwrap();
        relay
            .get(&t.token, &format!("/v1/messages/{acked}"))
            .await
            .status()
            == 404
    })
    .await;
    assert_eq!(
        relay
            .get(&t.token, &format!("/v1/messages/{pending}"))
            .await
            .status(),
        200
    );
    let d = relay
        .next(&t, &q, "")
        .await
        .expect("pending message survived");
    assert_eq!(d.body, b"old, pending");
}

async fn deleting_a_queue_stops_fan_out_and_ends_streams(b: Backend) {
    let store = Storage::start(b);
    let relay = Relay::start(&store).await;
    let t = relay.tenant().await;
    let (src, ingest) = relay.source(&t, json!({})).await;
    let q = relay.queue(&t, &src, json!({})).await;
    let keep = relay.queue(&t, &src, json!({})).await;
    relay.ingest(&ingest, "text/plain", "1").await;
    let r = relay.delete(&t.token, &format!("/v1/queues/{q}")).await;
    assert_eq!(r.status(), 204);
    assert_eq!(
        relay
            .get(&t.token, &format!("/v1/queues/{q}"))
            .await
            .status(),
        404
    );
    relay.ingest(&ingest, "text/plain", "2").await;
    assert_eq!(relay.counts(&t, &keep).await["ready"], 2);
    let left = store.mentions(&q).await;
    assert!(left.is_empty(), "queue state removed: {left:?}");
    // deleting the source stops ingest
    let r = relay.delete(&t.token, &format!("/v1/sources/{src}")).await;
    assert_eq!(r.status(), 204);
    let r = relay.http.post(&ingest).body("3").send().await.unwrap();
    assert_eq!(r.status(), 404);
}

async fn metrics_count_ingest_and_settlements_and_sse_sends_keep_alives(b: Backend) {
    let store = Storage::start(b);
    let relay = Relay::start(&store).await;
    let t = relay.tenant().await;
    let (src, ingest) = relay.source(&t, json!({})).await;
    let q = relay.queue(&t, &src, json!({})).await;
    relay.ingest(&ingest, "text/plain", "m").await;
    let d = relay.next(&t, &q, "").await.unwrap();
    assert_eq!(relay.settle(&d.meta, "ackUrl", None).await, 204);
    let m = relay.metrics().await;
    for needle in [
        "hookbay_ingest_total{outcome=\"stored\"}",
        "hookbay_deliveries_total{via=\"next\"}",
        "hookbay_settlements_total{outcome=\"ack\"}",
    ] {
        assert!(m.contains(needle), "{needle} missing from\n{m}");
    }
    assert!(!m.contains(&q), "no queue ids as label values");

    // an idle stream still sends a keep-alive comment within 15 s
    let r = relay
        .http
        .get(relay.url(&format!("/v1/queues/{q}/stream")))
        .bearer_auth(&t.token)
        .send()
        .await
        .unwrap();
    let mut body = r.bytes_stream();
    use futures_util::StreamExt;
    // the first comment comes at once; the next one proves the period
    for _ in 0..2 {
        let chunk = tokio::time::timeout(Duration::from_secs(15), body.next())
            .await
            .expect("a keep-alive within 15 s")
            .unwrap()
            .unwrap();
        assert!(chunk.starts_with(b":"), "a comment line: {chunk:?}");
    }
}

crate::both!(
    retention_trims_settled_messages_but_never_pending_ones,
    deleting_a_queue_stops_fan_out_and_ends_streams,
    ingest_then_next_is_byte_exact_with_full_meta,
    fan_out_delivers_to_every_queue_independently,
    long_poll_wakes_on_ingest_and_times_out_with_204,
    sse_sends_non_utf8_as_base64_and_text_as_utf8,
    prefetch_window_limits_unsettled_messages_per_stream,
    nack_delay_is_honoured_not_before,
    expired_leases_redeliver_with_backoff_then_dead_letter,
    reject_dead_letters_with_reason_and_extend_prolongs_the_lease,
    replay_of_acked_messages_by_id_and_time_range,
    history_message_detail_and_queue_stats,
    body_limit_unknown_key_and_token_verification,
    dedupe_and_custom_response,
    metrics_count_ingest_and_settlements_and_sse_sends_keep_alives,
);
