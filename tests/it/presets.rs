//! Every provider preset end to end over HTTP, from its vector in
//! `tests/fixtures/presets.json`: the delivery is stored verified with the
//! provider's event type, a resend is deduped on the provider's delivery
//! id, a forged signature is refused, handshakes (signed, `GET`, `HEAD`)
//! are answered and never stored, and `GET /v1/providers` lists them all.
//! Vectors whose provider enforces a timestamp tolerance are signed again
//! at the current time (by the provider's algorithm, written out here);
//! the unit tests check every vector's exact published bytes.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hookbay::verify::sig::{mac, Algorithm};
use serde_json::{json, Value};

use crate::common::*;

fn vectors() -> Vec<Value> {
    serde_json::from_str(include_str!("../fixtures/presets.json")).unwrap()
}

fn hexmac(key: &[u8], parts: &[&[u8]]) -> String {
    hex::encode(mac(Algorithm::Sha256, key, parts))
}

fn b64mac(key: &[u8], parts: &[&[u8]]) -> String {
    B64.encode(mac(Algorithm::Sha256, key, parts))
}

/// The vector's headers and body, signed again at `now` where the provider
/// enforces a tolerance.
fn fresh(v: &Value, url: &str) -> (Vec<(String, String)>, String) {
    let name = v["preset"].as_str().unwrap();
    let secret = v["secrets"][0].as_str().unwrap().as_bytes();
    let mut body = v["body"].as_str().unwrap().to_string();
    let mut h: Vec<(String, String)> = v["headers"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, x)| (k.to_ascii_lowercase(), x.as_str().unwrap().to_string()))
        .collect();
    let now = chrono::Utc::now();
    let s = now.timestamp().to_string();
    let ms = now.timestamp_millis().to_string();
    let rfc = now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let mut set = |k: &str, val: String| {
        h.retain(|(n, _)| n != k);
        h.push((k.to_string(), val));
    };
    match name {
        "paddle" => set(
            "paddle-signature",
            format!(
                "ts={s};h1={}",
                hexmac(secret, &[s.as_bytes(), b":", body.as_bytes()])
            ),
        ),
        "calendly" | "mux" => set(
            &format!(
                "{}-signature",
                if name == "mux" {
                    "mux"
                } else {
                    "calendly-webhook"
                }
            ),
            format!(
                "t={s},v1={}",
                hexmac(secret, &[s.as_bytes(), b".", body.as_bytes()])
            ),
        ),
        "workos" => set(
            "workos-signature",
            format!(
                "t={ms}, v1={}",
                hexmac(secret, &[ms.as_bytes(), b".", body.as_bytes()])
            ),
        ),
        "twitch" => {
            let id = "e7f8151c-5849-48d5-8db9-234618442877";
            set("twitch-eventsub-message-timestamp", rfc.clone());
            set(
                "twitch-eventsub-message-signature",
                format!(
                    "sha256={}",
                    hexmac(secret, &[id.as_bytes(), rfc.as_bytes(), body.as_bytes()])
                ),
            );
        }
        "hubspot" => {
            set("x-hubspot-request-timestamp", ms.clone());
            set(
                "x-hubspot-signature-v3",
                b64mac(
                    secret,
                    &[b"POST", url.as_bytes(), body.as_bytes(), ms.as_bytes()],
                ),
            );
        }
        "box" => {
            let second = v["secrets"][1].as_str().unwrap().as_bytes();
            set("box-delivery-timestamp", rfc.clone());
            set(
                "box-signature-primary",
                b64mac(secret, &[body.as_bytes(), rfc.as_bytes()]),
            );
            set(
                "box-signature-secondary",
                b64mac(second, &[body.as_bytes(), rfc.as_bytes()]),
            );
        }
        "linear" => {
            let mut j: Value = serde_json::from_str(&body).unwrap();
            j["webhookTimestamp"] = json!(now.timestamp_millis());
            body = j.to_string();
            set("linear-signature", hexmac(secret, &[body.as_bytes()]));
        }
        "svix" | "clerk" | "resend" => {
            let key = B64
                .decode(
                    std::str::from_utf8(secret)
                        .unwrap()
                        .trim_start_matches("whsec_"),
                )
                .unwrap();
            let id = v["headers"]["svix-id"].as_str().unwrap();
            set("svix-timestamp", s.clone());
            set(
                "svix-signature",
                format!(
                    "v1,{}",
                    b64mac(
                        &key,
                        &[id.as_bytes(), b".", s.as_bytes(), b".", body.as_bytes()]
                    )
                ),
            );
        }
        _ => {}
    }
    (h, body)
}

async fn send(relay: &Relay, url: &str, h: &[(String, String)], body: &str) -> reqwest::Response {
    let mut r = relay.http.post(url);
    for (k, v) in h {
        r = r.header(k.as_str(), v.as_str());
    }
    r.body(body.to_string()).send().await.unwrap()
}

async fn every_preset_vector_end_to_end(b: Backend) {
    let store = Storage::start(b);
    let relay = Relay::start(&store).await;
    let t = relay.tenant().await;
    let r = relay
        .http
        .patch(relay.url(&format!("/v1/tenants/{}", t.id)))
        .bearer_auth(ADMIN)
        .json(&json!({"limits": {"maxSources": 100}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    for v in vectors() {
        let name = v["preset"].as_str().unwrap();
        let mut ver = json!({"type": name, "secrets": v["secrets"]});
        if let Some(u) = v.get("signedUrl") {
            ver["signedUrl"] = u.clone();
        }
        let (src, ingest) = relay
            .source(&t, json!({"name": name, "verification": ver}))
            .await;
        let signed_url = v
            .get("signedUrl")
            .and_then(|u| u.as_str())
            .unwrap_or(&ingest)
            .to_string();
        let (h, body) = fresh(&v, &signed_url);
        let r = send(&relay, &ingest, &h, &body).await;
        let e = &v["expect"];
        if let Some(a) = e["answer"].as_object() {
            // a signed handshake: answered, nothing stored
            assert_eq!(r.status(), 200, "{name} handshake");
            assert_eq!(
                r.headers()["content-type"],
                a["contentType"].as_str().unwrap(),
                "{name}"
            );
            assert_eq!(
                r.text().await.unwrap(),
                a["body"].as_str().unwrap(),
                "{name}"
            );
            let hist = relay
                .get_json(&t.token, &format!("/v1/sources/{src}/messages"))
                .await;
            assert_eq!(hist["items"], json!([]), "{name}: handshake not stored");
            continue;
        }
        assert_eq!(r.status(), 202, "{name}: {}", r.text().await.unwrap());
        let id = r.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string();
        let m = relay
            .get_json(&t.token, &format!("/v1/messages/{id}"))
            .await;
        assert_eq!(m["verified"], true, "{name}");
        assert_eq!(m["verification"], name);
        assert_eq!(
            m["eventType"].as_str(),
            e["eventType"].as_str(),
            "{name} event type"
        );
        assert_eq!(m["payload"], body, "{name}: body byte-exact");
        // the provider resends: deduped on its delivery id
        let again = send(&relay, &ingest, &h, &body).await;
        assert_eq!(again.status(), 202);
        let dup = again.headers().get("x-hookbay-duplicate").is_some();
        assert_eq!(
            dup,
            e["deliveryId"].is_string(),
            "{name}: dedupe on the delivery id"
        );
        if dup {
            assert_eq!(m["dedupeKey"].as_str(), e["deliveryId"].as_str(), "{name}");
            assert_eq!(again.json::<Value>().await.unwrap()["id"], id);
        }
        // a forged credential: 401, nothing stored
        let before = relay
            .get_json(&t.token, &format!("/v1/sources/{src}/messages"))
            .await;
        let forged: Vec<(String, String)> = h
            .iter()
            .map(|(k, x)| {
                let sig = k.contains("signature")
                    || k.contains("token")
                    || k == "authorization"
                    || k == "x-trello-webhook"
                    || k == "x-signature";
                (k.clone(), if sig { format!("{x}x") } else { x.clone() })
            })
            .collect();
        let body2 = if name == "mailgun" {
            body.replace("9cfc5c", "0cfc5c")
        } else {
            body.clone()
        };
        let r = send(&relay, &ingest, &forged, &body2).await;
        assert_eq!(r.status(), 401, "{name}: forged");
        let after = relay
            .get_json(&t.token, &format!("/v1/sources/{src}/messages"))
            .await;
        assert_eq!(before, after, "{name}: nothing stored");
    }
}

async fn get_and_head_handshakes_are_answered(b: Backend) {
    let store = Storage::start(b);
    let relay = Relay::start(&store).await;
    let t = relay.tenant().await;
    // Dropbox: GET ?challenge= echoed as inert text
    let (_, dropbox) = relay
        .source(
            &t,
            json!({"verification": {"type": "dropbox", "secrets": ["app-secret"]}}),
        )
        .await;
    let r = relay
        .http
        .get(format!("{dropbox}?challenge=abc123"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    assert_eq!(r.text().await.unwrap(), "abc123");
    // Okta: the challenge header, answered only with the hook's token
    let (okta_src, okta) = relay
        .source(
            &t,
            json!({"verification": {"type": "okta", "secrets": ["okta-hook-secret"]}}),
        )
        .await;
    let ask = |auth: &'static str| {
        relay
            .http
            .get(&okta)
            .header("x-okta-verification-challenge", "hyD4xQfT2o1M8uM7Y3VwZ9")
            .header("authorization", auth)
            .send()
    };
    let r = ask("okta-hook-secret").await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"verification": "hyD4xQfT2o1M8uM7Y3VwZ9"})
    );
    assert_eq!(ask("wrong").await.unwrap().status(), 401);
    // the token travelled in a header: never stored with a message
    let r = relay
        .http
        .post(&okta)
        .header("authorization", "okta-hook-secret")
        .header("content-type", "application/json")
        .body(r#"{"eventId":"e1","data":{"events":[{"eventType":"user.session.start"}]}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let m = relay
        .get_json(&t.token, &format!("/v1/messages/{id}"))
        .await;
    assert!(m["headers"].get("authorization").is_none(), "{m}");
    assert_eq!(m["eventType"], "user.session.start");
    let _ = okta_src;
    // a preset without a GET handshake: 405; HEAD probes any source
    let (_, gh) = relay
        .source(
            &t,
            json!({"verification": {"type": "github", "secrets": ["abcd"]}}),
        )
        .await;
    assert_eq!(relay.http.get(&gh).send().await.unwrap().status(), 405);
    assert_eq!(relay.http.head(&gh).send().await.unwrap().status(), 200);
    let unknown = format!("{}/in/{}", relay.running.url(), "x".repeat(43));
    assert_eq!(
        relay.http.head(&unknown).send().await.unwrap().status(),
        404
    );
}

async fn the_provider_list_names_every_preset(b: Backend) {
    let store = Storage::start(b);
    let relay = Relay::start(&store).await;
    let t = relay.tenant().await;
    let list = relay.get_json(&t.token, "/v1/providers").await;
    let items = list["items"].as_array().unwrap();
    assert!(items.len() >= 30, "{} presets", items.len());
    let names: Vec<&str> = items.iter().map(|i| i["type"].as_str().unwrap()).collect();
    for v in vectors() {
        assert!(names.contains(&v["preset"].as_str().unwrap()));
    }
    let stripe = items.iter().find(|i| i["type"] == "stripe").unwrap();
    assert_eq!(stripe["toleranceSeconds"], 300);
    assert_eq!(stripe["eventType"], "body /type");
    assert_eq!(stripe["deliveryId"], "body /id");
    let square = items.iter().find(|i| i["type"] == "square").unwrap();
    assert_eq!(square["signsUrl"], true);
    let discord = items.iter().find(|i| i["type"] == "discord").unwrap();
    assert_eq!(discord["secretForm"], "ed25519");
    assert!(discord["handshake"].is_string());
    // every preset can be used to create a source with the form it names
    for i in items {
        assert!(i["docs"].as_str().unwrap().starts_with("https://"), "{i}");
    }
    let r = relay
        .post(
            &t.token,
            "/v1/sources",
            json!({"name": "x", "verification": {"type": "gitlabb", "secrets": ["abcd"]}}),
        )
        .await;
    assert_eq!(r.status(), 400);
    let p: Value = r.json().await.unwrap();
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .contains("unknown verification type \"gitlabb\""),
        "{p}"
    );
}

crate::both!(
    every_preset_vector_end_to_end,
    get_and_head_handshakes_are_answered,
    the_provider_list_names_every_preset,
);

/// docs/providers.md names every preset (the docs stay true to the table).
#[test]
fn the_docs_name_every_preset() {
    let docs =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/providers.md")).unwrap();
    for s in hookbay::verify::presets::PRESETS {
        assert!(
            docs.contains(&format!("| `{}` |", s.name)),
            "docs/providers.md lacks {}",
            s.name
        );
    }
}
