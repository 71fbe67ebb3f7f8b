//! Tenant tokens: minted by the operator, or by a tenant `manage` token for
//! its own tenant (never wider scopes, queues or lifetime than its own);
//! listed without the token itself; revoked at once on every node.

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use super::auth::Principal;
use super::error::{parse_json, ApiError};
use super::tenants::may_see;
use super::Data;
use crate::ids;
use crate::model::Scope;
use crate::state::AppState;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CreateToken {
    scopes: Vec<Scope>,
    queues: Option<Vec<String>>,
    expires_in_seconds: Option<u64>,
}

const DEFAULT_TOKEN_TTL: u64 = 365 * 24 * 3600;

/// Operator, or a `manage` token of this tenant.
fn may_manage(who: &Principal, tenant_id: &str) -> Result<(), ApiError> {
    may_see(who, tenant_id)?;
    if let Principal::Tenant(_) = who {
        who.tenant(&[Scope::Manage])?;
    }
    Ok(())
}

async fn existing_tenant(state: &AppState, id: &str) -> Result<(), ApiError> {
    if !ids::is_valid(id, "tnt_") || state.store.tenant(id).await?.is_none() {
        return Err(ApiError::NotFound);
    }
    Ok(())
}

#[utoipa::path(post, path = "/v1/tenants/{tenant_id}/tokens", tag = "tokens", operation_id = "token.create", summary = "Mint a tenant token", params(("tenant_id" = String, Path, description = "Tenant id (tnt_…)")), request_body = CreateToken, responses((status = 201, body = super::openapi::TokenCreated)), security(("admin" = []), ("tenant" = ["manage"])))]
pub async fn create(
    state: Data,
    who: Principal,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let tenant_id = path.into_inner();
    may_manage(&who, &tenant_id)?;
    let parent = match &who {
        Principal::Tenant(c) => Some(c),
        Principal::Admin => None,
    };
    let b: CreateToken = parse_json(&body, false)?;
    let (rec, token) = crate::service::tokens::mint(
        &state,
        &tenant_id,
        parent,
        crate::service::tokens::Mint {
            scopes: b.scopes,
            queues: b.queues,
            ttl: b.expires_in_seconds.unwrap_or(DEFAULT_TOKEN_TTL),
        },
    )
    .await?;
    Ok(HttpResponse::Created().json(super::openapi::TokenCreated { record: rec, token }))
}

#[utoipa::path(get, path = "/v1/tenants/{tenant_id}/tokens", tag = "tokens", operation_id = "token.list", summary = "List a tenant's tokens (never the tokens themselves)", params(("tenant_id" = String, Path, description = "Tenant id (tnt_…)")), responses((status = 200, body = super::openapi::Items<crate::model::TokenRecord>)), security(("admin" = []), ("tenant" = ["manage"])))]
pub async fn list(
    state: Data,
    who: Principal,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    may_manage(&who, &path)?;
    existing_tenant(&state, &path).await?;
    let items = state.store.tokens(&path).await?;
    Ok(HttpResponse::Ok().json(super::openapi::Items { items }))
}

#[utoipa::path(delete, path = "/v1/tenants/{tenant_id}/tokens/{token_id}", tag = "tokens", operation_id = "token.revoke", summary = "Revoke a token on every node", params(("tenant_id" = String, Path, description = "Tenant id (tnt_…)"), ("token_id" = String, Path, description = "Token id (tok_…)")), responses((status = 204, description = "Revoked")), security(("admin" = []), ("tenant" = ["manage"])))]
pub async fn revoke(
    state: Data,
    who: Principal,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (tenant_id, token_id) = path.into_inner();
    may_manage(&who, &tenant_id)?;
    if !ids::is_valid(&token_id, "tok_") {
        return Err(ApiError::NotFound);
    }
    let mut rec = match state.store.token(&token_id).await? {
        Some(r) if r.tenant_id == tenant_id => r,
        _ => return Err(ApiError::NotFound),
    };
    crate::service::tokens::revoke(&state, &mut rec).await?;
    Ok(HttpResponse::NoContent().finish())
}
