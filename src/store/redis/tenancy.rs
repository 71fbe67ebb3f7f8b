//! Tenant-wide state: limits and usage, token records and revocation, rate
//! buckets, and deleting a whole tenant.

use redis::AsyncCommands;

use super::keys::{self, SourceKeys};
use super::RedisStore;
use crate::model::{Tenant, TokenRecord};
use crate::store::types::Usage;
use crate::store::Result;

impl RedisStore {
    pub async fn update_tenant(&self, t: &Tenant) -> Result<()> {
        self.bounded(self.put_json(&keys::tenant(&t.id), t)).await
    }

    /// Add `id` to a tenant's `kind` set unless that would pass `limit`.
    pub async fn reserve(&self, tenant_id: &str, kind: &str, id: &str, limit: u64) -> Result<bool> {
        self.bounded(async {
            let ok: i64 = self
                .scripts()
                .reserve
                .key(keys::tenant_set(tenant_id, kind))
                .arg(id)
                .arg(limit)
                .invoke_async(&mut self.conn())
                .await?;
            Ok(ok == 1)
        })
        .await
    }

    /// Take up to `want` tokens from the tenant's shared `kind` bucket
    /// (burst: 2 s worth). `Ok(granted)` with granted >= 1, or `Err(ms)`
    /// until a token is available.
    pub async fn take_tokens(
        &self,
        tenant_id: &str,
        kind: &str,
        per_second: u64,
        want: u64,
    ) -> Result<std::result::Result<u64, u64>> {
        self.bounded(async {
            let (granted, wait): (u64, u64) = self
                .scripts()
                .rate
                .key(keys::rate(tenant_id, kind))
                .arg(per_second)
                .arg(per_second.saturating_mul(2).max(1))
                .arg(want.max(1))
                .invoke_async(&mut self.conn())
                .await?;
            Ok(if granted >= 1 { Ok(granted) } else { Err(wait) })
        })
        .await
    }

    pub async fn usage(&self, tenant_id: &str) -> Result<Usage> {
        self.bounded(async {
            let mut c = self.conn();
            let sources: Vec<String> = c.smembers(keys::tenant_set(tenant_id, "sources")).await?;
            let queues: u64 = c.scard(keys::tenant_set(tenant_id, "queues")).await?;
            let bytes = self
                .each(
                    sources
                        .iter()
                        .map(|s| redis::Cmd::hget(SourceKeys::new(s).src, "bytes"))
                        .collect(),
                )
                .await?;
            let stored_bytes = bytes
                .iter()
                .filter_map(|v| redis::from_redis_value::<Option<i64>>(v).ok().flatten())
                .map(|b| b.max(0) as u64)
                .sum();
            Ok(Usage {
                sources: sources.len() as u64,
                queues,
                stored_bytes,
            })
        })
        .await
    }

    pub async fn token(&self, id: &str) -> Result<Option<TokenRecord>> {
        self.bounded(self.get_json(&keys::token(id))).await
    }

    pub async fn tokens(&self, tenant_id: &str) -> Result<Vec<TokenRecord>> {
        self.bounded(self.list_json(&keys::tenant_set(tenant_id, "tokens"), keys::token))
            .await
    }

    /// Mark a token revoked and publish it to every node's revocation list
    /// (kept until the token would have expired anyway).
    pub async fn revoke_token(&self, rec: &TokenRecord, expires_unix: i64) -> Result<()> {
        self.bounded(async {
            self.put_json(&keys::token(&rec.id), rec).await?;
            let _: () = self
                .conn()
                .zadd(keys::REVOKED, &rec.id, expires_unix)
                .await?;
            Ok(())
        })
        .await
    }

    /// Ids of revoked tokens that have not expired yet.
    pub async fn revoked_token_ids(&self) -> Result<Vec<String>> {
        self.bounded(async {
            let now = chrono::Utc::now().timestamp();
            let (_, ids): ((), Vec<String>) = redis::pipe()
                .zrembyscore(keys::REVOKED, "-inf", now)
                .zrange(keys::REVOKED, 0, -1)
                .query_async(&mut self.conn())
                .await?;
            Ok(ids)
        })
        .await
    }

    /// Remove the tenant record: from here on the tenant does not exist
    /// (creates that raced with the deletion see that and undo themselves).
    pub async fn retire_tenant(&self, tenant_id: &str) -> Result<()> {
        self.bounded(async {
            self.each(vec![
                redis::Cmd::del(keys::tenant(tenant_id)),
                redis::Cmd::srem(keys::TENANTS, tenant_id),
            ])
            .await?;
            Ok(())
        })
        .await
    }

    /// Remove what is left of a retired tenant: its token records and its
    /// index sets (its sources and queues are deleted by the caller first).
    /// Revoked token ids stay on the revocation list until they expire.
    pub async fn delete_tenant(&self, tenant_id: &str, token_ids: &[String]) -> Result<()> {
        self.bounded(async {
            let mut cmds: Vec<redis::Cmd> = token_ids
                .iter()
                .map(|id| redis::Cmd::del(keys::token(id)))
                .collect();
            cmds.extend([
                redis::Cmd::del(keys::tenant(tenant_id)),
                redis::Cmd::del(keys::tenant_set(tenant_id, "sources")),
                redis::Cmd::del(keys::tenant_set(tenant_id, "queues")),
                redis::Cmd::del(keys::tenant_set(tenant_id, "tokens")),
                redis::Cmd::srem(keys::TENANTS, tenant_id),
            ]);
            self.each(cmds).await?;
            Ok(())
        })
        .await
    }

    /// Delete one token record (a token minted for a tenant deleted
    /// meanwhile; it was never handed out).
    pub async fn delete_token_record(&self, rec: &TokenRecord) -> Result<()> {
        self.bounded(async {
            self.each(vec![
                redis::Cmd::del(keys::token(&rec.id)),
                redis::Cmd::srem(keys::tenant_set(&rec.tenant_id, "tokens"), &rec.id),
            ])
            .await?;
            Ok(())
        })
        .await
    }
}
