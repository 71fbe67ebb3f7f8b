//! Wake-ups for waiting consumers without a store connection each.
//!
//! Embedded store: the writer wakes local waiters in-process right after a
//! commit (`Notifier::local` + `wake`). Redis: one pub/sub connection per
//! process subscribes to `hookbay:wake:<source>`
//! for exactly the sources whose queues have local waiters (long polls and
//! SSE streams) and fans each notification out to them in memory. Engine
//! scripts publish "<queue|*> <count>" when deliveries become ready. A lost
//! notification only delays a delivery: every (re)subscription wakes the
//! waiters, and waiters re-check on their own every `FALLBACK`.
//!
//! Beside it, `StreamRegistry` routes the other local event a stream waits
//! for: a settlement on this node of a lease one of its streams holds.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::{mpsc, Notify};

use crate::store::redis::keys::{wake_channel, WAKE_PREFIX};

/// How long a waiter sleeps before checking the queue on its own.
pub const FALLBACK: Duration = Duration::from_secs(3);

/// The waiter name of source tails (`GET /v1/sources/{id}/tail`): woken by
/// every source-wide ("*") wake-up, which every ingest publishes; all of
/// them at once, since each tail reads for itself.
pub const TAIL: &str = "#tail";

enum Cmd {
    Sub(String),
    Unsub(String),
}

struct Entry {
    signal: Arc<Notify>,
    watchers: usize,
}

/// source id -> queue id -> waiters
type Waiters = HashMap<String, HashMap<String, Entry>>;

struct Inner {
    sources: Mutex<Waiters>,
    cmd: mpsc::UnboundedSender<Cmd>,
}

impl Inner {
    fn lock(&self) -> std::sync::MutexGuard<'_, Waiters> {
        self.sources.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Wake up to `n` waiters of `queue` ("*": of every queue of the source).
    fn wake(&self, source: &str, queue: &str, n: u64) {
        let map = self.lock();
        let Some(queues) = map.get(source) else {
            return;
        };
        for (q, e) in queues {
            if q == TAIL {
                if queue == "*" {
                    e.signal.notify_waiters();
                }
            } else if queue == "*" || queue == q {
                for _ in 0..n.min(e.watchers as u64).max(1) {
                    e.signal.notify_one();
                }
            }
        }
    }

    /// Wake every waiter (of one source, or of all).
    fn wake_all(&self, source: Option<&str>) {
        for (s, queues) in self.lock().iter() {
            if source.is_none_or(|x| x == s) {
                for e in queues.values() {
                    e.signal.notify_waiters();
                    e.signal.notify_one();
                }
            }
        }
    }
}

/// Per-process wake-up hub; cheap to clone.
#[derive(Clone)]
pub struct Notifier {
    inner: Arc<Inner>,
}

/// A registration as a waiter on one queue; the source's channel is
/// unsubscribed when its last waiter drops.
pub struct Watch {
    inner: Arc<Inner>,
    source: String,
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
        let Some(queues) = map.get_mut(&self.source) else {
            return;
        };
        if let Some(e) = queues.get_mut(&self.queue) {
            e.watchers -= 1;
            if e.watchers == 0 {
                queues.remove(&self.queue);
            }
        }
        if queues.is_empty() {
            map.remove(&self.source);
            let _ = self.inner.cmd.send(Cmd::Unsub(self.source.clone()));
        }
    }
}

impl Notifier {
    /// A hub fed in-process (embedded store): no subscription task; the
    /// store calls `wake` after each commit.
    pub fn local() -> Notifier {
        let (tx, _rx) = mpsc::unbounded_channel();
        Notifier {
            inner: Arc::new(Inner {
                sources: Mutex::new(HashMap::new()),
                cmd: tx,
            }),
        }
    }

    /// Wake up to `n` waiters of `queue` of `source` ("*": every queue).
    pub fn wake(&self, source: &str, queue: &str, n: u64) {
        if n > 0 {
            self.inner.wake(source, queue, n);
        }
    }

    /// Start the notification task on the current runtime (Redis pub/sub).
    pub fn start(client: redis::Client) -> Notifier {
        let (tx, rx) = mpsc::unbounded_channel();
        let inner = Arc::new(Inner {
            sources: Mutex::new(HashMap::new()),
            cmd: tx,
        });
        tokio::spawn(run(Arc::downgrade(&inner), client, rx));
        Notifier { inner }
    }

    /// How many waiters of this node watch `queue` of `source` (long
    /// polls, streams, tails) right now.
    pub fn watchers(&self, source: &str, queue: &str) -> usize {
        self.inner
            .lock()
            .get(source)
            .and_then(|qs| qs.get(queue))
            .map_or(0, |e| e.watchers)
    }

    /// Register as a waiter on `queue` of `source`.
    pub fn watch(&self, source: &str, queue: &str) -> Watch {
        let mut map = self.inner.lock();
        let queues = map.entry(source.to_string()).or_insert_with(|| {
            let _ = self.inner.cmd.send(Cmd::Sub(source.to_string()));
            HashMap::new()
        });
        let e = queues.entry(queue.to_string()).or_insert_with(|| Entry {
            signal: Arc::new(Notify::new()),
            watchers: 0,
        });
        e.watchers += 1;
        Watch {
            inner: self.inner.clone(),
            source: source.to_string(),
            queue: queue.to_string(),
            signal: e.signal.clone(),
        }
    }
}

/// Resolves once the node is stopping (`AppState::stopping`), for the
/// long-lived streams' `select!`s.
pub async fn until_stopping(rx: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

/// Parse a wake-up payload "<queue|*> <count>".
fn parse_payload(p: &str) -> Option<(&str, u64)> {
    let (q, n) = p.split_once(' ')?;
    Some((q, n.parse().ok()?))
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
            let current: Vec<String> = me.lock().keys().map(|s| wake_channel(s)).collect();
            drop(me);
            let subscribed = current.is_empty() || sink.subscribe(&current).await.is_ok();
            if subscribed {
                tracing::debug!(sources = current.len(), "notification channel connected");
                if let Some(me) = inner.upgrade() {
                    me.wake_all(None);
                }
                loop {
                    tokio::select! {
                        cmd = rx.recv() => {
                            let Some(me) = inner.upgrade() else { return };
                            let ok = match cmd {
                                None => return,
                                Some(Cmd::Sub(s)) => {
                                    let ok = sink.subscribe(wake_channel(&s)).await.is_ok();
                                    // anything published before the subscription took
                                    // effect: let the waiters look for themselves
                                    me.wake_all(Some(&s));
                                    ok
                                }
                                Some(Cmd::Unsub(s)) => {
                                    let idle = !me.lock().contains_key(&s);
                                    !idle || sink.unsubscribe(wake_channel(&s)).await.is_ok()
                                }
                            };
                            if !ok { break; }
                        }
                        msg = stream.next() => {
                            let Some(msg) = msg else { break };
                            let Some(me) = inner.upgrade() else { return };
                            let payload: String = msg.get_payload().unwrap_or_default();
                            if let (Some(src), Some((q, n))) = (
                                msg.get_channel_name().strip_prefix(WAKE_PREFIX),
                                parse_payload(&payload),
                            ) {
                                me.wake(src, q, n);
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

/// Stream lease key: (queue id, stream id, lease generation).
type LeaseKey = (String, String, u64);

/// Local routing of settlements to the stream that holds the lease.
#[derive(Default)]
pub struct StreamRegistry {
    map: Mutex<HashMap<LeaseKey, mpsc::UnboundedSender<String>>>,
}

impl StreamRegistry {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<LeaseKey, mpsc::UnboundedSender<String>>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn hold(&self, q: &str, sid: &str, g: u64, tx: &mpsc::UnboundedSender<String>) {
        self.lock().insert((q.into(), sid.into(), g), tx.clone());
    }

    pub fn release(&self, q: &str, sid: &str, g: u64) {
        self.lock().remove(&(q.to_string(), sid.to_string(), g));
    }

    /// A lease was settled on this node: free its stream's window slot.
    pub fn settled(&self, q: &str, sid: &str, g: u64) {
        if let Some(tx) = self.lock().remove(&(q.to_string(), sid.to_string(), g)) {
            let _ = tx.send(sid.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse_payload;

    #[test]
    fn payloads() {
        assert_eq!(parse_payload("q_1 3"), Some(("q_1", 3)));
        assert_eq!(parse_payload("* 1"), Some(("*", 1)));
        assert_eq!(parse_payload("junk"), None);
    }
}
