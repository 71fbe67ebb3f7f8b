//! `hookbay tail SOURCE`: print messages as they arrive at a source, read
//! from `GET /v1/sources/{id}/tail` (nothing is consumed). Reconnects with
//! `Last-Event-ID` after a dropped connection, so nothing is skipped.

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::Value;

use super::client::{fail, CliError, Client};
use super::output::{bytes, one_line, s};

/// One line for people: time, event type, method, path, size, verified,
/// the first bytes of the body.
fn line(v: &Value) -> String {
    let body = match v["encoding"].as_str() {
        Some("base64") => "(binary)".to_string(),
        _ => one_line(v["payload"].as_str().unwrap_or(""), 60),
    };
    format!(
        "{}  {:<24} {:<6} /{:<16} {:>9}  {}  {}",
        s(&v["receivedAt"]),
        one_line(&s(&v["eventType"]), 24),
        s(&v["method"]),
        one_line(v["path"].as_str().unwrap_or(""), 16),
        bytes(v["size"].as_u64().unwrap_or(0)),
        if v["verified"] == true {
            "verified  "
        } else {
            "unverified"
        },
        body
    )
}

pub async fn run(c: &Client, json: bool, source: &str) -> Result<(), CliError> {
    let url = c.url(&format!(
        "/v1/sources/{}/tail",
        url::form_urlencoded::byte_serialize(source.as_bytes()).collect::<String>()
    ));
    let mut last: Option<String> = None;
    let mut backoff = Duration::from_millis(500);
    if !json {
        eprintln!("tailing {source} (Ctrl-C to stop); nothing is consumed");
    }
    loop {
        let mut req = c.http().get(&url).bearer_auth(c.token());
        if let Some(id) = &last {
            req = req.header("last-event-id", id);
        }
        let resp = match req.send().await {
            Ok(r) if r.status().is_success() => r,
            Ok(r) => {
                let status = r.status();
                let p: Value = r.json().await.unwrap_or(Value::Null);
                // 4xx will not change on a retry
                if status.is_client_error() {
                    return Err(fail(
                        p["title"].as_str().unwrap_or("refused").to_string(),
                        p["detail"].as_str().unwrap_or("").to_string(),
                    ));
                }
                eprintln!("relay answered {status}; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(15));
                continue;
            }
            Err(e) => {
                eprintln!("cannot reach the relay ({e}); retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(15));
                continue;
            }
        };
        backoff = Duration::from_millis(500);
        let mut parser = crate::sse::Parser::new();
        let mut body = resp.bytes_stream();
        // no keep-alive for twice its interval: the connection is dead
        while let Ok(Some(chunk)) = tokio::time::timeout(Duration::from_secs(25), body.next()).await
        {
            let Ok(chunk) = chunk else { break };
            for ev in parser.push(&chunk) {
                match ev.event.as_str() {
                    "message" => {
                        let v: Value = serde_json::from_str(&ev.data).unwrap_or(Value::Null);
                        if json {
                            println!("{v}");
                        } else {
                            println!("{}", line(&v));
                        }
                        last = ev.id.clone();
                    }
                    "close" => {
                        let why: Value = serde_json::from_str(&ev.data).unwrap_or(Value::Null);
                        return Err(fail(
                            "the tail ended",
                            why["reason"]
                                .as_str()
                                .unwrap_or("closed by the relay")
                                .to_string(),
                        ));
                    }
                    _ => {}
                }
            }
        }
        eprintln!("connection lost; reconnecting");
    }
}
