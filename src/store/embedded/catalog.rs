//! Catalog and tenancy on SQLite: tenants, tokens and revocation, the
//! tenant's id sets (quota reservations), sources and queues. Each call is
//! one writer change, so a record and its indexes appear and disappear
//! together.

use rusqlite::{params, Connection, OptionalExtension};
use serde::de::DeserializeOwned;

use super::purge;
use super::{now_ms, EmbeddedStore};
use crate::model::{Queue, Source, Tenant, TokenRecord};
use crate::store::types::{retention_ms, Usage};
use crate::store::{Result, StoreError};

fn decode<T: DeserializeOwned>(raw: Option<String>) -> Result<Option<T>> {
    Ok(match raw {
        Some(r) => Some(serde_json::from_str(&r)?),
        None => None,
    })
}

fn decode_all<T: DeserializeOwned>(raws: Vec<String>) -> Result<Vec<T>> {
    raws.iter()
        .map(|r| serde_json::from_str(r).map_err(StoreError::from))
        .collect()
}

fn one(db: &Connection, sql: &str, id: &str) -> Result<Option<String>> {
    Ok(db
        .prepare_cached(sql)?
        .query_row([id], |r| r.get(0))
        .optional()?)
}

fn all(db: &Connection, sql: &str, args: impl rusqlite::Params) -> Result<Vec<String>> {
    Ok(db
        .prepare_cached(sql)?
        .query_map(args, |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?)
}

fn add_member(db: &Connection, tenant: &str, kind: &str, id: &str) -> Result<()> {
    db.prepare_cached("INSERT OR IGNORE INTO members (tenant_id, kind, id) VALUES (?1, ?2, ?3)")?
        .execute([tenant, kind, id])?;
    Ok(())
}

fn remove_member(db: &Connection, tenant: &str, kind: &str, id: &str) -> Result<()> {
    db.prepare_cached("DELETE FROM members WHERE tenant_id = ?1 AND kind = ?2 AND id = ?3")?
        .execute([tenant, kind, id])?;
    Ok(())
}

/// The policy columns of a queue (the same numbers the Redis backend's
/// policy string carries).
fn policy_cols(q: &Queue) -> (i64, u32, f64, f64, f64) {
    (
        (q.lease_seconds * 1000) as i64,
        q.max_attempts,
        (q.backoff.initial_seconds * 1000.0).round(),
        q.backoff.multiplier,
        (q.backoff.max_seconds * 1000.0).round(),
    )
}

impl EmbeddedStore {
    // ---- tenants and tokens ------------------------------------------------

    pub async fn create_tenant(&self, t: &Tenant) -> Result<()> {
        self.update_tenant(t).await
    }

    pub async fn update_tenant(&self, t: &Tenant) -> Result<()> {
        let (id, rec) = (t.id.clone(), serde_json::to_string(t)?);
        self.write(move |c| {
            c.db.prepare_cached("INSERT OR REPLACE INTO tenants (id, rec) VALUES (?1, ?2)")?
                .execute([&id, &rec])?;
            Ok(())
        })
        .await
    }

    pub async fn tenant(&self, id: &str) -> Result<Option<Tenant>> {
        let id = id.to_string();
        self.read(move |db| decode(one(db, "SELECT rec FROM tenants WHERE id = ?1", &id)?))
            .await
    }

    pub async fn tenants(&self) -> Result<Vec<Tenant>> {
        self.read(|db| decode_all(all(db, "SELECT rec FROM tenants ORDER BY id", [])?))
            .await
    }

    pub async fn retire_tenant(&self, tenant_id: &str) -> Result<()> {
        let id = tenant_id.to_string();
        self.write(move |c| {
            c.db.prepare_cached("DELETE FROM tenants WHERE id = ?1")?
                .execute([&id])?;
            Ok(())
        })
        .await
    }

    pub async fn delete_tenant(&self, tenant_id: &str, token_ids: &[String]) -> Result<()> {
        let (id, tokens) = (tenant_id.to_string(), token_ids.to_vec());
        self.write(move |c| {
            for t in &tokens {
                c.db.prepare_cached("DELETE FROM tokens WHERE id = ?1")?
                    .execute([t])?;
            }
            c.db.prepare_cached("DELETE FROM tenants WHERE id = ?1")?
                .execute([&id])?;
            c.db.prepare_cached("DELETE FROM members WHERE tenant_id = ?1")?
                .execute([&id])?;
            Ok(())
        })
        .await
    }

    pub async fn reserve(&self, tenant_id: &str, kind: &str, id: &str, limit: u64) -> Result<bool> {
        let (t, k, i) = (tenant_id.to_string(), kind.to_string(), id.to_string());
        self.write(move |c| {
            let db = c.db;
            let there = db
                .prepare_cached(
                    "SELECT 1 FROM members WHERE tenant_id = ?1 AND kind = ?2 AND id = ?3",
                )?
                .exists([&t, &k, &i])?;
            if there {
                return Ok(true);
            }
            let n: i64 = db
                .prepare_cached("SELECT count(*) FROM members WHERE tenant_id = ?1 AND kind = ?2")?
                .query_row([&t, &k], |r| r.get(0))?;
            if n as u64 >= limit {
                return Ok(false);
            }
            add_member(db, &t, &k, &i)?;
            Ok(true)
        })
        .await
    }

    pub async fn usage(&self, tenant_id: &str) -> Result<Usage> {
        let t = tenant_id.to_string();
        self.read(move |db| {
            let count = |kind: &str| -> Result<u64> {
                let n: i64 = db
                    .prepare_cached(
                        "SELECT count(*) FROM members WHERE tenant_id = ?1 AND kind = ?2",
                    )?
                    .query_row([t.as_str(), kind], |r| r.get(0))?;
                Ok(n as u64)
            };
            let bytes: i64 = db
                .prepare_cached(
                    "SELECT coalesce(sum(max(s.bytes, 0)), 0) FROM members m \
                     JOIN sources s ON s.id = m.id \
                     WHERE m.tenant_id = ?1 AND m.kind = 'sources'",
                )?
                .query_row([&t], |r| r.get(0))?;
            Ok(Usage {
                sources: count("sources")?,
                queues: count("queues")?,
                stored_bytes: bytes.max(0) as u64,
            })
        })
        .await
    }

    pub async fn create_token(&self, t: &TokenRecord) -> Result<()> {
        let (id, tenant, rec) = (t.id.clone(), t.tenant_id.clone(), serde_json::to_string(t)?);
        self.write(move |c| {
            c.db.prepare_cached("INSERT OR REPLACE INTO tokens (id, rec) VALUES (?1, ?2)")?
                .execute([&id, &rec])?;
            add_member(c.db, &tenant, "tokens", &id)
        })
        .await
    }

    pub async fn token(&self, id: &str) -> Result<Option<TokenRecord>> {
        let id = id.to_string();
        self.read(move |db| decode(one(db, "SELECT rec FROM tokens WHERE id = ?1", &id)?))
            .await
    }

    pub async fn tokens(&self, tenant_id: &str) -> Result<Vec<TokenRecord>> {
        let t = tenant_id.to_string();
        self.read(move |db| {
            decode_all(all(
                db,
                "SELECT t.rec FROM members m JOIN tokens t ON t.id = m.id \
                 WHERE m.tenant_id = ?1 AND m.kind = 'tokens' ORDER BY m.id",
                [&t],
            )?)
        })
        .await
    }

    pub async fn revoke_token(&self, rec: &TokenRecord, expires_unix: i64) -> Result<()> {
        let (id, json) = (rec.id.clone(), serde_json::to_string(rec)?);
        self.write(move |c| {
            c.db.prepare_cached("INSERT OR REPLACE INTO tokens (id, rec) VALUES (?1, ?2)")?
                .execute([&id, &json])?;
            c.db.prepare_cached("INSERT OR REPLACE INTO revoked (id, until) VALUES (?1, ?2)")?
                .execute(params![id, expires_unix])?;
            c.db.prepare_cached("DELETE FROM revoked WHERE until <= ?1")?
                .execute([now_ms() / 1000])?;
            Ok(())
        })
        .await
    }

    pub async fn revoked_token_ids(&self) -> Result<Vec<String>> {
        self.read(|db| {
            all(
                db,
                "SELECT id FROM revoked WHERE until > ?1 ORDER BY id",
                [now_ms() / 1000],
            )
        })
        .await
    }

    pub async fn delete_token_record(&self, rec: &TokenRecord) -> Result<()> {
        let (id, tenant) = (rec.id.clone(), rec.tenant_id.clone());
        self.write(move |c| {
            c.db.prepare_cached("DELETE FROM tokens WHERE id = ?1")?
                .execute([&id])?;
            remove_member(c.db, &tenant, "tokens", &id)
        })
        .await
    }

    // ---- sources -----------------------------------------------------------

    pub async fn create_source(&self, s: &Source) -> Result<()> {
        let rec = serde_json::to_string(s)?;
        let (id, tenant, key) = (s.id.clone(), s.tenant_id.clone(), s.ingest_key.clone());
        let retention = retention_ms(s.retention_hours) as i64;
        self.write(move |c| {
            c.db.prepare_cached(
                "INSERT INTO sources (sn, id, ingest_key, rec, retention_ms) \
                 VALUES (?1, ?2, ?3, ?4, ?5) \
                 ON CONFLICT (id) DO UPDATE SET rec = excluded.rec, \
                 retention_ms = excluded.retention_ms",
            )?
            .execute(params![
                purge::next_number(c.db, purge::SOURCE)?,
                id,
                key,
                rec,
                retention
            ])?;
            add_member(c.db, &tenant, "sources", &id)
        })
        .await
    }

    pub async fn update_source(&self, s: &Source) -> Result<()> {
        let rec = serde_json::to_string(s)?;
        let id = s.id.clone();
        let retention = retention_ms(s.retention_hours) as i64;
        self.write(move |c| {
            c.db.prepare_cached("UPDATE sources SET rec = ?2, retention_ms = ?3 WHERE id = ?1")?
                .execute(params![id, rec, retention])?;
            Ok(())
        })
        .await
    }

    pub async fn source(&self, id: &str) -> Result<Option<Source>> {
        let id = id.to_string();
        self.read(move |db| decode(one(db, "SELECT rec FROM sources WHERE id = ?1", &id)?))
            .await
    }

    pub async fn source_by_ingest_key(&self, key: &str) -> Result<Option<Source>> {
        let key = key.to_string();
        self.read(move |db| {
            decode(one(
                db,
                "SELECT rec FROM sources WHERE ingest_key = ?1",
                &key,
            )?)
        })
        .await
    }

    pub async fn sources(&self, tenant_id: &str) -> Result<Vec<Source>> {
        let t = tenant_id.to_string();
        self.read(move |db| {
            decode_all(all(
                db,
                "SELECT s.rec FROM members m JOIN sources s ON s.id = m.id \
                 WHERE m.tenant_id = ?1 AND m.kind = 'sources' ORDER BY m.id",
                [&t],
            )?)
        })
        .await
    }

    pub async fn all_source_ids(&self) -> Result<Vec<String>> {
        self.read(|db| all(db, "SELECT id FROM sources ORDER BY id", []))
            .await
    }

    /// Delete a source with its queues in one change; their messages,
    /// delivery states and dedupe keys are purged right after, in chunks
    /// (see `purge`).
    pub async fn delete_source(&self, s: &Source) -> Result<()> {
        let (id, tenant) = (s.id.clone(), s.tenant_id.clone());
        let deleted = self
            .write(move |c| {
                let db = c.db;
                let Some(sn) = super::rows::source_number(db, &id)? else {
                    remove_member(db, &tenant, "sources", &id)?;
                    return Ok(());
                };
                // out of the catalog now; the rows go a chunk at a time (purge.rs)
                let queues: Vec<(i64, String)> = db
                    .prepare_cached("SELECT qn, id FROM queues WHERE sn = ?1")?
                    .query_map([sn], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect::<rusqlite::Result<_>>()?;
                for (qn, q) in &queues {
                    purge::schedule(db, purge::QUEUE, *qn)?;
                    remove_member(db, &tenant, "queues", q)?;
                }
                purge::schedule(db, purge::SOURCE, sn)?;
                db.prepare_cached("DELETE FROM queues WHERE sn = ?1")?
                    .execute([sn])?;
                db.prepare_cached("DELETE FROM sources WHERE sn = ?1")?
                    .execute([sn])?;
                remove_member(db, &tenant, "sources", &id)?;
                c.mem.trim.remove(&sn);
                Ok(())
            })
            .await;
        self.inner.purger.kick();
        deleted
    }

    // ---- queues ------------------------------------------------------------

    /// Attach the queue to its source: every message ingested from now on
    /// is delivered to it.
    pub async fn create_queue(&self, q: &Queue) -> Result<()> {
        let rec = serde_json::to_string(q)?;
        let (id, tenant, source) = (q.id.clone(), q.tenant_id.clone(), q.source_id.clone());
        let (lease, max, init, mult, cap) = policy_cols(q);
        self.write(move |c| {
            let db = c.db;
            // a source deleted meanwhile: the record is written, nothing is
            // attached (leasing answers "gone")
            let sn = super::rows::source_number(db, &source)?.unwrap_or(-1);
            db.prepare_cached(
                "INSERT INTO queues (qn, id, sn, rec, lease_ms, max_attempts, init_ms, mult, cap_ms) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) \
                 ON CONFLICT (id) DO UPDATE SET rec = excluded.rec",
            )?
            .execute(params![
                purge::next_number(db, purge::QUEUE)?,
                id,
                sn,
                rec,
                lease,
                max,
                init,
                mult,
                cap
            ])?;
            bump_routes(db, &id)?;
            add_member(db, &tenant, "queues", &id)
        })
        .await
    }

    pub async fn update_queue(&self, q: &Queue) -> Result<()> {
        let rec = serde_json::to_string(q)?;
        let id = q.id.clone();
        let (lease, max, init, mult, cap) = policy_cols(q);
        self.write(move |c| {
            c.db.prepare_cached(
                "UPDATE queues SET rec = ?2, lease_ms = ?3, max_attempts = ?4, init_ms = ?5, \
                 mult = ?6, cap_ms = ?7 WHERE id = ?1",
            )?
            .execute(params![id, rec, lease, max, init, mult, cap])?;
            bump_routes(c.db, &id)
        })
        .await
    }

    pub async fn queue(&self, id: &str) -> Result<Option<Queue>> {
        let id = id.to_string();
        self.read(move |db| decode(one(db, "SELECT rec FROM queues WHERE id = ?1", &id)?))
            .await
    }

    pub async fn queues(&self, tenant_id: &str) -> Result<Vec<Queue>> {
        let t = tenant_id.to_string();
        self.read(move |db| {
            decode_all(all(
                db,
                "SELECT q.rec FROM members m JOIN queues q ON q.id = m.id \
                 WHERE m.tenant_id = ?1 AND m.kind = 'queues' ORDER BY m.id",
                [&t],
            )?)
        })
        .await
    }

    pub async fn delete_queue(&self, q: &Queue) -> Result<()> {
        let (id, tenant) = (q.id.clone(), q.tenant_id.clone());
        let deleted = self
            .write(move |c| {
                let db = c.db;
                bump_routes(db, &id)?;
                let qn: Option<i64> = db
                    .prepare_cached("SELECT qn FROM queues WHERE id = ?1")?
                    .query_row([&id], |r| r.get(0))
                    .optional()?;
                if let Some(qn) = qn {
                    // its delivery states go a chunk at a time (purge.rs)
                    purge::schedule(db, purge::QUEUE, qn)?;
                }
                db.prepare_cached("DELETE FROM queues WHERE id = ?1")?
                    .execute([&id])?;
                remove_member(db, &tenant, "queues", &id)
            })
            .await;
        self.inner.purger.kick();
        deleted
    }

    /// The source's routing version and its queues' records, read in one
    /// snapshot.
    pub async fn source_routes(&self, source_id: &str) -> Result<(u64, Vec<Queue>)> {
        let s = source_id.to_string();
        self.read(move |db| {
            let rv: Option<i64> = db
                .prepare_cached("SELECT rv FROM sources WHERE id = ?1")?
                .query_row([&s], |r| r.get(0))
                .optional()?;
            let queues = decode_all(all(
                db,
                "SELECT q.rec FROM queues q JOIN sources s ON s.sn = q.sn \
                 WHERE s.id = ?1 ORDER BY q.id",
                [&s],
            )?)?;
            Ok((rv.unwrap_or(0) as u64, queues))
        })
        .await
    }

    pub async fn source_queue_ids(&self, source_id: &str) -> Result<Vec<String>> {
        let s = source_id.to_string();
        self.read(move |db| {
            all(
                db,
                "SELECT q.id FROM queues q JOIN sources s ON s.sn = q.sn \
                 WHERE s.id = ?1 ORDER BY q.id",
                [&s],
            )
        })
        .await
    }

    pub async fn count_verification_failures(&self, source_id: &str, n: u64) -> Result<()> {
        let s = source_id.to_string();
        self.write(move |c| {
            c.db.prepare_cached(
                "UPDATE sources SET verify_failures = verify_failures + ?2 WHERE id = ?1",
            )?
            .execute(params![s, n as i64])?;
            Ok(())
        })
        .await
    }

    pub async fn verification_failures(&self, source_id: &str) -> Result<u64> {
        let s = source_id.to_string();
        self.read(move |db| {
            let n: Option<i64> = db
                .prepare_cached("SELECT verify_failures FROM sources WHERE id = ?1")?
                .query_row([&s], |r| r.get(0))
                .optional()?;
            Ok(n.unwrap_or(0).max(0) as u64)
        })
        .await
    }
}

/// A queue of the source was attached, changed or removed: bump the
/// source's routing version (an ingest routed before re-routes).
fn bump_routes(db: &rusqlite::Connection, queue_id: &str) -> Result<()> {
    db.prepare_cached(
        "UPDATE sources SET rv = rv + 1 WHERE sn = (SELECT sn FROM queues WHERE id = ?1)",
    )?
    .execute([queue_id])?;
    Ok(())
}
