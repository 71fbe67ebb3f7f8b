//! Tests that only make sense on the embedded store: one process per data
//! dir, and a full disk (a private tmpfs in a user + mount namespace).

use std::process::Stdio;
use std::time::Duration;

use crate::common::*;
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_a_second_process_on_the_same_data_dir_exits_at_once() {
    let store = Storage::start(Backend::Embedded);
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let mut first = spawn_relay(&store, port, &[]);
    wait_healthy(&http, &base).await;
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_hookbay"))
        .arg("serve")
        .envs(store.env())
        .env("HOOKBAY_LISTEN", format!("127.0.0.1:{}", free_port()))
        .env("HOOKBAY_LOG", "warn")
        .stdin(Stdio::null())
        .output();
    let out = tokio::time::timeout(Duration::from_secs(20), out)
        .await
        .expect("the second process exits at once")
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("in use by another hookbay process"),
        "clear message: {err}"
    );
    // the first one still serves, its data intact
    assert_eq!(
        http.get(format!("{base}/readyz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    first.kill().ok();
    first.wait().ok();
}

/// Ingest `body` once; the status and the problem document on failure.
async fn ingest_once(http: &reqwest::Client, url: &str, body: Vec<u8>) -> (u16, Value, bool) {
    let r = http.post(url).body(body).send().await.unwrap();
    let status = r.status().as_u16();
    let retry = r.headers().contains_key("retry-after");
    let v = r.json().await.unwrap_or(Value::Null);
    (status, v, retry)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_disk_full_is_503_stores_nothing_and_recovers() {
    let tmp = TempDir::new("full");
    let mnt = tmp.path().join("mnt");
    std::fs::create_dir_all(&mnt).unwrap();
    let data = mnt.join("data");
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    // a 24 MiB tmpfs of which a filler takes 12 MiB; the relay sees only it
    let script = format!(
        "mount -t tmpfs -o size=24m tmpfs {m} && head -c 12582912 /dev/zero > {m}/filler \
         && exec \"$0\" \"$@\"",
        m = mnt.display()
    );
    let mut child = Proc::spawn(
        std::process::Command::new("unshare")
            .args(["--mount", "--map-root-user", "sh", "-c", &script])
            .arg(env!("CARGO_BIN_EXE_hookbay"))
            .arg("serve")
            .env("HOOKBAY_LISTEN", format!("127.0.0.1:{port}"))
            .env_remove("HOOKBAY_REDIS_URL")
            .env("HOOKBAY_DATA_DIR", &data)
            .env("HOOKBAY_ADMIN_TOKEN", ADMIN)
            .env("HOOKBAY_SECRET_KEY", SECRET)
            .env("HOOKBAY_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    wait_healthy(&http, &base).await;
    // the relay's view of its mount, from outside its namespace
    let filler = format!("/proc/{}/root{}/filler", child.id(), mnt.display());
    assert!(std::fs::metadata(&filler).is_ok(), "filler visible");

    let Provisioned {
        token,
        ingest,
        source_id: sid,
        ..
    } = provision(&http, &base, json!({})).await;

    // fill the disk: 512 KiB bodies until the store refuses
    let mut stored = vec![];
    let mut refused = None;
    for i in 0..200u32 {
        let body = vec![b'a' + (i % 26) as u8; 512 * 1024];
        let (status, v, retry) = ingest_once(&http, &ingest, body).await;
        match status {
            202 => stored.push(v["id"].as_str().unwrap().to_string()),
            503 => {
                refused = Some((v, retry));
                break;
            }
            s => panic!("unexpected status {s}: {v}"),
        }
    }
    let (problem, retry) = refused.expect("a full disk refuses ingest");
    assert!(retry, "503 carries Retry-After");
    assert_eq!(problem["status"], 503, "problem+json: {problem}");
    assert!(!stored.is_empty(), "some messages fit first");
    // readiness says so too
    assert_eq!(
        http.get(format!("{base}/readyz"))
            .send()
            .await
            .unwrap()
            .status(),
        503
    );

    // space returns: the relay recovers by itself
    std::fs::remove_file(&filler).unwrap();
    let recovered = std::sync::Mutex::new(None);
    eventually(Duration::from_secs(20), || async {
        let (status, v, _) = ingest_once(&http, &ingest, b"after".to_vec()).await;
        if status == 202 {
            *recovered.lock().unwrap() = Some(v["id"].as_str().unwrap().to_string());
        }
        status == 202
    })
    .await;
    stored.push(recovered.into_inner().unwrap().unwrap());
    // nothing answered 202 is missing, nothing refused was stored
    let history: Value = http
        .get(format!("{base}/v1/sources/{sid}/messages?limit=500"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut ids: Vec<String> = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    stored.sort();
    assert_eq!(ids, stored, "exactly the accepted messages are stored");
    child.kill().ok();
    child.wait().ok();
}

/// Run a `hookbay` subcommand to completion: (success, stdout, stderr).
async fn hookbay(args: &[&std::ffi::OsStr]) -> (bool, String, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_hookbay"))
        .args(args)
        .env_remove("HOOKBAY_DATA_DIR")
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_backup_while_serving_restores_every_message() {
    let store = Storage::start(Backend::Embedded);
    let Storage::Embedded(dir) = &store else {
        unreachable!()
    };
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let mut child = spawn_relay(&store, port, &[]);
    wait_healthy(&http, &base).await;
    let Provisioned {
        token,
        ingest,
        queue: q,
        ..
    } = provision(&http, &base, json!({})).await;
    let mut before = vec![];
    for i in 0..300 {
        let r = http
            .post(&ingest)
            .body(format!("m{i}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
        before.push(
            r.json::<Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    // traffic keeps flowing while the snapshot is taken
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load = {
        let (http, ingest, stop) = (http.clone(), ingest.clone(), stop.clone());
        tokio::spawn(async move {
            let mut n = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let r = http.post(&ingest).body("during").send().await.unwrap();
                assert_eq!(r.status(), 202);
                n += 1;
            }
            n
        })
    };
    let snap = dir.path().join("snapshot.db");
    // the data dir is the temp dir itself (see Storage::env)
    let (ok, out, err) = hookbay(&[
        "backup".as_ref(),
        "--data-dir".as_ref(),
        dir.path().as_os_str(),
        "--to".as_ref(),
        snap.as_os_str(),
    ])
    .await;
    assert!(ok, "backup failed: {err}");
    assert!(
        out.contains("backup: 1 tenants, 1 sources,"),
        "summary: {out}"
    );
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(load.await.unwrap() > 0, "ingest ran during the backup");
    // a second backup to the same file is refused, the file untouched
    let (ok, _, err) = hookbay(&[
        "backup".as_ref(),
        "--data-dir".as_ref(),
        dir.path().as_os_str(),
        "--to".as_ref(),
        snap.as_os_str(),
    ])
    .await;
    assert!(!ok && err.contains("already exists"), "{err}");
    child.kill().ok();
    child.wait().ok();

    // restore into a fresh data dir and serve from it
    let fresh = TempDir::new("restored");
    let (ok, out, err) = hookbay(&[
        "restore".as_ref(),
        "--from".as_ref(),
        snap.as_os_str(),
        "--data-dir".as_ref(),
        fresh.path().as_os_str(),
    ])
    .await;
    assert!(ok, "restore failed: {err}");
    assert!(out.starts_with("restore: 1 tenants"), "{out}");
    let (ok, _, err) = hookbay(&[
        "restore".as_ref(),
        "--from".as_ref(),
        snap.as_os_str(),
        "--data-dir".as_ref(),
        fresh.path().as_os_str(),
    ])
    .await;
    assert!(!ok && err.contains("already holds a store"), "{err}");
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut child = Proc::spawn(
        std::process::Command::new(env!("CARGO_BIN_EXE_hookbay"))
            .arg("serve")
            .env("HOOKBAY_LISTEN", format!("127.0.0.1:{port}"))
            .env_remove("HOOKBAY_REDIS_URL")
            .env("HOOKBAY_DATA_DIR", fresh.path())
            .env("HOOKBAY_ADMIN_TOKEN", ADMIN)
            .env("HOOKBAY_SECRET_KEY", SECRET)
            .env("HOOKBAY_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    wait_healthy(&http, &base).await;
    for id in &before {
        let r = http
            .get(format!("{base}/v1/messages/{id}"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{id} restored");
    }
    // and the queue delivers them, in order, from the first
    let r = http
        .get(format!("{base}/v1/queues/{q}/next"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "m0");
    child.kill().ok();
    child.wait().ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_serve_with_nothing_configured_runs_end_to_end_in_hookbay_data() {
    // a fresh working directory, no HOOKBAY_REDIS_URL, no HOOKBAY_DATA_DIR
    let cwd = TempDir::new("fresh");
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_hookbay"));
    cmd.arg("serve")
        .current_dir(cwd.path())
        .env_remove("HOOKBAY_REDIS_URL")
        .env_remove("HOOKBAY_DATA_DIR")
        .env_remove("HOOKBAY_CONFIG")
        .env("HOOKBAY_LISTEN", format!("127.0.0.1:{port}"))
        .env("HOOKBAY_ADMIN_TOKEN", ADMIN)
        .env("HOOKBAY_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = Proc::spawn(&mut cmd);
    wait_healthy(&http, &base).await;
    assert!(
        cwd.path().join("hookbay-data").join("hookbay.db").exists(),
        "the store is ./hookbay-data/hookbay.db"
    );
    let Provisioned {
        token,
        ingest,
        queue: q,
        ..
    } = provision(&http, &base, json!({})).await;
    let r = http.post(&ingest).body("hello").send().await.unwrap();
    assert_eq!(r.status(), 202);
    let r = http
        .get(format!("{base}/v1/queues/{q}/next"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let meta: Value =
        serde_json::from_str(r.headers()["x-hookbay-meta"].to_str().unwrap()).unwrap();
    assert_eq!(r.text().await.unwrap(), "hello");
    let ack = http
        .post(meta["ackUrl"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(ack.status(), 204);
    child.kill().unwrap();
    child.wait().unwrap();
    let log = child.output_text();
    assert!(
        log.contains("store: embedded (SQLite)") && log.contains("hookbay-data"),
        "the startup log says which backend and where: {log}"
    );
    assert!(!log.contains("redis"), "no Redis anywhere: {log}");
}

/// Deleting a source answers at once and its rows are purged right after,
/// a chunk at a time (more rows here than one chunk in every table), while
/// the relay serves: a source created meanwhile gets a number of its own
/// and never loses or sees a purged row, and a purge cut short by a stop
/// resumes at the next start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_a_deleted_sources_rows_are_purged_after_the_delete_and_resume_after_a_restart() {
    let store = Storage::start(Backend::Embedded);
    let relay = Relay::start(&store).await;
    let t = relay.tenant().await;
    let (src, ingest) = relay
        .source(&t, json!({"dedupe": {"header": "x-id"}}))
        .await;
    let q1 = relay.queue(&t, &src, json!({})).await;
    relay.queue(&t, &src, json!({})).await;
    let mut tasks = vec![];
    for w in 0..8 {
        let (http, ingest) = (relay.http.clone(), ingest.clone());
        tasks.push(tokio::spawn(async move {
            for i in 0..300 {
                let r = http
                    .post(&ingest)
                    .header("x-id", format!("{w}-{i}"))
                    .body(format!("m{w}-{i}"))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 202);
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let d = relay.next(&t, &q1, "").await.expect("a lease");
    let db = store.sqlite();
    let rows = |db: &rusqlite::Connection, table: &str| -> i64 {
        db.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .unwrap()
    };
    assert_eq!(rows(&db, "messages"), 2_400);
    assert_eq!(rows(&db, "deliveries"), 4_800);
    assert_eq!(rows(&db, "dedupe"), 2_400);

    let r = relay.delete(&t.token, &format!("/v1/sources/{src}")).await;
    assert_eq!(r.status(), 204);
    // gone from every view at once
    assert_eq!(
        relay
            .get(&t.token, &format!("/v1/queues/{q1}"))
            .await
            .status(),
        404
    );
    assert_eq!(relay.settle(&d.meta, "ackUrl", None).await, 404);
    // the newest source was deleted: a new one must not take its number
    let (src2, ingest2) = relay.source(&t, json!({})).await;
    let q2 = relay.queue(&t, &src2, json!({})).await;
    relay.ingest(&ingest2, "text/plain", "fresh").await;
    let left = store.mentions(&src).await;
    assert!(left.is_empty(), "purged: {left:?}");
    assert_eq!(rows(&db, "messages"), 1);
    assert_eq!(rows(&db, "deliveries"), 1);
    assert_eq!(rows(&db, "dedupe"), 0);
    assert_eq!(relay.counts(&t, &q2).await["ready"], 1);
    let page = relay
        .get_json(&t.token, &format!("/v1/sources/{src2}/messages"))
        .await;
    assert_eq!(page["items"].as_array().map(Vec::len), Some(1), "{page}");
    let fresh = relay
        .next(&t, &q2, "")
        .await
        .expect("the new source's message");
    assert_eq!(fresh.body, b"fresh");

    // a purge the process did not finish: it resumes at the next start
    relay.running.stop().await;
    db.execute_batch(
        "INSERT INTO messages (sn, ms, seq, method, path, query, headers, body, verified, \
         scheme, size) VALUES (999, 1, 0, 'POST', '/', '', '[]', x'00', 0, 'none', 1); \
         INSERT INTO purges (kind, n) VALUES (1, 999);",
    )
    .unwrap();
    let relay = Relay::start(&store).await;
    eventually(Duration::from_secs(30), || async {
        rows(&db, "purges") == 0
    })
    .await;
    assert_eq!(rows(&db, "messages"), 1, "only the live source's message");
    assert_eq!(relay.counts(&t, &q2).await["leased"], 1);
}
