"""Messages, their meta, settlements and the reconnect backoff."""

from __future__ import annotations

import base64
import binascii
import json
import random
import re
from dataclasses import dataclass
from datetime import datetime
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    Dict,
    Generic,
    List,
    Mapping,
    Optional,
    Sequence,
    Tuple,
    TypeVar,
    Union,
    overload,
)
from urllib.parse import parse_qs, urlsplit

from ._errors import HookbayError

if TYPE_CHECKING:  # pragma: no cover
    from ._async import AsyncConsumer
    from ._sync import Consumer

__all__ = [
    "Meta",
    "Message",
    "AsyncMessage",
    "Settlement",
    "SettleResult",
    "Backoff",
]

T = TypeVar("T")

# the relay refuses reasons longer than this (bytes of UTF-8)
MAX_REASON_BYTES = 1024


def parse_time(value: Any) -> Optional[datetime]:
    """RFC 3339 (``2024-05-01T12:00:00.123Z``) to an aware datetime, or None."""
    if not isinstance(value, str):
        return None
    m = re.match(
        r"^(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}:\d{2})(?:\.(\d+))?([Zz]|[+-]\d{2}:?\d{2})?$",
        value.strip(),
    )
    if m is None:
        return None
    date, clock, frac, zone = m.groups()
    text = f"{date}T{clock}"
    if frac:
        text += "." + (frac + "000000")[:6]
    if zone is None or zone in ("Z", "z"):
        zone = "+00:00"
    elif ":" not in zone:
        zone = zone[:3] + ":" + zone[3:]
    try:
        return datetime.fromisoformat(text + zone)
    except ValueError:
        return None


def _as_str(v: Any) -> Optional[str]:
    return v if isinstance(v, str) else None


def _as_int(v: Any) -> Optional[int]:
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return None


def _as_bool(v: Any) -> Optional[bool]:
    return v if isinstance(v, bool) else None


def _as_headers(v: Any) -> Optional[Dict[str, str]]:
    if not isinstance(v, dict):
        return None
    return {str(k): str(x) for k, x in v.items()}


class _Field(Generic[T]):
    """A meta attribute: the camelCase key converted, or None when missing."""

    def __init__(self, key: str, conv: Callable[[Any], Optional[T]]) -> None:
        self.key = key
        self.conv = conv

    @overload
    def __get__(self, obj: None, owner: Any) -> "_Field[T]": ...

    @overload
    def __get__(self, obj: "Meta", owner: Any) -> Optional[T]: ...

    def __get__(self, obj: Optional["Meta"], owner: Any) -> Union["_Field[T]", Optional[T]]:
        if obj is None:
            return self
        return self.conv(obj.raw.get(self.key))


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


class Meta:
    """The delivery meta. Every field is an attribute that is ``None`` when the
    relay did not send it (never a ``KeyError``); ``raw`` is the JSON object
    as received, and ``get("camelCaseKey")`` reads any field by its wire name.
    Fields the relay adds later are readable as snake_case attributes too."""

    __slots__ = ("raw",)

    message_id = _Field("messageId", _as_str)
    queue_id = _Field("queueId", _as_str)
    source_id = _Field("sourceId", _as_str)
    received_at = _Field("receivedAt", parse_time)
    attempt = _Field("attempt", _as_int)
    max_attempts = _Field("maxAttempts", _as_int)
    lease_expires_at = _Field("leaseExpiresAt", parse_time)
    ack_url = _Field("ackUrl", _as_str)
    nack_url = _Field("nackUrl", _as_str)
    reject_url = _Field("rejectUrl", _as_str)
    extend_url = _Field("extendUrl", _as_str)
    method = _Field("method", _as_str)
    path = _Field("path", _as_str)
    query = _Field("query", _as_str)
    headers = _Field("headers", _as_headers)
    content_type = _Field("contentType", _as_str)
    event_type = _Field("eventType", _as_str)
    verified = _Field("verified", _as_bool)
    verification = _Field("verification", _as_str)
    redelivered = _Field("redelivered", _as_bool)
    replayed = _Field("replayed", _as_bool)

    def __init__(self, raw: Optional[Mapping[str, Any]] = None) -> None:
        self.raw: Dict[str, Any] = dict(raw) if raw else {}

    def get(self, key: str, default: Any = None) -> Any:
        """A field by its wire (camelCase) name."""
        return self.raw.get(key, default)

    def __getattr__(self, name: str) -> Any:
        # only reached for names that are not declared above
        if name.startswith("_"):
            raise AttributeError(name)
        raw = object.__getattribute__(self, "raw")
        key = _camel(name)
        if key in raw:
            return raw[key]
        if name in raw:
            return raw[name]
        raise AttributeError(f"meta has no field {name!r}")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Meta) and other.raw == self.raw

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Meta({self.raw!r})"


def truncate_reason(reason: Optional[str]) -> Optional[str]:
    """At most MAX_REASON_BYTES of UTF-8, cut on a character boundary."""
    if reason is None:
        return None
    data = reason.encode("utf-8", errors="replace")
    if len(data) <= MAX_REASON_BYTES:
        return reason
    return data[: MAX_REASON_BYTES - 3].decode("utf-8", errors="ignore") + "..."


def lease_token_of(meta: Meta) -> Optional[str]:
    """The lease token: the ``token`` parameter of the meta's URLs."""
    for url in (meta.ack_url, meta.nack_url, meta.reject_url, meta.extend_url):
        if url:
            vals = parse_qs(urlsplit(url).query).get("token")
            if vals:
                return vals[0]
    return None


def _charset(content_type: Optional[str]) -> str:
    if content_type:
        m = re.search(r"charset\s*=\s*\"?([\w.:-]+)", content_type, re.I)
        if m:
            return m.group(1)
    return "utf-8"


class BaseMessage:
    """What every message has, whether it came from ``/stream``, ``/next`` or
    ``/lease``: the exact ``payload`` bytes, the original ``content_type``
    (``None`` when the provider sent none) and the ``meta``."""

    def __init__(
        self,
        payload: bytes,
        meta: Meta,
        content_type: Optional[str] = None,
        id: Optional[str] = None,
    ) -> None:
        self.payload: bytes = payload
        self.meta: Meta = meta
        self.content_type: Optional[str] = content_type
        self.id: str = id or meta.message_id or ""
        self._settled: Optional[str] = None

    @property
    def text(self) -> str:
        """The payload decoded (the Content-Type's charset, else UTF-8;
        undecodable bytes become U+FFFD)."""
        try:
            return self.payload.decode(_charset(self.content_type), errors="replace")
        except LookupError:
            return self.payload.decode("utf-8", errors="replace")

    def json(self, **kwargs: Any) -> Any:
        """The payload parsed as JSON (raises ``ValueError`` if it is not)."""
        return json.loads(self.payload, **kwargs)

    @property
    def attempt(self) -> int:
        """1-based delivery attempt (1 when the meta lacks it)."""
        return self.meta.attempt or 1

    @property
    def event_type(self) -> Optional[str]:
        return self.meta.event_type

    @property
    def headers(self) -> Dict[str, str]:
        """The original request headers (lower-case names); empty if none."""
        return self.meta.headers or {}

    @property
    def lease_token(self) -> Optional[str]:
        return lease_token_of(self.meta)

    @property
    def settled(self) -> Optional[str]:
        """``"ack"``, ``"nack"`` or ``"reject"`` once this client settled it."""
        return self._settled

    def _url(self, op: str) -> str:
        url = self.meta.get(op + "Url")
        if not isinstance(url, str) or not url:
            raise HookbayError(f"message {self.id} has no {op}Url in its meta")
        return url

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} {self.id} attempt={self.meta.attempt} "
            f"{len(self.payload)} bytes {self.content_type or '-'}>"
        )


def _nack_body(reason: Optional[str], delay: Optional[float]) -> Optional[Dict[str, Any]]:
    body: Dict[str, Any] = {}
    if reason is not None:
        body["reason"] = truncate_reason(reason)
    if delay is not None:
        body["delaySeconds"] = delay
    return body or None


def _reject_body(reason: Optional[str]) -> Optional[Dict[str, Any]]:
    return {"reason": truncate_reason(reason)} if reason is not None else None


def _apply_extend(msg: BaseMessage, answer: Optional[Mapping[str, Any]]) -> Optional[datetime]:
    value = (answer or {}).get("leaseExpiresAt")
    if isinstance(value, str):
        msg.meta.raw["leaseExpiresAt"] = value
    return parse_time(value)


class Message(BaseMessage):
    """A leased message of :class:`~hookbay.Consumer`. Settle it with
    :meth:`ack`, :meth:`nack` or :meth:`reject` (each POSTs the meta's
    capability URL; a stale lease raises :class:`~hookbay.LeaseExpired`)."""

    def __init__(
        self,
        consumer: "Consumer",
        payload: bytes,
        meta: Meta,
        content_type: Optional[str] = None,
        id: Optional[str] = None,
    ) -> None:
        super().__init__(payload, meta, content_type, id)
        self._consumer = consumer

    def ack(self) -> None:
        """Done: never delivered again on this queue."""
        self._consumer._capability(self._url("ack"), None, "ack")
        self._settled = "ack"

    def nack(self, reason: Optional[str] = None, delay: Optional[float] = None) -> None:
        """Redeliver after ``delay`` seconds, or the queue's backoff."""
        self._consumer._capability(self._url("nack"), _nack_body(reason, delay), "nack")
        self._settled = "nack"

    def reject(self, reason: Optional[str] = None) -> None:
        """Straight to the queue's dead letters."""
        self._consumer._capability(self._url("reject"), _reject_body(reason), "reject")
        self._settled = "reject"

    def extend(self, seconds: float) -> Optional[datetime]:
        """Keep the lease for ``seconds`` more from now; returns (and stores
        in ``meta``) the new ``leaseExpiresAt``."""
        answer = self._consumer._capability(self._url("extend"), {"seconds": seconds}, "extend")
        return _apply_extend(self, answer)


class AsyncMessage(BaseMessage):
    """A leased message of :class:`~hookbay.AsyncConsumer`: the same as
    :class:`Message`, with awaitable settle methods."""

    def __init__(
        self,
        consumer: "AsyncConsumer",
        payload: bytes,
        meta: Meta,
        content_type: Optional[str] = None,
        id: Optional[str] = None,
    ) -> None:
        super().__init__(payload, meta, content_type, id)
        self._consumer = consumer

    async def ack(self) -> None:
        await self._consumer._capability(self._url("ack"), None, "ack")
        self._settled = "ack"

    async def nack(self, reason: Optional[str] = None, delay: Optional[float] = None) -> None:
        await self._consumer._capability(self._url("nack"), _nack_body(reason, delay), "nack")
        self._settled = "nack"

    async def reject(self, reason: Optional[str] = None) -> None:
        await self._consumer._capability(self._url("reject"), _reject_body(reason), "reject")
        self._settled = "reject"

    async def extend(self, seconds: float) -> Optional[datetime]:
        answer = await self._consumer._capability(
            self._url("extend"), {"seconds": seconds}, "extend"
        )
        return _apply_extend(self, answer)


# --- decoding what the relay sends -----------------------------------------


def decode_event(data: Mapping[str, Any]) -> Tuple[bytes, Meta, Optional[str]]:
    """An SSE ``message`` event's data (or a ``/lease`` item) to
    (payload bytes, meta, content type)."""
    payload = data.get("payload")
    encoding = data.get("encoding") or "utf8"
    if not isinstance(payload, str):
        raise HookbayError("malformed message: no payload")
    if encoding == "base64":
        try:
            body = base64.b64decode(payload)
        except (binascii.Error, ValueError) as e:
            raise HookbayError(f"malformed message: bad base64 payload ({e})") from e
    elif encoding in ("utf8", "utf-8"):
        body = payload.encode("utf-8", errors="surrogatepass")
    else:
        raise HookbayError(f"malformed message: unknown encoding {encoding!r}")
    raw_meta = data.get("meta")
    meta = Meta(raw_meta if isinstance(raw_meta, dict) else None)
    ct = data.get("contentType")
    content_type = ct if isinstance(ct, str) else meta.content_type
    return body, meta, content_type


def decode_meta_header(value: Optional[str]) -> Meta:
    if not value:
        raise HookbayError("the relay answered 200 without an X-Hookbay-Meta header")
    try:
        raw = json.loads(value)
    except ValueError as e:
        raise HookbayError(f"malformed X-Hookbay-Meta header ({e})") from e
    if not isinstance(raw, dict):
        raise HookbayError("malformed X-Hookbay-Meta header (not an object)")
    return Meta(raw)


# --- batch settle -----------------------------------------------------------

Outcome = str  # "ack" | "nack" | "reject"
_OUTCOMES = ("ack", "nack", "reject")


@dataclass
class Settlement:
    """One item of :meth:`Consumer.settle`: a message (or a bare lease token,
    then pass ``queue_id`` to ``settle``) and its outcome."""

    message: Union[BaseMessage, str]
    outcome: Outcome
    reason: Optional[str] = None
    delay: Optional[float] = None

    @classmethod
    def ack(cls, message: Union[BaseMessage, str]) -> "Settlement":
        return cls(message, "ack")

    @classmethod
    def nack(
        cls,
        message: Union[BaseMessage, str],
        reason: Optional[str] = None,
        delay: Optional[float] = None,
    ) -> "Settlement":
        return cls(message, "nack", reason, delay)

    @classmethod
    def reject(cls, message: Union[BaseMessage, str], reason: Optional[str] = None) -> "Settlement":
        return cls(message, "reject", reason)

    def to_json(self) -> Dict[str, Any]:
        if self.outcome not in _OUTCOMES:
            raise ValueError(f"outcome must be ack, nack or reject, not {self.outcome!r}")
        if isinstance(self.message, BaseMessage):
            token = self.message.lease_token
            if token is None:
                raise HookbayError(f"message {self.message.id} has no lease token in its meta")
        else:
            token = self.message
        item: Dict[str, Any] = {"token": token, "outcome": self.outcome}
        if self.reason is not None:
            item["reason"] = truncate_reason(self.reason)
        if self.delay is not None:
            if self.outcome != "nack":
                raise ValueError("delay is for nack only")
            item["delaySeconds"] = self.delay
        return item


SettleItem = Union[
    Settlement,
    Tuple[Union[BaseMessage, str], str],
    Tuple[Union[BaseMessage, str], str, Optional[str]],
    Tuple[Union[BaseMessage, str], str, Optional[str], Optional[float]],
]


def as_settlement(item: Any) -> Settlement:
    if isinstance(item, Settlement):
        return item
    if isinstance(item, tuple) and 2 <= len(item) <= 4:
        return Settlement(*item)
    raise TypeError(
        "settle items are Settlement objects or (message, outcome[, reason[, delay]]) tuples"
    )


@dataclass
class SettleResult:
    """The relay's answer for one settle item: ``status`` 204 settled, 409 the
    lease expired or was superseded, 404 not a lease of this queue, 401 not a
    lease token."""

    settlement: Settlement
    status: int
    detail: Optional[str] = None

    @property
    def ok(self) -> bool:
        return self.status == 204

    @property
    def lease_expired(self) -> bool:
        return self.status == 409

    def raise_for_status(self) -> None:
        """Raise the typed error for a failed item (LeaseExpired for 409)."""
        if self.ok:
            return
        from ._errors import error_from_response

        body = json.dumps({"detail": self.detail}).encode() if self.detail else b""
        raise error_from_response(self.status, {}, body, what="settle", settle_url=True)


def group_settlements(items: Sequence[Settlement], queue_id: Optional[str]) -> Dict[str, List[int]]:
    """Item indexes per queue (from each message's meta, else ``queue_id``)."""
    groups: Dict[str, List[int]] = {}
    for i, s in enumerate(items):
        q = s.message.meta.queue_id if isinstance(s.message, BaseMessage) else None
        q = q or queue_id
        if not q:
            raise ValueError("settle: pass queue_id for items given as bare lease tokens")
        groups.setdefault(q, []).append(i)
    return groups


def mark_settled(result: SettleResult) -> None:
    if result.ok and isinstance(result.settlement.message, BaseMessage):
        result.settlement.message._settled = result.settlement.outcome


# --- reconnect backoff -------------------------------------------------------


class Backoff:
    """Capped exponential backoff with jitter for reconnects and retries.

    The n-th consecutive failure waits a random time between
    ``(1 - jitter) * d`` and ``d``, where ``d = min(maximum, initial *
    multiplier ** n)``; a ``Retry-After`` from the relay raises the wait to at
    least that (still capped at ``maximum``).
    """

    def __init__(
        self,
        initial: float = 0.5,
        maximum: float = 30.0,
        multiplier: float = 2.0,
        jitter: float = 0.5,
    ) -> None:
        if initial < 0 or maximum < 0 or multiplier < 1 or not 0 <= jitter <= 1:
            raise ValueError("backoff: initial, maximum >= 0, multiplier >= 1, 0 <= jitter <= 1")
        self.initial = initial
        self.maximum = maximum
        self.multiplier = multiplier
        self.jitter = jitter

    def delay(self, failures: int, retry_after: Optional[float] = None) -> float:
        """Seconds to wait after ``failures`` (0-based) consecutive failures."""
        d = self.initial
        for _ in range(max(0, failures)):
            d *= self.multiplier
            if d >= self.maximum:
                break
        d = min(self.maximum, d)
        d *= 1 - self.jitter * random.random()
        if retry_after is not None:
            d = max(d, min(self.maximum, retry_after))
        return d

    def __repr__(self) -> str:
        return (
            f"Backoff(initial={self.initial}, maximum={self.maximum}, "
            f"multiplier={self.multiplier}, jitter={self.jitter})"
        )


class Retrier:
    """Counts consecutive failures of one loop."""

    def __init__(self, backoff: Backoff) -> None:
        self.backoff = backoff
        self.failures = 0

    def reset(self) -> None:
        self.failures = 0

    def next_delay(self, retry_after: Optional[float] = None) -> float:
        d = self.backoff.delay(self.failures, retry_after)
        self.failures += 1
        return d
