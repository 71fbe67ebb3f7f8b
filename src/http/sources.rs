//! Source management (tenant `manage` scope; `read` may list and get).

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use super::auth::Principal;
use super::error::{parse_json, ApiError};
use super::openapi::{SourceStats, SourceView};
use super::{tenant_source, Data};
use crate::ids;
use crate::model::Scope;
use crate::model::{
    now_rfc3339, CustomResponse, Dedupe, Handshake, Source, DEFAULT_MAX_BODY,
    DEFAULT_RETENTION_HOURS, MAX_MAX_BODY, MAX_RETENTION_HOURS,
};
use crate::routing::EventTypeRule;
use crate::state::AppState;
use crate::verify::Verification;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CreateSource {
    name: String,
    /// See docs/providers.md for every scheme.
    #[schema(value_type = Object)]
    verification: Verification,
    max_body_bytes: Option<u64>,
    retention_hours: Option<u32>,
    dedupe: Option<Dedupe>,
    response: Option<CustomResponse>,
    #[schema(value_type = Option<Object>)]
    handshake: Option<Handshake>,
    /// Where to read the event type (overrides the preset's).
    event_type: Option<EventTypeRule>,
}

/// PATCH body: absent = unchanged; `null` clears the optional ones.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct PatchSource {
    name: Option<String>,
    #[schema(value_type = Option<Object>)]
    verification: Option<Verification>,
    max_body_bytes: Option<u64>,
    retention_hours: Option<u32>,
    /// `null` removes it.
    #[serde(default, with = "serde_with_double_option")]
    #[schema(value_type = Option<Dedupe>)]
    dedupe: Option<Option<Dedupe>>,
    /// `null` removes it.
    #[serde(default, with = "serde_with_double_option")]
    #[schema(value_type = Option<CustomResponse>)]
    response: Option<Option<CustomResponse>>,
    /// `null` removes it.
    #[serde(default, with = "serde_with_double_option")]
    #[schema(value_type = Option<Object>)]
    handshake: Option<Option<Handshake>>,
    /// `null` removes it (the preset's rule applies again).
    #[serde(default, with = "serde_with_double_option")]
    #[schema(value_type = Option<EventTypeRule>)]
    event_type: Option<Option<EventTypeRule>>,
}

use super::error::double_option as serde_with_double_option;

async fn view(state: &AppState, s: Source) -> Result<SourceView, ApiError> {
    let queues = state.store.source_queue_ids(&s.id).await?;
    let verification_failures =
        state.store.verification_failures(&s.id).await? + state.verify_failures.pending(&s.id);
    Ok(SourceView {
        handshake: s.handshake.map(|h| match h {
            Handshake::GetChallenge { verify_token } => Handshake::GetChallenge {
                verify_token: verify_token.map(|_| "****".into()),
            },
            other => other,
        }),
        stats: SourceStats {
            verification_failures,
        },
        ingest_url: format!("{}/in/{}", state.settings.public_url, s.ingest_key),
        verification: s.verification.redacted(),
        id: s.id,
        name: s.name,
        max_body_bytes: s.max_body_bytes,
        retention_hours: s.retention_hours,
        dedupe: s.dedupe,
        response: s.response,
        event_type: s.event_type,
        queues,
        created_at: s.created_at,
    })
}

fn check(s: &Source) -> Result<(), ApiError> {
    let name = s.name.trim();
    if name.is_empty() || name.len() > 100 {
        return Err(ApiError::bad("name must be 1..=100 characters"));
    }
    s.verification.validate().map_err(ApiError::bad)?;
    if !(1..=MAX_MAX_BODY).contains(&s.max_body_bytes) {
        return Err(ApiError::bad(format!(
            "maxBodyBytes must be 1..={MAX_MAX_BODY}"
        )));
    }
    if !(1..=MAX_RETENTION_HOURS).contains(&s.retention_hours) {
        return Err(ApiError::bad(format!(
            "retentionHours must be 1..={MAX_RETENTION_HOURS}"
        )));
    }
    if let Some(d) = &s.dedupe {
        match (&d.header, &d.json_pointer) {
            (Some(h), None) if !h.is_empty() && h.len() <= 100 => {}
            (None, Some(p)) if p.starts_with('/') && p.len() <= 200 => {}
            _ => {
                return Err(ApiError::bad(
                    "dedupe needs exactly one of header or jsonPointer (starting with /)",
                ))
            }
        }
        if d.window_seconds
            .is_some_and(|w| !(1..=7 * 86400).contains(&w))
        {
            return Err(ApiError::bad("dedupe.windowSeconds must be 1..=604800"));
        }
    }
    if let Some(e) = &s.event_type {
        e.validate().map_err(ApiError::bad)?;
    }
    if let Some(Handshake::GetChallenge {
        verify_token: Some(t),
    }) = &s.handshake
    {
        if t.len() < 4 || t.len() > 256 {
            return Err(ApiError::bad(
                "handshake.verifyToken must be 4..=256 characters",
            ));
        }
    }
    if let Some(r) = &s.response {
        if !(200..=299).contains(&r.status) {
            return Err(ApiError::bad("response.status must be a 2xx status"));
        }
        if r.body.len() > 64 * 1024 {
            return Err(ApiError::bad("response.body must be at most 64 KiB"));
        }
        if r.content_type
            .as_ref()
            .is_some_and(|c| c.len() > 200 || !c.is_ascii())
        {
            return Err(ApiError::bad(
                "response.contentType is not a valid media type",
            ));
        }
    }
    Ok(())
}

#[utoipa::path(post, path = "/v1/sources", tag = "sources", operation_id = "source.create", summary = "Create a source (ingest endpoint)", request_body = CreateSource, responses((status = 201, body = super::openapi::SourceView), (status = 409, body = super::openapi::Problem, content_type = "application/problem+json", description = "Quota maxSources reached")), security(("tenant" = ["manage"])))]
pub async fn create(
    state: Data,
    who: Principal,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let c = who.tenant(&[Scope::Manage])?;
    let b: CreateSource = parse_json(&body, false)?;
    let s = Source {
        id: ids::source_id(),
        tenant_id: c.sub.clone(),
        name: b.name.trim().to_string(),
        ingest_key: ids::ingest_key(),
        verification: b.verification,
        max_body_bytes: b.max_body_bytes.unwrap_or(DEFAULT_MAX_BODY),
        retention_hours: b.retention_hours.unwrap_or(DEFAULT_RETENTION_HOURS),
        dedupe: b.dedupe,
        response: b.response,
        handshake: b.handshake,
        event_type: b.event_type,
        created_at: now_rfc3339(),
    };
    check(&s)?;
    let limit = super::tenant_limits(&state, &c.sub).await?.max_sources;
    crate::service::catalog::create_source(&state, &s, limit).await?;
    Ok(HttpResponse::Created().json(view(&state, s).await?))
}

#[utoipa::path(get, path = "/v1/sources", tag = "sources", operation_id = "source.list", summary = "List sources", responses((status = 200, body = super::openapi::Items<super::openapi::SourceView>)), security(("tenant" = ["manage", "read"])))]
pub async fn list(state: Data, who: Principal) -> Result<HttpResponse, ApiError> {
    let c = who.tenant(&[Scope::Manage, Scope::Read])?;
    let mut items = vec![];
    for s in state.store.sources(&c.sub).await? {
        items.push(view(&state, s).await?);
    }
    Ok(HttpResponse::Ok().json(super::openapi::Items { items }))
}

#[utoipa::path(get, path = "/v1/sources/{source_id}", tag = "sources", operation_id = "source.get", summary = "A source", params(("source_id" = String, Path, description = "Source id (src_…)")), responses((status = 200, body = super::openapi::SourceView)), security(("tenant" = ["manage", "read"])))]
pub async fn get(
    state: Data,
    who: Principal,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let c = who.tenant(&[Scope::Manage, Scope::Read])?;
    let s = tenant_source(&state, c, &path).await?;
    Ok(HttpResponse::Ok().json(view(&state, s).await?))
}

#[utoipa::path(patch, path = "/v1/sources/{source_id}", tag = "sources", operation_id = "source.update", summary = "Update a source (rotate secrets, limits, dedupe, response)", params(("source_id" = String, Path, description = "Source id (src_…)")), request_body = PatchSource, responses((status = 200, body = super::openapi::SourceView)), security(("tenant" = ["manage"])))]
pub async fn patch(
    state: Data,
    who: Principal,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let c = who.tenant(&[Scope::Manage])?;
    let p: PatchSource = parse_json(&body, false)?;
    let mut s = tenant_source(&state, c, &path).await?;
    if let Some(n) = p.name {
        s.name = n.trim().to_string();
    }
    if let Some(v) = p.verification {
        s.verification = v;
    }
    if let Some(m) = p.max_body_bytes {
        s.max_body_bytes = m;
    }
    if let Some(r) = p.retention_hours {
        s.retention_hours = r;
    }
    if let Some(d) = p.dedupe {
        s.dedupe = d;
    }
    if let Some(r) = p.response {
        s.response = r;
    }
    if let Some(h) = p.handshake {
        s.handshake = h;
    }
    if let Some(e) = p.event_type {
        s.event_type = e;
    }
    check(&s)?;
    crate::service::catalog::update_source(&state, &s).await?;
    Ok(HttpResponse::Ok().json(view(&state, s).await?))
}

#[utoipa::path(delete, path = "/v1/sources/{source_id}", tag = "sources", operation_id = "source.delete", summary = "Delete a source, its queues and messages", params(("source_id" = String, Path, description = "Source id (src_…)")), responses((status = 204, description = "Deleted")), security(("tenant" = ["manage"])))]
pub async fn delete(
    state: Data,
    who: Principal,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let c = who.tenant(&[Scope::Manage])?;
    let s = tenant_source(&state, c, &path).await?;
    crate::service::catalog::remove_source(&state, &s).await?;
    Ok(HttpResponse::NoContent().finish())
}
