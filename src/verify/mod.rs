//! Ingest verification: the one pluggable point that decides whether a
//! delivery really comes from the provider. Each scheme sees the raw request
//! (headers, query, exact body bytes) before anything is parsed or stored,
//! and compares in constant time. Presets also know their provider's
//! delivery id (for dedupe) and handshakes.

mod generic;
mod providers;
pub mod sig;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use sig::{Algorithm, Encoding};

pub const DEFAULT_TOLERANCE: u64 = 300;

/// Settings shared by the provider presets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Preset {
    pub secrets: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tolerance_seconds: Option<u64>,
}

impl Preset {
    fn tolerance(&self) -> u64 {
        self.tolerance_seconds.unwrap_or(DEFAULT_TOLERANCE)
    }
}

/// A source's verification scheme, as configured through the API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "type",
    rename_all = "kebab-case",
    rename_all_fields = "camelCase",
    deny_unknown_fields
)]
pub enum Verification {
    /// Accept every delivery (`verified: false` in meta).
    None {},
    /// A shared secret in a header, or in the `token` query parameter.
    Token {
        secrets: Vec<String>,
        #[serde(default = "default_token_header")]
        header: String,
    },
    /// HTTP basic authentication.
    Basic {
        username: String,
        password: String,
    },
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
    Stripe(Preset),
    Github(Preset),
    Shopify(Preset),
    Slack(Preset),
    StandardWebhooks(Preset),
    Zoom(Preset),
    Twilio(Preset),
}

fn default_token_header() -> String {
    "x-webhook-token".into()
}

/// The parts of an ingest request a scheme may look at.
pub struct Delivery<'a> {
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
    pub fn scheme(&self) -> &'static str {
        match self {
            Verification::None {} => "none",
            Verification::Token { .. } => "token",
            Verification::Basic { .. } => "basic",
            Verification::Hmac { .. } => "hmac",
            Verification::Stripe(_) => "stripe",
            Verification::Github(_) => "github",
            Verification::Shopify(_) => "shopify",
            Verification::Slack(_) => "slack",
            Verification::StandardWebhooks(_) => "standard-webhooks",
            Verification::Zoom(_) => "zoom",
            Verification::Twilio(_) => "twilio",
        }
    }

    /// Check the configuration itself (at create/patch time).
    pub fn validate(&self) -> Result<(), String> {
        match self {
            Verification::None {} => Ok(()),
            Verification::Token { secrets, header } => {
                check_secrets(secrets)?;
                check_header_name(header, "verification.header")
            }
            Verification::Basic { username, password } => {
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
            Verification::Hmac {
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
            Verification::StandardWebhooks(p) => {
                check_secrets(&p.secrets)?;
                if p.secrets
                    .iter()
                    .any(|s| providers::standard_key(s).is_none())
                {
                    return Err(
                        "standard-webhooks secrets must be base64, optionally prefixed whsec_"
                            .into(),
                    );
                }
                check_tolerance(p.tolerance_seconds)
            }
            Verification::Stripe(p)
            | Verification::Github(p)
            | Verification::Shopify(p)
            | Verification::Slack(p)
            | Verification::Zoom(p)
            | Verification::Twilio(p) => {
                check_secrets(&p.secrets)?;
                check_tolerance(p.tolerance_seconds)
            }
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
            Verification::Token { header, .. } => (Some(header), Some("token")),
            Verification::Basic { .. } => (Some("authorization"), None),
            _ => (None, None),
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
            Verification::None {} => Ok(Verdict {
                verified: false,
                ..ok(None)
            }),
            Verification::Token { secrets, header } => {
                generic::token(secrets, header, d).map(|_| ok(None))
            }
            Verification::Basic { username, password } => {
                generic::basic(username, password, d).map(|_| ok(None))
            }
            Verification::Hmac {
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
            Verification::Stripe(p) => {
                providers::stripe(&p.secrets, p.tolerance(), d).map(|i| ok(Some(i)))
            }
            Verification::Github(p) => providers::github(&p.secrets, d).map(|i| ok(Some(i))),
            Verification::Shopify(p) => providers::shopify(&p.secrets, d).map(|i| ok(Some(i))),
            Verification::Slack(p) => {
                providers::slack(&p.secrets, p.tolerance(), d).map(|i| ok(Some(i)))
            }
            Verification::StandardWebhooks(p) => {
                providers::standard(&p.secrets, p.tolerance(), d).map(|i| ok(Some(i)))
            }
            Verification::Zoom(p) => {
                providers::zoom(&p.secrets, p.tolerance(), d).map(|i| ok(Some(i)))
            }
            Verification::Twilio(p) => providers::twilio(&p.secrets, d).map(|i| ok(Some(i))),
        }
    }

    /// The provider's own delivery id, used as dedupe key by the presets.
    pub fn delivery_id(&self, d: &Delivery<'_>) -> Option<String> {
        let from_json = |ptr: &str| {
            d.json()
                .and_then(|v| v.pointer(ptr).and_then(|x| x.as_str().map(String::from)))
        };
        match self {
            Verification::Github(_) => d.header("x-github-delivery").map(String::from),
            Verification::Shopify(_) => d.header("x-shopify-webhook-id").map(String::from),
            Verification::StandardWebhooks(_) => d
                .header("svix-id")
                .or_else(|| d.header("webhook-id"))
                .map(String::from),
            Verification::Stripe(_) => from_json("/id"),
            Verification::Slack(_) => from_json("/event_id"),
            Verification::Twilio(_) => d.header("i-twilio-idempotency-token").map(String::from),
            _ => None,
        }
        .filter(|s| !s.is_empty() && s.len() <= 512)
    }

    /// The event type, where the provider puts it (see docs/providers.md).
    pub fn event_type(&self, d: &Delivery<'_>) -> Option<String> {
        let from_json = |ptr: &str| {
            d.json()
                .and_then(|v| crate::routing::scalar(v.pointer(ptr)?))
        };
        match self {
            Verification::Github(_) => d.header("x-github-event").map(String::from),
            Verification::Shopify(_) => d.header("x-shopify-topic").map(String::from),
            Verification::Stripe(_) | Verification::StandardWebhooks(_) => from_json("/type"),
            Verification::Zoom(_) => from_json("/event"),
            // an Events API callback names its event inside; other payloads
            // (url_verification, app_rate_limited) at the top
            Verification::Slack(_) => {
                let v = d.json()?;
                match v.get("type")?.as_str()? {
                    "event_callback" => crate::routing::scalar(v.pointer("/event/type")?),
                    t => Some(t.to_string()),
                }
            }
            _ => None,
        }
    }

    /// A verified handshake the relay answers itself (never enqueued):
    /// Slack `url_verification`, Zoom `endpoint.url_validation`.
    pub fn handshake(&self, verdict: &Verdict, d: &Delivery<'_>) -> Option<Reply> {
        match self {
            Verification::Slack(_) => {
                let v = d.json()?;
                if v.get("type")?.as_str()? != "url_verification" {
                    return None;
                }
                Some(Reply {
                    content_type: "text/plain; charset=utf-8",
                    body: v.get("challenge")?.as_str()?.as_bytes().to_vec(),
                })
            }
            Verification::Zoom(p) => {
                let v = d.json()?;
                if v.get("event")?.as_str()? != "endpoint.url_validation" {
                    return None;
                }
                let plain = v.pointer("/payload/plainToken")?.as_str()?;
                let secret = p.secrets.get(verdict.secret_index.unwrap_or(0))?;
                let enc = sig::mac(Algorithm::Sha256, secret.as_bytes(), &[plain.as_bytes()]);
                let body =
                    serde_json::json!({"plainToken": plain, "encryptedToken": hex::encode(enc)});
                Some(Reply {
                    content_type: "application/json",
                    body: body.to_string().into_bytes(),
                })
            }
            _ => None,
        }
    }

    /// The same scheme with secrets masked, for API responses.
    pub fn redacted(&self) -> Verification {
        let mut v = self.clone();
        match &mut v {
            Verification::None {} => {}
            Verification::Token { secrets, .. } | Verification::Hmac { secrets, .. } => {
                mask_all(secrets)
            }
            Verification::Basic { password, .. } => *password = mask(password),
            Verification::Stripe(p)
            | Verification::Github(p)
            | Verification::Shopify(p)
            | Verification::Slack(p)
            | Verification::StandardWebhooks(p)
            | Verification::Zoom(p)
            | Verification::Twilio(p) => mask_all(&mut p.secrets),
        }
        v
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
    let g = Sha256::digest(given);
    secrets
        .iter()
        .fold(subtle::Choice::from(0), |acc, s| {
            acc | Sha256::digest(s.as_bytes()).ct_eq(&g)
        })
        .into()
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
