//! Ingest verification: the one pluggable point that decides whether a
//! delivery really comes from the provider. Each scheme sees the raw request
//! (headers, query, exact body bytes) before anything is parsed or stored,
//! and compares in constant time. Presets also know their provider's
//! delivery id (for dedupe) and handshakes.

mod asym;
mod generic;
pub mod presets;
mod providers;
pub mod sig;
pub mod spec;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use sig::{Algorithm, Encoding};

pub const DEFAULT_TOLERANCE: u64 = 300;

/// The provider-neutral schemes, configured field by field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "type",
    rename_all = "kebab-case",
    rename_all_fields = "camelCase",
    deny_unknown_fields
)]
pub enum Generic {
    /// Accept every delivery (`verified: false` in meta).
    None {},
    /// A shared secret in a header, or in the `token` query parameter.
    Token {
        secrets: Vec<String>,
        #[serde(default = "default_token_header")]
        header: String,
    },
    /// HTTP basic authentication.
    Basic { username: String, password: String },
    /// Generic HMAC over the body, or over a template with a timestamp.
    Hmac {
        secrets: Vec<String>,
        algorithm: Algorithm,
        encoding: Encoding,
        header: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        prefix: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timestamp_header: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        signed_content: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tolerance_seconds: Option<u64>,
    },
}

/// A provider preset a source uses, with the source's settings for it.
#[derive(Clone)]
pub struct Provider {
    pub spec: &'static spec::Spec,
    pub secrets: Vec<String>,
    /// Overrides the provider's documented tolerance (or sets one where
    /// the provider documents none).
    pub tolerance_seconds: Option<u64>,
    /// The exact URL the provider signs (Square, HubSpot, Trello, Twilio),
    /// when it differs from the relay's public ingest URL.
    pub signed_url: Option<String>,
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provider")
            .field("type", &self.spec.name)
            .field("secrets", &self.secrets.len())
            .finish_non_exhaustive()
    }
}

impl PartialEq for Provider {
    fn eq(&self, o: &Self) -> bool {
        self.spec.name == o.spec.name
            && self.secrets == o.secrets
            && self.tolerance_seconds == o.tolerance_seconds
            && self.signed_url == o.signed_url
    }
}

/// A preset's fields on the wire, besides `type`.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ProviderFields {
    secrets: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tolerance_seconds: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    signed_url: Option<String>,
}

/// A source's verification scheme, as configured through the API:
/// `{"type": "none" | "token" | "basic" | "hmac", …}` or
/// `{"type": "<preset>", "secrets": […], "toleranceSeconds"?, "signedUrl"?}`.
#[derive(Debug, Clone, PartialEq)]
pub enum Verification {
    Generic(Generic),
    Provider(Provider),
}

impl Serialize for Verification {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self {
            Verification::Generic(g) => g.serialize(s),
            Verification::Provider(p) => {
                let fields = ProviderFields {
                    secrets: p.secrets.clone(),
                    tolerance_seconds: p.tolerance_seconds,
                    signed_url: p.signed_url.clone(),
                };
                let mut m = s.serialize_map(None)?;
                m.serialize_entry("type", p.spec.name)?;
                m.serialize_entry("secrets", &fields.secrets)?;
                if let Some(t) = fields.tolerance_seconds {
                    m.serialize_entry("toleranceSeconds", &t)?;
                }
                if let Some(u) = &fields.signed_url {
                    m.serialize_entry("signedUrl", u)?;
                }
                m.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for Verification {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let v = serde_json::Value::deserialize(d)?;
        let Some(obj) = v.as_object() else {
            return Err(D::Error::custom("verification must be an object"));
        };
        let ty = match obj.get("type") {
            Some(serde_json::Value::String(t)) => t.clone(),
            _ => return Err(D::Error::custom("verification.type is missing")),
        };
        if let Some(spec) = presets::find(&ty) {
            let mut rest = obj.clone();
            rest.remove("type");
            let f: ProviderFields = serde_json::from_value(serde_json::Value::Object(rest))
                .map_err(|e| D::Error::custom(format!("verification ({ty}): {e}")))?;
            return Ok(Verification::Provider(Provider {
                spec,
                secrets: f.secrets,
                tolerance_seconds: f.tolerance_seconds,
                signed_url: f.signed_url,
            }));
        }
        if !["none", "token", "basic", "hmac"].contains(&ty.as_str()) {
            return Err(D::Error::custom(format!(
                "unknown verification type {ty:?}: none, token, basic, hmac, or a provider preset (GET /v1/providers)"
            )));
        }
        Generic::deserialize(v)
            .map(Verification::Generic)
            .map_err(|e| D::Error::custom(format!("verification ({ty}): {e}")))
    }
}

fn default_token_header() -> String {
    "x-webhook-token".into()
}

/// The parts of an ingest request a scheme may look at.
pub struct Delivery<'a> {
    pub method: &'a str,
    /// Lower-case header names, original values, in arrival order.
    pub headers: &'a [(String, String)],
    /// Raw query string (without `?`).
    pub query: &'a str,
    pub body: &'a [u8],
    /// The full URL the provider called (public base + path + query).
    pub url: &'a str,
    /// Current Unix time in seconds.
    pub now: i64,
}

impl Delivery<'_> {
    /// First value of a header (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn query_param(&self, name: &str) -> Option<String> {
        query_param(self.query, name)
    }

    fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(self.body).ok()
    }
}

pub use crate::query::first as query_param;

/// A successful check.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// False only for scheme `none`.
    pub verified: bool,
    pub scheme: &'static str,
    /// Which configured secret matched (for replies signed with it).
    pub secret_index: Option<usize>,
}

/// Why a delivery was refused. The reason goes to logs and metrics only;
/// the provider gets a generic 401.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
pub enum VerifyError {
    #[error("credential or signature missing")]
    Missing,
    #[error("signature header malformed")]
    Malformed,
    #[error("timestamp outside the tolerance")]
    Stale,
    #[error("signature mismatch")]
    Mismatch,
}

impl VerifyError {
    /// Bounded label value for metrics.
    pub fn label(&self) -> &'static str {
        match self {
            VerifyError::Missing => "missing",
            VerifyError::Malformed => "malformed",
            VerifyError::Stale => "stale",
            VerifyError::Mismatch => "mismatch",
        }
    }
}

/// A reply the relay gives itself, instead of enqueueing (handshakes).
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

impl Verification {
    /// A preset's row, for presets.
    pub fn preset(&self) -> Option<&Provider> {
        match self {
            Verification::Provider(p) => Some(p),
            Verification::Generic(_) => None,
        }
    }

    pub fn scheme(&self) -> &'static str {
        match self {
            Verification::Generic(Generic::None {}) => "none",
            Verification::Generic(Generic::Token { .. }) => "token",
            Verification::Generic(Generic::Basic { .. }) => "basic",
            Verification::Generic(Generic::Hmac { .. }) => "hmac",
            Verification::Provider(p) => p.spec.name,
        }
    }

    /// Check the configuration itself (at create/patch time).
    pub fn validate(&self) -> Result<(), String> {
        match self {
            Verification::Provider(p) => p.spec.validate(&p.settings()),
            Verification::Generic(g) => match g {
                Generic::None {} => Ok(()),
                Generic::Token { secrets, header } => {
                    check_secrets(secrets)?;
                    check_header_name(header, "verification.header")
                }
                Generic::Basic { username, password } => {
                    if username.is_empty() || username.contains(':') || username.len() > 256 {
                        return Err(
                            "verification.username must be 1..=256 characters without ':'".into(),
                        );
                    }
                    if password.len() < 8 || password.len() > 1024 {
                        return Err("verification.password must be 8..=1024 characters".into());
                    }
                    Ok(())
                }
                Generic::Hmac {
                    secrets,
                    header,
                    prefix,
                    timestamp_header,
                    signed_content,
                    tolerance_seconds,
                    ..
                } => {
                    check_secrets(secrets)?;
                    check_header_name(header, "verification.header")?;
                    if let Some(t) = timestamp_header {
                        check_header_name(t, "verification.timestampHeader")?;
                    }
                    if prefix.as_ref().is_some_and(|p| p.len() > 64) {
                        return Err("verification.prefix must be at most 64 characters".into());
                    }
                    if let Some(c) = signed_content {
                        if !c.contains("{body}") || c.len() > 256 {
                            return Err(
                                "verification.signedContent must contain {body} (max 256 characters)"
                                    .into(),
                            );
                        }
                        if c.contains("{timestamp}") && timestamp_header.is_none() {
                            return Err(
                                "verification.signedContent uses {timestamp}: set timestampHeader"
                                    .into(),
                            );
                        }
                    }
                    check_tolerance(*tolerance_seconds)
                }
            },
        }
    }

    /// Where this scheme's credential travels: a header name and a query
    /// parameter name. Neither is ever stored with a message (whether or
    /// not it was the one that matched): a consumer with `read` scope must
    /// not be able to recover a source's secret. Signature headers of HMAC
    /// schemes are not credentials — they are useless without the secret —
    /// and stay, so consumers can re-verify.
    pub fn credential_locations(&self) -> (Option<&str>, Option<&'static str>) {
        match self {
            Verification::Generic(Generic::Token { header, .. }) => (Some(header), Some("token")),
            Verification::Generic(Generic::Basic { .. }) => (Some("authorization"), None),
            Verification::Provider(p) => match &p.spec.check {
                spec::Check::Token { header } => (Some(header), None),
                spec::Check::Basic => (Some("authorization"), None),
                _ => (None, None),
            },
            Verification::Generic(_) => (None, None),
        }
    }

    /// Verify one delivery against this scheme.
    pub fn verify(&self, d: &Delivery<'_>) -> Result<Verdict, VerifyError> {
        let scheme = self.scheme();
        let ok = |i: Option<usize>| Verdict {
            verified: true,
            scheme,
            secret_index: i,
        };
        match self {
            Verification::Provider(p) => p.spec.verify(&p.settings(), d).map(|i| ok(Some(i))),
            Verification::Generic(g) => match g {
                Generic::None {} => Ok(Verdict {
                    verified: false,
                    ..ok(None)
                }),
                Generic::Token { secrets, header } => {
                    generic::token(secrets, header, d).map(|_| ok(None))
                }
                Generic::Basic { username, password } => {
                    generic::basic(username, password, d).map(|_| ok(None))
                }
                Generic::Hmac {
                    secrets,
                    algorithm,
                    encoding,
                    header,
                    prefix,
                    timestamp_header,
                    signed_content,
                    tolerance_seconds,
                } => generic::hmac(
                    &generic::HmacSpec {
                        secrets,
                        algorithm: *algorithm,
                        encoding: *encoding,
                        header,
                        prefix: prefix.as_deref(),
                        timestamp_header: timestamp_header.as_deref(),
                        signed_content: signed_content.as_deref(),
                        tolerance: tolerance_seconds.unwrap_or(DEFAULT_TOLERANCE),
                    },
                    d,
                )
                .map(|i| ok(Some(i))),
            },
        }
    }

    /// The provider's own delivery id, used as dedupe key by the presets.
    pub fn delivery_id(&self, d: &Delivery<'_>) -> Option<String> {
        self.preset()?
            .spec
            .delivery_id
            .as_ref()?
            .read(d)
            .filter(|s| !s.is_empty() && s.len() <= 512)
    }

    /// The event type, where the provider puts it (see docs/providers.md).
    pub fn event_type(&self, d: &Delivery<'_>) -> Option<String> {
        self.preset()?.spec.event_type.as_ref()?.read(d)
    }

    /// A verified handshake the relay answers itself (never enqueued):
    /// Slack `url_verification`, Zoom `endpoint.url_validation`, Discord
    /// `PING`, Twitch `webhook_callback_verification`.
    pub fn handshake(&self, verdict: &Verdict, d: &Delivery<'_>) -> Option<Reply> {
        let p = self.preset()?;
        p.spec.answer(&p.secrets, verdict.secret_index, d)
    }

    /// The same scheme with secrets masked, for API responses.
    pub fn redacted(&self) -> Verification {
        let mut v = self.clone();
        match &mut v {
            Verification::Generic(Generic::None {}) => {}
            Verification::Generic(Generic::Token { secrets, .. })
            | Verification::Generic(Generic::Hmac { secrets, .. }) => mask_all(secrets),
            Verification::Generic(Generic::Basic { password, .. }) => *password = mask(password),
            Verification::Provider(p) => {
                // public keys are not secrets; shown whole
                if !matches!(p.spec.key, spec::Key::Ed25519 | spec::Key::P256) {
                    mask_all(&mut p.secrets)
                }
            }
        }
        v
    }
}

impl Provider {
    fn settings(&self) -> spec::Settings<'_> {
        spec::Settings {
            secrets: &self.secrets,
            tolerance: self.tolerance_seconds,
            signed_url: self.signed_url.as_deref(),
        }
    }
}

fn check_secrets(secrets: &[String]) -> Result<(), String> {
    if secrets.is_empty() || secrets.len() > 10 {
        return Err("verification.secrets must hold 1 to 10 secrets".into());
    }
    if secrets.iter().any(|s| s.len() < 4 || s.len() > 1024) {
        return Err("each verification secret must be 4..=1024 characters".into());
    }
    Ok(())
}

fn check_header_name(h: &str, field: &str) -> Result<(), String> {
    if h.is_empty()
        || h.len() > 100
        || !h
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
    {
        return Err(format!("{field} must be a valid header name"));
    }
    Ok(())
}

fn check_tolerance(t: Option<u64>) -> Result<(), String> {
    match t {
        Some(t) if !(1..=86_400).contains(&t) => {
            Err("verification.toleranceSeconds must be 1..=86400".into())
        }
        _ => Ok(()),
    }
}

/// Constant-time match against every configured secret (rotation): both
/// sides are hashed first so lengths leak nothing, and no early exit.
pub fn any_secret_matches(secrets: &[String], given: &[u8]) -> bool {
    secret_index(secrets, given).is_some()
}

/// Which configured secret `given` is (compared as `any_secret_matches`).
pub fn secret_index(secrets: &[String], given: &[u8]) -> Option<usize> {
    let g = Sha256::digest(given);
    let mut found = None;
    for (i, s) in secrets.iter().enumerate() {
        let hit: bool = Sha256::digest(s.as_bytes()).ct_eq(&g).into();
        if hit && found.is_none() {
            found = Some(i);
        }
    }
    found
}

fn mask(s: &str) -> String {
    let n = s.chars().count();
    let tail: String = s.chars().skip(n.saturating_sub(4)).collect();
    if n <= 8 {
        "****".into()
    } else {
        format!("****{tail}")
    }
}

fn mask_all(secrets: &mut [String]) {
    for s in secrets {
        *s = mask(s);
    }
}

#[cfg(test)]
mod tests;
