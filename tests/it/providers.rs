//! Provider verification end to end: signed request → 2xx → consumable with
//! `verified: true`; bad signatures → 401 and nothing stored; handshakes
//! answered and never enqueued; duplicate deliveries stored once.

use crate::common::*;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

fn hmac256(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut m = Hmac::<Sha256>::new_from_slice(key).unwrap();
    for p in parts {
        m.update(p);
    }
    m.finalize().into_bytes().to_vec()
}

fn now() -> String {
    chrono::Utc::now().timestamp().to_string()
}

async fn post(
    relay: &Relay,
    url: &str,
    headers: &[(&str, String)],
    body: &str,
) -> reqwest::Response {
    let mut r = relay
        .http
        .post(url)
        .header("content-type", "application/json");
    for (k, v) in headers {
        r = r.header(*k, v);
    }
    r.body(body.to_string()).send().await.unwrap()
}

async fn each_preset_end_to_end(b: Backend) {
    let store = Storage::start(b);
    let relay = Relay::start(&store).await;
    let t = relay.tenant().await;
    let body = r#"{"id":"evt_1","type":"thing.happened"}"#;
    let ts = now();
    let std_secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let std_key = B64.decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
    let hex = |b: Vec<u8>| hex::encode(b);
    let cases: Vec<(Value, Vec<(&str, String)>)> = vec![
        (
            json!({"type": "stripe", "secrets": ["whsec_stripe"]}),
            vec![(
                "stripe-signature",
                format!(
                    "t={ts},v1={}",
                    hex(hmac256(
                        b"whsec_stripe",
                        &[ts.as_bytes(), b".", body.as_bytes()]
                    ))
                ),
            )],
        ),
        (
            json!({"type": "github", "secrets": ["gh-secret"]}),
            vec![
                (
                    "x-hub-signature-256",
                    format!("sha256={}", hex(hmac256(b"gh-secret", &[body.as_bytes()]))),
                ),
                ("x-github-event", "ping".into()),
            ],
        ),
        (
            json!({"type": "shopify", "secrets": ["shop-secret"]}),
            vec![(
                "x-shopify-hmac-sha256",
                B64.encode(hmac256(b"shop-secret", &[body.as_bytes()])),
            )],
        ),
        (
            json!({"type": "slack", "secrets": ["slack-secret"]}),
            vec![
                ("x-slack-request-timestamp", ts.clone()),
                (
                    "x-slack-signature",
                    format!(
                        "v0={}",
                        hex(hmac256(
                            b"slack-secret",
                            &[b"v0:", ts.as_bytes(), b":", body.as_bytes()]
                        ))
                    ),
                ),
            ],
        ),
        (
            json!({"type": "standard-webhooks", "secrets": [std_secret]}),
            vec![
                ("webhook-id", "msg_abc".into()),
                ("webhook-timestamp", ts.clone()),
                (
                    "webhook-signature",
                    format!(
                        "v1,{}",
                        B64.encode(hmac256(
                            &std_key,
                            &[b"msg_abc.", ts.as_bytes(), b".", body.as_bytes()]
                        ))
                    ),
                ),
            ],
        ),
        (
            json!({"type": "standard-webhooks", "secrets": [std_secret]}),
            vec![
                ("svix-id", "msg_svix".into()),
                ("svix-timestamp", ts.clone()),
                (
                    "svix-signature",
                    format!(
                        "v1,{}",
                        B64.encode(hmac256(
                            &std_key,
                            &[b"msg_svix.", ts.as_bytes(), b".", body.as_bytes()]
                        ))
                    ),
                ),
            ],
        ),
        (
            json!({"type": "zoom", "secrets": ["zoom-secret"]}),
            vec![
                ("x-zm-request-timestamp", ts.clone()),
                (
                    "x-zm-signature",
                    format!(
                        "v0={}",
                        hex(hmac256(
                            b"zoom-secret",
                            &[b"v0:", ts.as_bytes(), b":", body.as_bytes()]
                        ))
                    ),
                ),
            ],
        ),
        (
            json!({"type": "hmac", "secrets": ["gen-secret"], "algorithm": "sha256", "encoding": "base64",
                   "header": "X-Signature", "prefix": "sha256=", "timestampHeader": "X-Timestamp"}),
            vec![
                ("x-timestamp", ts.clone()),
                (
                    "x-signature",
                    format!(
                        "sha256={}",
                        B64.encode(hmac256(
                            b"gen-secret",
                            &[ts.as_bytes(), b".", body.as_bytes()]
                        ))
                    ),
                ),
            ],
        ),
        (
            json!({"type": "basic", "username": "hooks", "password": "pa55word"}),
            vec![(
                "authorization",
                format!("Basic {}", B64.encode("hooks:pa55word")),
            )],
        ),
        (
            json!({"type": "token", "secrets": ["tok-secret"]}),
            vec![("x-webhook-token", "tok-secret".into())],
        ),
    ];
    for (verification, headers) in cases {
        let scheme = verification["type"].as_str().unwrap().to_string();
        let (src, ingest) = relay
            .source(&t, json!({"verification": verification}))
            .await;
        let q = relay.queue(&t, &src, json!({})).await;
        // unsigned or tampered: 401, generic message, nothing stored
        let r = post(&relay, &ingest, &[], body).await;
        assert_eq!(r.status(), 401, "{scheme} unsigned");
        let p: Value = r.json().await.unwrap();
        assert_eq!(
            p["detail"], "missing, invalid or expired credentials",
            "{scheme}: no reason leaked"
        );
        let body_signed = !matches!(scheme.as_str(), "basic" | "token");
        if body_signed {
            let r = post(&relay, &ingest, &headers, &body.replace("evt_1", "evt_2")).await;
            assert_eq!(r.status(), 401, "{scheme} tampered");
        }
        assert_eq!(relay.counts(&t, &q).await["ready"], 0, "{scheme}");
        // signed: stored and consumable, verified
        let r = post(&relay, &ingest, &headers, body).await;
        assert_eq!(r.status(), 202, "{scheme} signed");
        let d = relay.next(&t, &q, "").await.expect(&scheme);
        assert_eq!(d.body, body.as_bytes(), "{scheme}");
        assert_eq!(d.meta["verified"], true, "{scheme}");
        assert_eq!(d.meta["verification"], scheme.as_str());
        let s = relay
            .get_json(&t.token, &format!("/v1/sources/{src}"))
            .await;
        let failures = if body_signed { 2 } else { 1 };
        assert_eq!(s["stats"]["verificationFailures"], failures, "{scheme}");
        assert!(
            !s.to_string().contains("secret\""),
            "secrets are masked: {s}"
        );
    }
}

async fn handshakes_are_answered_and_never_enqueued(b: Backend) {
    let store = Storage::start(b);
    let relay = Relay::start(&store).await;
    let t = relay.tenant().await;
    let ts = now();

    // Slack url_verification (signed)
    let (src, ingest) = relay
        .source(
            &t,
            json!({"verification": {"type": "slack", "secrets": ["slack-secret"]}}),
        )
        .await;
    let q = relay.queue(&t, &src, json!({})).await;
    let body = r#"{"token":"x","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}"#;
    let sig = hex::encode(hmac256(
        b"slack-secret",
        &[b"v0:", ts.as_bytes(), b":", body.as_bytes()],
    ));
    let r = post(
        &relay,
        &ingest,
        &[
            ("x-slack-request-timestamp", ts.clone()),
            ("x-slack-signature", format!("v0={sig}")),
        ],
        body,
    )
    .await;
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    assert_eq!(
        r.text().await.unwrap(),
        "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    );
    // unsigned url_verification is refused
    let r = post(&relay, &ingest, &[], body).await;
    assert_eq!(r.status(), 401);
    assert_eq!(relay.counts(&t, &q).await["ready"], 0);

    // Zoom endpoint.url_validation
    let (src, ingest) = relay
        .source(
            &t,
            json!({"verification": {"type": "zoom", "secrets": ["zoom-secret"]}}),
        )
        .await;
    let q = relay.queue(&t, &src, json!({})).await;
    let body = r#"{"payload":{"plainToken":"qgg8vlvZRS6UYooatFL8Aw"},"event_ts":1654503849680,"event":"endpoint.url_validation"}"#;
    let sig = hex::encode(hmac256(
        b"zoom-secret",
        &[b"v0:", ts.as_bytes(), b":", body.as_bytes()],
    ));
    let r = post(
        &relay,
        &ingest,
        &[
            ("x-zm-request-timestamp", ts.clone()),
            ("x-zm-signature", format!("v0={sig}")),
        ],
        body,
    )
    .await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["plainToken"], "qgg8vlvZRS6UYooatFL8Aw");
    assert_eq!(
        v["encryptedToken"],
        hex::encode(hmac256(b"zoom-secret", &[b"qgg8vlvZRS6UYooatFL8Aw"]))
    );
    assert_eq!(relay.counts(&t, &q).await["ready"], 0);

    // Microsoft Graph validationToken
    let (src, ingest) = relay
        .source(&t, json!({"verification": {"type": "token", "secrets": ["graph-client-state"]}, "handshake": {"type": "ms-graph"}}))
        .await;
    let q = relay.queue(&t, &src, json!({})).await;
    let r = relay
        .http
        .post(format!("{ingest}?validationToken=Validation%3A%20Testing"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "Validation: Testing");
    assert_eq!(relay.counts(&t, &q).await["ready"], 0);

    // generic GET challenge, hub.* with a verify token
    let (src, ingest) = relay
        .source(
            &t,
            json!({"handshake": {"type": "get-challenge", "verifyToken": "vt-123"}}),
        )
        .await;
    let q = relay.queue(&t, &src, json!({})).await;
    let r = relay
        .http
        .get(format!(
            "{ingest}?hub.mode=subscribe&hub.challenge=abc&hub.verify_token=vt-123"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(
        (r.status().as_u16(), r.text().await.unwrap()),
        (200, "abc".to_string())
    );
    let r = relay
        .http
        .get(format!(
            "{ingest}?hub.mode=subscribe&hub.challenge=abc&hub.verify_token=nope"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = relay
        .http
        .get(format!("{ingest}?challenge=xyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), "xyz");
    assert_eq!(relay.counts(&t, &q).await["ready"], 0);
    let s = relay
        .get_json(&t.token, &format!("/v1/sources/{src}"))
        .await;
    assert_eq!(s["handshake"]["verifyToken"], "****");
}

async fn provider_delivery_ids_dedupe_concurrent_duplicates(b: Backend) {
    let store = Storage::start(b);
    let relay = Relay::start(&store).await;
    let t = relay.tenant().await;
    let (src, ingest) = relay
        .source(
            &t,
            json!({"verification": {"type": "github", "secrets": ["gh-secret"]}}),
        )
        .await;
    let q = relay.queue(&t, &src, json!({})).await;
    let body = r#"{"zen":"Keep it logically awesome."}"#;
    let headers = vec![
        (
            "x-hub-signature-256",
            format!(
                "sha256={}",
                hex::encode(hmac256(b"gh-secret", &[body.as_bytes()]))
            ),
        ),
        (
            "x-github-delivery",
            "72d3162e-cc78-11e3-81ab-4c9367dc0958".to_string(),
        ),
    ];
    let sends: Vec<_> = (0..8)
        .map(|_| post(&relay, &ingest, &headers, body))
        .collect();
    let responses = futures_util::future::join_all(sends).await;
    let mut ids = std::collections::HashSet::new();
    for r in responses {
        assert_eq!(r.status(), 202);
        ids.insert(
            r.json::<Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    assert_eq!(ids.len(), 1, "every duplicate answered with the first id");
    assert_eq!(relay.counts(&t, &q).await["ready"], 1, "stored once");

    // Stripe: the event id in the body
    let (src, ingest) = relay
        .source(
            &t,
            json!({"verification": {"type": "stripe", "secrets": ["whsec_s"]}}),
        )
        .await;
    let q = relay.queue(&t, &src, json!({})).await;
    for attempt in 0..2 {
        let ts = (chrono::Utc::now().timestamp() + attempt).to_string();
        let body = r#"{"id":"evt_same","object":"event"}"#;
        let sig = hex::encode(hmac256(b"whsec_s", &[ts.as_bytes(), b".", body.as_bytes()]));
        let r = post(
            &relay,
            &ingest,
            &[("stripe-signature", format!("t={ts},v1={sig}"))],
            body,
        )
        .await;
        assert_eq!(r.status(), 202);
    }
    assert_eq!(relay.counts(&t, &q).await["ready"], 1);
}

async fn rotating_secrets_with_patch(b: Backend) {
    let store = Storage::start(b);
    let relay = Relay::start(&store).await;
    let t = relay.tenant().await;
    let (src, ingest) = relay
        .source(
            &t,
            json!({"verification": {"type": "shopify", "secrets": ["old-secret"]}}),
        )
        .await;
    relay.queue(&t, &src, json!({})).await;
    let sign = |k: &[u8]| vec![("x-shopify-hmac-sha256", B64.encode(hmac256(k, &[b"{}"])))];
    assert_eq!(
        post(&relay, &ingest, &sign(b"old-secret"), "{}")
            .await
            .status(),
        202
    );
    let r = relay
        .patch(
            &t.token,
            &format!("/v1/sources/{src}"),
            json!({"verification": {"type": "shopify", "secrets": ["old-secret", "new-secret"]}}),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        post(&relay, &ingest, &sign(b"new-secret"), "{}")
            .await
            .status(),
        202
    );
    assert_eq!(
        post(&relay, &ingest, &sign(b"old-secret"), "{}")
            .await
            .status(),
        202
    );
    relay
        .patch(
            &t.token,
            &format!("/v1/sources/{src}"),
            json!({"verification": {"type": "shopify", "secrets": ["new-secret"]}}),
        )
        .await;
    assert_eq!(
        post(&relay, &ingest, &sign(b"old-secret"), "{}")
            .await
            .status(),
        401
    );
}

crate::both!(
    each_preset_end_to_end,
    handshakes_are_answered_and_never_enqueued,
    provider_delivery_ids_dedupe_concurrent_duplicates,
    rotating_secrets_with_patch,
);
