//! Resource identifiers. Every id carries a prefix naming its kind
//! (`tnt_`, `src_`, `q_`, `tok_`, `msg_`). A message id embeds its source id
//! and its Redis stream id, so `GET /v1/messages/{id}` can find the message
//! in one slot without a global index that ingest would have to write too.

use rand::RngCore;

fn hex_id(prefix: &str) -> String {
    format!("{prefix}{}", uuid::Uuid::new_v4().simple())
}

pub fn tenant_id() -> String {
    hex_id("tnt_")
}
pub fn source_id() -> String {
    hex_id("src_")
}
pub fn queue_id() -> String {
    hex_id("q_")
}
pub fn token_id() -> String {
    hex_id("tok_")
}

/// 256 random bits, URL-safe: the unguessable part of an ingest URL.
pub fn ingest_key() -> String {
    let mut b = [0u8; 32];
    rand::rng().fill_bytes(&mut b);
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

/// True when `id` is `prefix` followed by 32 lower-case hex digits.
pub fn is_valid(id: &str, prefix: &str) -> bool {
    id.strip_prefix(prefix)
        .is_some_and(|h| h.len() == 32 && h.bytes().all(|c| c.is_ascii_hexdigit()))
}

/// `msg_<source hex>_<stream id>`.
pub fn message_id(source_id: &str, stream_id: &str) -> String {
    let hex = source_id.strip_prefix("src_").unwrap_or(source_id);
    format!("msg_{hex}_{stream_id}")
}

/// Split a message id into (source id, stream id); `None` when malformed.
pub fn parse_message_id(id: &str) -> Option<(String, String)> {
    let rest = id.strip_prefix("msg_")?;
    let (hex, sid) = rest.split_once('_')?;
    let source = format!("src_{hex}");
    if !is_valid(&source, "src_") || !is_stream_id(sid) {
        return None;
    }
    Some((source, sid.to_string()))
}

/// `<ms>-<seq>`, both decimal.
pub fn is_stream_id(s: &str) -> bool {
    match s.split_once('-') {
        Some((a, b)) => {
            !a.is_empty()
                && !b.is_empty()
                && a.len() <= 20
                && b.len() <= 20
                && a.bytes().all(|c| c.is_ascii_digit())
                && b.bytes().all(|c| c.is_ascii_digit())
        }
        None => false,
    }
}

/// Milliseconds part of a stream id (the receive time).
pub fn stream_id_ms(sid: &str) -> i64 {
    sid.split('-')
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids_round_trip() {
        let s = source_id();
        let m = message_id(&s, "1732364037123-7");
        assert_eq!(
            parse_message_id(&m),
            Some((s, "1732364037123-7".to_string()))
        );
        assert_eq!(parse_message_id("msg_zz_1-1"), None);
        assert_eq!(parse_message_id("msg_"), None);
        assert_eq!(parse_message_id("123"), None);
    }

    #[test]
    fn ingest_keys_have_256_bits() {
        let k = ingest_key();
        assert_eq!(k.len(), 43);
        assert_ne!(k, ingest_key());
    }
}
