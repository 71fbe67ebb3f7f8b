# Generated from _async.py by tools/unasync.py: edit that file, then run the tool.
"""The blocking consumer."""

from __future__ import annotations

import time
from typing import Any, Callable, Dict, Generator, Iterable, List, Optional, Tuple

import httpx

from ._base import (
    IDLE_PAUSE,
    PROBE_ITEMS,
    BaseConsumer,
    Number,
    Parts,
    chunks,
    lease_items,
    log,
    settle_results,
    user_agent,
)
from ._errors import (
    AuthError,
    HookbayError,
    NotFound,
    connection_error,
    error_from_response,
)
from ._models import (
    Backoff,
    Message,
    Retrier,
    SettleItem,
    SettleResult,
    as_settlement,
    group_settlements,
    mark_settled,
)
from ._sse import SSEDecoder

__all__ = ["Consumer"]

Handler = Callable[[Message], Any]


class Consumer:
    """A blocking hookbay consumer.

    ``url`` is the relay's base URL, ``token`` a tenant token with the
    ``consume`` scope. ``backoff`` sets the reconnect/retry backoff of
    :meth:`stream`, :meth:`poll` and :meth:`run` (default: from 0.5 s, ×2,
    capped at 30 s, with jitter). ``timeout`` applies to connecting and to
    each plain call (long polls get ``wait`` on top); a stream that stays
    silent (no event, no keep-alive) for ``stream_read_timeout`` seconds is
    reconnected. Pass ``client`` to bring your own ``httpx.Client`` (proxies,
    TLS settings); it is then yours to close.
    """

    def __init__(
        self,
        url: str,
        token: str,
        *,
        timeout: float = 30.0,
        stream_read_timeout: float = 45.0,
        backoff: Optional[Backoff] = None,
        client: Optional[httpx.Client] = None,
    ) -> None:
        self._cfg = BaseConsumer(
            url, token, timeout=timeout, stream_read_timeout=stream_read_timeout, backoff=backoff
        )
        self._owns_client = client is None
        self._closed = False
        self._http = client or httpx.Client(
            timeout=timeout, headers={"User-Agent": user_agent()}, follow_redirects=False
        )

    @property
    def base_url(self) -> str:
        return self._cfg.base_url

    @property
    def backoff(self) -> Backoff:
        return self._cfg.backoff

    def close(self) -> None:
        """Stop this consumer: :meth:`stream`, :meth:`poll` and :meth:`run`
        end (without yielding more messages) at their next event, keep-alive
        or retry, so it may be called from another thread or a signal
        handler. Closes the HTTP connections (not a ``client`` you passed)."""
        self._closed = True
        if self._owns_client:
            self._http.close()

    def __enter__(self) -> "Consumer":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Consumer {self.base_url}>"

    # --- plumbing ---------------------------------------------------------

    def _send(
        self,
        method: str,
        url: str,
        *,
        what: str,
        params: Optional[Dict[str, str]] = None,
        json: Optional[Any] = None,
        timeout: Optional[httpx.Timeout] = None,
        auth: bool = True,
        ok: Tuple[int, ...] = (200,),
        settle_url: bool = False,
    ) -> httpx.Response:
        headers = self._cfg._auth() if auth else {}
        try:
            r = self._http.request(
                method,
                url,
                params=params,
                json=json,
                headers=headers,
                timeout=timeout if timeout is not None else self._cfg.timeout,
            )
        except httpx.RequestError as e:
            raise connection_error(e, what) from e
        if r.status_code not in ok:
            raise error_from_response(
                r.status_code, r.headers, r.content, what=what, settle_url=settle_url
            )
        return r

    def _capability(
        self, url: str, body: Optional[Dict[str, Any]], what: str
    ) -> Optional[Dict[str, Any]]:
        """POST a meta capability URL (no bearer token: the URL carries it)."""
        r = self._send(
            "POST", url, what=what, json=body, auth=False, ok=(200, 204), settle_url=True
        )
        if r.status_code == 200 and r.content:
            try:
                doc = r.json()
            except ValueError:
                return None
            return doc if isinstance(doc, dict) else None
        return None

    def _message(self, parts: Parts) -> Message:
        body, meta, ct, mid = parts
        return Message(self, body, meta, ct, mid)

    # --- single calls -------------------------------------------------------

    def next(
        self, queue_id: str, wait: Number = 0, lease: Optional[Number] = None
    ) -> Optional[Message]:
        """Lease one message with ``GET /next``: wait up to ``wait`` seconds
        (0..30) for one; ``None`` when none came. ``lease``: lease seconds
        (default: the queue's)."""
        r = self._send(
            "GET",
            self._cfg._queue_url(queue_id, "next"),
            what=f"next {queue_id}",
            params=self._cfg._next_params(wait, lease),
            timeout=self._cfg._wait_timeout(wait),
            ok=(200, 204),
        )
        if r.status_code == 204:
            return None
        return self._message(self._cfg._next_parts(r))

    def lease(
        self,
        queue_id: str,
        max: int = 100,  # noqa: A002 - the API's name
        wait: Number = 20,
        lease: Optional[Number] = None,
    ) -> List[Message]:
        """Lease up to ``max`` (1..100) messages in one call (``POST /lease``),
        waiting up to ``wait`` seconds for the first; ``[]`` when none came."""
        r = self._send(
            "POST",
            self._cfg._queue_url(queue_id, "lease"),
            what=f"lease {queue_id}",
            json=self._cfg._lease_body(max, wait, lease),
            timeout=self._cfg._wait_timeout(wait),
        )
        return [self._message(p) for p in lease_items(r)]

    def settle(
        self, items: Iterable[SettleItem], queue_id: Optional[str] = None
    ) -> List[SettleResult]:
        """Ack, nack or reject many leases at once (``POST /settle``, 100 per
        call). Items are :class:`Settlement` objects or ``(message, outcome[,
        reason[, delay]])`` tuples; bare lease tokens need ``queue_id``.
        Returns one :class:`SettleResult` per item, in order: a stale lease is
        ``status == 409`` there (``result.raise_for_status()`` raises
        :class:`LeaseExpired`), not an exception."""
        sets = [as_settlement(i) for i in items]
        payloads = [s.to_json() for s in sets]
        results: List[Optional[SettleResult]] = [None] * len(sets)
        for q, idxs in group_settlements(sets, queue_id).items():
            for chunk in chunks(idxs, 100):
                r = self._send(
                    "POST",
                    self._cfg._queue_url(q, "settle"),
                    what=f"settle {q}",
                    json={"items": [payloads[i] for i in chunk]},
                )
                for i, (status, detail) in zip(chunk, settle_results(r, len(chunk))):
                    res = SettleResult(sets[i], status, detail)
                    mark_settled(res)
                    results[i] = res
        return [r for r in results if r is not None]

    # --- loops --------------------------------------------------------------

    def poll(
        self, queue_id: str, wait: Number = 20, lease: Optional[Number] = None
    ) -> Generator[Message, None, None]:
        """Messages from a ``GET /next?wait=`` long-poll loop, forever.
        Connection errors, 5xx and 429 are retried with backoff; other errors
        (:class:`AuthError`, :class:`NotFound`, ...) are raised."""
        retry = Retrier(self._cfg.backoff)
        while not self._closed:
            try:
                msg = self.next(queue_id, wait=wait, lease=lease)
            except HookbayError as e:
                if self._closed:
                    return
                if not e.retryable:
                    raise
                delay = retry.next_delay(e.retry_after)
                log.warning("hookbay: poll %s failed (%s); retrying in %.1fs", queue_id, e, delay)
                time.sleep(delay)
                continue
            except RuntimeError:
                if self._closed:
                    return  # the HTTP client was closed under us
                raise
            retry.reset()
            if msg is not None:
                if self._closed:
                    return
                yield msg
            elif float(wait) <= 0:
                time.sleep(min(IDLE_PAUSE, self._cfg.backoff.maximum))

    def stream(
        self, queue_id: str, prefetch: int = 10, lease: Optional[Number] = None
    ) -> Generator[Message, None, None]:
        """Messages from the queue's Server-Sent Events stream, forever.

        At most ``prefetch`` unsettled messages are leased to the stream. On a
        network error, a silent connection, a 5xx or 429, or the end of the
        response, it reconnects with capped exponential backoff and jitter.
        When the relay sends ``event: close`` it checks why and raises
        :class:`NotFound` (queue deleted) or :class:`AuthError` (token revoked
        or expired); errors that a retry cannot fix are raised at once.
        """
        url = self._cfg._queue_url(queue_id, "stream")
        params = self._cfg._stream_params(prefetch, lease)
        what = f"stream {queue_id}"
        retry = Retrier(self._cfg.backoff)
        while not self._closed:
            retry_after: Optional[float] = None
            try:
                closed: Optional[str] = None
                with self._http.stream(
                    "GET",
                    url,
                    params=params,
                    headers=self._cfg._sse_headers(),
                    timeout=self._cfg._stream_timeout(),
                ) as resp:
                    if resp.status_code != 200:
                        resp.read()
                        raise error_from_response(
                            resp.status_code, resp.headers, resp.content, what=what
                        )
                    retry.reset()
                    decoder = SSEDecoder()
                    for chunk in resp.iter_bytes():
                        if self._closed:
                            return
                        for ev in decoder.feed(chunk):
                            if self._closed:
                                return
                            if ev.event == "message":
                                parts = self._cfg._event_parts(ev)
                                if parts is not None:
                                    yield self._message(parts)
                            elif ev.event == "close":
                                closed = self._cfg._close_reason(ev)
                                break
                        if closed is not None:
                            break
                if closed is not None:
                    self._check_after_close(queue_id, closed)
                    log.warning("hookbay: the relay closed %s (%s); reconnecting", what, closed)
                else:
                    log.info("hookbay: %s ended; reconnecting", what)
            except RuntimeError:
                if self._closed:
                    return  # the HTTP client was closed under us
                raise
            except httpx.RequestError as e:
                if self._closed:
                    return
                log.warning("hookbay: %s lost (%s)", what, str(e) or type(e).__name__)
            except HookbayError as e:
                if self._closed:
                    return
                if not e.retryable:
                    raise
                log.warning("hookbay: %s: %s", what, e)
                retry_after = e.retry_after
            delay = retry.next_delay(retry_after)
            log.info("hookbay: reconnecting %s in %.2fs", what, delay)
            time.sleep(delay)

    def _check_after_close(self, queue_id: str, reason: str) -> None:
        """After ``event: close``: raise NotFound/AuthError if the queue is
        gone or the token no longer works; return if both are fine."""
        try:
            self._send(
                "POST",
                self._cfg._queue_url(queue_id, "settle"),
                what=f"stream {queue_id} closed by the relay ({reason})",
                json=PROBE_ITEMS,
            )
        except (AuthError, NotFound):
            raise
        except HookbayError as e:
            log.debug("hookbay: close probe inconclusive: %s", e)

    def run(
        self,
        queue_id: str,
        handler: Handler,
        mode: str = "stream",
        *,
        prefetch: int = 10,
        wait: Number = 20,
        lease: Optional[Number] = None,
        max_messages: Optional[int] = None,
    ) -> int:
        """Call ``handler(msg)`` for each message and settle it: a normal
        return acks; raising :class:`Reject` rejects (dead letter); raising
        :class:`Nack` nacks with its delay; any other exception nacks with the
        exception's text as the reason. A handler that settled the message
        itself is left alone. ``mode`` is ``"stream"`` (SSE) or ``"poll"``
        (``/next``). Runs forever, or until ``max_messages`` were handled;
        returns how many were."""
        if mode not in ("stream", "poll"):
            raise ValueError(f"mode must be 'stream' or 'poll', not {mode!r}")
        if max_messages is not None and max_messages <= 0:
            return 0
        if mode == "stream":
            source = self.stream(queue_id, prefetch=prefetch, lease=lease)
        else:
            source = self.poll(queue_id, wait=wait, lease=lease)
        handled = 0
        try:
            for msg in source:
                try:
                    handler(msg)
                except Exception as e:  # noqa: BLE001 - the handler's failure is the nack
                    err: Optional[BaseException] = e
                else:
                    err = None
                self._settle_one(msg, err)
                handled += 1
                if max_messages is not None and handled >= max_messages:
                    break
        finally:
            source.close()
        return handled

    def _settle_one(self, msg: Message, err: Optional[BaseException]) -> None:
        if msg.settled is not None:
            return
        outcome, reason, delay = self._cfg._outcome(err)
        if err is not None and outcome == "nack":
            log.warning("hookbay: handler failed for %s: %s", msg.id, reason)
        try:
            if outcome == "ack":
                msg.ack()
            elif outcome == "reject":
                msg.reject(reason)
            else:
                msg.nack(reason, delay)
        except RuntimeError:
            if not self._closed:
                raise
            log.warning("hookbay: closed before %s of %s; it will be redelivered", outcome, msg.id)
        except HookbayError as e:
            # the lease is lost or the relay is away: the message comes again
            log.warning("hookbay: could not %s %s: %s", outcome, msg.id, e)
