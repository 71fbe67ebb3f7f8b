"""Typed errors against a real relay."""

from __future__ import annotations

import pytest
from conftest import FAST
from relay import free_port

import hookbay
from hookbay import AuthError, HookbayError, InvalidRequest, NotFound, Unavailable


def test_bad_token_is_auth_error(tenant):
    c = hookbay.Consumer(tenant.url, "definitely-not-a-token")
    for call in (
        lambda: c.next(tenant.queue_id),
        lambda: c.lease(tenant.queue_id, wait=0),
        lambda: next(iter(c.poll(tenant.queue_id))),
    ):
        with pytest.raises(AuthError) as e:
            call()
        assert e.value.status == 401
        assert isinstance(e.value, HookbayError)
        assert e.value.code == "unauthorized"


def test_missing_scope_is_auth_error(tenant):
    c = hookbay.Consumer(tenant.url, tenant.mint_token(["read"]))
    with pytest.raises(AuthError) as e:
        c.next(tenant.queue_id)
    assert e.value.status == 403


def test_unknown_queue_is_not_found(consumer):
    with pytest.raises(NotFound) as e:
        consumer.next("q_00000000000000000000000000000000")
    assert e.value.status == 404
    with pytest.raises(NotFound):
        consumer.lease("q_nope", wait=0)


def test_other_tenants_queue_is_not_found(relay, tenant):
    other = relay.tenant()
    c = hookbay.Consumer(other.url, other.token)
    with pytest.raises(NotFound):
        c.next(tenant.queue_id)
    other.close()


def test_invalid_request_carries_detail(tenant, consumer):
    with pytest.raises(InvalidRequest) as e:
        consumer.next(tenant.queue_id, wait=99)
    assert e.value.status == 400
    assert e.value.detail and "wait" in e.value.detail
    assert e.value.problem and e.value.problem.get("status") == 400
    with pytest.raises(InvalidRequest):
        consumer.lease(tenant.queue_id, max=0)


def test_unreachable_relay_is_unavailable():
    c = hookbay.Consumer(f"http://127.0.0.1:{free_port()}", "token", backoff=FAST)
    with pytest.raises(Unavailable) as e:
        c.next("q_x")
    assert e.value.status is None
    assert e.value.retryable


def test_tampered_settle_url(tenant, consumer):
    tenant.deliver(b"x")
    m = consumer.next(tenant.queue_id, wait=5)
    assert m is not None
    good = m.meta.raw["ackUrl"]
    m.meta.raw["ackUrl"] = good.replace("token=", "token=x")
    with pytest.raises((AuthError, NotFound)):
        m.ack()
    m.meta.raw["ackUrl"] = good
    m.ack()
