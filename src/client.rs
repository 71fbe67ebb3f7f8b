//! The Rust consumer client — the same shape as the Python and Node
//! packages (`clients/`): stream a queue over SSE (reconnecting forever,
//! capped jittered backoff, a silent connection taken for dead), poll it
//! with `/next`, lease and settle in batches, and settle each message with
//! the capability URLs of its meta. `hookbay listen` is built on it.
//!
//! ```no_run
//! # async fn demo() -> Result<(), hookbay::client::Error> {
//! use futures_util::StreamExt;
//! let c = hookbay::client::Consumer::new("https://hooks.example.com", "token");
//! let mut s = std::pin::pin!(c.stream("q_…", Default::default()));
//! while let Some(msg) = s.next().await {
//!     let msg = msg?;
//!     println!("{} {:?}", msg.id, msg.event_type());
//!     msg.ack().await?;
//! }
//! # Ok(()) }
//! ```

use std::collections::VecDeque;
use std::time::Duration;

use base64::Engine;
use futures_util::{Stream, StreamExt};
use serde_json::{json, Value};

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// 401/403: the token is wrong, revoked, or lacks the scope.
    #[error("not authorized: {0}")]
    Auth(String),
    /// 404: no such queue (or not this token's).
    #[error("not found: {0}")]
    NotFound(String),
    /// 409 on a settle: the lease expired or was superseded; the message
    /// was or will be delivered again.
    #[error("lease no longer held: {0}")]
    LeaseExpired(String),
    /// 400: the request itself is wrong.
    #[error("invalid request: {0}")]
    Invalid(String),
    /// The relay is unreachable, restarting or overloaded (503, 429, I/O).
    #[error("relay unavailable: {0}")]
    Unavailable(String),
    /// Anything else the relay answered.
    #[error("relay answered {0}: {1}")]
    Http(u16, String),
}

impl Error {
    /// Whether trying again later may work.
    pub fn is_transient(&self) -> bool {
        matches!(self, Error::Unavailable(_)) || matches!(self, Error::Http(s, _) if *s >= 500)
    }
}

async fn error_of(r: reqwest::Response) -> Error {
    let status = r.status().as_u16();
    let text = r.text().await.unwrap_or_default();
    let detail = serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|p| p["detail"].as_str().map(String::from))
        .unwrap_or(text);
    match status {
        400 => Error::Invalid(detail),
        401 | 403 => Error::Auth(detail),
        404 => Error::NotFound(detail),
        409 => Error::LeaseExpired(detail),
        429 | 502..=504 => Error::Unavailable(detail),
        s => Error::Http(s, detail),
    }
}

fn io(e: reqwest::Error) -> Error {
    Error::Unavailable(e.to_string())
}

/// SSE stream settings.
#[derive(Debug, Clone)]
pub struct StreamOptions {
    /// Unsettled messages at once (default 10).
    pub prefetch: usize,
    /// Lease length; default: the queue's.
    pub lease: Option<Duration>,
    /// A connection silent this long (no keep-alive) is reopened; the
    /// relay sends one every 10 s.
    pub dead_after: Duration,
    /// First reconnect delay; doubles up to `max_backoff`, with jitter.
    pub backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for StreamOptions {
    fn default() -> Self {
        StreamOptions {
            prefetch: 10,
            lease: None,
            dead_after: Duration::from_secs(20),
            backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
        }
    }
}

/// A queue consumer for one relay and token.
#[derive(Clone)]
pub struct Consumer {
    http: reqwest::Client,
    base: String,
    token: String,
}

/// One delivered message with its lease.
#[derive(Debug, Clone)]
pub struct Message {
    pub id: String,
    /// The body, byte-exact.
    pub payload: Vec<u8>,
    pub content_type: Option<String>,
    /// The meta (see docs/consuming.md); fields may be absent.
    pub meta: Value,
    http: reqwest::Client,
}

impl Message {
    /// From an SSE event's data (or a batch lease item).
    fn from_event(data: &Value, http: &reqwest::Client) -> Option<Message> {
        let p = data["payload"].as_str()?;
        let payload = if data["encoding"] == "base64" {
            base64::engine::general_purpose::STANDARD.decode(p).ok()?
        } else {
            p.as_bytes().to_vec()
        };
        Some(Message {
            id: data["meta"]["messageId"]
                .as_str()
                .unwrap_or_default()
                .into(),
            payload,
            content_type: data["contentType"].as_str().map(String::from),
            meta: data["meta"].clone(),
            http: http.clone(),
        })
    }

    /// The body as text (lossy for non-UTF-8 bytes).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.payload).into_owned()
    }

    pub fn json(&self) -> Result<Value, serde_json::Error> {
        serde_json::from_slice(&self.payload)
    }

    /// 1-based attempt (0 if the meta lacks it).
    pub fn attempt(&self) -> u32 {
        self.meta["attempt"].as_u64().unwrap_or(0) as u32
    }

    pub fn event_type(&self) -> Option<&str> {
        self.meta["eventType"].as_str()
    }

    /// Lower-case header name → value.
    pub fn headers(&self) -> std::collections::BTreeMap<String, String> {
        self.meta["headers"]
            .as_object()
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The lease token (the `token` parameter of the meta's URLs), for
    /// batch settles.
    pub fn lease_token(&self) -> Option<&str> {
        self.meta["ackUrl"]
            .as_str()?
            .split_once("token=")
            .map(|(_, t)| t)
    }

    async fn post(&self, which: &str, body: Option<Value>) -> Result<Value, Error> {
        let url = self.meta[which]
            .as_str()
            .ok_or_else(|| Error::Invalid(format!("the meta has no {which}")))?;
        let mut req = self.http.post(url).timeout(Duration::from_secs(30));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.map_err(io)?;
        if r.status().is_success() {
            return Ok(r.json().await.unwrap_or(Value::Null));
        }
        Err(error_of(r).await)
    }

    pub async fn ack(&self) -> Result<(), Error> {
        self.post("ackUrl", None).await.map(|_| ())
    }

    /// Deliver again after `delay` (default: the queue's backoff).
    pub async fn nack(&self, reason: &str, delay: Option<Duration>) -> Result<(), Error> {
        let mut b = json!({ "reason": reason });
        if let Some(d) = delay {
            b["delaySeconds"] = json!(d.as_secs_f64());
        }
        self.post("nackUrl", Some(b)).await.map(|_| ())
    }

    /// Straight to the dead letters.
    pub async fn reject(&self, reason: &str) -> Result<(), Error> {
        self.post("rejectUrl", Some(json!({ "reason": reason })))
            .await
            .map(|_| ())
    }

    /// Hold the lease `by` longer from now; the new expiry (RFC 3339).
    pub async fn extend(&self, by: Duration) -> Result<String, Error> {
        let v = self
            .post("extendUrl", Some(json!({ "seconds": by.as_secs_f64() })))
            .await?;
        Ok(v["leaseExpiresAt"].as_str().unwrap_or_default().to_string())
    }
}

/// What a batch settle item asks for.
#[derive(Debug, Clone)]
pub enum Outcome {
    Ack,
    Nack {
        reason: String,
        delay: Option<Duration>,
    },
    Reject {
        reason: String,
    },
}

/// Where the stream is between polls of its `Stream`.
struct StreamState {
    url: String,
    opts: StreamOptions,
    body: Option<std::pin::Pin<Box<dyn Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>>,
    parser: crate::sse::Parser,
    ready: VecDeque<crate::sse::Event>,
    backoff: Duration,
    failures: u32,
}

impl Consumer {
    pub fn new(url: &str, token: &str) -> Consumer {
        Consumer {
            http: reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(10))
                .build()
                .unwrap_or_default(),
            base: url.trim_end_matches('/').to_string(),
            token: token.to_string(),
        }
    }

    fn queue_url(&self, queue: &str, what: &str) -> String {
        format!("{}/v1/queues/{queue}/{what}", self.base)
    }

    /// Subscribe over SSE. Yields messages forever, reconnecting after any
    /// failure with capped, jittered backoff; yields an error only for what
    /// will not heal by waiting (a refused token, a deleted queue: `Auth`,
    /// `NotFound`) and then ends. Transient failures are logged and retried.
    pub fn stream(
        &self,
        queue: &str,
        opts: StreamOptions,
    ) -> impl Stream<Item = Result<Message, Error>> + Send + '_ {
        let mut url = format!(
            "{}?prefetch={}",
            self.queue_url(queue, "stream"),
            opts.prefetch.max(1)
        );
        if let Some(l) = opts.lease {
            url.push_str(&format!("&lease={}", l.as_secs_f64()));
        }
        let state = StreamState {
            url,
            backoff: opts.backoff,
            opts,
            body: None,
            parser: crate::sse::Parser::new(),
            ready: VecDeque::new(),
            failures: 0,
        };
        futures_util::stream::unfold(Some(state), move |st| async move {
            let mut st = st?;
            loop {
                // hand out what is parsed
                while let Some(ev) = st.ready.pop_front() {
                    match ev.event.as_str() {
                        "message" => {
                            let data: Value = serde_json::from_str(&ev.data).unwrap_or(Value::Null);
                            if let Some(m) = Message::from_event(&data, &self.http) {
                                return Some((Ok(m), Some(st)));
                            }
                        }
                        "close" => {
                            // the queue was deleted or the token revoked
                            let why: Value = serde_json::from_str(&ev.data).unwrap_or(Value::Null);
                            let reason = why["reason"].as_str().unwrap_or("closed").to_string();
                            let e = if reason.contains("token") {
                                Error::Auth(reason)
                            } else {
                                Error::NotFound(reason)
                            };
                            return Some((Err(e), None));
                        }
                        _ => {}
                    }
                }
                // read more, or (re)connect
                if let Some(body) = st.body.as_mut() {
                    match tokio::time::timeout(st.opts.dead_after, body.next()).await {
                        Ok(Some(Ok(chunk))) => {
                            let evs = st.parser.push(&chunk);
                            st.ready.extend(evs);
                            continue;
                        }
                        Ok(_) => tracing::warn!("stream ended; reconnecting"),
                        Err(_) => tracing::warn!(
                            "no keep-alive for {:?}: the connection is dead; reconnecting",
                            st.opts.dead_after
                        ),
                    }
                    st.body = None;
                    st.parser = crate::sse::Parser::new();
                }
                if st.failures > 0 {
                    let jitter = Duration::from_millis(rand::random::<u64>() % 250);
                    tokio::time::sleep(st.backoff + jitter).await;
                    st.backoff = (st.backoff * 2).min(st.opts.max_backoff);
                }
                match self.http.get(&st.url).bearer_auth(&self.token).send().await {
                    Ok(r) if r.status().is_success() => {
                        tracing::info!(url = %self.base, "stream connected");
                        st.failures = 0;
                        st.backoff = st.opts.backoff;
                        st.body = Some(Box::pin(r.bytes_stream()));
                    }
                    Ok(r) => {
                        let e = error_of(r).await;
                        if matches!(e, Error::Auth(_) | Error::NotFound(_) | Error::Invalid(_)) {
                            return Some((Err(e), None));
                        }
                        tracing::warn!(error = %e, "stream refused; retrying");
                        st.failures += 1;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot reach the relay; retrying");
                        st.failures += 1;
                    }
                }
            }
        })
    }

    /// POST a JSON body to one of the queue's endpoints; the JSON answer.
    async fn post_json(
        &self,
        queue: &str,
        what: &str,
        body: &Value,
        timeout: Duration,
    ) -> Result<Value, Error> {
        let r = self
            .http
            .post(self.queue_url(queue, what))
            .bearer_auth(&self.token)
            .json(body)
            .timeout(timeout)
            .send()
            .await
            .map_err(io)?;
        if !r.status().is_success() {
            return Err(error_of(r).await);
        }
        r.json().await.map_err(io)
    }

    /// One message, waiting up to `wait` (0..=30 s); `None` if none came.
    pub async fn next(&self, queue: &str, wait: Duration) -> Result<Option<Message>, Error> {
        let r = self
            .http
            .get(self.queue_url(queue, "next"))
            .query(&[("wait", wait.as_secs_f64())])
            .bearer_auth(&self.token)
            .timeout(wait + Duration::from_secs(30))
            .send()
            .await
            .map_err(io)?;
        match r.status().as_u16() {
            204 => Ok(None),
            200 => {
                let meta: Value = r
                    .headers()
                    .get("x-hookbay-meta")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| serde_json::from_str(v).ok())
                    .ok_or_else(|| Error::Http(200, "no X-Hookbay-Meta header".into()))?;
                let content_type = r
                    .headers()
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .map(String::from);
                let payload = r.bytes().await.map_err(io)?.to_vec();
                Ok(Some(Message {
                    id: meta["messageId"].as_str().unwrap_or_default().into(),
                    payload,
                    content_type,
                    meta,
                    http: self.http.clone(),
                }))
            }
            _ => Err(error_of(r).await),
        }
    }

    /// Long-poll forever (`next` with `wait`), retrying transient failures
    /// with backoff; ends after an error that will not heal.
    pub fn poll(
        &self,
        queue: &str,
        wait: Duration,
    ) -> impl Stream<Item = Result<Message, Error>> + Send + '_ {
        let queue = queue.to_string();
        futures_util::stream::unfold(
            (Some(queue), Duration::from_millis(500)),
            move |(q, mut backoff)| async move {
                let q = q?;
                loop {
                    match self.next(&q, wait).await {
                        Ok(Some(m)) => return Some((Ok(m), (Some(q), Duration::from_millis(500)))),
                        Ok(None) => continue,
                        Err(e) if e.is_transient() => {
                            tracing::warn!(error = %e, "poll failed; retrying");
                            tokio::time::sleep(backoff).await;
                            backoff = (backoff * 2).min(Duration::from_secs(30));
                        }
                        Err(e) => return Some((Err(e), (None, backoff))),
                    }
                }
            },
        )
    }

    /// Lease up to `max` (1..=100) messages, waiting up to `wait` for the
    /// first.
    pub async fn lease(
        &self,
        queue: &str,
        max: usize,
        wait: Duration,
        lease: Option<Duration>,
    ) -> Result<Vec<Message>, Error> {
        let mut body = json!({ "max": max, "wait": wait.as_secs_f64() });
        if let Some(l) = lease {
            body["lease"] = json!(l.as_secs_f64());
        }
        let v = self
            .post_json(queue, "lease", &body, wait + Duration::from_secs(30))
            .await?;
        Ok(v["messages"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|d| Message::from_event(d, &self.http))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Settle up to 100 leases at once; each item's status (204, 409, 404,
    /// 401) in order.
    pub async fn settle(
        &self,
        queue: &str,
        items: &[(&Message, Outcome)],
    ) -> Result<Vec<u16>, Error> {
        let items: Vec<Value> = items
            .iter()
            .map(|(m, o)| {
                let mut it = json!({ "token": m.lease_token().unwrap_or_default() });
                match o {
                    Outcome::Ack => it["outcome"] = json!("ack"),
                    Outcome::Nack { reason, delay } => {
                        it["outcome"] = json!("nack");
                        it["reason"] = json!(reason);
                        if let Some(d) = delay {
                            it["delaySeconds"] = json!(d.as_secs_f64());
                        }
                    }
                    Outcome::Reject { reason } => {
                        it["outcome"] = json!("reject");
                        it["reason"] = json!(reason);
                    }
                }
                it
            })
            .collect();
        let v = self
            .post_json(
                queue,
                "settle",
                &json!({ "items": items }),
                Duration::from_secs(30),
            )
            .await?;
        Ok(v["results"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|x| x["status"].as_u64().unwrap_or(0) as u16)
                    .collect()
            })
            .unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_decode_both_encodings_and_odd_metas() {
        let http = reqwest::Client::new();
        let v: Value = serde_json::from_str(
            r#"{"payload":"/wA=","encoding":"base64","meta":{"messageId":"m","attempt":2}}"#,
        )
        .unwrap();
        let m = Message::from_event(&v, &http).unwrap();
        assert_eq!(
            (m.payload.as_slice(), m.id.as_str(), m.attempt()),
            (&[0xff, 0x00][..], "m", 2)
        );
        let v: Value =
            serde_json::from_str(r#"{"payload":"hé","encoding":"utf8","meta":{}}"#).unwrap();
        let m = Message::from_event(&v, &http).unwrap();
        assert_eq!(m.text(), "hé");
        assert_eq!(
            (m.attempt(), m.event_type(), m.lease_token()),
            (0, None, None)
        );
        assert!(m.headers().is_empty());
        assert!(Message::from_event(&Value::Null, &http).is_none());
    }
}
