from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from controller.store.models import Enrollment
from controller.zitiql.symbols import entity_symbols

# The real enrollment store's symbols: enrollments carry no tags.
FILTERABLE = entity_symbols(
    Enrollment, method=Enrollment.method, identity=Enrollment.identity_id, edgeRouter=Enrollment.edge_router_id,
    token=Enrollment.token, expiresAt=Enrollment.expires_at, username=Enrollment.username,
)


def by_token_for_update(db: Session, token: str) -> Enrollment | None:
    """Locked on PostgreSQL so that two concurrent uses of one token cannot both succeed."""
    return db.scalars(select(Enrollment).where(Enrollment.token == token).with_for_update()).one_or_none()


def for_identity_method(db: Session, identity_id: str, method: str) -> Enrollment | None:
    return db.scalars(select(Enrollment).where(Enrollment.identity_id == identity_id, Enrollment.method == method)).one_or_none()
