//! Lease tokens: the capability carried by a delivery's ack/nack/reject/
//! extend URLs. HMAC-SHA256 over (tenant, queue, message, lease generation);
//! whether that lease is still current is decided by the engine, atomically.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use hmac::Mac;

use super::{HmacSha256, Keys};

#[derive(Debug, Clone, PartialEq)]
pub struct LeaseToken {
    pub tenant_id: String,
    pub queue_id: String,
    pub stream_id: String,
    pub generation: u64,
}

impl LeaseToken {
    fn payload(&self) -> String {
        format!(
            "v1|{}|{}|{}|{}",
            self.tenant_id, self.queue_id, self.stream_id, self.generation
        )
    }
}

impl Keys {
    fn lease_mac(key: &[u8]) -> HmacSha256 {
        HmacSha256::new_from_slice(key).expect("hmac takes any key")
    }

    pub fn sign_lease(&self, t: &LeaseToken) -> String {
        let payload = t.payload();
        let mut mac = Self::lease_mac(&self.lease[0]);
        mac.update(payload.as_bytes());
        format!(
            "{}.{}",
            B64.encode(payload),
            B64.encode(mac.finalize().into_bytes())
        )
    }

    /// `None` for anything not signed by this relay (constant-time check).
    pub fn verify_lease(&self, token: &str) -> Option<LeaseToken> {
        let (p, s) = token.split_once('.')?;
        let payload = B64.decode(p).ok()?;
        let sig = B64.decode(s).ok()?;
        let signed_by_any = self.lease.iter().any(|k| {
            let mut mac = Self::lease_mac(k);
            mac.update(&payload);
            mac.verify_slice(&sig).is_ok()
        });
        if !signed_by_any {
            return None;
        }
        let payload = String::from_utf8(payload).ok()?;
        let mut it = payload.split('|');
        if it.next()? != "v1" {
            return None;
        }
        let t = LeaseToken {
            tenant_id: it.next()?.into(),
            queue_id: it.next()?.into(),
            stream_id: it.next()?.into(),
            generation: it.next()?.parse().ok()?,
        };
        it.next().is_none().then_some(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lease_tokens_round_trip_and_resist_forgery() {
        let k = Keys::new("0123456789abcdef0123456789abcdef", None);
        let t = LeaseToken {
            tenant_id: "tnt_a".into(),
            queue_id: "q_1".into(),
            stream_id: "1-0".into(),
            generation: 3,
        };
        let s = k.sign_lease(&t);
        assert_eq!(k.verify_lease(&s), Some(t.clone()));
        // re-point the payload at another message: signature no longer fits
        let forged = LeaseToken {
            stream_id: "2-0".into(),
            ..t
        };
        let (_, sig) = s.split_once('.').unwrap();
        let fake = format!("{}.{sig}", B64.encode(forged.payload()));
        assert_eq!(k.verify_lease(&fake), None);
        assert_eq!(k.verify_lease("garbage"), None);
        let other = Keys::new("another-secret-another-secret-xx", None);
        assert_eq!(other.verify_lease(&s), None);
    }
}
