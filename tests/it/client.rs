//! `hookbay::client`, the Rust consumer (the shape of the Python and Node
//! packages): stream, next, poll, ack/nack/reject/extend, batch lease and
//! settle, exact bytes, typed errors — against a live relay.

use std::time::Duration;

use futures_util::StreamExt;
use hookbay::client::{Consumer, Error, Outcome, StreamOptions};
use serde_json::json;

use crate::common::*;

async fn the_rust_client_consumes_and_settles(b: Backend) {
    let store = Storage::start(b);
    let relay = Relay::start(&store).await;
    let t = relay.tenant().await;
    let (src, ingest) = relay
        .source(&t, json!({"eventType": {"header": "x-type"}}))
        .await;
    let q = relay.queue(&t, &src, json!({"maxAttempts": 5})).await;
    let c = Consumer::new(&relay.running.url(), &t.token);
    let wait = Duration::from_millis(0);

    assert!(c.next(&q, wait).await.unwrap().is_none());
    let bin = vec![0xffu8, 0x00, 0xfe];
    let id = relay
        .ingest(&ingest, "application/octet-stream", bin.clone())
        .await;
    // stream: exact bytes over SSE (base64 on the wire)
    {
        let mut s = std::pin::pin!(c.stream(
            &q,
            StreamOptions {
                prefetch: 1,
                ..Default::default()
            }
        ));
        let m = tokio::time::timeout(Duration::from_secs(10), s.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(
            (m.id.as_str(), m.payload.as_slice()),
            (id.as_str(), bin.as_slice())
        );
        assert_eq!(m.attempt(), 1);
        // nack: comes back with attempt 2 (no delay)
        m.nack("try again", Some(Duration::ZERO)).await.unwrap();
        let m = tokio::time::timeout(Duration::from_secs(10), s.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!((m.id.as_str(), m.attempt()), (id.as_str(), 2));
        let until = m.extend(Duration::from_secs(120)).await.unwrap();
        assert!(chrono::DateTime::parse_from_rfc3339(&until).is_ok());
        m.ack().await.unwrap();
        // a second ack: the lease is gone
        assert!(matches!(m.ack().await, Err(Error::LeaseExpired(_))));
    }
    // (the dropped stream's server side may still lease what comes next on
    // q until it notices: go on with a fresh queue)
    let q = relay.queue(&t, &src, json!({})).await;
    // next: raw bytes, event type, headers; reject → dead letter
    relay
        .http
        .post(&ingest)
        .header("x-type", "thing.done")
        .body("hello")
        .send()
        .await
        .unwrap();
    let m = c.next(&q, Duration::from_secs(5)).await.unwrap().unwrap();
    assert_eq!(
        (m.text().as_str(), m.event_type()),
        ("hello", Some("thing.done"))
    );
    assert_eq!(
        m.headers().get("x-type").map(String::as_str),
        Some("thing.done")
    );
    m.reject("unusable").await.unwrap();
    assert_eq!(relay.counts(&t, &q).await["dead"], 1);
    // poll + batch lease/settle
    for i in 0..3 {
        relay.ingest(&ingest, "text/plain", format!("b{i}")).await;
    }
    let first = {
        let mut p = std::pin::pin!(c.poll(&q, Duration::from_secs(5)));
        p.next().await.unwrap().unwrap()
    };
    assert_eq!(first.text(), "b0");
    let batch = c.lease(&q, 10, Duration::ZERO, None).await.unwrap();
    assert_eq!(
        batch.iter().map(|m| m.text()).collect::<Vec<_>>(),
        vec!["b1", "b2"]
    );
    let statuses = c
        .settle(
            &q,
            &[
                (&first, Outcome::Ack),
                (&batch[0], Outcome::Reject { reason: "r".into() }),
                (
                    &batch[1],
                    Outcome::Nack {
                        reason: "n".into(),
                        delay: Some(Duration::from_secs(60)),
                    },
                ),
                (&first, Outcome::Ack),
            ],
        )
        .await
        .unwrap();
    assert_eq!(statuses, vec![204, 204, 204, 409]);
    // typed errors
    assert!(matches!(
        c.next("q_nope", wait).await,
        Err(Error::NotFound(_))
    ));
    let bad = Consumer::new(&relay.running.url(), "not-a-token");
    assert!(matches!(bad.next(&q, wait).await, Err(Error::Auth(_))));
    let mut s = std::pin::pin!(bad.stream(&q, StreamOptions::default()));
    assert!(matches!(s.next().await, Some(Err(Error::Auth(_)))));
    assert!(s.next().await.is_none(), "a refused stream ends");
}

crate::both!(the_rust_client_consumes_and_settles,);
