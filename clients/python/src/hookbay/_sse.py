"""A byte-safe Server-Sent Events decoder.

Lines are split in bytes on LF, CRLF or CR (a CR at the end of a chunk waits
for the next chunk to know whether an LF follows); an event ends at a blank
line, and only then are its fields decoded from UTF-8, so a multi-byte
character split across network chunks is never mangled. Comment lines
(starting with ``:``) are ignored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import List, Optional

__all__ = ["SSEEvent", "SSEDecoder"]

_EOL = re.compile(rb"[\r\n]")
_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class SSEEvent:
    """One dispatched event: its type (``message`` when none was given),
    its data (the ``data:`` lines joined with LF) and the last event id."""

    event: str
    data: str
    id: Optional[str] = None
    retry: Optional[int] = None


class SSEDecoder:
    """Feed it the response's bytes as they come; it returns whole events."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._started = False
        self._event: Optional[bytes] = None
        self._data: List[bytes] = []
        self._has_data = False
        self._last_id: Optional[str] = None
        self._retry: Optional[int] = None

    @property
    def last_event_id(self) -> Optional[str]:
        return self._last_id

    def feed(self, chunk: bytes) -> List[SSEEvent]:
        """Add bytes; return the events completed by them."""
        if not chunk:
            return []
        self._buf += chunk
        if not self._started:
            if len(self._buf) < len(_BOM) and _BOM.startswith(bytes(self._buf)):
                return []  # could still be a BOM
            if self._buf.startswith(_BOM):
                del self._buf[: len(_BOM)]
            self._started = True
        return self._drain(final=False)

    def close(self) -> List[SSEEvent]:
        """The stream ended: a trailing CR ends its line; an event without its
        terminating blank line is discarded, as the SSE standard says."""
        events = self._drain(final=True)
        self._buf.clear()
        self._reset()
        return events

    def _drain(self, final: bool) -> List[SSEEvent]:
        buf = self._buf
        n = len(buf)
        pos = 0
        events: List[SSEEvent] = []
        while pos < n:
            m = _EOL.search(buf, pos)
            if m is None:
                break
            i = m.start()
            if buf[i] == 0x0D:  # CR
                if i + 1 == n:
                    if not final:
                        break  # an LF may follow in the next chunk
                    end = i + 1
                elif buf[i + 1] == 0x0A:
                    end = i + 2
                else:
                    end = i + 1
            else:
                end = i + 1
            ev = self._line(bytes(buf[pos:i]))
            pos = end
            if ev is not None:
                events.append(ev)
        if pos:
            del buf[:pos]
        return events

    def _reset(self) -> None:
        self._event = None
        self._data = []
        self._has_data = False

    def _line(self, line: bytes) -> Optional[SSEEvent]:
        if not line:
            return self._dispatch()
        if line[:1] == b":":
            return None  # comment / keep-alive
        field, sep, value = line.partition(b":")
        if sep and value[:1] == b" ":
            value = value[1:]
        if field == b"data":
            self._data.append(value)
            self._has_data = True
        elif field == b"event":
            self._event = value
        elif field == b"id":
            if b"\x00" not in value:
                self._last_id = value.decode("utf-8", errors="replace")
        elif field == b"retry":
            if value.isdigit():
                self._retry = int(value)
        # unknown fields are ignored
        return None

    def _dispatch(self) -> Optional[SSEEvent]:
        if not self._has_data and self._event is None:
            self._reset()
            return None
        name = (self._event or b"").decode("utf-8", errors="replace") or "message"
        data = b"\n".join(self._data).decode("utf-8", errors="replace")
        ev = SSEEvent(event=name, data=data, id=self._last_id, retry=self._retry)
        self._reset()
        return ev
