//! Ingest verification: the one pluggable point that decides whether a
//! delivery really comes from the provider. Each scheme sees the raw request
//! (headers, query, exact body bytes) before anything is parsed or stored.
//! This issue ships `none` and `token`; provider schemes slot in as variants.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A source's verification scheme, as configured through the API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Verification {
    /// Accept every delivery (`verified: false` in meta).
    None {},
    /// A shared secret in a header, or in the `token` query parameter.
    Token {
        secrets: Vec<String>,
        #[serde(default = "default_token_header")]
        header: String,
    },
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
}

impl Delivery<'_> {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn query_param(&self, name: &str) -> Option<String> {
        url::form_urlencoded::parse(self.query.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }
}

/// A successful check.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// False only for scheme `none`.
    pub verified: bool,
    pub scheme: &'static str,
    /// A query parameter that carried a secret and must not be stored.
    pub strip_query_param: Option<&'static str>,
}

/// Why a delivery was refused. The reason goes to logs and metrics only;
/// the provider gets a generic 401.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum VerifyError {
    #[error("credential missing")]
    Missing,
    #[error("credential mismatch")]
    Mismatch,
}

impl VerifyError {
    /// Bounded label value for metrics.
    pub fn label(&self) -> &'static str {
        match self {
            VerifyError::Missing => "missing",
            VerifyError::Mismatch => "mismatch",
        }
    }
}

impl Verification {
    pub fn scheme(&self) -> &'static str {
        match self {
            Verification::None {} => "none",
            Verification::Token { .. } => "token",
        }
    }

    /// Check the configuration itself (at create/patch time).
    pub fn validate(&self) -> Result<(), String> {
        match self {
            Verification::None {} => Ok(()),
            Verification::Token { secrets, header } => {
                check_secrets(secrets)?;
                if header.is_empty()
                    || !header
                        .bytes()
                        .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
                {
                    return Err("verification.header must be a valid header name".into());
                }
                Ok(())
            }
        }
    }

    /// Verify one delivery against this scheme.
    pub fn verify(&self, d: &Delivery<'_>) -> Result<Verdict, VerifyError> {
        match self {
            Verification::None {} => Ok(Verdict {
                verified: false,
                scheme: "none",
                strip_query_param: None,
            }),
            Verification::Token { secrets, header } => {
                let (given, strip) = match d.header(header) {
                    Some(v) => (v.to_string(), None),
                    None => match d.query_param("token") {
                        Some(v) => (v, Some("token")),
                        None => return Err(VerifyError::Missing),
                    },
                };
                if any_secret_matches(secrets, given.as_bytes()) {
                    Ok(Verdict {
                        verified: true,
                        scheme: "token",
                        strip_query_param: strip,
                    })
                } else {
                    Err(VerifyError::Mismatch)
                }
            }
        }
    }

    /// The same scheme with secrets masked, for API responses.
    pub fn redacted(&self) -> Verification {
        match self {
            Verification::None {} => Verification::None {},
            Verification::Token { secrets, header } => Verification::Token {
                secrets: secrets.iter().map(|s| mask(s)).collect(),
                header: header.clone(),
            },
        }
    }
}

fn check_secrets(secrets: &[String]) -> Result<(), String> {
    if secrets.is_empty() || secrets.len() > 10 {
        return Err("verification.secrets must hold 1 to 10 secrets".into());
    }
    if secrets.iter().any(|s| s.len() < 8 || s.len() > 1024) {
        return Err("each verification secret must be 8..=1024 characters".into());
    }
    Ok(())
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
    let tail: String = s
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("****{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivery<'a>(headers: &'a [(String, String)], query: &'a str) -> Delivery<'a> {
        Delivery {
            headers,
            query,
            body: b"{}",
        }
    }

    #[test]
    fn token_in_header_or_query_with_rotation() {
        let v: Verification = serde_json::from_str(
            r#"{"type":"token","secrets":["old-secret-1","new-secret-2"],"header":"X-Webhook-Token"}"#,
        )
        .unwrap();
        v.validate().unwrap();
        let h = vec![("x-webhook-token".to_string(), "old-secret-1".to_string())];
        assert!(v.verify(&delivery(&h, "")).unwrap().verified);
        let q = v.verify(&delivery(&[], "a=1&token=new-secret-2")).unwrap();
        assert_eq!(q.strip_query_param, Some("token"));
        assert_eq!(
            v.verify(&delivery(&[], "token=nope")),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(v.verify(&delivery(&[], "")), Err(VerifyError::Missing));
    }

    #[test]
    fn unknown_fields_and_types_are_refused() {
        assert!(serde_json::from_str::<Verification>(r#"{"type":"none","x":1}"#).is_err());
        assert!(serde_json::from_str::<Verification>(r#"{"type":"bogus"}"#).is_err());
    }

    #[test]
    fn redaction_hides_secrets() {
        let v = Verification::Token {
            secrets: vec!["supersecretvalue".into()],
            header: "x-webhook-token".into(),
        };
        let json = serde_json::to_string(&v.redacted()).unwrap();
        assert!(!json.contains("supersecret"));
        assert!(json.contains("****alue"));
    }
}
