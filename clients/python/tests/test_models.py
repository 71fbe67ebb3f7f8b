"""Meta, messages, errors and backoff (no relay needed)."""

from __future__ import annotations

import base64
from datetime import datetime, timezone

import pytest

import hookbay
from hookbay import Backoff, Meta
from hookbay._errors import error_from_response
from hookbay._models import decode_event, parse_time, truncate_reason


def test_missing_meta_fields_are_none() -> None:
    m = Meta({})
    for name in (
        "message_id",
        "queue_id",
        "source_id",
        "received_at",
        "attempt",
        "max_attempts",
        "lease_expires_at",
        "ack_url",
        "nack_url",
        "reject_url",
        "extend_url",
        "method",
        "path",
        "query",
        "headers",
        "content_type",
        "event_type",
        "verified",
        "verification",
        "redelivered",
        "replayed",
    ):
        assert getattr(m, name) is None, name
    assert m.get("ackUrl") is None
    with pytest.raises(AttributeError):
        m.no_such_field  # noqa: B018 - unknown names are still attribute errors


def test_meta_fields_and_forward_compat() -> None:
    m = Meta(
        {
            "messageId": "msg_1",
            "attempt": 3,
            "eventType": "push",
            "receivedAt": "2024-05-01T12:00:00.123Z",
            "newField": 7,
            "verified": "yes",
        }
    )
    assert m.message_id == "msg_1" and m.attempt == 3 and m.event_type == "push"
    assert m.received_at == datetime(2024, 5, 1, 12, 0, 0, 123000, tzinfo=timezone.utc)
    assert m.new_field == 7  # fields added later read as snake_case
    assert m.verified is None  # wrong type: None, not a crash


def test_parse_time() -> None:
    assert parse_time("2024-05-01T12:00:00Z") == datetime(2024, 5, 1, 12, tzinfo=timezone.utc)
    assert parse_time("2024-05-01T12:00:00.123456789+02:00") is not None
    assert parse_time("garbage") is None
    assert parse_time(None) is None


def test_decode_event_payloads() -> None:
    raw = b"\xff\x00\xfe"
    body, meta, ct = decode_event(
        {
            "payload": base64.b64encode(raw).decode(),
            "encoding": "base64",
            "contentType": None,
            "meta": {"messageId": "m"},
        }
    )
    assert body == raw and ct is None and meta.message_id == "m"
    body, _, ct = decode_event({"payload": "\u00e9", "encoding": "utf8", "contentType": "t/p"})
    assert body == "\u00e9".encode() and ct == "t/p"
    with pytest.raises(hookbay.HookbayError):
        decode_event({"encoding": "utf8"})


def test_message_without_meta_fields() -> None:
    msg = hookbay.BaseMessage(b"{}", Meta({}))
    assert msg.attempt == 1 and msg.event_type is None and msg.headers == {}
    assert msg.lease_token is None and msg.json() == {} and msg.id == ""


def test_error_mapping() -> None:
    def err(status: int, **kw: object) -> hookbay.HookbayError:
        body = b'{"type":"t","title":"T","status":%d,"detail":"why","code":"c"}' % status
        return error_from_response(status, {"retry-after": "7"}, body, **kw)  # type: ignore[arg-type]

    assert type(err(400)) is hookbay.InvalidRequest and err(400).detail == "why"
    assert type(err(401)) is hookbay.AuthError and type(err(403)) is hookbay.AuthError
    assert type(err(404)) is hookbay.NotFound
    assert type(err(409)) is hookbay.Conflict
    assert type(err(409, settle_url=True)) is hookbay.LeaseExpired
    assert type(err(429)) is hookbay.RateLimited and err(429).retry_after == 7
    assert type(err(503)) is hookbay.Unavailable and err(503).retry_after == 7
    assert type(err(500)) is hookbay.ServerError and err(500).retryable
    assert not err(404).retryable
    e = error_from_response(502, {}, b"<html>bad gateway</html>")
    assert isinstance(e, hookbay.Unavailable) and e.detail == "<html>bad gateway</html>"


def test_backoff_is_capped_with_jitter() -> None:
    b = Backoff(initial=0.5, maximum=30, multiplier=2, jitter=0.5)
    for n in range(200):
        full = min(30.0, 0.5 * 2 ** min(n, 10))
        d = b.delay(n)
        assert full * 0.5 <= d <= full
    assert Backoff(jitter=0).delay(0, retry_after=5) == 5
    assert Backoff(maximum=2, jitter=0).delay(0, retry_after=60) == 2
    with pytest.raises(ValueError):
        Backoff(multiplier=0.5)


def test_truncate_reason() -> None:
    assert truncate_reason("short") == "short"
    long = truncate_reason("\U0001f600" * 1000)
    assert long is not None and len(long.encode()) <= 1024
