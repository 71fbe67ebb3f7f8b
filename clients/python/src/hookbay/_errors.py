"""Typed errors. Every error the client raises is a :class:`HookbayError`."""

from __future__ import annotations

import email.utils
import json
import time
from typing import Any, Mapping, Optional

__all__ = [
    "HookbayError",
    "AuthError",
    "NotFound",
    "Conflict",
    "LeaseExpired",
    "InvalidRequest",
    "Unavailable",
    "RateLimited",
    "ServerError",
    "Reject",
    "Nack",
]


class HookbayError(Exception):
    """Base class of every error raised by the hookbay client.

    ``status`` is the HTTP status (``None`` for connection errors), ``detail``
    the problem+json ``detail`` (or the body text), ``code`` the problem's
    stable machine-readable ``code`` (e.g. ``not_found``), ``problem`` the
    whole decoded problem document when there was one.
    """

    #: Whether retrying the same call later may succeed.
    retryable: bool = False

    def __init__(
        self,
        message: str,
        *,
        status: Optional[int] = None,
        detail: Optional[str] = None,
        code: Optional[str] = None,
        problem: Optional[Mapping[str, Any]] = None,
        retry_after: Optional[float] = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.detail = detail
        self.code = code
        self.problem: Optional[Mapping[str, Any]] = problem
        self.retry_after = retry_after

    def __str__(self) -> str:
        return self.message


class AuthError(HookbayError):
    """401 or 403: the token is missing, invalid, expired, revoked, or lacks a scope."""


class NotFound(HookbayError):
    """404: no such queue (or message) for this token's tenant."""


class Conflict(HookbayError):
    """409."""


class LeaseExpired(Conflict):
    """409 on a settle URL (ack, nack, reject, extend) or a settle item: the
    lease expired or was superseded, nothing changed; the message was or will
    be delivered again."""


class InvalidRequest(HookbayError):
    """400 (or 413/422): the relay refused the request; ``detail`` says why."""


class Unavailable(HookbayError):
    """503 (and 502/504) or a connection error: try again later.

    ``retry_after`` holds the seconds from the ``Retry-After`` header, if any.
    """

    retryable = True


class RateLimited(Unavailable):
    """429: the tenant's rate limit was hit; ``retry_after`` says when to retry."""


class ServerError(HookbayError):
    """Any other 5xx answer."""

    retryable = True


class Reject(Exception):
    """Raise from a :meth:`Consumer.run` handler to dead-letter the message
    (``POST rejectUrl``) instead of retrying it."""

    def __init__(self, reason: str = "") -> None:
        super().__init__(reason)
        self.reason = reason


class Nack(Exception):
    """Raise from a :meth:`Consumer.run` handler to nack with an explicit
    redelivery delay (any other exception nacks with the queue's backoff)."""

    def __init__(self, reason: str = "", delay: Optional[float] = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.delay = delay


def parse_retry_after(value: Optional[str]) -> Optional[float]:
    """``Retry-After`` as seconds (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - time.time())


_TITLES = {
    400: "invalid request",
    401: "unauthorized",
    403: "forbidden",
    404: "not found",
    409: "conflict",
    413: "payload too large",
    422: "invalid request",
    429: "rate limited",
    500: "internal error",
    502: "bad gateway",
    503: "unavailable",
    504: "gateway timeout",
}


def error_from_response(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    what: str = "",
    settle_url: bool = False,
) -> HookbayError:
    """Map a non-success HTTP answer to a typed error."""
    problem: Optional[Mapping[str, Any]] = None
    detail: Optional[str] = None
    code: Optional[str] = None
    if body:
        try:
            doc = json.loads(body.decode("utf-8", errors="replace"))
        except ValueError:
            doc = None
        if isinstance(doc, dict):
            problem = doc
            d = doc.get("detail")
            if isinstance(d, str) and d:
                detail = d
            elif isinstance(doc.get("title"), str):
                detail = doc["title"]
            c = doc.get("code")
            code = c if isinstance(c, str) else None
        if detail is None:
            text = body.decode("utf-8", errors="replace").strip()
            detail = text[:500] or None
    retry_after = parse_retry_after(headers.get("retry-after"))
    title = _TITLES.get(status, "error")
    message = f"{what + ': ' if what else ''}{status} {title}"
    if detail:
        message += f": {detail}"
    kw: dict[str, Any] = dict(
        status=status, detail=detail, code=code, problem=problem, retry_after=retry_after
    )
    if status in (401, 403):
        return AuthError(message, **kw)
    if status == 404:
        return NotFound(message, **kw)
    if status == 409:
        return LeaseExpired(message, **kw) if settle_url else Conflict(message, **kw)
    if status in (400, 413, 422):
        return InvalidRequest(message, **kw)
    if status == 429:
        return RateLimited(message, **kw)
    if status in (502, 503, 504):
        return Unavailable(message, **kw)
    if 500 <= status < 600:
        return ServerError(message, **kw)
    return HookbayError(message, **kw)


def connection_error(exc: BaseException, what: str = "") -> Unavailable:
    """A transport failure (refused, reset, timeout) as :class:`Unavailable`."""
    text = str(exc) or type(exc).__name__
    err = Unavailable(f"{what + ': ' if what else ''}cannot reach the relay ({text})")
    err.__cause__ = exc
    return err
