"""The retention job (`fengqiao retention`): anonymise disputes closed longer ago than the
retention period, everywhere fengqiao keeps a copy of them.

Run by the operator (a daily CronJob in deploy/k8s). For each dispute that is due, in an
order that a crash at any point leaves safe to run again:

1. its notifications are rewritten without the parties' names, numbers and addresses, and
   its dead letters are purged;
2. its messages on the DISPUTES stream (the submission, events, timers) are purged;
3. it is taken out of the same-party counts, whose keys are digests of phone numbers;
4. the record itself is rewritten (compare-and-set) with a timeline entry saying so;
5. the record's older revisions, which still hold the parties' details, are purged.

Step 5 is also repeated for records anonymised in the last `FINISH_WITHIN` that still have
older revisions, so a run stopped between 4 and 5 is finished by a run in the days after.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

import nats.errors
import structlog

from fengqiao.domain.anonymise import (
    Scrubber,
    anonymise_notification,
    anonymise_record,
    anonymised_at,
    is_anonymised,
    is_due,
)
from fengqiao.domain.errors import FengqiaoError
from fengqiao.domain.model import DisputeRecord, Notification
from fengqiao.platform import repeats
from fengqiao.platform.bus import (
    DLQ_STREAM,
    KV_DISPUTES,
    KV_NOTIFICATIONS,
    STREAM,
    Bus,
    dead_letters_of,
    dispute_subjects,
    kv_stream,
    kv_subject,
    kv_values,
)
from fengqiao.platform.cas import Outcome, compare_and_set
from fengqiao.platform.codec import encode
from fengqiao.platform.convert import notification_to_proto
from fengqiao.platform.store import DisputeStore, notification_from_bytes, record_from_bytes

log = structlog.get_logger()

# Below this, a follow-up visit (回访) or a late appeal could still need the parties.
MIN_RETENTION_DAYS: Final = 30
DEFAULT_RETENTION_DAYS: Final = 365
# How long after anonymising a record a later run still checks its old revisions are gone.
FINISH_WITHIN: Final = timedelta(days=30)


@dataclass(slots=True)
class RetentionReport:
    examined: int = 0
    anonymised: list[str] = field(default_factory=list)
    # Anonymised earlier; their leftover old revisions were purged in this run.
    finished: list[str] = field(default_factory=list)
    # Could not be anonymised this time (each logged); the next run tries again.
    failed: list[str] = field(default_factory=list)


async def apply_retention(
    bus: Bus, now: datetime, keep: timedelta, *, dry_run: bool = False
) -> RetentionReport:
    """Anonymise every dispute closed more than `keep` before `now`."""
    report = RetentionReport()
    records = [record_from_bytes(v) for v in await kv_values(bus.js, KV_DISPUTES)]
    report.examined = len(records)
    days = keep.days
    store = DisputeStore(bus)
    for record in sorted(records, key=lambda r: r.id):
        if not is_due(record, now, keep):
            continue
        if dry_run:
            report.anonymised.append(record.id)
            continue
        try:
            await _anonymise(bus, store, record, now, days)
        except (nats.errors.Error, FengqiaoError, TimeoutError) as exc:
            # One dispute that cannot be done must not hold back all the others.
            log.error("dispute_anonymise_failed", dispute_id=record.id, error=repr(exc))
            report.failed.append(record.id)
            continue
        report.anonymised.append(record.id)
        log.info("dispute_anonymised", dispute_id=record.id, closed_at=str(record.closed_at))
    if not dry_run:
        for record in records:
            marked = anonymised_at(record)
            recent = marked is not None and now - marked <= FINISH_WITHIN
            if recent and await _revisions(bus, record.id) > 1:
                await _purge_old_revisions(bus, record.id)
                report.finished.append(record.id)
    log.info(
        "retention_finished",
        examined=report.examined,
        anonymised=len(report.anonymised),
        finished=len(report.finished),
        failed=len(report.failed),
        keep_days=days,
        dry_run=dry_run,
    )
    return report


async def _anonymise(
    bus: Bus, store: DisputeStore, record: DisputeRecord, now: datetime, days: int
) -> None:
    scrub = Scrubber.of(record.dispute)
    await _anonymise_notifications(bus, record.id, scrub)
    await bus.js.purge_stream(DLQ_STREAM, subject=dead_letters_of(record.id))
    for subject in dispute_subjects(record.id):
        await bus.js.purge_stream(STREAM, subject=subject)
    await repeats.forget(bus.repeats, record)
    note = f"结案已满{days}天，当事人个人信息已按保存期限脱敏"

    def change(current: DisputeRecord) -> DisputeRecord | None:
        if is_anonymised(current):
            return None
        # The record read now, not the one listed: scrub what it holds at this revision.
        return anonymise_record(current, now, Scrubber.of(current.dispute), note=note)

    await store.update(record.id, change)
    await _purge_old_revisions(bus, record.id)


async def _anonymise_notifications(bus: Bus, dispute_id: str, scrub: Scrubber) -> None:
    def decide(current: Notification | None) -> Outcome[None]:
        if current is None or (clean := anonymise_notification(current, scrub)) == current:
            return Outcome(None)
        return Outcome(None, encode(notification_to_proto(clean)))

    for value in await kv_values(bus.js, KV_NOTIFICATIONS, f"{dispute_id}.>"):
        key = notification_from_bytes(value).id
        await compare_and_set(bus.notifications, key, notification_from_bytes, decide)


async def _purge_old_revisions(bus: Bus, dispute_id: str) -> None:
    await bus.js.purge_stream(
        kv_stream(KV_DISPUTES), subject=kv_subject(KV_DISPUTES, dispute_id), keep=1
    )


async def _revisions(bus: Bus, dispute_id: str) -> int:
    """How many revisions the bucket holds for one dispute."""
    subject = kv_subject(KV_DISPUTES, dispute_id)
    info = await bus.js.stream_info(kv_stream(KV_DISPUTES), subjects_filter=subject)
    return (info.state.subjects or {}).get(subject, 0)
