//! hookbay benchmark (run with `bench/run`): for each backend (the embedded
//! store, fsync'd per group commit; Redis with `appendfsync everysec`), in
//! one run: ingest throughput and latency (and, on Redis, against naive
//! XADD handlers), the cost of queue filters, 10,000 SSE streams,
//! ingest→SSE delivery latency under open-loop load, and settle throughput
//! (one SSE consumer, batch lease/settle, 8 `/next` pollers); then a table
//! side by side with the embedded/Redis ratios. Prints figures; asserts
//! nothing.

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{json, Value};

mod raw;

const ADMIN: &str = "bench-admin-token-0123456789";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port")
}

struct Procs(Vec<Child>, std::path::PathBuf);
impl Drop for Procs {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_dir_all(&self.1);
    }
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i]
}

struct Api {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Api {
    async fn post(&self, path: &str, body: Value) -> Value {
        self.http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .expect("post")
            .json()
            .await
            .expect("json")
    }

    /// An SSE stream of `queue` with a prefetch window of 100.
    async fn stream(&self, queue: &str) -> reqwest::Response {
        self.http
            .get(format!(
                "{}/v1/queues/{queue}/stream?prefetch=100",
                self.base
            ))
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("stream")
    }

    /// A fresh source with `queues` queues: (ingest url, queue ids).
    async fn setup(&self, queues: usize) -> (String, Vec<String>) {
        self.setup_with(queues, |_| Value::Null).await
    }

    /// A fresh source (event type from body `/type`) with `queues` queues,
    /// queue `i` carrying `filter(i)` (none when null).
    async fn setup_with(
        &self,
        queues: usize,
        filter: impl Fn(usize) -> Value,
    ) -> (String, Vec<String>) {
        let s = self
            .post(
                "/v1/sources",
                json!({"name": "bench", "verification": {"type": "none"},
                       "eventType": {"jsonPointer": "/type"}}),
            )
            .await;
        let mut qs = vec![];
        for i in 0..queues {
            let q = self
                .post(
                    "/v1/queues",
                    json!({"sourceId": s["id"], "name": format!("q{i}"), "filter": filter(i)}),
                )
                .await;
            qs.push(q["id"].as_str().expect("queue").to_string());
        }
        (s["ingestUrl"].as_str().expect("url").to_string(), qs)
    }
}

fn body_1k() -> String {
    let pad = "x".repeat(1024 - 40);
    format!(r#"{{"type":"bench.event","pad":"{pad}"}}"#)
}

/// Ingest `n` messages with `conc` concurrent clients (for preloading).
async fn preload(http: &reqwest::Client, url: &str, n: u64, conc: usize) {
    let left = Arc::new(AtomicU64::new(n));
    let mut tasks = vec![];
    for _ in 0..conc {
        let (http, url, left) = (http.clone(), url.to_string(), left.clone());
        tasks.push(tokio::spawn(async move {
            let body = body_1k();
            while left
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| v.checked_sub(1))
                .is_ok()
            {
                let r = http
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .send()
                    .await
                    .expect("ingest");
                assert_eq!(r.status(), 202);
            }
        }));
    }
    for t in tasks {
        t.await.expect("preload");
    }
}

/// wrk's "1.23ms" / "850.00us" / "1.02s" in ms.
fn wrk_ms(v: &str) -> f64 {
    let num = |suffix: &str| v.strip_suffix(suffix).and_then(|n| n.parse::<f64>().ok());
    num("us")
        .map(|n| n / 1000.0)
        .or_else(|| num("ms"))
        .or_else(|| num("s").map(|n| n * 1000.0))
        .unwrap_or(f64::NAN)
}

/// Ingest figures: (req/s, p50 ms, p99 ms).
async fn ingest_phase(http: &reqwest::Client, url: &str, secs: u64, what: &str) -> (f64, f64, f64) {
    if let Ok(out) = Command::new("wrk").arg("--version").output() {
        let _ = out;
        let script = std::env::temp_dir().join(format!("hookbay-bench-{}.lua", std::process::id()));
        std::fs::write(
            &script,
            format!(
                "wrk.method = \"POST\"\nwrk.body = '{}'\nwrk.headers[\"Content-Type\"] = \"application/json\"\n",
                body_1k()
            ),
        )
        .expect("script");
        let out = Command::new("wrk")
            .args(["-t2", "-c50", &format!("-d{secs}s"), "--latency", "-s"])
            .arg(&script)
            .arg(url)
            .output();
        let _ = std::fs::remove_file(&script);
        if let Ok(out) = out {
            let text = String::from_utf8_lossy(&out.stdout);
            let grab = |prefix: &str| {
                text.lines()
                    .find(|l| l.trim_start().starts_with(prefix))
                    .map(|l| l.split_whitespace().nth(1).unwrap_or("?").to_string())
                    .unwrap_or_else(|| "?".into())
            };
            let non2xx = text
                .lines()
                .find(|l| l.contains("Non-2xx"))
                .unwrap_or("Non-2xx or 3xx responses: 0");
            println!(
                "  ingest (wrk, 50 connections, 1 KiB JSON, {what}): {} req/s, p50 {}, p99 {} ({})",
                grab("Requests/sec:"),
                grab("50%"),
                grab("99%"),
                non2xx.trim()
            );
            return (
                grab("Requests/sec:").parse().unwrap_or(f64::NAN),
                wrk_ms(&grab("50%")),
                wrk_ms(&grab("99%")),
            );
        }
    }
    // built-in client fallback
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = vec![];
    for _ in 0..50 {
        let (http, url, stop) = (http.clone(), url.to_string(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let body = body_1k();
            let mut lat = vec![];
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                let r = http
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .send()
                    .await;
                if r.is_ok_and(|r| r.status() == 202) {
                    lat.push(t.elapsed().as_secs_f64() * 1000.0);
                }
            }
            lat
        }));
    }
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(secs)).await;
    stop.store(true, Ordering::Relaxed);
    let mut lat = vec![];
    for t in tasks {
        lat.extend(t.await.expect("task"));
    }
    let rate = lat.len() as f64 / started.elapsed().as_secs_f64();
    let (p50, p99) = (pct(&mut lat, 0.5), pct(&mut lat, 0.99));
    println!(
        "  ingest (built-in client, 50 connections, 1 KiB JSON, {what}): {rate:.0} req/s, p50 {p50:.2}ms, p99 {p99:.2}ms",
    );
    (rate, p50, p99)
}

/// The `message` events of an SSE response, parsed by the relay's own
/// byte-safe parser (bytes become text only at event boundaries).
fn sse_events(resp: reqwest::Response) -> impl futures_util::Stream<Item = Value> {
    let mut parser = hookbay::sse::Parser::new();
    resp.bytes_stream().flat_map(move |chunk| {
        let mut out = vec![];
        if let Ok(c) = chunk {
            for ev in parser.push(&c) {
                if ev.event == "message" {
                    if let Ok(v) = serde_json::from_str(&ev.data) {
                        out.push(v);
                    }
                }
            }
        }
        futures_util::stream::iter(out)
    })
}

/// Ingest→SSE figures: (delivered, p50 ms, p99 ms).
/// Ingest→SSE delivery latency under an open-loop load of `rate` msg/s:
/// message i is due at start + i/rate and carries that intended send time;
/// each send is its own task, so a slow request never delays the next
/// (no coordinated omission). Latency is measured from the intended time
/// to the event's arrival at one SSE consumer (prefetch 100, acking each).
/// Returns (delivered, p50 ms, p99 ms).
async fn latency_phase(api: &Api, secs: u64, rate: u64) -> (usize, f64, f64) {
    let (url, qs) = api.setup(1).await;
    let resp = api.stream(&qs[0]).await;
    let total = secs * rate;
    let http = api.http.clone();
    let epoch = Instant::now();
    let consumer = tokio::spawn(async move {
        let mut events = Box::pin(sse_events(resp));
        let mut lat = vec![];
        while (lat.len() as u64) < total {
            let Ok(Some(ev)) = tokio::time::timeout(Duration::from_secs(10), events.next()).await
            else {
                break;
            };
            let now = epoch.elapsed().as_secs_f64() * 1000.0;
            let sent: f64 = serde_json::from_str::<Value>(ev["payload"].as_str().unwrap_or("{}"))
                .ok()
                .and_then(|v| v["t"].as_f64())
                .unwrap_or(now);
            lat.push(now - sent);
            let ack = ev["meta"]["ackUrl"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let http = http.clone();
            tokio::spawn(async move {
                let _ = http.post(ack).send().await;
            });
        }
        lat
    });
    // paced by a thread of its own: tokio's timers fire on a 1 ms wheel,
    // which made every send up to 1 ms late (counted as relay latency); a
    // thread's sleep wakes within tens of µs
    let start = Instant::now() + Duration::from_millis(50);
    let base_ms = start.duration_since(epoch).as_secs_f64() * 1000.0;
    let (due_tx, mut due_rx) = tokio::sync::mpsc::unbounded_channel::<f64>();
    let pacer = std::thread::spawn(move || {
        for i in 0..total {
            let due = Duration::from_secs_f64(i as f64 / rate as f64);
            let now = Instant::now();
            if start + due > now {
                std::thread::sleep(start + due - now);
            }
            if due_tx.send(base_ms + due.as_secs_f64() * 1000.0).is_err() {
                return;
            }
        }
    });
    let mut sends = Vec::with_capacity(total as usize);
    while let Some(intended) = due_rx.recv().await {
        let (http, url) = (api.http.clone(), url.clone());
        sends.push(tokio::spawn(async move {
            let _ = http
                .post(&url)
                .header("content-type", "application/json")
                .body(format!(r#"{{"t":{intended}}}"#))
                .send()
                .await;
            epoch.elapsed().as_secs_f64() * 1000.0 - intended
        }));
    }
    let _ = pacer.join();
    let mut rtt = vec![];
    for s in sends {
        rtt.extend(s.await.ok());
    }
    let mut lat = consumer.await.expect("consumer");
    let (p50, p99) = (pct(&mut lat, 0.5), pct(&mut lat, 0.99));
    println!(
        "  ingest→SSE delivery, open loop at {rate} msg/s: {} delivered, p50 {p50:.2}ms, p99 {p99:.2}ms \
         (the ingest request alone, from its intended time: p50 {:.2}ms, p99 {:.2}ms)",
        lat.len(),
        pct(&mut rtt, 0.5),
        pct(&mut rtt, 0.99),
    );
    (lat.len(), p50, p99)
}

/// Acks in flight at once in the SSE phase (the stream's prefetch window
/// is 100), each connection with one request at a time.
const ACK_CONNS: usize = 32;

async fn settle_sse_phase(api: &Api, n: u64) -> f64 {
    let (url, qs) = api.setup(1).await;
    preload(&api.http, &url, n, 50).await;
    let resp = api.stream(&qs[0]).await;
    let started = Instant::now();
    let cpu = cpu_now();
    let done = Arc::new(AtomicU64::new(0));
    // the acks go out over keep-alive connections of the minimal client
    let mut lanes = vec![];
    let mut ackers = vec![];
    for _ in 0..ACK_CONNS {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        lanes.push(tx);
        let (base, done) = (api.base.clone(), done.clone());
        ackers.push(tokio::spawn(async move {
            let mut conn = raw::Conn::connect(&base).await.expect("connect");
            while let Some(target) = rx.recv().await {
                let r = conn.send("POST", &target, None).await.expect("ack");
                if r.status == 204 {
                    done.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    let mut parser = hookbay::sse::Parser::new();
    let mut body = resp.bytes_stream();
    let mut got = 0u64;
    'read: while got < n {
        let Ok(Some(Ok(chunk))) = tokio::time::timeout(Duration::from_secs(10), body.next()).await
        else {
            break;
        };
        for ev in parser.push(&chunk) {
            if ev.event != "message" {
                continue;
            }
            let Some(ack) = raw::json_str(&ev.data, "ackUrl") else {
                continue;
            };
            let lane = &lanes[got as usize % ACK_CONNS];
            let _ = lane.send(raw::target(&ack).to_string());
            got += 1;
            if got >= n {
                break 'read;
            }
        }
    }
    drop(lanes);
    for a in ackers {
        let _ = a.await;
    }
    let rate = done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64();
    println!(
        "  settle, 1 SSE consumer (prefetch 100, ack each): {rate:.0} msg/s over {got} messages; CPU per message: {}",
        cpu_per(cpu, got)
    );
    rate
}

/// Batch consumption: 2 workers, each leasing up to 100 messages per call
/// (`POST /lease`) and settling them in one call (`POST /settle`).
async fn settle_batch_phase(api: &Api, n: u64) -> f64 {
    let (url, qs) = api.setup(1).await;
    preload(&api.http, &url, n, 50).await;
    let (rate, done) = drain(api, &qs[0], u64::MAX).await;
    println!(
        "  settle, 2 batch workers (lease 100 + settle 100): {rate:.0} msg/s over {done} messages"
    );
    rate
}

/// POST `body` as JSON with a bearer token; the JSON answer (null when
/// it is not JSON).
async fn post_json(http: &reqwest::Client, url: &str, token: &str, body: Value) -> Value {
    http.post(url)
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("post")
        .json()
        .await
        .unwrap_or_default()
}

/// Drain up to `limit` messages of `q` (until it is empty) with 2 batch
/// workers: (msg/s, messages acked).
async fn drain(api: &Api, q: &str, limit: u64) -> (f64, u64) {
    let started = Instant::now();
    let done = Arc::new(AtomicU64::new(0));
    let mut tasks = vec![];
    for _ in 0..2 {
        let (http, base, q, token, done) = (
            api.http.clone(),
            api.base.clone(),
            q.to_string(),
            api.token.clone(),
            done.clone(),
        );
        tasks.push(tokio::spawn(async move {
            while done.load(Ordering::Relaxed) < limit {
                let max = (limit - done.load(Ordering::Relaxed)).min(100);
                let v = post_json(
                    &http,
                    &format!("{base}/v1/queues/{q}/lease"),
                    &token,
                    json!({ "max": max }),
                )
                .await;
                let msgs = v["messages"].as_array().cloned().unwrap_or_default();
                if msgs.is_empty() {
                    return;
                }
                let items: Vec<Value> = msgs
                    .iter()
                    .filter_map(|m| {
                        m["meta"]["ackUrl"]
                            .as_str()?
                            .split_once("token=")
                            .map(|(_, t)| t.to_string())
                    })
                    .map(|t| json!({"token": t, "outcome": "ack"}))
                    .collect();
                let r = post_json(
                    &http,
                    &format!("{base}/v1/queues/{q}/settle"),
                    &token,
                    json!({ "items": items }),
                )
                .await;
                let ok = r["results"]
                    .as_array()
                    .map_or(0, |a| a.iter().filter(|x| x["status"] == 204).count());
                done.fetch_add(ok as u64, Ordering::Relaxed);
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let done = done.load(Ordering::Relaxed);
    (done as f64 / started.elapsed().as_secs_f64(), done)
}

/// What the backend holds, in bytes: Redis `used_memory`, or the embedded
/// data dir's files (database and WAL) less the database's free pages (the
/// pages deleted sources left, which new rows take first).
async fn stored_bytes(data: &std::path::Path, redis_port: Option<u16>) -> f64 {
    match redis_port {
        Some(_) => redis_info(redis_port, "memory", "used_memory").await,
        None => {
            let free: i64 = rusqlite::Connection::open_with_flags(
                data.join(hookbay::store::embedded::DB_FILE),
                rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
            )
            .and_then(|c| {
                c.query_row(
                    "SELECT f.freelist_count * p.page_size \
                     FROM pragma_freelist_count f, pragma_page_size p",
                    [],
                    |r| r.get(0),
                )
            })
            .unwrap_or(0);
            dir_bytes(data) as f64 - free as f64
        }
    }
}

/// Field `name` of Redis's `INFO section` (NaN without Redis).
async fn redis_info(redis_port: Option<u16>, section: &str, name: &str) -> f64 {
    let Some(p) = redis_port else {
        return f64::NAN;
    };
    let Ok(client) = redis::Client::open(format!("redis://127.0.0.1:{p}")) else {
        return f64::NAN;
    };
    let Ok(mut c) = client.get_multiplexed_async_connection().await else {
        return f64::NAN;
    };
    let info: String = redis::cmd("INFO")
        .arg(section)
        .query_async(&mut c)
        .await
        .unwrap_or_default();
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(f64::NAN)
}

/// Wait (up to 5 min) until Redis runs no AOF rewrite and has none
/// scheduled, so that a measurement starts from a quiet Redis; prints the
/// wait. No-op without Redis.
async fn aof_quiet(redis_port: Option<u16>) {
    if redis_port.is_none() {
        return;
    }
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(300) {
        let busy = redis_info(redis_port, "persistence", "aof_rewrite_in_progress").await
            + redis_info(redis_port, "persistence", "aof_rewrite_scheduled").await;
        if busy == 0.0 || busy.is_nan() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let waited = started.elapsed().as_secs_f64();
    if waited > 0.5 {
        println!("  (waited {waited:.1} s for Redis's AOF rewrite to finish)");
    }
}

/// Start the next phase from an empty store: delete every source the
/// phases before left (with their queues and messages; on the embedded
/// store, wait until their rows are purged) and, on Redis, the naive
/// baseline's stream; then have Redis rewrite its AOF and hand freed memory
/// back to the OS while nothing is measured. Without it a later phase
/// measured Redis rewriting (fork, copy-on-write) the gigabytes the ingest
/// phases had left, not the relay: ingest→SSE p99 at 5,000 msg/s was
/// 40–112 ms in full runs against 4.6 ms alone. The backlog phase measures
/// a big dataset on purpose.
async fn reset(api: &Api, redis_port: Option<u16>) {
    let list: Value = api
        .http
        .get(format!("{}/v1/sources", api.base))
        .bearer_auth(&api.token)
        .send()
        .await
        .expect("sources")
        .json()
        .await
        .expect("sources json");
    for s in list["items"].as_array().into_iter().flatten() {
        let id = s["id"].as_str().unwrap_or_default();
        let r = api
            .http
            .delete(format!("{}/v1/sources/{id}", api.base))
            .bearer_auth(&api.token)
            .send()
            .await
            .expect("delete source");
        assert!(r.status().is_success(), "delete source: {}", r.status());
    }
    // the embedded store removes a deleted source's rows right after
    // (hookbay_store_purges_pending counts what is left)
    let started = Instant::now();
    loop {
        let m = api
            .http
            .get(format!("{}/metrics", api.base))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .unwrap_or_default();
        let pending = m
            .lines()
            .find_map(|l| l.strip_prefix("hookbay_store_purges_pending "))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .unwrap_or(0.0);
        if pending == 0.0 || started.elapsed() > Duration::from_secs(600) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if started.elapsed() > Duration::from_millis(500) {
        println!(
            "  (waited {:.1} s for the deleted sources' rows to be purged)",
            started.elapsed().as_secs_f64()
        );
    }
    let Some(p) = redis_port else {
        return;
    };
    let client = redis::Client::open(format!("redis://127.0.0.1:{p}")).expect("redis url");
    let mut c = client
        .get_multiplexed_async_connection()
        .await
        .expect("redis");
    aof_quiet(redis_port).await;
    let _: redis::RedisResult<()> = redis::cmd("DEL").arg("naive").query_async(&mut c).await;
    let _: redis::RedisResult<String> = redis::cmd("BGREWRITEAOF").query_async(&mut c).await;
    // and hand the freed memory back to the OS: a fork (the next AOF
    // rewrite) copies page tables in proportion to the resident size
    let _: redis::RedisResult<String> = redis::cmd("MEMORY").arg("PURGE").query_async(&mut c).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    aof_quiet(redis_port).await;
}

/// Flat under backlog: ingest (wrk) and drain (2 batch workers) on a queue
/// that is empty and on one with `n` messages queued in front, in the same
/// store, in 3 alternating rounds (empty, then backlog; the backlog's drain
/// takes as many as the empty queue's did, so it holds ≥ `n` throughout):
/// each round's ratio compares runs seconds apart, so the VM's drift
/// between phases does not count as a backlog effect; the medians of the
/// rounds are returned. Also the bytes each retained 1 KiB message costs.
/// On Redis every measurement starts with no AOF rewrite running (loading a
/// million messages grows the AOF past Redis's rewrite threshold; a rewrite
/// of a 1.3 GB dataset forks and copies it on this 2-CPU machine); a
/// rewrite that starts during a measurement counts, and the rewrites are
/// printed. Returns (ingest empty, ingest backlog, drain empty, drain
/// backlog, bytes per message, ingest ratio, drain ratio).
async fn backlog_phase(
    api: &Api,
    secs: u64,
    n: u64,
    data: &std::path::Path,
    redis_port: Option<u16>,
) -> [f64; 7] {
    let (empty_url, empty_q) = api.setup(1).await;
    let (backlog_url, backlog_q) = api.setup(1).await;
    let rewrites = redis_info(redis_port, "persistence", "aof_rewrites").await;
    let before = stored_bytes(data, redis_port).await;
    let started = Instant::now();
    preload(&api.http, &backlog_url, n, 64).await;
    let after = stored_bytes(data, redis_port).await;
    let per = (after - before) / n as f64;
    println!(
        "  backlog: {n} messages queued in {:.0} s; {per:.0} bytes per retained 1 KiB message",
        started.elapsed().as_secs_f64()
    );
    let round = (secs / 2).max(2);
    let mut m: [Vec<f64>; 6] = Default::default();
    for _ in 0..3 {
        aof_quiet(redis_port).await;
        let (ie, _, _) = ingest_phase(&api.http, &empty_url, round, "1 queue, empty").await;
        aof_quiet(redis_port).await;
        let (de, count) = drain(api, &empty_q[0], u64::MAX).await;
        aof_quiet(redis_port).await;
        let (ib, _, _) = ingest_phase(
            &api.http,
            &backlog_url,
            round,
            &format!("1 queue, {n}+ queued"),
        )
        .await;
        aof_quiet(redis_port).await;
        let (db, got) = drain(api, &backlog_q[0], count).await;
        println!(
            "  drain: empty queue {de:.0} msg/s, {n}+ queued {db:.0} msg/s over {got} messages each; \
             this round under backlog: ingest {:.2}×, drain {:.2}×",
            ib / ie,
            db / de
        );
        for (v, x) in m.iter_mut().zip([ie, ib, de, db, ib / ie, db / de]) {
            v.push(x);
        }
    }
    let [ie, ib, de, db, ir, dr] = m.map(|mut v| pct(&mut v, 0.5));
    println!(
        "  under backlog (medians of 3 rounds): ingest {ir:.2}×, drain {dr:.2}× the empty queue's"
    );
    if redis_port.is_some() {
        println!(
            "  AOF rewrites by Redis during the phase: {}",
            redis_info(redis_port, "persistence", "aof_rewrites").await - rewrites
        );
    }
    [ie, ib, de, db, per, ir, dr]
}

async fn settle_poll_phase(api: &Api, n: u64) -> f64 {
    let (url, qs) = api.setup(1).await;
    preload(&api.http, &url, n, 50).await;
    let started = Instant::now();
    let cpu = cpu_now();
    let done = Arc::new(AtomicU64::new(0));
    let mut tasks = vec![];
    for _ in 0..8 {
        let (base, next, token, done) = (
            api.base.clone(),
            format!("/v1/queues/{}/next", qs[0]),
            api.token.clone(),
            done.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut conn = raw::Conn::connect(&base).await.expect("connect");
            loop {
                let r = conn.send("GET", &next, Some(&token)).await.expect("next");
                if r.status != 200 {
                    return;
                }
                let meta = r.meta.unwrap_or_default();
                let Some(ack) = raw::json_str(&meta, "ackUrl") else {
                    return;
                };
                let r = conn
                    .send("POST", raw::target(&ack), None)
                    .await
                    .expect("ack");
                if r.status == 204 {
                    done.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let rate = done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64();
    println!(
        "  settle, 8 /next pollers (ack each): {rate:.0} msg/s over {} messages; CPU per message: {}",
        done.load(Ordering::Relaxed),
        cpu_per(cpu, done.load(Ordering::Relaxed))
    );
    rate
}

/// The relay's and redis-server's pids of the backend being measured.
static PIDS: std::sync::Mutex<(u32, Option<u32>)> = std::sync::Mutex::new((0, None));

/// CPU seconds the relay, redis-server and this process (the settle
/// phases' load generator) have used so far.
fn cpu_now() -> (f64, f64, f64) {
    let (relay, redis) = *PIDS.lock().unwrap_or_else(|p| p.into_inner());
    (
        cpu_secs(relay),
        redis.map_or(0.0, cpu_secs),
        cpu_secs(std::process::id()),
    )
}

/// "relay x µs, redis-server y µs, clients z µs" per message since `at`
/// (the settle phases' clients run in this process).
fn cpu_per(at: (f64, f64, f64), n: u64) -> String {
    let now = cpu_now();
    let has_redis = PIDS.lock().unwrap_or_else(|p| p.into_inner()).1.is_some();
    let n = n.max(1) as f64;
    let mut s = format!("relay {:.1} µs", (now.0 - at.0) / n * 1e6);
    if has_redis {
        s += &format!(", redis-server {:.1} µs", (now.1 - at.1) / n * 1e6);
    }
    s += &format!(
        ", clients (this process) {:.1} µs",
        (now.2 - at.2) / n * 1e6
    );
    s
}

/// Bytes of every file in `dir`.
fn dir_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok()?.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// Space under steady load with retention trimming (embedded only, run with
/// `BENCH_ONLY=space`): a queue-less source (nothing pending) whose
/// retention is shortened to 1 s through the database — the API's minimum
/// is an hour — takes `n` 1 KiB messages in chunks; the data dir size is
/// sampled after each chunk.
async fn space_phase(api: &Api, data: &std::path::Path, n: u64) {
    let s = api
        .post(
            "/v1/sources",
            json!({"name": "space", "verification": {"type": "none"}}),
        )
        .await;
    let url = s["ingestUrl"].as_str().expect("url").to_string();
    let db = rusqlite::Connection::open(data.join("hookbay.db")).expect("db");
    db.busy_timeout(Duration::from_secs(5)).expect("busy");
    db.execute(
        "UPDATE sources SET retention_ms = 1000 WHERE id = ?1",
        [s["id"].as_str().expect("id")],
    )
    .expect("retention");
    let chunk = (n / 10).max(1);
    let started = Instant::now();
    let mut peak = 0;
    let mut done = 0;
    while done < n {
        preload(&api.http, &url, chunk, 50).await;
        done += chunk;
        let size = dir_bytes(data);
        peak = peak.max(size);
        let rows: i64 = db
            .query_row("SELECT count(*) FROM messages", [], |r| r.get(0))
            .unwrap_or(-1);
        println!(
            "  space: {done} ingested in {:.0} s, {rows} stored, data dir {:.1} MiB",
            started.elapsed().as_secs_f64(),
            size as f64 / 1048576.0
        );
    }
    println!(
        "  space: {n} messages of 1 KiB ingested and trimmed; peak data dir {:.1} MiB",
        peak as f64 / 1048576.0
    );
}

/// CPU seconds (user + system) a process has used so far, from
/// /proc/<pid>/stat (clock ticks of 1/100 s); NaN where unavailable.
fn cpu_secs(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            // fields after the command name (which may hold spaces)
            let rest = s.rsplit_once(')')?.1;
            let f: Vec<&str> = rest.split_whitespace().collect();
            let ticks = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
            Some(ticks / 100.0)
        })
        .unwrap_or(f64::NAN)
}

/// The naive baseline: the least a relay could do — a tiny actix-web
/// handler that `XADD`s the body to one stream and answers 202 — on
/// `redis_url`, in a thread of this process. `pooled`: a pool of 32
/// connections, each used by one request at a time (what a plain handler
/// with a connection pool does); else one multiplexed connection that
/// pipelines concurrent requests (a stronger baseline). Also `/noop`, the
/// ceiling: the same app answering 202 with the same JSON shape and
/// storing nothing — what the HTTP front alone costs on this machine beside
/// wrk. Returns its base URL.
fn naive_server(redis_url: String, pooled: bool) -> String {
    type Pool = Vec<tokio::sync::Mutex<redis::aio::MultiplexedConnection>>;
    let port = free_port();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let client = redis::Client::open(redis_url).expect("redis url");
            let mut pool: Pool = vec![];
            for _ in 0..if pooled { 32 } else { 1 } {
                let c = client
                    .get_multiplexed_async_connection()
                    .await
                    .expect("redis");
                pool.push(tokio::sync::Mutex::new(c));
            }
            let pool = actix_web::web::Data::new((pool, AtomicU64::new(0)));
            actix_web::HttpServer::new(move || {
                let noop = |body: actix_web::web::Bytes| async move {
                    actix_web::HttpResponse::Accepted().json(json!({ "id": body.len() }))
                };
                actix_web::App::new()
                    .app_data(pool.clone())
                    .route("/noop", actix_web::web::post().to(noop))
                    .route(
                        "/in",
                        actix_web::web::post().to(
                            |pool: actix_web::web::Data<(Pool, AtomicU64)>,
                             body: actix_web::web::Bytes| async move {
                                let (conns, next) = pool.get_ref();
                                let xadd = redis::cmd("XADD")
                                    .arg("naive")
                                    .arg("*")
                                    .arg("b")
                                    .arg(body.as_ref())
                                    .clone();
                                let r: redis::RedisResult<String> = if conns.len() == 1 {
                                    // multiplexed: requests share (and pipeline on) it
                                    let mut c = conns[0].lock().await.clone();
                                    xadd.query_async(&mut c).await
                                } else {
                                    // pooled: this request holds a connection for its round trip
                                    let i =
                                        next.fetch_add(1, Ordering::Relaxed) as usize % conns.len();
                                    let mut c = conns[i].lock().await;
                                    xadd.query_async(&mut *c).await
                                };
                                match r {
                                    Ok(id) => actix_web::HttpResponse::Accepted()
                                        .json(json!({ "id": id })),
                                    Err(_) => {
                                        actix_web::HttpResponse::ServiceUnavailable().finish()
                                    }
                                }
                            },
                        ),
                    )
            })
            .workers(2)
            .bind(("127.0.0.1", port))
            .expect("bind")
            .run()
            .await
            .expect("naive server")
        })
    });
    format!("http://127.0.0.1:{port}")
}

/// hookbay's ingest against the naive baseline on the same Redis, in 3
/// alternating rounds each, then the no-op ceiling once; returns (hookbay
/// median, naive median, ceiling).
async fn baseline_phase(api: &Api, redis_url: &str, secs: u64) -> (f64, f64, f64) {
    let pooled = naive_server(redis_url.to_string(), true);
    let (naive, noop) = (format!("{pooled}/in"), format!("{pooled}/noop"));
    let piped = format!("{}/in", naive_server(redis_url.to_string(), false));
    for u in [&naive, &piped, &noop] {
        let deadline = Instant::now() + Duration::from_secs(10);
        while api
            .http
            .post(u)
            .body("x")
            .send()
            .await
            .map_or(true, |r| r.status() != 202)
        {
            assert!(Instant::now() < deadline, "naive server did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let (url, _) = api.setup(2).await;
    let round = (secs / 2).max(2);
    let (mut h, mut n, mut p) = (vec![], vec![], vec![]);
    for _ in 0..3 {
        h.push(
            ingest_phase(&api.http, &url, round, "hookbay, 2 queues")
                .await
                .0,
        );
        n.push(
            ingest_phase(&api.http, &naive, round, "naive XADD handler, pool of 32")
                .await
                .0,
        );
        p.push(
            ingest_phase(&api.http, &piped, round, "naive XADD handler, multiplexed")
                .await
                .0,
        );
    }
    let ceiling = ingest_phase(&api.http, &noop, round, "no-op handler, stores nothing")
        .await
        .0;
    let (hm, nm, pm) = (pct(&mut h, 0.5), pct(&mut n, 0.5), pct(&mut p, 0.5));
    println!(
        "  hookbay vs the naive baselines (medians): {hm:.0} vs {nm:.0} req/s pooled → {:.2}×; \
         vs {pm:.0} req/s multiplexed → {:.2}×; the no-op ceiling {ceiling:.0} req/s = {:.2}× pooled",
        hm / nm,
        hm / pm,
        ceiling / nm
    );
    (hm, nm, ceiling)
}

/// The routing work itself, in this process (no server, no noise): build
/// the match document of a 1 KiB JSON message and evaluate the 5 bench
/// filters on it. Returns µs per message.
fn filter_work_us() -> f64 {
    use hookbay::routing::{check, Filter, Subject};
    let headers = vec![
        ("host".to_string(), "127.0.0.1:8080".to_string()),
        ("content-length".into(), "1024".into()),
        ("content-type".into(), "application/json".into()),
    ];
    let body = body_1k();
    let s = Subject {
        method: "POST",
        path: "",
        query: "",
        headers: &headers,
        event_type: Some("bench.event"),
        content_type: Some("application/json"),
        body: body.as_bytes(),
    };
    let filters: Vec<Filter> = (0..5)
        .map(|i| Filter::compile(&bench_filter(i)).expect("filter"))
        .collect();
    let uses = filters.iter().fold(0, |u, f| u | f.uses());
    let n = 200_000;
    let t = Instant::now();
    let mut matched = 0;
    for _ in 0..n {
        let doc = s.document_of(uses);
        matched += filters.iter().filter(|f| check(f, &doc).is_ok()).count();
    }
    assert_eq!(matched, 5 * n);
    t.elapsed().as_secs_f64() * 1e6 / n as f64
}

/// Queue `i`'s filter in the filter phase: method, a header, the event
/// type and two body paths (every bench message matches).
fn bench_filter(i: usize) -> Value {
    json!({
        "eventType": {"$in": ["bench.event", format!("other.{i}")]},
        "body": {"pad": {"$exists": true}, "type": {"$startsWith": "bench."}},
        "headers": {"x-env": {"$neq": "test"}},
        "method": "POST"
    })
}

/// The cost of queue filters: ingest into a 5-queue source without
/// filters and into one whose 5 queues each carry a filter that looks at
/// the method, a header, the event type and into the body (all match, so
/// both fan out to 5 queues), in alternating rounds. Throughput on a
/// 2-CPU machine shared with the load generator is noisy, so the relay's
/// own CPU time per request is measured too. Returns the medians
/// (plain req/s, filtered req/s).
async fn filter_phase(api: &Api, secs: u64, relay_pid: u32) -> (f64, f64) {
    let (plain, _) = api.setup(5).await;
    let (filtered, _) = api.setup_with(5, bench_filter).await;
    let round = (secs / 2).max(2);
    let (mut a, mut b, mut ca, mut cb) = (vec![], vec![], vec![], vec![]);
    for _ in 0..4 {
        for (url, what, rates, cpus) in [
            (&plain, "5 queues, no filters", &mut a, &mut ca),
            (&filtered, "5 queues, 5 filters", &mut b, &mut cb),
        ] {
            let c0 = cpu_secs(relay_pid);
            let r = ingest_phase(&api.http, url, round, what).await.0;
            let used = cpu_secs(relay_pid) - c0;
            rates.push(r);
            cpus.push(used / (r * round as f64) * 1e6);
        }
    }
    let (pa, pb) = (pct(&mut a, 0.5), pct(&mut b, 0.5));
    let (qa, qb) = (pct(&mut ca, 0.5), pct(&mut cb, 0.5));
    println!(
        "  filters: median {pa:.0} vs {pb:.0} req/s → {:.3}×; relay CPU per request {qa:.1} vs {qb:.1} µs → {:+.1} %; \
         the routing work alone (in process): {:.2} µs per message",
        pb / pa,
        (qb / qa - 1.0) * 100.0,
        filter_work_us()
    );
    (pa, pb)
}

/// Resident memory of a process in KiB (VmRSS), NaN where unavailable.
fn rss_kib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(f64::NAN)
}

/// Many idle SSE streams on one node (`BENCH_STREAMS`, default 10,000):
/// `n / 100` sources with one queue each and 100 streams per queue, all
/// opened at once (a reconnect storm). Prints how long until every stream
/// had its `200`, the relay's memory per stream, its Redis connections,
/// and the wake-up latency of a trickle of 100 msg/s spread over the
/// queues (each message reaches one of its queue's 100 streams).
async fn streams_phase(api: &Api, relay_pid: u32, redis_port: Option<u16>) -> (f64, f64, f64, f64) {
    let n: usize = std::env::var("BENCH_STREAMS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let per_queue = 100.min(n).max(1);
    let queues = n.div_ceil(per_queue);
    let mut targets = vec![];
    for _ in 0..queues {
        let (url, qs) = api.setup(1).await;
        targets.push((url, qs[0].clone()));
    }
    let rss0 = rss_kib(relay_pid);
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("client");
    let epoch = Instant::now();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<f64>();
    let connected = Arc::new(AtomicU64::new(0));
    let mut tasks = vec![];
    for i in 0..n {
        let q = targets[i / per_queue].1.clone();
        let (http, base, token, tx, connected) = (
            http.clone(),
            api.base.clone(),
            api.token.clone(),
            tx.clone(),
            connected.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let resp = loop {
                match http
                    .get(format!("{base}/v1/queues/{q}/stream?prefetch=1"))
                    .bearer_auth(&token)
                    .send()
                    .await
                {
                    Ok(r) if r.status() == 200 => break r,
                    _ => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            };
            connected.fetch_add(1, Ordering::Relaxed);
            let mut events = Box::pin(sse_events(resp));
            while let Some(ev) = events.next().await {
                let now = epoch.elapsed().as_secs_f64() * 1000.0;
                let sent = serde_json::from_str::<Value>(ev["payload"].as_str().unwrap_or("{}"))
                    .ok()
                    .and_then(|v| v["t"].as_f64())
                    .unwrap_or(now);
                let _ = tx.send(now - sent);
                if let Some(ack) = ev["meta"]["ackUrl"].as_str() {
                    let _ = http.post(ack).send().await;
                }
            }
        }));
    }
    while connected.load(Ordering::Relaxed) < n as u64 && epoch.elapsed() < Duration::from_secs(120)
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let storm = epoch.elapsed().as_secs_f64();
    let got = connected.load(Ordering::Relaxed);
    // let the relay settle, then weigh it
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss = rss_kib(relay_pid);
    let per_stream = (rss - rss0) / n as f64;
    // the relay's own connections to Redis (the bench's naive servers
    // talk to the same Redis: CLIENT LIST would count theirs too)
    let redis_conns = match redis_port {
        Some(p) => Command::new("ss")
            .args([
                "-Htnp",
                "state",
                "established",
                &format!("( dport = :{p} )"),
            ])
            .output()
            .map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .filter(|l| l.contains(&format!("pid={relay_pid},")))
                    .count()
                    .to_string()
            })
            .unwrap_or_else(|_| "?".into()),
        None => "-".into(),
    };
    // a trickle of 100 msg/s for 5 s across the queues
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    for i in 0..500usize {
        tick.tick().await;
        let (url, _) = &targets[i % targets.len()];
        let t = epoch.elapsed().as_secs_f64() * 1000.0;
        let _ = api
            .http
            .post(url)
            .header("content-type", "application/json")
            .body(format!(r#"{{"t":{t}}}"#))
            .send()
            .await;
    }
    let mut lat = vec![];
    let deadline = Instant::now() + Duration::from_secs(10);
    while lat.len() < 500 && Instant::now() < deadline {
        if let Ok(Some(v)) = tokio::time::timeout(Duration::from_millis(200), rx.recv()).await {
            lat.push(v);
        }
    }
    for t in tasks {
        t.abort();
    }
    let (p50, p99) = (pct(&mut lat, 0.5), pct(&mut lat, 0.99));
    println!(
        "  {n} SSE streams opened at once: {got} streaming after {storm:.2} s; relay RSS {:.1} MiB \
         (+{:.1} MiB, {per_stream:.1} KiB per stream); Redis connections of the node: {redis_conns}; \
         wake-up at 100 msg/s: {} delivered, p50 {p50:.2} ms, p99 {p99:.2} ms",
        rss / 1024.0,
        per_stream * n as f64 / 1024.0,
        lat.len()
    );
    (storm, per_stream, rss / 1024.0, p99)
}

/// One backend's figures (NaN: phase not run).
#[derive(Clone, Copy)]
struct Figures {
    ingest: (f64, f64, f64),
    /// ingest req/s on a 5-queue source: (no filters, every queue filtered)
    filter: (f64, f64),
    settle_batch: f64,
    /// (hookbay, naive baseline, no-op ceiling) ingest req/s, alternating
    /// rounds (Redis run)
    baseline: (f64, f64, f64),
    /// 10,000 streams: (seconds until all streamed, KiB per stream, relay
    /// RSS MiB with them open, wake p99 ms)
    streams: (f64, f64, f64, f64),
    latency: (f64, f64),
    /// ingest→SSE p99 ms at 5,000 msg/s
    latency_5k: f64,
    settle_sse: f64,
    settle_poll: f64,
    /// ingest empty/backlog, drain empty/backlog (medians), bytes per
    /// message, ingest and drain backlog/empty (median ratios)
    backlog: [f64; 7],
}

/// Start the relay (and, for Redis, a private redis-server with AOF
/// everysec) and run every phase against it.
async fn run_backend(backend: &str, secs: u64) -> Figures {
    let dir = std::env::temp_dir().join(format!("hookbay-bench-{}-{backend}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let mut procs = vec![];
    let port = free_port();
    let exe = std::env::current_exe().expect("exe");
    let relay_bin = exe
        .parent()
        .and_then(|p| p.parent())
        .map(|p| p.join("hookbay"))
        .expect("relay path");
    let mut relay = Command::new(relay_bin);
    relay
        .arg("serve")
        .env("HOOKBAY_LISTEN", format!("127.0.0.1:{port}"))
        .env("HOOKBAY_ADMIN_TOKEN", ADMIN)
        .env(
            "HOOKBAY_SECRET_KEY",
            "bench-secret-key-0123456789abcdef0123456789",
        )
        .env("HOOKBAY_LOG", "error")
        .stdout(Stdio::null());
    let mut redis_port = None;
    let mut redis_pid = None;
    if backend == "redis" {
        let rport = free_port();
        redis_port = Some(rport);
        let redis = Command::new("redis-server")
            .args([
                "--port",
                &rport.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
            ])
            .args(["--appendonly", "yes", "--appendfsync", "everysec"])
            .arg("--dir")
            .arg(&dir)
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server");
        redis_pid = Some(redis.id());
        procs.push(redis);
        relay.env("HOOKBAY_REDIS_URL", format!("redis://127.0.0.1:{rport}"));
    } else {
        relay
            .env_remove("HOOKBAY_REDIS_URL")
            .env("HOOKBAY_DATA_DIR", dir.join("data"));
    }
    let relay = relay.spawn().expect("relay");
    let relay_pid = relay.id();
    *PIDS.lock().unwrap_or_else(|p| p.into_inner()) = (relay_pid, redis_pid);
    procs.insert(0, relay);
    let data = dir.join("data");
    let _procs = Procs(procs, dir);
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(200)
        .build()
        .expect("client");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !http
        .get(format!("{base}/readyz"))
        .send()
        .await
        .is_ok_and(|r| r.status() == 200)
    {
        assert!(Instant::now() < deadline, "relay did not become ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let admin = Api {
        http: http.clone(),
        base: base.clone(),
        token: ADMIN.into(),
    };
    // the bench measures the relay, not the default per-tenant rate limits
    let t = admin
        .post(
            "/v1/tenants",
            json!({"name": "bench", "limits": {"ingestPerSecond": 1_000_000, "consumePerSecond": 1_000_000,
                                                 "maxSources": 10_000, "maxQueues": 10_000}}),
        )
        .await;
    let tok = admin
        .post(
            &format!("/v1/tenants/{}/tokens", t["id"].as_str().expect("tenant")),
            json!({"scopes": ["manage", "consume", "read"]}),
        )
        .await;
    let api = Api {
        http,
        base,
        token: tok["token"].as_str().expect("token").into(),
    };
    println!("{backend}:");
    // BENCH_ONLY=ingest|baseline|filter|streams|latency|sse|batch|poll|backlog runs one phase; space only on demand
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    let run = |p: &str| only.is_empty() || only.split(',').any(|o| o.trim() == p);
    if only == "space" && backend == "embedded" {
        let n = std::env::var("BENCH_SPACE_MESSAGES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1_000_000);
        space_phase(&api, &data, n).await;
    }
    let nan = f64::NAN;
    let mut f = Figures {
        ingest: (nan, nan, nan),
        filter: (nan, nan),
        streams: (nan, nan, nan, nan),
        settle_batch: nan,
        baseline: (nan, nan, nan),
        latency: (nan, nan),
        latency_5k: nan,
        settle_sse: nan,
        settle_poll: nan,
        backlog: [nan; 7],
    };
    if run("ingest") {
        let (url, _) = api.setup(2).await;
        let (c0, r0) = (cpu_secs(relay_pid), redis_pid.map_or(0.0, cpu_secs));
        f.ingest = ingest_phase(&api.http, &url, secs, "2 queues").await;
        let n = f.ingest.0 * secs as f64;
        println!(
            "  CPU per ingest: relay {:.1} µs{}",
            (cpu_secs(relay_pid) - c0) / n * 1e6,
            redis_pid.map_or(String::new(), |p| format!(
                ", redis-server {:.1} µs",
                (cpu_secs(p) - r0) / n * 1e6
            ))
        );
    }
    if let (true, Some(p)) = (run("baseline"), redis_port) {
        reset(&api, redis_port).await;
        f.baseline = baseline_phase(&api, &format!("redis://127.0.0.1:{p}"), secs).await;
    }
    if run("filter") {
        reset(&api, redis_port).await;
        f.filter = filter_phase(&api, secs, relay_pid).await;
    }
    if run("streams") {
        reset(&api, redis_port).await;
        f.streams = streams_phase(&api, relay_pid, redis_port).await;
    }
    if run("latency") {
        reset(&api, redis_port).await;
        // an AOF rewrite inside a round takes one of the CPUs: say so
        let rewrites = || redis_info(redis_port, "persistence", "aof_rewrites");
        let r0 = rewrites().await;
        let (_, p50, p99) = latency_phase(&api, secs, 1000).await;
        f.latency = (p50, p99);
        let r1 = rewrites().await;
        let (_, _, p99) = latency_phase(&api, secs, 5000).await;
        f.latency_5k = p99;
        if redis_port.is_some() {
            println!(
                "  AOF rewrites by Redis during the 1,000 / 5,000 msg/s rounds: {} / {}",
                r1 - r0,
                rewrites().await - r1
            );
        }
    }
    // BENCH_SETTLE=n messages per settle phase (default 20,000)
    let settle_n = std::env::var("BENCH_SETTLE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    if run("sse") {
        reset(&api, redis_port).await;
        f.settle_sse = settle_sse_phase(&api, settle_n).await;
    }
    if run("batch") {
        reset(&api, redis_port).await;
        f.settle_batch = settle_batch_phase(&api, settle_n).await;
    }
    if run("poll") {
        reset(&api, redis_port).await;
        f.settle_poll = settle_poll_phase(&api, settle_n).await;
    }
    // last: it leaves a million messages behind
    if run("backlog") {
        reset(&api, redis_port).await;
        let n = std::env::var("BENCH_BACKLOG")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1_000_000);
        f.backlog = backlog_phase(&api, secs, n, &data, redis_port).await;
    }
    f
}

#[tokio::main]
async fn main() {
    let secs: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    println!(
        "hookbay bench — {} CPUs, {secs} s phases; embedded: SQLite WAL, fsync per group commit; \
         redis: appendonly everysec",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0)
    );
    // BENCH_BACKENDS=embedded|redis runs one backend
    let backends = std::env::var("BENCH_BACKENDS").unwrap_or_else(|_| "embedded,redis".into());
    let mut all = vec![];
    for b in backends.split(',').map(str::trim).filter(|b| !b.is_empty()) {
        all.push((b.to_string(), run_backend(b, secs).await));
    }
    println!();
    let header: Vec<String> = all.iter().map(|(b, _)| format!("{b:>10}")).collect();
    let ratio = all.len() == 2;
    println!(
        "{:<34}{}{}",
        "",
        header.join(""),
        if ratio { "  ratio" } else { "" }
    );
    type Row = (&'static str, fn(&Figures) -> f64);
    let rows: [Row; 25] = [
        ("ingest req/s (c=50, 1 KiB, 2 q)", |f| f.ingest.0),
        ("ingest p99 ms", |f| f.ingest.2),
        ("naive XADD baseline req/s", |f| f.baseline.1),
        ("no-op handler (ceiling) req/s", |f| f.baseline.2),
        ("hookbay / naive (alternating)", |f| {
            f.baseline.0 / f.baseline.1
        }),
        ("ingest req/s, 5 q, no filters", |f| f.filter.0),
        ("ingest req/s, 5 q, 5 filters", |f| f.filter.1),
        ("filtered / unfiltered", |f| f.filter.1 / f.filter.0),
        ("10k streams: s until all stream", |f| f.streams.0),
        ("10k streams: KiB per stream", |f| f.streams.1),
        ("10k streams: relay RSS MiB", |f| f.streams.2),
        ("10k streams: wake-up p99 ms", |f| f.streams.3),
        ("ingest→SSE p50 ms (1,000 msg/s)", |f| f.latency.0),
        ("ingest→SSE p99 ms (1,000 msg/s)", |f| f.latency.1),
        ("ingest→SSE p99 ms (5,000 msg/s)", |f| f.latency_5k),
        ("settle msg/s, 1 SSE consumer", |f| f.settle_sse),
        ("settle msg/s, 8 /next pollers", |f| f.settle_poll),
        ("settle msg/s, batch 100 (2 workers)", |f| f.settle_batch),
        ("ingest req/s, 1 q, empty", |f| f.backlog[0]),
        ("ingest req/s, 1 q, 1M queued", |f| f.backlog[1]),
        ("drain msg/s, empty", |f| f.backlog[2]),
        ("drain msg/s, 1M queued", |f| f.backlog[3]),
        ("ingest ratio, 1M queued / empty", |f| f.backlog[5]),
        ("drain ratio, 1M queued / empty", |f| f.backlog[6]),
        ("bytes per retained 1 KiB msg", |f| f.backlog[4]),
    ];
    for (name, get) in rows {
        let vals: Vec<f64> = all.iter().map(|(_, f)| get(f)).collect();
        let cells: String = vals.iter().map(|v| format!("{v:>10.2}")).collect();
        let r = if ratio {
            format!("  {:.2}×", vals[0] / vals[1])
        } else {
            String::new()
        };
        println!("{name:<34}{cells}{r}");
    }
    if ratio {
        println!("(ratio = {} / {})", all[0].0, all[1].0);
    }
}
