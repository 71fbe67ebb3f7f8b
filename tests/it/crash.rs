//! Crash safety: kill -9 the relay process during concurrent ingest and
//! consumption, start it again, and check that every message answered 2xx
//! is delivered and settled (duplicates allowed, none lost).

use std::collections::HashSet;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::*;
use serde_json::{json, Value};

async fn kill_dash_nine_loses_nothing(b: Backend) {
    let store = Storage::start_with(b, true);
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let mut child = spawn_relay(&store, port, &[]);
    wait_healthy(&http, &base).await;

    let Provisioned {
        token,
        ingest,
        queue: qid,
        ..
    } = provision(
        &http,
        &base,
        json!({"leaseSeconds": 1,
               "backoff": {"initialSeconds": 0, "multiplier": 1, "maxSeconds": 0}}),
    )
    .await;

    let accepted: Arc<Mutex<HashSet<String>>> = Arc::default();
    let acked: Arc<Mutex<HashSet<String>>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut tasks = vec![];
    for p in 0..4 {
        let (http, ingest, accepted, stop) =
            (http.clone(), ingest.clone(), accepted.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                i += 1;
                if let Ok(r) = http.post(&ingest).body(format!("p{p}-{i}")).send().await {
                    if r.status() == 202 {
                        if let Ok(v) = r.json::<Value>().await {
                            accepted
                                .lock()
                                .unwrap()
                                .insert(v["id"].as_str().unwrap().to_string());
                        }
                    }
                } else {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }));
    }
    for _ in 0..3 {
        let (http, base, token, qid, acked, stop) = (
            http.clone(),
            base.clone(),
            token.clone(),
            qid.clone(),
            acked.clone(),
            stop.clone(),
        );
        tasks.push(tokio::spawn(async move {
            loop {
                let r = http
                    .get(format!("{base}/v1/queues/{qid}/next?wait=1"))
                    .bearer_auth(&token)
                    .send()
                    .await;
                let Ok(r) = r else {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                };
                if r.status() == 204 && stop.load(std::sync::atomic::Ordering::Relaxed) {
                    // producers are done: finish once nothing is pending anywhere
                    let q: Value = http
                        .get(format!("{base}/v1/queues/{qid}"))
                        .bearer_auth(&token)
                        .send()
                        .await
                        .unwrap()
                        .json()
                        .await
                        .unwrap();
                    let c = &q["counts"];
                    if c["ready"] == 0 && c["delayed"] == 0 && c["leased"] == 0 {
                        return;
                    }
                }
                if r.status() != 200 {
                    continue;
                }
                let meta: Value =
                    serde_json::from_str(r.headers()["x-hookbay-meta"].to_str().unwrap()).unwrap();
                if let Ok(a) = http.post(meta["ackUrl"].as_str().unwrap()).send().await {
                    if a.status() == 204 {
                        acked
                            .lock()
                            .unwrap()
                            .insert(meta["messageId"].as_str().unwrap().to_string());
                    }
                }
            }
        }));
    }

    // let traffic flow, then kill -9 in the middle of it
    eventually(Duration::from_secs(60), || async {
        accepted.lock().unwrap().len() >= 300
    })
    .await;
    child.kill().expect("kill -9");
    child.wait().unwrap();
    let at_kill = accepted.lock().unwrap().len();
    let mut child = spawn_relay(&store, port, &[]);
    wait_healthy(&http, &base).await;
    eventually(Duration::from_secs(60), || async {
        accepted.lock().unwrap().len() >= at_kill + 200
    })
    .await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);

    let finished = tokio::time::timeout(Duration::from_secs(90), async {
        for t in tasks {
            t.await.unwrap();
        }
    })
    .await;
    assert!(finished.is_ok(), "consumers did not drain the queue");
    let accepted = accepted.lock().unwrap().clone();
    let acked = acked.lock().unwrap().clone();
    // an ack whose 204 died with the relay is still an ack: ask the relay
    let mut not_settled = vec![];
    for id in accepted.iter().filter(|id| !acked.contains(*id)) {
        let m: Value = http
            .get(format!("{base}/v1/messages/{id}"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if m["deliveries"][0]["state"] != "acked" {
            not_settled.push(m);
        }
    }
    assert!(
        not_settled.is_empty(),
        "not settled after kill -9: {not_settled:#?}"
    );
    assert!(accepted.len() >= 500);
    child.kill().ok();
    child.wait().ok();
}

crate::both!(kill_dash_nine_loses_nothing);
