"""The one clock every time-dependent decision reads.

It lives in the database (table sim_clock, one row) so that every replica sees the same time:
now = frozen_at when frozen, else wall clock + offset. Nothing else in the controller reads the wall clock
for a decision (the TLS server certificate's validity is the one exception: real clients judge it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import select
from sqlalchemy.orm import Session

from controller.store.db import ensure_singleton
from controller.store.models import SimClock


def wall_clock() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class ClockState:
    now: datetime
    offset: timedelta
    frozen: bool


def _row(db: Session) -> SimClock:
    row = db.scalars(select(SimClock).where(SimClock.id == 1)).one_or_none()
    return row if row is not None else lock(db)


def lock(db: Session) -> SimClock:
    """The sim row (clock and policy), locked for this transaction and re-read, for a read-modify-write.

    Lock order: this shared row is taken before any row this transaction changed is written, so nothing
    already dirty in the session (e.g. the API session's sliding expiry) is flushed first; that write
    follows at commit. `populate_existing` replaces the copy read earlier in the transaction (the
    request reads the row first thing) with the row as it stands once the lock is held: without it the
    update would be computed from a stale value and another replica's change lost.
    """
    held = db.identity_map.get(db.identity_key(SimClock, 1))  # type: ignore[arg-type]
    if held is not None and db.is_modified(held):
        return held  # changed in this transaction, so locked by an earlier call: keep those changes
    stmt = select(SimClock).where(SimClock.id == 1).with_for_update().execution_options(populate_existing=True)
    with db.no_autoflush:
        row = db.scalars(stmt).one_or_none()
        if row is None:  # a database restored from elsewhere without the seed row
            ensure_singleton(db, SimClock, offset_us=0)
            row = db.scalars(stmt).one()
    return row


def _state(row: SimClock) -> ClockState:
    offset = timedelta(microseconds=row.offset_us)
    if row.frozen_at is not None:
        return ClockState(now=row.frozen_at, offset=row.frozen_at - wall_clock(), frozen=True)
    return ClockState(now=wall_clock() + offset, offset=offset, frozen=False)


def row(db: Session) -> SimClock:
    """The sim row (clock and policy overrides), read once per request by the API layer."""
    return _row(db)


def now_of(row: SimClock) -> datetime:
    return _state(row).now


def now(db: Session) -> datetime:
    return _state(_row(db)).now


def state(db: Session) -> ClockState:
    return _state(_row(db))


def set_time(db: Session, when: datetime) -> ClockState:
    row = lock(db)
    if row.frozen_at is not None:
        row.frozen_at = when
    else:
        row.offset_us = _micros(when - wall_clock())
    return _state(row)


def advance(db: Session, by: timedelta) -> ClockState:
    row = lock(db)
    if row.frozen_at is not None:
        row.frozen_at = row.frozen_at + by
    else:
        row.offset_us += _micros(by)
    return _state(row)


def freeze(db: Session) -> ClockState:
    row = lock(db)
    if row.frozen_at is None:
        row.frozen_at = wall_clock() + timedelta(microseconds=row.offset_us)
    return _state(row)


def unfreeze(db: Session) -> ClockState:
    """Let time run again from where it stood: the offset becomes the frozen moment minus the wall clock."""
    row = lock(db)
    if row.frozen_at is not None:
        row.offset_us = _micros(row.frozen_at - wall_clock())
        row.frozen_at = None
    return _state(row)


def reset(db: Session) -> ClockState:
    return reset_row(lock(db))


def reset_row(row: SimClock) -> ClockState:
    """Back to the wall clock, running, on a sim row this transaction already holds locked."""
    row.offset_us, row.frozen_at = 0, None
    return _state(row)


def _micros(delta: timedelta) -> int:
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds
