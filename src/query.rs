//! The one query-string decoder. Every place that looks a parameter up by
//! name — verification, stripping a credential before a message is stored,
//! redacting the access log — compares *decoded* names, so `?%74oken=S` is
//! the `token` parameter everywhere or nowhere. Parameters that are kept
//! stay byte-exact in their original encoding.

use std::borrow::Cow;

/// Every `(name, value)` pair, percent- and `+`-decoded, in order.
pub fn pairs(query: &str) -> impl Iterator<Item = (Cow<'_, str>, Cow<'_, str>)> {
    url::form_urlencoded::parse(query.as_bytes())
}

/// First value of the parameter `name`, decoded.
pub fn first(query: &str, name: &str) -> Option<String> {
    pairs(query)
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// The decoded name of one raw `name=value` segment.
fn segment_name(segment: &str) -> Cow<'_, str> {
    let raw = segment.split('=').next().unwrap_or("");
    pairs(raw)
        .next()
        .map(|(k, _)| k)
        .unwrap_or(Cow::Borrowed(""))
}

/// The query without any parameter whose decoded name is in `names` (and
/// without empty segments); the rest is kept exactly as sent.
pub fn without(query: &str, names: &[&str]) -> String {
    query
        .split('&')
        .filter(|seg| !seg.is_empty() && !names.contains(&segment_name(seg).as_ref()))
        .collect::<Vec<_>>()
        .join("&")
}

/// The query with the value of every parameter whose decoded name is in
/// `names` replaced by `<redacted>` (for logs).
pub fn redact(query: &str, names: &[&str]) -> String {
    query
        .split('&')
        .map(|seg| {
            if names.contains(&segment_name(seg).as_ref()) {
                let raw = seg.split('=').next().unwrap_or("");
                format!("{raw}=<redacted>")
            } else {
                seg.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn names_are_compared_decoded() {
        assert_eq!(first("%74oken=S", "token").as_deref(), Some("S"));
        assert_eq!(without("a=1&%74oken=S&b=2", &["token"]), "a=1&b=2");
        assert_eq!(without("a=1&token=s&b=2", &["token"]), "a=1&b=2");
        assert_eq!(without("token=s", &["token"]), "");
        assert_eq!(without("tokens=1&a=%20", &["token"]), "tokens=1&a=%20");
        assert_eq!(
            redact(
                "a=1&access%5Ftoken=jwt&token=s&b",
                &["token", "access_token"]
            ),
            "a=1&access%5Ftoken=<redacted>&token=<redacted>&b"
        );
        assert_eq!(redact("x=1", &["token"]), "x=1");
    }

    proptest! {
        #![proptest_config(crate::fuzz_config(256))]

        /// No encoding of a stripped name survives, and the parser never
        /// panics on arbitrary input.
        #[test]
        fn fuzz_stripped_names_never_survive(q in ".{0,64}", pre in "[a-z=&%0-9A-F]{0,16}") {
            let query = format!("{pre}{q}&%74oken=secret&to%6Ben=x");
            let out = without(&query, &["token"]);
            prop_assert!(pairs(&out).all(|(k, _)| k != "token"));
            let red = redact(&query, &["token"]);
            prop_assert!(pairs(&red).filter(|(k, _)| k == "token").all(|(_, v)| v == "<redacted>"));
        }
    }
}
