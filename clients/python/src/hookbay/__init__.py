"""hookbay: the official Python client of the hookbay webhook relay.

from hookbay import Consumer

c = Consumer("https://relay.example", token)
for msg in c.stream(queue_id):
    handle(msg.json())
    msg.ack()
"""

from ._async import AsyncConsumer
from ._errors import (
    AuthError,
    Conflict,
    HookbayError,
    InvalidRequest,
    LeaseExpired,
    Nack,
    NotFound,
    RateLimited,
    Reject,
    ServerError,
    Unavailable,
)
from ._models import (
    AsyncMessage,
    Backoff,
    BaseMessage,
    Message,
    Meta,
    Settlement,
    SettleResult,
)
from ._sse import SSEDecoder, SSEEvent
from ._sync import Consumer
from ._version import __version__

__all__ = [
    "Consumer",
    "AsyncConsumer",
    "Message",
    "AsyncMessage",
    "BaseMessage",
    "Meta",
    "Settlement",
    "SettleResult",
    "Backoff",
    "SSEDecoder",
    "SSEEvent",
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
    "__version__",
]
