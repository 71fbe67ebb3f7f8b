//! No secret reaches a log line: run a full scenario with every relay log
//! target at debug (access logs included) and search the output for tokens,
//! source secrets, ingest keys and lease tokens.

use std::io::Write;
use std::sync::{Arc, Mutex};

use crate::common::*;
use serde_json::json;

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The process-wide log capture (one global subscriber per process, shared
/// by both backends' runs of the scenario).
fn capture() -> Capture {
    static CAP: std::sync::OnceLock<Capture> = std::sync::OnceLock::new();
    CAP.get_or_init(|| {
        let cap = Capture::default();
        let writer = cap.clone();
        tracing_subscriber::fmt()
            .with_env_filter(
                "hookbay=trace,actix_web=debug,actix_server=debug,actix_http=debug,redis=debug",
            )
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .init();
        cap
    })
    .clone()
}

async fn a_full_scenario_logs_no_secret(b: Backend) {
    let cap = capture();

    let store = Storage::start(b);
    let relay = Relay::start(&store).await;
    let t = relay.tenant().await;
    let secret = "source-secret-DO-NOT-LOG";
    let (src, ingest) = relay
        .source(
            &t,
            json!({"verification": {"type": "token", "secrets": [secret]}}),
        )
        .await;
    let q = relay.queue(&t, &src, json!({})).await;
    let key = ingest.rsplit('/').next().unwrap().to_string();
    // refused and accepted deliveries, secret in the query and in a header
    assert_eq!(
        relay
            .http
            .post(format!("{ingest}?token=wrong-guess-1234"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    assert_eq!(
        relay
            .http
            .post(format!("{ingest}?token={secret}"))
            .body("a")
            .send()
            .await
            .unwrap()
            .status(),
        202
    );
    let r = relay
        .http
        .post(&ingest)
        .header("x-webhook-token", secret)
        .body("b")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    // consume: pull + ack, and a stream with the token in the query
    let d = relay.next(&t, &q, "").await.unwrap();
    let ack = d.meta["ackUrl"].as_str().unwrap().to_string();
    let lease_token = ack.split("token=").nth(1).unwrap().to_string();
    assert_eq!(relay.http.post(&ack).send().await.unwrap().status(), 204);
    let mut sse = Sse::connect(
        &relay,
        &relay.url(&format!("/v1/queues/{q}/stream?access_token={}", t.token)),
    )
    .await;
    let e = sse.next_event().await.unwrap();
    assert_eq!(
        relay
            .settle(&e.data["meta"], "nackUrl", Some(json!({"reason": "later"})))
            .await,
        204
    );
    // bad credentials of every kind
    assert_eq!(
        relay.get("not-a-real-token", "/v1/sources").await.status(),
        401
    );
    assert_eq!(
        relay
            .http
            .post(format!("{ack}tampered"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    drop(sse);

    let logs = String::from_utf8(cap.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("hookbay::access"),
        "access logs were captured"
    );
    assert!(
        logs.contains("/in/<key>"),
        "ingest paths are logged, redacted"
    );
    for (what, s) in [
        ("admin token", ADMIN),
        ("tenant token", t.token.as_str()),
        ("source secret", secret),
        ("ingest key", key.as_str()),
        ("lease token", lease_token.as_str()),
        ("secret key", SECRET),
    ] {
        assert!(!logs.contains(s), "{what} appears in the logs");
    }
}

crate::both!(a_full_scenario_logs_no_secret,);
