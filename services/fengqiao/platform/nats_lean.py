"""nats-py's client with two per-call costs taken out of the hot path.

Every request to nats-server (a publish with its acknowledgement, a KV read or write) and
every message taken from a pull subscription went through machinery the answer does not
need (nats-py 2.16, `make bench` profiles on Python 3.11):

- a request made its reply token from a NUID and `secrets.token_hex` (a system call for
  randomness), and waited with `asyncio.wait_for`, which on 3.11 wraps the wait in a task
  of its own, with a timer and a waiter future;
- `Subscription.next_msg` (which a JetStream fetch calls once per message) made a
  `uuid4` (randomness again) and two tasks, even for a message already in the queue.

Here a reply token is a counter (unique under the connection's own inbox prefix, which
is random and changes on reconnect), the timeout is one `call_later` on the future, and a
message already queued is taken at once. What callers see does not change: the same
errors (`nats.errors.TimeoutError` on a timeout), the same messages in the same order, and
anything not on the fast path goes to nats-py's own code. The version is pinned in
pyproject.toml; tests/platform/test_nats_lean.py pins the behaviour against a real server.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

from nats import errors
from nats.aio.client import Client as _NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription as _NatsSubscription


class Subscription(_NatsSubscription):
    async def next_msg(self, timeout: float | None = 1.0) -> Msg:  # noqa: ASYNC109  # nats-py's signature
        queue = self._pending_queue
        if queue.empty() or self._cb or self._conn.is_closed:
            return await super().next_msg(timeout)
        msg: Msg = queue.get_nowait()
        self._pending_size -= len(msg.data)
        queue.task_done()  # consumed once taken, as nats-py counts it
        return msg


def _expire(future: asyncio.Future[Msg]) -> None:
    if not future.done():
        future.set_exception(errors.TimeoutError())


class Client(_NatsClient):
    def __init__(self) -> None:
        super().__init__()
        self._tokens = itertools.count()

    async def subscribe(self, *args: Any, **kwargs: Any) -> _NatsSubscription:
        sub = await super().subscribe(*args, **kwargs)
        sub.__class__ = Subscription  # same state, the faster next_msg
        return sub

    async def _request_new_style(
        self,
        subject: str,
        payload: bytes,
        timeout: float = 1,  # noqa: ASYNC109  # nats-py's signature
        headers: dict[str, Any] | None = None,
    ) -> Msg:
        if self.is_draining_pubs:
            raise errors.ConnectionDrainingError
        if not self._resp_sub_prefix:
            await self._init_request_sub()
        assert self._resp_sub_prefix
        token = format(next(self._tokens), "x")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Msg] = loop.create_future()
        responses = self._resp_map
        responses[token] = future
        expiry = loop.call_later(timeout, _expire, future)
        try:
            reply = self._resp_sub_prefix.decode() + token
            await self.publish(subject, payload, reply=reply, headers=headers)
            return await future
        finally:
            expiry.cancel()
            responses.pop(token, None)
