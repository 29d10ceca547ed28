"""Services: creating and deleting them, and when an identity's service set last changed."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from controller.errors import CouldNotValidate, NotFound
from controller.ids import new_id
from controller.store.db import ensure_singleton
from controller.store.models import Identity, NetworkState, Service


def _mark_services_changed(db: Session, now: datetime) -> None:
    # One statement each, so concurrent creations and deletions (any replica) neither collide on the
    # row's insert after a reset nor write from a stale copy.
    ensure_singleton(db, NetworkState)
    db.execute(update(NetworkState).where(NetworkState.id == 1).values(services_changed_at=now)
               .execution_options(synchronize_session="fetch"))


def create(db: Session, *, name: str, encryption_required: bool, role_attributes: list[str], tags: dict[str, Any],
           now: datetime) -> Service:
    service = Service(id=new_id(), name=name, encryption_required=encryption_required, role_attributes=role_attributes,
                      tags=tags, created_at=now, updated_at=now)
    db.add(service)
    try:
        db.flush()
    except IntegrityError:
        raise CouldNotValidate.for_field("name", "name is must be unique", name) from None
    _mark_services_changed(db, now)
    return service


def get(db: Session, service_id: str) -> Service:
    service = db.get(Service, service_id)
    if service is None:
        raise NotFound.for_id(service_id)
    return service


def delete(db: Session, service: Service, *, now: datetime) -> None:
    db.delete(service)
    _mark_services_changed(db, now)


def last_change_at(db: Session, identity: Identity) -> datetime:
    """What `current-api-session/service-updates` reports: it stands still while nothing changes (SDKs
    refetch the service list only when it moves) and moves on every service creation and deletion. For an
    identity created after the last change, its own creation is when its service set began."""
    state = db.get(NetworkState, 1)
    changed = state.services_changed_at if state is not None else None
    return max(changed, identity.created_at) if changed is not None else identity.created_at
