"""Who may send one notification through one channel: a compare-and-set claim in the
`deliveries` bucket, key `<notification id>.<channel index>`, taken before the send.

A key holds `1` once the channel took the notification (sent), or `claimed <until µs>`
while a replica sends it; no key: not sent. A claim is written with KV `create`, or with
`update` naming the revision read, so of two replicas only one holds it; the other does
not send, and looks again once the claim would have lapsed. A claim lapses `LEASE_SECONDS`
after it was taken: a holder that crashed before its send was recorded loses the claim,
and the message, redelivered, is sent by whoever takes it over. Duplicate sends therefore
come only from a failure between a send and its record (a crash, or the bus going away
before the record or the acknowledgement reached it): delivery stays at least once.

When a claim is needed (`needs_claim`): JetStream hands a pull consumer's message to one
fetch at a time, and hands it out again only when its ack wait (30 s) has passed without
an acknowledgement, after a `nak`, or when `in_progress` was not heard; so while a
message is on its first delivery, and younger than half its ack wait, its holder is the
only one, and a send that starts then ends (channel timeout, 5 s a phase) before anyone
else can be given the message. The message's stream time is when it was stored, before
it was delivered, so its age over-estimates how long it has been held: a message that
waited in a backlog claims. A redelivery (`num_delivered > 1`), a dead letter sent again
(`redrive`), or a first delivery held longer than that claims. So the common case, a
first delivery handled at once, writes nothing, as before; a redelivery costs one
request to claim and one to record the send, per channel.

Not covered: a nats-server killed before it wrote its consumer's state may forget that
it delivered a message and deliver it again as a first delivery while the first holder
still sends it (servers stopped with SIGTERM write their state first)."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from enum import Enum
from typing import Final

from nats.aio.msg import Msg
from nats.js.errors import KeyWrongLastSequenceError, NotFoundError
from nats.js.kv import KeyValue

from fengqiao.notification.dead_letters import is_redriven
from fengqiao.platform.bus import ACK_WAIT_SECONDS

# How long a claim keeps others from sending: as long as the server would keep the
# message from them (its ack wait).
LEASE_SECONDS: Final = ACK_WAIT_SECONDS
# A first delivery younger than this sends without a claim.
ALONE_SECONDS: Final = ACK_WAIT_SECONDS / 2
_SENT: Final = b"1"
_CLAIMED: Final = b"claimed "
_TRIES: Final = 3


class Verdict(Enum):
    MINE = "mine"  # claimed: send, then `sent` (or `release` if it failed)
    SENT = "sent"  # the channel took it already: skip
    HELD = "held"  # another replica is sending it now: leave it, look again later


@dataclass(frozen=True, slots=True)
class Claim:
    verdict: Verdict
    revision: int = 0
    # HELD: seconds until the holder's claim lapses.
    lapses_in: float = 0.0


def needs_claim(msg: Msg) -> bool:
    """Whether another replica could hold `msg` too (see the module's docstring)."""
    meta = msg.metadata
    if meta.num_delivered > 1 or is_redriven(msg):
        return True
    return time.time() - meta.timestamp.timestamp() >= ALONE_SECONDS


class Claims:
    def __init__(self, kv: KeyValue, lease: float = LEASE_SECONDS) -> None:
        self._kv = kv
        self._lease = lease

    async def take(self, key: str) -> Claim:
        """Claim `key` unless it was sent or another holds it."""
        for _ in range(_TRIES):
            until = time.time() + self._lease
            value = _CLAIMED + str(int(until * 1_000_000)).encode()
            try:
                return Claim(Verdict.MINE, await self._kv.create(key, value))
            except KeyWrongLastSequenceError:
                pass
            try:
                entry = await self._kv.get(key)
            except NotFoundError:
                continue  # released meanwhile: create again
            if entry.value == _SENT:
                return Claim(Verdict.SENT)
            left = _lapses_at(entry.value or b"") - time.time()
            if left > 0:
                return Claim(Verdict.HELD, lapses_in=left)
            try:  # its holder went away: take it over
                return Claim(Verdict.MINE, await self._kv.update(key, value, last=entry.revision))
            except KeyWrongLastSequenceError:
                continue
        return Claim(Verdict.HELD, lapses_in=self._lease)

    async def sent(self, key: str, claim: Claim | None = None) -> None:
        """Record that the channel took it: over our `claim`, or (unclaimed) as new."""
        if claim is not None:
            # Lost only if our claim lapsed and another took it over: it sends again.
            with contextlib.suppress(KeyWrongLastSequenceError):
                await self._kv.update(key, _SENT, last=claim.revision)
            return
        # Another delivery of the same message may have recorded it first.
        with contextlib.suppress(KeyWrongLastSequenceError):
            await self._kv.create(key, _SENT)

    async def release(self, key: str, claim: Claim) -> None:
        """Give up `claim` after a failed send, so the retry need not wait for it to lapse."""
        with contextlib.suppress(KeyWrongLastSequenceError):
            await self._kv.delete(key, last=claim.revision)


def _lapses_at(value: bytes) -> float:
    """When a stored claim lapses (seconds since 1970); 0 for anything unreadable."""
    if not value.startswith(_CLAIMED):
        return 0.0
    try:
        return int(value.removeprefix(_CLAIMED)) / 1_000_000
    except ValueError:
        return 0.0
