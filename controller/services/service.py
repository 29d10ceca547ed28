"""Services: CRUD with configs and role attributes, who sees which service with which permissions (from
service-policies, resolved at request time), the `config` map, and when an identity's service set last
changed."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy import update as sql_update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from controller.api.listing import Page, paginate
from controller.api.render import base_entity
from controller.configs import service as configs
from controller.errors import CouldNotValidate, NotFound
from controller.ids import new_id
from controller.policies import roles
from controller.store.db import ensure_singleton
from controller.store.models import Identity, NetworkState, Service, ServiceSession
from controller.zitiql.symbols import entity_symbols, set_of

# The real service store's public symbols (management-model.md 1.8).
FILTERABLE = entity_symbols(
    Service, name=Service.name, terminatorStrategy=Service.terminator_strategy,
    roleAttributes=set_of(Service.role_attributes), configs=set_of(Service.configs),
)
_UPDATABLE = ("name", "encryption_required", "role_attributes", "configs", "terminator_strategy", "max_idle_time_millis", "tags")


def mark_changed(db: Session, now: datetime) -> None:
    """`service-updates` moves on. One statement each, so concurrent changes (any replica) neither collide on
    the row's insert after a reset nor write from a stale copy."""
    ensure_singleton(db, NetworkState)
    db.execute(sql_update(NetworkState).where(NetworkState.id == 1).values(services_changed_at=now)
               .execution_options(synchronize_session="fetch"))


def _check_name_free(db: Session, name: str, own_id: str | None = None) -> None:
    existing = db.scalars(select(Service).where(Service.name == name)).one_or_none()
    if existing is not None and existing.id != own_id:
        raise CouldNotValidate.for_field("name", f"duplicate value '{name}' in unique index on services store", name)


def _apply(db: Session, service: Service, fields: dict[str, Any]) -> None:
    for key in _UPDATABLE:
        if key not in fields:
            continue
        value = fields[key]
        if key == "name":
            if value is None:
                continue
            _check_name_free(db, value, service.id)
        elif key == "role_attributes":
            value = roles.validate_role_attributes("roleAttributes", value)
        elif key == "configs":
            value = configs.validate_service_configs(db, value)
        elif key == "tags":
            value = value or {}
        elif key == "terminator_strategy":
            value = value or "smartrouting"
        elif key in ("max_idle_time_millis",):
            value = value or 0
        elif key == "encryption_required" and value is None:
            continue
        setattr(service, key, value)


def create(db: Session, fields: dict[str, Any], *, now: datetime) -> Service:
    service = Service(id=new_id(), name=fields["name"], encryption_required=True, role_attributes=[], configs=[], tags={},
                      terminator_strategy="smartrouting", max_idle_time_millis=0, created_at=now, updated_at=now)
    _apply(db, service, fields)
    db.add(service)
    try:
        db.flush()
    except IntegrityError:
        raise CouldNotValidate.for_field("name", f"duplicate value '{service.name}' in unique index on services store", service.name) from None
    mark_changed(db, now)
    return service


def update(db: Session, service: Service, fields: dict[str, Any], *, now: datetime) -> None:
    _apply(db, service, fields)
    service.updated_at = now
    mark_changed(db, now)


def get(db: Session, service_id: str) -> Service:
    service = db.get(Service, service_id)
    if service is None:
        raise NotFound.for_id(service_id)
    return service


def delete(db: Session, service: Service, *, now: datetime) -> None:
    roles.remove_references(db, "services", service.id)
    db.execute(ServiceSession.__table__.delete().where(ServiceSession.service_id == service.id))
    db.delete(service)
    mark_changed(db, now)


def identity_by_id_or_name(db: Session, value: str) -> Identity:
    identity = db.scalars(select(Identity).where(or_(Identity.id == value, Identity.name == value))).first()
    if identity is None:
        raise NotFound.for_id(value)
    return identity


def visible_page(db: Session, identity: Identity, page: Page) -> tuple[list[Service], int, dict[str, set[str]]]:
    """The services an identity sees (admins: all; others: those a service-policy grants) and its permissions.
    A `roleFilter` on the page narrows them (controller.api.listing)."""
    permissions = roles.permissions_by_service(db, identity)
    stmt = select(Service)
    if not identity.is_admin:
        stmt = stmt.where(Service.id.in_(sorted(permissions)))
    rows, total = paginate(db, stmt, page, FILTERABLE, Service.name)
    return rows, total, permissions


def get_visible(db: Session, identity: Identity, service_id: str) -> tuple[Service, set[str]]:
    service = db.get(Service, service_id)
    if service is None:
        raise NotFound.for_id(service_id)
    granted = set()
    for policy_type in (roles.DIAL, roles.BIND):
        if roles.granting_policies(db, identity, service, policy_type):
            granted.add(roles.TYPE_NAMES[policy_type])
    if not granted and not identity.is_admin:
        raise NotFound.for_id(service_id)
    return service, granted


def list_page(db: Session, page: Page, stmt: Any = None) -> tuple[list[Service], int]:
    return paginate(db, stmt if stmt is not None else select(Service), page, FILTERABLE, Service.name)


def _permission_list(granted: set[str]) -> list[str]:
    return [p for p in ("Dial", "Bind") if p in granted] or ["Invalid"]


def _posture_queries(granted: set[str]) -> list[dict[str, Any]]:
    """No posture checks are simulated: one passing dummy entry per permission, as the real controller gives."""
    return [{"policyId": f"dummy {p.lower()} policy: no posture checks defined", "policyType": p, "isPassing": True,
             "postureQueries": []} for p in ("Dial", "Bind") if p in granted]


def to_wire_many(db: Session, services: list[Service], *, permissions: dict[str, set[str]] | None = None,
                 config_types: list[str] | None = None, with_config: bool = True) -> list[dict[str, Any]]:
    """`permissions` None: the entry is built without permissions (identity sub-lists, as the real one)."""
    config = configs.config_map(db, services, config_types or [])
    result = []
    for row in services:
        data = {
            **base_entity(row, "services", configs=f"./services/{row.id}/configs",
                          **{"service-edge-router-policies": f"./services/{row.id}/service-edge-router-policies",
                             "service-policies": f"./services/{row.id}/service-policies",
                             "terminators": f"./services/{row.id}/terminators"}),
            "name": row.name,
            "encryptionRequired": row.encryption_required,
            "roleAttributes": list(row.role_attributes or []),
            "terminatorStrategy": row.terminator_strategy or "smartrouting",
            "maxIdleTimeMillis": row.max_idle_time_millis or 0,
            "configs": list(row.configs or []),
        }
        if with_config:
            data["config"] = config[row.id]
        if permissions is not None:
            granted = permissions.get(row.id, set())
            data["permissions"] = _permission_list(granted)
            data["postureQueries"] = _posture_queries(granted)
        result.append(data)
    return result


def last_change_at(db: Session, identity: Identity) -> datetime:
    """What `current-api-session/service-updates` reports: it stands still while nothing changes (SDKs
    refetch the service list only when it moves) and moves on every service creation, update and deletion.
    For an identity created after the last change, its own creation is when its service set began."""
    state = db.get(NetworkState, 1)
    changed = state.services_changed_at if state is not None else None
    return max(changed, identity.created_at) if changed is not None else identity.created_at
