//! Tenants: created, limited and deleted by the operator; a tenant's own
//! token may read its tenant (limits and usage).

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use super::auth::Principal;
use super::error::{parse_json, ApiError};
use super::openapi::{Items, TenantView};
use super::Data;
use crate::ids;
use crate::model::{now_rfc3339, LimitOverrides, Scope, Tenant};
use crate::state::AppState;
use crate::store::Usage;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct CreateTenant {
    name: String,
    limits: Option<LimitOverrides>,
}

#[utoipa::path(post, path = "/v1/tenants", tag = "tenants", operation_id = "tenant.create", summary = "Create a tenant", request_body = CreateTenant, responses((status = 201, body = super::openapi::TenantView)), security(("admin" = [])))]
pub async fn create(
    state: Data,
    who: Principal,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    who.admin()?;
    let b: CreateTenant = parse_json(&body, false)?;
    let name = b.name.trim();
    if name.is_empty() || name.len() > 100 {
        return Err(ApiError::bad("name must be 1..=100 characters"));
    }
    let limits = b.limits.unwrap_or_default();
    limits.validate().map_err(ApiError::bad)?;
    let t = Tenant {
        id: ids::tenant_id(),
        name: name.to_string(),
        created_at: now_rfc3339(),
        limits,
    };
    state.store.create_tenant(&t).await?;
    Ok(HttpResponse::Created().json(view(&state, &t, None)))
}

/// A tenant with its effective limits (and usage, when known).
fn view(state: &AppState, t: &Tenant, usage: Option<Usage>) -> TenantView {
    TenantView {
        id: t.id.clone(),
        name: t.name.clone(),
        created_at: t.created_at.clone(),
        limits: state.settings.limits.with(&t.limits),
        limit_overrides: t.limits,
        usage,
    }
}

#[utoipa::path(get, path = "/v1/tenants", tag = "tenants", operation_id = "tenant.list", summary = "List tenants", responses((status = 200, body = super::openapi::Items<super::openapi::TenantView>)), security(("admin" = [])))]
pub async fn list(state: Data, who: Principal) -> Result<HttpResponse, ApiError> {
    who.admin()?;
    let items = state
        .store
        .tenants()
        .await?
        .iter()
        .map(|t| view(&state, t, None))
        .collect();
    Ok(HttpResponse::Ok().json(Items { items }))
}

/// The operator, or a tenant token of this very tenant (another tenant's
/// id is indistinguishable from a missing one).
pub(super) fn may_see(who: &Principal, tenant_id: &str) -> Result<(), ApiError> {
    match who {
        Principal::Admin => Ok(()),
        Principal::Tenant(c) if c.sub == tenant_id => Ok(()),
        Principal::Tenant(_) => Err(ApiError::NotFound),
    }
}

async fn load(state: &AppState, id: &str) -> Result<Tenant, ApiError> {
    if !ids::is_valid(id, "tnt_") {
        return Err(ApiError::NotFound);
    }
    state.store.tenant(id).await?.ok_or(ApiError::NotFound)
}

#[utoipa::path(get, path = "/v1/tenants/{tenant_id}", tag = "tenants", operation_id = "tenant.get", summary = "A tenant with limits and usage", params(("tenant_id" = String, Path, description = "Tenant id (tnt_…)")), responses((status = 200, body = super::openapi::TenantView)), security(("admin" = []), ("tenant" = ["manage", "read"])))]
pub async fn get(
    state: Data,
    who: Principal,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    may_see(&who, &path)?;
    if let Principal::Tenant(_) = who {
        who.tenant(&[Scope::Manage, Scope::Read])?;
    }
    let t = load(&state, &path).await?;
    let usage = state.store.usage(&t.id).await?;
    Ok(HttpResponse::Ok().json(view(&state, &t, Some(usage))))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct PatchTenant {
    name: Option<String>,
    /// Replaces the overrides; omitted fields fall back to the defaults.
    limits: Option<LimitOverrides>,
}

#[utoipa::path(patch, path = "/v1/tenants/{tenant_id}", tag = "tenants", operation_id = "tenant.update", summary = "Rename a tenant or set its limits", params(("tenant_id" = String, Path, description = "Tenant id (tnt_…)")), request_body = PatchTenant, responses((status = 200, body = super::openapi::TenantView)), security(("admin" = [])))]
pub async fn patch(
    state: Data,
    who: Principal,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    may_see(&who, &path)?;
    who.admin()?;
    let p: PatchTenant = parse_json(&body, false)?;
    let mut t = load(&state, &path).await?;
    if let Some(n) = p.name {
        let n = n.trim();
        if n.is_empty() || n.len() > 100 {
            return Err(ApiError::bad("name must be 1..=100 characters"));
        }
        t.name = n.to_string();
    }
    if let Some(l) = p.limits {
        l.validate().map_err(ApiError::bad)?;
        t.limits = l;
    }
    crate::service::catalog::update_tenant(&state, &t).await?;
    let usage = state.store.usage(&t.id).await?;
    Ok(HttpResponse::Ok().json(view(&state, &t, Some(usage))))
}

/// Delete a tenant and everything it has (see
/// `service::catalog::delete_tenant` for the order).
#[utoipa::path(delete, path = "/v1/tenants/{tenant_id}", tag = "tenants", operation_id = "tenant.delete", summary = "Delete a tenant, its sources, queues and messages; revoke its tokens", params(("tenant_id" = String, Path, description = "Tenant id (tnt_…)")), responses((status = 204, description = "Deleted")), security(("admin" = [])))]
pub async fn delete(
    state: Data,
    who: Principal,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    may_see(&who, &path)?;
    who.admin()?;
    let t = load(&state, &path).await?;
    crate::service::catalog::delete_tenant(&state, &t).await?;
    Ok(HttpResponse::NoContent().finish())
}
