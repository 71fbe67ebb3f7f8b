//! The Redis backend: one Redis or a Redis Cluster, any number of
//! stateless relay nodes. The catalog (tenants, sources, queues, tokens) and
//! the queue engine (ingest, lease, settle, replay, reap: one Lua script per
//! state change, see `lua/`); every key it uses is built in `keys.rs`.
//!
//! Connections: `pool_size` multiplexed connections that pipeline
//! concurrent commands (fewer round trips than a checkout pool); as many of
//! them as the pool allows (all but one) belong each to one HTTP worker and
//! are driven by that worker's own runtime, the rest are shared. All
//! reconnect on their own after a Redis restart, and none grows with the
//! number of waiting consumers (those wait on `notify`, not on Redis) or
//! with the number of workers.

mod batch;
mod catalog;
mod conn;
mod engine;
mod import;
pub mod keys;
mod scripts;
mod tenancy;
mod value;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::store::{Result, StoreError};
use conn::Conn;

/// Connection-level failures are transient; everything Redis answered with
/// an error of its own (a Lua runtime error, WRONGTYPE, a parse failure) is
/// deterministic.
fn transient(e: &redis::RedisError) -> bool {
    use redis::ErrorKind as K;
    e.is_io_error()
        || e.is_timeout()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || matches!(
            e.kind(),
            K::BusyLoadingError
                | K::TryAgain
                | K::ClusterDown
                | K::MasterDown
                | K::ReadOnly
                | K::Moved
                | K::Ask
                | K::AuthenticationFailed
                | K::ClusterConnectionNotFound
        )
}

impl From<redis::RedisError> for StoreError {
    fn from(e: redis::RedisError) -> Self {
        crate::metrics::redis_error();
        if transient(&e) {
            StoreError::Unavailable(Box::new(e))
        } else {
            StoreError::Failed(Box::new(e))
        }
    }
}

/// Handle to the Redis backend; cheap to clone.
#[derive(Clone)]
pub struct RedisStore {
    inner: Arc<Inner>,
}

thread_local! {
    /// An HTTP worker thread's own connection, with the store it belongs to
    /// (several relays may run in one process, as in the tests).
    static WORKER_CONN: std::cell::RefCell<Option<(usize, Conn)>> =
        const { std::cell::RefCell::new(None) };
    /// The stores this thread has started attaching (see `attach_worker`).
    static ATTACHED: std::cell::RefCell<std::collections::HashSet<usize>> =
        std::cell::RefCell::new(Default::default());
}

/// Timeouts and retries of every single-Redis connection.
fn manager_config() -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_connection_timeout(Duration::from_millis(500))
        .set_response_timeout(Duration::from_secs(5))
        .set_number_of_retries(1)
        .set_max_delay(500)
}

struct Inner {
    cluster: bool,
    conns: Vec<Conn>,
    /// The HTTP workers' own connections (see `attach_worker`), so that
    /// readiness checks them too.
    workers: std::sync::Mutex<Vec<Conn>>,
    /// Worker connections still to be handed out (the pool's share that
    /// is not in `conns`).
    attachable: AtomicUsize,
    next: AtomicUsize,
    client: redis::Client,
    scripts: scripts::Scripts,
    op_timeout: Duration,
    /// ingests and settles waiting for their batch's script call
    ingests: batch::Slots<batch::Ingest>,
    leases: batch::Slots<batch::LeaseJob>,
    settles: batch::Slots<batch::Settle>,
}

impl RedisStore {
    /// Open `pool_size` multiplexed connections to one Redis, or to a
    /// Redis Cluster when `cluster` (then `urls` are seed nodes), keeping
    /// up to `workers` of them (never all) for the HTTP workers that call
    /// `attach_worker`. Fails fast when Redis is unreachable; the caller
    /// decides whether to retry.
    pub async fn connect(
        urls: &[String],
        cluster: bool,
        pool_size: usize,
        workers: usize,
    ) -> Result<RedisStore> {
        let first = urls
            .first()
            .ok_or_else(|| StoreError::Failed("no Redis URL configured".into()))?;
        // notifications: PUBLISH reaches every node of a cluster, so one
        // node's pub/sub connection hears them all
        let client = redis::Client::open(first.as_str())?;
        let pool_size = pool_size.max(1);
        // a Cluster keeps the whole pool shared (see `attach_worker`)
        let attachable = if cluster {
            0
        } else {
            workers.min(pool_size - 1)
        };
        let shared = pool_size - attachable;
        let mut conns = Vec::with_capacity(shared);
        if cluster {
            let cc = redis::cluster::ClusterClientBuilder::new(urls.to_vec())
                .connection_timeout(Duration::from_millis(500))
                .response_timeout(Duration::from_secs(5))
                .retries(2)
                .build()?;
            for _ in 0..shared {
                conns.push(Conn::Cluster(cc.get_async_connection().await?));
            }
        } else {
            for _ in 0..shared {
                conns.push(Conn::Single(
                    ConnectionManager::new_with_config(client.clone(), manager_config()).await?,
                ));
            }
        }
        Ok(RedisStore {
            inner: Arc::new(Inner {
                cluster,
                conns,
                workers: Default::default(),
                attachable: AtomicUsize::new(attachable),
                next: AtomicUsize::new(0),
                client,
                scripts: scripts::Scripts::load(),
                op_timeout: Duration::from_secs(3),
                ingests: Default::default(),
                leases: Default::default(),
                settles: Default::default(),
            }),
        })
    }

    /// The client, for the notification connection.
    pub fn client(&self) -> &redis::Client {
        &self.inner.client
    }

    /// A connection for this call: the calling HTTP worker's own (see
    /// `attach_worker`), else one of the shared pool.
    fn conn(&self) -> Conn {
        let me = Arc::as_ptr(&self.inner) as usize;
        if let Some(c) = WORKER_CONN.with(|l| match &*l.borrow() {
            Some((owner, c)) if *owner == me => Some(c.clone()),
            _ => None,
        }) {
            return c;
        }
        let i = self.inner.next.fetch_add(1, Ordering::Relaxed) % self.inner.conns.len();
        self.inner.conns[i].clone()
    }

    /// Give the calling HTTP worker thread a multiplexed connection of its
    /// own, driven by that worker's runtime: a command then costs no
    /// wake-up of another thread (measured: relay CPU per ingest 24–32 →
    /// 17–23 µs). It is one of the pool's: once the pool has none left
    /// to give (see `connect`), further workers use the shared ones, so a
    /// node's connections stay `pool_size` + pub/sub however many workers
    /// it runs. Until it is connected — or if it cannot connect — the
    /// worker uses the shared pool. Single Redis only (a Cluster keeps the
    /// pool). Call on each worker thread (the app factory runs there).
    pub fn attach_worker(&self) {
        if self.inner.cluster {
            return;
        }
        let me = Arc::as_ptr(&self.inner) as usize;
        // actix may run the app factory more than once per worker thread:
        // one connection per thread and store, however often it is called
        let first = ATTACHED.with(|a| a.borrow_mut().insert(me));
        if !first {
            return;
        }
        let granted = self
            .inner
            .attachable
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
            .is_ok();
        if !granted {
            return;
        }
        let inner = Arc::downgrade(&self.inner);
        let client = self.inner.client.clone();
        actix_web::rt::spawn(async move {
            match ConnectionManager::new_with_config(client, manager_config()).await {
                Ok(c) => {
                    let c = Conn::Single(c);
                    if let Some(inner) = inner.upgrade() {
                        inner
                            .workers
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .push(c.clone());
                    }
                    WORKER_CONN.with(|l| *l.borrow_mut() = Some((me, c)));
                }
                Err(e) => tracing::debug!(error = %e, "worker connection: using the shared pool"),
            }
        });
    }

    fn scripts(&self) -> &scripts::Scripts {
        &self.inner.scripts
    }

    /// Run one storage operation with the default time bound.
    async fn bounded<T>(&self, fut: impl std::future::Future<Output = Result<T>>) -> Result<T> {
        match tokio::time::timeout(self.inner.op_timeout, fut).await {
            Ok(r) => r,
            Err(_) => Err(StoreError::timed_out(self.inner.op_timeout)),
        }
    }

    /// Run single-key commands that may live in different Cluster slots,
    /// concurrently (the multiplexed connection pipelines them anyway).
    async fn each(&self, cmds: Vec<redis::Cmd>) -> Result<Vec<redis::Value>> {
        let runs = cmds.into_iter().map(|c| {
            let mut conn = self.conn();
            async move { c.query_async::<redis::Value>(&mut conn).await }
        });
        futures_util::future::join_all(runs)
            .await
            .into_iter()
            .map(|r| r.map_err(StoreError::from))
            .collect()
    }

    /// `PING` — for readiness checks.
    /// Ready when every connection of the node answers (the pool's and the
    /// HTTP workers'): a connection that lost Redis reconnects when a
    /// command fails on it, so after a Redis restart the relay reports ready
    /// only once none of them would fail a request.
    pub async fn ping(&self) -> Result<()> {
        let mut all = self.inner.conns.clone();
        all.extend(
            self.inner
                .workers
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .cloned(),
        );
        self.bounded(async {
            let pings = all
                .into_iter()
                .map(|mut c| async move { redis::cmd("PING").query_async::<String>(&mut c).await });
            for r in futures_util::future::join_all(pings).await {
                r?;
            }
            Ok(())
        })
        .await
    }

    /// Take this interval's reaper lock for `ttl` unless another node holds
    /// it (best effort, for spreading periodic work; not for mutual
    /// exclusion of state changes).
    pub async fn reap_lock(&self, owner: &str, ttl: Duration) -> Result<bool> {
        self.bounded(async {
            let r: Option<String> = redis::cmd("SET")
                .arg(keys::REAPER)
                .arg(owner)
                .arg("NX")
                .arg("PX")
                .arg(ttl.as_millis().max(1) as u64)
                .query_async(&mut self.conn())
                .await?;
            Ok(r.is_some())
        })
        .await
    }

    /// The signing key kept in Redis, created once when absent.
    pub async fn secret_key(&self, fresh: &str) -> Result<String> {
        self.bounded(async {
            let mut c = self.conn();
            let _: bool = redis::cmd("SET")
                .arg(keys::SECRET)
                .arg(fresh)
                .arg("NX")
                .query_async::<Option<String>>(&mut c)
                .await?
                .is_some();
            let v: String = redis::cmd("GET")
                .arg(keys::SECRET)
                .query_async(&mut c)
                .await?;
            Ok(v)
        })
        .await
    }
}
