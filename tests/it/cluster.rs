//! The relay on a real 3-node Redis Cluster: every engine step stays in one
//! slot (hash tags), catalog writes that span slots work, notifications
//! reach waiting consumers.

use std::time::Duration;

use crate::common::*;
use serde_json::json;

struct Cluster {
    nodes: Vec<RedisServer>,
}

impl Cluster {
    async fn start() -> Cluster {
        let nodes: Vec<RedisServer> = (0..3)
            .map(|_| {
                RedisServer::start_args(
                    false,
                    &[
                        "--cluster-enabled",
                        "yes",
                        "--cluster-config-file",
                        "nodes.conf",
                        "--cluster-node-timeout",
                        "5000",
                    ],
                )
            })
            .collect();
        let addrs: Vec<String> = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let out = std::process::Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(&addrs)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .output()
            .expect("redis-cli");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
        // every node must agree the cluster is up before the relay connects
        for n in &nodes {
            eventually(Duration::from_secs(20), || async {
                let mut c = n.conn().await;
                let info: String = redis::cmd("CLUSTER")
                    .arg("INFO")
                    .query_async(&mut c)
                    .await
                    .unwrap();
                info.contains("cluster_state:ok")
            })
            .await;
        }
        Cluster { nodes }
    }

    fn url(&self) -> String {
        self.nodes
            .iter()
            .map(|n| n.url())
            .collect::<Vec<_>>()
            .join(",")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relay_works_on_a_redis_cluster() {
    let cluster = Cluster::start().await;
    let mut cfg = config(&cluster.nodes[0]);
    cfg.redis_url = cluster.url();
    let relay = Relay::start_with(cfg).await;
    let t = relay.tenant().await;
    // several sources: their hash tags land on different nodes
    let mut queues = vec![];
    for _ in 0..4 {
        let (src, ingest) = relay
            .source(&t, json!({"dedupe": {"header": "x-id"}}))
            .await;
        let q1 = relay
            .queue(&t, &src, json!({"leaseSeconds": 1, "maxAttempts": 1}))
            .await;
        let q2 = relay.queue(&t, &src, json!({})).await;
        queues.push((src, ingest, q1, q2));
    }
    let listed = relay.get_json(&t.token, "/v1/sources").await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 4);

    for (src, ingest, q1, q2) in &queues {
        // a long poll parked before the message arrives is woken by pub/sub
        let poll = relay.spawn_next(&t, q2, 20);
        let r = relay
            .http
            .post(ingest)
            .header("x-id", "same")
            .body("hello")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
        let r = relay
            .http
            .post(ingest)
            .header("x-id", "same")
            .body("hello")
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.json::<serde_json::Value>().await.unwrap()["duplicate"],
            true
        );
        let polled = tokio::time::timeout(Duration::from_secs(5), poll)
            .await
            .expect("woken")
            .unwrap();
        assert_eq!(polled.text().await.unwrap(), "hello");

        // lease expiry → dead letter (maxAttempts 1) → redrive → ack
        let d = relay.next(&t, q1, "").await.unwrap();
        let id = d.meta["messageId"].as_str().unwrap().to_string();
        eventually(Duration::from_secs(10), || async {
            relay.counts(&t, q1).await["dead"] == 1
        })
        .await;
        let r = relay
            .post(
                &t.token,
                &format!("/v1/queues/{q1}/replay"),
                json!({"deadLetters": true}),
            )
            .await;
        assert_eq!(r.json::<serde_json::Value>().await.unwrap()["replayed"], 1);
        let again = relay.next(&t, q1, "").await.unwrap();
        assert_eq!(again.meta["replayed"], true);
        assert_eq!(relay.settle(&again.meta, "ackUrl", None).await, 204);
        let m = relay
            .get_json(&t.token, &format!("/v1/messages/{id}"))
            .await;
        assert_eq!(m["payload"], "hello");
        let h = relay
            .get_json(&t.token, &format!("/v1/sources/{src}/messages"))
            .await;
        assert_eq!(h["items"].as_array().unwrap().len(), 1);
    }
    // SSE on a cluster
    let (_, ingest, _, q2) = &queues[0];
    relay.ingest(ingest, "text/plain", "streamed").await;
    let mut sse = Sse::connect(
        &relay,
        &relay.url(&format!("/v1/queues/{q2}/stream?access_token={}", t.token)),
    )
    .await;
    let e = sse.next_event().await.unwrap();
    assert_eq!(e.data["payload"], "streamed");
    assert_eq!(relay.settle(&e.data["meta"], "ackUrl", None).await, 204);
    drop(sse);
    // usage sums across slots; deleting a source and the tenant works across slots
    let v = relay
        .get_json(&t.token, &format!("/v1/tenants/{}", t.id))
        .await;
    assert_eq!(v["usage"]["sources"], 4);
    assert!(v["usage"]["storedBytes"].as_u64().unwrap() > 0);
    let (src0, ingest0, ..) = &queues[0];
    let r = relay.delete(&t.token, &format!("/v1/sources/{src0}")).await;
    assert_eq!(r.status(), 204);
    assert_eq!(
        relay
            .http
            .post(ingest0)
            .body("x")
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    let r = relay.delete(ADMIN, &format!("/v1/tenants/{}", t.id)).await;
    assert_eq!(r.status(), 204);
    assert_eq!(relay.get(&t.token, "/v1/sources").await.status(), 401);
}
