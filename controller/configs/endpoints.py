"""Management routes for config types and configs (thin: parse -> service -> envelope)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from sqlalchemy import select

from controller.api.contract import Created, Empty, answers
from controller.api.deps import AdminSession, DbSession, ListPage, Now
from controller.api.envelope import created, empty, listing, ok
from controller.api.routing import deferred_router
from controller.configs import service
from controller.configs.schemas import (
    ConfigCreate, ConfigDetail, ConfigPatch, ConfigTypeCreate, ConfigTypeDetail, ConfigTypePatch, ConfigUpdate,
)
from controller.store.models import Config

management = deferred_router()


def _fields(body: BaseModel, *, partial: bool) -> dict[str, Any]:
    fields = body.model_dump(by_alias=False, exclude_unset=partial)
    if "schema_" in fields:
        fields["schema"] = fields.pop("schema_")
    return fields


@management.get("/config-types", operation_id="listConfigTypes", **answers(ConfigTypeDetail, many=True))
def list_config_types(db: DbSession, _admin: AdminSession, page: ListPage):
    rows, total = service.list_types(db, page)
    return listing([service.type_to_wire(r) for r in rows], limit=page.limit, offset=page.offset, total=total)


@management.post("/config-types", operation_id="createConfigType", status_code=201, **answers(Created))
def create_config_type(body: ConfigTypeCreate, db: DbSession, now: Now, _admin: AdminSession):
    row = service.create_type(db, name=body.name, schema=body.schema_, target=body.target, tags=body.tags, now=now)
    return created(row.id, "config-types")


@management.get("/config-types/{id}", operation_id="detailConfigType", **answers(ConfigTypeDetail))
def detail_config_type(id: str, db: DbSession, _admin: AdminSession):
    return ok(service.type_to_wire(service.get_type(db, id)))


@management.put("/config-types/{id}", operation_id="updateConfigType", **answers(Empty))
def update_config_type(id: str, body: ConfigTypeCreate, db: DbSession, now: Now, _admin: AdminSession):
    service.update_type(db, service.get_type(db, id), _fields(body, partial=False), now=now)
    return empty()


@management.patch("/config-types/{id}", operation_id="patchConfigType", **answers(Empty))
def patch_config_type(id: str, body: ConfigTypePatch, db: DbSession, now: Now, _admin: AdminSession):
    service.update_type(db, service.get_type(db, id), _fields(body, partial=True), now=now)
    return empty()


@management.delete("/config-types/{id}", operation_id="deleteConfigType", **answers(Empty))
def delete_config_type(id: str, db: DbSession, _admin: AdminSession):
    service.delete_type(db, service.get_type(db, id))
    return empty()


@management.get("/config-types/{id}/configs", operation_id="listConfigsForConfigType", **answers(ConfigDetail, many=True))
def list_configs_for_config_type(id: str, db: DbSession, _admin: AdminSession, page: ListPage):
    rows, total = service.list_page(db, page, select(Config).where(Config.config_type_id == id))
    return listing(service.to_wire_many(db, rows), limit=page.limit, offset=page.offset, total=total)


@management.get("/configs", operation_id="listConfigs", **answers(ConfigDetail, many=True))
def list_configs(db: DbSession, _admin: AdminSession, page: ListPage):
    rows, total = service.list_page(db, page)
    return listing(service.to_wire_many(db, rows), limit=page.limit, offset=page.offset, total=total)


@management.post("/configs", operation_id="createConfig", status_code=201, **answers(Created))
def create_config(body: ConfigCreate, db: DbSession, now: Now, _admin: AdminSession):
    row = service.create(db, name=body.name, config_type_id=body.config_type_id, data=body.data, tags=body.tags, now=now)
    return created(row.id, "configs")


@management.get("/configs/{id}", operation_id="detailConfig", **answers(ConfigDetail))
def detail_config(id: str, db: DbSession, _admin: AdminSession):
    return ok(service.to_wire_many(db, [service.get(db, id)])[0])


@management.put("/configs/{id}", operation_id="updateConfig", **answers(Empty))
def update_config(id: str, body: ConfigUpdate, db: DbSession, now: Now, _admin: AdminSession):
    service.update(db, service.get(db, id), _fields(body, partial=False), now=now)
    return empty()


@management.patch("/configs/{id}", operation_id="patchConfig", **answers(Empty))
def patch_config(id: str, body: ConfigPatch, db: DbSession, now: Now, _admin: AdminSession):
    service.update(db, service.get(db, id), _fields(body, partial=True), now=now)
    return empty()


@management.delete("/configs/{id}", operation_id="deleteConfig", **answers(Empty))
def delete_config(id: str, db: DbSession, now: Now, _admin: AdminSession):
    service.delete(db, service.get(db, id), now=now)
    return empty()
