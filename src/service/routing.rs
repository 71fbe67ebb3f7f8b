//! Routing on stored messages: replaying a time range through a queue's
//! filter, trying a filter on a message, and searching a source's history.
//! Every scan here is bounded per call.

use serde_json::Value;

use super::{Result, ServiceError};
use crate::model::{Queue, StoredMessage};
use crate::routing::{check, Filter, Subject};
use crate::state::AppState;
use crate::store::types::REPLAY_LIMIT;
use crate::store::ReplaySelector;

/// Messages read per store call while scanning.
const SCAN_PAGE: usize = 500;

/// Messages a history search looks at per request (then it answers with a
/// cursor to go on from).
pub const SEARCH_SCAN: usize = 5_000;

/// The filter document of a stored message.
pub fn document(m: &StoredMessage, with_body: bool) -> Value {
    Subject {
        method: &m.method,
        path: &m.path,
        query: &m.query,
        headers: &m.headers,
        event_type: m.event_type.as_deref(),
        content_type: m.content_type.as_deref(),
        body: &m.body,
    }
    .document(with_body)
}

/// Replay the messages received in [from_ms, to_ms] that match the
/// queue's current filter (all of them without one). Like an unfiltered
/// range replay, it considers at most `REPLAY_LIMIT` messages, oldest
/// first. `None` when the queue is gone.
pub async fn replay_range(
    state: &AppState,
    q: &Queue,
    from_ms: i64,
    to_ms: i64,
) -> Result<Option<u64>> {
    let filter = match &q.filter {
        None => None,
        Some(doc) => Some(Filter::compile(doc).map_err(ServiceError::Invalid)?),
    };
    let Some(filter) = filter else {
        return Ok(state
            .store
            .replay(
                &q.source_id,
                &q.id,
                &ReplaySelector::Range { from_ms, to_ms },
            )
            .await?);
    };
    let mut matching = vec![];
    let mut after: Option<String> = None;
    let mut seen = 0;
    while seen < REPLAY_LIMIT {
        let page = state
            .store
            .scan(
                &q.source_id,
                from_ms,
                to_ms,
                after.as_deref(),
                SCAN_PAGE.min(REPLAY_LIMIT - seen),
            )
            .await?;
        seen += page.len();
        let last = page.last().map(|m| m.stream_id.clone());
        for m in &page {
            if check(&filter, &document(m, filter.uses_body())).is_ok() {
                matching.push(m.stream_id.clone());
            }
        }
        match last {
            Some(l) if page.len() == SCAN_PAGE => after = Some(l),
            _ => break,
        }
    }
    let mut n = 0;
    for chunk in matching.chunks(1000) {
        let sel = ReplaySelector::Ids(chunk.to_vec());
        match state.store.replay(&q.source_id, &q.id, &sel).await? {
            Some(k) => n += k,
            None => return Ok(None),
        }
    }
    if matching.is_empty() && state.store.queue(&q.id).await?.is_none() {
        return Ok(None);
    }
    Ok(Some(n))
}

/// What to search a source's history for (all given parts must hold).
#[derive(Debug, Default)]
pub struct Search {
    pub event_type: Option<String>,
    /// (lower-case name, value): some header of that name has exactly the
    /// value (or the header's values joined, as the API shows them).
    pub headers: Vec<(String, String)>,
    /// Substring of the raw body bytes.
    pub text: Option<String>,
}

impl Search {
    pub fn is_empty(&self) -> bool {
        self.event_type.is_none() && self.headers.is_empty() && self.text.is_none()
    }

    pub fn matches(&self, m: &StoredMessage) -> bool {
        if let Some(t) = &self.event_type {
            if m.event_type.as_deref() != Some(t.as_str()) {
                return false;
            }
        }
        for (name, value) in &self.headers {
            let single = m.headers.iter().any(|(n, v)| n == name && v == value);
            let joined = || {
                crate::model::header_map(&m.headers)
                    .get(name.as_str())
                    .is_some_and(|v| v == value)
            };
            if !single && !joined() {
                return false;
            }
        }
        if let Some(t) = &self.text {
            if !t.is_empty() && !contains(&m.body, t.as_bytes()) {
                return false;
            }
        }
        true
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
}

/// One page of a history search: the matches, newest first, and the
/// stream id to go on from (strictly older) when the scan stopped before
/// the end of the range.
pub struct Found {
    pub items: Vec<StoredMessage>,
    pub next: Option<String>,
}

/// Search a source's history, newest first, looking at no more than
/// `SEARCH_SCAN` messages.
pub async fn search(
    state: &AppState,
    source_id: &str,
    (from_ms, to_ms): (i64, i64),
    before: Option<String>,
    limit: usize,
    s: &Search,
) -> Result<Found> {
    let mut items = vec![];
    let mut cursor = before;
    let mut seen = 0;
    loop {
        let want = SCAN_PAGE.min(SEARCH_SCAN - seen);
        let page = state
            .store
            .history(source_id, from_ms, to_ms, cursor.as_deref(), want)
            .await?;
        let full = page.len() == want;
        for m in page {
            seen += 1;
            cursor = Some(m.stream_id.clone());
            if s.matches(&m) {
                items.push(m);
                if items.len() == limit {
                    // more may follow: go on after this one
                    return Ok(Found {
                        items,
                        next: cursor,
                    });
                }
            }
        }
        if !full {
            return Ok(Found { items, next: None });
        }
        if seen >= SEARCH_SCAN {
            return Ok(Found {
                items,
                next: cursor,
            });
        }
    }
}
