//! Tenants, sources and queues: creates that respect quotas and races with
//! a tenant's deletion, deletes that cascade, and this node's caches.

use std::sync::Arc;

use super::{Result, ServiceError};
use crate::model::{Queue, Source, Tenant};
use crate::state::AppState;

/// Take a slot of the tenant's `kind` quota for `id`, or say which limit
/// is reached.
async fn reserve(state: &AppState, tenant: &str, kind: &str, id: &str, limit: u64) -> Result<()> {
    if state.store.reserve(tenant, kind, id, limit).await? {
        return Ok(());
    }
    let name = if kind == "sources" {
        "maxSources"
    } else {
        "maxQueues"
    };
    Err(ServiceError::Quota(format!(
        "limit {name} ({limit}) reached"
    )))
}

/// Create `s` within its tenant's `limit` of sources. A tenant deleted
/// while this ran sees the source removed again (`NotFound`).
pub async fn create_source(state: &AppState, s: &Source, limit: u64) -> Result<()> {
    reserve(state, &s.tenant_id, "sources", &s.id, limit).await?;
    state.store.create_source(s).await?;
    if state.store.tenant(&s.tenant_id).await?.is_none() {
        remove_source(state, s).await?;
        return Err(ServiceError::NotFound);
    }
    Ok(())
}

pub async fn update_source(state: &AppState, s: &Source) -> Result<()> {
    state.store.update_source(s).await?;
    state.sources.forget(&s.ingest_key);
    Ok(())
}

/// Delete a source with its queues and messages; this node's caches forget
/// the source and every queue it had.
pub async fn remove_source(state: &AppState, s: &Source) -> Result<()> {
    let queue_ids = state.store.source_queue_ids(&s.id).await?;
    state.store.delete_source(s).await?;
    state.sources.forget(&s.ingest_key);
    state.routes.forget(&s.id);
    for q in &queue_ids {
        state.queues.forget(q);
    }
    state.usage.forget(&s.tenant_id);
    Ok(())
}

/// Create `q` within its tenant's `limit` of queues (see `create_source`).
pub async fn create_queue(state: &AppState, q: &Queue, limit: u64) -> Result<()> {
    reserve(state, &q.tenant_id, "queues", &q.id, limit).await?;
    state.store.create_queue(q).await?;
    state.routes.forget(&q.source_id);
    if state.store.tenant(&q.tenant_id).await?.is_none() {
        delete_queue(state, q).await?;
        return Err(ServiceError::NotFound);
    }
    Ok(())
}

/// Write a queue's new name, policy or filter; the cache holds the new
/// record and this node re-reads the source's routes.
pub async fn update_queue(state: &AppState, q: Queue) -> Result<Arc<Queue>> {
    state.store.update_queue(&q).await?;
    state.routes.forget(&q.source_id);
    let q = Arc::new(q);
    state.queues.put(&q.id, q.clone());
    Ok(q)
}

pub async fn delete_queue(state: &AppState, q: &Queue) -> Result<()> {
    state.store.delete_queue(q).await?;
    state.queues.forget(&q.id);
    state.routes.forget(&q.source_id);
    Ok(())
}

pub async fn update_tenant(state: &AppState, t: &Tenant) -> Result<()> {
    state.store.update_tenant(t).await?;
    state.tenants.forget(&t.id);
    Ok(())
}

/// Delete a tenant: its tokens are revoked first (so no live token can
/// create anything while the rest goes), then the tenant record (creates
/// that raced with this see it gone and undo themselves), then its sources
/// (ingest answers 404), queues and messages, token records and index
/// sets; this node's caches forget all of it.
pub async fn delete_tenant(state: &AppState, t: &Tenant) -> Result<()> {
    let tokens = state.store.tokens(&t.id).await?;
    for mut tok in tokens.clone() {
        super::tokens::revoke(state, &mut tok).await?;
    }
    state.store.retire_tenant(&t.id).await?;
    state.tenants.forget(&t.id);
    for s in state.store.sources(&t.id).await? {
        remove_source(state, &s).await?;
    }
    for q in state.store.queues(&t.id).await? {
        delete_queue(state, &q).await?;
    }
    let token_ids: Vec<String> = tokens.into_iter().map(|t| t.id).collect();
    state.store.delete_tenant(&t.id, &token_ids).await?;
    state.tenants.forget(&t.id);
    state.usage.forget(&t.id);
    Ok(())
}
