"""Fixtures: one real relay for the session (binary from HOOKBAY_BIN, default
target/debug/hookbay of the repo), a fresh tenant + queue per test."""

from __future__ import annotations

import queue
import sys
import threading
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, List, Optional

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from relay import Relay, Tenant, relay_binary  # noqa: E402

import hookbay  # noqa: E402

# small backoff so reconnect tests finish fast; nothing depends on it
FAST = hookbay.Backoff(initial=0.05, maximum=0.5)
# a guard against hangs, never a timing expectation
TIMEOUT = 60.0


@pytest.fixture(scope="session")
def relay() -> Iterator[Relay]:
    r = Relay(relay_binary())
    r.start()
    yield r
    r.close()


@pytest.fixture
def private_relay() -> Iterator[Relay]:
    """A relay of the test's own, for tests that stop and restart it."""
    r = Relay(relay_binary())
    r.start()
    yield r
    r.close()


@pytest.fixture
def tenant(relay: Relay) -> Iterator[Tenant]:
    t = relay.tenant()
    yield t
    t.close()


@pytest.fixture
def consumer(tenant: Tenant) -> Iterator[hookbay.Consumer]:
    c = hookbay.Consumer(tenant.url, tenant.token, backoff=FAST)
    yield c
    c.close()


class Background:
    """Iterates a (blocking, endless) iterator on a daemon thread and hands
    its items over a queue, so a test can wait for each with a timeout. An
    exception raised by the iterator is handed over too, and re-raised by
    ``get``."""

    _END = object()

    def __init__(self, make: Callable[[], Iterable[Any]]) -> None:
        self._q: "queue.Queue[Any]" = queue.Queue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(make,), daemon=True)
        self._thread.start()

    def _run(self, make: Callable[[], Iterable[Any]]) -> None:
        try:
            for item in make():
                self._q.put(item)
                if self._stop.is_set():
                    break
        except BaseException as e:  # noqa: BLE001 - handed to the test
            self._q.put(e)
        else:
            self._q.put(self._END)

    def get(self, timeout: float = TIMEOUT) -> Any:
        try:
            item = self._q.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"nothing arrived within {timeout}s") from None
        if isinstance(item, BaseException):
            raise item
        if item is self._END:
            raise AssertionError("the iterator ended")
        return item

    def take(self, n: int, timeout: float = TIMEOUT) -> List[Any]:
        return [self.get(timeout) for _ in range(n)]

    def error(self, timeout: float = TIMEOUT) -> BaseException:
        """Wait for the iterator to raise; return the exception."""
        try:
            item = self._q.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no error within {timeout}s") from None
        assert isinstance(item, BaseException), f"expected an error, got {item!r}"
        return item

    def wait_end(self, timeout: float = TIMEOUT) -> None:
        """Wait for the iterator to finish (skipping items still queued)."""
        while True:
            try:
                item = self._q.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"the iterator did not end within {timeout}s") from None
            if isinstance(item, BaseException):
                raise item
            if item is self._END:
                return

    def stop(self) -> None:
        """Stop after the next item (the thread is a daemon: a stream that
        stays blocked ends with the test process)."""
        self._stop.set()

    def join(self, timeout: Optional[float] = TIMEOUT) -> None:
        self._thread.join(timeout)


@pytest.fixture
def background() -> Iterator[Callable[[Callable[[], Iterable[Any]]], Background]]:
    started: List[Background] = []

    def start(make: Callable[[], Iterable[Any]]) -> Background:
        b = Background(make)
        started.append(b)
        return b

    yield start
    for b in started:
        b.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: Any) -> Iterator[None]:
    """On failure, attach the tail of the relay's log to the report."""
    outcome = yield
    rep = outcome.get_result()
    if rep.failed and call.when == "call":
        for name in ("private_relay", "relay"):
            r = getattr(item, "funcargs", {}).get(name)
            if isinstance(r, Relay):
                rep.sections.append((f"relay log ({name})", r.log()))
