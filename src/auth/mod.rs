//! Credentials: the operator's admin token, tenant JWTs with scopes, and the
//! signed lease tokens carried by ack/nack/reject/extend URLs. Signing keys
//! are derived from one secret so each kind of token has its own key.

mod lease;
mod revoke;
mod tenant;

pub use lease::LeaseToken;
pub use revoke::Revocations;
pub use tenant::Claims;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

/// Keys derived from `HOOKBAY_SECRET_KEY` (signing and verifying) and
/// `HOOKBAY_SECRET_KEY_PREVIOUS` (verifying only, during a rotation).
pub struct Keys {
    jwt_enc: jsonwebtoken::EncodingKey,
    /// current first
    jwt_dec: Vec<jsonwebtoken::DecodingKey>,
    /// current first
    lease: Vec<Vec<u8>>,
    admin_digest: Option<[u8; 32]>,
    /// tenant tokens that verified, by their SHA-256 (see `tenant.rs`)
    verified: tenant::Verified,
}

fn derive(secret: &str, purpose: &str) -> Vec<u8> {
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("hmac takes any key");
    mac.update(purpose.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

impl Keys {
    pub fn new(secret: &str, admin_token: Option<&str>) -> Keys {
        Self::rotating(secret, None, admin_token)
    }

    /// Sign with `secret`; also accept what `previous` signed.
    pub fn rotating(secret: &str, previous: Option<&str>, admin_token: Option<&str>) -> Keys {
        let secrets: Vec<&str> = std::iter::once(secret).chain(previous).collect();
        let jwt = derive(secret, "hookbay/jwt/v1");
        Keys {
            jwt_enc: jsonwebtoken::EncodingKey::from_secret(&jwt),
            jwt_dec: secrets
                .iter()
                .map(|s| jsonwebtoken::DecodingKey::from_secret(&derive(s, "hookbay/jwt/v1")))
                .collect(),
            lease: secrets
                .iter()
                .map(|s| derive(s, "hookbay/lease/v1"))
                .collect(),
            admin_digest: admin_token.map(|t| Sha256::digest(t.as_bytes()).into()),
            verified: Default::default(),
        }
    }

    /// Constant-time check of the operator credential.
    pub fn is_admin(&self, presented: &str) -> bool {
        match &self.admin_digest {
            Some(d) => Sha256::digest(presented.as_bytes()).ct_eq(d).into(),
            None => false,
        }
    }
}
