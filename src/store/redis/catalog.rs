//! Catalog records: tenants, tokens, sources and queues, kept as JSON strings
//! with per-tenant index sets. Writes are ordered so that a crash between two
//! of them leaves at worst an unreachable orphan, never a record that points
//! at missing engine state.

use redis::AsyncCommands;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::keys::{self, SourceKeys};
use super::RedisStore;
use crate::model::{Queue, Source, Tenant, TokenRecord};
use crate::store::types::retention_ms;
use crate::store::Result;

impl RedisStore {
    pub(super) async fn put_json<T: Serialize>(&self, key: &str, v: &T) -> Result<()> {
        let json = serde_json::to_string(v)?;
        let _: () = self.conn().set(key, json).await?;
        Ok(())
    }

    pub(super) async fn get_json<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        let raw: Option<String> = self.conn().get(key).await?;
        Ok(match raw {
            Some(r) => Some(serde_json::from_str(&r)?),
            None => None,
        })
    }

    /// Records named by a set of ids, in id order.
    pub(super) async fn list_json<T: DeserializeOwned>(
        &self,
        set: &str,
        key: fn(&str) -> String,
    ) -> Result<Vec<T>> {
        let mut ids: Vec<String> = self.conn().smembers(set).await?;
        ids.sort();
        if ids.is_empty() {
            return Ok(vec![]);
        }
        // one GET per record: the records live in different Cluster slots
        let raws = self
            .each(ids.iter().map(|i| redis::Cmd::get(key(i))).collect())
            .await?;
        let mut out = Vec::with_capacity(raws.len());
        for raw in raws {
            if let redis::Value::BulkString(b) = raw {
                out.push(serde_json::from_slice(&b)?);
            }
        }
        Ok(out)
    }

    // ---- tenants and tokens ------------------------------------------------

    pub async fn create_tenant(&self, t: &Tenant) -> Result<()> {
        self.bounded(async {
            self.put_json(&keys::tenant(&t.id), t).await?;
            let _: () = self.conn().sadd(keys::TENANTS, &t.id).await?;
            Ok(())
        })
        .await
    }

    pub async fn tenant(&self, id: &str) -> Result<Option<Tenant>> {
        self.bounded(self.get_json(&keys::tenant(id))).await
    }

    pub async fn tenants(&self) -> Result<Vec<Tenant>> {
        self.bounded(self.list_json(keys::TENANTS, keys::tenant))
            .await
    }

    pub async fn create_token(&self, t: &TokenRecord) -> Result<()> {
        self.bounded(async {
            self.put_json(&keys::token(&t.id), t).await?;
            let _: () = self
                .conn()
                .sadd(keys::tenant_set(&t.tenant_id, "tokens"), &t.id)
                .await?;
            Ok(())
        })
        .await
    }

    // ---- sources -----------------------------------------------------------

    /// Create the engine marker first, then the record and its indexes
    /// (the tenant's set already holds the id: see `reserve`).
    pub async fn create_source(&self, s: &Source) -> Result<()> {
        self.bounded(async {
            let k = SourceKeys::new(&s.id);
            let mut c = self.conn();
            let _: () = c
                .hset(&k.src, "retention_ms", retention_ms(s.retention_hours))
                .await?;
            self.put_json(&keys::source(&s.id), s).await?;
            self.each(vec![
                redis::Cmd::set(keys::ingest(&s.ingest_key), &s.id),
                redis::Cmd::sadd(keys::tenant_set(&s.tenant_id, "sources"), &s.id),
                redis::Cmd::sadd(keys::SOURCES, &s.id),
            ])
            .await?;
            Ok(())
        })
        .await
    }

    pub async fn update_source(&self, s: &Source) -> Result<()> {
        self.bounded(async {
            let k = SourceKeys::new(&s.id);
            self.put_json(&keys::source(&s.id), s).await?;
            let _: () = self
                .conn()
                .hset(&k.src, "retention_ms", retention_ms(s.retention_hours))
                .await?;
            Ok(())
        })
        .await
    }

    pub async fn source(&self, id: &str) -> Result<Option<Source>> {
        self.bounded(self.get_json(&keys::source(id))).await
    }

    pub async fn source_by_ingest_key(&self, key: &str) -> Result<Option<Source>> {
        self.bounded(async {
            let id: Option<String> = self.conn().get(keys::ingest(key)).await?;
            match id {
                Some(id) => self.get_json(&keys::source(&id)).await,
                None => Ok(None),
            }
        })
        .await
    }

    pub async fn sources(&self, tenant_id: &str) -> Result<Vec<Source>> {
        self.bounded(self.list_json(&keys::tenant_set(tenant_id, "sources"), keys::source))
            .await
    }

    /// Every source id (for the reaper).
    pub async fn all_source_ids(&self) -> Result<Vec<String>> {
        self.bounded(async { Ok(self.conn().smembers(keys::SOURCES).await?) })
            .await
    }

    /// Delete a source, its queues and all their state. Ingest stops first
    /// (the ingest index goes before anything else).
    pub async fn delete_source(&self, s: &Source) -> Result<()> {
        self.bounded(async {
            let mut c = self.conn();
            let _: () = c.del(keys::ingest(&s.ingest_key)).await?;
            let k = SourceKeys::new(&s.id);
            let queue_ids: Vec<String> = c.smembers(&k.queues).await?;
            let _: i64 = self
                .scripts()
                .drop_source
                .key(&k.src)
                .key(&k.log)
                .key(&k.queues)
                .key(&k.qp)
                .key(&k.trim)
                .arg(&k.prefix)
                .invoke_async(&mut c)
                .await?;
            let mut cmds = vec![];
            for q in &queue_ids {
                cmds.push(redis::Cmd::del(keys::queue(q)));
                cmds.push(redis::Cmd::srem(
                    keys::tenant_set(&s.tenant_id, "queues"),
                    q,
                ));
            }
            cmds.push(redis::Cmd::del(keys::source(&s.id)));
            cmds.push(redis::Cmd::srem(
                keys::tenant_set(&s.tenant_id, "sources"),
                &s.id,
            ));
            cmds.push(redis::Cmd::srem(keys::SOURCES, &s.id));
            self.each(cmds).await?;
            Ok(())
        })
        .await
    }

    // ---- queues ------------------------------------------------------------

    /// Write the record, then attach the queue to its source (policy +
    /// fan-out set + routing version, atomically): a node that reads the
    /// source's routes after the version moved finds the record.
    pub async fn create_queue(&self, q: &Queue) -> Result<()> {
        self.bounded(async {
            let mut c = self.conn();
            self.put_json(&keys::queue(&q.id), q).await?;
            self.attach_queue(q, "create").await?;
            let _: () = c
                .sadd(keys::tenant_set(&q.tenant_id, "queues"), &q.id)
                .await?;
            Ok(())
        })
        .await
    }

    pub async fn update_queue(&self, q: &Queue) -> Result<()> {
        self.bounded(async {
            self.put_json(&keys::queue(&q.id), q).await?;
            // only touches the policy of a queue that is still attached
            self.attach_queue(q, "update").await
        })
        .await
    }

    async fn attach_queue(&self, q: &Queue, mode: &str) -> Result<()> {
        self.bounded(async {
            let k = SourceKeys::new(&q.source_id);
            let _: i64 = self
                .scripts()
                .attach_queue
                .key(&k.queues)
                .key(&k.qp)
                .key(&k.log)
                .key(&k.src)
                .arg(&q.id)
                .arg(q.policy())
                .arg(mode)
                .invoke_async(&mut self.conn())
                .await?;
            Ok(())
        })
        .await
    }

    pub async fn queue(&self, id: &str) -> Result<Option<Queue>> {
        self.bounded(self.get_json(&keys::queue(id))).await
    }

    pub async fn queues(&self, tenant_id: &str) -> Result<Vec<Queue>> {
        self.bounded(self.list_json(&keys::tenant_set(tenant_id, "queues"), keys::queue))
            .await
    }

    /// Add `n` refused deliveries to the source's count (shown in its stats).
    pub async fn count_verification_failures(&self, source_id: &str, n: u64) -> Result<()> {
        self.bounded(async {
            let _: i64 = self
                .scripts()
                .count_failures
                .key(SourceKeys::new(source_id).src)
                .arg(n)
                .invoke_async(&mut self.conn())
                .await?;
            Ok(())
        })
        .await
    }

    /// Refused deliveries counted on the source so far.
    pub async fn verification_failures(&self, source_id: &str) -> Result<u64> {
        self.bounded(async {
            let n: Option<u64> = self
                .conn()
                .hget(SourceKeys::new(source_id).src, "verify_failures")
                .await?;
            Ok(n.unwrap_or(0))
        })
        .await
    }

    /// The source's routing version and the records of its attached
    /// queues. The version is read first: a change that lands between the
    /// two reads moves the version, so an ingest routed on this view
    /// re-routes.
    pub async fn source_routes(&self, source_id: &str) -> Result<(u64, Vec<Queue>)> {
        self.bounded(async {
            let k = SourceKeys::new(source_id);
            let (rv, ids): (Option<u64>, Vec<String>) = redis::pipe()
                .hget(&k.src, "rv")
                .smembers(&k.queues)
                .query_async(&mut self.conn())
                .await?;
            let mut queues = vec![];
            for id in ids {
                if let Some(q) = self.get_json::<Queue>(&keys::queue(&id)).await? {
                    queues.push(q);
                }
            }
            queues.sort_by(|a, b| a.id.cmp(&b.id));
            Ok((rv.unwrap_or(0), queues))
        })
        .await
    }

    /// Queue ids attached to a source (engine view).
    pub async fn source_queue_ids(&self, source_id: &str) -> Result<Vec<String>> {
        self.bounded(async {
            let mut ids: Vec<String> = self
                .conn()
                .smembers(SourceKeys::new(source_id).queues)
                .await?;
            ids.sort();
            Ok(ids)
        })
        .await
    }

    pub async fn delete_queue(&self, q: &Queue) -> Result<()> {
        self.bounded(async {
            let k = SourceKeys::new(&q.source_id);
            let qk = k.queue(&q.id);
            let mut c = self.conn();
            let _: i64 = self
                .scripts()
                .drop_queue
                .key(&k.queues)
                .key(&k.qp)
                .key(qk.all().as_slice())
                .key(&k.src)
                .arg(&q.id)
                .invoke_async(&mut c)
                .await?;
            self.each(vec![
                redis::Cmd::del(keys::queue(&q.id)),
                redis::Cmd::srem(keys::tenant_set(&q.tenant_id, "queues"), &q.id),
            ])
            .await?;
            Ok(())
        })
        .await
    }
}
