//! The schemes a preset row cannot express as data (`spec::Check::Custom`)
//! and the event types that need a rule of their own. Every check returns
//! the index of the secret that matched (rotation: any of the configured
//! secrets may), or why the delivery was refused.

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
    tolerance: Option<u64>,
    d: &Delivery<'_>,
) -> Result<usize, VerifyError> {
    let tolerance = tolerance.unwrap_or(super::DEFAULT_TOLERANCE);
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
pub fn twilio(secrets: &[String], _: Option<u64>, d: &Delivery<'_>) -> Result<usize, VerifyError> {
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

/// Mailgun: the signature travels in the body — JSON
/// `{"signature": {"timestamp", "token", "signature"}}`, or the form fields
/// `timestamp`, `token`, `signature` — as hex HMAC-SHA256 of
/// `{timestamp}{token}` with the webhook signing key. The body itself is
/// not signed; replays are caught by dedupe on the event id. Mailgun
/// documents no tolerance (the source's `toleranceSeconds` applies).
pub fn mailgun(
    secrets: &[String],
    tolerance: Option<u64>,
    d: &Delivery<'_>,
) -> Result<usize, VerifyError> {
    let fields = match d.json() {
        Some(v) => {
            let s = v.get("signature").ok_or(VerifyError::Missing)?;
            let get = |k: &str| s.get(k).and_then(crate::routing::scalar);
            (get("timestamp"), get("token"), get("signature"))
        }
        None => {
            let get = |k: &str| {
                url::form_urlencoded::parse(d.body)
                    .find(|(n, _)| n == k)
                    .map(|(_, v)| v.into_owned())
            };
            (get("timestamp"), get("token"), get("signature"))
        }
    };
    let (Some(ts), Some(token), Some(sig)) = fields else {
        return Err(VerifyError::Missing);
    };
    let sig = decode(Encoding::Hex, &sig).ok_or(VerifyError::Malformed)?;
    match tolerance {
        Some(t) => {
            check_timestamp(&ts, d.now, t)?;
        }
        None => {
            ts.trim()
                .parse::<i64>()
                .map_err(|_| VerifyError::Malformed)?;
        }
    }
    let expected = macs(
        &raw_keys(secrets),
        Algorithm::Sha256,
        &[ts.as_bytes(), token.as_bytes()],
    );
    any_match(&expected, &[sig]).ok_or(VerifyError::Mismatch)
}

/// Slack: an Events API callback names its event inside (`event.type`);
/// other payloads (`url_verification`, `app_rate_limited`) at the top.
pub fn slack_event_type(d: &Delivery<'_>) -> Option<String> {
    let v = d.json()?;
    match v.get("type")?.as_str()? {
        "event_callback" => crate::routing::scalar(v.pointer("/event/type")?),
        t => Some(t.to_string()),
    }
}

/// Telegram: an update carries `update_id` and exactly one other field,
/// whose name is the kind of update (`message`, `callback_query`, …).
pub fn telegram_event_type(d: &Delivery<'_>) -> Option<String> {
    let v = d.json()?;
    v.as_object()?.keys().find(|k| *k != "update_id").cloned()
}
