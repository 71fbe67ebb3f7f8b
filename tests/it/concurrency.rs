//! Competing consumers: pollers and SSE streams on two relay instances share
//! one queue; every message is delivered to exactly one of them and settled
//! exactly once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::*;
use serde_json::json;

const MESSAGES: usize = 500;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pollers_and_streams_on_two_redis_nodes_each_message_settled_once() {
    let redis = RedisServer::start();
    let a = Arc::new(Relay::start(&redis).await);
    let b = Arc::new(Relay::start(&redis).await);
    let t = a.tenant().await;
    let (src, ingest) = a.source(&t, json!({})).await;
    let q = a.queue(&t, &src, json!({})).await;
    let token = t.token.clone();
    let t = Arc::new(t);

    let acked: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let mut tasks = vec![];
    // 4 pollers, alternating nodes
    for i in 0..4 {
        let relay = if i % 2 == 0 { a.clone() } else { b.clone() };
        let (t, q, acked) = (t.clone(), q.clone(), acked.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                if acked.lock().unwrap().len() >= MESSAGES {
                    return;
                }
                if let Some(d) = relay.next(&t, &q, "wait=1").await {
                    assert_eq!(relay.settle(&d.meta, "ackUrl", None).await, 204);
                    let id = d.meta["messageId"].as_str().unwrap().to_string();
                    *acked.lock().unwrap().entry(id).or_default() += 1;
                }
            }
        }));
    }
    // 3 SSE streams, alternating nodes
    for i in 0..3 {
        let relay = if i % 2 == 0 { b.clone() } else { a.clone() };
        let url = relay.url(&format!(
            "/v1/queues/{q}/stream?prefetch=5&access_token={token}"
        ));
        let acked = acked.clone();
        tasks.push(tokio::spawn(async move {
            let mut sse = Sse::connect(&relay, &url).await;
            loop {
                if acked.lock().unwrap().len() >= MESSAGES {
                    return;
                }
                if let Some(e) = sse.next_within(Duration::from_millis(500)).await {
                    assert_eq!(relay.settle(&e.data["meta"], "ackUrl", None).await, 204);
                    *acked.lock().unwrap().entry(e.id).or_default() += 1;
                }
            }
        }));
    }
    // producers on both nodes, concurrently with consumption
    let mut sent = vec![];
    let mut producers = vec![];
    for p in 0..5 {
        let relay = if p % 2 == 0 { a.clone() } else { b.clone() };
        let url = ingest.clone();
        producers.push(tokio::spawn(async move {
            let mut ids = vec![];
            for i in 0..MESSAGES / 5 {
                ids.push(relay.ingest(&url, "text/plain", format!("p{p}-{i}")).await);
            }
            ids
        }));
    }
    for p in producers {
        sent.extend(p.await.unwrap());
    }
    tokio::time::timeout(Duration::from_secs(120), async {
        for t in tasks {
            t.await.unwrap();
        }
    })
    .await
    .expect("all messages consumed");
    let acked = acked.lock().unwrap().clone();
    assert_eq!(acked.len(), MESSAGES);
    for id in &sent {
        assert_eq!(acked.get(id), Some(&1), "{id} settled exactly once");
    }
    let c = a.counts(&t, &q).await;
    assert_eq!(
        (
            c["ready"].as_u64(),
            c["leased"].as_u64(),
            c["delayed"].as_u64(),
            c["dead"].as_u64()
        ),
        (Some(0), Some(0), Some(0), Some(0))
    );
}

async fn messages_arrive_in_receive_order_on_one_consumer(b: Backend) {
    let store = Storage::start(b);
    let relay = Relay::start(&store).await;
    let t = relay.tenant().await;
    let (src, ingest) = relay.source(&t, json!({})).await;
    let q = relay.queue(&t, &src, json!({})).await;
    let mut ids = vec![];
    for i in 0..30 {
        ids.push(relay.ingest(&ingest, "text/plain", format!("{i}")).await);
    }
    for id in &ids {
        let d = relay.next(&t, &q, "").await.unwrap();
        assert_eq!(&d.meta["messageId"], id);
        assert_eq!(relay.settle(&d.meta, "ackUrl", None).await, 204);
    }
}

crate::both!(messages_arrive_in_receive_order_on_one_consumer,);
