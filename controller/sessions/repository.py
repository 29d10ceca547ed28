from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from controller.store.models import ApiSession, Authenticator, Identity


def by_token(db: Session, token: str) -> tuple[ApiSession, Identity] | None:
    row = db.execute(
        select(ApiSession, Identity).join(Identity, Identity.id == ApiSession.identity_id).where(ApiSession.token == token)
    ).first()
    return (row[0], row[1]) if row else None


def authenticator_by_fingerprint(db: Session, fingerprint: str) -> Authenticator | None:
    return db.scalars(select(Authenticator).where(Authenticator.fingerprint == fingerprint)).one_or_none()


def updb_by_username(db: Session, username: str) -> Authenticator | None:
    return db.scalars(
        select(Authenticator).where(Authenticator.method == "updb", Authenticator.username == username)
    ).one_or_none()


def delete_for_identity(db: Session, identity_id: str) -> None:
    db.execute(delete(ApiSession).where(ApiSession.identity_id == identity_id))
