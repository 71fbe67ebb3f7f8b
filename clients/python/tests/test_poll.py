"""/next, the poll loop, and settling through the meta's capability URLs."""

from __future__ import annotations

from datetime import datetime

import pytest

import hookbay
from hookbay import LeaseExpired


def test_next_returns_none_when_nothing_arrives(tenant, consumer):
    assert consumer.next(tenant.queue_id) is None
    assert consumer.next(tenant.queue_id, wait=0) is None
    assert consumer.next(tenant.queue_id, wait=0.2) is None


def test_next_returns_raw_body_and_meta(tenant, consumer):
    body = "caf\u00e9 \u2603".encode()
    mid = tenant.deliver(body, "text/plain; charset=utf-8", headers={"X-Event": "ping"})
    m = consumer.next(tenant.queue_id, wait=5)
    assert m is not None
    assert isinstance(m, hookbay.Message)
    assert m.id == mid
    assert m.payload == body
    assert m.text == "caf\u00e9 \u2603"
    assert m.content_type == "text/plain; charset=utf-8"
    assert m.headers["x-event"] == "ping"
    assert m.attempt == 1
    meta = m.meta
    assert meta.message_id == mid
    assert meta.queue_id == tenant.queue_id
    assert meta.max_attempts == 5
    assert isinstance(meta.received_at, datetime) and meta.received_at.tzinfo is not None
    assert isinstance(meta.lease_expires_at, datetime)
    assert meta.lease_expires_at > meta.received_at
    assert meta.ack_url and meta.ack_url.startswith(tenant.url)
    assert m.lease_token and m.lease_token in meta.ack_url
    assert meta.verified is False and meta.verification == "none"
    assert meta.replayed is False
    # optional / unknown fields never raise KeyError
    assert meta.event_type is None and m.event_type is None
    assert meta.get("noSuchField") is None
    m.ack()


def test_next_payload_bytes_are_exact(tenant, consumer):
    raw = b"\xff\x00\xfe"
    tenant.deliver(raw, "application/octet-stream")
    m = consumer.next(tenant.queue_id, wait=5)
    assert m is not None
    assert m.payload == raw
    assert m.content_type == "application/octet-stream"
    m.ack()
    tenant.deliver(raw, None)  # no Content-Type at all
    m = consumer.next(tenant.queue_id, wait=5)
    assert m is not None
    assert m.payload == raw
    assert m.content_type is None
    m.ack()


def test_poll_loop(tenant, consumer, background):
    ids = [tenant.deliver(f"m{i}".encode()) for i in range(3)]
    polled = background(lambda: consumer.poll(tenant.queue_id, wait=5))
    msgs = polled.take(3)
    assert [m.id for m in msgs] == ids
    assert [m.payload for m in msgs] == [b"m0", b"m1", b"m2"]
    for m in msgs:
        m.ack()
    # the loop keeps going: a later message arrives too
    late = tenant.deliver(b"late")
    m = polled.get()
    assert m.id == late
    m.ack()
    polled.stop()


def test_ack_twice_raises_lease_expired(tenant, consumer):
    tenant.deliver(b"once")
    m = consumer.next(tenant.queue_id, wait=5)
    assert m is not None
    m.ack()
    with pytest.raises(LeaseExpired) as e:
        m.ack()
    assert e.value.status == 409
    assert isinstance(e.value, hookbay.Conflict)
    assert e.value.detail
    with pytest.raises(LeaseExpired):
        m.nack("too late")
    with pytest.raises(LeaseExpired):
        m.extend(10)


def test_nack_redelivers_with_attempt_2(tenant, consumer):
    mid = tenant.deliver(b"retry me")
    m = consumer.next(tenant.queue_id, wait=5)
    assert m is not None and m.attempt == 1
    m.nack(reason="db down", delay=0)
    assert m.settled == "nack"
    again = consumer.next(tenant.queue_id, wait=30)
    assert again is not None
    assert again.id == mid
    assert again.attempt == 2
    assert again.meta.redelivered is True
    assert again.payload == b"retry me"
    # the old lease is superseded
    with pytest.raises(LeaseExpired):
        m.ack()
    again.ack()
    (delivery,) = tenant.message(mid)["deliveries"]
    assert delivery["history"][0]["outcome"] == "nack"
    assert delivery["history"][0]["reason"] == "db down"
    assert delivery["state"] == "acked"


def test_reject_dead_letters(tenant, consumer):
    mid = tenant.deliver(b"poison")
    m = consumer.next(tenant.queue_id, wait=5)
    assert m is not None
    m.reject(reason="unparseable")
    assert m.settled == "reject"
    counts = tenant.counts()
    assert counts["dead"] == 1
    assert counts["ready"] == 0 and counts["leased"] == 0
    (delivery,) = tenant.message(mid)["deliveries"]
    assert delivery["state"] == "dead"
    assert delivery["history"][0]["reason"] == "unparseable"


def test_extend_moves_the_lease(tenant, consumer):
    tenant.deliver(b"slow work")
    m = consumer.next(tenant.queue_id, wait=5, lease=30)
    assert m is not None
    before = m.meta.lease_expires_at
    assert before is not None
    new = m.extend(600)
    assert isinstance(new, datetime)
    assert new > before
    assert m.meta.lease_expires_at == new
    m.ack()
    assert tenant.counts()["leased"] == 0


def test_reasons_are_truncated_to_what_the_relay_accepts(tenant, consumer):
    mid = tenant.deliver(b"x")
    m = consumer.next(tenant.queue_id, wait=5)
    assert m is not None
    m.reject("\u00e9" * 2000)  # 4000 bytes of UTF-8; the relay takes 1024
    (delivery,) = tenant.message(mid)["deliveries"]
    reason = delivery["history"][0]["reason"]
    assert len(reason.encode()) <= 1024
    assert reason.startswith("\u00e9" * 100)
