"""The three policy types as one table-driven domain: create, update (PUT/PATCH), delete, lists with
filters, wire details with `*RolesDisplay`, and the policy -> matched members sub-lists."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from controller.api.listing import Page, paginate
from controller.api.render import base_entity
from controller.errors import CouldNotValidate, NotFound
from controller.ids import new_id
from controller.policies import roles
from controller.policies.roles import EDGE_ROUTERS, IDENTITIES, SERVICES, EntityKind
from controller.services import service as services
from controller.store.models import EdgeRouterPolicy, ServiceEdgeRouterPolicy, ServicePolicy


@dataclass(frozen=True)
class Side:
    wire: str  # e.g. "identityRoles"
    column: str  # e.g. "identity_roles"
    kind: EntityKind | None  # None: posture checks (not simulated: only #attributes are accepted)
    link: str  # the sub-list / _links name, e.g. "identities"


@dataclass(frozen=True)
class PolicyKind:
    model: Any
    collection: str
    entity_noun: str
    sides: tuple[Side, ...]
    typed: bool = False
    filterable: dict[str, Any] = field(default_factory=dict)


def _filterable(model: Any, *extra: tuple[str, Any]) -> dict[str, Any]:
    return {"id": model.id, "name": model.name, "semantic": model.semantic, "createdAt": model.created_at,
            "updatedAt": model.updated_at, "tags": model.tags, **dict(extra)}


SERVICE_POLICIES = PolicyKind(
    ServicePolicy, "service-policies", "servicePolicies",
    (Side("identityRoles", "identity_roles", IDENTITIES, "identities"),
     Side("serviceRoles", "service_roles", SERVICES, "services"),
     Side("postureCheckRoles", "posture_check_roles", None, "posture-checks")),
    typed=True,
    filterable=_filterable(ServicePolicy, ("type", ServicePolicy.policy_type), ("identityRoles", ServicePolicy.identity_roles),
                           ("serviceRoles", ServicePolicy.service_roles), ("postureCheckRoles", ServicePolicy.posture_check_roles)),
)
EDGE_ROUTER_POLICIES = PolicyKind(
    EdgeRouterPolicy, "edge-router-policies", "edgeRouterPolicies",
    (Side("edgeRouterRoles", "edge_router_roles", EDGE_ROUTERS, "edge-routers"),
     Side("identityRoles", "identity_roles", IDENTITIES, "identities")),
    filterable=_filterable(EdgeRouterPolicy, ("isSystem", EdgeRouterPolicy.is_system), ("identityRoles", EdgeRouterPolicy.identity_roles),
                           ("edgeRouterRoles", EdgeRouterPolicy.edge_router_roles)),
)
SERVICE_EDGE_ROUTER_POLICIES = PolicyKind(
    ServiceEdgeRouterPolicy, "service-edge-router-policies", "serviceEdgeRouterPolicies",
    (Side("edgeRouterRoles", "edge_router_roles", EDGE_ROUTERS, "edge-routers"),
     Side("serviceRoles", "service_roles", SERVICES, "services")),
    filterable=_filterable(ServiceEdgeRouterPolicy, ("serviceRoles", ServiceEdgeRouterPolicy.service_roles),
                           ("edgeRouterRoles", ServiceEdgeRouterPolicy.edge_router_roles)),
)


def get(db: Session, kind: PolicyKind, policy_id: str) -> Any:
    policy = db.get(kind.model, policy_id)
    if policy is None:
        raise NotFound.for_id(policy_id)
    return policy


def list_page(db: Session, kind: PolicyKind, page: Page, stmt: Any = None) -> tuple[list[Any], int]:
    return paginate(db, stmt if stmt is not None else select(kind.model), page, kind.filterable, kind.model.id)


def _validate_side(db: Session, side: Side, value: list[str] | None) -> list[str]:
    if side.kind is not None:
        return roles.validate_roles(db, side.wire, value, side.kind)
    value = list(value or [])
    ids = [r[1:] for r in value if r.startswith("@")]
    if ids:  # no posture checks exist in the simulator, so no @id can resolve
        raise CouldNotValidate.for_field(side.wire, "no postureChecks found with the given ids", ids)
    return roles.validate_roles(db, side.wire, [r for r in value if not r.startswith("@")], IDENTITIES)


def _check_name_free(db: Session, kind: PolicyKind, name: str, own_id: str | None = None) -> None:
    existing = db.scalars(select(kind.model).where(kind.model.name == name)).one_or_none()
    if existing is not None and existing.id != own_id:
        raise CouldNotValidate.for_field("name", f"duplicate value '{name}' in unique index on {kind.entity_noun} store", name)


def _policy_type(value: str) -> int:
    if value not in roles.POLICY_TYPES:
        raise CouldNotValidate.for_field("policyType", "invalid policy type. valid types are 'Dial' and 'Bind'", value)
    return roles.POLICY_TYPES[value]


def _apply(db: Session, kind: PolicyKind, policy: Any, fields: dict[str, Any]) -> None:
    if fields.get("name") is not None:
        _check_name_free(db, kind, fields["name"], policy.id)
        policy.name = fields["name"]
    if fields.get("semantic") is not None:
        policy.semantic = fields["semantic"]
    if kind.typed and fields.get("type") is not None:
        policy.policy_type = _policy_type(fields["type"])
    for side in kind.sides:
        if side.column in fields:
            setattr(policy, side.column, _validate_side(db, side, fields[side.column]))
    if "tags" in fields:
        policy.tags = fields["tags"] or {}


def create(db: Session, kind: PolicyKind, body: BaseModel, *, now: datetime) -> Any:
    policy = kind.model(id=new_id(), created_at=now, updated_at=now, tags={}, semantic="AllOf",
                        **{side.column: [] for side in kind.sides})
    _apply(db, kind, policy, body.model_dump(by_alias=False))
    db.add(policy)
    try:
        db.flush()
    except IntegrityError:
        raise CouldNotValidate.for_field("name", f"duplicate value '{policy.name}' in unique index on {kind.entity_noun} store", policy.name) from None
    _changed(db, kind, now)
    return policy


def update(db: Session, kind: PolicyKind, policy: Any, body: BaseModel, *, now: datetime, partial: bool) -> None:
    fields = body.model_dump(by_alias=False, exclude_unset=partial)
    _apply(db, kind, policy, fields)
    policy.updated_at = now
    _changed(db, kind, now)


def delete(db: Session, kind: PolicyKind, policy: Any, *, now: datetime) -> None:
    db.delete(policy)
    _changed(db, kind, now)


def _changed(db: Session, kind: PolicyKind, now: datetime) -> None:
    """Service-policies decide which services an identity sees: `service-updates` must move on."""
    if kind is SERVICE_POLICIES:
        services.mark_changed(db, now)


def _names(db: Session, kind: EntityKind, ids: set[str]) -> dict[str, str]:
    if not ids:
        return {}
    return dict(db.execute(select(kind.model.id, kind.model.name).where(kind.model.id.in_(sorted(ids)))).all())


def roles_display(role_list: list[str], names: dict[str, str]) -> list[dict[str, str]]:
    """`#x` stays `#x`; `@id` becomes `@<name>`; an `@id` that no longer resolves is left out."""
    display = []
    for role in role_list:
        if role.startswith("@"):
            if role[1:] in names:
                display.append({"role": role, "name": "@" + names[role[1:]]})
        else:
            display.append({"role": role, "name": role})
    return display


def to_wire_many(db: Session, kind: PolicyKind, policies: list[Any]) -> list[dict[str, Any]]:
    names: dict[str, dict[str, str]] = {}
    for side in kind.sides:
        if side.kind is not None:
            ids = {r[1:] for p in policies for r in getattr(p, side.column) or [] if r.startswith("@")}
            names[side.wire] = _names(db, side.kind, ids)
    result = []
    for policy in policies:
        data = {
            **base_entity(policy, kind.collection, **{s.link: f"./{kind.collection}/{policy.id}/{s.link}" for s in kind.sides}),
            "name": policy.name,
            "semantic": policy.semantic or "AllOf",
        }
        if kind.typed:
            data["type"] = roles.TYPE_NAMES.get(policy.policy_type, "Invalid")
        for side in kind.sides:
            role_list = list(getattr(policy, side.column) or [])
            data[side.wire] = role_list
            data[side.wire + "Display"] = roles_display(role_list, names.get(side.wire, {}))
        if kind is EDGE_ROUTER_POLICIES:
            data["isSystem"] = bool(policy.is_system)
        result.append(data)
    return result


def to_wire(db: Session, kind: PolicyKind, policy: Any) -> dict[str, Any]:
    return to_wire_many(db, kind, [policy])[0]


def member_ids(db: Session, kind: PolicyKind, policy: Any, link: str) -> list[str]:
    side = next(s for s in kind.sides if s.link == link)
    return roles.matched_ids(db, side.kind, policy, side.column) if side.kind else []


def policies_matching(db: Session, kind: PolicyKind, link: str, entity: Any) -> list[str]:
    """Ids of the policies of `kind` whose `link` side matches `entity` (e.g. the service-policies of an identity)."""
    side = next(s for s in kind.sides if s.link == link)
    return [p.id for p in roles.policies_matching(db, kind.model, side.column, side.kind, entity.id)]
