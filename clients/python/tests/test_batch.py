"""Batch consumption: POST /lease and POST /settle."""

from __future__ import annotations

import pytest

import hookbay
from hookbay import LeaseExpired, Settlement


def test_lease_and_settle(tenant, consumer):
    ids = [tenant.deliver(f"item {i}".encode()) for i in range(4)]
    msgs = consumer.lease(tenant.queue_id, max=100, wait=5)
    assert [m.id for m in msgs] == ids
    assert all(isinstance(m, hookbay.Message) for m in msgs)
    assert [m.payload for m in msgs] == [f"item {i}".encode() for i in range(4)]
    assert tenant.counts()["leased"] == 4

    results = consumer.settle(
        [
            Settlement.ack(msgs[0]),
            Settlement.nack(msgs[1], reason="later", delay=0),
            Settlement.reject(msgs[2], reason="bad"),
            (msgs[3], "ack"),
        ]
    )
    assert [r.status for r in results] == [204, 204, 204, 204]
    assert all(r.ok for r in results)
    assert [m.settled for m in msgs] == ["ack", "nack", "reject", "ack"]
    assert results[1].settlement.message is msgs[1]

    # a stale lease is a per-item 409, not an exception
    (stale,) = consumer.settle([(msgs[0], "ack")])
    assert stale.status == 409 and stale.lease_expired and not stale.ok
    with pytest.raises(LeaseExpired):
        stale.raise_for_status()

    assert tenant.counts()["dead"] == 1
    again = consumer.next(tenant.queue_id, wait=30)  # the nacked one
    assert again is not None and again.id == ids[1] and again.attempt == 2
    again.ack()


def test_lease_returns_empty_list_when_nothing_arrives(tenant, consumer):
    assert consumer.lease(tenant.queue_id, wait=0) == []
    assert consumer.settle([]) == []


def test_lease_respects_max_and_settle_by_token(tenant, consumer):
    for i in range(5):
        tenant.deliver(f"{i}".encode())
    first = consumer.lease(tenant.queue_id, max=2, wait=5)
    assert [m.payload for m in first] == [b"0", b"1"]
    tokens = [m.lease_token for m in first]
    assert all(tokens)
    # bare lease tokens need the queue id
    with pytest.raises(ValueError):
        consumer.settle([(tokens[0], "ack")])
    results = consumer.settle([(t, "ack") for t in tokens], queue_id=tenant.queue_id)
    assert [r.status for r in results] == [204, 204]
    rest = consumer.lease(tenant.queue_id, max=100, wait=5)
    assert [m.payload for m in rest] == [b"2", b"3", b"4"]
    assert [r.status for r in consumer.settle([(m, "ack") for m in rest])] == [204] * 3
    # messages from lease() have the capability methods too
    assert tenant.counts()["ready"] == 0


def test_settle_invalid_request(tenant, consumer):
    tenant.deliver(b"x")
    (m,) = consumer.lease(tenant.queue_id, max=1, wait=5)
    with pytest.raises(ValueError):
        consumer.settle([Settlement(m, "ack", delay=5)])  # delay is for nack only
    with pytest.raises(ValueError):
        consumer.settle([Settlement(m, "maybe")])
    with pytest.raises(hookbay.InvalidRequest) as e:
        consumer.settle([(m, "nack", None, -1)])  # refused whole by the relay
    assert "delaySeconds" in (e.value.detail or "")
    m.ack()
