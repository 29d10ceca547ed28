"""The event journal: enrollments, logins, extensions, verifications, request-extend and re-enroll, each
with time (simulated), identity, authenticator, fingerprints and outcome; and every injected fault that fired
(kind "fault"). Tests list it or wait on it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session, sessionmaker

from controller.errors import ApiError
from controller.core import clock
from controller.store.db import reading
from controller.store.models import SimEvent

OBSERVERS = "journal_observers"  # key in a session's info: callables(kind, outcome, error_code), e.g. metrics


# A plain INSERT in the caller's transaction, not an ORM add: the unit of work (flush bookkeeping for one
# row nobody reads back) cost more CPU than the statement on the extend path. Events have no foreign keys,
# so inserting before the ORM flushes the request's other changes is safe; `seq` follows the call order.
_INSERT_EVENT = insert(SimEvent)


def record(
    db: Session, *, kind: str, at: datetime, outcome: str = "success", identity_id: str | None = None,
    authenticator_id: str | None = None, old_fingerprint: str | None = None, new_fingerprint: str | None = None,
    error_code: str | None = None, detail: dict[str, Any] | None = None,
) -> None:
    db.connection().execute(_INSERT_EVENT, {
        "kind": kind, "at": at, "outcome": outcome, "identity_id": identity_id, "authenticator_id": authenticator_id,
        "old_fingerprint": old_fingerprint, "new_fingerprint": new_fingerprint, "error_code": error_code,
        "detail": detail or {},
    })
    for observe in db.info.get(OBSERVERS, ()):
        observe(kind, outcome, error_code)


def record_fault(
    db: Session, *, rule_id: str, method: str, path: str, identity_id: str | None, status: int | None,
    code: str | None, delay_ms: int, drop_connection: bool,
) -> None:
    """A fault rule fired on a request: kind "fault", outcome "injected", in the transaction that counted it."""
    effects = [*(["delay"] if delay_ms else []), "drop" if drop_connection else ("status" if status else "pass")]
    record(
        db, kind="fault", at=clock.now(db), outcome="injected", identity_id=identity_id,
        error_code=(code or "SIMULATED_FAULT") if status and not drop_connection else None,
        detail={"ruleId": rule_id, "method": method, "path": path[:1024], "action": "+".join(effects),
                "status": None if drop_connection else status, "delayMs": delay_ms, "dropConnection": drop_connection},
    )


@dataclass
class Operation:
    """What is known about an operation so far; a failure is journaled with whatever was filled in."""

    kind: str
    identity_id: str | None = None
    authenticator_id: str | None = None
    old_fingerprint: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


@contextmanager
def failures_recorded(sessions: sessionmaker[Session], db: Session, kind: str, **known: Any) -> Iterator[Operation]:
    """Journal a failed operation in its own transaction: the request's transaction is rolled back."""
    op = Operation(kind=kind, **known)
    try:
        yield op
    except ApiError as error:
        # The request fails, so its transaction is rolled back anyway; do it first, so that it releases
        # SQLite's write lock before the failure is written through another connection.
        db.rollback()
        with sessions.begin() as own:
            record(
                own, kind=kind, at=clock.now(own), outcome="failure", identity_id=op.identity_id,
                authenticator_id=op.authenticator_id, old_fingerprint=op.old_fingerprint, error_code=error.code,
                detail={**op.detail, "status": error.status, "message": error.message},
            )
        raise




def query(
    db: Session, *, kind: str | None = None, identity_id: str | None = None, outcome: str | None = None,
    after_seq: int = 0, limit: int = 500,
) -> list[SimEvent]:
    stmt = select(SimEvent).where(SimEvent.seq > after_seq)
    if kind:
        stmt = stmt.where(SimEvent.kind == kind)
    if identity_id:
        stmt = stmt.where(SimEvent.identity_id == identity_id)
    if outcome:
        stmt = stmt.where(SimEvent.outcome == outcome)
    return list(db.scalars(stmt.order_by(SimEvent.seq).limit(limit)))


def wait_for(sessions: sessionmaker[Session], *, timeout: float, poll: float = 0.02, **filters: Any) -> list[SimEvent]:
    """Long-poll: return as soon as at least one event matches (polling the database, so an event recorded
    by any replica counts), or an empty list after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        with reading(sessions) as db:
            events = query(db, **filters)
        if events or time.monotonic() >= deadline:
            return events
        time.sleep(poll)
