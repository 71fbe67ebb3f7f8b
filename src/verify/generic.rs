//! The provider-neutral schemes: shared token, HTTP basic, generic HMAC.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;

use super::sig::{any_match, check_timestamp, decode, mac, Algorithm, Encoding};
use super::{any_secret_matches, Delivery, VerifyError};

/// Shared token in `header`, or in the `token` query parameter. Returns
/// whether the query parameter carried it.
pub fn token(secrets: &[String], header: &str, d: &Delivery<'_>) -> Result<bool, VerifyError> {
    let (given, in_query) = match d.header(header) {
        Some(v) => (v.to_string(), false),
        None => (d.query_param("token").ok_or(VerifyError::Missing)?, true),
    };
    if any_secret_matches(secrets, given.as_bytes()) {
        Ok(in_query)
    } else {
        Err(VerifyError::Mismatch)
    }
}

/// The decoded `user:pass` of `Authorization: Basic base64(user:pass)`.
fn basic_credential(d: &Delivery<'_>) -> Result<Vec<u8>, VerifyError> {
    let h = d.header("authorization").ok_or(VerifyError::Missing)?;
    let (scheme, value) = h.trim().split_once(' ').ok_or(VerifyError::Malformed)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(VerifyError::Malformed);
    }
    B64.decode(value.trim()).map_err(|_| VerifyError::Malformed)
}

/// HTTP basic: `Authorization: Basic base64(user:pass)`.
pub fn basic(username: &str, password: &str, d: &Delivery<'_>) -> Result<(), VerifyError> {
    let given = basic_credential(d)?;
    let want = format!("{username}:{password}");
    if any_secret_matches(&[want], &given) {
        Ok(())
    } else {
        Err(VerifyError::Mismatch)
    }
}

/// HTTP basic against several `user:pass` secrets (rotation); the index of
/// the one that matched.
pub fn basic_any(secrets: &[String], d: &Delivery<'_>) -> Result<usize, VerifyError> {
    let given = basic_credential(d)?;
    super::secret_index(secrets, &given).ok_or(VerifyError::Mismatch)
}

/// Generic HMAC configuration (see `Verification::Hmac`).
pub struct HmacSpec<'a> {
    pub secrets: &'a [String],
    pub algorithm: Algorithm,
    pub encoding: Encoding,
    pub header: &'a str,
    pub prefix: Option<&'a str>,
    pub timestamp_header: Option<&'a str>,
    pub signed_content: Option<&'a str>,
    pub tolerance: u64,
}

/// Render the signed content: `{timestamp}` and `{body}` placeholders.
pub fn signed_content(template: &str, ts: &str, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + template.len() + ts.len());
    let mut parts = template.split("{body}");
    if let Some(first) = parts.next() {
        out.extend_from_slice(first.replace("{timestamp}", ts).as_bytes());
    }
    for p in parts {
        out.extend_from_slice(body);
        out.extend_from_slice(p.replace("{timestamp}", ts).as_bytes());
    }
    out
}

pub fn hmac(s: &HmacSpec<'_>, d: &Delivery<'_>) -> Result<usize, VerifyError> {
    let raw = d.header(s.header).ok_or(VerifyError::Missing)?.trim();
    let sig = match s.prefix {
        Some(p) => raw.strip_prefix(p).ok_or(VerifyError::Malformed)?,
        None => raw,
    };
    let sig = decode(s.encoding, sig).ok_or(VerifyError::Malformed)?;
    let ts = match s.timestamp_header {
        Some(h) => {
            let ts = d.header(h).ok_or(VerifyError::Missing)?.trim();
            check_timestamp(ts, d.now, s.tolerance)?;
            Some(ts)
        }
        None => None,
    };
    let template = s.signed_content.unwrap_or(if ts.is_some() {
        "{timestamp}.{body}"
    } else {
        "{body}"
    });
    let content = signed_content(template, ts.unwrap_or(""), d.body);
    let expected: Vec<Vec<u8>> = s
        .secrets
        .iter()
        .map(|k| mac(s.algorithm, k.as_bytes(), &[&content]))
        .collect();
    any_match(&expected, &[sig]).ok_or(VerifyError::Mismatch)
}

#[cfg(test)]
mod tests {
    use super::signed_content;

    #[test]
    fn templates() {
        assert_eq!(signed_content("{timestamp}.{body}", "12", b"B"), b"12.B");
        assert_eq!(signed_content("{body}", "", b"B"), b"B");
        assert_eq!(
            signed_content("v1:{timestamp}:{body}:{body}", "1", b"x"),
            b"v1:1:x:x"
        );
    }
}
