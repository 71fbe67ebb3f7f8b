//! A provider preset as data: where the signature travels and how it is
//! encoded, what bytes are signed, where the timestamp is and how fresh it
//! must be, where the delivery id and event type are, and which handshake
//! the relay answers itself. `presets.rs` holds the table; this module
//! evaluates a row against a delivery. Schemes no row can express (Twilio's
//! sorted form parameters, Mailgun's in-body signature, Standard Webhooks'
//! two header sets) name a function instead.

use super::sig::{any_match, decode, mac, Algorithm, Encoding};
use super::{asym, Delivery, Reply, VerifyError};
use crate::routing::scalar;

/// One provider preset.
pub struct Spec {
    /// The `type` a source's `verification` names (`"github"`).
    pub name: &'static str,
    /// The provider, for people (`"GitHub"`).
    pub title: &'static str,
    /// What to paste into `secrets`.
    pub secret: &'static str,
    /// What form each secret must have.
    pub key: Key,
    pub check: Check,
    pub delivery_id: Option<Field>,
    pub event_type: Option<Field>,
    /// A signed request the relay answers itself instead of storing.
    pub answer: Option<Answer>,
    /// An unsigned `GET`/`HEAD` handshake (see `ingest::challenge`).
    pub get: Option<GetHandshake>,
    /// The provider's documentation of the scheme.
    pub docs: &'static str,
}

/// How a delivery proves it comes from the provider.
pub enum Check {
    /// A shared secret, verbatim in a header.
    Token { header: &'static str },
    /// HTTP basic authentication; each secret is `username:password`.
    Basic,
    /// A signature over a template of the request.
    Sign {
        alg: SigAlg,
        sig: Presented,
        ts: Option<Stamp>,
        content: &'static [Part],
    },
    /// A scheme of its own: returns the index of the matching secret; gets
    /// the source's tolerance or `tolerance`, the documented one.
    Custom {
        verify: CustomCheck,
        tolerance: Option<u64>,
    },
}

/// A scheme's own check: (secrets, tolerance, delivery) → matching secret.
pub type CustomCheck = fn(&[String], Option<u64>, &Delivery<'_>) -> Result<usize, VerifyError>;

/// The form of a preset's secrets, checked when a source is saved.
#[derive(Clone, Copy, PartialEq)]
pub enum Key {
    /// Any text, used as given.
    Text,
    /// Base64, optionally prefixed `whsec_` (Standard Webhooks).
    Whsec,
    /// An Ed25519 public key, hex.
    Ed25519,
    /// An ECDSA P-256 public key, base64 DER.
    P256,
    /// `username:password`.
    UserPass,
}

#[derive(Clone, Copy)]
pub enum SigAlg {
    /// HMAC keyed by the secret's bytes as given.
    Hmac(Algorithm),
    /// Ed25519; each secret is a public key in hex.
    Ed25519,
    /// ECDSA P-256 with SHA-256, DER signature; each secret is a public
    /// key (base64 SubjectPublicKeyInfo DER).
    EcdsaP256,
}

/// Where the signature(s) are presented.
pub enum Presented {
    /// One header, after an optional prefix (`sha256=`).
    Header {
        name: &'static str,
        prefix: Option<&'static str>,
        enc: Encoding,
    },
    /// Any of these headers (one signature each).
    Headers {
        names: &'static [&'static str],
        enc: Encoding,
    },
    /// `<prefix>1`, `<prefix>2`, … (one signature each).
    Numbered { prefix: &'static str, enc: Encoding },
    /// A `key=value` list in one header: `sig` may repeat (rotation),
    /// `ts` names the timestamp item (see `StampFrom::InSignature`).
    List {
        name: &'static str,
        sep: char,
        ts: Option<&'static str>,
        sig: &'static str,
        enc: Encoding,
    },
}

/// Where the timestamp is, its unit and the provider's tolerance.
pub struct Stamp {
    pub from: StampFrom,
    pub unit: Unit,
    /// The documented tolerance in seconds; `None`: the provider documents
    /// none, so it is checked only when the source sets `toleranceSeconds`.
    pub tolerance: Option<u64>,
}

pub enum StampFrom {
    Header(&'static str),
    /// The `ts` item of a `Presented::List`.
    InSignature,
    /// A JSON pointer into the body.
    Json(&'static str),
}

#[derive(Clone, Copy)]
pub enum Unit {
    Seconds,
    Millis,
    Rfc3339,
}

/// One piece of the signed content.
pub enum Part {
    Body,
    /// The timestamp exactly as sent.
    Ts,
    /// The URL the provider called (or the source's `signedUrl`).
    Url,
    Method,
    Lit(&'static str),
    Header(&'static str),
}

/// Where a value (delivery id, event type) is read.
pub enum Field {
    Header(&'static str),
    /// The first of these headers that is present.
    Headers(&'static [&'static str]),
    Json(&'static str),
    /// `<header>.<json pointer>` (Sentry: `issue.created`).
    HeaderDotJson(&'static str, &'static str),
    Custom(fn(&Delivery<'_>) -> Option<String>),
}

/// Signed requests the relay answers itself (never stored).
#[derive(Clone, Copy)]
pub enum Answer {
    /// Slack `url_verification`: the `challenge` as text.
    SlackChallenge,
    /// Zoom `endpoint.url_validation`: plainToken + its HMAC.
    ZoomValidation,
    /// Discord `PING` (`{"type": 1}`): `{"type": 1}`.
    DiscordPing,
    /// Twitch `webhook_callback_verification`: the `challenge` as text.
    TwitchChallenge,
}

/// Unsigned handshakes on other methods.
#[derive(Clone, Copy)]
pub enum GetHandshake {
    /// `GET ?challenge=x` → `x` as text (Dropbox).
    EchoChallenge,
    /// `GET` with `X-Okta-Verification-Challenge: x` and the source's token
    /// → `{"verification": "x"}` (Okta event hooks).
    OktaVerification,
}

impl Field {
    pub fn read(&self, d: &Delivery<'_>) -> Option<String> {
        match self {
            Field::Header(h) => d.header(h).map(String::from),
            Field::Headers(hs) => hs.iter().find_map(|h| d.header(h)).map(String::from),
            Field::Json(p) => scalar(d.json()?.pointer(p)?),
            Field::HeaderDotJson(h, p) => {
                let head = d.header(h)?;
                match d.json().and_then(|v| scalar(v.pointer(p)?)) {
                    Some(tail) => Some(format!("{head}.{tail}")),
                    None => Some(head.to_string()),
                }
            }
            Field::Custom(f) => f(d),
        }
    }
}

impl Unit {
    /// Seconds since the epoch of a timestamp in this unit.
    fn seconds(self, ts: &str) -> Result<i64, VerifyError> {
        let ts = ts.trim();
        match self {
            Unit::Seconds => ts.parse().map_err(|_| VerifyError::Malformed),
            Unit::Millis => ts
                .parse::<i64>()
                .map(|ms| ms.div_euclid(1000))
                .map_err(|_| VerifyError::Malformed),
            Unit::Rfc3339 => chrono::DateTime::parse_from_rfc3339(ts)
                .map(|t| t.timestamp())
                .map_err(|_| VerifyError::Malformed),
        }
    }
}

/// The signatures a delivery presents, and the timestamp found in a list
/// header. `Missing` when the header is absent, `Malformed` when nothing in
/// it decodes.
fn presented<'a>(
    p: &Presented,
    d: &'a Delivery<'a>,
) -> Result<(Vec<Vec<u8>>, Option<&'a str>), VerifyError> {
    let mut out = vec![];
    let mut ts = None;
    match p {
        Presented::Header { name, prefix, enc } => {
            let raw = d.header(name).ok_or(VerifyError::Missing)?.trim();
            let s = match prefix {
                Some(pre) => raw.strip_prefix(pre).ok_or(VerifyError::Malformed)?,
                None => raw,
            };
            out.extend(decode(*enc, s));
        }
        Presented::Headers { names, enc } => {
            let found: Vec<&str> = names.iter().filter_map(|n| d.header(n)).collect();
            if found.is_empty() {
                return Err(VerifyError::Missing);
            }
            out.extend(found.into_iter().filter_map(|s| decode(*enc, s)));
        }
        Presented::Numbered { prefix, enc } => {
            let found: Vec<&str> = d
                .headers
                .iter()
                .filter(|(n, _)| {
                    n.len() > prefix.len()
                        && n[..prefix.len()].eq_ignore_ascii_case(prefix)
                        && n[prefix.len()..].bytes().all(|b| b.is_ascii_digit())
                })
                .map(|(_, v)| v.as_str())
                .collect();
            if found.is_empty() {
                return Err(VerifyError::Missing);
            }
            out.extend(found.into_iter().filter_map(|s| decode(*enc, s)));
        }
        Presented::List {
            name,
            sep,
            ts: ts_key,
            sig,
            enc,
        } => {
            let raw = d.header(name).ok_or(VerifyError::Missing)?;
            for item in raw.split(*sep) {
                let Some((k, v)) = item.split_once('=') else {
                    continue;
                };
                let k = k.trim();
                if Some(k) == *ts_key && ts.is_none() {
                    ts = Some(v.trim());
                } else if k == *sig {
                    out.extend(decode(*enc, v));
                }
            }
            if ts_key.is_some() && ts.is_none() {
                return Err(VerifyError::Malformed);
            }
        }
    }
    if out.is_empty() {
        return Err(VerifyError::Malformed);
    }
    Ok((out, ts))
}

/// The timestamp a delivery carries, checked against the tolerance.
fn stamp<'a>(
    s: &Stamp,
    in_sig: Option<&'a str>,
    tolerance: Option<u64>,
    d: &'a Delivery<'a>,
    json: &mut Option<Option<serde_json::Value>>,
) -> Result<String, VerifyError> {
    let raw: String = match &s.from {
        StampFrom::Header(h) => d.header(h).ok_or(VerifyError::Missing)?.trim().to_string(),
        StampFrom::InSignature => in_sig.ok_or(VerifyError::Malformed)?.to_string(),
        StampFrom::Json(p) => {
            let v = json.get_or_insert_with(|| d.json());
            v.as_ref()
                .and_then(|v| scalar(v.pointer(p)?))
                .ok_or(VerifyError::Missing)?
        }
    };
    let at = s.unit.seconds(&raw)?;
    if let Some(tol) = tolerance.or(s.tolerance) {
        if d.now.abs_diff(at) > tol {
            return Err(VerifyError::Stale);
        }
    }
    Ok(raw)
}

/// The signed content of a delivery under a template.
fn content(parts: &[Part], ts: &str, url: &str, d: &Delivery<'_>) -> Vec<u8> {
    let mut out = Vec::with_capacity(d.body.len() + 128);
    for p in parts {
        match p {
            Part::Body => out.extend_from_slice(d.body),
            Part::Ts => out.extend_from_slice(ts.as_bytes()),
            Part::Url => out.extend_from_slice(url.as_bytes()),
            Part::Method => out.extend_from_slice(d.method.as_bytes()),
            Part::Lit(s) => out.extend_from_slice(s.as_bytes()),
            Part::Header(h) => out.extend_from_slice(d.header(h).unwrap_or("").trim().as_bytes()),
        }
    }
    out
}

/// What a source configured for its preset, as the check needs it.
pub struct Settings<'a> {
    pub secrets: &'a [String],
    pub tolerance: Option<u64>,
    pub signed_url: Option<&'a str>,
}

impl Spec {
    /// Verify a delivery; the index of the secret that matched.
    pub fn verify(&self, s: &Settings<'_>, d: &Delivery<'_>) -> Result<usize, VerifyError> {
        match &self.check {
            Check::Token { header } => {
                let given = d.header(header).ok_or(VerifyError::Missing)?;
                super::secret_index(s.secrets, given.as_bytes()).ok_or(VerifyError::Mismatch)
            }
            Check::Basic => super::generic::basic_any(s.secrets, d),
            Check::Custom { verify, tolerance } => verify(s.secrets, s.tolerance.or(*tolerance), d),
            Check::Sign {
                alg,
                sig,
                ts,
                content: parts,
            } => {
                let (sigs, in_sig) = presented(sig, d)?;
                let mut json = None;
                let ts = match ts {
                    Some(st) => stamp(st, in_sig, s.tolerance, d, &mut json)?,
                    None => String::new(),
                };
                let url = s.signed_url.unwrap_or(d.url);
                let signed = content(parts, &ts, url, d);
                match alg {
                    SigAlg::Hmac(a) => {
                        let expected: Vec<Vec<u8>> = s
                            .secrets
                            .iter()
                            .map(|k| mac(*a, k.as_bytes(), &[&signed]))
                            .collect();
                        any_match(&expected, &sigs).ok_or(VerifyError::Mismatch)
                    }
                    SigAlg::Ed25519 => asym::ed25519(s.secrets, &signed, &sigs),
                    SigAlg::EcdsaP256 => asym::ecdsa_p256(s.secrets, &signed, &sigs),
                }
            }
        }
    }

    /// Check a source's settings for this preset (at create/patch).
    pub fn validate(&self, s: &Settings<'_>) -> Result<(), String> {
        super::check_secrets(s.secrets)?;
        let ok = |k: &String| match self.key {
            Key::Text => true,
            Key::Whsec => super::providers::standard_key(k).is_some(),
            Key::Ed25519 => asym::ed25519_key(k).is_some(),
            Key::P256 => asym::p256_key(k).is_some(),
            Key::UserPass => k.split_once(':').is_some_and(|(u, _)| !u.is_empty()),
        };
        if !s.secrets.iter().all(ok) {
            let form = match self.key {
                Key::Text => "text",
                Key::Whsec => "base64, optionally prefixed whsec_",
                Key::Ed25519 => "an Ed25519 public key (64 hex characters)",
                Key::P256 => "an ECDSA P-256 public key (base64 DER)",
                Key::UserPass => "username:password",
            };
            return Err(format!(
                "verification.secrets of {} must each be {form}: {}",
                self.name, self.secret
            ));
        }
        if let Some(u) = s.signed_url {
            if url::Url::parse(u).is_err() || u.len() > 2048 {
                return Err("verification.signedUrl must be an absolute URL".into());
            }
        }
        super::check_tolerance(s.tolerance)
    }

    /// The documented tolerance in seconds, if the scheme has one.
    pub fn default_tolerance(&self) -> Option<u64> {
        match &self.check {
            Check::Sign { ts: Some(s), .. } => s.tolerance,
            Check::Custom { tolerance, .. } => *tolerance,
            _ => None,
        }
    }

    /// Whether the scheme signs a timestamp.
    pub fn timestamped(&self) -> bool {
        matches!(&self.check, Check::Sign { ts: Some(_), .. }) || self.default_tolerance().is_some()
    }

    /// The reply to a verified handshake, if this delivery is one.
    pub fn answer(
        &self,
        secrets: &[String],
        matched: Option<usize>,
        d: &Delivery<'_>,
    ) -> Option<Reply> {
        let text = |s: &str| Reply {
            content_type: "text/plain; charset=utf-8",
            body: s.as_bytes().to_vec(),
        };
        let json = |v: serde_json::Value| Reply {
            content_type: "application/json",
            body: v.to_string().into_bytes(),
        };
        match self.answer? {
            Answer::SlackChallenge => {
                let v = d.json()?;
                (v.get("type")?.as_str()? == "url_verification")
                    .then(|| Some(text(v.get("challenge")?.as_str()?)))?
            }
            Answer::TwitchChallenge => {
                if d.header("twitch-eventsub-message-type")? != "webhook_callback_verification" {
                    return None;
                }
                Some(text(d.json()?.get("challenge")?.as_str()?))
            }
            Answer::DiscordPing => (d.json()?.get("type")?.as_i64()? == 1)
                .then(|| json(serde_json::json!({"type": 1}))),
            Answer::ZoomValidation => {
                let v = d.json()?;
                if v.get("event")?.as_str()? != "endpoint.url_validation" {
                    return None;
                }
                let plain = v.pointer("/payload/plainToken")?.as_str()?;
                let secret = secrets.get(matched.unwrap_or(0))?;
                let enc = mac(Algorithm::Sha256, secret.as_bytes(), &[plain.as_bytes()]);
                Some(json(
                    serde_json::json!({"plainToken": plain, "encryptedToken": hex::encode(enc)}),
                ))
            }
        }
    }
}
