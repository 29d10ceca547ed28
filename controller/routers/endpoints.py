"""Management edge-router routes and the client route POST /enroll/extend/router."""

from __future__ import annotations

from controller.api.contract import Created, Empty, answers
from controller.api.deps import AdminSession, DbSession, ListPage, Now, PeerCerts, RuntimeDep, SettingsDep
from controller.api.envelope import created, empty, listing, ok
from controller.api.routing import deferred_router
from controller.routers import service
from controller.routers.schemas import (
    EdgeRouterCreate, EdgeRouterDetail, EdgeRouterPatch, EdgeRouterUpdate, RouterExtendRequest, RouterExtendResult,
)
from controller.core import journal

client = deferred_router()
management = deferred_router()


@client.post(
    "/enroll/extend/router", operation_id="extendRouterEnrollment", **answers(RouterExtendResult, 401, 409),
    summary="A router replaces both its certificates, authenticated by its current client certificate on this TLS "
            "connection; the old certificate is invalid at once",
)
def extend_router_enrollment(
    body: RouterExtendRequest, db: DbSession, now: Now, runtime: RuntimeDep, settings: SettingsDep, peer: PeerCerts,
):
    with journal.failures_recorded(runtime.sessions, db, "router-extend") as op:
        result = service.extend(db, body.cert_csr, body.server_cert_csr, peer_certs=peer.certs, now=now, settings=settings,
                                pki=runtime.pki, op=op)
    return ok({"cert": result.cert, "serverCert": result.server_cert})


@management.get("/edge-routers", operation_id="listEdgeRouters", **answers(EdgeRouterDetail, many=True))
def list_edge_routers(db: DbSession, _admin: AdminSession, page: ListPage):
    rows, total = service.list_page(db, page)
    return listing(service.to_wire_many(db, rows), limit=page.limit, offset=page.offset, total=total)


@management.post("/edge-routers", operation_id="createEdgeRouter", **answers(Created, 409), status_code=201)
def create_edge_router(body: EdgeRouterCreate, db: DbSession, now: Now, runtime: RuntimeDep, settings: SettingsDep, _admin: AdminSession):
    router = service.create(db, body, now=now, settings=settings, pki=runtime.pki)
    return created(router.id, "edge-routers")


@management.get("/edge-routers/{id}", operation_id="detailEdgeRouter", **answers(EdgeRouterDetail))
def detail_edge_router(id: str, db: DbSession, _admin: AdminSession):
    return ok(service.to_wire(db, service.get(db, id)))


@management.put("/edge-routers/{id}", operation_id="updateEdgeRouter", **answers(Empty, 409))
def update_edge_router(id: str, body: EdgeRouterUpdate, db: DbSession, now: Now, _admin: AdminSession):
    service.update(db, service.get(db, id, for_update=True), body, now=now, partial=False)
    return empty()


@management.patch("/edge-routers/{id}", operation_id="patchEdgeRouter", **answers(Empty, 409))
def patch_edge_router(id: str, body: EdgeRouterPatch, db: DbSession, now: Now, _admin: AdminSession):
    service.update(db, service.get(db, id, for_update=True), body, now=now, partial=True)
    return empty()


@management.delete("/edge-routers/{id}", operation_id="deleteEdgeRouter", **answers(Empty, 409))
def delete_edge_router(id: str, db: DbSession, _admin: AdminSession):
    service.delete(db, service.get(db, id))
    return empty()


@management.post("/edge-routers/{id}/re-enroll", operation_id="reEnrollEdgeRouter", **answers(Empty, 409))
def re_enroll_edge_router(id: str, db: DbSession, now: Now, runtime: RuntimeDep, settings: SettingsDep, _admin: AdminSession):
    with journal.failures_recorded(runtime.sessions, db, "router-re-enroll", detail={"edgeRouterId": id}):
        service.re_enroll(db, id, now=now, settings=settings, pki=runtime.pki)
    return empty()
