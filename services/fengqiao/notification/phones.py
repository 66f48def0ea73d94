"""Parties' phone numbers for SMS, read from the dispute when sending (no notification
carries one). The parties of a dispute are told together, each notification a message
of its own, so the numbers read for one are kept for the others for a few seconds, and
a read under way is shared rather than repeated."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from typing import Final

from fengqiao.platform.store import DisputeStore

# A closed-loop bench told 2.6 parties a dispute: 2.6 reads of the whole record before.
KEEP_SECONDS: Final = 5.0
KEPT: Final = 1024


class PartyPhones:
    def __init__(
        self, disputes: DisputeStore, keep_seconds: float = KEEP_SECONDS, kept: int = KEPT
    ) -> None:
        self._disputes = disputes
        self._keep_seconds = keep_seconds
        self._kept_at_most = kept
        self._kept: OrderedDict[str, tuple[float, asyncio.Future[tuple[str, ...]]]] = OrderedDict()

    async def phone(self, dispute_id: str, index: int) -> str:
        """The number of party `index` of the dispute, "" if it has none (or no such
        party, or no such dispute)."""
        phones = await self._phones(dispute_id)
        return phones[index] if index < len(phones) else ""

    async def _phones(self, dispute_id: str) -> tuple[str, ...]:
        now = time.monotonic()
        kept = self._kept.get(dispute_id)
        if kept is None or now - kept[0] >= self._keep_seconds:
            kept = (now, asyncio.ensure_future(self._read(dispute_id)))
            self._kept[dispute_id] = kept
            self._kept.move_to_end(dispute_id)
            while len(self._kept) > self._kept_at_most:
                self._kept.popitem(last=False)
        try:
            # Shielded: one waiter given up on must not cancel the read for the others.
            return await asyncio.shield(kept[1])
        except Exception:
            if self._kept.get(dispute_id) is kept:
                del self._kept[dispute_id]  # a failed read is tried again by the next
            raise

    async def _read(self, dispute_id: str) -> tuple[str, ...]:
        # Only the numbers are wanted: read the message, not the whole domain record.
        record = await self._disputes.get_message(dispute_id)
        if record is None:
            return ()
        return tuple(p.phone for p in record.dispute.parties)
