from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from controller.store.models import Authenticator

FILTERABLE = {
    "id": Authenticator.id, "method": Authenticator.method, "identityId": Authenticator.identity_id,
    "username": Authenticator.username, "fingerprint": Authenticator.fingerprint,
    "isIssuedByNetwork": Authenticator.is_issued_by_network, "isExtendRequested": Authenticator.is_extend_requested,
}


def get(db: Session, authenticator_id: str, *, for_update: bool = False) -> Authenticator | None:
    """With `for_update`, the row is locked (PostgreSQL) so concurrent extends and verifies serialise."""
    stmt = select(Authenticator).where(Authenticator.id == authenticator_id)
    if for_update:
        stmt = stmt.with_for_update()
    return db.scalars(stmt).one_or_none()


def of_identity_method(db: Session, identity_id: str, method: str) -> Authenticator | None:
    return db.scalars(select(Authenticator).where(Authenticator.identity_id == identity_id, Authenticator.method == method)).one_or_none()


def by_username(db: Session, username: str) -> Authenticator | None:
    return db.scalars(select(Authenticator).where(Authenticator.username == username)).one_or_none()


def by_fingerprint(db: Session, fp: str) -> Authenticator | None:
    return db.scalars(select(Authenticator).where(Authenticator.fingerprint == fp)).one_or_none()
