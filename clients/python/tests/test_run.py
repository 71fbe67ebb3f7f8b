"""Consumer.run(): the handler's outcome settles each message."""

from __future__ import annotations

import json
import threading
from typing import Any, Dict, List

import pytest
from conftest import TIMEOUT

import hookbay
from hookbay import Nack, Reject


def handler_for(seen: List[str]) -> Any:
    def handle(msg: hookbay.Message) -> None:
        action = msg.json()["action"]
        seen.append(action)
        if action == "reject":
            raise Reject("bad payload")
        if action == "fail":
            raise ValueError("boom")
        if action == "later":
            raise Nack("not yet", delay=3600)
        if action == "self-ack":
            msg.ack()

    return handle


def run_in_thread(fn: Any) -> Dict[str, Any]:
    out: Dict[str, Any] = {}

    def target() -> None:
        try:
            out["result"] = fn()
        except BaseException as e:  # noqa: BLE001
            out["error"] = e

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(TIMEOUT)
    assert not t.is_alive(), "run() did not return"
    if "error" in out:
        raise out["error"]
    return out


@pytest.mark.parametrize("mode", ["stream", "poll"])
def test_run_settles_by_handler_outcome(relay, mode):
    # a nacked message must not come back during the test, whatever its pace
    tenant = relay.tenant(backoff={"initialSeconds": 3600, "multiplier": 2, "maxSeconds": 3600})
    consumer = hookbay.Consumer(tenant.url, tenant.token)
    actions = ["ok", "reject", "fail", "later", "self-ack"]
    ids = {a: tenant.deliver(json.dumps({"action": a}).encode()) for a in actions}
    seen: List[str] = []
    out = run_in_thread(
        lambda: consumer.run(
            tenant.queue_id, handler_for(seen), mode=mode, wait=5, max_messages=len(actions)
        )
    )
    assert out["result"] == len(actions)
    assert seen == actions

    def history(action: str) -> Dict[str, Any]:
        (delivery,) = tenant.message(ids[action])["deliveries"]
        return delivery

    assert history("ok")["state"] == "acked"
    assert history("self-ack")["state"] == "acked"
    assert len(history("self-ack")["history"]) == 1  # settled once, by the handler
    rejected = history("reject")
    assert rejected["state"] == "dead"
    assert rejected["history"][0]["reason"] == "bad payload"
    failed = history("fail")["history"][0]
    assert (failed["outcome"], failed["reason"]) == ("nack", "boom")
    later = history("later")
    assert later["state"] == "delayed"
    assert (later["history"][0]["outcome"], later["history"][0]["reason"]) == ("nack", "not yet")
    assert tenant.counts()["dead"] == 1
    consumer.close()
    tenant.close()


def test_run_nack_redelivers_failed_message(tenant, consumer):
    mid = tenant.deliver(b'{"action": "fail"}')
    attempts: List[int] = []

    def handle(msg: hookbay.Message) -> None:
        attempts.append(msg.attempt)
        if msg.attempt == 1:
            raise RuntimeError("transient")

    # poll mode: the first attempt is nacked (queue backoff 1 s), the
    # second is acked
    out = run_in_thread(
        lambda: consumer.run(tenant.queue_id, handle, mode="poll", wait=5, max_messages=2)
    )
    assert out["result"] == 2
    assert attempts == [1, 2]
    (delivery,) = tenant.message(mid)["deliveries"]
    assert delivery["state"] == "acked"
    assert delivery["history"][0]["reason"] == "transient"


def test_run_rejects_unknown_mode(consumer, tenant):
    with pytest.raises(ValueError):
        consumer.run(tenant.queue_id, lambda m: None, mode="push")


def test_run_raises_auth_errors(tenant):
    bad = hookbay.Consumer(tenant.url, "nope")
    with pytest.raises(hookbay.AuthError):
        bad.run(tenant.queue_id, lambda m: None, mode="poll")
    with pytest.raises(hookbay.AuthError):
        bad.run(tenant.queue_id, lambda m: None, mode="stream")
