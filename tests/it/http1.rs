//! HTTP/1.1 on the wire, byte by byte: the cases where the relay's
//! patched HTTP layer (vendor/README.md: an idle connection gives back its
//! I/O buffers) lets go of a buffer and must take a fresh one — pipelined
//! requests, bodies that arrive in pieces, a keep-alive connection used
//! again after it went idle — and a client that closes its side while it
//! waits.

use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::common::*;

/// The pause between pieces: long enough for the connection to go idle
/// (its dispatcher returns to the runtime with nothing buffered). The
/// tests pass however short it is; it only makes the idle path the one
/// taken.
const IDLE: Duration = Duration::from_millis(30);

/// Read one response with a `Content-Length` body: (status, body).
async fn response(r: &mut BufReader<TcpStream>) -> (u16, Vec<u8>) {
    let mut status = String::new();
    r.read_line(&mut status).await.expect("status line");
    let code = status
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("status line {status:?}"));
    let mut len = 0usize;
    loop {
        let mut line = String::new();
        r.read_line(&mut line).await.expect("header line");
        if line == "\r\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                len = value.trim().parse().expect("content-length");
            }
        }
    }
    let mut body = vec![0; len];
    r.read_exact(&mut body).await.expect("body");
    (code, body)
}

/// `POST` head for the ingest URL `url` with a body of `len` bytes.
fn ingest_head(url: &str, len: usize) -> String {
    let url = url::Url::parse(url).expect("ingest url");
    let path = url.path();
    format!(
        "POST {path} HTTP/1.1\r\nHost: relay\r\nContent-Type: application/octet-stream\r\n\
         Content-Length: {len}\r\n\r\n"
    )
}

async fn pipelined_requests_are_each_answered_in_order(b: Backend) {
    let store = Storage::start(b);
    let relay = Relay::start(&store).await;
    let t = relay.tenant().await;
    let (src, ingest) = relay.source(&t, json!({})).await;
    let q = relay.queue(&t, &src, json!({})).await;
    let tcp = TcpStream::connect(relay.running.addr)
        .await
        .expect("connect");
    let mut conn = BufReader::new(tcp);
    // three requests in one write, the last one's body split off
    let mut wire = Vec::new();
    for body in ["one", "two"] {
        wire.extend(ingest_head(&ingest, body.len()).into_bytes());
        wire.extend(body.as_bytes());
    }
    wire.extend(ingest_head(&ingest, 5).into_bytes());
    wire.extend(b"thr");
    conn.get_mut().write_all(&wire).await.expect("write");
    for _ in 0..2 {
        assert_eq!(response(&mut conn).await.0, 202);
    }
    tokio::time::sleep(IDLE).await;
    conn.get_mut().write_all(b"ee").await.expect("write");
    assert_eq!(response(&mut conn).await.0, 202);
    for want in ["one", "two", "three"] {
        let d = relay.next(&t, &q, "").await.expect("a message");
        assert_eq!(d.body, want.as_bytes());
    }
}

async fn a_body_that_arrives_in_pieces_is_stored_whole(b: Backend) {
    let store = Storage::start(b);
    let relay = Relay::start(&store).await;
    let t = relay.tenant().await;
    let (src, ingest) = relay.source(&t, json!({})).await;
    let q = relay.queue(&t, &src, json!({})).await;
    // 40 KiB of every byte value, larger than any I/O buffer, in pieces
    // that split the head and the body at odd places
    let body: Vec<u8> = (0..40 * 1024).map(|i| (i * 7 % 256) as u8).collect();
    let mut wire = ingest_head(&ingest, body.len()).into_bytes();
    wire.extend(&body);
    let tcp = TcpStream::connect(relay.running.addr)
        .await
        .expect("connect");
    let mut conn = BufReader::new(tcp);
    for piece in wire.chunks(9_999) {
        conn.get_mut().write_all(piece).await.expect("write");
        tokio::time::sleep(IDLE).await;
    }
    assert_eq!(response(&mut conn).await.0, 202);
    let d = relay.next(&t, &q, "").await.expect("the message");
    assert_eq!(d.body, body);
}

async fn a_keep_alive_connection_serves_again_after_idling(b: Backend) {
    let store = Storage::start(b);
    let relay = Relay::start(&store).await;
    let t = relay.tenant().await;
    let (src, ingest) = relay.source(&t, json!({})).await;
    let tcp = TcpStream::connect(relay.running.addr)
        .await
        .expect("connect");
    let mut conn = BufReader::new(tcp);
    for i in 0..5 {
        let body = format!("message {i}");
        let mut wire = ingest_head(&ingest, body.len()).into_bytes();
        wire.extend(body.as_bytes());
        conn.get_mut().write_all(&wire).await.expect("write");
        let (code, answer) = response(&mut conn).await;
        assert_eq!(code, 202, "{}", String::from_utf8_lossy(&answer));
        tokio::time::sleep(IDLE).await;
    }
    // and a read on the same connection
    let get = format!(
        "GET /v1/sources/{src}/messages?limit=5 HTTP/1.1\r\nHost: relay\r\n\
         Authorization: Bearer {}\r\n\r\n",
        t.token
    );
    conn.get_mut()
        .write_all(get.as_bytes())
        .await
        .expect("write");
    let (code, answer) = response(&mut conn).await;
    assert_eq!(code, 200, "{}", String::from_utf8_lossy(&answer));
    let listed: serde_json::Value = serde_json::from_slice(&answer).expect("json");
    assert_eq!(
        listed["items"].as_array().map(Vec::len),
        Some(5),
        "{listed}"
    );
}

async fn a_long_poll_whose_client_left_takes_no_message(b: Backend) {
    let store = Storage::start(b);
    let relay = Relay::start(&store).await;
    let t = relay.tenant().await;
    let (src, ingest) = relay.source(&t, json!({})).await;
    let q = relay.queue(&t, &src, json!({})).await;
    let notifier = &relay.running.state.notifier;
    let mut tcp = TcpStream::connect(relay.running.addr)
        .await
        .expect("connect");
    let get = format!(
        "GET /v1/queues/{q}/next?wait=30 HTTP/1.1\r\nHost: relay\r\n\
         Authorization: Bearer {}\r\n\r\n",
        t.token
    );
    tcp.write_all(get.as_bytes()).await.expect("write");
    eventually(Duration::from_secs(10), || async {
        notifier.watchers(&src, &q) == 1
    })
    .await;
    // the client goes away; its poll must end now, not after 30 s
    drop(tcp);
    eventually(Duration::from_secs(10), || async {
        notifier.watchers(&src, &q) == 0
    })
    .await;
    relay.ingest(&ingest, "text/plain", "for a reader").await;
    let d = relay
        .next(&t, &q, "")
        .await
        .expect("the message, not leased away");
    assert_eq!(d.body, b"for a reader");
    assert_eq!(d.meta["attempt"], 1, "{}", d.meta);
}

crate::both!(
    a_long_poll_whose_client_left_takes_no_message,
    pipelined_requests_are_each_answered_in_order,
    a_body_that_arrives_in_pieces_is_stored_whole,
    a_keep_alive_connection_serves_again_after_idling,
);
