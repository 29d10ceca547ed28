"""Identities: the default admin, CRUD, and their wire detail."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from controller.api.listing import Page, paginate
from controller.api.render import base_entity, entity_ref
from controller.enrollments import service as enrollments
from controller.errors import CanNotDeleteReferencedEntity, CouldNotValidate, NotFound
from controller.identities import repository
from controller.identities.schemas import IdentityCreate, IdentityPatch, IdentityUpdate
from controller.ids import new_id
from controller.passwords import DEFAULT_COST, hash_password, verify_password
from controller.pki.hierarchy import Pki
from controller.settings import Settings
from controller.core.clock import wall_clock
from controller.policies.roles import remove_references, validate_role_attributes
from controller.services.service import mark_changed as mark_services_changed
from controller.store.models import ApiSession, Authenticator, Enrollment, Identity

DEFAULT_ADMIN_NAME = "Default Admin"


def ensure_default_admin(db: Session, username: str, password: str, *, hash_cost: int = DEFAULT_COST) -> Identity:
    """Create the default admin with an updb authenticator on first start; keep its login in step with
    the configured username and password afterwards."""
    now = wall_clock()
    admin = repository.default_admin(db)
    if admin is None:
        admin = Identity(
            id=new_id(), name=DEFAULT_ADMIN_NAME, type_id="Default", is_admin=True, is_default_admin=True,
            created_at=now, updated_at=now, role_attributes=[], tags={}, app_data={}, sdk_info={}, env_info={},
        )
        db.add(admin)
        db.flush()
    updb = db.scalars(select(Authenticator).where(Authenticator.identity_id == admin.id, Authenticator.method == "updb")).one_or_none()
    if updb is None:
        db.add(Authenticator(
            id=new_id(), identity_id=admin.id, method="updb", username=username, password_hash=hash_password(password, cost=hash_cost),
            created_at=now, updated_at=now, tags={},
        ))
    elif updb.username != username or not verify_password(password, updb.password_hash):
        updb.username, updb.password_hash, updb.updated_at = username, hash_password(password, cost=hash_cost), now
    return admin


def get(db: Session, identity_id: str) -> Identity:
    identity = repository.get(db, identity_id)
    if identity is None:
        raise NotFound.for_id(identity_id)
    return identity


def _check_name_free(db: Session, name: str, own_id: str | None = None) -> None:
    existing = repository.by_name(db, name)
    if existing is not None and existing.id != own_id:
        raise CouldNotValidate.for_field("name", "name is must be unique", name)


def create(db: Session, body: IdentityCreate, *, now: datetime, settings: Settings, pki: Pki) -> Identity:
    # The name's uniqueness is checked by the INSERT itself (the unique index; see the flush below), not by
    # a SELECT before it: one statement less on every creation, and no window between check and insert.
    validate_role_attributes("roleAttributes", body.role_attributes)
    identity = Identity(
        id=new_id(), name=body.name, type_id=body.type, is_admin=body.is_admin, is_default_admin=False,
        external_id=body.external_id, auth_policy_id=body.auth_policy_id or "default",
        default_hosting_cost=body.default_hosting_cost or 0, role_attributes=body.role_attributes or [],
        tags=body.tags or {}, app_data=body.app_data or {}, sdk_info={}, env_info={}, created_at=now, updated_at=now,
    )
    db.add(identity)
    try:
        db.flush()
    except IntegrityError:
        raise CouldNotValidate.for_field("name", "name is must be unique", body.name) from None
    requested = body.enrollment
    if requested is not None:
        new = {"now": now, "expires_at": None, "settings": settings, "pki": pki, "new_identity": True}
        if requested.ottca:
            enrollments.create(db, identity, "ottca", ca_id=requested.ottca, **new)
        if requested.ott:
            enrollments.create(db, identity, "ott", **new)
        if requested.updb:
            enrollments.create(db, identity, "updb", username=requested.updb, **new)
    return identity


def update(db: Session, identity: Identity, body: IdentityUpdate | IdentityPatch, *, now: datetime, partial: bool) -> None:
    fields = body.model_dump(exclude_unset=partial, by_alias=False)
    if "name" in fields and fields["name"] is not None:
        _check_name_free(db, fields["name"], identity.id)
    validate_role_attributes("roleAttributes", fields.get("role_attributes"))
    mapping = {"name": "name", "type": "type_id", "is_admin": "is_admin", "role_attributes": "role_attributes",
               "tags": "tags", "app_data": "app_data", "external_id": "external_id", "auth_policy_id": "auth_policy_id",
               "default_hosting_cost": "default_hosting_cost"}
    defaults = {"role_attributes": [], "tags": {}, "app_data": {}, "auth_policy_id": "default", "default_hosting_cost": 0}
    for field, column in mapping.items():
        if field not in fields:
            continue
        value = fields[field]
        if value is None and field in ("name", "type", "is_admin"):
            continue
        setattr(identity, column, defaults.get(field) if value is None else value)
    if identity.is_default_admin:
        identity.is_admin = True  # the default admin stays an admin, as in the real controller
    if "role_attributes" in fields:  # its services may change: SDKs refetch when service-updates moves
        mark_services_changed(db, now)
    identity.updated_at = now


def delete(db: Session, identity: Identity) -> None:
    if identity.is_default_admin:
        raise CanNotDeleteReferencedEntity.with_reason("the default admin cannot be deleted")
    remove_references(db, "identities", identity.id)
    db.delete(identity)


def list_page(db: Session, page: Page) -> tuple[list[Identity], int]:
    return paginate(db, select(Identity), page, repository.FILTERABLE, Identity.name)


def to_wire_many(db: Session, identities: list[Identity], *, has_session: set[str] | None = None) -> list[dict[str, Any]]:
    ids = [i.id for i in identities]
    auths = repository.authenticators_of(db, ids)
    enrolls = repository.enrollments_of(db, ids)
    active = has_session if has_session is not None else set(
        db.scalars(select(ApiSession.identity_id).where(ApiSession.identity_id.in_(ids)))
    )
    return [_detail(i, auths[i.id], enrolls[i.id], i.id in active) for i in identities]


def to_wire(db: Session, identity: Identity) -> dict[str, Any]:
    return to_wire_many(db, [identity])[0]


def _detail(identity: Identity, auths: list[Authenticator], enrolls: list[Enrollment], has_session: bool) -> dict[str, Any]:
    authenticators: dict[str, Any] = {}
    for a in auths:
        if a.method == "cert":
            authenticators["cert"] = {"id": a.id, "fingerprint": a.fingerprint}
        elif a.method == "updb":
            authenticators["updb"] = {"id": a.id, "username": a.username}
    enrollment = {e.method: enrollments.to_identity_summary(e) for e in enrolls}
    return {
        **base_entity(identity, "identities", **{
            "authenticators": f"./identities/{identity.id}/authenticators",
            "enrollments": f"./identities/{identity.id}/enrollments",
        }),
        "name": identity.name,
        "type": entity_ref("identity-types", identity.type_id, identity.type_id),
        "typeId": identity.type_id,
        "isAdmin": identity.is_admin,
        "isDefaultAdmin": identity.is_default_admin,
        "isMfaEnabled": False,
        "disabled": identity.disabled,
        "disabledAt": None,
        "disabledUntil": None,
        "authenticators": authenticators,
        "enrollment": enrollment,
        "roleAttributes": identity.role_attributes,
        "appData": identity.app_data,
        "externalId": identity.external_id,
        "authPolicyId": identity.auth_policy_id,
        "authPolicy": entity_ref("auth-policies", identity.auth_policy_id, "Default" if identity.auth_policy_id == "default" else None),
        "defaultHostingCost": identity.default_hosting_cost,
        "defaultHostingPrecedence": "default",
        "serviceHostingCosts": {},
        "serviceHostingPrecedences": {},
        "permissions": [],
        "hasApiSession": has_session,
        "hasEdgeRouterConnection": False,
        "edgeRouterConnectionStatus": "offline",
        "sdkInfo": identity.sdk_info,
        "envInfo": identity.env_info,
    }
