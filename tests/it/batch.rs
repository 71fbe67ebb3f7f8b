//! Batch consumption end to end: `POST /lease` (up to 100 per call,
//! long-polling) and `POST /settle` (each item on its own, results in
//! order; a malformed request changes nothing).

use crate::common::*;
use base64::Engine;
use serde_json::{json, Value};

async fn lease(relay: &Relay, t: &Tenant, q: &str, body: Value) -> Vec<Value> {
    let r = relay
        .post(&t.token, &format!("/v1/queues/{q}/lease"), body)
        .await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    v["messages"].as_array().unwrap().clone()
}

async fn settle(relay: &Relay, t: &Tenant, q: &str, items: Value) -> (u16, Value) {
    let r = relay
        .post(
            &t.token,
            &format!("/v1/queues/{q}/settle"),
            json!({"items": items}),
        )
        .await;
    (r.status().as_u16(), r.json().await.unwrap())
}

/// The lease token of a leased message (the `token` of its meta URLs).
fn token(m: &Value) -> String {
    m["meta"]["ackUrl"]
        .as_str()
        .unwrap()
        .split("token=")
        .nth(1)
        .unwrap()
        .to_string()
}

async fn lease_takes_up_to_max_in_order_and_waits_for_the_first(b: Backend) {
    let store = Storage::start(b);
    let relay = Relay::start(&store).await;
    let t = relay.tenant().await;
    let (src, ingest) = relay
        .source(&t, json!({"eventType": {"header": "x-type"}}))
        .await;
    let q = relay.queue(&t, &src, json!({})).await;
    let mut ids = vec![];
    for i in 0..4 {
        ids.push(relay.ingest(&ingest, "text/plain", format!("m{i}")).await);
    }
    let bin = vec![0xffu8, 0x00, 0xc3];
    ids.push(
        relay
            .ingest(&ingest, "application/octet-stream", bin.clone())
            .await,
    );

    let first = lease(&relay, &t, &q, json!({"max": 3, "lease": 60})).await;
    let got: Vec<&str> = first
        .iter()
        .map(|m| m["meta"]["messageId"].as_str().unwrap())
        .collect();
    assert_eq!(got, ids[..3].iter().map(String::as_str).collect::<Vec<_>>());
    let m = &first[0];
    assert_eq!(
        (m["payload"].as_str(), m["encoding"].as_str()),
        (Some("m0"), Some("utf8"))
    );
    assert_eq!(m["contentType"], "text/plain");
    for k in [
        "ackUrl",
        "nackUrl",
        "rejectUrl",
        "extendUrl",
        "leaseExpiresAt",
        "queueId",
        "eventType",
    ] {
        assert!(m["meta"].get(k).is_some(), "meta.{k}");
    }
    let rest = lease(&relay, &t, &q, json!({"max": 100})).await;
    assert_eq!(rest.len(), 2);
    assert_eq!(rest[1]["encoding"], "base64");
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(rest[1]["payload"].as_str().unwrap())
            .unwrap(),
        bin
    );
    // nothing left: an empty list at once (no body = defaults)
    let r = relay
        .http
        .post(relay.url(&format!("/v1/queues/{q}/lease")))
        .bearer_auth(&t.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"messages": []}));
    let c = relay.counts(&t, &q).await;
    assert_eq!(c["leased"], 5);

    // a waiting lease returns as soon as a message arrives
    let waiting = {
        let (http, url, tok) = (
            relay.http.clone(),
            relay.url(&format!("/v1/queues/{q}/lease")),
            t.token.clone(),
        );
        tokio::spawn(async move {
            http.post(url)
                .bearer_auth(tok)
                .json(&json!({"max": 10, "wait": 20}))
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        })
    };
    // (the gauge is process-wide: another test's wait may satisfy it; the
    // result below is the same either way)
    eventually(std::time::Duration::from_secs(5), || async {
        relay.metric("hookbay_long_polls_waiting").await >= 1.0
    })
    .await;
    let late = relay
        .http
        .post(&ingest)
        .header("x-type", "late.one")
        .body("late")
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let got = waiting.await.unwrap();
    let msgs = got["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0]["meta"]["messageId"], late);
    assert_eq!(msgs[0]["meta"]["eventType"], "late.one");
}

/// A queue whose messages are not one run of the source's log (a filter
/// leaves gaps; a nacked message goes to the back, out of log order)
/// still gets each message whole and in queue order from one lease.
async fn a_lease_of_many_reads_each_message_whole_across_gaps_and_redeliveries(b: Backend) {
    let store = Storage::start(b);
    let relay = Relay::start(&store).await;
    let t = relay.tenant().await;
    let (src, ingest) = relay
        .source(&t, json!({"eventType": {"jsonPointer": "/type"}}))
        .await;
    let even = relay
        .queue(&t, &src, json!({"filter": {"eventType": "even"}}))
        .await;
    let mut want = vec![];
    for i in 0..9 {
        let kind = if i % 2 == 0 { "even" } else { "odd" };
        let body = format!(r#"{{"type":"{kind}","n":{i}}}"#);
        relay
            .ingest(&ingest, "application/json", body.clone())
            .await;
        if i % 2 == 0 {
            want.push(body);
        }
    }
    let payloads = |ms: &[Value]| -> Vec<String> {
        ms.iter()
            .map(|m| m["payload"].as_str().unwrap().to_string())
            .collect()
    };
    // the first two (gaps between them), then one nacked back to the end
    let first = lease(&relay, &t, &even, json!({"max": 2})).await;
    assert_eq!(payloads(&first), want[..2]);
    assert_eq!(
        relay
            .settle(
                &first[0]["meta"],
                "nackUrl",
                Some(json!({"delaySeconds": 0}))
            )
            .await,
        204
    );
    assert_eq!(relay.settle(&first[1]["meta"], "ackUrl", None).await, 204);
    let rest = lease(&relay, &t, &even, json!({"max": 10})).await;
    let mut order = want[2..].to_vec();
    order.push(want[0].clone());
    assert_eq!(payloads(&rest), order);
    assert_eq!(rest.last().unwrap()["meta"]["attempt"], 2);
}

async fn settle_applies_each_item_on_its_own_in_order(b: Backend) {
    let store = Storage::start(b);
    let relay = Relay::start(&store).await;
    let t = relay.tenant().await;
    let (src, ingest) = relay.source(&t, json!({})).await;
    let q = relay.queue(&t, &src, json!({"maxAttempts": 3})).await;
    let other = relay.queue(&t, &src, json!({})).await;
    for i in 0..4 {
        relay.ingest(&ingest, "text/plain", format!("m{i}")).await;
    }
    let ms = lease(&relay, &t, &q, json!({"max": 4})).await;
    let foreign = lease(&relay, &t, &other, json!({"max": 1})).await;
    let (status, v) = settle(
        &relay,
        &t,
        &q,
        json!([
            {"token": token(&ms[0]), "outcome": "ack"},
            {"token": token(&ms[1]), "outcome": "nack", "reason": "later", "delaySeconds": 3600},
            {"token": token(&ms[2]), "outcome": "reject", "reason": "bad"},
            {"token": token(&ms[0]), "outcome": "ack"},
            {"token": "not-a-token", "outcome": "ack"},
            {"token": token(&foreign[0]), "outcome": "ack"},
            {"token": token(&ms[3]), "outcome": "nack"}
        ]),
    )
    .await;
    assert_eq!(status, 200);
    let statuses: Vec<u64> = v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, vec![204, 204, 204, 409, 401, 404, 204]);
    assert!(v["results"][0].get("detail").is_none());
    assert!(v["results"][3]["detail"].is_string());
    let c = relay.counts(&t, &q).await;
    assert_eq!(
        (
            c["leased"].as_u64(),
            c["delayed"].as_u64(),
            c["dead"].as_u64()
        ),
        (Some(0), Some(2), Some(1)),
        "{c}"
    );
    // the foreign lease is untouched and still settles on its own queue
    assert_eq!(relay.settle(&foreign[0]["meta"], "ackUrl", None).await, 204);
    let m = relay
        .get_json(
            &t.token,
            &format!(
                "/v1/messages/{}",
                ms[1]["meta"]["messageId"].as_str().unwrap()
            ),
        )
        .await;
    let d = m["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["queueId"] == q)
        .unwrap()
        .clone();
    assert_eq!(d["state"], "delayed");
    assert_eq!(d["history"][0]["reason"], "later");
}

async fn a_malformed_settle_changes_nothing(b: Backend) {
    let store = Storage::start(b);
    let relay = Relay::start(&store).await;
    let t = relay.tenant().await;
    let (src, ingest) = relay.source(&t, json!({})).await;
    let q = relay.queue(&t, &src, json!({})).await;
    relay.ingest(&ingest, "text/plain", "one").await;
    let ms = lease(&relay, &t, &q, json!({})).await;
    let good = json!({"token": token(&ms[0]), "outcome": "ack"});
    for (items, detail) in [
        (
            json!([good, {"token": "x", "outcome": "maybe"}]),
            "items[1].outcome must be ack, nack or reject",
        ),
        (
            json!([good, {"token": "x", "outcome": "ack", "delaySeconds": 1}]),
            "items[1].delaySeconds is for nack only",
        ),
        (
            json!([good, {"token": "x", "outcome": "nack", "delaySeconds": -1}]),
            "items[1].delaySeconds must be",
        ),
        (
            json!([good, {"token": "x", "outcome": "nack", "reason": "r".repeat(2000)}]),
            "items[1].reason",
        ),
        (json!([]), "items must hold 1..=100 items"),
        (
            Value::Array(vec![good.clone(); 101]),
            "items must hold 1..=100 items",
        ),
    ] {
        let (status, p) = settle(&relay, &t, &q, items).await;
        assert_eq!(status, 400);
        assert!(p["detail"].as_str().unwrap().starts_with(detail), "{p}");
    }
    assert_eq!(relay.counts(&t, &q).await["leased"], 1, "nothing applied");
    let (status, v) = settle(&relay, &t, &q, json!([good])).await;
    assert_eq!(
        (status, v["results"][0]["status"].as_u64()),
        (200, Some(204))
    );
    for bad in [
        json!({"max": 0}),
        json!({"max": 101}),
        json!({"wait": 31}),
        json!({"lease": 0}),
    ] {
        let r = relay
            .post(&t.token, &format!("/v1/queues/{q}/lease"), bad.clone())
            .await;
        assert_eq!(r.status(), 400, "{bad}");
    }
}

crate::both!(
    lease_takes_up_to_max_in_order_and_waits_for_the_first,
    a_lease_of_many_reads_each_message_whole_across_gaps_and_redeliveries,
    settle_applies_each_item_on_its_own_in_order,
    a_malformed_settle_changes_nothing,
);
