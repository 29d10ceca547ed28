"""Services on both APIs (visibility and permissions from service-policies), their sub-lists, and the
read-only lists an SDK calls right after login: external JWT signers, its edge routers, service updates."""

from __future__ import annotations

from typing import Any

from fastapi import Query
from sqlalchemy import select

from controller.api.contract import Created, Empty, answers
from controller.api.deps import AdminSession, CurrentSession, DbSession, ListPage, Now
from controller.api.envelope import created, empty, listing, ok
from controller.api.render import fmt_time
from controller.api.routing import deferred_router
from controller.configs import service as configs
from controller.policies import roles
from controller.api.listing import paginate
from controller.routers import service as routers
from controller.service_sessions.service import common_router, current_identity_router, session_routers
from controller.configs.schemas import ConfigDetail
from controller.service_sessions.schemas import CurrentIdentityEdgeRouterDetail, ServiceEdgeRouters
from controller.services import service
from controller.services.schemas import ServiceCreate, ServiceDetail, ServicePatch, ServiceSummary, ServiceUpdates
from controller.store.models import Config, EdgeRouter, Service

client = deferred_router()
management = deferred_router()
public = deferred_router()


def _page(rows: list[dict[str, Any]], page: Any, total: int):
    return listing(rows, limit=page.limit, offset=page.offset, total=total)


# --- client API ------------------------------------------------------------------------------------------


@client.get("/services", operation_id="listServices", **answers(ServiceDetail, many=True))
def list_services(db: DbSession, session: CurrentSession, page: ListPage,
                  config_types: list[str] | None = Query(None, alias="configTypes")):
    rows, total, permissions = service.visible_page(db, session.identity, page)
    requested = config_types if config_types is not None else list(session.session.config_types or [])
    return _page(service.to_wire_many(db, rows, permissions=permissions, config_types=requested), page, total)


@client.get("/services/{id}", operation_id="detailService", **answers(ServiceDetail))
def detail_service(id: str, db: DbSession, session: CurrentSession):
    row, granted = service.get_visible(db, session.identity, id)
    requested = list(session.session.config_types or [])
    return ok(service.to_wire_many(db, [row], permissions={row.id: granted}, config_types=requested)[0])


@client.get("/services/{id}/edge-routers", operation_id="listServiceEdgeRouters", **answers(ServiceEdgeRouters))
def list_service_edge_routers(id: str, db: DbSession, session: CurrentSession):
    """The routers the caller may use for this service (edge-router-policies and service-edge-router-policies);
    404 when the caller cannot see the service."""
    row, _ = service.get_visible(db, session.identity, id)
    routers_ = session_routers(db, session.identity, row, limit=None)
    return ok({"edgeRouters": [common_router(r) for r in routers_]})


@client.get("/current-api-session/service-updates", operation_id="listServiceUpdates", **answers(ServiceUpdates))
def list_service_updates(db: DbSession, session: CurrentSession):
    return ok({"lastChangeAt": fmt_time(service.last_change_at(db, session.identity))})


@client.get("/current-identity/edge-routers", operation_id="getCurrentIdentityEdgeRouters", **answers(CurrentIdentityEdgeRouterDetail, many=True))
def get_current_identity_edge_routers(db: DbSession, session: CurrentSession, page: ListPage):
    """Verified routers: every one for an admin, otherwise those the caller's edge-router-policies reach."""
    stmt = select(EdgeRouter).where(EdgeRouter.is_verified.is_(True))
    if not session.identity.is_admin:
        stmt = stmt.where(EdgeRouter.id.in_(sorted(roles.router_ids_for_identity(db, session.identity))))
    rows, total = paginate(db, stmt, page, routers.FILTERABLE, EdgeRouter.name)
    return _page([current_identity_router(r) for r in rows], page, total)


@public.get("/external-jwt-signers", operation_id="listExternalJwtSigners", **answers(dict[str, Any], many=True))
async def list_external_jwt_signers(page: ListPage):
    return listing([], limit=page.limit, offset=page.offset, total=0)


# --- management API --------------------------------------------------------------------------------------


@management.get("/services", operation_id="listServices", **answers(ServiceDetail, 404, many=True))
def list_management_services(db: DbSession, admin: AdminSession, page: ListPage,
                             config_types: str | None = Query(None, alias="configTypes"),
                             as_identity: str | None = Query(None, alias="asIdentity")):
    identity = service.identity_by_id_or_name(db, as_identity) if as_identity else admin.identity
    rows, total, permissions = service.visible_page(db, identity, page)
    requested = [c for c in (config_types or "").split(",") if c]
    return _page(service.to_wire_many(db, rows, permissions=permissions, config_types=requested), page, total)


@management.post("/services", operation_id="createService", **answers(Created, 404), status_code=201)
def create_service(body: ServiceCreate, db: DbSession, now: Now, _admin: AdminSession):
    row = service.create(db, body.model_dump(by_alias=False), now=now)
    return created(row.id, "services")


@management.get("/services/{id}", operation_id="detailService", **answers(ServiceDetail))
def detail_management_service(id: str, db: DbSession, admin: AdminSession):
    row, granted = service.get_visible(db, admin.identity, id)
    return ok(service.to_wire_many(db, [row], permissions={row.id: granted})[0])


@management.put("/services/{id}", operation_id="updateService", **answers(Empty))
def update_service(id: str, body: ServiceCreate, db: DbSession, now: Now, _admin: AdminSession):
    service.update(db, service.get(db, id), body.model_dump(by_alias=False), now=now)
    return empty()


@management.patch("/services/{id}", operation_id="patchService", **answers(Empty))
def patch_service(id: str, body: ServicePatch, db: DbSession, now: Now, _admin: AdminSession):
    service.update(db, service.get(db, id), body.model_dump(by_alias=False, exclude_unset=True), now=now)
    return empty()


@management.delete("/services/{id}", operation_id="deleteService", **answers(Empty))
def delete_service(id: str, db: DbSession, now: Now, _admin: AdminSession):
    service.delete(db, service.get(db, id), now=now)
    return empty()


@management.get("/services/{id}/configs", operation_id="listServiceConfig", **answers(ConfigDetail, many=True))
def list_service_config(id: str, db: DbSession, _admin: AdminSession, page: ListPage):
    row = service.get(db, id)
    rows, total = configs.list_page(db, page, select(Config).where(Config.id.in_(list(row.configs or []))))
    return _page(configs.to_wire_many(db, rows), page, total)


@management.get("/configs/{id}/services", operation_id="listConfigServices", **answers(ServiceSummary, many=True))
def list_config_services(id: str, db: DbSession, _admin: AdminSession, page: ListPage):
    ids = [s.id for s in configs.services_using(db, id)]
    rows, total = service.list_page(db, page, select(Service).where(Service.id.in_(ids)))
    return _page(service.to_wire_many(db, rows, with_config=False), page, total)
