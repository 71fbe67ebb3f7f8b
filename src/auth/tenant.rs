//! Tenant tokens: HS256 JWTs naming the tenant, the token id, its scopes,
//! optionally the queues it is limited to, and its expiry.

use jsonwebtoken::{Algorithm, Header, Validation};
use serde::{Deserialize, Serialize};

use super::Keys;
use crate::model::Scope;

const ISSUER: &str = "hookbay";

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
        let mut v = Validation::new(Algorithm::HS256);
        v.set_issuer(&[ISSUER]);
        v.set_required_spec_claims(&["exp", "iss", "sub"]);
        v.leeway = 5;
        self.jwt_dec
            .iter()
            .find_map(|k| jsonwebtoken::decode::<Claims>(token, k, &v).ok())
            .map(|d| d.claims)
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
