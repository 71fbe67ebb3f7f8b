//! The operator CLI: `hookbay login` and the commands that drive a relay
//! through its API — tenants, tokens, sources, queues, messages, dead
//! letters, replay, and `tail` (watch a source without consuming). Tables
//! for people, `--json` for scripts; any error exits non-zero with the
//! problem's title and detail on stderr.

mod args;
pub mod client;
pub mod output;
mod tail;

use clap::Args;
use serde_json::{json, Value};

pub use args::{MessagesCmd, Ops, QueuesCmd, ReplayArgs, SourcesCmd, TenantsCmd, TokensCmd};
pub use client::Target;
use client::{fail, CliError, Client};
use output::{list, s, Column};

/// Save a relay URL and token as a profile.
#[derive(Args, Debug)]
pub struct LoginArgs {
    #[arg(long)]
    pub url: String,
    #[arg(long, hide_env_values = true)]
    pub token: String,
    /// Profile name (default: "default").
    #[arg(long, default_value = "default")]
    pub profile: String,
}

/// `hookbay login`: check the credentials against the relay, then save.
pub async fn login(a: LoginArgs) -> Result<(), CliError> {
    let t = Target {
        url: Some(a.url.clone()),
        token: Some(a.token.clone()),
        profile: None,
        json: false,
    };
    let c = t.client()?;
    // any authenticated read proves the pair works (admin or tenant token)
    c.get("/v1/providers").await?;
    let path = client::save_profile(&a.profile, &c.base, &a.token)?;
    println!(
        "saved profile {:?} for {} in {}",
        a.profile,
        c.base,
        path.display()
    );
    Ok(())
}

/// Run one operator command; errors go to stderr, the exit code says how
/// it went.
pub async fn run(op: Ops) -> std::process::ExitCode {
    let target = op.target().clone();
    let result = match target.client() {
        Ok(c) => dispatch(&c, target.json, op).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn parse_obj(
    what: &str,
    text: &Option<String>,
) -> Result<serde_json::Map<String, Value>, CliError> {
    match text {
        None => Ok(Default::default()),
        Some(t) => match serde_json::from_str::<Value>(t) {
            Ok(Value::Object(m)) => Ok(m),
            Ok(_) => Err(fail(format!("{what} must be a JSON object"), t.clone())),
            Err(e) => Err(fail(format!("{what} is not JSON"), e.to_string())),
        },
    }
}

fn parse_json(what: &str, text: &str) -> Result<Value, CliError> {
    serde_json::from_str(text).map_err(|e| fail(format!("{what} is not JSON"), e.to_string()))
}

/// Encode a path segment given on the command line.
fn seg(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

const TENANT_COLS: &[Column] = &[
    ("ID", |v| s(&v["id"])),
    ("NAME", |v| s(&v["name"])),
    ("CREATED", |v| s(&v["createdAt"])),
];
const TOKEN_COLS: &[Column] = &[
    ("ID", |v| s(&v["id"])),
    ("SCOPES", |v| join(&v["scopes"])),
    ("QUEUES", |v| join(&v["queues"])),
    ("EXPIRES", |v| s(&v["expiresAt"])),
    ("REVOKED", |v| s(&v["revokedAt"])),
];
const SOURCE_COLS: &[Column] = &[
    ("ID", |v| s(&v["id"])),
    ("NAME", |v| s(&v["name"])),
    ("VERIFICATION", |v| s(&v["verification"]["type"])),
    ("QUEUES", |v| {
        v["queues"].as_array().map_or(0, |a| a.len()).to_string()
    }),
    ("INGEST URL", |v| s(&v["ingestUrl"])),
];
const QUEUE_COLS: &[Column] = &[
    ("ID", |v| s(&v["id"])),
    ("SOURCE", |v| s(&v["sourceId"])),
    ("NAME", |v| s(&v["name"])),
    ("LEASE", |v| format!("{}s", s(&v["leaseSeconds"]))),
    ("ATTEMPTS", |v| s(&v["maxAttempts"])),
    ("FILTER", |v| {
        if v["filter"].is_object() {
            v["filter"].to_string()
        } else {
            "-".into()
        }
    }),
];
const MESSAGE_COLS: &[Column] = &[
    ("ID", |v| s(&v["id"])),
    ("RECEIVED", |v| s(&v["receivedAt"])),
    ("EVENT TYPE", |v| s(&v["eventType"])),
    ("METHOD", |v| s(&v["method"])),
    ("PATH", |v| s(&v["path"])),
    ("SIZE", |v| output::bytes(v["size"].as_u64().unwrap_or(0))),
    ("VERIFIED", |v| s(&v["verified"])),
];
const DEAD_COLS: &[Column] = &[
    ("MESSAGE", |v| s(&v["messageId"])),
    ("DEAD AT", |v| s(&v["deadAt"])),
    ("ATTEMPTS", |v| s(&v["attempts"])),
    ("REASON", |v| s(&v["reason"])),
];

fn join(v: &Value) -> String {
    match v.as_array() {
        Some(a) if !a.is_empty() => a.iter().map(s).collect::<Vec<_>>().join(","),
        _ => "-".into(),
    }
}

fn items(v: &Value) -> Vec<Value> {
    v["items"].as_array().cloned().unwrap_or_default()
}

/// What a create/delete says to people (scripts get the JSON answer).
fn done(json: bool, v: &Value, human: String) {
    if json {
        println!("{}", if v.is_null() { json!({}) } else { v.clone() });
    } else {
        println!("{human}");
    }
}

async fn dispatch(c: &Client, json: bool, op: Ops) -> Result<(), CliError> {
    match op {
        Ops::Tenants { cmd, .. } => match cmd {
            TenantsCmd::Create { name } => {
                let v = c.post("/v1/tenants", &json!({ "name": name })).await?;
                done(
                    json,
                    &v,
                    format!("created tenant {} ({})", s(&v["id"]), s(&v["name"])),
                );
            }
            TenantsCmd::List => list(json, &items(&c.get("/v1/tenants").await?), TENANT_COLS),
            TenantsCmd::Get { id } => {
                output::doc(json, &c.get(&format!("/v1/tenants/{}", seg(&id))).await?)
            }
            TenantsCmd::Delete { id } => {
                let v = c.delete(&format!("/v1/tenants/{}", seg(&id))).await?;
                done(json, &v, format!("deleted tenant {id}"));
            }
        },
        Ops::Tokens { cmd, .. } => match cmd {
            TokensCmd::Create {
                tenant,
                scopes,
                queues,
                expires_in,
            } => {
                let mut body = json!({ "scopes": scopes });
                if !queues.is_empty() {
                    body["queues"] = json!(queues);
                }
                if let Some(e) = expires_in {
                    body["expiresInSeconds"] = json!(e);
                }
                let v = c
                    .post(&format!("/v1/tenants/{}/tokens", seg(&tenant)), &body)
                    .await?;
                done(
                    json,
                    &v,
                    format!(
                        "created token {} (expires {})\n{}",
                        s(&v["id"]),
                        s(&v["expiresAt"]),
                        s(&v["token"])
                    ),
                );
            }
            TokensCmd::List { tenant } => list(
                json,
                &items(
                    &c.get(&format!("/v1/tenants/{}/tokens", seg(&tenant)))
                        .await?,
                ),
                TOKEN_COLS,
            ),
            TokensCmd::Revoke { tenant, id } => {
                let v = c
                    .delete(&format!("/v1/tenants/{}/tokens/{}", seg(&tenant), seg(&id)))
                    .await?;
                done(json, &v, format!("revoked token {id}"));
            }
        },
        Ops::Sources { cmd, .. } => match cmd {
            SourcesCmd::Create {
                name,
                kind,
                secrets,
                verification,
                set,
            } => {
                let mut body = parse_obj("--set", &set)?;
                body.insert("name".into(), json!(name));
                let ver = match verification {
                    Some(v) => parse_json("--verification", &v)?,
                    None if secrets.is_empty() => json!({ "type": kind }),
                    None => json!({ "type": kind, "secrets": secrets }),
                };
                body.insert("verification".into(), ver);
                let v = c.post("/v1/sources", &Value::Object(body)).await?;
                done(
                    json,
                    &v,
                    format!(
                        "created source {} — providers post to\n{}",
                        s(&v["id"]),
                        s(&v["ingestUrl"])
                    ),
                );
            }
            SourcesCmd::List => list(json, &items(&c.get("/v1/sources").await?), SOURCE_COLS),
            SourcesCmd::Get { id } => {
                output::doc(json, &c.get(&format!("/v1/sources/{}", seg(&id))).await?)
            }
            SourcesCmd::Update {
                id,
                name,
                secrets,
                set,
            } => {
                let mut body = parse_obj("--set", &set)?;
                if let Some(n) = name {
                    body.insert("name".into(), json!(n));
                }
                if !secrets.is_empty() {
                    // keep the scheme, replace its secrets
                    let cur = c.get(&format!("/v1/sources/{}", seg(&id))).await?;
                    let mut ver = cur["verification"].clone();
                    ver["secrets"] = json!(secrets);
                    body.insert("verification".into(), ver);
                }
                let v = c
                    .patch(&format!("/v1/sources/{}", seg(&id)), &Value::Object(body))
                    .await?;
                done(json, &v, format!("updated source {id}"));
            }
            SourcesCmd::Delete { id } => {
                let v = c.delete(&format!("/v1/sources/{}", seg(&id))).await?;
                done(json, &v, format!("deleted source {id}"));
            }
        },
        Ops::Queues { cmd, .. } => match cmd {
            QueuesCmd::Create {
                source,
                name,
                filter,
                set,
            } => {
                let mut body = parse_obj("--set", &set)?;
                body.insert("sourceId".into(), json!(source));
                body.insert("name".into(), json!(name));
                if let Some(f) = filter {
                    body.insert("filter".into(), parse_json("--filter", &f)?);
                }
                let v = c.post("/v1/queues", &Value::Object(body)).await?;
                done(
                    json,
                    &v,
                    format!("created queue {} on {}", s(&v["id"]), s(&v["sourceId"])),
                );
            }
            QueuesCmd::List { source } => {
                let path = match source {
                    Some(src) => format!("/v1/queues?sourceId={}", seg(&src)),
                    None => "/v1/queues".into(),
                };
                list(json, &items(&c.get(&path).await?), QUEUE_COLS)
            }
            QueuesCmd::Get { id } => {
                output::doc(json, &c.get(&format!("/v1/queues/{}", seg(&id))).await?)
            }
            QueuesCmd::Update {
                id,
                name,
                filter,
                no_filter,
                set,
            } => {
                let mut body = parse_obj("--set", &set)?;
                if let Some(n) = name {
                    body.insert("name".into(), json!(n));
                }
                if let Some(f) = filter {
                    body.insert("filter".into(), parse_json("--filter", &f)?);
                }
                if no_filter {
                    body.insert("filter".into(), Value::Null);
                }
                let v = c
                    .patch(&format!("/v1/queues/{}", seg(&id)), &Value::Object(body))
                    .await?;
                done(json, &v, format!("updated queue {id}"));
            }
            QueuesCmd::Delete { id } => {
                let v = c.delete(&format!("/v1/queues/{}", seg(&id))).await?;
                done(json, &v, format!("deleted queue {id}"));
            }
        },
        Ops::Messages { cmd, .. } => match cmd {
            MessagesCmd::List {
                source,
                limit,
                all,
                event_type,
                header,
                q,
                from,
                to,
            } => {
                let mut query: Vec<(&str, String)> = vec![];
                let page = if all { 1000 } else { limit.clamp(1, 1000) };
                query.push(("limit", page.to_string()));
                if let Some(t) = event_type {
                    query.push(("eventType", t));
                }
                for h in header {
                    query.push(("header", h));
                }
                if let Some(t) = q {
                    query.push(("q", t));
                }
                if let Some(t) = from {
                    query.push(("from", t));
                }
                if let Some(t) = to {
                    query.push(("to", t));
                }
                let got = messages(c, &source, &query, all, limit).await?;
                list(json, &got, MESSAGE_COLS);
            }
            MessagesCmd::Get { id } => {
                output::doc(json, &c.get(&format!("/v1/messages/{}", seg(&id))).await?)
            }
        },
        Ops::DeadLetters { queue, limit, .. } => {
            let v = c
                .get(&format!(
                    "/v1/queues/{}/dead-letters?limit={}",
                    seg(&queue),
                    limit.clamp(1, 1000)
                ))
                .await?;
            list(json, &items(&v), DEAD_COLS);
        }
        Ops::Replay { args: a, .. } => {
            let given = [!a.ids.is_empty(), a.from.is_some(), a.dead_letters];
            if given.iter().filter(|g| **g).count() != 1 {
                return Err(fail(
                    "nothing to replay",
                    "give exactly one of --ids, --from/--to, --dead-letters",
                ));
            }
            let body = if !a.ids.is_empty() {
                json!({ "messageIds": a.ids })
            } else if a.dead_letters {
                json!({ "deadLetters": true })
            } else {
                let ms = |t: &Option<String>| -> Value {
                    let t = t.clone().unwrap_or_default();
                    t.parse::<i64>()
                        .map(Value::from)
                        .unwrap_or(Value::String(t))
                };
                json!({ "from": ms(&a.from), "to": ms(&a.to) })
            };
            let v = c
                .post(&format!("/v1/queues/{}/replay", seg(&a.queue)), &body)
                .await?;
            done(
                json,
                &v,
                format!("replayed {} messages on {}", s(&v["replayed"]), a.queue),
            );
        }
        Ops::Tail { source, .. } => tail::run(c, json, &source).await?,
    }
    Ok(())
}

/// History pages, following the cursor with --all (a spinner on a
/// terminal, silent when piped).
async fn messages(
    c: &Client,
    source: &str,
    query: &[(&str, String)],
    all: bool,
    limit: u64,
) -> Result<Vec<Value>, CliError> {
    let pb = indicatif::ProgressBar::new_spinner();
    pb.set_draw_target(indicatif::ProgressDrawTarget::stderr());
    let mut out = vec![];
    let mut cursor: Option<String> = None;
    loop {
        let mut q: Vec<(&str, String)> = query.to_vec();
        if let Some(cur) = &cursor {
            q.push(("cursor", cur.clone()));
        }
        let qs = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(q.iter().map(|(k, v)| (*k, v.as_str())))
            .finish();
        let v = c
            .get(&format!("/v1/sources/{}/messages?{qs}", seg(source)))
            .await?;
        out.extend(items(&v));
        pb.set_message(format!("{} messages", out.len()));
        pb.tick();
        cursor = v["nextCursor"].as_str().map(String::from);
        let enough = !all && out.len() as u64 >= limit;
        if cursor.is_none() || enough {
            break;
        }
    }
    pb.finish_and_clear();
    if !all {
        out.truncate(limit as usize);
    }
    Ok(out)
}
