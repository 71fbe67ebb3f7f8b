//! Online snapshots of the embedded store (`hookbay backup`) and putting
//! one in place (`hookbay restore`).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use super::{lock_dir, OpenError, DB_FILE};

/// What `backup` wrote.
#[derive(Debug)]
pub struct BackupSummary {
    pub bytes: u64,
    pub tenants: u64,
    pub sources: u64,
    pub messages: u64,
    pub took: Duration,
}

impl std::fmt::Display for BackupSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} tenants, {} sources, {} messages; {} bytes in {:.2} s",
            self.tenants,
            self.sources,
            self.messages,
            self.bytes,
            self.took.as_secs_f64()
        )
    }
}

/// Why a backup or restore failed.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("no embedded store in {0} (no {DB_FILE})")]
    NoStore(PathBuf),
    #[error("{0} already exists; choose a new file")]
    Exists(PathBuf),
    #[error("{0} already holds a store; restore into an empty data dir")]
    NotEmpty(PathBuf),
    #[error("{0} is not a hookbay embedded-store snapshot: {1}")]
    NotASnapshot(PathBuf, String),
    #[error(transparent)]
    Open(#[from] OpenError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("sqlite: {0}")]
    Db(#[from] rusqlite::Error),
}

fn snapshot_counts(c: &Connection) -> rusqlite::Result<(u64, u64, u64)> {
    let n = |sql: &str| {
        c.query_row(sql, [], |r| r.get::<_, i64>(0))
            .map(|v| v as u64)
    };
    Ok((
        n("SELECT count(*) FROM tenants")?,
        n("SELECT count(*) FROM sources")?,
        // not the rows of deleted sources still being purged
        n("SELECT count(*) FROM messages WHERE sn IN (SELECT sn FROM sources)")?,
    ))
}

/// A consistent snapshot of the store in `dir` into the new file `to`,
/// while a relay may be serving from it: one read transaction (`VACUUM
/// INTO`), so the copy is exactly the store as of one commit, compacted.
/// Needs no lock: WAL readers never block the writer.
pub fn backup(dir: &Path, to: &Path) -> std::result::Result<BackupSummary, BackupError> {
    let started = std::time::Instant::now();
    let db = dir.join(DB_FILE);
    if !db.exists() {
        return Err(BackupError::NoStore(dir.into()));
    }
    if to.exists() {
        return Err(BackupError::Exists(to.into()));
    }
    let c = Connection::open_with_flags(&db, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    c.busy_timeout(Duration::from_secs(10))?;
    let target = to
        .to_str()
        .ok_or_else(|| BackupError::Io(std::io::Error::other("the backup path is not UTF-8")))?;
    c.execute("VACUUM INTO ?1", [target])?;
    let copy = Connection::open_with_flags(to, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let (tenants, sources, messages) = snapshot_counts(&copy)?;
    Ok(BackupSummary {
        bytes: std::fs::metadata(to)?.len(),
        tenants,
        sources,
        messages,
        took: started.elapsed(),
    })
}

/// Put a snapshot made by `backup` in place as the store of `dir` (which
/// must hold none). Takes the data dir's lock while it works.
pub fn restore(from: &Path, dir: &Path) -> std::result::Result<BackupSummary, BackupError> {
    let started = std::time::Instant::now();
    let _lock = lock_dir(dir)?;
    let db = dir.join(DB_FILE);
    if db.exists() {
        return Err(BackupError::NotEmpty(dir.into()));
    }
    let src = Connection::open_with_flags(from, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let check: rusqlite::Result<String> =
        src.query_row("SELECT v FROM meta WHERE k = 'schema'", [], |r| r.get(0));
    let (tenants, sources, messages) = match check {
        Ok(_) => snapshot_counts(&src)
            .map_err(|e| BackupError::NotASnapshot(from.into(), e.to_string()))?,
        Err(e) => return Err(BackupError::NotASnapshot(from.into(), e.to_string())),
    };
    drop(src);
    let tmp = dir.join(format!("{DB_FILE}.restoring"));
    std::fs::copy(from, &tmp)?;
    File::open(&tmp)?.sync_all()?;
    std::fs::rename(&tmp, &db)?;
    File::open(dir)?.sync_all()?;
    Ok(BackupSummary {
        bytes: std::fs::metadata(&db)?.len(),
        tenants,
        sources,
        messages,
        took: started.elapsed(),
    })
}
