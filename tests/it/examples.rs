//! The consumer examples in `examples/consumers/` (Python with requests,
//! Node with fetch) really consume and ack a message from a live relay.

use std::time::Duration;

use crate::common::*;
use serde_json::json;

async fn run_example(cmd: &str, file: &str) {
    let redis = RedisServer::start();
    let relay = Relay::start(&redis).await;
    let t = relay.tenant().await;
    let (src, ingest) = relay.source(&t, json!({})).await;
    let q = relay.queue(&t, &src, json!({})).await;
    let id = relay
        .ingest(&ingest, "application/json", r#"{"hello":"example"}"#)
        .await;
    let path = format!("{}/examples/consumers/{file}", env!("CARGO_MANIFEST_DIR"));
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new(cmd)
            .arg(&path)
            .env("HOOKBAY_URL", relay.running.url())
            .env("HOOKBAY_TOKEN", &t.token)
            .env("HOOKBAY_QUEUE", &q)
            .env("MAX_MESSAGES", "1")
            .kill_on_drop(true)
            .output(),
    )
    .await
    .unwrap_or_else(|_| panic!("{file} did not finish"))
    .unwrap_or_else(|e| panic!("cannot run {cmd} (scripts/ensure-tools installs it): {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{file}: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains(&id), "{file} printed the message: {stdout}");
    let m = relay
        .get_json(&t.token, &format!("/v1/messages/{id}"))
        .await;
    assert_eq!(m["deliveries"][0]["state"], "acked", "{file} acked it");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_polling_example() {
    run_example("python3", "poll.py").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_sse_example() {
    run_example("python3", "sse.py").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_polling_example() {
    run_example("node", "poll.mjs").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_sse_example() {
    run_example("node", "sse.mjs").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_batch_example() {
    run_example("python3", "batch.py").await;
}
