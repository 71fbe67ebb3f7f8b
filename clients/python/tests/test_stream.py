"""SSE consumption against a real relay."""

from __future__ import annotations

import json

import pytest
from conftest import FAST

import hookbay
from hookbay import AuthError, Consumer, NotFound


def test_stream_receives_and_acks(tenant, consumer, background):
    bodies = [json.dumps({"n": i}).encode() for i in range(3)]
    ids = [tenant.deliver(b, headers={"X-Trace": f"t{i}"}) for i, b in enumerate(bodies)]
    stream = background(lambda: consumer.stream(tenant.queue_id, prefetch=10))
    msgs = stream.take(3)
    assert [m.id for m in msgs] == ids  # receive order
    for i, m in enumerate(msgs):
        assert isinstance(m, hookbay.Message)
        assert m.payload == bodies[i]
        assert m.json() == {"n": i}
        assert m.text == bodies[i].decode()
        assert m.content_type == "application/json"
        assert m.attempt == 1
        assert m.event_type is None
        assert m.headers["x-trace"] == f"t{i}"
        assert m.meta.queue_id == tenant.queue_id
        assert m.meta.source_id == tenant.source_id
        assert m.meta.method == "POST"
        assert m.meta.redelivered is False
        assert m.meta.lease_expires_at is not None
        m.ack()
        assert m.settled == "ack"
    counts = tenant.counts()
    assert (counts["ready"], counts["leased"], counts["dead"]) == (0, 0, 0)
    for mid in ids:
        (delivery,) = tenant.message(mid)["deliveries"]
        assert delivery["state"] == "acked"


def test_stream_payload_bytes_are_exact(tenant, consumer, background):
    raw = b"\xff\x00\xfe"  # not UTF-8: travels base64-encoded in the event
    text = "h\u00e9llo \U0001f600\r\nline\rtwo\n".encode()  # multi-byte, CR/LF inside
    empty = b""
    ids = [
        tenant.deliver(raw, "application/octet-stream"),
        tenant.deliver(text, "text/plain; charset=utf-8"),
        tenant.deliver(empty, None),
    ]
    stream = background(lambda: consumer.stream(tenant.queue_id))
    a, b, c = stream.take(3)
    assert [a.id, b.id, c.id] == ids
    assert a.payload == raw
    assert a.content_type == "application/octet-stream"
    assert b.payload == text
    assert b.text == text.decode()
    assert c.payload == b""
    assert c.content_type is None
    for m in (a, b, c):
        m.ack()


def test_stream_reconnects_after_relay_restart(private_relay, background):
    t = private_relay.tenant()
    consumer = Consumer(t.url, t.token, backoff=FAST)
    stream = background(lambda: consumer.stream(t.queue_id))
    first = t.deliver(b"before restart")
    m = stream.get()
    assert (m.id, m.payload) == (first, b"before restart")
    m.ack()

    private_relay.stop()  # the stream's connection drops; reconnects fail
    private_relay.start()  # same port, same data dir, same secret key

    second = t.deliver(b"after restart")
    m = stream.get()
    assert (m.id, m.payload) == (second, b"after restart")
    m.ack()
    assert t.counts()["ready"] == 0

    consumer.close()  # ends the stream at its next event or keep-alive
    t.deliver(b"wake the stream up")
    stream.wait_end()
    t.close()


def test_close_ends_a_blocked_stream(tenant, background):
    consumer = Consumer(tenant.url, tenant.token, backoff=FAST)
    stream = background(lambda: consumer.stream(tenant.queue_id))
    tenant.deliver(b"one")
    stream.get().ack()
    consumer.close()
    tenant.deliver(b"two")  # whatever wakes the stream, it yields no more
    stream.wait_end()


def test_stream_ends_with_not_found_when_queue_deleted(tenant, consumer, background):
    tenant.deliver(b"x")
    stream = background(lambda: consumer.stream(tenant.queue_id))
    stream.get()  # the stream is up
    tenant.delete_queue()
    err = stream.error()
    assert isinstance(err, NotFound), repr(err)
    assert "queue deleted" in str(err)


def test_stream_ends_with_auth_error_when_token_revoked(tenant, consumer, background):
    tenant.deliver(b"x")
    stream = background(lambda: consumer.stream(tenant.queue_id))
    stream.get().ack()  # the stream is up
    tenant.revoke_token()
    err = stream.error()
    assert isinstance(err, AuthError), repr(err)
    assert err.status == 401


def test_stream_bad_token_and_unknown_queue_raise_at_once(tenant, consumer):
    bad = Consumer(tenant.url, "not-a-token", backoff=FAST)
    with pytest.raises(AuthError) as e:
        next(iter(bad.stream(tenant.queue_id)))
    assert e.value.status == 401
    with pytest.raises(NotFound):
        next(iter(consumer.stream("q_doesnotexist")))
    with pytest.raises(hookbay.InvalidRequest) as e2:
        next(iter(consumer.stream(tenant.queue_id, prefetch=0)))
    assert "prefetch" in (e2.value.detail or "")
