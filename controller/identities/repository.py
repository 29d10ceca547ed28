from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from controller.store.models import Authenticator, Enrollment, Identity
from controller.zitiql.symbols import entity_symbols, set_of

# The real identity store's public symbols (management-model.md 1.8).
FILTERABLE = entity_symbols(
    Identity, name=Identity.name, externalId=Identity.external_id, type=Identity.type_id,
    authPolicyId=Identity.auth_policy_id, isAdmin=Identity.is_admin, isDefaultAdmin=Identity.is_default_admin,
    roleAttributes=set_of(Identity.role_attributes),
)


def get(db: Session, identity_id: str) -> Identity | None:
    return db.get(Identity, identity_id)


def by_name(db: Session, name: str) -> Identity | None:
    return db.scalars(select(Identity).where(Identity.name == name)).one_or_none()


def default_admin(db: Session) -> Identity | None:
    return db.scalars(select(Identity).where(Identity.is_default_admin.is_(True))).first()


def authenticators_of(db: Session, identity_ids: list[str]) -> dict[str, list[Authenticator]]:
    result: dict[str, list[Authenticator]] = {i: [] for i in identity_ids}
    for row in db.scalars(select(Authenticator).where(Authenticator.identity_id.in_(identity_ids))):
        result[row.identity_id].append(row)
    return result


def enrollments_of(db: Session, identity_ids: list[str]) -> dict[str, list[Enrollment]]:
    result: dict[str, list[Enrollment]] = {i: [] for i in identity_ids}
    for row in db.scalars(select(Enrollment).where(Enrollment.identity_id.in_(identity_ids))):
        result[row.identity_id].append(row)
    return result
