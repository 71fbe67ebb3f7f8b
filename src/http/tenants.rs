//! Operator routes: tenants, and minting tenant tokens (by the operator or
//! by a tenant `manage` token for its own tenant, never widening scopes).

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use super::auth::Principal;
use super::error::{parse_json, ApiError};
use super::Data;
use crate::ids;
use crate::model::{now_rfc3339, rfc3339_ms, Scope, Tenant, TokenRecord};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateTenant {
    name: String,
}

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
    let t = Tenant {
        id: ids::tenant_id(),
        name: name.to_string(),
        created_at: now_rfc3339(),
    };
    state.store.create_tenant(&t).await?;
    Ok(HttpResponse::Created().json(t))
}

pub async fn list(state: Data, who: Principal) -> Result<HttpResponse, ApiError> {
    who.admin()?;
    let items = state.store.tenants().await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "items": items })))
}

/// The operator, or a tenant token of this very tenant.
fn may_see(who: &Principal, tenant_id: &str) -> Result<(), ApiError> {
    match who {
        Principal::Admin => Ok(()),
        Principal::Tenant(c) if c.sub == tenant_id => Ok(()),
        Principal::Tenant(_) => Err(ApiError::NotFound),
    }
}

pub async fn get(
    state: Data,
    who: Principal,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    may_see(&who, &path)?;
    if !ids::is_valid(&path, "tnt_") {
        return Err(ApiError::NotFound);
    }
    let t = state.store.tenant(&path).await?.ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Ok().json(t))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CreateToken {
    scopes: Vec<Scope>,
    queues: Option<Vec<String>>,
    expires_in_seconds: Option<u64>,
}

const DEFAULT_TOKEN_TTL: u64 = 365 * 24 * 3600;
const MAX_TOKEN_TTL: u64 = 10 * 365 * 24 * 3600;

pub async fn create_token(
    state: Data,
    who: Principal,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let tenant_id = path.into_inner();
    may_see(&who, &tenant_id)?;
    let parent = match &who {
        Principal::Tenant(c) => Some(who.tenant(&[Scope::Manage]).map(|_| c)?),
        Principal::Admin => None,
    };
    let b: CreateToken = parse_json(&body, false)?;
    if b.scopes.is_empty() {
        return Err(ApiError::bad("scopes must name at least one scope"));
    }
    let ttl = b.expires_in_seconds.unwrap_or(DEFAULT_TOKEN_TTL);
    if !(60..=MAX_TOKEN_TTL).contains(&ttl) {
        return Err(ApiError::bad(format!(
            "expiresInSeconds must be 60..={MAX_TOKEN_TTL}"
        )));
    }
    if !ids::is_valid(&tenant_id, "tnt_") || state.store.tenant(&tenant_id).await?.is_none() {
        return Err(ApiError::NotFound);
    }
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
            let found = super::load_queue(&state, q).await.ok();
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
    };
    state.store.create_token(&rec).await?;
    let mut v = serde_json::to_value(&rec).map_err(|_| ApiError::Internal)?;
    v["token"] = serde_json::Value::String(token);
    Ok(HttpResponse::Created().json(v))
}
