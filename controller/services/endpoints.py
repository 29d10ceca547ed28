"""Services (so a test can make one appear to an SDK) and the read-only lists a real SDK calls right
after login: external JWT signers, edge routers, service updates."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from controller.api.deps import AdminSession, CurrentSession, DbSession, ListPage, Now
from controller.api.envelope import created, empty, listing, ok
from controller.api.listing import paginate
from controller.api.render import base_entity, fmt_time
from controller.services import service
from controller.zitiql.symbols import entity_symbols, set_of
from controller.store.models import Service

client = APIRouter()
management = APIRouter()
public = APIRouter()

# The real service store's public symbols (management-model.md 1.8) that this model has columns for.
FILTERABLE = entity_symbols(Service, name=Service.name, roleAttributes=set_of(Service.role_attributes))


class ServiceCreate(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")
    name: str = Field(min_length=1, max_length=255)
    encryption_required: bool = Field(True, alias="encryptionRequired")
    role_attributes: list[str] | None = Field(None, alias="roleAttributes")
    tags: dict[str, Any] | None = None


def _wire(row: Service, *, client_view: bool) -> dict[str, Any]:
    data = {
        **base_entity(row, "services"),
        "name": row.name,
        "encryptionRequired": row.encryption_required,
        "roleAttributes": row.role_attributes,
        "terminatorStrategy": "smartrouting",
        "maxIdleTimeMillis": 0,
        "configs": [],
        "config": {},
        "postureQueries": [],
    }
    if client_view:
        # No policies are simulated: every identity may dial every service.
        data["permissions"] = ["Dial"]
    return data


@client.get("/services", operation_id="listServices")
def list_services(db: DbSession, _session: CurrentSession, page: ListPage):
    rows, total = paginate(db, select(Service), page, FILTERABLE, Service.name)
    return listing([_wire(s, client_view=True) for s in rows], limit=page.limit, offset=page.offset, total=total)


@client.get("/services/{id}", operation_id="detailService")
def detail_service(id: str, db: DbSession, _session: CurrentSession):
    return ok(_wire(service.get(db, id), client_view=True))


@client.get("/current-api-session/service-updates", operation_id="listServiceUpdates")
def list_service_updates(db: DbSession, session: CurrentSession):
    return ok({"lastChangeAt": fmt_time(service.last_change_at(db, session.identity))})


@client.get("/current-identity/edge-routers", operation_id="getCurrentIdentityEdgeRouters")
def get_current_identity_edge_routers(_session: CurrentSession, page: ListPage):
    return listing([], limit=page.limit, offset=page.offset, total=0)


@public.get("/external-jwt-signers", operation_id="listExternalJwtSigners")
async def list_external_jwt_signers(page: ListPage):
    return listing([], limit=page.limit, offset=page.offset, total=0)


@management.get("/services", operation_id="listServices")
def list_management_services(db: DbSession, _admin: AdminSession, page: ListPage):
    rows, total = paginate(db, select(Service), page, FILTERABLE, Service.name)
    return listing([_wire(s, client_view=False) for s in rows], limit=page.limit, offset=page.offset, total=total)


@management.post("/services", operation_id="createService", status_code=201)
def create_service(body: ServiceCreate, db: DbSession, now: Now, _admin: AdminSession):
    created_service = service.create(db, name=body.name, encryption_required=body.encryption_required,
                                     role_attributes=body.role_attributes or [], tags=body.tags or {}, now=now)
    return created(created_service.id, "services")


@management.delete("/services/{id}", operation_id="deleteService")
def delete_service(id: str, db: DbSession, now: Now, _admin: AdminSession):
    service.delete(db, service.get(db, id), now=now)
    return empty()
