"""What the sync and async consumers share."""

from __future__ import annotations

import json
import logging
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, Union
from urllib.parse import quote

import httpx

from ._errors import HookbayError, Nack, Reject
from ._models import Backoff, Meta, decode_event, decode_meta_header
from ._sse import SSEEvent
from ._version import __version__

log = logging.getLogger("hookbay")

Number = Union[int, float]
# (payload, meta, content type, message id)
Parts = Tuple[bytes, Meta, Optional[str], Optional[str]]

# The probe used after `event: close`: a settle call with a token that is no
# lease token. The relay checks the bearer token and the queue before it
# looks at the items, so it answers 401/403 (token revoked or expired), 404
# (queue deleted) or 200 with a per-item 401 (both fine) -- and changes
# nothing.
PROBE_ITEMS = {"items": [{"token": "hookbay-client-probe", "outcome": "ack"}]}

# after a 204 from /next with wait=0, poll() pauses this long (at most)
IDLE_PAUSE = 1.0


def num(v: Number) -> str:
    """A number as a query value (``5`` not ``5.0``)."""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


class BaseConsumer:
    """Configuration common to :class:`Consumer` and :class:`AsyncConsumer`."""

    def __init__(
        self,
        url: str,
        token: str,
        *,
        timeout: float = 30.0,
        stream_read_timeout: float = 45.0,
        backoff: Optional[Backoff] = None,
    ) -> None:
        if not url:
            raise ValueError("url is required (the relay's base URL)")
        if not token:
            raise ValueError("token is required (a tenant token with the consume scope)")
        self.base_url = url.rstrip("/")
        self._token = token
        self.timeout = timeout
        # the relay sends a keep-alive comment every 10 s: a stream silent
        # for longer than this is dead and is reconnected
        self.stream_read_timeout = stream_read_timeout
        self.backoff = backoff or Backoff()

    # --- requests -------------------------------------------------------

    def _queue_url(self, queue_id: str, suffix: str) -> str:
        if not queue_id:
            raise ValueError("queue_id is required")
        return f"{self.base_url}/v1/queues/{quote(queue_id, safe='')}/{suffix}"

    def _auth(self) -> Dict[str, str]:
        return {"Authorization": f"Bearer {self._token}"}

    def _sse_headers(self) -> Dict[str, str]:
        return {**self._auth(), "Accept": "text/event-stream", "Cache-Control": "no-cache"}

    def _wait_timeout(self, wait: Number) -> httpx.Timeout:
        return httpx.Timeout(self.timeout, read=float(wait) + self.timeout)

    def _stream_timeout(self) -> httpx.Timeout:
        return httpx.Timeout(self.timeout, read=self.stream_read_timeout)

    @staticmethod
    def _next_params(wait: Number, lease: Optional[Number]) -> Dict[str, str]:
        params = {"wait": num(wait)}
        if lease is not None:
            params["lease"] = num(lease)
        return params

    @staticmethod
    def _stream_params(prefetch: int, lease: Optional[Number]) -> Dict[str, str]:
        params = {"prefetch": str(prefetch)}
        if lease is not None:
            params["lease"] = num(lease)
        return params

    @staticmethod
    def _lease_body(max: int, wait: Number, lease: Optional[Number]) -> Dict[str, Any]:  # noqa: A002
        body: Dict[str, Any] = {"max": max, "wait": wait}
        if lease is not None:
            body["lease"] = lease
        return body

    # --- decoding -------------------------------------------------------

    @staticmethod
    def _next_parts(r: httpx.Response) -> Parts:
        meta = decode_meta_header(r.headers.get("x-hookbay-meta"))
        if "contentType" in meta.raw:
            ct = meta.content_type
        else:
            ct = r.headers.get("content-type")
        mid = meta.message_id or r.headers.get("x-hookbay-message-id")
        return r.content, meta, ct, mid

    @staticmethod
    def _event_parts(ev: SSEEvent) -> Optional[Parts]:
        try:
            data = json.loads(ev.data)
            if not isinstance(data, dict):
                raise HookbayError("event data is not a JSON object")
            body, meta, ct = decode_event(data)
        except (ValueError, HookbayError) as e:
            log.error("hookbay: skipping a malformed stream event %s: %s", ev.id, e)
            return None
        return body, meta, ct, meta.message_id or ev.id

    @staticmethod
    def _close_reason(ev: SSEEvent) -> str:
        try:
            doc = json.loads(ev.data)
        except ValueError:
            return ev.data or "closed"
        if isinstance(doc, Mapping) and isinstance(doc.get("reason"), str):
            return str(doc["reason"])
        return ev.data or "closed"

    # --- run() ----------------------------------------------------------

    @staticmethod
    def _outcome(exc: Optional[BaseException]) -> Tuple[str, Optional[str], Optional[float]]:
        """What a handler's result means: (outcome, reason, delay)."""
        if exc is None:
            return "ack", None, None
        if isinstance(exc, Reject):
            return "reject", exc.reason or None, None
        if isinstance(exc, Nack):
            return "nack", exc.reason or None, exc.delay
        return "nack", str(exc) or type(exc).__name__, None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.base_url}>"


def user_agent() -> str:
    return f"hookbay-python/{__version__} httpx/{httpx.__version__}"


def chunks(seq: Sequence[int], n: int) -> Iterator[Sequence[int]]:
    for i in range(0, len(seq), n):
        yield seq[i : i + n]


def lease_items(r: httpx.Response) -> List[Parts]:
    try:
        doc = r.json()
    except ValueError as e:
        raise HookbayError(f"lease: the relay's answer is not JSON ({e})") from e
    items = doc.get("messages") if isinstance(doc, dict) else None
    if not isinstance(items, list):
        raise HookbayError("lease: the relay's answer has no messages list")
    out: List[Parts] = []
    for it in items:
        if not isinstance(it, dict):
            raise HookbayError("lease: a message is not a JSON object")
        body, meta, ct = decode_event(it)
        out.append((body, meta, ct, meta.message_id))
    return out


def settle_results(r: httpx.Response, n: int) -> List[Tuple[int, Optional[str]]]:
    try:
        doc = r.json()
    except ValueError as e:
        raise HookbayError(f"settle: the relay's answer is not JSON ({e})") from e
    res = doc.get("results") if isinstance(doc, dict) else None
    if not isinstance(res, list) or len(res) != n:
        raise HookbayError(f"settle: expected {n} results from the relay")
    out: List[Tuple[int, Optional[str]]] = []
    for x in res:
        status = x.get("status") if isinstance(x, dict) else None
        detail = x.get("detail") if isinstance(x, dict) else None
        out.append(
            (status if isinstance(status, int) else 0, detail if isinstance(detail, str) else None)
        )
    return out
