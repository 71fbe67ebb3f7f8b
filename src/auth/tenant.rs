//! Tenant tokens: HS256 JWTs naming the tenant, the token id, its scopes,
//! optionally the queues it is limited to, and its expiry.
//!
//! Workers present the same token on every call, so a token that verified
//! is remembered (by its SHA-256, never the token itself) with its claims:
//! the next call checks only its expiry. Verifying costs a JWT decode, an
//! HMAC and two JSON parses (~8 µs, a tenth of a `/next` call's CPU);
//! a signature cannot stop being valid while the keys stay the same, and
//! the keys live as long as this cache. Revocation is checked on every call
//! (`http::auth::resolve`), cached or not.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use jsonwebtoken::{Algorithm, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::Keys;
use crate::model::Scope;

const ISSUER: &str = "hookbay";

/// Clock skew allowed on `exp`, in seconds.
const LEEWAY_SECS: i64 = 5;

/// Most tokens remembered; past it the expired ones are dropped, and all
/// of them when that frees nothing.
const VERIFIED_CAP: usize = 10_000;

/// Claims of tokens that verified, by the token's SHA-256.
#[derive(Default)]
pub(super) struct Verified(Mutex<HashMap<[u8; 32], Arc<Claims>>>);

impl Verified {
    fn get(&self, digest: &[u8; 32]) -> Option<Arc<Claims>> {
        let m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        m.get(digest).cloned()
    }

    fn put(&self, digest: [u8; 32], claims: Arc<Claims>, now: i64) {
        let mut m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if m.len() >= VERIFIED_CAP {
            m.retain(|_, c| !c.expired(now));
            if m.len() >= VERIFIED_CAP {
                m.clear();
            }
        }
        m.insert(digest, claims);
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Claims {
    /// Tenant id.
    pub sub: String,
    /// Token id (for revocation).
    pub jti: String,
    pub scopes: Vec<Scope>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queues: Option<Vec<String>>,
    pub iat: i64,
    pub exp: i64,
    pub iss: String,
}

impl Claims {
    pub fn has(&self, s: Scope) -> bool {
        self.scopes.contains(&s)
    }

    /// Past its expiry (and the leeway) at unix time `now`.
    fn expired(&self, now: i64) -> bool {
        self.exp < now - LEEWAY_SECS
    }

    /// Whether a queue-limited token may touch this queue.
    pub fn allows_queue(&self, queue_id: &str) -> bool {
        self.queues
            .as_ref()
            .is_none_or(|qs| qs.iter().any(|q| q == queue_id))
    }
}

impl Keys {
    pub fn sign_tenant_token(
        &self,
        tenant_id: &str,
        token_id: &str,
        scopes: Vec<Scope>,
        queues: Option<Vec<String>>,
        iat: i64,
        exp: i64,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        let claims = Claims {
            sub: tenant_id.into(),
            jti: token_id.into(),
            scopes,
            queues,
            iat,
            exp,
            iss: ISSUER.into(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.jwt_enc)
    }

    /// Verify signature, algorithm (HS256 only, never `none`), issuer and
    /// expiry.
    pub fn verify_tenant_token(&self, token: &str) -> Option<Claims> {
        self.verify_tenant_token_at(token, chrono::Utc::now().timestamp())
    }

    /// `verify_tenant_token` at unix time `now`: a token that verified
    /// before is only checked for expiry.
    fn verify_tenant_token_at(&self, token: &str, now: i64) -> Option<Claims> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some(c) = self.verified.get(&digest) {
            return (!c.expired(now)).then(|| Claims::clone(&c));
        }
        let mut v = Validation::new(Algorithm::HS256);
        v.set_issuer(&[ISSUER]);
        v.set_required_spec_claims(&["exp", "iss", "sub"]);
        v.leeway = LEEWAY_SECS as u64;
        let claims = self
            .jwt_dec
            .iter()
            .find_map(|k| jsonwebtoken::decode::<Claims>(token, k, &v).ok())
            .map(|d| d.claims)
            .filter(|c| !c.expired(now))?;
        self.verified.put(digest, Arc::new(claims.clone()), now);
        Some(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_verify_and_reject_tampering() {
        let k = Keys::new("0123456789abcdef0123456789abcdef", None);
        let now = chrono::Utc::now().timestamp();
        let t = k
            .sign_tenant_token("tnt_a", "tok_1", vec![Scope::Consume], None, now, now + 60)
            .unwrap();
        let c = k.verify_tenant_token(&t).unwrap();
        assert_eq!(c.sub, "tnt_a");
        assert!(c.has(Scope::Consume) && !c.has(Scope::Manage));
        let mut bad = t.clone();
        bad.pop();
        assert!(k.verify_tenant_token(&bad).is_none());
        let other = Keys::new("another-secret-another-secret-xx", None);
        assert!(other.verify_tenant_token(&t).is_none());
        let expired = k
            .sign_tenant_token("tnt_a", "tok_1", vec![], None, now - 100, now - 60)
            .unwrap();
        assert!(k.verify_tenant_token(&expired).is_none());
    }

    #[test]
    fn a_remembered_token_still_expires_and_a_tampered_one_still_fails() {
        let k = Keys::new("0123456789abcdef0123456789abcdef", None);
        let now = chrono::Utc::now().timestamp();
        let t = k
            .sign_tenant_token("tnt_a", "tok_1", vec![Scope::Consume], None, now, now + 60)
            .unwrap();
        let first = k.verify_tenant_token_at(&t, now).unwrap();
        assert_eq!(
            k.verified
                .get(&Sha256::digest(t.as_bytes()).into())
                .as_deref(),
            Some(&first)
        );
        // the remembered claims answer, and only until the expiry + leeway
        assert_eq!(
            k.verify_tenant_token_at(&t, now + 60 + LEEWAY_SECS),
            Some(first)
        );
        assert_eq!(k.verify_tenant_token_at(&t, now + 61 + LEEWAY_SECS), None);
        // a token one character off is verified (and refused), never matched
        for i in [t.len() - 1, t.len() / 2, 3] {
            let mut bad = t.clone().into_bytes();
            bad[i] = if bad[i] == b'A' { b'B' } else { b'A' };
            let bad = String::from_utf8(bad).unwrap();
            assert_eq!(k.verify_tenant_token_at(&bad, now), None, "changed at {i}");
        }
        // an expired token is never remembered
        let old = k
            .sign_tenant_token("tnt_a", "tok_2", vec![], None, now - 100, now - 60)
            .unwrap();
        assert_eq!(k.verify_tenant_token_at(&old, now), None);
        assert!(k
            .verified
            .get(&Sha256::digest(old.as_bytes()).into())
            .is_none());
    }

    #[test]
    fn the_remembered_tokens_stay_bounded() {
        let k = Keys::new("0123456789abcdef0123456789abcdef", None);
        let now = chrono::Utc::now().timestamp();
        let c = Arc::new(Claims {
            sub: "tnt_a".into(),
            jti: "tok".into(),
            scopes: vec![],
            queues: None,
            iat: now,
            exp: now + 60,
            iss: ISSUER.into(),
        });
        let expired = Arc::new(Claims {
            exp: now - 60,
            ..Claims::clone(&c)
        });
        for i in 0..VERIFIED_CAP as u32 {
            let mut d = [0u8; 32];
            d[..4].copy_from_slice(&i.to_le_bytes());
            k.verified.put(
                d,
                if i % 2 == 0 {
                    expired.clone()
                } else {
                    c.clone()
                },
                now,
            );
        }
        k.verified.put([0xff; 32], c.clone(), now);
        let len = |k: &Keys| k.verified.0.lock().unwrap().len();
        assert_eq!(len(&k), VERIFIED_CAP / 2 + 1, "the expired half dropped");
        for i in 0..VERIFIED_CAP as u32 {
            let mut d = [0xee; 32];
            d[..4].copy_from_slice(&i.to_le_bytes());
            k.verified.put(d, c.clone(), now);
        }
        assert!(len(&k) <= VERIFIED_CAP, "never past the cap");
    }

    #[test]
    fn previous_key_accepted_during_rotation() {
        let old = Keys::new("old-secret-old-secret-old-secret-xx", None);
        let now = chrono::Utc::now().timestamp();
        let t = old
            .sign_tenant_token("tnt_a", "tok_1", vec![Scope::Read], None, now, now + 60)
            .unwrap();
        let rotated = Keys::rotating(
            "new-secret-new-secret-new-secret-xx",
            Some("old-secret-old-secret-old-secret-xx"),
            None,
        );
        assert!(rotated.verify_tenant_token(&t).is_some());
        let fresh = rotated
            .sign_tenant_token("tnt_a", "tok_2", vec![Scope::Read], None, now, now + 60)
            .unwrap();
        assert!(
            old.verify_tenant_token(&fresh).is_none(),
            "signed with the new key"
        );
        let done = Keys::new("new-secret-new-secret-new-secret-xx", None);
        assert!(
            done.verify_tenant_token(&t).is_none(),
            "old tokens die with the old key"
        );
    }

    #[test]
    fn alg_none_is_refused() {
        use base64::Engine;
        let k = Keys::new("0123456789abcdef0123456789abcdef", None);
        let e = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let now = chrono::Utc::now().timestamp();
        let body = format!(
            r#"{{"sub":"tnt_a","jti":"x","scopes":["manage"],"iat":{now},"exp":{},"iss":"hookbay"}}"#,
            now + 60
        );
        let t = format!(
            "{}.{}.",
            e.encode(r#"{"alg":"none","typ":"JWT"}"#),
            e.encode(body)
        );
        assert!(k.verify_tenant_token(&t).is_none());
    }
}
