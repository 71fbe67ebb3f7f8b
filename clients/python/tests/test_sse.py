"""The SSE decoder, byte by byte (no relay needed)."""

from __future__ import annotations

import json
from typing import List

import pytest

from hookbay import SSEDecoder, SSEEvent


def feed_all(chunks: List[bytes]) -> List[SSEEvent]:
    d = SSEDecoder()
    out: List[SSEEvent] = []
    for c in chunks:
        out.extend(d.feed(c))
    out.extend(d.close())
    return out


def bytewise(data: bytes) -> List[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


DATA = json.dumps({"payload": "h\u00e9llo \U0001f600", "encoding": "utf8"}, ensure_ascii=False)
STREAM = (
    ": keep-alive\n\n"
    "event: message\nid: msg_1\ndata: " + DATA + "\n\n"
    ":another comment\n"
    'event: message\nid: msg_2\ndata: {"a":\ndata: 1}\n\n'
    'event: close\ndata: {"reason":"queue deleted"}\n\n'
).encode()


@pytest.mark.parametrize("eol", [b"\n", b"\r\n", b"\r"])
@pytest.mark.parametrize("split", ["whole", "bytewise"])
def test_line_endings_and_chunking(eol: bytes, split: str) -> None:
    data = STREAM.replace(b"\n", eol)
    events = feed_all([data] if split == "whole" else bytewise(data))
    assert [e.event for e in events] == ["message", "message", "close"]
    assert json.loads(events[0].data)["payload"] == "h\u00e9llo \U0001f600"
    assert events[0].id == "msg_1"
    assert events[1].data == '{"a":\n1}'
    assert json.loads(events[2].data) == {"reason": "queue deleted"}


def test_crlf_split_between_chunks_is_one_line_end() -> None:
    d = SSEDecoder()
    assert d.feed(b"data: x\r") == []
    assert d.feed(b"\n\r") == []  # CRLF then a CR: the CR may start a CRLF
    ev = d.feed(b"\ndata: y\r\n\r\n")
    assert [e.data for e in ev] == ["x", "y"]


def test_multibyte_split_across_chunks() -> None:
    raw = "data: \u20ac\U0001f600\n\n".encode()
    for cut in range(1, len(raw)):
        (ev,) = feed_all([raw[:cut], raw[cut:]])
        assert ev.data == "\u20ac\U0001f600"


def test_comments_bom_defaults_and_unknown_fields() -> None:
    events = feed_all([b"\xef\xbb", b"\xbf: hi\nfoo: bar\ndata:no-space\nretry: 500\n\n"])
    (ev,) = events
    assert ev.event == "message"
    assert ev.data == "no-space"
    assert ev.retry == 500


def test_unterminated_event_is_dropped_and_empty_events_ignored() -> None:
    assert feed_all([b"\n\n: only comments\n\n", b"data: partial"]) == []


def test_invalid_utf8_never_raises() -> None:
    (ev,) = feed_all([b"data: \xff\xfe\n\n"])
    assert ev.data == "\ufffd\ufffd"
