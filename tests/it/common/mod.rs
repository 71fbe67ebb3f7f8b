//! Test harness: the store a test runs on (a private `redis-server` on a
//! free port, or the embedded store in a fresh temp dir), the real relay
//! bound to port 0, and small API helpers. Never touches the machine's
//! shared Redis.
//!
//! `both!(test_a, test_b, …)` runs each `async fn test_a(b: Backend)` once
//! per backend, as `test_a::redis` and `test_a::embedded`.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use hookbay::app::Running;
use hookbay::config::Config;
use serde_json::{json, Value};

pub const ADMIN: &str = "test-admin-token-0123456789";
pub const SECRET: &str = "test-secret-key-0123456789abcdef0123456789";

static SEQ: AtomicU32 = AtomicU32::new(0);

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A redis-server owned by one test; killed on drop.
pub struct RedisServer {
    pub port: u16,
    dir: PathBuf,
    child: Option<Child>,
    persistent: bool,
    extra: Vec<String>,
}

impl RedisServer {
    pub fn start() -> RedisServer {
        Self::start_with(false)
    }

    /// With `persistent`, data survives `restart()` (AOF, fsync always).
    pub fn start_with(persistent: bool) -> RedisServer {
        Self::start_args(persistent, &[])
    }

    /// With extra `redis-server` arguments (e.g. cluster mode).
    pub fn start_args(persistent: bool, extra: &[&str]) -> RedisServer {
        let dir = std::env::temp_dir().join(format!(
            "hookbay-test-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let mut r = RedisServer {
            port: free_port(),
            dir,
            child: None,
            persistent,
            extra: extra.iter().map(|s| s.to_string()).collect(),
        };
        r.spawn();
        r
    }

    fn spawn(&mut self) {
        let mut cmd = Command::new("redis-server");
        cmd.arg("--port")
            .arg(self.port.to_string())
            .arg("--bind")
            .arg("127.0.0.1")
            .arg("--save")
            .arg("")
            .arg("--dir")
            .arg(&self.dir)
            .arg("--maxclients")
            .arg("2000");
        if self.persistent {
            cmd.args(["--appendonly", "yes", "--appendfsync", "always"]);
        } else {
            cmd.args(["--appendonly", "no"]);
        }
        cmd.args(&self.extra);
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (apt-get install -y redis-server)");
        // wait for the server to say it is ready (an event, not a sleep)
        let out = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(out).lines();
        loop {
            match lines.next() {
                Some(Ok(l)) if l.contains("Ready to accept connections") => break,
                Some(Ok(_)) => continue,
                _ => panic!("redis-server exited before it was ready"),
            }
        }
        // keep draining stdout so the server never blocks on a full pipe
        std::thread::spawn(move || for _ in lines {});
        self.child = Some(child);
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Stop the server (SIGKILL) and wait for it to be gone.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGSTOP: the server keeps its connections open but answers nothing
    /// (a hung Redis, not a refused one).
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// SIGCONT after `pause`.
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, sig: &str) {
        let pid = self.child.as_ref().expect("running").id();
        let ok = Command::new("kill")
            .arg(sig)
            .arg(pid.to_string())
            .status()
            .expect("kill")
            .success();
        assert!(ok, "kill {sig} {pid}");
    }

    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    pub fn client(&self) -> redis::Client {
        redis::Client::open(self.url()).expect("client")
    }

    pub async fn conn(&self) -> redis::aio::MultiplexedConnection {
        self.client()
            .get_multiplexed_async_connection()
            .await
            .expect("redis conn")
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Which backend a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Redis,
    Embedded,
}

/// Run each named `async fn name(b: Backend)` on both backends.
#[macro_export]
macro_rules! both {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn redis() {
                    super::$name($crate::common::Backend::Redis).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn embedded() {
                    super::$name($crate::common::Backend::Embedded).await
                }
            }
        )*
    };
}

/// A fresh temp directory, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!(
            "hookbay-{tag}-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }

    pub fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The store one test runs on.
pub enum Storage {
    Redis(RedisServer),
    /// the embedded store's data dir (a fresh temp dir)
    Embedded(TempDir),
}

impl Storage {
    pub fn start(b: Backend) -> Storage {
        Self::start_with(b, false)
    }

    /// With `persistent`, a Redis keeps its data across `restart()` (AOF,
    /// fsync always); the embedded store always does.
    pub fn start_with(b: Backend, persistent: bool) -> Storage {
        match b {
            Backend::Redis => Storage::Redis(RedisServer::start_with(persistent)),
            Backend::Embedded => Storage::Embedded(TempDir::new("data")),
        }
    }

    pub fn backend(&self) -> Backend {
        match self {
            Storage::Redis(_) => Backend::Redis,
            Storage::Embedded(_) => Backend::Embedded,
        }
    }

    /// The Redis server (for a test that only makes sense on Redis).
    pub fn redis(&self) -> &RedisServer {
        match self {
            Storage::Redis(r) => r,
            Storage::Embedded(_) => panic!("this test needs the Redis backend"),
        }
    }

    /// A direct connection to the embedded store's database (the relay may
    /// be running: WAL lets both in).
    pub fn sqlite(&self) -> rusqlite::Connection {
        let Storage::Embedded(d) = self else {
            panic!("this test needs the embedded backend")
        };
        let c = rusqlite::Connection::open(d.path().join("hookbay.db")).expect("open db");
        c.busy_timeout(Duration::from_secs(5))
            .expect("busy timeout");
        c
    }

    /// Change a source's retention behind the API's back (to make stored
    /// messages "old" at once).
    pub async fn set_retention_ms(&self, source_id: &str, ms: u64) {
        match self {
            Storage::Redis(r) => {
                let _: () = redis::cmd("HSET")
                    .arg(format!("hb:{{{source_id}}}:src"))
                    .arg("retention_ms")
                    .arg(ms)
                    .query_async(&mut r.conn().await)
                    .await
                    .expect("HSET");
            }
            Storage::Embedded(_) => {
                let n = self
                    .sqlite()
                    .execute(
                        "UPDATE sources SET retention_ms = ?2 WHERE id = ?1",
                        rusqlite::params![source_id, ms as i64],
                    )
                    .expect("update");
                assert_eq!(n, 1, "source {source_id} in the db");
            }
        }
    }

    /// Every place the store still holds `needle` (an id): Redis keys that
    /// name it and the global sets and lists that hold it; embedded rows
    /// whose text columns contain it, and engine rows whose source or queue
    /// is gone (orphans, whatever the needle).
    pub async fn mentions(&self, needle: &str) -> Vec<String> {
        match self {
            Storage::Redis(r) => {
                let mut c = r.conn().await;
                let mut out: Vec<String> = redis::cmd("KEYS")
                    .arg(format!("*{needle}*"))
                    .query_async(&mut c)
                    .await
                    .expect("KEYS");
                for set in ["hb:tenants", "hb:sources"] {
                    let there: bool = redis::cmd("SISMEMBER")
                        .arg(set)
                        .arg(needle)
                        .query_async(&mut c)
                        .await
                        .expect("SISMEMBER");
                    if there {
                        out.push(format!("{set} member"));
                    }
                }
                let revoked: Option<f64> = redis::cmd("ZSCORE")
                    .arg("hb:revoked")
                    .arg(needle)
                    .query_async(&mut c)
                    .await
                    .expect("ZSCORE");
                if revoked.is_some() {
                    out.push("hb:revoked member".into());
                }
                out
            }
            Storage::Embedded(_) => {
                let db = self.sqlite();
                let mut out = vec![];
                // deleted sources' and queues' rows are removed in chunks
                // right after the delete (purge.rs): wait for that to end
                let purges = |db: &rusqlite::Connection| -> i64 {
                    db.query_row("SELECT count(*) FROM purges", [], |r| r.get(0))
                        .expect("purges")
                };
                let deadline = std::time::Instant::now() + Duration::from_secs(30);
                while purges(&db) > 0 && std::time::Instant::now() < deadline {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                let left = purges(&db);
                if left > 0 {
                    out.push(format!("purges not finished after 30 s ({left})"));
                }
                let text_cols = [
                    ("meta", "v"),
                    ("tenants", "id"),
                    ("tenants", "rec"),
                    ("members", "tenant_id"),
                    ("members", "id"),
                    ("tokens", "id"),
                    ("tokens", "rec"),
                    ("revoked", "id"),
                    ("sources", "id"),
                    ("sources", "rec"),
                    ("queues", "id"),
                    ("queues", "rec"),
                ];
                for (table, col) in text_cols {
                    let n: i64 = db
                        .query_row(
                            &format!("SELECT count(*) FROM {table} WHERE instr({col}, ?1) > 0"),
                            [needle],
                            |r| r.get(0),
                        )
                        .expect("scan");
                    if n > 0 {
                        out.push(format!("{table}.{col} ({n} rows)"));
                    }
                }
                for (what, sql) in [
                    (
                        "deliveries of a deleted queue",
                        "SELECT count(*) FROM deliveries WHERE qn NOT IN (SELECT qn FROM queues)",
                    ),
                    (
                        "deliveries of a deleted message",
                        "SELECT count(*) FROM deliveries WHERE msg NOT IN (SELECT id FROM messages)",
                    ),
                    (
                        "messages of a deleted source",
                        "SELECT count(*) FROM messages WHERE sn NOT IN (SELECT sn FROM sources)",
                    ),
                    (
                        "dedupe keys of a deleted source",
                        "SELECT count(*) FROM dedupe WHERE sn NOT IN (SELECT sn FROM sources)",
                    ),
                ] {
                    let n: i64 = db.query_row(sql, [], |r| r.get(0)).expect("scan");
                    if n > 0 {
                        out.push(format!("{what} ({n} rows)"));
                    }
                }
                out
            }
        }
    }

    /// The environment that points `hookbay` at this store.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        match self {
            Storage::Redis(r) => vec![("HOOKBAY_REDIS_URL", r.url())],
            Storage::Embedded(d) => vec![
                ("HOOKBAY_REDIS_URL", String::new()),
                ("HOOKBAY_DATA_DIR", d.path().display().to_string()),
            ],
        }
    }
}

/// Anything a relay config can be built from.
pub trait Backing {
    fn base_config(&self) -> Config;
    fn env(&self) -> Vec<(&'static str, String)>;
}

impl Backing for RedisServer {
    fn base_config(&self) -> Config {
        Config::for_redis(&self.url())
    }
    fn env(&self) -> Vec<(&'static str, String)> {
        vec![("HOOKBAY_REDIS_URL", self.url())]
    }
}

impl Backing for Storage {
    fn base_config(&self) -> Config {
        match self {
            Storage::Redis(r) => r.base_config(),
            Storage::Embedded(d) => Config::for_embedded(d.path()),
        }
    }
    fn env(&self) -> Vec<(&'static str, String)> {
        Storage::env(self)
    }
}

pub fn config(store: &impl Backing) -> Config {
    let mut c = store.base_config();
    c.admin_token = Some(ADMIN.into());
    c.secret_key = Some(SECRET.into());
    c.reap_interval_ms = 100;
    c
}

/// The relay on port 0 plus an HTTP client.
pub struct Relay {
    pub running: Running,
    pub http: reqwest::Client,
}

impl Relay {
    pub async fn start(store: &impl Backing) -> Relay {
        Self::start_with(config(store)).await
    }

    pub async fn start_with(cfg: Config) -> Relay {
        let running = hookbay::app::start(&cfg).await.expect("relay starts");
        Relay {
            running,
            http: reqwest::Client::builder()
                .pool_max_idle_per_host(64)
                .build()
                .expect("client"),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.running.url(), path)
    }

    pub async fn admin_post(&self, path: &str, body: Value) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .bearer_auth(ADMIN)
            .json(&body)
            .send()
            .await
            .expect("request")
    }

    pub async fn post(&self, token: &str, path: &str, body: Value) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .expect("request")
    }

    pub async fn patch(&self, token: &str, path: &str, body: Value) -> reqwest::Response {
        self.http
            .patch(self.url(path))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .expect("request")
    }

    pub async fn get(&self, token: &str, path: &str) -> reqwest::Response {
        self.http
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("request")
    }

    pub async fn delete(&self, token: &str, path: &str) -> reqwest::Response {
        self.http
            .delete(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("request")
    }

    /// The Prometheus text of `/metrics`.
    pub async fn metrics(&self) -> String {
        self.http
            .get(self.url("/metrics"))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text")
    }

    /// The value of an unlabelled metric (0 when absent).
    pub async fn metric(&self, name: &str) -> f64 {
        self.metrics()
            .await
            .lines()
            .find(|l| l.split(' ').next() == Some(name))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    }

    /// Start a `/next?wait=` long poll in the background.
    pub fn spawn_next(
        &self,
        t: &Tenant,
        q: &str,
        wait: u64,
    ) -> tokio::task::JoinHandle<reqwest::Response> {
        let (http, url, token) = (
            self.http.clone(),
            self.url(&format!("/v1/queues/{q}/next?wait={wait}")),
            t.token.clone(),
        );
        tokio::spawn(async move { http.get(url).bearer_auth(token).send().await.expect("poll") })
    }

    pub async fn get_json(&self, token: &str, path: &str) -> Value {
        let r = self.get(token, path).await;
        assert_eq!(r.status(), 200, "GET {path}");
        r.json().await.expect("json")
    }

    /// A new tenant and a token holding every scope.
    pub async fn tenant(&self) -> Tenant {
        let r = self
            .admin_post("/v1/tenants", json!({"name": "acme"}))
            .await;
        assert_eq!(r.status(), 201);
        let t: Value = r.json().await.expect("json");
        let id = t["id"].as_str().expect("id").to_string();
        let token = self
            .token(
                &id,
                json!({"scopes": ["manage", "consume", "replay", "read"]}),
            )
            .await;
        Tenant { id, token }
    }

    pub async fn token(&self, tenant: &str, body: Value) -> String {
        let r = self
            .admin_post(&format!("/v1/tenants/{tenant}/tokens"), body)
            .await;
        assert_eq!(r.status(), 201);
        let v: Value = r.json().await.expect("json");
        v["token"].as_str().expect("token").to_string()
    }

    /// A source with `none` verification; returns (id, ingest url).
    pub async fn source(&self, t: &Tenant, extra: Value) -> (String, String) {
        let mut body = json!({"name": "src", "verification": {"type": "none"}});
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                b.insert(k.clone(), v.clone());
            }
        }
        let r = self.post(&t.token, "/v1/sources", body).await;
        assert_eq!(r.status(), 201);
        let v: Value = r.json().await.expect("json");
        (
            v["id"].as_str().expect("id").into(),
            v["ingestUrl"].as_str().expect("url").into(),
        )
    }

    pub async fn queue(&self, t: &Tenant, source: &str, extra: Value) -> String {
        let mut body = json!({"sourceId": source, "name": "worker"});
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                b.insert(k.clone(), v.clone());
            }
        }
        let r = self.post(&t.token, "/v1/queues", body).await;
        assert_eq!(r.status(), 201);
        let v: Value = r.json().await.expect("json");
        v["id"].as_str().expect("id").into()
    }

    pub async fn ingest(&self, url: &str, ct: &str, body: impl Into<reqwest::Body>) -> String {
        let r = self
            .http
            .post(url)
            .header("content-type", ct)
            .body(body)
            .send()
            .await
            .expect("ingest");
        assert_eq!(r.status(), 202);
        let v: Value = r.json().await.expect("json");
        v["id"].as_str().expect("id").into()
    }

    /// `GET /next`; `None` on 204.
    pub async fn next(&self, t: &Tenant, q: &str, query: &str) -> Option<Delivery> {
        let r = self
            .get(&t.token, &format!("/v1/queues/{q}/next?{query}"))
            .await;
        match r.status().as_u16() {
            204 => None,
            200 => {
                let ct = r
                    .headers()
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_string();
                let meta: Value = serde_json::from_str(
                    r.headers()
                        .get("x-hookbay-meta")
                        .and_then(|v| v.to_str().ok())
                        .expect("meta header"),
                )
                .expect("meta json");
                let body = r.bytes().await.expect("body").to_vec();
                Some(Delivery { meta, body, ct })
            }
            s => panic!("unexpected /next status {s}"),
        }
    }

    /// POST to a capability URL from meta (`ackUrl`, …).
    pub async fn settle(&self, meta: &Value, which: &str, body: Option<Value>) -> u16 {
        let url = meta[which].as_str().expect("url");
        let mut req = self.http.post(url);
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send().await.expect("settle").status().as_u16()
    }

    pub async fn counts(&self, t: &Tenant, q: &str) -> Value {
        self.get_json(&t.token, &format!("/v1/queues/{q}")).await["counts"].clone()
    }
}

pub struct Tenant {
    pub id: String,
    pub token: String,
}

pub struct Delivery {
    pub meta: Value,
    pub body: Vec<u8>,
    pub ct: String,
}

/// One parsed SSE event.
#[derive(Debug, Clone)]
pub struct SseEvent {
    pub event: String,
    pub id: String,
    pub data: Value,
}

/// A connected SSE stream, read through the relay's own byte-safe parser.
pub struct Sse {
    stream:
        std::pin::Pin<Box<dyn futures_util::Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>,
    parser: hookbay::sse::Parser,
    ready: std::collections::VecDeque<hookbay::sse::Event>,
}

impl Sse {
    pub async fn connect(relay: &Relay, url: &str) -> Sse {
        let r = relay.http.get(url).send().await.expect("stream");
        assert_eq!(r.status(), 200, "stream status");
        assert!(r
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .starts_with("text/event-stream"));
        Sse {
            stream: Box::pin(r.bytes_stream()),
            parser: hookbay::sse::Parser::new(),
            ready: Default::default(),
        }
    }

    /// The next `message` event, or `None` if none arrives within `within`.
    pub async fn next_within(&mut self, within: Duration) -> Option<SseEvent> {
        tokio::time::timeout(within, self.next_event())
            .await
            .ok()
            .flatten()
    }

    /// The next event of any type (`message`, `close`); `None` at the end.
    pub async fn next_any(&mut self) -> Option<hookbay::sse::Event> {
        loop {
            if let Some(ev) = self.ready.pop_front() {
                return Some(ev);
            }
            let chunk = self.stream.next().await?.ok()?;
            self.ready.extend(self.parser.push(&chunk));
        }
    }

    pub async fn next_event(&mut self) -> Option<SseEvent> {
        loop {
            let ev = self.next_any().await?;
            if ev.event == "message" {
                return Some(SseEvent {
                    event: ev.event,
                    id: ev.id.unwrap_or_default(),
                    data: serde_json::from_str(&ev.data).expect("event data json"),
                });
            }
        }
    }
}

/// Poll `check` until it holds, re-evaluating on each tick of a short
/// interval; panics after `limit`. Used only to wait for a state the relay
/// reaches on its own clock (lease expiry, backoff), never as a guessed sleep.
pub async fn eventually<F, Fut>(limit: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if check().await {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "condition not reached in {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The relay binary on `port` against `store`, optionally under a wrapper
/// command (e.g. `["faketime", "-f", "+300s"]`); logs off.
pub fn spawn_relay(store: &impl Backing, port: u16, wrapper: &[&str]) -> Proc {
    let bin = env!("CARGO_BIN_EXE_hookbay");
    let mut cmd = match wrapper.split_first() {
        Some((w, args)) => {
            let mut c = Command::new(w);
            c.args(args).arg(bin);
            c
        }
        None => Command::new(bin),
    };
    cmd.arg("serve")
        .env("HOOKBAY_LISTEN", format!("127.0.0.1:{port}"))
        .envs(store.env())
        .env("HOOKBAY_ADMIN_TOKEN", ADMIN)
        .env("HOOKBAY_SECRET_KEY", SECRET)
        .env("HOOKBAY_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    Proc::spawn(&mut cmd)
}

/// A child process in its own process group: `kill` (and drop, so a test
/// that panics leaves nothing running) kills the whole group — a wrapper
/// such as `faketime` and the relay it started alike.
pub struct Proc(Child);

impl Proc {
    pub fn spawn(cmd: &mut Command) -> Proc {
        use std::os::unix::process::CommandExt;
        Proc(
            cmd.process_group(0)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}")),
        )
    }

    pub fn id(&self) -> u32 {
        self.0.id()
    }

    /// SIGKILL to the process group.
    pub fn kill(&mut self) -> std::io::Result<()> {
        let group = format!("-{}", self.0.id());
        let status = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status()?;
        if status.success() {
            Ok(())
        } else {
            self.0.kill()
        }
    }

    pub fn wait(&mut self) -> std::io::Result<std::process::ExitStatus> {
        self.0.wait()
    }

    /// What the process wrote to stdout and stderr (those spawned piped),
    /// once it has ended.
    pub fn output_text(&mut self) -> String {
        use std::io::Read;
        let mut s = String::new();
        if let Some(mut o) = self.0.stdout.take() {
            let _ = o.read_to_string(&mut s);
        }
        if let Some(mut e) = self.0.stderr.take() {
            let _ = e.read_to_string(&mut s);
        }
        s
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.kill();
            let _ = self.0.wait();
        }
    }
}

/// Wait until the relay at `base` is ready.
pub async fn wait_healthy(http: &reqwest::Client, base: &str) {
    eventually(Duration::from_secs(30), || async {
        http.get(format!("{base}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
    })
    .await;
}

/// What `provision` set up on a relay binary.
pub struct Provisioned {
    /// a tenant token with manage, consume and read
    pub token: String,
    pub source_id: String,
    pub ingest: String,
    pub queue: String,
}

/// A tenant, a token, a `none` source and one queue (with `queue` fields
/// added) on the relay at `base` — for tests that run the binary and so
/// cannot use `Relay`'s helpers.
pub async fn provision(http: &reqwest::Client, base: &str, queue: Value) -> Provisioned {
    let post = |path: String, token: String, body: Value| {
        let (http, url) = (http.clone(), format!("{base}{path}"));
        async move {
            let r = http
                .post(url)
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .expect("request");
            assert!(r.status().is_success(), "POST: {}", r.status());
            r.json::<Value>().await.expect("json")
        }
    };
    let tenant = post("/v1/tenants".into(), ADMIN.into(), json!({"name": "t"})).await;
    let tid = tenant["id"].as_str().expect("tenant id");
    let tok = post(
        format!("/v1/tenants/{tid}/tokens"),
        ADMIN.into(),
        json!({"scopes": ["manage", "consume", "read"]}),
    )
    .await;
    let token = tok["token"].as_str().expect("token").to_string();
    let src = post(
        "/v1/sources".into(),
        token.clone(),
        json!({"name": "s", "verification": {"type": "none"}}),
    )
    .await;
    let mut body = json!({"sourceId": src["id"], "name": "w"});
    if let (Some(b), Some(extra)) = (body.as_object_mut(), queue.as_object()) {
        b.extend(extra.clone());
    }
    let q = post("/v1/queues".into(), token.clone(), body).await;
    Provisioned {
        token,
        source_id: src["id"].as_str().expect("source id").into(),
        ingest: src["ingestUrl"].as_str().expect("ingest url").into(),
        queue: q["id"].as_str().expect("queue id").into(),
    }
}
