//! Concurrent ingests share one store call (Redis: one `ingest.lua` call per
//! batch; embedded: one group commit), and each keeps its own outcome: a
//! duplicate, a stale routing view or a filtered queue in the same batch
//! changes nothing for the others.

use futures_util::future::join_all;
use hookbay::store::{
    Fanout, IngestOutcome, NewMessage, ReplaySelector, SettleItem, SettleOp, SettleOutcome, Store,
    StoreError,
};
use serde_json::json;

use crate::common::*;

crate::both!(
    concurrent_ingests_each_keep_their_own_outcome,
    one_settle_call_applies_items_on_one_message_in_order,
);

/// A tenant, a source and two queues created through the store itself (no
/// relay: nothing else talks to the store).
async fn catalog(store: &Store) -> (String, String, String) {
    let tenant: hookbay::model::Tenant = serde_json::from_value(json!({
        "id": "t_coalesce", "name": "coalesce", "createdAt": "2026-01-01T00:00:00.000Z"
    }))
    .unwrap();
    store.create_tenant(&tenant).await.unwrap();
    let source: hookbay::model::Source = serde_json::from_value(json!({
        "id": "src_coalesce", "tenantId": tenant.id, "name": "s", "ingestKey": "in_coalesce",
        "verification": {"type": "none"}, "maxBodyBytes": 1_048_576, "retentionHours": 24,
        "createdAt": "2026-01-01T00:00:00.000Z"
    }))
    .unwrap();
    store.create_source(&source).await.unwrap();
    let mut qs = vec![];
    for name in ["q1", "q2"] {
        let q: hookbay::model::Queue = serde_json::from_value(json!({
            "id": format!("q_coalesce_{name}"), "tenantId": tenant.id, "sourceId": source.id,
            "name": name, "leaseSeconds": 30, "maxAttempts": 5,
            "backoff": {"initialSeconds": 1.0, "multiplier": 2.0, "maxSeconds": 60.0},
            "createdAt": "2026-01-01T00:00:00.000Z"
        }))
        .unwrap();
        store.create_queue(&q).await.unwrap();
        qs.push(q.id);
    }
    (source.id, qs[0].clone(), qs[1].clone())
}

fn message<'a>(
    body: &'a [u8],
    dedupe: Option<&'a str>,
    version: u64,
    decisions: &'a [(String, bool)],
) -> NewMessage<'a> {
    NewMessage {
        method: "POST",
        path: "",
        query: "",
        headers: &[],
        content_type: Some("text/plain"),
        body,
        verified: false,
        scheme: "none",
        dedupe_key: dedupe,
        dedupe_window_secs: 3600,
        event_type: None,
        fanout: Fanout {
            version,
            queues: decisions,
        },
    }
}

async fn concurrent_ingests_each_keep_their_own_outcome(b: Backend) {
    let storage = Storage::start(b);
    let store = hookbay::app::open_store(&config(&storage)).await.unwrap();
    let (src, q1, q2) = catalog(&store).await;
    let (version, _) = store.source_routes(&src).await.unwrap();
    let none: Vec<(String, bool)> = vec![];
    let skip_q2 = vec![(q2.clone(), false)];
    let bodies: Vec<Vec<u8>> = (0..12).map(|i| format!("m{i}").into_bytes()).collect();
    // 0..8 plain, 8 and 9 share a dedupe key, 10 decided at a stale routing
    // version, 11 filtered out of q2 — all in flight at once
    let msgs: Vec<NewMessage<'_>> = bodies
        .iter()
        .enumerate()
        .map(|(i, body)| match i {
            8 | 9 => message(body, Some("same"), version, &none),
            10 => message(body, None, version + 7, &none),
            11 => message(body, None, version, &skip_q2),
            _ => message(body, None, version, &none),
        })
        .collect();
    let outcomes = join_all(msgs.iter().map(|m| store.ingest(&src, m))).await;
    let outcomes: Vec<IngestOutcome> = outcomes.into_iter().map(|o| o.unwrap()).collect();
    let mut stored = vec![];
    for (i, o) in outcomes.iter().enumerate() {
        match (i, o) {
            (0..=8, IngestOutcome::Stored { stream_id, queues }) => {
                assert_eq!(*queues, 2, "message {i} goes to both queues");
                stored.push(stream_id.clone());
            }
            (9, IngestOutcome::Duplicate { stream_id }) => {
                assert_eq!(Some(stream_id), stored.get(8), "the first one's id");
            }
            (10, IngestOutcome::Reroute) => {}
            (11, IngestOutcome::Stored { stream_id, queues }) => {
                assert_eq!(*queues, 1, "filtered out of q2");
                stored.push(stream_id.clone());
            }
            _ => panic!("message {i}: unexpected outcome {o:?}"),
        }
    }
    // every stored message is whole: its body is readable, and the queues
    // hold exactly what each was routed to, in ingest order
    for (i, sid) in stored.iter().enumerate() {
        let m = store.message(&src, sid).await.unwrap().expect("stored");
        let want = if i == 9 { "m11" } else { &format!("m{i}") };
        assert_eq!(&m.body[..], want.as_bytes());
    }
    let c1 = store.queue_counts(&src, &q1).await.unwrap();
    let c2 = store.queue_counts(&src, &q2).await.unwrap();
    assert_eq!((c1.ready, c2.ready), (10, 9));
    let leased = store.lease(&src, &q1, 100, 30_000).await.unwrap().unwrap();
    let order: Vec<&str> = leased
        .iter()
        .map(|l| l.message.stream_id.as_str())
        .collect();
    let want: Vec<&str> = stored.iter().map(String::as_str).collect();
    assert_eq!(order, want, "q1 delivers in ingest order");
    // the rerouted message wrote nothing
    let all = store.scan(&src, 0, i64::MAX, None, 100).await.unwrap();
    assert_eq!(all.len(), 10, "{all:?}");

    // settles in flight together: each keeps its own outcome (a stale
    // generation and a nack among acks)
    let settles = join_all(leased.iter().enumerate().map(|(i, l)| {
        let (op, generation) = match i {
            0 => (SettleOp::Ack, l.generation + 1),
            1 => (SettleOp::Nack(Some(0)), l.generation),
            2 => (SettleOp::Reject, l.generation),
            _ => (SettleOp::Ack, l.generation),
        };
        store.settle(&src, &q1, &l.message.stream_id, generation, op, "")
    }))
    .await;
    for (i, o) in settles.into_iter().enumerate() {
        let o = o.unwrap();
        let want = match i {
            0 => SettleOutcome::Stale,
            1 => SettleOutcome::Done {
                state: "ready".into(),
                lease_expires_at_ms: 0,
            },
            2 => SettleOutcome::Done {
                state: "dead".into(),
                lease_expires_at_ms: 0,
            },
            _ => SettleOutcome::Done {
                state: "acked".into(),
                lease_expires_at_ms: 0,
            },
        };
        assert_eq!(o, want, "settle {i}");
    }
    let c1 = store.queue_counts(&src, &q1).await.unwrap();
    // the stale ack left its delivery leased; the nacked one is ready again
    assert_eq!((c1.ready, c1.leased, c1.dead), (1, 1, 1));

    // leases in flight together: every ready delivery goes to exactly one
    // of them, each in queue order
    let leases = join_all((0..4).map(|_| store.lease(&src, &q2, 3, 30_000))).await;
    let mut got: Vec<String> = vec![];
    for l in leases {
        let ids: Vec<String> = l
            .unwrap()
            .unwrap()
            .into_iter()
            .map(|l| l.message.stream_id)
            .collect();
        let mut sorted = ids.clone();
        sorted.sort_by_key(|s| hookbay::store::types::parse_stream_id(s));
        assert_eq!(ids, sorted, "each lease in queue order");
        got.extend(ids);
    }
    got.sort();
    got.dedup();
    assert_eq!(got.len(), 9, "the 9 ready deliveries of q2, each once");
}

/// Ingest `n` plain messages (to every queue); their stream ids.
async fn ingest_plain(store: &Store, src: &str, n: usize) -> Vec<String> {
    let (version, _) = store.source_routes(src).await.unwrap();
    let mut sids = vec![];
    for i in 0..n {
        let body = format!("m{i}").into_bytes();
        match store
            .ingest(src, &message(&body, None, version, &[]))
            .await
            .unwrap()
        {
            IngestOutcome::Stored { stream_id, .. } => sids.push(stream_id),
            o => panic!("{o:?}"),
        }
    }
    sids
}

/// Items of one call that touch the same delivery see each other's
/// outcome, in order (an extend then an ack leaves it acked and out of the
/// lease set; a second ack of it is stale; a nack after an extend
/// redelivers it), however the backend reads and writes states in bulk.
async fn one_settle_call_applies_items_on_one_message_in_order(b: Backend) {
    let storage = Storage::start(b);
    let store = hookbay::app::open_store(&config(&storage)).await.unwrap();
    let (src, q1, _) = catalog(&store).await;
    ingest_plain(&store, &src, 3).await;
    let l = store.lease(&src, &q1, 3, 30_000).await.unwrap().unwrap();
    assert_eq!(l.len(), 3);
    let item = |i: usize, op: SettleOp| SettleItem {
        stream_id: l[i].message.stream_id.clone(),
        generation: l[i].generation,
        op,
        reason: String::new(),
    };
    let out = store
        .settle_many(
            &src,
            &q1,
            &[
                item(0, SettleOp::Extend(60_000)),
                item(0, SettleOp::Ack),
                item(0, SettleOp::Ack),
                item(1, SettleOp::Ack),
                item(2, SettleOp::Extend(60_000)),
                item(2, SettleOp::Nack(Some(0))),
            ],
        )
        .await
        .unwrap();
    let states: Vec<String> = out
        .iter()
        .map(|o| match o {
            SettleOutcome::Done { state, .. } => state.clone(),
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(
        states,
        ["leased", "acked", "Stale", "acked", "leased", "ready"],
        "{out:?}"
    );
    let c = store.queue_counts(&src, &q1).await.unwrap();
    assert_eq!((c.ready, c.leased), (1, 0), "{c:?}");
    // the acked one keeps its history: one attempt, acked
    let st = store
        .delivery_state(&src, &q1, &l[0].message.stream_id)
        .await
        .unwrap()
        .expect("state");
    assert_eq!(st.history.len(), 1, "{st:?}");
    assert_eq!(st.history[0].outcome.as_deref(), Some("ack"), "{st:?}");
    // the nacked one is leased again, once, with its second attempt
    let again = store.lease(&src, &q1, 10, 30_000).await.unwrap().unwrap();
    let ids: Vec<&str> = again.iter().map(|l| l.message.stream_id.as_str()).collect();
    assert_eq!(ids, [l[2].message.stream_id.as_str()]);
    assert_eq!(again[0].attempt, 2);
}

async fn ack(
    store: &Store,
    src: &str,
    q: &str,
    l: &hookbay::model::Lease,
) -> Result<SettleOutcome, StoreError> {
    store
        .settle(
            src,
            q,
            &l.message.stream_id,
            l.generation,
            SettleOp::Ack,
            "",
        )
        .await
}

/// `INFO commandstats`' count of `EVALSHA` calls.
async fn evalsha_calls(r: &RedisServer) -> u64 {
    let mut c = r.conn().await;
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(&mut c)
        .await
        .unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("cmdstat_evalsha:calls="))
        .and_then(|v| v.split(',').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// On one thread (as an HTTP worker), ingests that arrive while none is in
/// flight go in one script call; when that call fails, every one of them
/// gets the error (503 at the HTTP layer) and none waits forever.
#[tokio::test]
async fn concurrent_ingests_share_one_script_call_redis_test() {
    let storage = Storage::start(Backend::Redis);
    let store = hookbay::app::open_store(&config(&storage)).await.unwrap();
    let (src, q1, _) = catalog(&store).await;
    let (version, _) = store.source_routes(&src).await.unwrap();
    let none: Vec<(String, bool)> = vec![];
    // loads the script
    let first = store
        .ingest(&src, &message(b"warm", None, version, &none))
        .await
        .unwrap();
    assert!(matches!(first, IngestOutcome::Stored { .. }));
    let before = evalsha_calls(storage.redis()).await;
    let bodies: Vec<Vec<u8>> = (0..20).map(|i| format!("b{i}").into_bytes()).collect();
    let msgs: Vec<NewMessage<'_>> = bodies
        .iter()
        .map(|b| message(b, None, version, &none))
        .collect();
    let outcomes = join_all(msgs.iter().map(|m| store.ingest(&src, m))).await;
    assert!(outcomes
        .iter()
        .all(|o| matches!(o, Ok(IngestOutcome::Stored { queues: 2, .. }))));
    assert_eq!(
        evalsha_calls(storage.redis()).await - before,
        1,
        "20 ingests, one script call"
    );
    assert_eq!(store.queue_counts(&src, &q1).await.unwrap().ready, 21);

    // the same for settles on one queue
    let leased = store.lease(&src, &q1, 21, 30_000).await.unwrap().unwrap();
    // loads the script
    let first = ack(&store, &src, &q1, &leased[0]).await;
    assert!(matches!(first, Ok(SettleOutcome::Done { .. })));
    let before = evalsha_calls(storage.redis()).await;
    let settles = join_all(leased[1..].iter().map(|l| ack(&store, &src, &q1, l))).await;
    assert!(settles
        .iter()
        .all(|o| matches!(o, Ok(SettleOutcome::Done { .. }))));
    assert_eq!(
        evalsha_calls(storage.redis()).await - before,
        1,
        "20 acks, one script call"
    );

    // and for leases of one queue
    for b in bodies.iter().take(4) {
        store
            .ingest(&src, &message(b, None, version, &none))
            .await
            .unwrap();
    }
    let warm = store.lease(&src, &q1, 1, 30_000).await.unwrap().unwrap();
    assert_eq!(warm.len(), 1);
    let before = evalsha_calls(storage.redis()).await;
    let leases = join_all((0..5).map(|_| store.lease(&src, &q1, 1, 30_000))).await;
    let counts: Vec<usize> = leases
        .iter()
        .map(|l| l.as_ref().unwrap().as_ref().unwrap().len())
        .collect();
    assert_eq!(
        counts,
        [1, 1, 1, 0, 0],
        "3 ready: the first three callers get one each"
    );
    assert_eq!(
        evalsha_calls(storage.redis()).await - before,
        1,
        "5 leases, one script call"
    );

    let Storage::Redis(mut redis) = storage else {
        unreachable!()
    };
    redis.stop();
    let outcomes = join_all(msgs.iter().take(5).map(|m| store.ingest(&src, m))).await;
    for o in outcomes {
        assert!(
            matches!(o, Err(StoreError::Unavailable(_))),
            "every ingest of the failed batch is told: {o:?}"
        );
    }
}

/// A delivery state the scripts cannot read (here written by hand; a bug
/// or a damaged import in life) stops nothing: a lease leaves it out and
/// leases the rest, a settle answers it "gone" and applies the others, the
/// upkeep drops it from the lease set, and a replay makes it deliverable
/// again under a lease generation no earlier token holds.
#[tokio::test]
async fn an_unreadable_delivery_state_fails_no_call_and_a_replay_mends_it_redis_test() {
    let storage = Storage::start(Backend::Redis);
    let store = hookbay::app::open_store(&config(&storage)).await.unwrap();
    let (src, q1, _) = catalog(&store).await;
    let sids = ingest_plain(&store, &src, 4).await;
    // u0 and u1 leased and nacked back: ready list u2 u3 u0 u1, with
    // states for u0 and u1
    let l = store.lease(&src, &q1, 2, 30_000).await.unwrap().unwrap();
    for d in &l {
        let o = store
            .settle(
                &src,
                &q1,
                &d.message.stream_id,
                d.generation,
                SettleOp::Nack(Some(0)),
                "",
            )
            .await
            .unwrap();
        assert!(matches!(o, SettleOutcome::Done { .. }), "{o:?}");
    }
    let st_key = format!("hb:{{{src}}}:q:{q1}:st");
    let mut c = storage.redis().conn().await;
    let hset = |sid: &str, v: &str| redis::cmd("HSET").arg(&st_key).arg(sid).arg(v).clone();
    let _: () = hset(&sids[0], "not json")
        .query_async(&mut c)
        .await
        .unwrap();
    let got = store.lease(&src, &q1, 10, 30_000).await.unwrap().unwrap();
    let ids: Vec<&str> = got.iter().map(|l| l.message.stream_id.as_str()).collect();
    assert_eq!(
        ids,
        [&sids[2], &sids[3], &sids[1]],
        "all but the unreadable one"
    );
    let c1 = store.queue_counts(&src, &q1).await.unwrap();
    assert_eq!((c1.ready, c1.leased), (0, 3));

    // a settle: the unreadable one (a lease without its expiry) is gone,
    // the others apply
    let _: () = hset(&sids[0], r#"{"s":"leased","a":1,"g":1}"#)
        .query_async(&mut c)
        .await
        .unwrap();
    let item = |sid: &str, generation: u64| SettleItem {
        stream_id: sid.to_string(),
        generation,
        op: SettleOp::Ack,
        reason: String::new(),
    };
    let out = store
        .settle_many(
            &src,
            &q1,
            &[item(&sids[0], 1), item(&sids[1], got[2].generation)],
        )
        .await
        .unwrap();
    assert_eq!(out[0], SettleOutcome::Gone);
    assert!(
        matches!(&out[1], SettleOutcome::Done { state, .. } if state == "acked"),
        "{out:?}"
    );

    // an unreadable state in the lease set, its lease expired: the next
    // lease's upkeep drops it instead of failing
    let _: () = hset(&sids[2], "not json")
        .query_async(&mut c)
        .await
        .unwrap();
    let _: () = redis::cmd("ZADD")
        .arg(format!("hb:{{{src}}}:q:{q1}:leased"))
        .arg(0)
        .arg(&sids[2])
        .query_async(&mut c)
        .await
        .unwrap();
    assert_eq!(
        store
            .lease(&src, &q1, 10, 30_000)
            .await
            .unwrap()
            .unwrap()
            .len(),
        0
    );
    let c1 = store.queue_counts(&src, &q1).await.unwrap();
    assert_eq!(c1.leased, 1, "only u3 is still leased");

    // a replay writes u0 a fresh state, under a generation above any
    // earlier lease's
    let n = store
        .replay(&src, &q1, &ReplaySelector::Ids(vec![sids[0].clone()]))
        .await
        .unwrap();
    assert_eq!(n, Some(1));
    let again = store.lease(&src, &q1, 10, 30_000).await.unwrap().unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].message.stream_id, sids[0]);
    assert_eq!(again[0].attempt, 1);
    assert!(again[0].generation > 1_000_000, "{}", again[0].generation);
    let stale = store
        .settle(&src, &q1, &sids[0], 2, SettleOp::Ack, "")
        .await
        .unwrap();
    assert_eq!(stale, SettleOutcome::Stale, "an earlier generation");
    assert!(matches!(
        ack(&store, &src, &q1, &again[0]).await,
        Ok(SettleOutcome::Done { .. })
    ));
}
