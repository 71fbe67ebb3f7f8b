//! Tenant tokens: minting (never stronger than the token that mints it),
//! recording, and revocation on every node.

use super::{Result, ServiceError};
use crate::auth::Claims;
use crate::model::{now_rfc3339, rfc3339_ms, Scope, TokenRecord};
use crate::state::AppState;

/// Longest a token may live.
pub const MAX_TTL: u64 = 10 * 365 * 24 * 3600;

/// What a new token may do.
pub struct Mint {
    pub scopes: Vec<Scope>,
    /// Limit the token to these queues (1..=100 of the tenant's).
    pub queues: Option<Vec<String>>,
    /// Lifetime in seconds (1..=`MAX_TTL`).
    pub ttl: u64,
}

/// Mint a token for `tenant_id`; `parent` is the calling tenant token (none
/// for the operator): the new token holds no scope, queue or lifetime the
/// parent does not. Returns the record (kept) and the token (shown once).
pub async fn mint(
    state: &AppState,
    tenant_id: &str,
    parent: Option<&Claims>,
    m: Mint,
) -> Result<(TokenRecord, String)> {
    if m.scopes.is_empty() {
        return Err(ServiceError::Invalid(
            "scopes must name at least one scope".into(),
        ));
    }
    // short lifetimes (down to 1 s) are how a browser EventSource is given
    // access without a long-lived credential in its URL
    if !(1..=MAX_TTL).contains(&m.ttl) {
        return Err(ServiceError::Invalid(format!(
            "expiresInSeconds must be 1..={MAX_TTL}"
        )));
    }
    if !crate::ids::is_valid(tenant_id, "tnt_") || state.store.tenant(tenant_id).await?.is_none() {
        return Err(ServiceError::NotFound);
    }
    let now = chrono::Utc::now().timestamp();
    let mut exp = now + m.ttl as i64;
    let mut scopes = m.scopes;
    scopes.sort_by_key(|s| *s as u8);
    scopes.dedup();
    if let Some(p) = parent {
        if let Some(s) = scopes.iter().find(|s| !p.has(**s)) {
            return Err(ServiceError::Forbidden(format!(
                "cannot mint scope {} the calling token does not hold",
                format!("{s:?}").to_lowercase()
            )));
        }
        exp = exp.min(p.exp);
        if let (Some(pq), None) = (&p.queues, &m.queues) {
            return Err(ServiceError::Forbidden(format!(
                "the calling token is limited to {} queue(s); the new token must be too",
                pq.len()
            )));
        }
    }
    if let Some(qs) = &m.queues {
        if qs.is_empty() || qs.len() > 100 {
            return Err(ServiceError::Invalid(
                "queues must list 1..=100 queue ids".into(),
            ));
        }
        for q in qs {
            // an unknown queue is a client error; a store outage is not
            let found = if crate::ids::is_valid(q, "q_") {
                state.store.queue(q).await?
            } else {
                None
            };
            let allowed = parent.is_none_or(|p| p.allows_queue(q));
            if found.is_none_or(|f| f.tenant_id != tenant_id) || !allowed {
                return Err(ServiceError::Invalid(format!("unknown queue {q}")));
            }
        }
    }
    let id = crate::ids::token_id();
    let token = state
        .keys
        .sign_tenant_token(tenant_id, &id, scopes.clone(), m.queues.clone(), now, exp)
        .map_err(|_| ServiceError::Internal)?;
    let rec = TokenRecord {
        id,
        tenant_id: tenant_id.into(),
        scopes,
        queues: m.queues,
        created_at: now_rfc3339(),
        expires_at: rfc3339_ms(exp * 1000),
        revoked_at: None,
    };
    state.store.create_token(&rec).await?;
    // the tenant may have been deleted while this ran: the token was never
    // handed out, so its record simply goes
    if state.store.tenant(&rec.tenant_id).await?.is_none() {
        state.store.delete_token_record(&rec).await?;
        return Err(ServiceError::NotFound);
    }
    Ok((rec, token))
}

/// Mark revoked, publish to every node, apply here at once.
pub async fn revoke(state: &AppState, rec: &mut TokenRecord) -> Result<()> {
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
