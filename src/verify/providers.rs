//! Provider presets, each exactly as the provider documents it. Every
//! function returns the index of the secret that matched (rotation: any of
//! the configured secrets may), or why the delivery was refused.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;

use super::sig::{any_match, check_timestamp, decode, mac, Algorithm, Encoding};
use super::{Delivery, VerifyError};

fn header<'a>(d: &'a Delivery<'_>, name: &str) -> Result<&'a str, VerifyError> {
    d.header(name).ok_or(VerifyError::Missing)
}

fn macs(secrets: &[Vec<u8>], alg: Algorithm, parts: &[&[u8]]) -> Vec<Vec<u8>> {
    secrets.iter().map(|k| mac(alg, k, parts)).collect()
}

fn raw_keys(secrets: &[String]) -> Vec<Vec<u8>> {
    secrets.iter().map(|s| s.as_bytes().to_vec()).collect()
}

/// Stripe: `Stripe-Signature: t=…,v1=…[,v1=…][,v0=…]`, HMAC-SHA256 hex over
/// `{t}.{body}` keyed by the whole secret string (`whsec_` included). Only
/// `v1` signatures count; other schemes are ignored.
pub fn stripe(secrets: &[String], tolerance: u64, d: &Delivery<'_>) -> Result<usize, VerifyError> {
    let h = header(d, "stripe-signature")?;
    let mut t = None;
    let mut v1 = vec![];
    for part in h.split(',') {
        let Some((k, v)) = part.split_once('=') else {
            continue;
        };
        match k.trim() {
            "t" if t.is_none() => t = Some(v.trim()),
            "v1" => v1.extend(decode(Encoding::Hex, v)),
            _ => {}
        }
    }
    let t = t.ok_or(VerifyError::Malformed)?;
    if v1.is_empty() {
        return Err(VerifyError::Malformed);
    }
    check_timestamp(t, d.now, tolerance)?;
    let expected = macs(
        &raw_keys(secrets),
        Algorithm::Sha256,
        &[t.as_bytes(), b".", d.body],
    );
    any_match(&expected, &v1).ok_or(VerifyError::Mismatch)
}

/// GitHub: `X-Hub-Signature-256: sha256=<hex>` over the body.
pub fn github(secrets: &[String], d: &Delivery<'_>) -> Result<usize, VerifyError> {
    let h = header(d, "x-hub-signature-256")?;
    let sig = h
        .trim()
        .strip_prefix("sha256=")
        .and_then(|s| decode(Encoding::Hex, s))
        .ok_or(VerifyError::Malformed)?;
    let expected = macs(&raw_keys(secrets), Algorithm::Sha256, &[d.body]);
    any_match(&expected, &[sig]).ok_or(VerifyError::Mismatch)
}

/// Shopify: `X-Shopify-Hmac-Sha256` = base64 HMAC-SHA256 of the body.
pub fn shopify(secrets: &[String], d: &Delivery<'_>) -> Result<usize, VerifyError> {
    let h = header(d, "x-shopify-hmac-sha256")?;
    let sig = decode(Encoding::Base64, h).ok_or(VerifyError::Malformed)?;
    let expected = macs(&raw_keys(secrets), Algorithm::Sha256, &[d.body]);
    any_match(&expected, &[sig]).ok_or(VerifyError::Mismatch)
}

/// Slack and Zoom share one shape: `v0=<hex>` over `v0:{timestamp}:{body}`.
fn v0_scheme(
    secrets: &[String],
    tolerance: u64,
    d: &Delivery<'_>,
    sig_header: &str,
    ts_header: &str,
) -> Result<usize, VerifyError> {
    let ts = header(d, ts_header)?;
    let sig = header(d, sig_header)?
        .trim()
        .strip_prefix("v0=")
        .and_then(|s| decode(Encoding::Hex, s))
        .ok_or(VerifyError::Malformed)?;
    check_timestamp(ts, d.now, tolerance)?;
    let expected = macs(
        &raw_keys(secrets),
        Algorithm::Sha256,
        &[b"v0:", ts.trim().as_bytes(), b":", d.body],
    );
    any_match(&expected, &[sig]).ok_or(VerifyError::Mismatch)
}

/// Slack: `X-Slack-Signature: v0=<hex>` over `v0:{X-Slack-Request-Timestamp}:{body}`.
pub fn slack(secrets: &[String], tolerance: u64, d: &Delivery<'_>) -> Result<usize, VerifyError> {
    v0_scheme(
        secrets,
        tolerance,
        d,
        "x-slack-signature",
        "x-slack-request-timestamp",
    )
}

/// Zoom: `x-zm-signature: v0=<hex>` over `v0:{x-zm-request-timestamp}:{body}`.
pub fn zoom(secrets: &[String], tolerance: u64, d: &Delivery<'_>) -> Result<usize, VerifyError> {
    v0_scheme(
        secrets,
        tolerance,
        d,
        "x-zm-signature",
        "x-zm-request-timestamp",
    )
}

/// Standard Webhooks key: base64 after the optional `whsec_` prefix.
pub fn standard_key(secret: &str) -> Option<Vec<u8>> {
    B64.decode(secret.strip_prefix("whsec_").unwrap_or(secret))
        .ok()
}

/// Standard Webhooks / Svix: `webhook-id`, `webhook-timestamp`,
/// `webhook-signature` (space-separated `v1,<base64>` entries; other versions
/// and odd entries are skipped) over `{id}.{timestamp}.{body}`. The `svix-*`
/// names are accepted too and win when both sets are present.
pub fn standard(
    secrets: &[String],
    tolerance: u64,
    d: &Delivery<'_>,
) -> Result<usize, VerifyError> {
    let prefix = if d.header("svix-id").is_some() {
        "svix"
    } else {
        "webhook"
    };
    let id = header(d, &format!("{prefix}-id"))?;
    let ts = header(d, &format!("{prefix}-timestamp"))?;
    let sigs = header(d, &format!("{prefix}-signature"))?;
    let presented: Vec<Vec<u8>> = sigs
        .split_whitespace()
        .filter_map(|e| e.split_once(','))
        .filter(|(v, _)| *v == "v1")
        .filter_map(|(_, s)| decode(Encoding::Base64, s))
        .collect();
    if presented.is_empty() {
        return Err(VerifyError::Malformed);
    }
    check_timestamp(ts, d.now, tolerance)?;
    let keys: Vec<Vec<u8>> = secrets.iter().filter_map(|s| standard_key(s)).collect();
    let expected = macs(
        &keys,
        Algorithm::Sha256,
        &[id.as_bytes(), b".", ts.trim().as_bytes(), b".", d.body],
    );
    any_match(&expected, &presented).ok_or(VerifyError::Mismatch)
}

/// Twilio: `X-Twilio-Signature` = base64 HMAC-SHA1 (auth token) of the full
/// URL Twilio called, followed, for form posts, by every parameter name and
/// value sorted by name.
pub fn twilio(secrets: &[String], d: &Delivery<'_>) -> Result<usize, VerifyError> {
    let sig =
        decode(Encoding::Base64, header(d, "x-twilio-signature")?).ok_or(VerifyError::Malformed)?;
    let mut data = d.url.as_bytes().to_vec();
    let form = d
        .header("content-type")
        .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
    if form {
        let mut params: Vec<(String, String)> = url::form_urlencoded::parse(d.body)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        params.sort();
        for (k, v) in params {
            data.extend_from_slice(k.as_bytes());
            data.extend_from_slice(v.as_bytes());
        }
    }
    let expected = macs(&raw_keys(secrets), Algorithm::Sha1, &[&data]);
    any_match(&expected, &[sig]).ok_or(VerifyError::Mismatch)
}
