//! Request authentication: who is calling (operator or a tenant token) and
//! the scope checks every `/v1` handler starts with.

use std::future::{ready, Ready};

use actix_web::{dev::Payload, web, FromRequest, HttpRequest};

use super::error::ApiError;
use crate::auth::Claims;
use crate::model::Scope;
use crate::state::AppState;

pub enum Principal {
    Admin,
    Tenant(Claims),
}

fn bearer(req: &HttpRequest) -> Option<&str> {
    let h = req.headers().get(actix_web::http::header::AUTHORIZATION)?;
    let v = h.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Resolve a presented credential.
pub fn resolve(state: &AppState, token: &str) -> Result<Principal, ApiError> {
    if state.keys.is_admin(token) {
        return Ok(Principal::Admin);
    }
    match state.keys.verify_tenant_token(token) {
        Some(c) if !state.revocations.is_revoked(&c.jti) => Ok(Principal::Tenant(c)),
        _ => Err(ApiError::Unauthorized),
    }
}

impl FromRequest for Principal {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let Some(state) = req.app_data::<web::Data<AppState>>() else {
            return ready(Err(ApiError::Internal));
        };
        ready(match bearer(req) {
            Some(t) => resolve(state, t),
            None => Err(ApiError::Unauthorized),
        })
    }
}

impl Principal {
    /// The operator, or 403.
    pub fn admin(&self) -> Result<(), ApiError> {
        match self {
            Principal::Admin => Ok(()),
            Principal::Tenant(_) => Err(ApiError::Forbidden(
                "this operation needs the operator's admin token".into(),
            )),
        }
    }

    /// A tenant token holding one of `scopes`, or 403.
    pub fn tenant(&self, scopes: &[Scope]) -> Result<&Claims, ApiError> {
        match self {
            Principal::Admin => Err(ApiError::Forbidden(
                "this operation needs a tenant token".into(),
            )),
            Principal::Tenant(c) if scopes.iter().any(|s| c.has(*s)) => Ok(c),
            Principal::Tenant(_) => Err(ApiError::Forbidden(format!(
                "the token lacks the required scope ({})",
                scopes
                    .iter()
                    .map(|s| format!("{s:?}").to_lowercase())
                    .collect::<Vec<_>>()
                    .join(" or ")
            ))),
        }
    }
}
