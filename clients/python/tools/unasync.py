"""Generate the blocking consumer (``_sync.py``) from the asyncio one
(``_async.py``), so that the two cannot drift apart: edit ``_async.py``,
then run ``python tools/unasync.py`` (``--check`` fails when ``_sync.py`` is
stale; the test suite runs that check).

The rewrite is textual, as in httpcore's unasync: a few whole blocks that
differ (imports, the class and ``close`` docstrings, awaiting a handler's
result), then token pairs (``async def`` -> ``def``, ``await`` -> nothing,
``AsyncMessage`` -> ``Message``, ...), applied in order.
"""

from __future__ import annotations

import sys
from pathlib import Path

PKG = Path(__file__).resolve().parent.parent / "src" / "hookbay"
SOURCE = PKG / "_async.py"
TARGET = PKG / "_sync.py"

HEADER = "# Generated from _async.py by tools/unasync.py: edit that file, then run the tool.\n"

BLOCKS = [
    (
        '"""The asyncio consumer: the same API as :class:`~hookbay.Consumer`, awaitable."""',
        '"""The blocking consumer."""',
    ),
    (
        """import asyncio
import inspect
from typing import (
    Any,
    AsyncGenerator,
    Awaitable,
    Callable,
    Dict,
    Iterable,
    List,
    Optional,
    Tuple,
    Union,
)
""",
        """import time
from typing import Any, Callable, Dict, Generator, Iterable, List, Optional, Tuple
""",
    ),
    ("    AsyncMessage,\n    Backoff,\n", "    Backoff,\n    Message,\n"),
    (
        "AsyncHandler = Callable[[AsyncMessage], Union[Awaitable[Any], Any]]",
        "Handler = Callable[[Message], Any]",
    ),
    (
        '''    """An asyncio hookbay consumer: ``async for msg in c.stream(q)``,
    ``await msg.ack()``. Same arguments and behaviour as
    :class:`~hookbay.Consumer`; ``client`` is an ``httpx.AsyncClient``.
    Use it as ``async with AsyncConsumer(...) as c:`` or call
    :meth:`aclose`."""''',
        '''    """A blocking hookbay consumer.

    ``url`` is the relay's base URL, ``token`` a tenant token with the
    ``consume`` scope. ``backoff`` sets the reconnect/retry backoff of
    :meth:`stream`, :meth:`poll` and :meth:`run` (default: from 0.5 s, ×2,
    capped at 30 s, with jitter). ``timeout`` applies to connecting and to
    each plain call (long polls get ``wait`` on top); a stream that stays
    silent (no event, no keep-alive) for ``stream_read_timeout`` seconds is
    reconnected. Pass ``client`` to bring your own ``httpx.Client`` (proxies,
    TLS settings); it is then yours to close.
    """''',
    ),
    (
        '''        """Stop this consumer (its loops end at their next event, keep-alive
        or retry) and close the HTTP connections (not a ``client`` you
        passed in)."""''',
        '''        """Stop this consumer: :meth:`stream`, :meth:`poll` and :meth:`run`
        end (without yielding more messages) at their next event, keep-alive
        or retry, so it may be called from another thread or a signal
        handler. Closes the HTTP connections (not a ``client`` you passed)."""''',
    ),
    (
        """ A handler may also be a coroutine
        function.""",
        "",
    ),
    (
        """                    result = handler(msg)
                    if inspect.isawaitable(result):
                        await result
""",
        """                    handler(msg)
""",
    ),
]

TOKENS = [
    ("AsyncGenerator[AsyncMessage, None]", "Generator[Message, None, None]"),
    ("async def ", "def "),
    ("async with ", "with "),
    ("async for ", "for "),
    ("await ", ""),
    ("asyncio.sleep", "time.sleep"),
    ("httpx.AsyncClient", "httpx.Client"),
    ("aiter_bytes", "iter_bytes"),
    (".aread()", ".read()"),
    ("aclose", "close"),
    ("__aenter__", "__enter__"),
    ("__aexit__", "__exit__"),
    ("AsyncMessage", "Message"),
    ("AsyncConsumer", "Consumer"),
    ("AsyncHandler", "Handler"),
]


def unasync(source: str) -> str:
    """The blocking twin of the asyncio consumer's source."""
    out = source
    for old, new in BLOCKS:
        if old not in out:
            raise SystemExit(f"unasync: block not found in _async.py:\n{old}")
        out = out.replace(old, new)
    for old, new in TOKENS:
        out = out.replace(old, new)
    return HEADER + out


def main() -> int:
    want = unasync(SOURCE.read_text(encoding="utf-8"))
    if sys.argv[1:] == ["--check"]:
        if TARGET.read_text(encoding="utf-8") != want:
            print("_sync.py is stale: run python tools/unasync.py", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(want, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
