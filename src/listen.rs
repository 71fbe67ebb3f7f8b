//! `hookbay listen`: forward a queue to a local HTTP target, the way Stripe
//! CLI or smee-client do, but backed by the durable queue — nothing is missed
//! while the laptop sleeps. Subscribes over SSE (reconnecting forever with
//! capped, jittered backoff), replays each message with its original method,
//! headers and exact bytes, and settles it from the target's answer:
//! 2xx → ack; 5xx, timeout or connection error → nack; 4xx → reject (or
//! nack). Leases are extended while the target is still working.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{json, Value};

/// What to do when the target answers 4xx.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum On4xx {
    Reject,
    Nack,
}

#[derive(Debug, Clone)]
pub struct Options {
    /// Relay base URL.
    pub url: String,
    pub queue: String,
    pub token: String,
    pub forward_to: String,
    pub prefetch: usize,
    pub on_4xx: On4xx,
    /// Per-request timeout towards the target.
    pub timeout: Duration,
    /// One JSON object per delivery (and for the summary) instead of text.
    pub json: bool,
    /// A stream silent this long is reconnected (`DEAD_AFTER`).
    pub dead_after: Duration,
}

/// The relay sends a keep-alive comment every 10 s: a stream silent for
/// twice that is a dead connection (a sleeping laptop, a dropped NAT
/// mapping), and is reconnected.
pub const DEAD_AFTER: Duration = Duration::from_secs(20);

/// Counts printed on exit.
#[derive(Debug, Default)]
pub struct Summary {
    pub delivered: AtomicU64,
    pub acked: AtomicU64,
    pub nacked: AtomicU64,
    pub rejected: AtomicU64,
    pub settle_errors: AtomicU64,
}

impl Summary {
    /// Whether every delivery was acked (what `--once` exits with).
    pub fn all_acked(&self) -> bool {
        self.nacked.load(Ordering::Relaxed) == 0
            && self.rejected.load(Ordering::Relaxed) == 0
            && self.settle_errors.load(Ordering::Relaxed) == 0
    }

    pub fn json(&self) -> Value {
        json!({
            "delivered": self.delivered.load(Ordering::Relaxed),
            "acked": self.acked.load(Ordering::Relaxed),
            "nacked": self.nacked.load(Ordering::Relaxed),
            "rejected": self.rejected.load(Ordering::Relaxed),
            "settleErrors": self.settle_errors.load(Ordering::Relaxed),
        })
    }

    pub fn line(&self) -> String {
        format!(
            "{} delivered: {} acked, {} nacked, {} rejected, {} settle errors",
            self.delivered.load(Ordering::Relaxed),
            self.acked.load(Ordering::Relaxed),
            self.nacked.load(Ordering::Relaxed),
            self.rejected.load(Ordering::Relaxed),
            self.settle_errors.load(Ordering::Relaxed)
        )
    }
}

struct Listener {
    opts: Options,
    http: reqwest::Client,
    summary: Arc<Summary>,
}

/// One delivery as received from the relay.
struct Message {
    meta: Value,
    body: Vec<u8>,
}

impl Listener {
    fn target_url(&self, meta: &Value) -> String {
        let mut u = self.opts.forward_to.trim_end_matches('/').to_string();
        if let Some(p) = meta["path"].as_str().filter(|p| !p.is_empty()) {
            u.push('/');
            u.push_str(p);
        }
        if let Some(q) = meta["query"].as_str().filter(|q| !q.is_empty()) {
            u.push('?');
            u.push_str(q);
        }
        if u.is_empty() {
            self.opts.forward_to.clone()
        } else {
            u
        }
    }

    /// Forward one message and settle it. Never panics on odd input.
    async fn handle(&self, m: Message) {
        let started = Instant::now();
        self.summary.delivered.fetch_add(1, Ordering::Relaxed);
        let id = m.meta["messageId"].as_str().unwrap_or("?").to_string();
        let method =
            reqwest::Method::from_bytes(m.meta["method"].as_str().unwrap_or("POST").as_bytes())
                .unwrap_or(reqwest::Method::POST);
        let mut req = self
            .http
            .request(method, self.target_url(&m.meta))
            .timeout(self.opts.timeout);
        if let Some(h) = m.meta["headers"].as_object() {
            for (k, v) in h {
                // the target's Host is its own
                if !crate::model::is_hop_by_hop(k) && k != "host" {
                    if let Some(v) = v.as_str() {
                        req = req.header(k.as_str(), v);
                    }
                }
            }
        }
        let send = req.body(m.body).send();
        tokio::pin!(send);
        // keep the lease alive while the target works
        let lease_left = lease_seconds_left(&m.meta);
        let mut extend = tokio::time::interval(Duration::from_secs((lease_left / 2).max(1)));
        extend.tick().await;
        let result = loop {
            tokio::select! {
                r = &mut send => break r,
                _ = extend.tick() => {
                    if let Some(u) = m.meta["extendUrl"].as_str() {
                        let _ = self.http.post(u).json(&json!({"seconds": lease_left.max(30)})).send().await;
                    }
                }
            }
        };
        let (status, outcome, reason) = match &result {
            Ok(r) if r.status().is_success() => {
                (r.status().as_u16().to_string(), "ack", String::new())
            }
            Ok(r) if r.status().is_client_error() && self.opts.on_4xx == On4xx::Reject => (
                r.status().as_u16().to_string(),
                "reject",
                format!("target answered {}", r.status().as_u16()),
            ),
            Ok(r) => (
                r.status().as_u16().to_string(),
                "nack",
                format!("target answered {}", r.status().as_u16()),
            ),
            Err(e) if e.is_timeout() => ("timeout".into(), "nack", "target timed out".into()),
            Err(_) => ("error".into(), "nack", "target unreachable".into()),
        };
        let url_key = match outcome {
            "ack" => "ackUrl",
            "reject" => "rejectUrl",
            _ => "nackUrl",
        };
        let mut settle = self.http.post(m.meta[url_key].as_str().unwrap_or_default());
        if outcome != "ack" {
            settle = settle.json(&json!({ "reason": reason }));
        }
        let settled = settle.send().await.map(|r| r.status().as_u16());
        let counter = match (outcome, &settled) {
            (_, Ok(204)) if outcome == "ack" => &self.summary.acked,
            (_, Ok(204)) if outcome == "reject" => &self.summary.rejected,
            (_, Ok(204)) => &self.summary.nacked,
            _ => &self.summary.settle_errors,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        if self.opts.json {
            println!(
                "{}",
                json!({
                    "time": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                    "messageId": id,
                    "eventType": m.meta["eventType"],
                    "attempt": m.meta["attempt"],
                    "status": status,
                    "ms": started.elapsed().as_millis() as u64,
                    "outcome": outcome,
                    "settled": settled.as_ref().ok().copied(),
                })
            );
            return;
        }
        println!(
            "{} {id} → {status} in {}ms, {outcome}{}",
            chrono::Utc::now().format("%H:%M:%S%.3f"),
            started.elapsed().as_millis(),
            match settled {
                Ok(204) => String::new(),
                Ok(s) => format!(" (relay answered {s})"),
                Err(_) => " (relay unreachable)".into(),
            }
        );
    }
}

fn lease_seconds_left(meta: &Value) -> u64 {
    meta["leaseExpiresAt"]
        .as_str()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| (t.timestamp() - chrono::Utc::now().timestamp()).max(1) as u64)
        .unwrap_or(30)
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .build()
        .unwrap_or_default()
}

/// Stream and forward until `shutdown` resolves; returns the counts.
pub async fn run(opts: Options, shutdown: impl std::future::Future<Output = ()>) -> Arc<Summary> {
    let me = Arc::new(Listener {
        http: client(),
        summary: Arc::new(Summary::default()),
        opts,
    });
    let consumer = crate::client::Consumer::new(&me.opts.url, &me.opts.token);
    let stream_opts = crate::client::StreamOptions {
        prefetch: me.opts.prefetch,
        dead_after: me.opts.dead_after,
        ..Default::default()
    };
    let work = async {
        loop {
            // the client reconnects by itself; it ends only on what waiting
            // will not heal (a refused token, a missing queue)
            let mut s = std::pin::pin!(consumer.stream(&me.opts.queue, stream_opts.clone()));
            while let Some(m) = s.next().await {
                match m {
                    Ok(m) => {
                        let me = me.clone();
                        tokio::spawn(async move {
                            me.handle(Message {
                                meta: m.meta,
                                body: m.payload,
                            })
                            .await
                        });
                    }
                    Err(e) => {
                        eprintln!("relay refused the stream ({e}); check --token and --queue");
                    }
                }
            }
            eprintln!("retrying in 30s");
            tokio::time::sleep(Duration::from_secs(30)).await;
        }
    };
    tokio::select! {
        _ = work => {}
        _ = shutdown => {}
    }
    me.summary.clone()
}

/// `--once`: pull with `/next` until the queue is empty, then return.
pub async fn run_once(opts: Options) -> Result<Arc<Summary>, String> {
    let consumer = crate::client::Consumer::new(&opts.url, &opts.token);
    let me = Listener {
        http: client(),
        summary: Arc::new(Summary::default()),
        opts,
    };
    while let Some(m) = consumer
        .next(&me.opts.queue, Duration::ZERO)
        .await
        .map_err(|e| e.to_string())?
    {
        me.handle(Message {
            meta: m.meta,
            body: m.payload,
        })
        .await;
    }
    Ok(me.summary.clone())
}
