//! The operator CLI through the binary: `hookbay login` and every resource
//! command's happy path (tables and `--json`, parsed) and an error each
//! (non-zero exit, the problem's title and detail on stderr).

use std::process::Stdio;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::AsyncBufReadExt;

use crate::common::*;

struct Cli {
    config: TempDir,
    url: String,
}

struct Out {
    ok: bool,
    stdout: String,
    stderr: String,
}

impl Out {
    fn json(&self) -> Value {
        assert!(self.ok, "failed: {}", self.stderr);
        serde_json::from_str(self.stdout.trim()).unwrap_or_else(|e| panic!("{e}: {}", self.stdout))
    }
}

impl Cli {
    fn command(&self, args: &[&str], token: Option<&str>) -> tokio::process::Command {
        let mut c = tokio::process::Command::new(env!("CARGO_BIN_EXE_hookbay"));
        c.args(args)
            .env_remove("HOOKBAY_URL")
            .env_remove("HOOKBAY_TOKEN")
            .env_remove("HOOKBAY_PROFILE")
            .env("XDG_CONFIG_HOME", self.config.path())
            .stdin(Stdio::null())
            .kill_on_drop(true);
        if let Some(t) = token {
            c.env("HOOKBAY_URL", &self.url).env("HOOKBAY_TOKEN", t);
        }
        c
    }

    /// Run with the relay and `token` from the environment (None: rely on
    /// the saved profile).
    async fn run(&self, args: &[&str], token: Option<&str>) -> Out {
        let o = self.command(args, token).output().await.unwrap();
        Out {
            ok: o.status.success(),
            stdout: String::from_utf8_lossy(&o.stdout).into(),
            stderr: String::from_utf8_lossy(&o.stderr).into(),
        }
    }

    /// A run that must fail with `needle` on stderr.
    async fn fails(&self, args: &[&str], token: Option<&str>, needle: &str) {
        let o = self.run(args, token).await;
        assert!(!o.ok, "{args:?} should fail: {}", o.stdout);
        assert!(
            o.stderr.contains(needle),
            "{args:?}: stderr {:?} lacks {needle:?}",
            o.stderr
        );
    }
}

async fn every_command_works_and_every_error_says_why(b: Backend) {
    let store = Storage::start(b);
    let relay = Relay::start(&store).await;
    let cli = Cli {
        config: TempDir::new("opcli"),
        url: relay.running.url(),
    };
    // login: checked against the relay, saved 0600; a wrong token saves nothing
    cli.fails(
        &[
            "login",
            "--url",
            &cli.url,
            "--token",
            "wrong-token-0123456789",
        ],
        None,
        "Unauthorized",
    )
    .await;
    let file = cli.config.path().join("hookbay/config.toml");
    assert!(!file.exists());
    cli.fails(&["tenants", "list"], None, "no relay URL").await;
    let o = cli
        .run(&["login", "--url", &cli.url, "--token", ADMIN], None)
        .await;
    assert!(o.ok, "{}", o.stderr);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    assert!(std::fs::read_to_string(&file).unwrap().contains(&cli.url));
    cli.fails(
        &["tenants", "list", "--profile", "nope"],
        None,
        "no profile \"nope\"",
    )
    .await;

    // tenants (admin, from the profile)
    let t = cli
        .run(&["tenants", "create", "acme", "--json"], None)
        .await
        .json();
    let tid = t["id"].as_str().unwrap().to_string();
    let o = cli.run(&["tenants", "list"], None).await;
    assert!(
        o.ok && o.stdout.starts_with("ID") && o.stdout.contains("acme"),
        "{}",
        o.stdout
    );
    let l = cli.run(&["tenants", "list", "--json"], None).await.json();
    assert!(l["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|i| i["id"] == tid.as_str()));
    assert_eq!(
        cli.run(&["tenants", "get", &tid, "--json"], None)
            .await
            .json()["name"],
        "acme"
    );
    cli.fails(&["tenants", "get", "tnt_missing"], None, "Not found")
        .await;

    // tokens
    cli.fails(
        &["tokens", "create", &tid, "--scopes", "everything"],
        None,
        "Invalid request",
    )
    .await;
    let tok = cli
        .run(
            &[
                "tokens",
                "create",
                &tid,
                "--scopes",
                "manage,consume,replay,read",
                "--json",
            ],
            None,
        )
        .await
        .json();
    let token = tok["token"].as_str().unwrap().to_string();
    let token_id = tok["id"].as_str().unwrap().to_string();
    let l = cli
        .run(&["tokens", "list", &tid, "--json"], None)
        .await
        .json();
    assert_eq!(l["items"][0]["id"], token_id.as_str());
    let t = Some(token.as_str());
    cli.fails(&["tenants", "create", "x"], t, "Forbidden").await;

    // sources
    let s = cli
        .run(
            &[
                "sources",
                "create",
                "plain",
                "--set",
                r#"{"eventType": {"header": "x-type"}}"#,
                "--json",
            ],
            t,
        )
        .await
        .json();
    let src = s["id"].as_str().unwrap().to_string();
    let ingest = s["ingestUrl"].as_str().unwrap().to_string();
    let gh = cli
        .run(
            &[
                "sources",
                "create",
                "gh",
                "--type",
                "github",
                "--secret",
                "old-secret",
                "--json",
            ],
            t,
        )
        .await
        .json();
    let gh_id = gh["id"].as_str().unwrap().to_string();
    let o = cli.run(&["sources", "list"], t).await;
    assert!(
        o.ok && o.stdout.contains("github") && o.stdout.contains(&ingest),
        "{}",
        o.stdout
    );
    let u = cli
        .run(
            &[
                "sources",
                "update",
                &gh_id,
                "--name",
                "github-prod",
                "--secret",
                "new-secret",
                "--secret",
                "old-secret",
                "--json",
            ],
            t,
        )
        .await
        .json();
    assert_eq!(u["name"], "github-prod");
    assert_eq!(u["verification"]["type"], "github");
    assert_eq!(u["verification"]["secrets"].as_array().unwrap().len(), 2);
    assert_eq!(
        cli.run(&["sources", "get", &src, "--json"], t).await.json()["eventType"],
        json!({"header": "x-type"})
    );
    cli.fails(
        &["sources", "create", "x", "--set", "{not json"],
        t,
        "--set is not JSON",
    )
    .await;
    cli.fails(&["sources", "get", "src_missing"], t, "Not found")
        .await;

    // queues
    cli.fails(
        &[
            "queues",
            "create",
            &src,
            "q",
            "--filter",
            r#"{"body": {"$gtx": 1}}"#,
        ],
        t,
        "filter.body: unknown operator $gtx",
    )
    .await;
    let q = cli
        .run(
            &[
                "queues",
                "create",
                &src,
                "worker",
                "--filter",
                r#"{"method": "POST"}"#,
                "--set",
                r#"{"maxAttempts": 1}"#,
                "--json",
            ],
            t,
        )
        .await
        .json();
    let qid = q["id"].as_str().unwrap().to_string();
    assert_eq!(q["maxAttempts"], 1);
    let l = cli
        .run(&["queues", "list", "--source", &src, "--json"], t)
        .await
        .json();
    assert_eq!(l["items"].as_array().unwrap().len(), 1);
    let o = cli.run(&["queues", "list"], t).await;
    assert!(
        o.ok && o.stdout.contains("worker") && o.stdout.contains(r#"{"method":"POST"}"#),
        "{}",
        o.stdout
    );
    let u = cli
        .run(&["queues", "update", &qid, "--no-filter", "--json"], t)
        .await
        .json();
    assert!(u.get("filter").is_none(), "{u}");
    assert_eq!(
        cli.run(&["queues", "get", &qid, "--json"], t).await.json()["counts"]["ready"],
        0
    );
    cli.fails(&["queues", "delete", "q_missing"], t, "Not found")
        .await;

    // messages, dead letters, replay
    let tenant = Tenant {
        id: tid.clone(),
        token: token.clone(),
    };
    let mut ids = vec![];
    for i in 0..3 {
        let r = relay
            .http
            .post(&ingest)
            .header("x-type", format!("kind.{i}"))
            .body(format!("body {i}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
        ids.push(
            r.json::<Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let l = cli
        .run(&["messages", "list", &src, "--json"], t)
        .await
        .json();
    assert_eq!(l["items"].as_array().unwrap().len(), 3);
    assert_eq!(l["items"][0]["eventType"], "kind.2");
    let l = cli
        .run(
            &[
                "messages",
                "list",
                &src,
                "--all",
                "--event-type",
                "kind.1",
                "--json",
            ],
            t,
        )
        .await
        .json();
    assert_eq!(l["items"][0]["id"], ids[1].as_str());
    let l = cli
        .run(&["messages", "list", &src, "--limit", "2", "--json"], t)
        .await
        .json();
    assert_eq!(l["items"].as_array().unwrap().len(), 2);
    let o = cli.run(&["messages", "list", &src], t).await;
    assert!(
        o.ok && o.stdout.contains("EVENT TYPE") && o.stdout.contains("kind.0"),
        "{}",
        o.stdout
    );
    assert_eq!(
        cli.run(&["messages", "get", &ids[0], "--json"], t)
            .await
            .json()["payload"],
        "body 0"
    );
    cli.fails(&["messages", "get", "msg_nope"], t, "Not found")
        .await;
    let d = relay.next(&tenant, &qid, "").await.unwrap();
    assert_eq!(
        relay
            .settle(&d.meta, "rejectUrl", Some(json!({"reason": "broken"})))
            .await,
        204
    );
    let dl = cli.run(&["dead-letters", &qid, "--json"], t).await.json();
    assert_eq!(dl["items"][0]["reason"], "broken");
    let o = cli.run(&["dead-letters", &qid], t).await;
    assert!(o.ok && o.stdout.contains("broken"), "{}", o.stdout);
    cli.fails(&["dead-letters", "q_missing"], t, "Not found")
        .await;
    let o = cli.run(&["replay", &qid, "--dead-letters"], t).await;
    assert!(
        o.ok && o.stdout.contains("replayed 1 messages"),
        "{} {}",
        o.stdout,
        o.stderr
    );
    assert_eq!(
        cli.run(&["replay", &qid, "--ids", &ids[2], "--json"], t)
            .await
            .json(),
        json!({"replayed": 1})
    );
    let r = cli
        .run(
            &[
                "replay",
                &qid,
                "--from",
                "0",
                "--to",
                "9999999999999",
                "--json",
            ],
            t,
        )
        .await
        .json();
    assert_eq!(r["replayed"], 3);
    cli.fails(&["replay", &qid], t, "give exactly one of").await;

    // tail: one JSON line per arrival, nothing consumed
    let mut child = cli
        .command(&["tail", &src, "--json"], t)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let counts_before = relay.counts(&tenant, &qid).await;
    // the tail starts at its connection: keep sending until it shows one
    let mut shown = None;
    for _ in 0..50 {
        relay.ingest(&ingest, "text/plain", "tailed").await;
        if let Ok(Ok(Some(l))) =
            tokio::time::timeout(Duration::from_millis(200), lines.next_line()).await
        {
            shown = Some(l);
            break;
        }
    }
    let v: Value = serde_json::from_str(&shown.expect("tail printed a line")).unwrap();
    assert_eq!(v["payload"], "tailed");
    assert!(relay.counts(&tenant, &qid).await["ready"].as_u64() > counts_before["ready"].as_u64());
    child.kill().await.unwrap();
    cli.fails(&["tail", "src_missing"], t, "Not found").await;

    // delete a queue and a source
    let spare = cli
        .run(&["queues", "create", &src, "spare", "--json"], t)
        .await
        .json();
    let o = cli
        .run(&["queues", "delete", spare["id"].as_str().unwrap()], t)
        .await;
    assert!(o.ok && o.stdout.contains("deleted queue"), "{}", o.stderr);
    let o = cli.run(&["sources", "delete", &gh_id, "--json"], t).await;
    assert_eq!(o.json(), json!({}));
    cli.fails(&["sources", "get", &gh_id], t, "Not found").await;

    // revoke and delete
    let o = cli.run(&["tokens", "revoke", &tid, &token_id], None).await;
    assert!(o.ok, "{}", o.stderr);
    cli.fails(&["sources", "list"], t, "Unauthorized").await;
    let o = cli.run(&["tenants", "delete", &tid, "--json"], None).await;
    assert!(o.ok, "{}", o.stderr);
    cli.fails(&["tenants", "get", &tid], None, "Not found")
        .await;
}

crate::both!(every_command_works_and_every_error_says_why,);
