"""The one compare-and-set loop over a key of a KV bucket.

Every change to a stored value (a dispute's record, a notification, a repeat count) is
made the same way: read the value and its revision, decide what it becomes, write it on
condition that the revision is still the one read. A write that lost to another process
is not an error: the loop reads the newer value and decides again, up to `MAX_CONFLICTS`
times in a row (then `WriteConflicts`: something keeps writing the key, retrying later
can help).

`decide` is given the current value (None for a key that does not exist) and returns an
`Outcome`: the result to hand back and what to write, if anything: bytes (created when
the key is missing, updated on its revision otherwise) or `DELETE`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Generic, TypeVar

import structlog
from nats.js.errors import KeyDeletedError, KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from fengqiao.domain.errors import WriteConflicts

log = structlog.get_logger()

MAX_CONFLICTS: Final = 50
V = TypeVar("V")
R = TypeVar("R")


class _Delete:
    def __repr__(self) -> str:
        return "DELETE"


DELETE: Final = _Delete()


@dataclass(frozen=True, slots=True)
class Outcome(Generic[R]):
    result: R
    write: bytes | _Delete | None = None  # None: leave the key as it is


@dataclass(frozen=True, slots=True)
class Written(Generic[R]):
    result: R
    revision: int | None  # the key's revision after the write; None if nothing was written


async def read_entry(kv: KeyValue, key: str) -> tuple[bytes, int] | None:
    """The key's value and revision; None if it does not exist or was deleted."""
    try:
        entry = await kv.get(key)
    except (KeyNotFoundError, KeyDeletedError):
        return None
    if entry.value is None or entry.revision is None:
        return None
    return entry.value, entry.revision


async def compare_and_set(
    kv: KeyValue,
    key: str,
    read: Callable[[bytes], V],
    decide: Callable[[V | None], Outcome[R]],
    known: tuple[V, int] | None = None,
) -> Written[R]:
    """Change `key` by `decide` until a write holds (module docstring). `read` turns the
    stored bytes into what `decide` takes; `known` is a value and revision the caller
    has just read, used for the first try instead of reading again."""
    for _ in range(MAX_CONFLICTS):
        if known is not None:
            (current, revision), known = known, None
        elif (found := await read_entry(kv, key)) is not None:
            current, revision = read(found[0]), found[1]
        else:
            current, revision = None, None
        outcome = decide(current)
        write = outcome.write
        try:
            if write is None:
                return Written(outcome.result, None)
            if isinstance(write, _Delete):
                if revision is not None:
                    await kv.delete(key, last=revision)
                return Written(outcome.result, None)
            if revision is None:
                written = await kv.create(key, write)
            else:
                written = await kv.update(key, write, last=revision)
        except KeyWrongLastSequenceError:
            log.debug("kv_write_conflicted", key=key, revision=revision)
            continue
        return Written(outcome.result, written)
    raise WriteConflicts(
        f"{key}: {MAX_CONFLICTS} write conflicts in a row; retry shortly "
        "（写入冲突过多，请稍后重试）"
    )
