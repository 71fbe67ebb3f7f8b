//! `hookbay listen` against a local HTTP target: outcomes by status, exact
//! bytes and headers, catch-up, reconnect after a relay restart, `--once`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::*;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use hookbay::listen::{On4xx, Options};
use serde_json::json;

#[derive(Clone, Debug)]
struct Seen {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

type Log = Arc<Mutex<Vec<Seen>>>;

/// A target that records requests and answers the status named in the
/// forwarded `x-want-status` header (default 200).
async fn target() -> (String, Log) {
    let log: Log = Arc::default();
    let l = log.clone();
    let server = HttpServer::new(move || {
        let l = l.clone();
        App::new()
            .app_data(web::PayloadConfig::new(16 << 20))
            .default_service(web::to(move |req: HttpRequest, body: web::Bytes| {
                let l = l.clone();
                async move {
                    l.lock().unwrap().push(Seen {
                        method: req.method().to_string(),
                        path: req.uri().to_string(),
                        headers: req
                            .headers()
                            .iter()
                            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
                            .collect(),
                        body: body.to_vec(),
                    });
                    if let Some(ms) = req
                        .headers()
                        .get("x-delay-ms")
                        .and_then(|v| v.to_str().ok())
                    {
                        tokio::time::sleep(Duration::from_millis(ms.parse().unwrap_or(0))).await;
                    }
                    let status = req
                        .headers()
                        .get("x-want-status")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(200u16);
                    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap())
                        .finish()
                }
            }))
    })
    .workers(1)
    .bind("127.0.0.1:0")
    .unwrap();
    let addr = server.addrs()[0];
    tokio::spawn(server.run());
    (format!("http://{addr}/hook"), log)
}

fn opts(relay_url: &str, q: &str, t: &Tenant, target: &str) -> Options {
    Options {
        url: relay_url.into(),
        queue: q.into(),
        token: t.token.clone(),
        forward_to: target.into(),
        prefetch: 5,
        on_4xx: On4xx::Reject,
        timeout: Duration::from_secs(5),
        json: false,
        dead_after: hookbay::listen::DEAD_AFTER,
    }
}

async fn ingest_with(relay: &Relay, url: &str, status: u16, body: Vec<u8>) -> String {
    let r = relay
        .http
        .put(format!("{url}/orders/7?x=1"))
        .header("content-type", "application/octet-stream")
        .header("x-want-status", status.to_string())
        .header("x-custom", "kept")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    r.json::<serde_json::Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn forwards_exact_requests_and_settles_by_status(b: Backend) {
    let store = Storage::start(b);
    let relay = Relay::start(&store).await;
    let t = relay.tenant().await;
    let (src, ingest) = relay.source(&t, json!({})).await;
    let q = relay.queue(&t, &src, json!({})).await;
    let (target, log) = target().await;
    // ingested while nobody listens: caught up on start
    let body: Vec<u8> = vec![0, 159, 146, 150, 255, b'\n'];
    let ok = ingest_with(&relay, &ingest, 200, body.clone()).await;
    let failing = ingest_with(&relay, &ingest, 503, b"retry me".to_vec()).await;
    let bad = ingest_with(&relay, &ingest, 422, b"bad".to_vec()).await;

    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let o = opts(&relay.running.url(), &q, &t, &target);
    let listener = tokio::spawn(hookbay::listen::run(o, async {
        let _ = stop_rx.await;
    }));
    eventually(Duration::from_secs(10), || async {
        let m = relay
            .get_json(&t.token, &format!("/v1/messages/{bad}"))
            .await;
        m["deliveries"][0]["state"] == "dead"
    })
    .await;
    eventually(Duration::from_secs(10), || async {
        let m = relay
            .get_json(&t.token, &format!("/v1/messages/{ok}"))
            .await;
        m["deliveries"][0]["state"] == "acked"
    })
    .await;
    let m = relay
        .get_json(&t.token, &format!("/v1/messages/{failing}"))
        .await;
    let h = &m["deliveries"][0]["history"][0];
    assert_eq!(h["outcome"], "nack");
    assert_eq!(h["reason"], "target answered 503");
    let dl = relay
        .get_json(&t.token, &format!("/v1/queues/{q}/dead-letters"))
        .await;
    assert_eq!(dl["items"][0]["reason"], "target answered 422");

    let seen = log.lock().unwrap().clone();
    let first = seen
        .iter()
        .find(|s| s.body == body)
        .expect("exact bytes forwarded");
    assert_eq!(first.method, "PUT");
    assert_eq!(first.path, "/hook/orders/7?x=1");
    let header = |n: &str| {
        first
            .headers
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(header("x-custom").as_deref(), Some("kept"));
    assert_eq!(
        header("content-type").as_deref(),
        Some("application/octet-stream")
    );
    stop_tx.send(()).unwrap();
    let summary = listener.await.unwrap();
    assert!(summary.line().contains("acked"), "{}", summary.line());
}

async fn reconnects_after_the_relay_restarts(b: Backend) {
    let store = Storage::start(b);
    let port = free_port();
    let mut cfg = config(&store);
    cfg.listen = format!("127.0.0.1:{port}");
    let relay = Relay::start_with(cfg.clone()).await;
    let t = relay.tenant().await;
    let (src, ingest) = relay.source(&t, json!({})).await;
    let q = relay.queue(&t, &src, json!({})).await;
    let (target, log) = target().await;
    let o = opts(&relay.running.url(), &q, &t, &target);
    let listener = tokio::spawn(hookbay::listen::run(o, std::future::pending()));
    ingest_with(&relay, &ingest, 200, b"one".to_vec()).await;
    eventually(Duration::from_secs(10), || async {
        log.lock().unwrap().len() == 1
    })
    .await;

    relay.running.stop().await;
    let relay = Relay::start_with(cfg).await;
    ingest_with(&relay, &ingest, 200, b"two".to_vec()).await;
    eventually(Duration::from_secs(20), || async {
        log.lock().unwrap().iter().any(|s| s.body == b"two")
    })
    .await;
    listener.abort();
}

async fn once_drains_the_queue_and_exits(b: Backend) {
    let store = Storage::start(b);
    let relay = Relay::start(&store).await;
    let t = relay.tenant().await;
    let (src, ingest) = relay.source(&t, json!({})).await;
    let q = relay.queue(&t, &src, json!({})).await;
    let (target, log) = target().await;
    for i in 0..3 {
        ingest_with(
            &relay,
            &ingest,
            if i == 2 { 404 } else { 200 },
            vec![b'a' + i],
        )
        .await;
    }
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_hookbay"))
        .args([
            "listen",
            "--once",
            "--nack-on-4xx",
            "--url",
            &relay.running.url(),
            "--queue",
            &q,
        ])
        .args(["--forward-to", &target])
        .env("HOOKBAY_TOKEN", &t.token)
        .output()
        .await
        .unwrap();
    // one delivery was nacked: the run says so with its exit code
    assert!(!out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("3 delivered: 2 acked, 1 nacked, 0 rejected"),
        "{stdout}"
    );
    assert_eq!(log.lock().unwrap().len(), 3);
    let c = relay.counts(&t, &q).await;
    assert_eq!(c["delayed"], 1, "the 404 was nacked, not dead-lettered");

    // every delivery acked, --json: one object per delivery, then the summary
    let (src2, ingest2) = relay.source(&t, json!({})).await;
    let q2 = relay.queue(&t, &src2, json!({})).await;
    let a = ingest_with(&relay, &ingest2, 200, b"x".to_vec()).await;
    let b2 = ingest_with(&relay, &ingest2, 201, b"y".to_vec()).await;
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_hookbay"))
        .args([
            "listen",
            "--once",
            "--json",
            "--url",
            &relay.running.url(),
            "--queue",
            &q2,
        ])
        .args(["--forward-to", &target])
        .env("HOOKBAY_TOKEN", &t.token)
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert_eq!(
        (lines[0]["messageId"].as_str(), lines[0]["outcome"].as_str()),
        (Some(a.as_str()), Some("ack"))
    );
    assert_eq!(lines[1]["messageId"], b2);
    assert_eq!(
        lines[2],
        json!({"delivered": 2, "acked": 2, "nacked": 0, "rejected": 0, "settleErrors": 0})
    );
}

/// A stream that stops sending (not even keep-alives) is a dead
/// connection: listen reconnects instead of waiting forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_stream_is_reconnected() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let connections = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = connections.clone();
    let server = tokio::spawn(async move {
        let mut held = vec![];
        loop {
            let (mut sock, _) = listener.accept().await.unwrap();
            seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let mut buf = [0u8; 4096];
            let _ = sock.read(&mut buf).await;
            // headers of an event stream, then silence
            let _ = sock
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n")
                .await;
            held.push(sock);
        }
    });
    let o = Options {
        url: url.clone(),
        queue: "q_x".into(),
        token: "t".into(),
        forward_to: "http://127.0.0.1:9".into(),
        prefetch: 1,
        on_4xx: On4xx::Reject,
        timeout: Duration::from_secs(5),
        json: false,
        dead_after: Duration::from_millis(300),
    };
    let run = tokio::spawn(hookbay::listen::run(o, std::future::pending()));
    eventually(Duration::from_secs(20), || async {
        connections.load(std::sync::atomic::Ordering::SeqCst) >= 2
    })
    .await;
    run.abort();
    server.abort();
}

async fn slow_targets_keep_their_lease(b: Backend) {
    let store = Storage::start(b);
    let relay = Relay::start(&store).await;
    let t = relay.tenant().await;
    let (src, ingest) = relay.source(&t, json!({})).await;
    let q = relay.queue(&t, &src, json!({"leaseSeconds": 2})).await;
    let (target, log) = target().await;
    let r = relay
        .http
        .post(&ingest)
        .header("x-delay-ms", "3500")
        .body("slow")
        .send()
        .await
        .unwrap();
    let id = r.json::<serde_json::Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let o = opts(&relay.running.url(), &q, &t, &target);
    let listener = tokio::spawn(hookbay::listen::run(o, std::future::pending()));
    eventually(Duration::from_secs(15), || async {
        let m = relay
            .get_json(&t.token, &format!("/v1/messages/{id}"))
            .await;
        m["deliveries"][0]["state"] == "acked"
    })
    .await;
    let m = relay
        .get_json(&t.token, &format!("/v1/messages/{id}"))
        .await;
    assert_eq!(
        m["deliveries"][0]["attempts"], 1,
        "the 2 s lease was extended, never expired"
    );
    assert_eq!(log.lock().unwrap().len(), 1, "delivered once");
    listener.abort();
}

/// Text of `len` bytes cycling through 1-, 2-, 3- and 4-byte characters, so
/// that network chunks split characters at every possible offset.
fn multibyte_text(len: usize) -> Vec<u8> {
    let chars = ['a', 'é', '字', '😀', '"', '\\', '\n'];
    let mut s = String::with_capacity(len + 4);
    let mut i = 0;
    while s.len() < len {
        let c = chars[i % chars.len()];
        if s.len() + c.len_utf8() > len {
            s.push('a');
        } else {
            s.push(c);
        }
        i += 1;
    }
    s.into_bytes()
}

async fn forwards_multibyte_bodies_of_every_size_byte_exact(b: Backend) {
    use sha2::{Digest, Sha256};
    let store = Storage::start(b);
    let relay = Relay::start(&store).await;
    let t = relay.tenant().await;
    let (src, ingest) = relay
        .source(&t, json!({"maxBodyBytes": 6 * 1024 * 1024}))
        .await;
    let q = relay.queue(&t, &src, json!({})).await;
    let (target, log) = target().await;
    let sizes = [1usize, 2, 3, 4, 1000, 65_537, 540_009, 5 * 1024 * 1024];
    let mut want = vec![];
    for n in sizes {
        let body = multibyte_text(n);
        assert_eq!(body.len(), n);
        want.push(hex::encode(Sha256::digest(&body)));
        relay
            .ingest(&ingest, "application/json; charset=utf-8", body)
            .await;
    }
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let o = opts(&relay.running.url(), &q, &t, &target);
    let listener = tokio::spawn(hookbay::listen::run(o, async {
        let _ = stop_rx.await;
    }));
    eventually(Duration::from_secs(60), || async {
        log.lock().unwrap().len() >= sizes.len()
    })
    .await;
    let _ = stop_tx.send(());
    let _ = listener.await;
    let mut got: Vec<(usize, String)> = log
        .lock()
        .unwrap()
        .iter()
        .map(|s| (s.body.len(), hex::encode(Sha256::digest(&s.body))))
        .collect();
    got.sort();
    let mut expected: Vec<(usize, String)> = sizes.iter().copied().zip(want).collect();
    expected.sort();
    assert_eq!(got, expected);
}

crate::both!(
    reconnects_after_the_relay_restarts,
    forwards_exact_requests_and_settles_by_status,
    once_drains_the_queue_and_exits,
    slow_targets_keep_their_lease,
    forwards_multibyte_bodies_of_every_size_byte_exact,
);
