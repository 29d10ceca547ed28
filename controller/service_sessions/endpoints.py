"""Client sessions on the client API (create, read, delete, scoped to the caller) and the management
session list."""

from __future__ import annotations

from controller.api.contract import Empty, answers
from controller.api.deps import AdminSession, CurrentSession, DbSession, ListPage, Now
from controller.api.envelope import empty, listing, ok
from controller.api.routing import deferred_router
from controller.service_sessions import service
from controller.service_sessions.schemas import SessionCreate, SessionDetail, SessionManagementDetail

client = deferred_router()
management = deferred_router()


@client.post("/sessions", operation_id="createSession", status_code=201, **answers(SessionDetail, 404))
def create_session(body: SessionCreate, db: DbSession, now: Now, context: CurrentSession):
    row = service.create(db, context, service_id=body.service_id, session_type=body.type, tags=body.tags, now=now)
    return ok(service.to_wire(db, row), status=201)


@client.get("/sessions", operation_id="listSessions", **answers(SessionDetail, many=True))
def list_sessions(db: DbSession, context: CurrentSession, page: ListPage):
    rows, total = service.list_page(db, context.identity, page)
    return listing([service.to_wire(db, r) for r in rows], limit=page.limit, offset=page.offset, total=total)


@client.get("/sessions/{id}", operation_id="detailSession", **answers(SessionDetail))
def detail_session(id: str, db: DbSession, context: CurrentSession):
    return ok(service.to_wire(db, service.get(db, context.identity, id)))


@client.delete("/sessions/{id}", operation_id="deleteSession", **answers(Empty))
def delete_session(id: str, db: DbSession, context: CurrentSession):
    service.delete(db, service.get(db, context.identity, id))
    return empty()


@management.get("/sessions", operation_id="listSessions", **answers(SessionManagementDetail, many=True))
def list_management_sessions(db: DbSession, admin: AdminSession, page: ListPage):
    rows, total = service.list_page(db, admin.identity, page)
    return listing([service.to_wire(db, r) for r in rows], limit=page.limit, offset=page.offset, total=total)


@management.get("/sessions/{id}", operation_id="detailSession", **answers(SessionManagementDetail))
def detail_management_session(id: str, db: DbSession, admin: AdminSession):
    return ok(service.to_wire(db, service.get(db, admin.identity, id)))


@management.delete("/sessions/{id}", operation_id="deleteSession", **answers(Empty))
def delete_management_session(id: str, db: DbSession, admin: AdminSession):
    service.delete(db, service.get(db, admin.identity, id))
    return empty()
