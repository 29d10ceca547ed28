from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, event, insert, select, update
from sqlalchemy.orm import Session

from controller.authenticators.repository import RECORD as AUTHENTICATOR_RECORD
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


_PENDING_SLIDE = "ziti_pending_slide"  # key in a Session's info


def slide(db: Session, session_id: str, now: datetime) -> None:
    """Move the session's last activity (its sliding expiry) to `now`, written when the transaction commits
    (a later call in the same transaction wins). At commit, not now: the lock order of controller.core.clock.lock
    takes the sim row before anything else the transaction writes; a session row locked here first could
    deadlock with a request of the same session that holds the sim row and then slides it."""
    db.info[_PENDING_SLIDE] = (session_id, now)


@event.listens_for(Session, "before_commit")
def _write_pending_slide(db: Session) -> None:
    pending = db.info.pop(_PENDING_SLIDE, None)
    if pending is not None:
        db.connection().execute(_SLIDE, {"session_id": pending[0], "now": pending[1]})


@event.listens_for(Session, "after_soft_rollback")
def _drop_pending_slide(db: Session, _previous_transaction: object) -> None:
    db.info.pop(_PENDING_SLIDE, None)


def delete_by_id(db: Session, session_id: str) -> None:
    db.connection().execute(_DELETE, {"session_id": session_id})


_EXTEND_FLAGS = select(Authenticator.is_extend_requested, Authenticator.is_key_roll_requested).where(
    Authenticator.id == bindparam("authenticator_id"))


def extend_flags(db: Session, authenticator_id: str) -> tuple[bool, bool]:
    """(isExtendRequested, isKeyRollRequested) of the session's authenticator; false when it has none."""
    row = db.connection().execute(_EXTEND_FLAGS, {"authenticator_id": authenticator_id}).first()
    return (bool(row[0]), bool(row[1])) if row is not None else (False, False)


# Cert login: the authenticator of the leaf's fingerprint with its identity, the new API session, and what
# the login learns about the authenticator; as records and plain statements (see controller.store.records).
_CERT_LOGIN = (
    select(*AUTHENTICATOR_RECORD.columns, *IDENTITY_RECORD.columns).select_from(Authenticator)
    .outerjoin(Identity, Identity.id == Authenticator.identity_id)
    .where(Authenticator.fingerprint == bindparam("fingerprint"))
)
_INSERT_SESSION = insert(ApiSession)
_LOGIN_FACTS = update(Authenticator).where(Authenticator.id == bindparam("authenticator_id")).values(
    last_auth_resolved_to_root=bindparam("resolved_to_root"), public_key_print=bindparam("key_print"))


def cert_login_by_fingerprint(db: Session, fingerprint: str) -> tuple[Any | None, Any | None]:
    """(authenticator record, identity record) of a certificate fingerprint, each None when missing."""
    row = db.connection().execute(_CERT_LOGIN, {"fingerprint": fingerprint}).first()
    if row is None:
        return None, None
    authenticator, identity = split(row, AUTHENTICATOR_RECORD, IDENTITY_RECORD)
    return authenticator, identity


def record_login_facts(db: Session, authenticator_id: str, *, resolved_to_root: bool, key_print: str | None) -> None:
    db.connection().execute(_LOGIN_FACTS, {"authenticator_id": authenticator_id, "resolved_to_root": resolved_to_root,
                                           "key_print": key_print})


def insert_session(db: Session, **values: Any) -> Any:
    """Insert an API session (every column given) and return it as a record."""
    db.connection().execute(_INSERT_SESSION, values)
    return SESSION_RECORD.make(values[name] for name in SESSION_RECORD.fields)


def update_identity_info(db: Session, identity_id: str, **infos: dict[str, Any]) -> None:
    """The sdkInfo / envInfo a login reported (`sdk_info=`, `env_info=`)."""
    db.connection().execute(update(Identity).where(Identity.id == identity_id).values(**infos))


def updb_by_username(db: Session, username: str) -> Authenticator | None:
    return db.scalars(
        select(Authenticator).where(Authenticator.method == "updb", Authenticator.username == username)
    ).one_or_none()


def delete_for_identity(db: Session, identity_id: str) -> None:
    db.execute(delete(ApiSession).where(ApiSession.identity_id == identity_id))
