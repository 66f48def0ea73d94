"""The reads: figures as SQL sums, and pages in keyset order. Each runs in a worker
thread on its own connection; none reads more rows than its page (plus one)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import ColumnElement, Engine, and_, func, literal, select, tuple_

from fengqiao.domain import epoch
from fengqiao.domain.model import Colour, DisputeRecord, Notification, Route, Status
from fengqiao.domain.paging import check_page_size, decode_token, encode_token, invalid_token
from fengqiao.domain.stats import Stats
from fengqiao.platform.convert import delivery_status_from_proto
from fengqiao.platform.store import notification_from_bytes, record_from_bytes
from fengqiao.readmodel.rows import micros
from fengqiao.readmodel.schema import COUNTED, deliveries, disputes, notifications


@dataclass(frozen=True, slots=True)
class DisputeFilter:
    status: Status | None = None
    colour: Colour | None = None
    route: Route | None = None
    street: str = ""
    community: str = ""
    category: str = ""
    overdue: bool = False


@dataclass(frozen=True, slots=True)
class ColourCount:
    street: str
    community: str
    colour: Colour
    count: int


def stats(
    engine: Engine,
    *,
    street: str = "",
    community: str = "",
    since: datetime | None = None,
    until: datetime | None = None,
    now: datetime | None = None,
) -> Stats:
    """`compute_stats` over the rows: the same arguments, the same figures."""
    t = disputes.c
    where = [t.n_received == 1, *_place(street, community)]
    if since is not None:
        where.append(t.received_us >= micros(since))
    if until is not None:
        where.append(t.received_us < micros(until))
    sums = [func.coalesce(func.sum(t[f"n_{name}"]), 0) for name in COUNTED]
    if now is None:
        overdue: ColumnElement[int] = literal(0)
    else:
        overdue = func.count().filter(and_(t.n_in_progress == 1, t.deadline_us < micros(now)))
    with engine.connect() as connection:
        row = connection.execute(select(*sums, overdue).where(*where)).one()
    figures = {name: int(value) for name, value in zip(COUNTED, row, strict=False)}
    return Stats(**figures, overdue=int(row[-1]))


def dispute_page(
    engine: Engine, which: DisputeFilter, page_size: int, page_token: str, now: datetime
) -> tuple[list[DisputeRecord], str]:
    """Newest first by time received (then id); the token continues after the last one."""
    size = check_page_size(page_size)
    t = disputes.c
    where: list[ColumnElement[bool]] = []
    for column, value in (
        (t.status, which.status),
        (t.colour, which.colour),
        (t.route, which.route),
        (t.street, which.street),
        (t.community, which.community),
        (t.category, which.category),
    ):
        if value:
            where.append(column == str(value))
    if which.overdue:
        where += [t.n_in_progress == 1, t.deadline_us < micros(now)]
    if page_token:
        received, after = decode_token(page_token)
        where.append(tuple_(t.received_us, t.id) < tuple_(_int_token(received), after))
    query = (
        select(t.received_us, t.id, t.record)
        .where(*where)
        .order_by(t.received_us.desc(), t.id.desc())
        .limit(size + 1)
    )
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    page = rows[:size]
    token = encode_token((str(page[-1][0]), page[-1][1])) if len(rows) > size else ""
    return [record_from_bytes(r[2]) for r in page], token


def colour_counts(engine: Engine, street: str, community: str) -> list[ColourCount]:
    """Disputes by street, community and colour, of one place or all (`disputes_place_colour`)."""
    t = disputes.c
    where = _place(street, community)
    query = (
        select(t.street, t.community, t.colour, func.count())
        .where(*where)
        .group_by(t.street, t.community, t.colour)
        .order_by(t.street, t.community, t.colour)
    )
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    return [ColourCount(str(r[0]), str(r[1]), Colour(r[2]), int(r[3])) for r in rows]


def open_by_deadline(
    engine: Engine,
    street: str,
    community: str,
    *,
    after_us: int | None,
    before_us: int,
    limit: int,
) -> list[DisputeRecord]:
    """Open disputes whose deadline is after `after_us` (None: any) and before `before_us`,
    the earliest deadline first: the overdue list (before now) and what is due soon (now to
    now + 24 h), walking `disputes_open_deadline`."""
    t = disputes.c
    where = [t.n_in_progress == 1, t.deadline_us < before_us, *_place(street, community)]
    if after_us is not None:
        where.append(t.deadline_us >= after_us)
    query = select(t.record).where(*where).order_by(t.deadline_us, t.id).limit(limit)
    with engine.connect() as connection:
        return [record_from_bytes(r[0]) for r in connection.execute(query).all()]


def _place(street: str, community: str) -> list[ColumnElement[bool]]:
    t = disputes.c
    where: list[ColumnElement[bool]] = []
    if street:
        where.append(t.street == street)
    if community:
        where.append(t.community == community)
    return where


def received_waiting(
    engine: Engine, after: tuple[int, str] | None, until_us: int, limit: int
) -> list[tuple[int, str]]:
    """(received time, id) of disputes still `received`, received after `after` and at or
    before `until_us`, oldest first, at most `limit`: a range of index `disputes_status`."""
    t = disputes.c
    where: list[ColumnElement[bool]] = [
        t.status == str(Status.RECEIVED),
        t.received_us <= until_us,
    ]
    if after is not None:
        where.append(tuple_(t.received_us, t.id) > tuple_(after[0], after[1]))
    query = select(t.received_us, t.id).where(*where).order_by(t.received_us, t.id).limit(limit)
    with engine.connect() as connection:
        return [(int(r[0]), str(r[1])) for r in connection.execute(query).all()]


def notification_page(
    engine: Engine, dispute_id: str, recipient_id: str, page_size: int, page_token: str
) -> tuple[list[Notification], str]:
    """Oldest first by time created (then id), of one dispute, one recipient, or both."""
    size = check_page_size(page_size)
    t = notifications.c
    where: list[ColumnElement[bool]] = []
    if dispute_id:
        where.append(t.dispute_id == dispute_id)
    if recipient_id:
        where.append(t.recipient_id == recipient_id)
    if page_token:
        created, after = decode_token(page_token)
        where.append(tuple_(t.created_us, t.id) > tuple_(_int_token(created), after))
    d = deliveries.c
    query = (
        select(t.created_us, t.id, t.data, d.status, d.via, d.delivered_us)
        .select_from(notifications.outerjoin(deliveries, d.id == t.id))
        .where(*where)
        .order_by(t.created_us, t.id)
        .limit(size + 1)
    )
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    page = rows[:size]
    token = encode_token((str(page[-1][0]), page[-1][1])) if len(rows) > size else ""
    return [_delivered(notification_from_bytes(r[2]), r[3], r[4], r[5]) for r in page], token


def _delivered(
    n: Notification, status: int | None, via: str | None, at_us: int | None
) -> Notification:
    """`n` with its newest published outcome, if there is one (else as it was stored:
    notifications recorded before outcomes were published carry their own)."""
    if status is None:
        return n
    return replace(
        n,
        delivery=delivery_status_from_proto(status),
        delivered_via=tuple((via or "").split()),
        delivered_at=epoch.from_micros(at_us) if at_us is not None else None,
    )


def _int_token(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        # Tokens of the earlier in-memory listing held ISO times; they cannot continue.
        raise invalid_token() from None
