from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from controller.store.models import ApiSession, Authenticator, Identity, SimClock


def clock_and_session(db: Session, token: str) -> tuple[SimClock | None, tuple[ApiSession, Identity] | None]:
    """The sim row (clock and policy) and the session behind `token` with its identity, in ONE statement: the
    first read of every authenticated request."""
    row = db.execute(
        select(SimClock, ApiSession, Identity).select_from(SimClock)
        .outerjoin(ApiSession, ApiSession.token == token)
        .outerjoin(Identity, Identity.id == ApiSession.identity_id)
        .where(SimClock.id == 1)
    ).first()
    if row is None:
        return None, None
    sim, session, identity = row
    return sim, ((session, identity) if session is not None and identity is not None else None)


def authenticator_by_fingerprint(db: Session, fingerprint: str) -> Authenticator | None:
    return db.scalars(select(Authenticator).where(Authenticator.fingerprint == fingerprint)).one_or_none()


def updb_by_username(db: Session, username: str) -> Authenticator | None:
    return db.scalars(
        select(Authenticator).where(Authenticator.method == "updb", Authenticator.username == username)
    ).one_or_none()


def delete_for_identity(db: Session, identity_id: str) -> None:
    db.execute(delete(ApiSession).where(ApiSession.identity_id == identity_id))
