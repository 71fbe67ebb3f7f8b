//! Moving a deployment between backends: a populated embedded store is
//! exported, imported into Redis, exported again and imported into a fresh
//! embedded store; every API view is the same at each step, and the two
//! export files carry the same records.

use std::process::Stdio;
use std::time::Duration;

use crate::common::*;
use serde_json::{json, Value};

/// Every view of a tenant's deployment, with what depends on the relay's
/// address or the clock taken out.
async fn views(relay: &Relay, t: &Tenant) -> Value {
    let base = relay.running.url();
    let mut out = serde_json::Map::new();
    let mut put = |k: String, v: Value| {
        out.insert(k, v);
    };
    put(
        "tenant".into(),
        relay
            .get_json(ADMIN, &format!("/v1/tenants/{}", t.id))
            .await,
    );
    put(
        "tokens".into(),
        relay
            .get_json(ADMIN, &format!("/v1/tenants/{}/tokens", t.id))
            .await,
    );
    let sources = relay.get_json(&t.token, "/v1/sources").await;
    for s in sources["items"].as_array().unwrap() {
        let id = s["id"].as_str().unwrap();
        put(
            format!("source {id}"),
            relay.get_json(&t.token, &format!("/v1/sources/{id}")).await,
        );
        let history = relay
            .get_json(&t.token, &format!("/v1/sources/{id}/messages?limit=100"))
            .await;
        for m in history["items"].as_array().unwrap() {
            let mid = m["id"].as_str().unwrap();
            put(
                format!("message {mid}"),
                relay
                    .get_json(&t.token, &format!("/v1/messages/{mid}"))
                    .await,
            );
        }
        put(format!("history {id}"), history);
    }
    put("sources".into(), sources);
    let queues = relay.get_json(&t.token, "/v1/queues").await;
    for q in queues["items"].as_array().unwrap() {
        let id = q["id"].as_str().unwrap();
        let mut v = relay.get_json(&t.token, &format!("/v1/queues/{id}")).await;
        v["counts"]["oldestReadyAgeSeconds"] = Value::Null;
        put(format!("queue {id}"), v);
        put(
            format!("dead {id}"),
            relay
                .get_json(&t.token, &format!("/v1/queues/{id}/dead-letters"))
                .await,
        );
    }
    put("queues".into(), queues);
    let text = Value::Object(out).to_string().replace(&base, "BASE");
    serde_json::from_str(&text).unwrap()
}

/// The views are equal, or the first keys that differ are named.
fn assert_same(got: &Value, want: &Value, what: &str) {
    let (Some(g), Some(w)) = (got.as_object(), want.as_object()) else {
        panic!("{what}: not objects");
    };
    let mut diff = vec![];
    for (k, v) in w {
        if g.get(k) != Some(v) {
            diff.push(format!(
                "{k}:\n  want {v}\n  got  {}",
                g.get(k).unwrap_or(&Value::Null)
            ));
        }
    }
    for k in g.keys().filter(|k| !w.contains_key(*k)) {
        diff.push(format!("{k}: not expected"));
    }
    assert!(diff.is_empty(), "{what}:\n{}", diff.join("\n"));
}

/// `hookbay export|import` against `store`: (success, stdout, stderr).
async fn transfer(
    store: &Storage,
    args: &[&str],
    file: &std::path::Path,
) -> (bool, String, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_hookbay"))
        .args(args)
        .arg(file)
        .env_remove("HOOKBAY_REDIS_URL")
        .env_remove("HOOKBAY_DATA_DIR")
        .envs(store.env())
        .env("HOOKBAY_SECRET_KEY", SECRET)
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

/// The records of an export file without its header line.
fn records(file: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(file)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_import_round_trip_embedded_redis_embedded_keeps_every_view() {
    let tmp = TempDir::new("transfer");
    let a = Storage::start(Backend::Embedded);
    let relay = Relay::start(&a).await;
    let t = relay.tenant().await;
    let r = relay
        .patch(
            ADMIN,
            &format!("/v1/tenants/{}", t.id),
            json!({"limits": {"maxQueues": 7}}),
        )
        .await;
    assert_eq!(r.status(), 200);
    // a revoked token stays revoked
    let r = relay
        .admin_post(
            &format!("/v1/tenants/{}/tokens", t.id),
            json!({"scopes": ["read"]}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let v: Value = r.json().await.unwrap();
    let revoked = v["token"].as_str().unwrap().to_string();
    let rid = v["id"].as_str().unwrap().to_string();
    let r = relay
        .delete(ADMIN, &format!("/v1/tenants/{}/tokens/{rid}", t.id))
        .await;
    assert_eq!(r.status(), 204);
    let (src, ingest) = relay
        .source(
            &t,
            json!({"dedupe": {"header": "x-id", "windowSeconds": 60},
                   "eventType": {"header": "x-id"},
                   "response": {"status": 200, "body": "thanks", "contentType": "text/plain"}}),
        )
        .await;
    let q1 = relay
        .queue(
            &t,
            &src,
            json!({"leaseSeconds": 600, "maxAttempts": 3,
                   "backoff": {"initialSeconds": 2, "multiplier": 3, "maxSeconds": 60}}),
        )
        .await;
    let send = |body: Vec<u8>, id: &'static str| {
        let (http, url) = (relay.http.clone(), ingest.clone());
        async move {
            let r = http
                .post(url)
                .header("x-id", id)
                .header("content-type", "application/octet-stream")
                .body(body)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
        }
    };
    send(b"one".to_vec(), "1").await;
    send(vec![0xff, 0x00, 0xfe], "2").await;
    send("trois é".as_bytes().to_vec(), "3").await;
    // a queue attached now gets only what follows
    let q2 = relay.queue(&t, &src, json!({"maxAttempts": 1})).await;
    // a filtered queue: only the PUT reaches it (routing survives the move)
    let q3 = relay
        .queue(&t, &src, json!({"filter": {"method": "PUT"}}))
        .await;
    for (i, id) in ["4", "5", "6"].into_iter().enumerate() {
        send(format!("m{}", i + 4).into_bytes(), id).await;
    }
    let r = relay
        .http
        .put(&ingest)
        .header("x-id", "7")
        .body("seven")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    send(b"dup".to_vec(), "6").await;
    // q1: acked, dead (rejected), delayed (nacked), leased, two ready
    let d = relay.next(&t, &q1, "").await.unwrap();
    assert_eq!(relay.settle(&d.meta, "ackUrl", None).await, 204);
    let d = relay.next(&t, &q1, "").await.unwrap();
    assert_eq!(
        relay
            .settle(&d.meta, "rejectUrl", Some(json!({"reason": "bad"})))
            .await,
        204
    );
    let d = relay.next(&t, &q1, "").await.unwrap();
    assert_eq!(
        relay
            .settle(&d.meta, "nackUrl", Some(json!({"delaySeconds": 3600})))
            .await,
        204
    );
    let held = relay.next(&t, &q1, "").await.unwrap();
    let held_base = relay.running.url();
    // q2: one acked after a replay
    let d = relay.next(&t, &q2, "").await.unwrap();
    assert_eq!(relay.settle(&d.meta, "ackUrl", None).await, 204);
    let r = relay
        .post(
            &t.token,
            &format!("/v1/queues/{q2}/replay"),
            json!({"messageIds": [d.meta["messageId"]]}),
        )
        .await;
    assert_eq!(r.status(), 202);
    // a refused delivery on another source counts
    let (src2, ingest2) = relay
        .source(
            &t,
            json!({"verification": {"type": "token", "secrets": ["s3cret-value"]}}),
        )
        .await;
    let r = relay
        .http
        .post(format!("{ingest2}?token=forged"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    eventually(Duration::from_secs(5), || async {
        relay
            .get_json(&t.token, &format!("/v1/sources/{src2}"))
            .await["stats"]["verificationFailures"]
            == 1
    })
    .await;
    let before = views(&relay, &t).await;
    assert_eq!(before["queue ".to_string() + &q1]["counts"]["ready"], 3);
    assert_eq!(before["queue ".to_string() + &q3]["counts"]["ready"], 1);
    relay.running.stop().await;

    // embedded → Redis
    let f1 = tmp.path().join("one.ndjson");
    let (ok, out, err) = transfer(&a, &["export", "--to"], &f1).await;
    assert!(ok, "export: {err}");
    assert!(
        out.contains("export: 1 tenants, 2 tokens, 2 sources, 3 queues, 7 messages;"),
        "{out}"
    );
    let b = Storage::start(Backend::Redis);
    let (ok, out, err) = transfer(&b, &["import", "--from"], &f1).await;
    assert!(ok, "import: {err}");
    assert!(out.starts_with("import: 1 tenants, 2 tokens"), "{out}");
    // a second import into the same store is refused
    let (ok, _, err) = transfer(&b, &["import", "--from"], &f1).await;
    assert!(!ok && err.contains("not empty"), "{err}");
    let relay = Relay::start(&b).await;
    assert_same(
        &views(&relay, &t).await,
        &before,
        "Redis serves the same views",
    );
    assert_eq!(relay.get(&revoked, "/v1/sources").await.status(), 401);
    relay.running.stop().await;

    // Redis → embedded
    let f2 = tmp.path().join("two.ndjson");
    let (ok, _, err) = transfer(&b, &["export", "--to"], &f2).await;
    assert!(ok, "export from Redis: {err}");
    assert_eq!(records(&f1), records(&f2), "the same records both ways");
    let c = Storage::start(Backend::Embedded);
    let (ok, _, err) = transfer(&c, &["import", "--from"], &f2).await;
    assert!(ok, "import into embedded: {err}");
    let relay = Relay::start(&c).await;
    assert_same(
        &views(&relay, &t).await,
        &before,
        "back on embedded, the same views",
    );
    // and it keeps working: the ready messages are delivered in order,
    // and the lease taken before the moves still settles
    let d = relay.next(&t, &q1, "").await.unwrap();
    assert_eq!(d.body, b"m5");
    let d = relay.next(&t, &q3, "").await.unwrap();
    assert_eq!(
        (d.body.as_slice(), &d.meta["eventType"]),
        (&b"seven"[..], &json!("7"))
    );
    assert!(relay.next(&t, &q3, "").await.is_none());
    let ack = held.meta["ackUrl"]
        .as_str()
        .unwrap()
        .replace(&held_base, &relay.running.url());
    assert_eq!(relay.http.post(ack).send().await.unwrap().status(), 204);
    relay.running.stop().await;
}
