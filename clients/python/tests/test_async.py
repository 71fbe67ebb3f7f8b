"""AsyncConsumer: the same API with async for / await (run with asyncio.run,
no pytest plugin needed)."""

from __future__ import annotations

import asyncio
import json
from typing import Any, Awaitable, List, TypeVar

import pytest
from conftest import FAST, TIMEOUT

import hookbay
from hookbay import AsyncConsumer, AsyncMessage, AuthError, LeaseExpired, NotFound, Reject

T = TypeVar("T")


def arun(coro: Awaitable[T]) -> T:
    async def guarded() -> T:
        return await asyncio.wait_for(coro, TIMEOUT)

    return asyncio.run(guarded())


def test_async_stream_receives_and_acks(tenant):
    raw = b"\xff\x00\xfe"
    ids = [tenant.deliver(b'{"a": 1}'), tenant.deliver(raw, "application/octet-stream")]

    async def main() -> List[AsyncMessage]:
        async with AsyncConsumer(tenant.url, tenant.token, backoff=FAST) as c:
            got: List[AsyncMessage] = []
            stream = c.stream(tenant.queue_id, prefetch=5)
            try:
                async for msg in stream:
                    got.append(msg)
                    await msg.ack()
                    if len(got) == 2:
                        break
            finally:
                await stream.aclose()
            with pytest.raises(LeaseExpired):
                await got[0].ack()
            return got

    a, b = arun(main())
    assert isinstance(a, AsyncMessage)
    assert [a.id, b.id] == ids
    assert a.json() == {"a": 1}
    assert b.payload == raw
    assert a.settled == b.settled == "ack"
    counts = tenant.counts()
    assert (counts["ready"], counts["leased"]) == (0, 0)


def test_async_poll_next_and_settle(tenant):
    mid = tenant.deliver(b"first")

    async def main() -> None:
        async with AsyncConsumer(tenant.url, tenant.token, backoff=FAST) as c:
            m = await c.next(tenant.queue_id, wait=5)
            assert m is not None and m.id == mid and m.payload == b"first"
            assert m.content_type == "application/json"
            new = await m.extend(600)
            assert new is not None and new == m.meta.lease_expires_at
            await m.nack("again", delay=0)
            poll = c.poll(tenant.queue_id, wait=5)
            try:
                again = await poll.__anext__()
            finally:
                await poll.aclose()
            assert again.id == mid and again.attempt == 2 and again.meta.redelivered
            await again.reject("no")
            assert await c.next(tenant.queue_id) is None

    arun(main())
    assert tenant.counts()["dead"] == 1


def test_async_run(tenant):
    ids = [tenant.deliver(json.dumps({"i": i}).encode()) for i in range(3)]
    seen: List[int] = []

    async def handler(msg: AsyncMessage) -> None:
        await asyncio.sleep(0)
        i = msg.json()["i"]
        seen.append(i)
        if i == 1:
            raise Reject("odd")
        if i == 2:
            raise KeyError("missing")

    async def main() -> int:
        async with AsyncConsumer(tenant.url, tenant.token, backoff=FAST) as c:
            return await c.run(tenant.queue_id, handler, mode="stream", max_messages=3)

    assert arun(main()) == 3
    assert seen == [0, 1, 2]
    states = [tenant.message(i)["deliveries"][0] for i in ids]
    assert states[0]["state"] == "acked"
    assert states[1]["state"] == "dead"
    assert states[2]["history"][0]["outcome"] == "nack"
    assert states[2]["history"][0]["reason"] == "'missing'"


def test_async_run_poll_with_sync_handler(tenant):
    tenant.deliver(b"x")
    seen: List[bytes] = []

    async def main() -> int:
        async with AsyncConsumer(tenant.url, tenant.token, backoff=FAST) as c:
            return await c.run(
                tenant.queue_id,
                lambda m: seen.append(m.payload),
                mode="poll",
                wait=5,
                max_messages=1,
            )

    assert arun(main()) == 1
    assert seen == [b"x"]
    assert tenant.counts()["ready"] == 0


def test_async_lease_and_settle(tenant):
    for i in range(3):
        tenant.deliver(f"b{i}".encode())

    async def main() -> Any:
        async with AsyncConsumer(tenant.url, tenant.token) as c:
            msgs = await c.lease(tenant.queue_id, max=100, wait=5)
            assert [m.payload for m in msgs] == [b"b0", b"b1", b"b2"]
            results = await c.settle([(m, "ack") for m in msgs])
            assert [r.status for r in results] == [204, 204, 204]
            again = await c.settle([(msgs[0], "ack")])
            assert again[0].lease_expired
            assert await c.lease(tenant.queue_id, wait=0) == []

    arun(main())
    assert tenant.counts()["ready"] == 0


def test_async_typed_errors(tenant):
    async def main() -> None:
        async with AsyncConsumer(tenant.url, "bad-token", backoff=FAST) as bad:
            with pytest.raises(AuthError):
                await bad.next(tenant.queue_id)
            stream = bad.stream(tenant.queue_id)
            with pytest.raises(AuthError):
                await stream.__anext__()
        async with AsyncConsumer(tenant.url, tenant.token, backoff=FAST) as c:
            with pytest.raises(NotFound):
                await c.next("q_nope")
            with pytest.raises(hookbay.InvalidRequest):
                await c.lease(tenant.queue_id, max=1000)

    arun(main())
