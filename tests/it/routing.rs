//! Routing end to end: event types (presets and source rules), queue
//! filters deciding the fan-out at ingest, the filter test endpoint,
//! replay through filters, and history search — on both backends.

use std::time::Duration;

use crate::common::*;
use serde_json::{json, Value};

async fn post_json(relay: &Relay, url: &str, body: Value, headers: &[(&str, &str)]) -> Value {
    let mut req = relay.http.post(url).json(&body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let r = req.send().await.expect("ingest");
    assert_eq!(r.status(), 202);
    r.json().await.expect("json")
}

/// Ids of the messages a queue delivers now (acking each), in order.
async fn drain(relay: &Relay, t: &Tenant, q: &str) -> Vec<String> {
    let mut out = vec![];
    while let Some(d) = relay.next(t, q, "").await {
        out.push(d.meta["messageId"].as_str().unwrap().to_string());
        assert_eq!(relay.settle(&d.meta, "ackUrl", None).await, 204);
    }
    out
}

async fn message(relay: &Relay, t: &Tenant, id: &str) -> Value {
    relay
        .get_json(&t.token, &format!("/v1/messages/{id}"))
        .await
}

async fn event_types_come_from_presets_and_source_rules(b: Backend) {
    let store = Storage::start(b);
    let relay = Relay::start(&store).await;
    let t = relay.tenant().await;
    // a GitHub preset: X-GitHub-Event
    let secret = "gh-secret";
    let (gh, gh_in) = relay
        .source(
            &t,
            json!({"verification": {"type": "github", "secrets": [secret]}}),
        )
        .await;
    let gq = relay.queue(&t, &gh, json!({})).await;
    let body = br#"{"ref":"refs/heads/main"}"#;
    let sig = hookbay::verify::sig::mac(
        hookbay::verify::sig::Algorithm::Sha256,
        secret.as_bytes(),
        &[body],
    );
    let r = relay
        .http
        .post(&gh_in)
        .header("content-type", "application/json")
        .header("x-github-event", "push")
        .header("x-github-delivery", "d-1")
        .header(
            "x-hub-signature-256",
            format!("sha256={}", hex::encode(sig)),
        )
        .body(body.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let d = relay.next(&t, &gq, "").await.unwrap();
    assert_eq!(d.meta["eventType"], "push");
    assert_eq!(message(&relay, &t, &id).await["eventType"], "push");
    let h = relay
        .get_json(&t.token, &format!("/v1/sources/{gh}/messages"))
        .await;
    assert_eq!(h["items"][0]["eventType"], "push");

    // a source rule overrides; no rule and no preset: null
    let (plain, plain_in) = relay.source(&t, json!({})).await;
    let pq = relay.queue(&t, &plain, json!({})).await;
    relay
        .ingest(&plain_in, "application/json", r#"{"type":"a"}"#)
        .await;
    let d = relay.next(&t, &pq, "").await.unwrap();
    assert_eq!(d.meta["eventType"], Value::Null);
    let r = relay
        .patch(
            &t.token,
            &format!("/v1/sources/{plain}"),
            json!({"eventType": {"jsonPointer": "/data/kind"}}),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Value>().await.unwrap()["eventType"],
        json!({"jsonPointer": "/data/kind"})
    );
    relay
        .ingest(
            &plain_in,
            "application/json",
            r#"{"data":{"kind":"order.created"}}"#,
        )
        .await;
    let d = relay.next(&t, &pq, "").await.unwrap();
    assert_eq!(d.meta["eventType"], "order.created");
    let r = relay
        .patch(
            &t.token,
            &format!("/v1/sources/{plain}"),
            json!({"eventType": {"header": "X-Event-Name"}}),
        )
        .await;
    assert_eq!(r.status(), 200);
    post_json(&relay, &plain_in, json!({}), &[("x-event-name", "ping")]).await;
    assert_eq!(
        relay.next(&t, &pq, "").await.unwrap().meta["eventType"],
        "ping"
    );
    // invalid rules are refused and change nothing
    for bad in [
        json!({"header": "a", "jsonPointer": "/a"}),
        json!({"jsonPointer": "a"}),
        json!({}),
    ] {
        let r = relay
            .patch(
                &t.token,
                &format!("/v1/sources/{plain}"),
                json!({"eventType": bad}),
            )
            .await;
        assert_eq!(r.status(), 400, "{bad}");
    }
    let s = relay
        .get_json(&t.token, &format!("/v1/sources/{plain}"))
        .await;
    assert_eq!(s["eventType"], json!({"header": "X-Event-Name"}));
}

async fn filters_decide_the_fan_out_at_ingest(b: Backend) {
    let store = Storage::start(b);
    let relay = Relay::start(&store).await;
    let t = relay.tenant().await;
    let (src, ingest) = relay
        .source(&t, json!({"eventType": {"jsonPointer": "/type"}}))
        .await;
    let all = relay.queue(&t, &src, json!({})).await;
    let billing = relay
        .queue(
            &t,
            &src,
            json!({"filter": {
                "eventType": {"$in": ["invoice.paid", "invoice.payment_failed"]},
                "body": {"data": {"object": {"amount_paid": {"$gte": 1000}}}},
                "headers": {"x-env": {"$neq": "test"}}
            }}),
        )
        .await;
    let eur = relay
        .queue(
            &t,
            &src,
            json!({"filter": {"body": {"data": {"object": {"currency": "eur"}}}}}),
        )
        .await;
    let paid_big = post_json(
        &relay,
        &ingest,
        json!({"type": "invoice.paid", "data": {"object": {"amount_paid": 1500, "currency": "usd"}}}),
        &[],
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let paid_test = post_json(
        &relay,
        &ingest,
        json!({"type": "invoice.paid", "data": {"object": {"amount_paid": 1500, "currency": "eur"}}}),
        &[("x-env", "test")],
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let small = post_json(
        &relay,
        &ingest,
        json!({"type": "invoice.paid", "data": {"object": {"amount_paid": 10}}}),
        &[],
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    // not JSON: only queues whose filter does not look into the body
    let text = relay.ingest(&ingest, "text/plain", "currency eur").await;

    assert_eq!(
        drain(&relay, &t, &all).await,
        vec![
            paid_big.clone(),
            paid_test.clone(),
            small.clone(),
            text.clone()
        ]
    );
    assert_eq!(drain(&relay, &t, &billing).await, vec![paid_big.clone()]);
    assert_eq!(drain(&relay, &t, &eur).await, vec![paid_test.clone()]);
    // per-queue sections show only where a message went
    let queues_of = |m: Value| -> Vec<String> {
        m["deliveries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["queueId"].as_str().unwrap().to_string())
            .collect()
    };
    let mut want = vec![all.clone(), billing.clone()];
    want.sort();
    assert_eq!(queues_of(message(&relay, &t, &paid_big).await), want);
    assert_eq!(
        queues_of(message(&relay, &t, &small).await),
        vec![all.clone()]
    );
    for q in [&billing, &eur] {
        let c = relay.counts(&t, q).await;
        assert_eq!(
            (c["ready"].as_u64(), c["leased"].as_u64()),
            (Some(0), Some(0)),
            "{q}"
        );
    }

    // a message that matches no queue is still kept in history
    relay.delete(&t.token, &format!("/v1/queues/{all}")).await;
    let none = post_json(&relay, &ingest, json!({"type": "x"}), &[]).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(message(&relay, &t, &none).await["deliveries"], json!([]));
    let h = relay
        .get_json(&t.token, &format!("/v1/sources/{src}/messages?limit=1"))
        .await;
    assert_eq!(h["items"][0]["id"], none);
    assert!(relay.next(&t, &billing, "").await.is_none());
    assert!(relay.next(&t, &eur, "").await.is_none());
}

async fn filter_changes_apply_to_later_messages_and_bad_filters_change_nothing(b: Backend) {
    let store = Storage::start(b);
    let relay = Relay::start(&store).await;
    let t = relay.tenant().await;
    let (src, ingest) = relay.source(&t, json!({})).await;
    let q = relay
        .queue(&t, &src, json!({"filter": {"method": "PUT"}}))
        .await;
    relay.ingest(&ingest, "text/plain", "before").await;
    let r = relay
        .patch(
            &t.token,
            &format!("/v1/queues/{q}"),
            json!({"filter": {"$not": {"method": "PUT"}}}),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Value>().await.unwrap()["filter"],
        json!({"$not": {"method": "PUT"}})
    );
    let after = relay.ingest(&ingest, "text/plain", "after").await;
    assert_eq!(drain(&relay, &t, &q).await, vec![after]);

    // invalid: 400 naming the path, the queue keeps its filter
    for (bad, detail) in [
        (
            json!({"body": {"amount": {"$gtx": 1}}}),
            "filter.body.amount: unknown operator $gtx",
        ),
        (
            json!({"eventType": {"$in": 3}}),
            "filter.eventType.$in: $in takes an array",
        ),
        (json!({"nope": 1}), "filter.nope: unknown field"),
        (json!("x"), "filter: must be a JSON object"),
    ] {
        let r = relay
            .patch(&t.token, &format!("/v1/queues/{q}"), json!({"filter": bad}))
            .await;
        assert_eq!(r.status(), 400);
        assert!(r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/problem+json"));
        let p: Value = r.json().await.unwrap();
        assert!(p["detail"].as_str().unwrap().starts_with(detail), "{p}");
        let r = relay
            .post(
                &t.token,
                "/v1/queues",
                json!({"sourceId": src, "name": "x", "filter": bad}),
            )
            .await;
        assert_eq!(r.status(), 400);
    }
    let view = relay.get_json(&t.token, &format!("/v1/queues/{q}")).await;
    assert_eq!(view["filter"], json!({"$not": {"method": "PUT"}}));
    assert_eq!(
        relay.get_json(&t.token, "/v1/queues").await["items"]
            .as_array()
            .unwrap()
            .len(),
        1,
        "no queue created by a bad filter"
    );
    // null removes it: everything again
    let r = relay
        .patch(
            &t.token,
            &format!("/v1/queues/{q}"),
            json!({"filter": null}),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert!(r.json::<Value>().await.unwrap().get("filter").is_none());
    let put = relay
        .http
        .put(&ingest)
        .body("put")
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(drain(&relay, &t, &q).await, vec![put]);
}

async fn replay_by_ids_ignores_the_filter_and_by_range_applies_it(b: Backend) {
    let store = Storage::start(b);
    let relay = Relay::start(&store).await;
    let t = relay.tenant().await;
    let (src, ingest) = relay
        .source(&t, json!({"eventType": {"jsonPointer": "/t"}}))
        .await;
    let q = relay
        .queue(&t, &src, json!({"filter": {"eventType": "a"}}))
        .await;
    let from = chrono::Utc::now().timestamp_millis() - 1;
    let a1 = relay
        .ingest(&ingest, "application/json", r#"{"t":"a"}"#)
        .await;
    let b1 = relay
        .ingest(&ingest, "application/json", r#"{"t":"b"}"#)
        .await;
    let a2 = relay
        .ingest(&ingest, "application/json", r#"{"t":"a"}"#)
        .await;
    assert_eq!(drain(&relay, &t, &q).await, vec![a1.clone(), a2.clone()]);
    let to = chrono::Utc::now().timestamp_millis() + 1;

    let r = relay
        .post(
            &t.token,
            &format!("/v1/queues/{q}/replay"),
            json!({"messageIds": [b1]}),
        )
        .await;
    assert_eq!(r.status(), 202);
    assert_eq!(r.json::<Value>().await.unwrap()["replayed"], 1);
    let d = relay.next(&t, &q, "").await.unwrap();
    assert_eq!(
        (d.meta["messageId"].as_str().unwrap(), &d.meta["replayed"]),
        (b1.as_str(), &json!(true))
    );
    assert_eq!(relay.settle(&d.meta, "ackUrl", None).await, 204);

    let r = relay
        .post(
            &t.token,
            &format!("/v1/queues/{q}/replay"),
            json!({"from": from, "to": to}),
        )
        .await;
    assert_eq!(r.status(), 202);
    assert_eq!(r.json::<Value>().await.unwrap()["replayed"], 2);
    assert_eq!(drain(&relay, &t, &q).await, vec![a1.clone(), a2.clone()]);
    // the queue's current filter decides a range replay
    relay
        .patch(
            &t.token,
            &format!("/v1/queues/{q}"),
            json!({"filter": {"eventType": "b"}}),
        )
        .await;
    let r = relay
        .post(
            &t.token,
            &format!("/v1/queues/{q}/replay"),
            json!({"from": from, "to": to}),
        )
        .await;
    assert_eq!(r.json::<Value>().await.unwrap()["replayed"], 1);
    assert_eq!(drain(&relay, &t, &q).await, vec![b1]);
}

async fn the_filter_test_endpoint_explains_a_match(b: Backend) {
    let store = Storage::start(b);
    let relay = Relay::start(&store).await;
    let t = relay.tenant().await;
    let (src, ingest) = relay
        .source(&t, json!({"eventType": {"header": "x-event"}}))
        .await;
    let q = relay
        .queue(
            &t,
            &src,
            json!({"filter": {"body": {"amount": {"$gte": 1000}}}}),
        )
        .await;
    let plain = relay.queue(&t, &src, json!({})).await;
    let id = post_json(
        &relay,
        &ingest,
        json!({"amount": 500}),
        &[("x-event", "order.paid")],
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let test = |queue: String, body: Value| {
        let relay = &relay;
        let token = t.token.clone();
        async move {
            let r = relay
                .post(&token, &format!("/v1/queues/{queue}/filter/test"), body)
                .await;
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap())
        }
    };
    assert_eq!(
        test(q.clone(), json!({"messageId": id})).await,
        (
            200,
            json!({"matches": false, "reason": "body.amount: 500 is not >= 1000"})
        )
    );
    assert_eq!(
        test(
            q.clone(),
            json!({"messageId": id, "filter": {"eventType": "order.paid"}})
        )
        .await,
        (200, json!({"matches": true, "reason": null}))
    );
    assert_eq!(
        test(plain.clone(), json!({"messageId": id})).await,
        (200, json!({"matches": true, "reason": null}))
    );
    assert_eq!(
        test(
            q.clone(),
            json!({"sample": {"body": {"amount": 1000}, "headers": {"X-Env": "prod"}}})
        )
        .await,
        (200, json!({"matches": true, "reason": null}))
    );
    assert_eq!(
        test(q.clone(), json!({"sample": {"headers": {"X-Env": "prod"}}}))
            .await
            .1["matches"],
        false
    );
    assert_eq!(
        test(q.clone(), json!({"sample": {"headers": {"X-Env": "prod"}}, "filter": {"headers": {"x-env": "prod"}}})).await,
        (200, json!({"matches": true, "reason": null}))
    );
    let (s, p) = test(
        q.clone(),
        json!({"messageId": id, "filter": {"body": {"$bad": 1}}}),
    )
    .await;
    assert_eq!(s, 400);
    assert_eq!(p["detail"], "filter.body: unknown operator $bad");
    assert_eq!(test(q.clone(), json!({})).await.0, 400);
    assert_eq!(
        test(q.clone(), json!({"messageId": id, "sample": {}}))
            .await
            .0,
        400
    );
    // a message of another source is not found
    let (other, other_in) = relay.source(&t, json!({})).await;
    let _ = other;
    let foreign = relay.ingest(&other_in, "text/plain", "x").await;
    assert_eq!(test(q.clone(), json!({"messageId": foreign})).await.0, 404);
    // the filter is unchanged by testing
    let view = relay.get_json(&t.token, &format!("/v1/queues/{q}")).await;
    assert_eq!(view["filter"], json!({"body": {"amount": {"$gte": 1000}}}));
}

async fn history_search_by_event_type_header_and_text_is_paged(b: Backend) {
    let store = Storage::start(b);
    let relay = Relay::start(&store).await;
    let t = relay.tenant().await;
    let (src, ingest) = relay
        .source(&t, json!({"eventType": {"jsonPointer": "/t"}}))
        .await;
    let mut ids = vec![];
    for i in 0..12 {
        let t_ = if i % 3 == 0 {
            "order.paid"
        } else {
            "order.created"
        };
        let env = if i % 2 == 0 { "prod" } else { "test" };
        let body = json!({"t": t_, "n": format!("needle-{i}")});
        ids.push(
            post_json(&relay, &ingest, body, &[("X-Env", env)]).await["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let list = |q: String| {
        let relay = &relay;
        let token = t.token.clone();
        let src = src.clone();
        async move {
            relay
                .get_json(&token, &format!("/v1/sources/{src}/messages?{q}"))
                .await
        }
    };
    let items = |v: &Value| -> Vec<String> {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap().to_string())
            .collect()
    };
    let newest_first = |pick: &dyn Fn(usize) -> bool| -> Vec<String> {
        (0..12)
            .rev()
            .filter(|i| pick(*i))
            .map(|i| ids[i].clone())
            .collect()
    };
    assert_eq!(
        items(&list("eventType=order.paid".into()).await),
        newest_first(&|i| i % 3 == 0)
    );
    assert_eq!(
        items(&list("header=x-env:prod".into()).await),
        newest_first(&|i| i % 2 == 0)
    );
    assert_eq!(
        items(&list("header=X-ENV:%20test".into()).await),
        newest_first(&|i| i % 2 == 1)
    );
    assert_eq!(
        items(&list("eventType=order.paid&header=x-env:prod".into()).await),
        newest_first(&|i| i % 6 == 0)
    );
    assert_eq!(
        items(&list("q=needle-11".into()).await),
        vec![ids[11].clone()]
    );
    assert_eq!(
        items(&list("q=needle-1".into()).await),
        vec![ids[11].clone(), ids[10].clone(), ids[1].clone()]
    );
    assert_eq!(items(&list("q=nowhere".into()).await), Vec::<String>::new());
    // paged: limit 2, follow the cursor to the end
    let mut seen = vec![];
    let mut cursor = String::new();
    loop {
        let page = list(format!("eventType=order.created&limit=2{cursor}")).await;
        seen.extend(items(&page));
        match page["nextCursor"].as_str() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen, newest_first(&|i| i % 3 != 0));
    for bad in ["header=novalue", "header=:x", "zzz=1", "limit=x"] {
        let r = relay
            .get(&t.token, &format!("/v1/sources/{src}/messages?{bad}"))
            .await;
        assert_eq!(r.status(), 400, "{bad}");
    }
}

/// One request looks at no more than 5,000 messages: a match older than
/// that is found on the next page, through the cursor.
async fn history_search_scans_a_bounded_number_per_request(b: Backend) {
    let store = Storage::start(b);
    let relay = Relay::start(&store).await;
    let t = relay.tenant().await;
    let r = relay
        .http
        .patch(relay.url(&format!("/v1/tenants/{}", t.id)))
        .bearer_auth(ADMIN)
        .json(&json!({"limits": {"ingestPerSecond": 100000}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (src, ingest) = relay.source(&t, json!({})).await;
    let old = relay.ingest(&ingest, "text/plain", "the-old-one").await;
    let sent = futures_util::stream::iter(0..5000)
        .map(|i| {
            let http = relay.http.clone();
            let ingest = ingest.clone();
            async move {
                let r = http
                    .post(&ingest)
                    .body(format!("filler {i}"))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 202);
            }
        })
        .buffer_unordered(32)
        .count()
        .await;
    assert_eq!(sent, 5000);
    let first = relay
        .get_json(
            &t.token,
            &format!("/v1/sources/{src}/messages?q=the-old-one"),
        )
        .await;
    assert_eq!(first["items"], json!([]));
    let cursor = first["nextCursor"]
        .as_str()
        .expect("a cursor to go on from");
    let second = relay
        .get_json(
            &t.token,
            &format!("/v1/sources/{src}/messages?q=the-old-one&cursor={cursor}"),
        )
        .await;
    assert_eq!(second["items"][0]["id"], old);
    assert_eq!(second["nextCursor"], Value::Null);
}

/// Filtered-out messages do not keep a queue's retention from trimming them.
async fn retention_trims_messages_filtered_out_of_every_queue(b: Backend) {
    let storage = Storage::start(b);
    let relay = Relay::start(&storage).await;
    let t = relay.tenant().await;
    let (src, ingest) = relay.source(&t, json!({})).await;
    let _q = relay
        .queue(&t, &src, json!({"filter": {"method": "PUT"}}))
        .await;
    let id = relay.ingest(&ingest, "text/plain", "nobody wants me").await;
    storage.set_retention_ms(&src, 1).await;
    let store = relay.running.state.store.clone();
    eventually(Duration::from_secs(5), || async {
        hookbay::reaper::pass(&store).await.unwrap();
        relay
            .get(&t.token, &format!("/v1/messages/{id}"))
            .await
            .status()
            == 404
    })
    .await;
    let v = relay
        .get_json(&t.token, &format!("/v1/tenants/{}", t.id))
        .await;
    assert_eq!(v["usage"]["storedBytes"], 0, "its bytes are released: {v}");
}

/// A queue created on another node applies at once: the ingesting node's
/// cached view of the source's queues is refused by the store (routing
/// version) and read again.
async fn routing_a_queue_added_on_another_node_applies_at_once_redis() {
    let store = Storage::start(Backend::Redis);
    let a = Relay::start(&store).await;
    let b = Relay::start(&store).await;
    let t = a.tenant().await;
    let (src, ingest) = a.source(&t, json!({})).await;
    let first = a.queue(&t, &src, json!({})).await;
    a.ingest(&ingest, "text/plain", "warms a's routes").await;
    let filtered = b
        .queue(&t, &src, json!({"filter": {"method": "PUT"}}))
        .await;
    let skipped = a
        .ingest(&ingest, "text/plain", "POST: not for the new queue")
        .await;
    let put = a
        .http
        .put(&ingest)
        .body("PUT")
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(drain(&a, &t, &filtered).await, vec![put.clone()]);
    assert_eq!(drain(&a, &t, &first).await.len(), 3);
    let m = message(&a, &t, &skipped).await;
    assert_eq!(m["deliveries"].as_array().unwrap().len(), 1);
    // and removing the filter on b applies at once on a
    b.patch(
        &t.token,
        &format!("/v1/queues/{filtered}"),
        json!({"filter": null}),
    )
    .await;
    a.ingest(&ingest, "text/plain", "POST again").await;
    assert_eq!(drain(&a, &t, &filtered).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routing_a_queue_added_on_another_node_applies_at_once_redis_test() {
    routing_a_queue_added_on_another_node_applies_at_once_redis().await
}

use futures_util::StreamExt;

crate::both!(
    event_types_come_from_presets_and_source_rules,
    filters_decide_the_fan_out_at_ingest,
    filter_changes_apply_to_later_messages_and_bad_filters_change_nothing,
    replay_by_ids_ignores_the_filter_and_by_range_applies_it,
    the_filter_test_endpoint_explains_a_match,
    history_search_by_event_type_header_and_text_is_paged,
    history_search_scans_a_bounded_number_per_request,
    retention_trims_messages_filtered_out_of_every_queue,
);
