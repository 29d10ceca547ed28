from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.orm import Session

from controller.store.models import ApiSession, Authenticator, Identity, SimClock
from controller.store.records import RecordType, split

SIM_RECORD, SESSION_RECORD, IDENTITY_RECORD = RecordType(SimClock), RecordType(ApiSession), RecordType(Identity)

# The first read of every request: the sim row (all its columns: clock and policy), and the API session
# named by the zt-session token with its identity (none when the token is absent or unknown). Built once
# (SQLAlchemy then reuses its compiled form) and read as records, not ORM entities (controller.store.records).
_CLOCK_AND_SESSION = (
    select(*SIM_RECORD.columns, *SESSION_RECORD.columns, *IDENTITY_RECORD.columns).select_from(SimClock)
    .outerjoin(ApiSession, ApiSession.token == bindparam("token"))
    .outerjoin(Identity, Identity.id == ApiSession.identity_id)
    .where(SimClock.id == 1)
)
_SLIDE = update(ApiSession).where(ApiSession.id == bindparam("session_id")).values(
    last_activity_at=bindparam("now"), updated_at=bindparam("now"))
_DELETE = delete(ApiSession).where(ApiSession.id == bindparam("session_id"))


def clock_and_session(db: Session, token: str | None) -> tuple[Any | None, tuple[Any, Any] | None]:
    """(sim record, (session record, identity record) or None) in ONE statement; (None, None) when the sim
    row is missing (a restored database without its seed row: see controller.core.clock)."""
    row = db.connection().execute(_CLOCK_AND_SESSION, {"token": token}).first()
    if row is None:
        return None, None
    sim, session, identity = split(row, SIM_RECORD, SESSION_RECORD, IDENTITY_RECORD)
    return sim, ((session, identity) if session is not None and identity is not None else None)


def slide(db: Session, session_id: str, now: datetime) -> None:
    """Move the session's last activity (its sliding expiry) to `now`."""
    db.connection().execute(_SLIDE, {"session_id": session_id, "now": now})


def delete_by_id(db: Session, session_id: str) -> None:
    db.connection().execute(_DELETE, {"session_id": session_id})


_EXTEND_FLAGS = select(Authenticator.is_extend_requested, Authenticator.is_key_roll_requested).where(
    Authenticator.id == bindparam("authenticator_id"))


def extend_flags(db: Session, authenticator_id: str) -> tuple[bool, bool]:
    """(isExtendRequested, isKeyRollRequested) of the session's authenticator; false when it has none."""
    row = db.connection().execute(_EXTEND_FLAGS, {"authenticator_id": authenticator_id}).first()
    return (bool(row[0]), bool(row[1])) if row is not None else (False, False)


def authenticator_by_fingerprint(db: Session, fingerprint: str) -> Authenticator | None:
    return db.scalars(select(Authenticator).where(Authenticator.fingerprint == fingerprint)).one_or_none()


def updb_by_username(db: Session, username: str) -> Authenticator | None:
    return db.scalars(
        select(Authenticator).where(Authenticator.method == "updb", Authenticator.username == username)
    ).one_or_none()


def delete_for_identity(db: Session, identity_id: str) -> None:
    db.execute(delete(ApiSession).where(ApiSession.identity_id == identity_id))
