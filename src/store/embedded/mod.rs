//! The embedded backend: SQLite (WAL, `synchronous=FULL`) in one file under
//! the data directory; nothing to install, one process per directory.
//!
//! Every state change runs on one writer thread that takes all the changes
//! waiting for it, applies each inside its own savepoint, and commits them
//! together: one commit and one fsync for a whole batch of concurrent
//! ingests (group commit), and no caller hears "done" before its change is
//! on disk. Reads run on their own connections (WAL readers never block the
//! writer). Waiting consumers are woken in-process right after the commit.
//! A deleted source's or queue's rows are removed afterwards, in small
//! chunks, by the purger thread (`purge`).
//!
//! The schema (`schema.sql`) is this backend's own; it shares only the
//! value types of `store::types` with the Redis backend.

mod backup;
mod catalog;
mod engine;
mod import;
mod purge;
mod readers;
mod reads;
mod rows;
mod writer;

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use crate::notify::Notifier;
use crate::store::{Result, StoreError};
pub use backup::{backup, restore, BackupError, BackupSummary};
use readers::Readers;
use writer::Writer;

const SCHEMA: &str = include_str!("schema.sql");

/// How often a source's depth by state is counted again (for the gauges).
const DEPTH_EVERY: Duration = Duration::from_secs(10);

/// The database file inside the data directory.
pub const DB_FILE: &str = "hookbay.db";
/// The lock file that keeps a second process out of the directory.
pub const LOCK_FILE: &str = "hookbay.lock";

/// Why the embedded store could not open.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("cannot create data dir {0}: {1}")]
    Dir(PathBuf, std::io::Error),
    #[error(
        "data dir {0} is in use by another hookbay process (lock file {LOCK_FILE} is held); \
         one process per data dir"
    )]
    Locked(PathBuf),
    #[error("cannot lock data dir {0}: {1}")]
    Lock(PathBuf, std::io::Error),
    #[error("cannot open database {0}: {1}")]
    Db(PathBuf, rusqlite::Error),
    #[error("cannot start the reader threads of {0}: {1}")]
    Threads(PathBuf, std::io::Error),
}

/// Handle to the embedded backend; cheap to clone.
#[derive(Clone)]
pub struct EmbeddedStore {
    inner: Arc<Inner>,
}

struct Inner {
    writer: Writer,
    /// removes deleted sources' and queues' rows in the background
    purger: purge::Purger,
    /// `READERS` threads with a connection each (see `read`)
    readers: Readers,
    /// a reader of its own for the reaper's depth counts, which walk every
    /// delivery's index entry: under a backlog of millions they take long
    /// enough that they must not hold the request path's readers
    counting: Readers,
    /// token buckets (one process: no need to share them on disk)
    rates: Mutex<HashMap<(String, String), (f64, i64)>>,
    /// the last depth count of each source (see `EmbeddedStore::depth`)
    depths: crate::cache::TtlCache<[u64; 4]>,
    /// queues whose last lease found something: their next lease goes to
    /// the writer at once, without the idle check (see `lease`)
    busy: Busy,
    dir: PathBuf,
    op_timeout: Duration,
    // held for the life of the store: released when the process exits
    _lock: File,
}

/// Create `dir` if needed and take its lock for as long as the returned
/// file lives; another process holding it is `Locked`, at once.
pub(super) fn lock_dir(dir: &Path) -> std::result::Result<File, OpenError> {
    std::fs::create_dir_all(dir).map_err(|e| OpenError::Dir(dir.into(), e))?;
    let lock = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(LOCK_FILE))
        .map_err(|e| OpenError::Lock(dir.into(), e))?;
    match lock.try_lock() {
        Ok(()) => Ok(lock),
        Err(std::fs::TryLockError::WouldBlock) => Err(OpenError::Locked(dir.into())),
        Err(std::fs::TryLockError::Error(e)) => Err(OpenError::Lock(dir.into(), e)),
    }
}

/// Queues that may have work: their next lease skips the idle check (see
/// `EmbeddedStore::lease`). Shared with the writer's ingest changes.
type Busy = Arc<Mutex<std::collections::HashSet<String>>>;

/// Readers kept open for queries.
const READERS: usize = 8;

fn open_conn(path: &Path) -> rusqlite::Result<Connection> {
    let c = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    c.busy_timeout(Duration::from_secs(5))?;
    c.pragma_update(None, "journal_mode", "WAL")?;
    // FULL: the WAL is fsync'd at every commit, so a commit is on disk
    c.pragma_update(None, "synchronous", "FULL")?;
    c.pragma_update(None, "foreign_keys", "OFF")?;
    c.set_prepared_statement_cache_capacity(64);
    Ok(c)
}

/// Columns added after the first schema: a store written by an older
/// version gains them at open (SQLite adds a column without rewriting).
const ADDED_COLUMNS: &[(&str, &str, &str)] = &[
    ("messages", "event_type", "TEXT"),
    ("sources", "rv", "INTEGER NOT NULL DEFAULT 0"),
];

fn migrate(db: &Connection) -> rusqlite::Result<()> {
    for (table, col, decl) in ADDED_COLUMNS {
        let has: bool = db.query_row(
            &format!("SELECT count(*) FROM pragma_table_info('{table}') WHERE name = ?1"),
            [col],
            |r| r.get::<_, i64>(0).map(|n| n > 0),
        )?;
        if !has {
            db.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {col} {decl}"))?;
        }
    }
    Ok(())
}

impl EmbeddedStore {
    /// Open (creating if needed) the store in `dir`. Fails at once when
    /// another process holds the directory.
    pub fn open(dir: &Path, notifier: Notifier) -> std::result::Result<Self, OpenError> {
        let lock = lock_dir(dir)?;
        let path = dir.join(DB_FILE);
        let db_err = |e| OpenError::Db(path.clone(), e);
        let w = open_conn(&path).map_err(db_err)?;
        w.execute_batch(SCHEMA).map_err(db_err)?;
        migrate(&w).map_err(db_err)?;
        let mut conns = Vec::with_capacity(READERS);
        for _ in 0..READERS {
            let r = open_conn(&path).map_err(db_err)?;
            r.pragma_update(None, "query_only", true).map_err(db_err)?;
            conns.push(r);
        }
        let threads_err = |e| OpenError::Threads(path.clone(), e);
        let readers = Readers::start("hookbay-reader", conns).map_err(threads_err)?;
        let counting = open_conn(&path).map_err(db_err)?;
        counting
            .pragma_update(None, "query_only", true)
            .map_err(db_err)?;
        let counting = Readers::start("hookbay-counter", vec![counting]).map_err(threads_err)?;
        let writer = Writer::start(w, notifier).map_err(db_err)?;
        let purger = purge::Purger::start(writer.clone()).map_err(threads_err)?;
        Ok(EmbeddedStore {
            inner: Arc::new(Inner {
                writer,
                purger,
                readers,
                counting,
                rates: Mutex::new(HashMap::new()),
                depths: crate::cache::TtlCache::with_ttl(DEPTH_EVERY),
                busy: Default::default(),
                dir: dir.into(),
                op_timeout: Duration::from_secs(5),
                _lock: lock,
            }),
        })
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Run `f` on the writer thread inside the next group commit; the
    /// result arrives once the batch is on disk.
    async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut writer::Ctx<'_>) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        self.submit(true, f).await
    }

    /// `write` for a change that a power cut may undo without losing a
    /// message: a lease or a settlement (the message is then delivered
    /// again — at-least-once). Its commit is not fsync'd on its own; the
    /// next durable commit (an ingest, or the reaper's pass every
    /// `HOOKBAY_REAP_INTERVAL_MS`) syncs it. A process crash never undoes
    /// it: the commit is in the OS already.
    async fn write_relaxed<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut writer::Ctx<'_>) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        self.submit(false, f).await
    }

    async fn submit<T: Send + 'static>(
        &self,
        durable: bool,
        f: impl FnOnce(&mut writer::Ctx<'_>) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let rx = self.inner.writer.submit(durable, f)?;
        match tokio::time::timeout(self.inner.op_timeout, rx).await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => Err(StoreError::Unavailable("the store's writer stopped".into())),
            Err(_) => Err(StoreError::timed_out(self.inner.op_timeout)),
        }
    }

    /// Run a query on a reader connection (off the async runtime, on one
    /// of the `READERS` reader threads).
    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        self.read_on(&self.inner.readers, f).await
    }

    /// `read` on the depth-counting connection's own thread.
    async fn read_counts<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        self.read_on(&self.inner.counting, f).await
    }

    async fn read_on<T: Send + 'static>(
        &self,
        pool: &Readers,
        f: impl FnOnce(&Connection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        match tokio::time::timeout(self.inner.op_timeout, pool.run(f)).await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => Err(StoreError::Failed(
                "a query on a reader thread panicked".into(),
            )),
            Err(_) => Err(StoreError::timed_out(self.inner.op_timeout)),
        }
    }

    /// Readiness: a write reaches the disk (a full or read-only disk, or a
    /// stopped writer, answers an error).
    pub async fn ping(&self) -> Result<()> {
        if let Some(why) = self.inner.writer.recent_failure() {
            return Err(StoreError::Unavailable(
                format!("a write failed just now: {why}").into(),
            ));
        }
        self.write(|c| {
            c.db.prepare_cached("INSERT OR REPLACE INTO meta (k, v) VALUES ('probe', ?1)")?
                .execute([now_ms().to_string()])?;
            Ok(())
        })
        .await
    }

    /// One process per data dir: this one always reaps.
    pub async fn reap_lock(&self, _owner: &str, _ttl: Duration) -> Result<bool> {
        Ok(true)
    }

    /// The signing key kept in the store, created once when absent.
    pub async fn secret_key(&self, fresh: &str) -> Result<String> {
        let fresh = fresh.to_string();
        self.write(move |c| {
            c.db.prepare_cached("INSERT OR IGNORE INTO meta (k, v) VALUES ('secret', ?1)")?
                .execute([&fresh])?;
            let v: String =
                c.db.prepare_cached("SELECT v FROM meta WHERE k = 'secret'")?
                    .query_row([], |r| r.get(0))?;
            Ok(v)
        })
        .await
    }

    /// Take up to `want` tokens from the tenant's `kind` bucket (the same
    /// arithmetic as the Redis backend's `rate.lua`, kept in memory).
    pub async fn take_tokens(
        &self,
        tenant_id: &str,
        kind: &str,
        per_second: u64,
        want: u64,
    ) -> Result<std::result::Result<u64, u64>> {
        let now = now_ms();
        let rate = per_second.max(1) as f64;
        let burst = per_second.saturating_mul(2).max(1) as f64;
        let want = want.max(1);
        let mut rates = self.inner.rates.lock().unwrap_or_else(|p| p.into_inner());
        let (tokens, ts) = rates
            .entry((tenant_id.to_string(), kind.to_string()))
            .or_insert((burst, now));
        *tokens = burst.min(*tokens + (now - *ts).max(0) as f64 * rate / 1000.0);
        *ts = now;
        Ok(if *tokens >= 1.0 {
            let granted = (tokens.floor() as u64).min(want);
            *tokens -= granted as f64;
            Ok(granted)
        } else {
            Err(((1.0 - *tokens) * 1000.0 / rate).ceil() as u64)
        })
    }
}

/// The wall clock in ms (one process: every caller shares it).
pub(super) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// SQLite errors that a later try may not repeat (full or read-only disk,
/// I/O errors, a busy lock) are transient; the rest are deterministic.
impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode as C;
        let transient = matches!(
            e.sqlite_error_code(),
            Some(
                C::DiskFull
                    | C::ReadOnly
                    | C::SystemIoFailure
                    | C::CannotOpen
                    | C::DatabaseBusy
                    | C::DatabaseLocked
                    | C::OutOfMemory
            )
        );
        crate::metrics::store_error();
        if transient {
            StoreError::Unavailable(Box::new(e))
        } else {
            StoreError::Failed(Box::new(e))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn columns(db: &Connection, table: &str) -> Vec<String> {
        db.prepare(&format!("SELECT name FROM pragma_table_info('{table}')"))
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    }

    /// A store written before a column was added gains it at open, keeps
    /// its rows, and the new column reads as its default.
    #[tokio::test]
    async fn a_store_of_an_older_schema_gains_the_added_columns() {
        let dir = std::env::temp_dir().join(format!("hookbay-migrate-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        {
            let db = Connection::open(dir.join(DB_FILE)).unwrap();
            // the first schema: without the columns ADDED_COLUMNS lists
            let mut old = SCHEMA.to_string();
            for (from, to) in [
                (
                    "  last_seq INTEGER NOT NULL DEFAULT 0,\n",
                    "  last_seq INTEGER NOT NULL DEFAULT 0\n",
                ),
                ("  rv INTEGER NOT NULL DEFAULT 0", "  -- "),
                ("  size INTEGER NOT NULL,", "  size INTEGER NOT NULL "),
                ("  event_type TEXT\n", ""),
            ] {
                assert!(old.contains(from), "schema.sql changed: {from:?}");
                old = old.replacen(from, to, 1);
            }
            db.execute_batch(&old).unwrap();
            assert!(!columns(&db, "messages").contains(&"event_type".to_string()));
            assert!(!columns(&db, "sources").contains(&"rv".to_string()));
            db.execute(
                "INSERT INTO sources (id, ingest_key, rec, retention_ms) VALUES ('src_a', 'k', '{}', 1)",
                [],
            )
            .unwrap();
        }
        let store = EmbeddedStore::open(&dir, crate::notify::Notifier::local()).unwrap();
        drop(store);
        let db = Connection::open(dir.join(DB_FILE)).unwrap();
        assert!(columns(&db, "messages").contains(&"event_type".to_string()));
        assert!(columns(&db, "sources").contains(&"rv".to_string()));
        let rv: i64 = db
            .query_row("SELECT rv FROM sources WHERE id = 'src_a'", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(rv, 0);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
