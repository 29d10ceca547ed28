"""SQL for third-party CAs."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from controller.store.models import Ca

FILTERABLE = {
    "id": Ca.id, "name": Ca.name, "fingerprint": Ca.fingerprint, "isVerified": Ca.is_verified,
    "isAuthEnabled": Ca.is_auth_enabled, "isAutoCaEnrollmentEnabled": Ca.is_auto_ca_enrollment_enabled,
    "isOttCaEnrollmentEnabled": Ca.is_ott_ca_enrollment_enabled, "identityNameFormat": Ca.identity_name_format,
}


def get(db: Session, ca_id: str, *, for_update: bool = False) -> Ca | None:
    if for_update:
        return db.scalars(select(Ca).where(Ca.id == ca_id).with_for_update()).one_or_none()
    return db.get(Ca, ca_id)


def by_fingerprint(db: Session, fp: str) -> Ca | None:
    return db.scalars(select(Ca).where(Ca.fingerprint == fp)).one_or_none()


def by_name(db: Session, name: str) -> Ca | None:
    return db.scalars(select(Ca).where(Ca.name == name)).one_or_none()


def auth_enabled(db: Session) -> list[Ca]:
    """The third-party pool for login: verified CAs with authentication enabled, read on every login so that
    a change made through any replica applies at once."""
    return list(db.scalars(select(Ca).where(Ca.is_auth_enabled.is_(True), Ca.is_verified.is_(True)).order_by(Ca.created_at)))


def all_cas(db: Session) -> list[Ca]:
    return list(db.scalars(select(Ca).order_by(Ca.created_at)))
