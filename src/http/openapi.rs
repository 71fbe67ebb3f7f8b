//! The response wire types — one type per shape, serialised by the
//! handlers themselves and described from the same definition — and the
//! OpenAPI 3.1 document generated from the handlers' annotations
//! (`#[utoipa::path]`) and these types. A test keeps it equal
//! to `openapi/openapi.json` and to the route table; `hookbay openapi` prints
//! it; the relay serves it at `/openapi.json` with Swagger UI at `/docs`.

use serde::Serialize;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi, ToSchema};

use crate::model::{
    Attempt, Backoff, CustomResponse, Dedupe, DeliveryState, LimitOverrides, Limits, Queue,
    QueueCounts, Scope, TokenRecord,
};

/// RFC 9457 problem details; every error of the API has this shape.
#[derive(Serialize, ToSchema)]
pub struct Problem {
    /// `urn:hookbay:problem:<code>`
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Stable machine-readable code (e.g. `not_found`, `rate_limited`).
    pub code: String,
}

/// `202` answer of ingest (unless the source sets a fixed response).
#[derive(Serialize, ToSchema)]
pub struct Accepted {
    /// Message id (the first message's id for a duplicate).
    pub id: String,
    pub duplicate: bool,
}

pub use crate::store::Usage;

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TenantView {
    pub id: String,
    pub name: String,
    pub created_at: String,
    /// Effective limits.
    pub limits: Limits,
    /// The operator's overrides of the defaults.
    pub limit_overrides: LimitOverrides,
    /// Present on `GET` and `PATCH`.
    pub usage: Option<Usage>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenCreated {
    #[serde(flatten)]
    pub record: TokenRecord,
    /// The JWT. Shown once; the relay keeps only the record.
    pub token: String,
}

#[derive(Serialize, ToSchema)]
pub struct Items<T: ToSchema> {
    pub items: Vec<T>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Page<T: ToSchema> {
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SourceView {
    pub id: String,
    pub name: String,
    /// `<public base>/in/<ingest key>`; POST, PUT or PATCH deliveries here.
    pub ingest_url: String,
    /// The verification scheme, secrets masked (see docs/providers.md).
    #[schema(value_type = Object)]
    pub verification: crate::verify::Verification,
    pub max_body_bytes: u64,
    pub retention_hours: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dedupe: Option<Dedupe>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response: Option<CustomResponse>,
    /// `{"type": "ms-graph"}` or `{"type": "get-challenge", "verifyToken"?}`.
    #[schema(value_type = Option<Object>)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handshake: Option<crate::model::Handshake>,
    /// Where the event type is read, when the source sets it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_type: Option<crate::routing::EventTypeRule>,
    pub queues: Vec<String>,
    pub stats: SourceStats,
    pub created_at: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SourceStats {
    pub verification_failures: u64,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct QueueView {
    #[serde(flatten)]
    pub queue: Queue,
    /// Present on `GET /v1/queues/{id}` and `PATCH`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub counts: Option<QueueCounts>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeadLetter {
    pub message_id: String,
    pub reason: Option<String>,
    pub dead_at: Option<String>,
    pub attempts: u32,
    pub history: Vec<Attempt>,
}

#[derive(Serialize, ToSchema)]
pub struct Replayed {
    pub replayed: u64,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageSummary {
    pub id: String,
    pub source_id: String,
    pub received_at: String,
    pub method: String,
    pub path: String,
    pub query: String,
    pub content_type: Option<String>,
    /// From the preset or the source's rule; `null` when none.
    pub event_type: Option<String>,
    pub size: u64,
    pub verified: bool,
    pub verification: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dedupe_key: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct QueueDelivery {
    pub queue_id: String,
    #[serde(flatten)]
    pub state: DeliveryState,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageDetail {
    #[serde(flatten)]
    pub summary: MessageSummary,
    /// Lower-case names; a repeated header's values joined with ", "
    /// ("; " for cookie), as in the meta.
    pub headers: std::collections::BTreeMap<String, String>,
    /// The body: text when valid UTF-8, else base64 (see `encoding`).
    pub payload: String,
    #[schema(example = "utf8")]
    pub encoding: String,
    pub deliveries: Vec<QueueDelivery>,
}

pub use super::meta::Meta;

/// Data of one `event: message` on `/stream`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StreamEvent<'a> {
    pub payload: String,
    /// `utf8` or `base64`.
    pub encoding: &'a str,
    pub content_type: Option<&'a str>,
    pub meta: Meta<'a>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LeaseExtended {
    pub lease_expires_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct Status {
    pub status: String,
}

/// Adds the security schemes, and the problem+json error responses every
/// operation can give, so no operation documents an error another way.
struct Common;

impl Modify for Common {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        let c = api.components.get_or_insert_with(Default::default);
        c.add_security_scheme(
            "tenant",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some("Tenant token (JWT) with scopes"))
                    .build(),
            ),
        );
        c.add_security_scheme(
            "admin",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("The operator's HOOKBAY_ADMIN_TOKEN"))
                    .build(),
            ),
        );
        c.add_security_scheme(
            "accessToken",
            SecurityScheme::ApiKey(ApiKey::Query(ApiKeyValue::with_description(
                "access_token",
                "Tenant token in the query (for browser EventSource)",
            ))),
        );
        c.add_security_scheme(
            "leaseToken",
            SecurityScheme::ApiKey(ApiKey::Query(ApiKeyValue::with_description(
                "token",
                "Lease token carried by the capability URLs in the meta",
            ))),
        );
        let problem = |d: &str| {
            RefOr::T(
                ResponseBuilder::new()
                    .description(d)
                    .content(
                        "application/problem+json",
                        ContentBuilder::new()
                            .schema(Some(utoipa::openapi::Ref::from_schema_name("Problem")))
                            .build(),
                    )
                    .build(),
            )
        };
        for item in api.paths.paths.values_mut() {
            for op in [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.patch,
                &mut item.delete,
            ]
            .into_iter()
            .flatten()
            {
                let r = &mut op.responses.responses;
                for (code, d) in [
                    ("400", "Invalid request"),
                    ("401", "Missing or invalid credentials"),
                    ("403", "Not allowed for this token"),
                    ("404", "No such resource (or another tenant's)"),
                    ("429", "Rate limited (see Retry-After)"),
                    ("503", "Storage unavailable (see Retry-After)"),
                ] {
                    r.entry(code.into()).or_insert_with(|| problem(d));
                }
            }
        }
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "hookbay",
        description = "Multi-tenant inbound webhook relay on Redis streams. See docs/ for concepts.",
        license(name = "Apache-2.0")
    ),
    paths(
        super::health::healthz,
        super::health::readyz,
        super::health::metrics,
        super::ingest::ingest,
        super::ingest::ingest_put_doc,
        super::ingest::ingest_patch_doc,
        super::ingest::challenge,
        super::ingest::probe,
        super::tenants::create,
        super::tenants::list,
        super::tenants::get,
        super::tenants::patch,
        super::tenants::delete,
        super::tokens::create,
        super::tokens::list,
        super::tokens::revoke,
        super::providers::list,
        super::sources::create,
        super::sources::list,
        super::sources::get,
        super::sources::patch,
        super::sources::delete,
        super::ops::history,
        super::tail::tail,
        super::queues::create,
        super::queues::list,
        super::queues::get,
        super::queues::patch,
        super::queues::delete,
        super::consume::next,
        super::stream::stream,
        super::batch::lease,
        super::batch::settle,
        super::ops::dead_letters,
        super::ops::replay,
        super::filters::test,
        super::consume::settle,
        super::ops::message,
    ),
    components(schemas(
        Problem,
        Scope,
        Backoff,
        StreamEvent,
        Meta,
        super::consume::NackBody,
        super::consume::RejectBody,
        super::consume::ExtendBody
    )),
    modifiers(&Common),
    tags(
        (name = "ingest", description = "Providers deliver webhooks"),
        (name = "consume", description = "Workers pull, stream and settle"),
        (name = "tenants", description = "Operator: tenants and limits"),
        (name = "tokens", description = "Tenant tokens"),
        (name = "sources", description = "Ingest endpoints"),
        (name = "queues", description = "Consumer queues, dead letters, replay"),
        (name = "messages", description = "Stored messages"),
        (name = "ops", description = "Health and metrics"),
    )
)]
pub struct ApiDoc;

/// The document as pretty JSON (what `openapi/openapi.json` holds).
pub fn json() -> String {
    ApiDoc::openapi()
        .to_pretty_json()
        .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}
