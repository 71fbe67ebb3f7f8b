//! Moving a deployment between backends: `hookbay export` writes a store
//! as NDJSON (one record per line: a header, tenants, token records,
//! sources, queues, then every message with its stream id and each queue's
//! delivery state, oldest first per source); `hookbay import` reads it into
//! an empty store of either backend. Both go through the store contract
//! only, so any pair of backends works.
//!
//! Not carried: dedupe windows (they restart empty), rate-limit buckets
//! (they start full), the generated signing key (set `HOOKBAY_SECRET_KEY`
//! on both sides, or every token must be minted again).

use std::io::{BufRead, Write};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::model::{DeliveryState, Queue, Source, Tenant, TokenRecord};
use crate::store::types::{AttemptRecord, DeliveryRecord, MessageRecord};
use crate::store::{Store, StoreError};

/// The format name in the header line.
pub const FORMAT: &str = "hookbay-export";
/// The format version this build writes and reads.
pub const VERSION: u32 = 1;

/// One line of an export.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Record {
    #[serde(rename_all = "camelCase")]
    Header {
        format: String,
        version: u32,
        exported_at: String,
        backend: String,
    },
    Tenant {
        tenant: Tenant,
    },
    Token {
        token: TokenRecord,
    },
    #[serde(rename_all = "camelCase")]
    Source {
        source: Source,
        verification_failures: u64,
    },
    Queue {
        queue: Queue,
    },
    Message(MessageRecord),
}

/// What an export or import moved.
#[derive(Debug, Default, Clone, Copy)]
pub struct Summary {
    pub tenants: u64,
    pub tokens: u64,
    pub sources: u64,
    pub queues: u64,
    pub messages: u64,
    pub bytes: u64,
    pub took: Duration,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} tenants, {} tokens, {} sources, {} queues, {} messages; {} bytes in {:.2} s",
            self.tenants,
            self.tokens,
            self.sources,
            self.queues,
            self.messages,
            self.bytes,
            self.took.as_secs_f64()
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("line {0}: {1}")]
    Line(u64, String),
    #[error("the target store is not empty ({0} tenants); import into an empty store")]
    NotEmpty(usize),
}

fn ms(ts: &Option<String>) -> Option<i64> {
    ts.as_deref()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.timestamp_millis())
}

/// A delivery state as the API shows it, back in ms.
pub fn delivery_record(queue_id: &str, s: &DeliveryState) -> DeliveryRecord {
    DeliveryRecord {
        queue_id: queue_id.into(),
        state: s.state.clone(),
        attempts: s.attempts,
        generation: s.generation,
        replayed: s.replayed,
        lease_expires_at_ms: ms(&s.lease_expires_at),
        next_attempt_at_ms: ms(&s.next_attempt_at),
        dead_reason: s.dead_reason.clone(),
        dead_at_ms: ms(&s.dead_at),
        history: s
            .history
            .iter()
            .map(|a| AttemptRecord {
                attempt: a.attempt,
                leased_at_ms: ms(&Some(a.leased_at.clone())).unwrap_or(0),
                outcome: a.outcome.clone(),
                reason: a.reason.clone(),
                settled_at_ms: ms(&a.settled_at),
            })
            .collect(),
    }
}

/// A progress display on stderr (hidden when stderr is not a terminal).
fn spinner(what: &str) -> indicatif::ProgressBar {
    let pb = indicatif::ProgressBar::new_spinner();
    pb.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {prefix} {msg} [{elapsed}]")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    pb.set_prefix(what.to_string());
    pb.enable_steady_tick(Duration::from_millis(120));
    pb
}

fn line<W: Write>(out: &mut W, r: &Record, sum: &mut Summary) -> Result<(), TransferError> {
    let mut s = serde_json::to_vec(r).map_err(|e| TransferError::Line(0, e.to_string()))?;
    s.push(b'\n');
    out.write_all(&s)?;
    sum.bytes += s.len() as u64;
    Ok(())
}

/// History pages read per request while exporting.
const PAGE: usize = 500;

/// Write every record of `store` to `out`.
pub async fn export<W: Write>(store: &Store, out: &mut W) -> Result<Summary, TransferError> {
    let started = Instant::now();
    let pb = spinner("export");
    let mut sum = Summary::default();
    line(
        out,
        &Record::Header {
            format: FORMAT.into(),
            version: VERSION,
            exported_at: crate::model::now_rfc3339(),
            backend: store.backend().into(),
        },
        &mut sum,
    )?;
    let tenants = store.tenants().await?;
    let mut sources = vec![];
    let mut queues = vec![];
    for t in &tenants {
        line(out, &Record::Tenant { tenant: t.clone() }, &mut sum)?;
        sum.tenants += 1;
        for tok in store.tokens(&t.id).await? {
            line(out, &Record::Token { token: tok }, &mut sum)?;
            sum.tokens += 1;
        }
        sources.extend(store.sources(&t.id).await?);
        queues.extend(store.queues(&t.id).await?);
    }
    for s in &sources {
        let failures = store.verification_failures(&s.id).await?;
        line(
            out,
            &Record::Source {
                source: s.clone(),
                verification_failures: failures,
            },
            &mut sum,
        )?;
        sum.sources += 1;
    }
    for q in &queues {
        line(out, &Record::Queue { queue: q.clone() }, &mut sum)?;
        sum.queues += 1;
    }
    for s in &sources {
        let qids = store.source_queue_ids(&s.id).await?;
        // ids newest first, page by page; then oldest first, one at a time
        let mut ids = vec![];
        let mut before: Option<String> = None;
        loop {
            let page = store
                .history(&s.id, 0, i64::MAX, before.as_deref(), PAGE)
                .await?;
            let Some(last) = page.last() else { break };
            before = Some(last.stream_id.clone());
            let n = page.len();
            ids.extend(page.into_iter().map(|m| m.stream_id));
            if n < PAGE {
                break;
            }
        }
        for sid in ids.iter().rev() {
            let Some(m) = store.message(&s.id, sid).await? else {
                continue; // trimmed meanwhile
            };
            let mut deliveries = vec![];
            for q in &qids {
                if let Some(st) = store.delivery_state(&s.id, q, sid).await? {
                    deliveries.push(delivery_record(q, &st));
                }
            }
            use base64::Engine;
            let rec = MessageRecord {
                source_id: s.id.clone(),
                stream_id: m.stream_id,
                method: m.method,
                path: m.path,
                query: m.query,
                headers: m.headers,
                content_type: m.content_type,
                body: base64::engine::general_purpose::STANDARD.encode(&m.body),
                verified: m.verified,
                scheme: m.scheme,
                dedupe_key: m.dedupe_key,
                event_type: m.event_type,
                deliveries,
            };
            line(out, &Record::Message(rec), &mut sum)?;
            sum.messages += 1;
            if sum.messages % 1000 == 0 {
                pb.set_message(format!("{} messages, {} bytes", sum.messages, sum.bytes));
            }
        }
    }
    out.flush()?;
    pb.finish_and_clear();
    sum.took = started.elapsed();
    Ok(sum)
}

/// Read an export into `store`, which must hold no tenant yet. `total`
/// (the file's size, when known) drives the progress bar.
pub async fn import<R: BufRead>(
    store: &Store,
    input: R,
    total: Option<u64>,
) -> Result<Summary, TransferError> {
    let started = Instant::now();
    let existing = store.tenants().await?.len();
    if existing > 0 {
        return Err(TransferError::NotEmpty(existing));
    }
    let pb = match total {
        Some(n) => {
            let pb = indicatif::ProgressBar::new(n);
            pb.set_style(
                indicatif::ProgressStyle::with_template(
                    "import [{bar:30}] {bytes}/{total_bytes} {msg} [{elapsed}]",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            pb
        }
        None => spinner("import"),
    };
    let mut sum = Summary::default();
    let mut sealed: Vec<String> = vec![];
    let mut n = 0u64;
    for l in input.lines() {
        let l = l?;
        n += 1;
        sum.bytes += l.len() as u64 + 1;
        pb.set_position(sum.bytes);
        if l.trim().is_empty() {
            continue;
        }
        let rec: Record =
            serde_json::from_str(&l).map_err(|e| TransferError::Line(n, e.to_string()))?;
        match rec {
            Record::Header {
                format, version, ..
            } => {
                if format != FORMAT || version != VERSION {
                    return Err(TransferError::Line(
                        n,
                        format!("not a {FORMAT} v{VERSION} file ({format} v{version})"),
                    ));
                }
            }
            _ if n == 1 => {
                return Err(TransferError::Line(n, "no header line".into()));
            }
            Record::Tenant { tenant } => {
                store.create_tenant(&tenant).await?;
                sum.tenants += 1;
            }
            Record::Token { token } => {
                store.create_token(&token).await?;
                if token.revoked_at.is_some() {
                    let until = chrono::DateTime::parse_from_rfc3339(&token.expires_at)
                        .map(|t| t.timestamp())
                        .unwrap_or(i64::MAX);
                    store.revoke_token(&token, until).await?;
                }
                sum.tokens += 1;
            }
            Record::Source {
                source,
                verification_failures,
            } => {
                store
                    .reserve(&source.tenant_id, "sources", &source.id, u64::MAX)
                    .await?;
                store.create_source(&source).await?;
                if verification_failures > 0 {
                    store
                        .count_verification_failures(&source.id, verification_failures)
                        .await?;
                }
                sealed.push(source.id.clone());
                sum.sources += 1;
            }
            Record::Queue { queue } => {
                store
                    .reserve(&queue.tenant_id, "queues", &queue.id, u64::MAX)
                    .await?;
                store.create_queue(&queue).await?;
                sum.queues += 1;
            }
            Record::Message(m) => {
                if m.body_bytes().is_none() {
                    return Err(TransferError::Line(n, "body is not base64".into()));
                }
                store.import_message(&m).await?;
                sum.messages += 1;
                if sum.messages % 1000 == 0 {
                    pb.set_message(format!("{} messages", sum.messages));
                }
            }
        }
    }
    for s in &sealed {
        store.seal_import(s).await?;
    }
    pb.finish_and_clear();
    sum.took = started.elapsed();
    Ok(sum)
}
