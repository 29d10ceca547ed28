from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from controller.store.models import Enrollment

FILTERABLE = {"id": Enrollment.id, "method": Enrollment.method, "identityId": Enrollment.identity_id, "token": Enrollment.token}


def by_token_for_update(db: Session, token: str) -> Enrollment | None:
    """Locked on PostgreSQL so that two concurrent uses of one token cannot both succeed."""
    return db.scalars(select(Enrollment).where(Enrollment.token == token).with_for_update()).one_or_none()


def for_identity_method(db: Session, identity_id: str, method: str) -> Enrollment | None:
    return db.scalars(select(Enrollment).where(Enrollment.identity_id == identity_id, Enrollment.method == method)).one_or_none()
