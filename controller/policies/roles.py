"""Roles: validating policy role lists (`#attr`, `@id`, `#all` alone), matching entities against them, and
resolving at request time, from the rows of the request's own transaction, what each policy grants.

Nothing is cached: every question (who may dial what, which routers an identity or a service reaches) is one
SQL query evaluated by the database at request time (the role match is `policies/sql.py`), so a change to an
entity's attributes or a policy's roles is seen by the next request on every replica.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import exists, literal, select, true
from sqlalchemy.orm import Session

from controller.errors import CouldNotValidate
from controller.policies import sql
from controller.store.models import (
    EdgeRouter, EdgeRouterPolicy, Identity, Service, ServiceEdgeRouterPolicy, ServicePolicy,
)

DIAL, BIND = 1, 2
POLICY_TYPES = {"Dial": DIAL, "Bind": BIND}
TYPE_NAMES = {DIAL: "Dial", BIND: "Bind"}


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


def _dialect(db: Session) -> str:
    return db.get_bind().dialect.name


def _match(db: Session, policy: Any, roles_column: str, entity: Any) -> Any:
    """SQL: `entity` (a mapped class or alias) matches the `roles_column` side of `policy` (a mapped class)."""
    return sql.matches(getattr(policy, roles_column), policy.semantic, entity.id, entity.role_attributes, _dialect(db))


def matched_ids(db: Session, kind: EntityKind, policy: Any, roles_column: str) -> list[str]:
    """Ids of the entities one side of a stored policy matches."""
    model = type(policy)
    stmt = (select(kind.model.id).select_from(model).join(kind.model, true())
            .where(model.id == policy.id, _match(db, model, roles_column, kind.model)))
    return list(db.scalars(stmt.order_by(kind.model.id)))


def policies_matching(db: Session, model: Any, roles_column: str, kind: EntityKind, entity_id: str) -> list[Any]:
    """The policies of `model` whose `roles_column` side matches the entity."""
    stmt = (select(model).select_from(kind.model).join(model, true())
            .where(kind.model.id == entity_id, _match(db, model, roles_column, kind.model)))
    return list(db.scalars(stmt.order_by(model.id)))


# --- what policies grant (one query each, resolved by the database at request time) -------------------


def permissions_by_service(db: Session, identity: Identity) -> dict[str, set[str]]:
    """service id -> {"Dial", "Bind"} for one identity, through the service-policies that match it."""
    stmt = (select(Service.id, ServicePolicy.policy_type).distinct()
            .select_from(Identity).join(ServicePolicy, true()).join(Service, true())
            .where(Identity.id == identity.id, _match(db, ServicePolicy, "identity_roles", Identity),
                   _match(db, ServicePolicy, "service_roles", Service)))
    result: dict[str, set[str]] = {}
    for service_id, policy_type in db.execute(stmt):
        if policy_type in TYPE_NAMES:
            result.setdefault(service_id, set()).add(TYPE_NAMES[policy_type])
    return result


def granting_policies(db: Session, identity: Identity, service: Service, policy_type: int) -> list[ServicePolicy]:
    stmt = (select(ServicePolicy).select_from(Identity).join(Service, true()).join(ServicePolicy, true())
            .where(Identity.id == identity.id, Service.id == service.id, ServicePolicy.policy_type == policy_type,
                   _match(db, ServicePolicy, "identity_roles", Identity),
                   _match(db, ServicePolicy, "service_roles", Service)))
    return list(db.scalars(stmt.order_by(ServicePolicy.id)))


def _routers_through(db: Session, model: Any, side_column: str, kind: EntityKind, entity_id: str) -> set[str]:
    entity = kind.model
    stmt = (select(EdgeRouter.id).distinct().select_from(entity).join(model, true()).join(EdgeRouter, true())
            .where(entity.id == entity_id, _match(db, model, side_column, entity), _match(db, model, "edge_router_roles", EdgeRouter)))
    return set(db.scalars(stmt))


def router_ids_for_identity(db: Session, identity: Identity) -> set[str]:
    return _routers_through(db, EdgeRouterPolicy, "identity_roles", IDENTITIES, identity.id)


def router_ids_for_service(db: Session, service: Service) -> set[str]:
    return _routers_through(db, ServiceEdgeRouterPolicy, "service_roles", SERVICES, service.id)


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
        entries = sql.elements(getattr(model, column), _dialect(db))
        naming = exists(select(literal(1)).select_from(entries).where(entries.c.value == role))
        for policy in db.scalars(select(model).where(naming)):
            setattr(policy, column, [r for r in getattr(policy, column) if r != role])
