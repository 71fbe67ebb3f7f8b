//! Asymmetric provider signatures — Ed25519 (Discord) and ECDSA P-256 with
//! SHA-256 (SendGrid) — through aws-lc-rs, the crypto library the relay
//! already links for its tokens. Secrets are the providers' public keys.

use aws_lc_rs::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_ASN1, ED25519};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;

use super::VerifyError;

/// The DER prefix of a P-256 SubjectPublicKeyInfo: SEQUENCE { SEQUENCE {
/// id-ecPublicKey, prime256v1 }, BIT STRING (0 unused bits) … }, followed by
/// the 65-byte uncompressed point.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// An Ed25519 public key from its hex form.
pub fn ed25519_key(s: &str) -> Option<Vec<u8>> {
    hex::decode(s.trim()).ok().filter(|k| k.len() == 32)
}

/// A P-256 public key (uncompressed point) from base64 SubjectPublicKeyInfo
/// DER, as providers show it (a PEM's body works too), or a base64 point.
pub fn p256_key(s: &str) -> Option<Vec<u8>> {
    let body: String = s
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect::<String>()
        .split_whitespace()
        .collect();
    let der = B64.decode(body).ok()?;
    let point = match der.strip_prefix(&P256_SPKI_PREFIX[..]) {
        Some(p) => p.to_vec(),
        None => der,
    };
    (point.len() == 65 && point[0] == 4).then_some(point)
}

fn first_valid(
    keys: impl Iterator<Item = Option<Vec<u8>>>,
    mut ok: impl FnMut(&[u8]) -> bool,
) -> Result<usize, VerifyError> {
    let mut found = None;
    for (i, k) in keys.enumerate() {
        if let Some(k) = k {
            if ok(&k) && found.is_none() {
                found = Some(i);
            }
        }
    }
    found.ok_or(VerifyError::Mismatch)
}

/// Index of the first key under which any presented signature verifies.
pub fn ed25519(keys: &[String], msg: &[u8], sigs: &[Vec<u8>]) -> Result<usize, VerifyError> {
    first_valid(keys.iter().map(|k| ed25519_key(k)), |k| {
        let pk = UnparsedPublicKey::new(&ED25519, k);
        sigs.iter().any(|s| pk.verify(msg, s).is_ok())
    })
}

pub fn ecdsa_p256(keys: &[String], msg: &[u8], sigs: &[Vec<u8>]) -> Result<usize, VerifyError> {
    first_valid(keys.iter().map(|k| p256_key(k)), |k| {
        let pk = UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, k);
        sigs.iter().any(|s| pk.verify(msg, s).is_ok())
    })
}
