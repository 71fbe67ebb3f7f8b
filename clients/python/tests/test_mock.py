"""Reconnect and close logic against a scripted relay (httpx.MockTransport):
the answers a real relay rarely gives (5xx, 429) in a fixed order."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any, Dict, Iterator, List

import httpx
import pytest

import hookbay
from hookbay import AsyncConsumer, Backoff, Consumer, NotFound

TINY = Backoff(initial=0.001, maximum=0.01)
BASE = "http://relay.test"
Q = "q_1"


def event(mid: str, body: bytes) -> bytes:
    try:
        payload, encoding = body.decode("utf-8"), "utf8"
    except UnicodeDecodeError:
        payload, encoding = base64.b64encode(body).decode(), "base64"
    meta = {
        "messageId": mid,
        "queueId": Q,
        "attempt": 1,
        "ackUrl": f"{BASE}/v1/queues/{Q}/messages/{mid}/ack?token=tok-{mid}",
    }
    data = json.dumps({"payload": payload, "encoding": encoding, "contentType": None, "meta": meta})
    return f"event: message\r\nid: {mid}\r\ndata: {data}\r\n\r\n".encode()


class Script:
    """Answers each stream request with the next scripted response."""

    def __init__(self, streams: List[httpx.Response]) -> None:
        self.streams = streams
        self.requests: List[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        if path.endswith("/stream"):
            return self.streams.pop(0)
        if path.endswith("/settle"):  # the probe after `event: close`
            return httpx.Response(
                404,
                json={"status": 404, "detail": "no such resource", "code": "not_found"},
                headers={"content-type": "application/problem+json"},
            )
        if path.endswith("/ack"):
            return httpx.Response(204)
        if path.endswith("/next"):
            if len(self.requests) < 3:
                return httpx.Response(503, headers={"retry-after": "0"})
            meta = {"messageId": "m9", "queueId": Q, "attempt": 1}
            return httpx.Response(
                200,
                content=b"\xff\x00\xfe",
                headers={
                    "content-type": "application/octet-stream",
                    "x-hookbay-meta": json.dumps(meta),
                },
            )
        return httpx.Response(500)

    def paths(self) -> List[str]:
        return [r.url.path.rsplit("/", 1)[-1] for r in self.requests]


def chunked(data: bytes, n: int) -> Iterator[bytes]:
    for i in range(0, len(data), n):
        yield data[i : i + n]


def scripted_streams(split: bool) -> List[httpx.Response]:
    sse = {"content-type": "text/event-stream"}
    first = b": keep-alive\r\n\r\n" + event("m1", b"\xff\x00\xfe")  # then the connection ends
    second = event("m2", "\u00e9\U0001f600".encode()) + (
        b'event: close\r\ndata: {"reason":"queue deleted"}\r\n\r\n'
    )

    def body(data: bytes) -> Dict[str, Any]:
        return {"content": chunked(data, 3)} if split else {"content": data}

    return [
        httpx.Response(503, headers={"retry-after": "0"}, json={"detail": "store down"}),
        httpx.Response(200, headers=sse, **body(first)),
        httpx.Response(500),
        httpx.Response(429, headers={"retry-after": "0"}),
        httpx.Response(200, headers=sse, **body(second)),
    ]


def test_stream_retries_5xx_reconnects_and_stops_on_close() -> None:
    script = Script(scripted_streams(split=True))
    c = Consumer(
        BASE, "tok", backoff=TINY, client=httpx.Client(transport=httpx.MockTransport(script))
    )
    got: List[hookbay.Message] = []
    with pytest.raises(NotFound) as e:
        for msg in c.stream(Q, prefetch=3):
            got.append(msg)
            msg.ack()
    assert "queue deleted" in str(e.value)
    assert [(m.id, m.payload) for m in got] == [
        ("m1", b"\xff\x00\xfe"),
        ("m2", "\u00e9\U0001f600".encode()),
    ]
    assert script.paths() == [
        "stream",
        "stream",
        "ack",
        "stream",
        "stream",
        "stream",
        "ack",
        "settle",
    ]
    streams = [r for r in script.requests if r.url.path.endswith("/stream")]
    assert all(r.headers["authorization"] == "Bearer tok" for r in streams)
    assert streams[0].url.params["prefetch"] == "3"
    # capability URLs carry their own credential: no bearer token is sent
    acks = [r for r in script.requests if r.url.path.endswith("/ack")]
    assert all("authorization" not in r.headers for r in acks)
    assert acks[0].url.params["token"] == "tok-m1"


def test_poll_retries_unavailable() -> None:
    script = Script([])
    c = Consumer(
        BASE, "tok", backoff=TINY, client=httpx.Client(transport=httpx.MockTransport(script))
    )
    msg = next(iter(c.poll(Q, wait=1)))
    assert msg.payload == b"\xff\x00\xfe" and msg.id == "m9"
    assert script.paths() == ["next", "next", "next"]


def test_async_stream_retries_and_stops_on_close() -> None:
    script = Script(scripted_streams(split=False))

    async def main() -> List[bytes]:
        transport = httpx.MockTransport(script)
        async with AsyncConsumer(
            BASE, "tok", backoff=TINY, client=httpx.AsyncClient(transport=transport)
        ) as c:
            got: List[bytes] = []
            with pytest.raises(NotFound):
                async for msg in c.stream(Q):
                    got.append(msg.payload)
                    await msg.ack()
            return got

    got = asyncio.run(asyncio.wait_for(main(), 30))
    assert got == [b"\xff\x00\xfe", "\u00e9\U0001f600".encode()]
    assert script.paths()[-1] == "settle"
