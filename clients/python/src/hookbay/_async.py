"""The asyncio consumer: the same API as :class:`~hookbay.Consumer`, awaitable."""

from __future__ import annotations

import asyncio
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
    AsyncMessage,
    Backoff,
    Retrier,
    SettleItem,
    SettleResult,
    as_settlement,
    group_settlements,
    mark_settled,
)
from ._sse import SSEDecoder

__all__ = ["AsyncConsumer"]

AsyncHandler = Callable[[AsyncMessage], Union[Awaitable[Any], Any]]


class AsyncConsumer:
    """An asyncio hookbay consumer: ``async for msg in c.stream(q)``,
    ``await msg.ack()``. Same arguments and behaviour as
    :class:`~hookbay.Consumer`; ``client`` is an ``httpx.AsyncClient``.
    Use it as ``async with AsyncConsumer(...) as c:`` or call
    :meth:`aclose`."""

    def __init__(
        self,
        url: str,
        token: str,
        *,
        timeout: float = 30.0,
        stream_read_timeout: float = 45.0,
        backoff: Optional[Backoff] = None,
        client: Optional[httpx.AsyncClient] = None,
    ) -> None:
        self._cfg = BaseConsumer(
            url, token, timeout=timeout, stream_read_timeout=stream_read_timeout, backoff=backoff
        )
        self._owns_client = client is None
        self._closed = False
        self._http = client or httpx.AsyncClient(
            timeout=timeout, headers={"User-Agent": user_agent()}, follow_redirects=False
        )

    @property
    def base_url(self) -> str:
        return self._cfg.base_url

    @property
    def backoff(self) -> Backoff:
        return self._cfg.backoff

    async def aclose(self) -> None:
        """Stop this consumer (its loops end at their next event, keep-alive
        or retry) and close the HTTP connections (not a ``client`` you
        passed in)."""
        self._closed = True
        if self._owns_client:
            await self._http.aclose()

    async def __aenter__(self) -> "AsyncConsumer":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"<AsyncConsumer {self.base_url}>"

    # --- plumbing ---------------------------------------------------------

    async def _send(
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
            r = await self._http.request(
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

    async def _capability(
        self, url: str, body: Optional[Dict[str, Any]], what: str
    ) -> Optional[Dict[str, Any]]:
        """POST a meta capability URL (no bearer token: the URL carries it)."""
        r = await self._send(
            "POST", url, what=what, json=body, auth=False, ok=(200, 204), settle_url=True
        )
        if r.status_code == 200 and r.content:
            try:
                doc = r.json()
            except ValueError:
                return None
            return doc if isinstance(doc, dict) else None
        return None

    def _message(self, parts: Parts) -> AsyncMessage:
        body, meta, ct, mid = parts
        return AsyncMessage(self, body, meta, ct, mid)

    # --- single calls -------------------------------------------------------

    async def next(
        self, queue_id: str, wait: Number = 0, lease: Optional[Number] = None
    ) -> Optional[AsyncMessage]:
        """Lease one message with ``GET /next``: wait up to ``wait`` seconds
        (0..30) for one; ``None`` when none came. ``lease``: lease seconds
        (default: the queue's)."""
        r = await self._send(
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

    async def lease(
        self,
        queue_id: str,
        max: int = 100,  # noqa: A002 - the API's name
        wait: Number = 20,
        lease: Optional[Number] = None,
    ) -> List[AsyncMessage]:
        """Lease up to ``max`` (1..100) messages in one call (``POST /lease``),
        waiting up to ``wait`` seconds for the first; ``[]`` when none came."""
        r = await self._send(
            "POST",
            self._cfg._queue_url(queue_id, "lease"),
            what=f"lease {queue_id}",
            json=self._cfg._lease_body(max, wait, lease),
            timeout=self._cfg._wait_timeout(wait),
        )
        return [self._message(p) for p in lease_items(r)]

    async def settle(
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
                r = await self._send(
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

    async def poll(
        self, queue_id: str, wait: Number = 20, lease: Optional[Number] = None
    ) -> AsyncGenerator[AsyncMessage, None]:
        """Messages from a ``GET /next?wait=`` long-poll loop, forever.
        Connection errors, 5xx and 429 are retried with backoff; other errors
        (:class:`AuthError`, :class:`NotFound`, ...) are raised."""
        retry = Retrier(self._cfg.backoff)
        while not self._closed:
            try:
                msg = await self.next(queue_id, wait=wait, lease=lease)
            except HookbayError as e:
                if self._closed:
                    return
                if not e.retryable:
                    raise
                delay = retry.next_delay(e.retry_after)
                log.warning("hookbay: poll %s failed (%s); retrying in %.1fs", queue_id, e, delay)
                await asyncio.sleep(delay)
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
                await asyncio.sleep(min(IDLE_PAUSE, self._cfg.backoff.maximum))

    async def stream(
        self, queue_id: str, prefetch: int = 10, lease: Optional[Number] = None
    ) -> AsyncGenerator[AsyncMessage, None]:
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
                async with self._http.stream(
                    "GET",
                    url,
                    params=params,
                    headers=self._cfg._sse_headers(),
                    timeout=self._cfg._stream_timeout(),
                ) as resp:
                    if resp.status_code != 200:
                        await resp.aread()
                        raise error_from_response(
                            resp.status_code, resp.headers, resp.content, what=what
                        )
                    retry.reset()
                    decoder = SSEDecoder()
                    async for chunk in resp.aiter_bytes():
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
                    await self._check_after_close(queue_id, closed)
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
            await asyncio.sleep(delay)

    async def _check_after_close(self, queue_id: str, reason: str) -> None:
        """After ``event: close``: raise NotFound/AuthError if the queue is
        gone or the token no longer works; return if both are fine."""
        try:
            await self._send(
                "POST",
                self._cfg._queue_url(queue_id, "settle"),
                what=f"stream {queue_id} closed by the relay ({reason})",
                json=PROBE_ITEMS,
            )
        except (AuthError, NotFound):
            raise
        except HookbayError as e:
            log.debug("hookbay: close probe inconclusive: %s", e)

    async def run(
        self,
        queue_id: str,
        handler: AsyncHandler,
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
        returns how many were. A handler may also be a coroutine
        function."""
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
            async for msg in source:
                try:
                    result = handler(msg)
                    if inspect.isawaitable(result):
                        await result
                except Exception as e:  # noqa: BLE001 - the handler's failure is the nack
                    err: Optional[BaseException] = e
                else:
                    err = None
                await self._settle_one(msg, err)
                handled += 1
                if max_messages is not None and handled >= max_messages:
                    break
        finally:
            await source.aclose()
        return handled

    async def _settle_one(self, msg: AsyncMessage, err: Optional[BaseException]) -> None:
        if msg.settled is not None:
            return
        outcome, reason, delay = self._cfg._outcome(err)
        if err is not None and outcome == "nack":
            log.warning("hookbay: handler failed for %s: %s", msg.id, reason)
        try:
            if outcome == "ack":
                await msg.ack()
            elif outcome == "reject":
                await msg.reject(reason)
            else:
                await msg.nack(reason, delay)
        except RuntimeError:
            if not self._closed:
                raise
            log.warning("hookbay: closed before %s of %s; it will be redelivered", outcome, msg.id)
        except HookbayError as e:
            # the lease is lost or the relay is away: the message comes again
            log.warning("hookbay: could not %s %s: %s", outcome, msg.id, e)
