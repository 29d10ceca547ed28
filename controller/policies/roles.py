"""Roles: validating policy role lists (`#attr`, `@id`, `#all` alone), matching entities against them, and
resolving at request time, from the rows of the request's own transaction, what each policy grants.

Nothing is cached: every replica reads the same rows, so a change to an entity's attributes or a policy's
roles is seen by the next request anywhere. The candidate rows are narrowed in SQL (only the policies and
entities involved are read); the role match itself is evaluated here, the same way on SQLite and PostgreSQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from controller.errors import CouldNotValidate
from controller.store.models import (
    EdgeRouter, EdgeRouterPolicy, Identity, Service, ServiceEdgeRouterPolicy, ServicePolicy,
)

DIAL, BIND = 1, 2
POLICY_TYPES = {"Dial": DIAL, "Bind": BIND}
TYPE_NAMES = {DIAL: "Dial", BIND: "Bind"}
SEMANTICS = ("AllOf", "AnyOf")


@dataclass(frozen=True)
class EntityKind:
    model: Any
    collection: str  # the wire collection name, for entity refs
    noun: str  # as the real error names it: "no <noun> found with the given ids"


IDENTITIES = EntityKind(Identity, "identities", "identities")
SERVICES = EntityKind(Service, "services", "services")
EDGE_ROUTERS = EntityKind(EdgeRouter, "edge-routers", "edgeRouters")


def validate_role_attributes(field: str, attributes: list[str] | None) -> list[str]:
    for attribute in attributes or []:
        for prefix in ("#", "@"):
            if attribute.startswith(prefix):
                raise CouldNotValidate.for_field(field, f"role attributes may not be prefixed with {prefix}", attribute)
    return list(attributes or [])


def validate_roles(db: Session, field: str, roles: list[str] | None, kind: EntityKind) -> list[str]:
    """The stored form: validated and sorted, as the real store keeps them."""
    roles = list(roles or [])
    bad = [r for r in roles if not (r.startswith("#") or r.startswith("@")) or len(r) < 2]
    if bad:
        raise CouldNotValidate.for_field(
            field, "role entries must prefixed with # (to indicate role attributes) or @ (to indicate a name or id)", bad)
    if "#all" in roles and len(roles) > 1:
        raise CouldNotValidate.for_field(field, "if using #all, it should be the only role specified", roles)
    ids = sorted({r[1:] for r in roles if r.startswith("@")})
    if ids:
        found = set(db.scalars(select(kind.model.id).where(kind.model.id.in_(ids))))
        missing = [i for i in ids if i not in found]
        if missing:
            raise CouldNotValidate.for_field(field, f"no {kind.noun} found with the given ids", missing)
    return sorted(roles)


def matches(roles: Iterable[str], semantic: str, entity_id: str, attributes: Iterable[str] | None) -> bool:
    """The real rule: an `@id` always matches; `#all` matches everything; otherwise the `#` roles must all
    (AllOf) or any (AnyOf) be among the entity's attributes. An empty role list matches nothing."""
    roles = list(roles or [])
    if f"@{entity_id}" in roles or "#all" in roles:
        return True
    wanted = {r[1:] for r in roles if r.startswith("#")}
    if not wanted:
        return False
    have = set(attributes or [])
    return wanted <= have if semantic != "AnyOf" else bool(wanted & have)


def _entities(db: Session, kind: EntityKind, columns: tuple = ()) -> list[Any]:
    return list(db.execute(select(kind.model.id, kind.model.role_attributes, *columns)))


def matched_ids(db: Session, kind: EntityKind, roles: list[str], semantic: str) -> list[str]:
    """Ids of the entities one side of a policy matches."""
    if not roles:
        return []
    return [row.id for row in _entities(db, kind) if matches(roles, semantic, row.id, row.role_attributes)]


# --- what policies grant -------------------------------------------------------------------------------


def service_policies_of_identity(db: Session, identity: Identity, policy_type: int | None = None) -> list[ServicePolicy]:
    stmt = select(ServicePolicy)
    if policy_type is not None:
        stmt = stmt.where(ServicePolicy.policy_type == policy_type)
    return [p for p in db.scalars(stmt.order_by(ServicePolicy.id))
            if matches(p.identity_roles, p.semantic, identity.id, identity.role_attributes)]


def permissions_by_service(db: Session, identity: Identity) -> dict[str, set[str]]:
    """service id -> {"Dial", "Bind"} for one identity, through the service-policies that match it."""
    policies = service_policies_of_identity(db, identity)
    if not policies:
        return {}
    result: dict[str, set[str]] = {}
    for row in _entities(db, SERVICES):
        for policy in policies:
            if matches(policy.service_roles, policy.semantic, row.id, row.role_attributes):
                result.setdefault(row.id, set()).add(TYPE_NAMES[policy.policy_type])
    return result


def granting_policies(db: Session, identity: Identity, service: Service, policy_type: int) -> list[ServicePolicy]:
    return [p for p in service_policies_of_identity(db, identity, policy_type)
            if matches(p.service_roles, p.semantic, service.id, service.role_attributes)]


def edge_router_policies_of_identity(db: Session, identity: Identity) -> list[EdgeRouterPolicy]:
    return [p for p in db.scalars(select(EdgeRouterPolicy).order_by(EdgeRouterPolicy.id))
            if matches(p.identity_roles, p.semantic, identity.id, identity.role_attributes)]


def router_ids_for_identity(db: Session, identity: Identity) -> set[str]:
    policies = edge_router_policies_of_identity(db, identity)
    if not policies:
        return set()
    return {row.id for row in _entities(db, EDGE_ROUTERS)
            if any(matches(p.edge_router_roles, p.semantic, row.id, row.role_attributes) for p in policies)}


def serps_of_service(db: Session, service: Service) -> list[ServiceEdgeRouterPolicy]:
    return [p for p in db.scalars(select(ServiceEdgeRouterPolicy).order_by(ServiceEdgeRouterPolicy.id))
            if matches(p.service_roles, p.semantic, service.id, service.role_attributes)]


def router_ids_for_service(db: Session, service: Service) -> set[str]:
    policies = serps_of_service(db, service)
    if not policies:
        return set()
    return {row.id for row in _entities(db, EDGE_ROUTERS)
            if any(matches(p.edge_router_roles, p.semantic, row.id, row.role_attributes) for p in policies)}


def session_router_ids(db: Session, identity: Identity, service: Service) -> set[str]:
    """The routers a session may use: reachable by the identity (edge-router-policies) and allowed for the
    service (service-edge-router-policies). Online status plays no part, as in the real controller."""
    mine = router_ids_for_identity(db, identity)
    return mine & router_ids_for_service(db, service) if mine else set()


# --- deletes -------------------------------------------------------------------------------------------

_REFERENCING = {
    "identities": [(ServicePolicy, "identity_roles"), (EdgeRouterPolicy, "identity_roles")],
    "services": [(ServicePolicy, "service_roles"), (ServiceEdgeRouterPolicy, "service_roles")],
    "edge-routers": [(EdgeRouterPolicy, "edge_router_roles"), (ServiceEdgeRouterPolicy, "edge_router_roles")],
}


def remove_references(db: Session, collection: str, entity_id: str) -> None:
    """Deleting an identity, service or edge router drops its `@id` from every policy; the policies stay."""
    role = f"@{entity_id}"
    for model, column in _REFERENCING[collection]:
        for policy in db.scalars(select(model)):
            roles = getattr(policy, column) or []
            if role in roles:
                setattr(policy, column, [r for r in roles if r != role])


def role_filter_ids(db: Session, kind: EntityKind, role_filter: list[str] | None, semantic: str | None) -> list[str] | None:
    """`roleFilter`/`roleSemantic` on identity, service and edge-router lists: ids of the entities that carry all
    (AllOf, the default) or any (AnyOf) of the `#` attributes, plus the `@` ids. `#all` here is the literal
    attribute `all`, as in the real store. None: no role filter was given."""
    if not role_filter:
        return None
    semantic = semantic or "AllOf"
    if semantic.lower() not in ("allof", "anyof"):
        raise CouldNotValidate.for_field("semantic", "invalid semantic", semantic)
    ids = {r[1:] for r in role_filter if r.startswith("@")}
    wanted = {r[1:] for r in role_filter if r.startswith("#")}
    if wanted:
        for row in _entities(db, kind):
            have = set(row.role_attributes or [])
            if (wanted <= have) if semantic.lower() == "allof" else bool(wanted & have):
                ids.add(row.id)
    return sorted(ids)
