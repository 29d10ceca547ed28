"""Management routes of the three policy types (CRUD, members), the entity -> policy and entity -> entity
sub-lists that policies make, and the role-attribute catalogues. Routes are registered from one table."""

# No `from __future__ import annotations`: the route factory below annotates bodies with runtime classes.

from typing import Any, Literal

from fastapi import Query
from sqlalchemy import String, literal, select, union_all

from controller.api.contract import Created, Empty, answers
from controller.api.deps import AdminSession, DbSession, ListPage, Now
from controller.api.envelope import created, empty, listing, ok
from controller.api.listing import Page, filter_clause, paginate
from controller.api.routing import deferred_router
from controller.identities import repository as identity_repository
from controller.identities import service as identities
from controller.identities.schemas import IdentityDetail
from controller.policies import roles, service
from controller.policies.schemas import (
    EdgeRouterPolicyCreate, EdgeRouterPolicyDetail, EdgeRouterPolicyPatch, ServiceEdgeRouterPolicyCreate,
    ServiceEdgeRouterPolicyDetail, ServiceEdgeRouterPolicyPatch, ServicePolicyCreate, ServicePolicyDetail, ServicePolicyPatch,
)
from controller.policies.service import EDGE_ROUTER_POLICIES, SERVICE_EDGE_ROUTER_POLICIES, SERVICE_POLICIES, PolicyKind
from controller.routers import service as routers
from controller.routers.schemas import EdgeRouterDetail
from controller.services import service as services
from controller.services.schemas import ServiceSummary
from controller.store.models import EdgeRouter, Identity, Service

management = deferred_router()


def _page(rows: list[dict[str, Any]], page: Page, total: int):
    return listing(rows, limit=page.limit, offset=page.offset, total=total)


def _ids_page(db: Any, model: Any, ids: list[str], page: Page, filterable: dict[str, Any], order: Any) -> tuple[list[Any], int]:
    return paginate(db, select(model).where(model.id.in_(sorted(set(ids)))), page, filterable, order)


# Members of each side, by the collection name the sub-list uses.
_MEMBERS = {
    "identities": (Identity, identity_repository.FILTERABLE, Identity.name, lambda db, rows: identities.to_wire_many(db, rows)),
    "services": (Service, services.FILTERABLE, Service.name, lambda db, rows: services.to_wire_many(db, rows, with_config=False)),
    "edge-routers": (EdgeRouter, routers.FILTERABLE, EdgeRouter.name, lambda db, rows: routers.to_wire_many(db, rows)),
}


def _members_page(db: Any, collection: str, ids: list[str], page: Page):
    model, filterable, order, wire = _MEMBERS[collection]
    rows, total = _ids_page(db, model, ids, page, filterable, order)
    return _page(wire(db, rows), page, total)


def _policies_page(db: Any, kind: PolicyKind, ids: list[str], page: Page):
    rows, total = _ids_page(db, kind.model, ids, page, kind.filterable, kind.model.id)
    return _page(service.to_wire_many(db, kind, rows), page, total)


# The answer of each member sub-list.
_MEMBER_DETAIL = {"identities": IdentityDetail, "services": ServiceSummary, "edge-routers": EdgeRouterDetail}


def _register(kind: PolicyKind, create_body: type, patch_body: type, detail: type, singular: str, plural: str) -> None:
    base = f"/{kind.collection}"

    def list_(db: DbSession, _admin: AdminSession, page: ListPage):
        rows, total = service.list_page(db, kind, page)
        return _page(service.to_wire_many(db, kind, rows), page, total)

    def create(body: create_body, db: DbSession, now: Now, _admin: AdminSession):  # type: ignore[valid-type]
        policy = service.create(db, kind, body, now=now)
        return created(policy.id, kind.collection)

    def detail_(id: str, db: DbSession, _admin: AdminSession):
        return ok(service.to_wire(db, kind, service.get(db, kind, id)))

    def update(id: str, body: create_body, db: DbSession, now: Now, _admin: AdminSession):  # type: ignore[valid-type]
        service.update(db, kind, service.get(db, kind, id), body, now=now, partial=False)
        return empty()

    def patch(id: str, body: patch_body, db: DbSession, now: Now, _admin: AdminSession):  # type: ignore[valid-type]
        service.update(db, kind, service.get(db, kind, id), body, now=now, partial=True)
        return empty()

    def delete(id: str, db: DbSession, now: Now, _admin: AdminSession):
        service.delete(db, kind, service.get(db, kind, id), now=now)
        return empty()

    management.add_api_route(base, list_, methods=["GET"], operation_id=f"list{plural}", **answers(detail, many=True))
    management.add_api_route(base, create, methods=["POST"], operation_id=f"create{singular}", status_code=201,
                             **answers(Created))
    management.add_api_route(base + "/{id}", detail_, methods=["GET"], operation_id=f"detail{singular}", **answers(detail))
    management.add_api_route(base + "/{id}", update, methods=["PUT"], operation_id=f"update{singular}", **answers(Empty))
    management.add_api_route(base + "/{id}", patch, methods=["PATCH"], operation_id=f"patch{singular}", **answers(Empty))
    management.add_api_route(base + "/{id}", delete, methods=["DELETE"], operation_id=f"delete{singular}", **answers(Empty))
    for side in kind.sides:
        if side.kind is None:
            continue

        def members(id: str, db: DbSession, _admin: AdminSession, page: ListPage, _link: str = side.link):
            policy = service.get(db, kind, id)
            return _members_page(db, _link, service.member_ids(db, kind, policy, _link), page)

        member_name = {"identities": "Identities", "services": "Services", "edge-routers": "EdgeRouters"}[side.link]
        management.add_api_route(f"{base}/{{id}}/{side.link}", members, methods=["GET"],
                                 operation_id=f"list{singular}{member_name}", **answers(_MEMBER_DETAIL[side.link], many=True))


_register(SERVICE_POLICIES, ServicePolicyCreate, ServicePolicyPatch, ServicePolicyDetail, "ServicePolicy", "ServicePolicies")
_register(EDGE_ROUTER_POLICIES, EdgeRouterPolicyCreate, EdgeRouterPolicyPatch, EdgeRouterPolicyDetail,
          "EdgeRouterPolicy", "EdgeRouterPolicies")
_register(SERVICE_EDGE_ROUTER_POLICIES, ServiceEdgeRouterPolicyCreate, ServiceEdgeRouterPolicyPatch, ServiceEdgeRouterPolicyDetail,
          "ServiceEdgeRouterPolicy", "ServiceEdgeRouterPolicies")


@management.get("/service-policies/{id}/posture-checks", operation_id="listServicePolicyPostureChecks", **answers(dict[str, Any], many=True))
def list_service_policy_posture_checks(id: str, db: DbSession, _admin: AdminSession, page: ListPage):
    service.get(db, SERVICE_POLICIES, id)  # no posture checks are simulated: always empty
    return _page([], page, 0)


# --- entity -> policies and entity -> entities -------------------------------------------------------------


def _entity(db: Any, model: Any, entity_id: str) -> Any:
    """A parent that does not exist gives an empty list (the real sub-lists do not 404)."""
    return db.get(model, entity_id)


def _policies_of(db: Any, model: Any, entity_id: str, kind: PolicyKind, side: str, page: Page):
    """The `kind` policies whose `side` roles match the entity `model`/`entity_id`, one page of them."""
    entity = _entity(db, model, entity_id)
    return _policies_page(db, kind, service.policies_matching(db, kind, side, entity) if entity else [], page)


@management.get("/identities/{id}/service-policies", operation_id="listIdentityServicePolicies", **answers(ServicePolicyDetail, many=True))
def list_identity_service_policies(id: str, db: DbSession, _admin: AdminSession, page: ListPage):
    return _policies_of(db, Identity, id, SERVICE_POLICIES, "identities", page)


@management.get("/identities/{id}/edge-router-policies", operation_id="listIdentitysEdgeRouterPolicies", **answers(EdgeRouterPolicyDetail, many=True))
def list_identity_edge_router_policies(id: str, db: DbSession, _admin: AdminSession, page: ListPage):
    return _policies_of(db, Identity, id, EDGE_ROUTER_POLICIES, "identities", page)


@management.get("/identities/{id}/services", operation_id="listIdentityServices", **answers(ServiceSummary, many=True))
def list_identity_services(id: str, db: DbSession, _admin: AdminSession, page: ListPage,
                           policy_type: Literal["dial", "bind"] | None = Query(None, alias="policyType")):
    identity = _entity(db, Identity, id)
    ids: list[str] = []
    if identity is not None:
        wanted = {"dial": "Dial", "bind": "Bind"}.get(policy_type or "")
        ids = [sid for sid, granted in roles.permissions_by_service(db, identity).items() if wanted is None or wanted in granted]
    return _members_page(db, "services", ids, page)


@management.get("/identities/{id}/edge-routers", operation_id="listIdentityEdgeRouters", **answers(EdgeRouterDetail, many=True))
def list_identity_edge_routers(id: str, db: DbSession, _admin: AdminSession, page: ListPage):
    identity = _entity(db, Identity, id)
    return _members_page(db, "edge-routers", sorted(roles.router_ids_for_identity(db, identity)) if identity else [], page)


@management.get("/services/{id}/service-policies", operation_id="listServiceServicePolicies", **answers(ServicePolicyDetail, many=True))
def list_service_service_policies(id: str, db: DbSession, _admin: AdminSession, page: ListPage):
    return _policies_of(db, Service, id, SERVICE_POLICIES, "services", page)


@management.get("/services/{id}/service-edge-router-policies", operation_id="listServiceServiceEdgeRouterPolicies", **answers(ServiceEdgeRouterPolicyDetail, many=True))
def list_service_serps(id: str, db: DbSession, _admin: AdminSession, page: ListPage):
    return _policies_of(db, Service, id, SERVICE_EDGE_ROUTER_POLICIES, "services", page)


@management.get("/services/{id}/identities", operation_id="listServiceIdentities", **answers(IdentityDetail, many=True))
def list_service_identities(id: str, db: DbSession, _admin: AdminSession, page: ListPage,
                            policy_type: Literal["dial", "bind"] | None = Query(None, alias="policyType")):
    row = _entity(db, Service, id)
    ids: set[str] = set()
    if row is not None:
        wanted = {"dial": roles.DIAL, "bind": roles.BIND}.get(policy_type or "")
        for policy_id in service.policies_matching(db, SERVICE_POLICIES, "services", row):
            policy = service.get(db, SERVICE_POLICIES, policy_id)
            if wanted is None or policy.policy_type == wanted:
                ids.update(service.member_ids(db, SERVICE_POLICIES, policy, "identities"))
    return _members_page(db, "identities", sorted(ids), page)


@management.get("/services/{id}/edge-routers", operation_id="listServiceEdgeRouters", **answers(EdgeRouterDetail, many=True))
def list_management_service_edge_routers(id: str, db: DbSession, _admin: AdminSession, page: ListPage):
    row = _entity(db, Service, id)
    return _members_page(db, "edge-routers", sorted(roles.router_ids_for_service(db, row)) if row else [], page)


@management.get("/edge-routers/{id}/edge-router-policies", operation_id="listEdgeRouterEdgeRouterPolicies", **answers(EdgeRouterPolicyDetail, many=True))
def list_edge_router_erps(id: str, db: DbSession, _admin: AdminSession, page: ListPage):
    return _policies_of(db, EdgeRouter, id, EDGE_ROUTER_POLICIES, "edge-routers", page)


@management.get("/edge-routers/{id}/service-edge-router-policies", operation_id="listEdgeRouterServiceEdgeRouterPolicies", **answers(ServiceEdgeRouterPolicyDetail, many=True))
def list_edge_router_serps(id: str, db: DbSession, _admin: AdminSession, page: ListPage):
    return _policies_of(db, EdgeRouter, id, SERVICE_EDGE_ROUTER_POLICIES, "edge-routers", page)


def _members_through(db: Any, kind: PolicyKind, router: Any, link: str) -> list[str]:
    ids: set[str] = set()
    if router is not None:
        for policy_id in service.policies_matching(db, kind, "edge-routers", router):
            ids.update(service.member_ids(db, kind, service.get(db, kind, policy_id), link))
    return sorted(ids)


@management.get("/edge-routers/{id}/identities", operation_id="listEdgeRouterIdentities", **answers(IdentityDetail, many=True))
def list_edge_router_identities(id: str, db: DbSession, _admin: AdminSession, page: ListPage):
    return _members_page(db, "identities", _members_through(db, EDGE_ROUTER_POLICIES, _entity(db, EdgeRouter, id), "identities"), page)


@management.get("/edge-routers/{id}/services", operation_id="listEdgeRouterServices", **answers(ServiceSummary, many=True))
def list_edge_router_services(id: str, db: DbSession, _admin: AdminSession, page: ListPage):
    return _members_page(db, "services", _members_through(db, SERVICE_EDGE_ROUTER_POLICIES, _entity(db, EdgeRouter, id), "services"), page)


# --- role-attribute catalogues ------------------------------------------------------------------------------


def _attributes(db: Any, model: Any, page: Page):
    """Distinct attributes, sorted; only `filter` on `id` (the attribute) is read, no default limit (as real)."""
    values = sorted({a for attrs in db.scalars(select(model.role_attributes)) for a in attrs or []})
    if page.filter and values:  # the filter runs in SQL over a one-column row set of the values
        rows = union_all(*[select(literal(v, String(255)).label("id")) for v in values]).subquery()
        condition = filter_clause(page, {"id": rows.c.id}, db.get_bind().dialect.name)
        values = list(db.scalars(select(rows.c.id).where(condition).order_by(rows.c.id)))
    return listing(values, limit=len(values), offset=0, total=len(values))


@management.get("/identity-role-attributes", operation_id="listIdentityRoleAttributes", **answers(str, many=True))
def list_identity_role_attributes(db: DbSession, _admin: AdminSession, page: ListPage):
    return _attributes(db, Identity, page)


@management.get("/service-role-attributes", operation_id="listServiceRoleAttributes", **answers(str, many=True))
def list_service_role_attributes(db: DbSession, _admin: AdminSession, page: ListPage):
    return _attributes(db, Service, page)


@management.get("/edge-router-role-attributes", operation_id="listEdgeRouterRoleAttributes", **answers(str, many=True))
def list_edge_router_role_attributes(db: DbSession, _admin: AdminSession, page: ListPage):
    return _attributes(db, EdgeRouter, page)
