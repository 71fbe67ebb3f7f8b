//! Signature primitives shared by the schemes: HMAC over several parts,
//! constant-time comparison, and timestamp tolerance.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use super::VerifyError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Algorithm {
    Sha1,
    Sha256,
    Sha512,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    Hex,
    Base64,
}

/// HMAC of the concatenation of `parts`.
pub fn mac(alg: Algorithm, key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    fn run<M: Mac + hmac::digest::KeyInit>(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
        let mut m = <M as hmac::digest::KeyInit>::new_from_slice(key).expect("hmac takes any key");
        for p in parts {
            m.update(p);
        }
        m.finalize().into_bytes().to_vec()
    }
    match alg {
        Algorithm::Sha1 => run::<Hmac<sha1::Sha1>>(key, parts),
        Algorithm::Sha256 => run::<Hmac<sha2::Sha256>>(key, parts),
        Algorithm::Sha512 => run::<Hmac<sha2::Sha512>>(key, parts),
    }
}

pub fn encode(enc: Encoding, bytes: &[u8]) -> String {
    match enc {
        Encoding::Hex => hex::encode(bytes),
        Encoding::Base64 => B64.encode(bytes),
    }
}

/// Decode a presented signature; `None` when it is not valid in `enc`.
pub fn decode(enc: Encoding, s: &str) -> Option<Vec<u8>> {
    let s = s.trim();
    match enc {
        Encoding::Hex => hex::decode(s.to_ascii_lowercase()).ok(),
        Encoding::Base64 => B64.decode(s).ok(),
    }
}

/// Constant-time equality (lengths are not secret: every MAC of one
/// algorithm has the same length).
pub fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// Does any expected MAC match any presented signature? Every pair is
/// compared; no early exit reveals which.
pub fn any_match(expected: &[Vec<u8>], presented: &[Vec<u8>]) -> Option<usize> {
    let mut found = None;
    for (i, e) in expected.iter().enumerate() {
        for p in presented {
            if same(e, p) && found.is_none() {
                found = Some(i);
            }
        }
    }
    found
}

/// Parse a Unix timestamp (seconds) and check it is within `tolerance` of
/// `now`, in both directions.
pub fn check_timestamp(ts: &str, now: i64, tolerance: u64) -> Result<i64, VerifyError> {
    let t: i64 = ts.trim().parse().map_err(|_| VerifyError::Malformed)?;
    if now.abs_diff(t) > tolerance {
        return Err(VerifyError::Stale);
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_both_ways() {
        assert!(check_timestamp("1000", 1200, 300).is_ok());
        assert_eq!(check_timestamp("1000", 1301, 300), Err(VerifyError::Stale));
        assert_eq!(check_timestamp("1400", 1000, 300), Err(VerifyError::Stale));
        assert_eq!(check_timestamp("x", 1000, 300), Err(VerifyError::Malformed));
        assert_eq!(
            check_timestamp("99999999999999999999999", 1000, 300),
            Err(VerifyError::Malformed)
        );
    }

    #[test]
    fn known_hmac() {
        // RFC 4231 test case 2
        let m = mac(
            Algorithm::Sha256,
            b"Jefe",
            &[b"what do ya want ", b"for nothing?"],
        );
        assert_eq!(
            hex::encode(m),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
