//! `GET /v1/sources/{id}/tail`: messages are shown as they arrive, from the
//! moment of connecting, without leasing or consuming anything; the stream
//! closes when the source is deleted; scope `read`.

use std::time::Duration;

use crate::common::*;
use serde_json::json;

async fn tail_shows_arrivals_without_consuming_them(b: Backend) {
    let store = Storage::start(b);
    let relay = Relay::start(&store).await;
    let t = relay.tenant().await;
    let (src, ingest) = relay
        .source(&t, json!({"eventType": {"header": "x-event"}}))
        .await;
    let q = relay.queue(&t, &src, json!({})).await;
    relay.ingest(&ingest, "text/plain", "before the tail").await;
    let read = relay.token(&t.id, json!({"scopes": ["read"]})).await;
    let mut sse = Sse::connect(
        &relay,
        &relay.url(&format!("/v1/sources/{src}/tail?access_token={read}")),
    )
    .await;
    let r = relay
        .http
        .put(format!("{ingest}/hooks/a?x=1"))
        .header("x-event", "order.paid")
        .header("content-type", "application/json")
        .body(r#"{"n":1}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let first = relay
        .ingest(&ingest, "application/octet-stream", vec![0xffu8, 0x00])
        .await;
    let e = sse
        .next_within(Duration::from_secs(10))
        .await
        .expect("first arrival");
    assert_eq!(e.data["eventType"], "order.paid");
    assert_eq!(e.data["method"], "PUT");
    assert_eq!(e.data["path"], "hooks/a");
    assert_eq!(e.data["query"], "x=1");
    assert_eq!(e.data["size"], 7);
    assert_eq!(e.data["payload"], r#"{"n":1}"#);
    assert_eq!(e.data["headers"]["x-event"], "order.paid");
    assert_eq!(e.data["verified"], false);
    let e = sse
        .next_within(Duration::from_secs(10))
        .await
        .expect("second arrival");
    assert_eq!(e.id, first);
    assert_eq!(
        (e.data["payload"].as_str(), e.data["encoding"].as_str()),
        (Some("/wA="), Some("base64"))
    );
    // nothing was consumed: the queue still holds all three
    assert_eq!(relay.counts(&t, &q).await["ready"], 3);
    // a consume-only token may not tail
    let consume = relay.token(&t.id, json!({"scopes": ["consume"]})).await;
    let r = relay
        .get(&consume, &format!("/v1/sources/{src}/tail"))
        .await;
    assert_eq!(r.status(), 403);
    // the source goes: the tail says so and ends
    assert_eq!(
        relay
            .delete(&t.token, &format!("/v1/sources/{src}"))
            .await
            .status(),
        204
    );
    let mut closed = false;
    while let Ok(Some(ev)) = tokio::time::timeout(Duration::from_secs(10), sse.next_any()).await {
        if ev.event == "close" {
            closed = true;
            break;
        }
    }
    assert!(closed, "close event");
}

async fn tail_works_on_a_source_without_queues(b: Backend) {
    let store = Storage::start(b);
    let relay = Relay::start(&store).await;
    let t = relay.tenant().await;
    let (src, ingest) = relay.source(&t, json!({})).await;
    let mut a = Sse::connect(
        &relay,
        &relay.url(&format!("/v1/sources/{src}/tail?access_token={}", t.token)),
    )
    .await;
    let mut b2 = Sse::connect(
        &relay,
        &relay.url(&format!("/v1/sources/{src}/tail?access_token={}", t.token)),
    )
    .await;
    let mut ids = vec![];
    for i in 0..3 {
        ids.push(relay.ingest(&ingest, "text/plain", format!("m{i}")).await);
    }
    for sse in [&mut a, &mut b2] {
        for id in &ids {
            let e = sse
                .next_within(Duration::from_secs(10))
                .await
                .expect("every tail sees every arrival");
            assert_eq!(&e.id, id);
        }
    }
}

crate::both!(
    tail_shows_arrivals_without_consuming_them,
    tail_works_on_a_source_without_queues,
);
