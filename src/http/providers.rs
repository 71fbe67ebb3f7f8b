//! `GET /v1/providers`: the verification presets and what each needs, so a
//! user (or the CLI) can set up a source without reading the docs.

use actix_web::HttpResponse;
use serde::Serialize;

use super::auth::Principal;
use super::error::ApiError;
use super::openapi::Items;
use crate::model::Scope;
use crate::verify::presets::PRESETS;
use crate::verify::spec::{Check, Field, Key, Part, Spec};

/// One preset, as `GET /v1/providers` lists it.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProviderView {
    /// The `verification.type` to use.
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub name: &'static str,
    /// What to put in `verification.secrets` (several for rotation).
    pub secrets: &'static str,
    /// `text`, `whsec` (base64, optionally `whsec_`), `ed25519` (hex public
    /// key), `p256` (base64 DER public key) or `username:password`.
    pub secret_form: &'static str,
    /// How deliveries are checked, in a few words.
    pub scheme: String,
    /// The documented tolerance of the signed timestamp, when there is one.
    pub tolerance_seconds: Option<u64>,
    /// Whether the signature covers the URL: set `signedUrl` when the
    /// provider calls a URL other than the relay's ingest URL.
    pub signs_url: bool,
    /// Where the dedupe key comes from.
    pub delivery_id: Option<String>,
    /// Where `eventType` comes from.
    pub event_type: Option<String>,
    /// A handshake the relay answers itself.
    pub handshake: Option<&'static str>,
    pub docs: &'static str,
}

fn field(f: &Field) -> String {
    match f {
        Field::Header(h) => format!("header {h}"),
        Field::Headers(hs) => format!("header {}", hs.join(" or ")),
        Field::Json(p) => format!("body {p}"),
        Field::HeaderDotJson(h, p) => format!("header {h} + \".\" + body {p}"),
        Field::Custom(_) => "provider-specific (see docs/providers.md)".into(),
    }
}

fn view(s: &Spec) -> ProviderView {
    let (scheme, signs_url) = match &s.check {
        Check::Token { header } => (format!("shared token in {header}"), false),
        Check::Basic => ("HTTP basic authentication".into(), false),
        Check::Custom { .. } => ("provider-specific signature".into(), s.name == "twilio"),
        Check::Sign { alg, content, .. } => {
            let a = match alg {
                crate::verify::spec::SigAlg::Hmac(a) => format!("HMAC-{a:?}").to_uppercase(),
                crate::verify::spec::SigAlg::Ed25519 => "Ed25519".into(),
                crate::verify::spec::SigAlg::EcdsaP256 => "ECDSA P-256".into(),
            };
            (a, content.iter().any(|p| matches!(p, Part::Url)))
        }
    };
    ProviderView {
        kind: s.name,
        name: s.title,
        secrets: s.secret,
        secret_form: match s.key {
            Key::Text => "text",
            Key::Whsec => "whsec",
            Key::Ed25519 => "ed25519",
            Key::P256 => "p256",
            Key::UserPass => "username:password",
        },
        scheme,
        tolerance_seconds: s.default_tolerance(),
        signs_url,
        delivery_id: s.delivery_id.as_ref().map(field),
        event_type: s.event_type.as_ref().map(field),
        handshake: match (s.answer, s.get) {
            (Some(_), _) => Some("signed challenge, answered at ingest"),
            (None, Some(_)) => Some("GET challenge, answered at ingest"),
            (None, None) => None,
        },
        docs: s.docs,
    }
}

#[utoipa::path(get, path = "/v1/providers", tag = "sources", operation_id = "provider.list", summary = "The verification presets and what each needs", responses((status = 200, body = Items<ProviderView>)), security(("tenant" = ["manage", "read"])))]
pub async fn list(who: Principal) -> Result<HttpResponse, ApiError> {
    if !matches!(who, Principal::Admin) {
        who.tenant(&[Scope::Manage, Scope::Read])?;
    }
    Ok(HttpResponse::Ok().json(Items {
        items: PRESETS.iter().map(view).collect::<Vec<_>>(),
    }))
}
