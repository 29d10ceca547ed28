"""Management /cas (CRUD, verify, jwt) and the client's dedicated CA enrollment routes (/enroll/ca,
/enroll/ottca; the generic /enroll?method=ca|ottca is served with the other methods)."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import Depends, Request
from fastapi.responses import Response

from controller.api.contract import Created, Empty, answers
from controller.api.deps import AdminSession, DbSession, ListPage, Now, PeerCerts, RuntimeDep, SettingsDep
from controller.api.envelope import created, empty, listing, ok
from controller.api.routing import deferred_router
from controller.cas import enrollment, service
from controller.cas.schemas import CaCreate, CaDetail, CaPatch, CaUpdate, OttCaEnrollRequest
from controller.enrollments import service as enrollments
from controller.errors import CouldNotParseBody
from controller.core import journal

management = deferred_router()
client = deferred_router()


async def _raw_body(request: Request) -> bytes:
    return await request.body()


RawBody = Annotated[bytes, Depends(_raw_body)]


@management.get("/cas", operation_id="listCas", **answers(CaDetail, many=True))
def list_cas(db: DbSession, _admin: AdminSession, page: ListPage):
    rows, total = service.list_page(db, page)
    return listing([service.to_wire(r) for r in rows], limit=page.limit, offset=page.offset, total=total)


@management.post("/cas", operation_id="createCa", status_code=201, **answers(Created))
def create_ca(body: CaCreate, db: DbSession, now: Now, _admin: AdminSession):
    return created(service.create(db, body, now=now).id, "cas")


@management.get("/cas/{id}", operation_id="detailCa", **answers(CaDetail))
def detail_ca(id: str, db: DbSession, _admin: AdminSession):
    return ok(service.to_wire(service.get(db, id)))


@management.put("/cas/{id}", operation_id="updateCa", **answers(Empty))
def update_ca(id: str, body: CaUpdate, db: DbSession, now: Now, _admin: AdminSession):
    service.update(db, service.get(db, id, for_update=True), body, now=now, partial=False)
    return empty()


@management.patch("/cas/{id}", operation_id="patchCa", **answers(Empty))
def patch_ca(id: str, body: CaPatch, db: DbSession, now: Now, _admin: AdminSession):
    service.update(db, service.get(db, id, for_update=True), body, now=now, partial=True)
    return empty()


@management.delete("/cas/{id}", operation_id="deleteCa", **answers(Empty))
def delete_ca(id: str, db: DbSession, _admin: AdminSession):
    service.delete(db, service.get(db, id, for_update=True))
    return empty()


@management.get(
    "/cas/{id}/jwt", operation_id="getCaJwt", response_class=Response,
    responses={200: {"content": {"application/jwt": {"schema": {"type": "string"}}}}},
)
def get_ca_jwt(id: str, db: DbSession, runtime: RuntimeDep, settings: SettingsDep, _admin: AdminSession):
    token = service.enrollment_jwt(service.get(db, id), settings=settings, pki=runtime.pki)
    return Response(token, media_type="application/jwt")


@management.post(
    "/cas/{id}/verify", operation_id="verifyCa", **answers(Empty, 400, 409),
    summary="Verify a CA with a PEM certificate it signed whose common name is its verificationToken",
    openapi_extra={"requestBody": {"required": True, "content": {"text/plain": {"schema": {"type": "string"}}}}},
)
def verify_ca(id: str, raw: RawBody, db: DbSession, now: Now, runtime: RuntimeDep, _admin: AdminSession):
    with journal.failures_recorded(runtime.sessions, db, "ca-verify", detail={"caId": id}):
        service.verify(db, id, raw, now=now)
    return empty()


@client.post("/enroll/ca", operation_id="enrollCa", **answers(Empty, 400, 409), summary="Auto-enroll with a certificate from a verified third-party CA")
def enroll_ca(raw: RawBody, db: DbSession, now: Now, runtime: RuntimeDep, peer: PeerCerts):
    try:
        body = json.loads(raw) if raw.strip() else {}
    except ValueError:
        raise CouldNotParseBody.with_reason("the body is not valid JSON") from None
    name = body.get("name") if isinstance(body, dict) and isinstance(body.get("name"), str) else None
    with journal.failures_recorded(runtime.sessions, db, "ca-enroll", detail={"method": "ca"}):
        enrollment.enroll(db, peer.certs, requested_name=name, now=now)
    return empty()


@client.post("/enroll/ottca", operation_id="enrollOttCa", **answers(Empty, 409), summary="Enroll with an ottca token and a third-party certificate")
def enroll_ottca(body: OttCaEnrollRequest, db: DbSession, now: Now, runtime: RuntimeDep, peer: PeerCerts):
    with journal.failures_recorded(runtime.sessions, db, "ottca-enroll", detail={"method": "ottca"}):
        enrollments.enroll_ottca(db, body.token, peer.certs, method="ottca", now=now)
    return empty()
