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
use crate::model::{now_rfc3339, rfc3339_ms, Scope, TokenRecord};
use crate::state::AppState;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CreateToken {
    scopes: Vec<Scope>,
    queues: Option<Vec<String>>,
    expires_in_seconds: Option<u64>,
}

const DEFAULT_TOKEN_TTL: u64 = 365 * 24 * 3600;
const MAX_TOKEN_TTL: u64 = 10 * 365 * 24 * 3600;

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
    if b.scopes.is_empty() {
        return Err(ApiError::bad("scopes must name at least one scope"));
    }
    let ttl = b.expires_in_seconds.unwrap_or(DEFAULT_TOKEN_TTL);
    // short lifetimes (down to 1 s) are how a browser EventSource is given
    // access without a long-lived credential in its URL
    if !(1..=MAX_TOKEN_TTL).contains(&ttl) {
        return Err(ApiError::bad(format!(
            "expiresInSeconds must be 1..={MAX_TOKEN_TTL}"
        )));
    }
    existing_tenant(&state, &tenant_id).await?;
    let now = chrono::Utc::now().timestamp();
    let mut exp = now + ttl as i64;
    let mut scopes = b.scopes.clone();
    scopes.sort_by_key(|s| *s as u8);
    scopes.dedup();
    if let Some(p) = parent {
        if let Some(s) = scopes.iter().find(|s| !p.has(**s)) {
            return Err(ApiError::Forbidden(format!(
                "cannot mint scope {} the calling token does not hold",
                format!("{s:?}").to_lowercase()
            )));
        }
        exp = exp.min(p.exp);
        if let (Some(pq), None) = (&p.queues, &b.queues) {
            return Err(ApiError::Forbidden(format!(
                "the calling token is limited to {} queue(s); the new token must be too",
                pq.len()
            )));
        }
    }
    if let Some(qs) = &b.queues {
        if qs.is_empty() || qs.len() > 100 {
            return Err(ApiError::bad("queues must list 1..=100 queue ids"));
        }
        for q in qs {
            // an unknown queue is a client error; a store outage is not
            let found = match super::load_queue(&state, q).await {
                Ok(f) => Some(f),
                Err(ApiError::NotFound) => None,
                Err(e) => return Err(e),
            };
            let allowed = parent.is_none_or(|p| p.allows_queue(q));
            if found.is_none_or(|f| f.tenant_id != tenant_id) || !allowed {
                return Err(ApiError::bad(format!("unknown queue {q}")));
            }
        }
    }
    let id = ids::token_id();
    let token = state
        .keys
        .sign_tenant_token(&tenant_id, &id, scopes.clone(), b.queues.clone(), now, exp)
        .map_err(|_| ApiError::Internal)?;
    let rec = TokenRecord {
        id: id.clone(),
        tenant_id,
        scopes,
        queues: b.queues,
        created_at: now_rfc3339(),
        expires_at: rfc3339_ms(exp * 1000),
        revoked_at: None,
    };
    state.store.create_token(&rec).await?;
    // the tenant may have been deleted while this ran: the token was never
    // handed out, so its record simply goes
    if state.store.tenant(&rec.tenant_id).await?.is_none() {
        state.store.delete_token_record(&rec).await?;
        return Err(ApiError::NotFound);
    }
    let mut v = serde_json::to_value(&rec).map_err(|_| ApiError::Internal)?;
    v["token"] = serde_json::Value::String(token);
    Ok(HttpResponse::Created().json(v))
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
    Ok(HttpResponse::Ok().json(serde_json::json!({ "items": items })))
}

/// Mark revoked, publish to every node, apply here at once.
pub(super) async fn revoke_record(state: &AppState, rec: &mut TokenRecord) -> Result<(), ApiError> {
    if rec.revoked_at.is_none() {
        rec.revoked_at = Some(now_rfc3339());
    }
    let exp = chrono::DateTime::parse_from_rfc3339(&rec.expires_at)
        .map(|d| d.timestamp())
        .unwrap_or(i64::MAX / 2);
    state.store.revoke_token(rec, exp).await?;
    state.revocations.add(&rec.id);
    Ok(())
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
    revoke_record(&state, &mut rec).await?;
    Ok(HttpResponse::NoContent().finish())
}
