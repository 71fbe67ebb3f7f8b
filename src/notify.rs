//! Wake-ups for waiting consumers without a Redis connection each.
//!
//! One pub/sub connection per process subscribes to `hookbay:wake:<queue>`
//! for exactly the queues that have local waiters (long polls and SSE
//! streams) and fans each notification out to them in memory. Engine scripts
//! publish when deliveries become ready. A lost notification (reconnect,
//! subscribe race) only delays a delivery: on every (re)subscription all
//! waiters of the queue are woken, and waiters re-check on their own every
//! `FALLBACK`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::{mpsc, Notify};

use crate::store::keys::{wake_channel, WAKE_PREFIX};

/// How long a waiter sleeps before checking the queue on its own.
pub const FALLBACK: Duration = Duration::from_secs(3);

enum Cmd {
    Sub(String),
    Unsub(String),
}

struct Entry {
    signal: Arc<Notify>,
    watchers: usize,
}

struct Inner {
    queues: Mutex<HashMap<String, Entry>>,
    cmd: mpsc::UnboundedSender<Cmd>,
}

impl Inner {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.queues.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn wake(&self, queue: &str, n: u64) {
        let map = self.lock();
        if let Some(e) = map.get(queue) {
            for _ in 0..n.min(e.watchers as u64).max(1) {
                e.signal.notify_one();
            }
        }
    }

    fn wake_all(&self, queue: Option<&str>) {
        for (q, e) in self.lock().iter() {
            if queue.is_none_or(|x| x == q) {
                e.signal.notify_waiters();
                e.signal.notify_one();
            }
        }
    }
}

/// Per-process wake-up hub; cheap to clone.
#[derive(Clone)]
pub struct Notifier {
    inner: Arc<Inner>,
}

/// A registration as a waiter on one queue; unsubscribes when the last one
/// of the queue drops.
pub struct Watch {
    inner: Arc<Inner>,
    queue: String,
    signal: Arc<Notify>,
}

impl Watch {
    pub fn signal(&self) -> &Notify {
        &self.signal
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let mut map = self.inner.lock();
        if let Some(e) = map.get_mut(&self.queue) {
            e.watchers -= 1;
            if e.watchers == 0 {
                map.remove(&self.queue);
                let _ = self.inner.cmd.send(Cmd::Unsub(self.queue.clone()));
            }
        }
    }
}

impl Notifier {
    /// Start the notification task on the current runtime.
    pub fn start(client: redis::Client) -> Notifier {
        let (tx, rx) = mpsc::unbounded_channel();
        let inner = Arc::new(Inner {
            queues: Mutex::new(HashMap::new()),
            cmd: tx,
        });
        tokio::spawn(run(Arc::downgrade(&inner), client, rx));
        Notifier { inner }
    }

    /// Register as a waiter on `queue`.
    pub fn watch(&self, queue: &str) -> Watch {
        let mut map = self.inner.lock();
        let e = map.entry(queue.to_string()).or_insert_with(|| {
            let _ = self.inner.cmd.send(Cmd::Sub(queue.to_string()));
            Entry {
                signal: Arc::new(Notify::new()),
                watchers: 0,
            }
        });
        e.watchers += 1;
        Watch {
            inner: self.inner.clone(),
            queue: queue.to_string(),
            signal: e.signal.clone(),
        }
    }

    /// Wake local waiters directly (for events this process caused itself).
    pub fn wake(&self, queue: &str, n: u64) {
        self.inner.wake(queue, n);
    }
}

async fn run(
    inner: std::sync::Weak<Inner>,
    client: redis::Client,
    mut rx: mpsc::UnboundedReceiver<Cmd>,
) {
    let mut backoff = Duration::from_millis(100);
    loop {
        let connected =
            tokio::time::timeout(Duration::from_secs(2), client.get_async_pubsub()).await;
        if let Ok(Ok(ps)) = connected {
            backoff = Duration::from_millis(100);
            let (mut sink, mut stream) = ps.split();
            let Some(me) = inner.upgrade() else { return };
            let current: Vec<String> = me.lock().keys().map(|q| wake_channel(q)).collect();
            drop(me);
            let subscribed = current.is_empty() || sink.subscribe(&current).await.is_ok();
            if subscribed {
                tracing::debug!(queues = current.len(), "notification channel connected");
                if let Some(me) = inner.upgrade() {
                    me.wake_all(None);
                }
                loop {
                    tokio::select! {
                        cmd = rx.recv() => {
                            let Some(me) = inner.upgrade() else { return };
                            let ok = match cmd {
                                None => return,
                                Some(Cmd::Sub(q)) => {
                                    let ok = sink.subscribe(wake_channel(&q)).await.is_ok();
                                    me.wake_all(Some(&q));
                                    ok
                                }
                                Some(Cmd::Unsub(q)) => {
                                    let idle = !me.lock().contains_key(&q);
                                    !idle || sink.unsubscribe(wake_channel(&q)).await.is_ok()
                                }
                            };
                            if !ok { break; }
                        }
                        msg = stream.next() => {
                            let Some(msg) = msg else { break };
                            let Some(me) = inner.upgrade() else { return };
                            if let Some(q) = msg.get_channel_name().strip_prefix(WAKE_PREFIX) {
                                let n: u64 = msg.get_payload().unwrap_or(1);
                                me.wake(q, n);
                            }
                        }
                    }
                }
            }
            tracing::warn!("notification channel lost; reconnecting");
        }
        if inner.upgrade().is_none() {
            return;
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(2));
    }
}
