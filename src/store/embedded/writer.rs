//! The writer thread and its group commit. Callers submit a change (a
//! closure over the write connection); the thread takes every change
//! waiting, runs each inside its own savepoint (a change that fails is
//! rolled back alone), commits the batch with one fsync, and only then
//! answers the callers and wakes local waiters. A failed commit answers
//! every caller of the batch with the error: nothing was stored.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::{mpsc, Arc, Mutex};

use rusqlite::Connection;
use tokio::sync::oneshot;

use crate::notify::Notifier;
use crate::store::{Result, StoreError};

/// Most changes committed together.
const MAX_BATCH: usize = 512;

/// What a change sees: the write connection inside the open transaction,
/// the writer's in-memory counters, and the wake-ups to send on commit.
pub struct Ctx<'a> {
    pub db: &'a Connection,
    pub mem: &'a mut Memory,
    wakes: &'a mut Vec<(String, String, u64)>,
}

impl Ctx<'_> {
    /// Wake up to `n` waiters of `queue` ("*": every queue of `source`)
    /// once this batch is committed.
    pub fn wake(&mut self, source: &str, queue: &str, n: u64) {
        if n > 0 {
            self.wakes.push((source.into(), queue.into(), n));
        }
    }
}

/// Run `f` with a change context on `db` outside the writer thread (unit
/// tests of change functions).
#[cfg(test)]
pub fn with_ctx<T>(db: &Connection, f: impl FnOnce(&mut Ctx<'_>) -> T) -> T {
    let mut mem = Memory {
        rank: 0,
        trim: HashMap::new(),
    };
    let mut wakes = Vec::new();
    f(&mut Ctx {
        db,
        mem: &mut mem,
        wakes: &mut wakes,
    })
}

/// Writer-local state that needs no durability: counters that only have
/// to grow, and scan cursors that only save work.
pub struct Memory {
    rank: i64,
    /// per source number: the last (ms, seq) the retention scan checked
    pub trim: HashMap<i64, (i64, i64)>,
}

impl Memory {
    /// The next FIFO rank of a ready delivery (always larger than every
    /// rank issued before, across restarts).
    pub fn next_rank(&mut self) -> i64 {
        self.rank += 1;
        self.rank
    }
}

/// A committed result, or why the batch did not commit.
type Commit = std::result::Result<(), (bool, String)>;

trait Change: Send {
    fn run(&mut self, ctx: &mut Ctx<'_>) -> bool;
    fn finish(self: Box<Self>, commit: &Commit);
    /// Must the commit of this change be fsync'd before it is answered?
    fn durable(&self) -> bool;
}

struct Op<T, F> {
    durable: bool,
    f: Option<F>,
    out: Option<Result<T>>,
    tx: Option<oneshot::Sender<Result<T>>>,
}

impl<T, F> Change for Op<T, F>
where
    T: Send,
    F: FnOnce(&mut Ctx<'_>) -> Result<T> + Send,
{
    fn run(&mut self, ctx: &mut Ctx<'_>) -> bool {
        let r = match self.f.take() {
            Some(f) => match std::panic::catch_unwind(AssertUnwindSafe(|| f(ctx))) {
                Ok(r) => r,
                Err(_) => Err(StoreError::Failed("a store change panicked".into())),
            },
            None => Err(StoreError::Failed("change run twice".into())),
        };
        let ok = r.is_ok();
        self.out = Some(r);
        ok
    }

    fn durable(&self) -> bool {
        self.durable
    }

    fn finish(mut self: Box<Self>, commit: &Commit) {
        let r = match commit {
            Ok(()) => self
                .out
                .take()
                .unwrap_or_else(|| Err(StoreError::Failed("change never ran".into()))),
            Err((true, why)) => Err(StoreError::Unavailable(why.clone().into())),
            Err((false, why)) => Err(StoreError::Failed(why.clone().into())),
        };
        if let Some(tx) = self.tx.take() {
            let _ = tx.send(r);
        }
    }
}

/// The handle callers submit changes through.
#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<Box<dyn Change>>,
    health: Arc<Health>,
}

/// The last commit that failed (when, and why), and how many commits and
/// changes went through.
#[derive(Default)]
struct Health {
    failed: Mutex<Option<(i64, String)>>,
    commits: std::sync::atomic::AtomicU64,
    changes: std::sync::atomic::AtomicU64,
}

/// How long a failed commit keeps the store "not ready".
const UNHEALTHY_FOR_MS: i64 = 2_000;

impl Writer {
    /// Start the writer thread on `db` (schema already applied).
    pub fn start(db: Connection, notifier: Notifier) -> rusqlite::Result<Writer> {
        // ranks continue above every rank stored so far
        let rank: i64 = db.query_row(
            "SELECT coalesce(max(k), 0) FROM deliveries WHERE state = 0",
            [],
            |r| r.get(0),
        )?;
        let mem = Memory {
            rank,
            trim: HashMap::new(),
        };
        let (tx, rx) = mpsc::channel::<Box<dyn Change>>();
        let health = Arc::new(Health::default());
        let h = health.clone();
        std::thread::Builder::new()
            .name("hookbay-store-writer".into())
            .spawn(move || run(db, rx, mem, notifier, &h))
            .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
        Ok(Writer { tx, health })
    }

    /// (commits, changes) so far: changes / commits is the group-commit
    /// factor (the same figures are exported as metrics).
    #[cfg(test)]
    pub fn stats(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        (
            self.health.commits.load(Relaxed),
            self.health.changes.load(Relaxed),
        )
    }

    /// Why the store is not ready: a commit failed within the last
    /// `UNHEALTHY_FOR_MS` (a disk that takes a tiny probe may still refuse
    /// real writes).
    pub fn recent_failure(&self) -> Option<String> {
        let f = self.health.failed.lock().unwrap_or_else(|p| p.into_inner());
        f.as_ref()
            .filter(|(at, _)| super::now_ms() - at < UNHEALTHY_FOR_MS)
            .map(|(_, why)| why.clone())
    }

    /// Queue `f` for the next batch; the receiver yields its result after
    /// the commit — fsync'd when `durable`. A batch of only non-durable
    /// changes commits without an fsync of its own (the next durable commit
    /// syncs the log up to and including it).
    pub fn submit<T, F>(&self, durable: bool, f: F) -> Result<oneshot::Receiver<Result<T>>>
    where
        T: Send + 'static,
        F: FnOnce(&mut Ctx<'_>) -> Result<T> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let op = Box::new(Op {
            durable,
            f: Some(f),
            out: None,
            tx: Some(tx),
        });
        self.tx
            .send(op)
            .map_err(|_| StoreError::Unavailable("the store's writer stopped".into()))?;
        Ok(rx)
    }
}

fn run(
    db: Connection,
    rx: mpsc::Receiver<Box<dyn Change>>,
    mut mem: Memory,
    notifier: Notifier,
    health: &Health,
) {
    let mut batch: Vec<Box<dyn Change>> = Vec::with_capacity(MAX_BATCH);
    let mut wakes = Vec::new();
    let mut failing = false;
    let mut synced = true;
    while let Ok(first) = rx.recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(c) => batch.push(c),
                Err(_) => break,
            }
        }
        wakes.clear();
        // one fsync'd change makes the whole batch (and everything before
        // it in the log) durable
        let durable = batch.iter().any(|c| c.durable());
        if durable != synced {
            let level = if durable { "FULL" } else { "NORMAL" };
            if db.pragma_update(None, "synchronous", level).is_ok() {
                synced = durable;
            }
        }
        let commit = apply(&db, &mut batch, &mut mem, &mut wakes);
        match &commit {
            Ok(()) => {
                use std::sync::atomic::Ordering::Relaxed;
                health.commits.fetch_add(1, Relaxed);
                health.changes.fetch_add(batch.len() as u64, Relaxed);
                crate::metrics::store_commit(batch.len() as u64);
                if failing {
                    tracing::info!("embedded store writes again");
                    failing = false;
                }
                for (s, q, n) in &wakes {
                    notifier.wake(s, q, *n);
                }
            }
            Err((_, why)) => {
                *health.failed.lock().unwrap_or_else(|p| p.into_inner()) =
                    Some((super::now_ms(), why.clone()));
                if !failing {
                    tracing::error!(error = %why, "embedded store cannot commit (disk full or read-only?); answering 503 until it can");
                    failing = true;
                }
            }
        }
        for c in batch.drain(..) {
            c.finish(&commit);
        }
    }
}

fn classify(e: rusqlite::Error) -> (bool, String) {
    let msg = e.to_string();
    (StoreError::from(e).is_transient(), msg)
}

/// Run the batch in one transaction; `Err` when it could not commit.
fn apply(
    db: &Connection,
    batch: &mut [Box<dyn Change>],
    mem: &mut Memory,
    wakes: &mut Vec<(String, String, u64)>,
) -> Commit {
    // prepared once (the statement cache): a savepoint per change costs no
    // SQL parsing
    let run_sql = |sql: &str| -> rusqlite::Result<()> {
        db.prepare_cached(sql)?.execute([])?;
        Ok(())
    };
    run_sql("BEGIN IMMEDIATE").map_err(classify)?;
    for c in batch.iter_mut() {
        let mark = wakes.len();
        let step = run_sql("SAVEPOINT change")
            .map_err(classify)
            .and_then(|()| {
                let mut ctx = Ctx {
                    db,
                    mem: &mut *mem,
                    wakes: &mut *wakes,
                };
                let ok = c.run(&mut ctx);
                if !ok {
                    run_sql("ROLLBACK TO change").map_err(classify)?;
                }
                run_sql("RELEASE change").map_err(classify)?;
                Ok(ok)
            });
        match step {
            Ok(true) => {}
            Ok(false) => wakes.truncate(mark),
            Err(e) => {
                let _ = db.execute_batch("ROLLBACK");
                return Err(e);
            }
        }
    }
    if let Err(e) = run_sql("COMMIT") {
        let _ = db.execute_batch("ROLLBACK");
        return Err(classify(e));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn writer() -> (Writer, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!(
            "hookbay-writer-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let db = Connection::open(dir.join("t.db")).unwrap();
        db.execute_batch(
            "PRAGMA journal_mode=WAL; CREATE TABLE t (v INTEGER); \
             CREATE TABLE deliveries (state INTEGER, k INTEGER);",
        )
        .unwrap();
        (Writer::start(db, Notifier::local()).unwrap(), dir)
    }

    #[tokio::test]
    async fn changes_waiting_together_share_one_commit() {
        let (w, dir) = writer();
        // the first change holds the writer (alone in its batch) until 100
        // more are queued
        let (release, hold) = std::sync::mpsc::channel::<()>();
        let (started, running) = std::sync::mpsc::channel::<()>();
        let first = w
            .submit(true, move |c| {
                let _ = started.send(());
                let _ = hold.recv();
                c.db.execute("INSERT INTO t VALUES (0)", [])?;
                Ok(())
            })
            .unwrap();
        running.recv().unwrap();
        let mut rest = vec![];
        for i in 1..=100 {
            rest.push(
                w.submit(true, move |c| {
                    c.db.execute("INSERT INTO t VALUES (?1)", [i])?;
                    Ok(i)
                })
                .unwrap(),
            );
        }
        release.send(()).unwrap();
        first.await.unwrap().unwrap();
        for (i, r) in rest.into_iter().enumerate() {
            assert_eq!(r.await.unwrap().unwrap(), i as i64 + 1);
        }
        assert_eq!(w.stats(), (2, 101), "one commit for the 100 that waited");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn a_failing_change_is_rolled_back_alone() {
        let (w, dir) = writer();
        let (release, hold) = std::sync::mpsc::channel::<()>();
        let (started, running) = std::sync::mpsc::channel::<()>();
        let gate = w
            .submit(true, move |_| {
                let _ = started.send(());
                let _ = hold.recv();
                Ok(())
            })
            .unwrap();
        running.recv().unwrap();
        let good = w
            .submit(true, |c| {
                Ok(c.db.execute("INSERT INTO t VALUES (1)", [])?)
            })
            .unwrap();
        let bad = w
            .submit(true, |c| -> Result<()> {
                c.db.execute("INSERT INTO t VALUES (2)", [])?;
                Err(StoreError::Failed("no".into()))
            })
            .unwrap();
        let panics = w
            .submit(true, |c| -> Result<()> {
                c.db.execute("INSERT INTO t VALUES (3)", [])?;
                panic!("a bug in one change")
            })
            .unwrap();
        let count = w
            .submit(true, |c| {
                Ok(c.db.query_row("SELECT group_concat(v) FROM t", [], |r| {
                    r.get::<_, String>(0)
                })?)
            })
            .unwrap();
        release.send(()).unwrap();
        gate.await.unwrap().unwrap();
        assert_eq!(good.await.unwrap().unwrap(), 1);
        assert!(matches!(bad.await.unwrap(), Err(StoreError::Failed(_))));
        assert!(matches!(panics.await.unwrap(), Err(StoreError::Failed(_))));
        assert_eq!(
            count.await.unwrap().unwrap(),
            "1",
            "only the good change stays"
        );
        assert_eq!(w.stats().0, 2);
        let _ = std::fs::remove_dir_all(dir);
    }
}
