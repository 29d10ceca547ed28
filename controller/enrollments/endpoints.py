"""Client enrollment (/enroll, /enroll/ott, /enroll/updb; erott through /enroll) and the management enrollment routes."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import Depends, Request
from pydantic import ValidationError
from sqlalchemy import select

from controller.api.contract import Created, Empty, answers
from controller.api.deps import AdminSession, DbSession, ListPage, Now, PeerCerts, RuntimeDep, SettingsDep
from controller.api.envelope import created, empty, listing, ok
from controller.api.listing import paginate
from controller.api.routing import deferred_router
from controller.enrollments import repository, service
from controller.enrollments.schemas import (
    EnrollmentCreate, EnrollmentDetail, EnrollmentRefresh, EnrollResult, OttEnrollRequest, OttEnrollResult, UpdbCredentials,
    UpdbEnrollResult,
)
from controller.errors import CouldNotParseBody, CouldNotValidate, UnsupportedMedia
from controller.core import journal
from controller.store.models import EdgeRouter, Enrollment, Identity

client = deferred_router()
management = deferred_router()


async def _raw_body(request: Request) -> bytes:
    return await request.body()


RawBody = Annotated[bytes, Depends(_raw_body)]


@client.post(
    "/enroll", operation_id="enroll", **answers(EnrollResult, 409, 415),
    summary="Enroll with a token: a raw PEM CSR body (text/plain, application/x-pem-file, application/pkcs10) or JSON",
    openapi_extra={"requestBody": {"content": {
        "text/plain": {"schema": {"type": "string"}},
        "application/x-pem-file": {"schema": {"type": "string"}},
        "application/json": {"schema": {"type": "object"}},
    }}},
)
def enroll(
    request: Request, raw: RawBody, db: DbSession, now: Now, runtime: RuntimeDep, settings: SettingsDep, peer: PeerCerts,
    method: str | None = None, token: str | None = None,
):
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body, csr_pem = {}, None
    if content_type == "application/json":
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            raise CouldNotParseBody.with_reason("the body is not valid JSON") from None
        if not isinstance(body, dict):
            raise CouldNotParseBody.with_reason("the body must be a JSON object")
    elif raw:
        accept = request.headers.get("accept", "")
        if accept and "application/json" not in accept and "*/*" not in accept:
            raise UnsupportedMedia()
        csr_pem = raw
    kind = {"erott": "router-enroll", "ca": "ca-enroll", "ottca": "ottca-enroll"}.get(method or "", "enroll")
    with journal.failures_recorded(runtime.sessions, db, kind, detail={"method": method or ""}):
        data = service.redeem(db, method=method, token=token, body=body, csr_pem=csr_pem, now=now,
                              settings=settings, pki=runtime.pki, peer_certs=peer.certs)
    return ok(data)


@client.post("/enroll/ott", operation_id="enrollOtt", **answers(OttEnrollResult, 409), summary="Enroll with a one-time token and a CSR")
def enroll_ott(body: OttEnrollRequest, db: DbSession, now: Now, runtime: RuntimeDep, settings: SettingsDep):
    with journal.failures_recorded(runtime.sessions, db, "enroll", detail={"method": "ott"}):
        chain = service.enroll_ott(db, body.token, body.client_csr, method="ott", now=now, settings=settings, pki=runtime.pki)
    return ok({"cert": chain})


@client.post("/enroll/updb", operation_id="enrollUpdb", **answers(UpdbEnrollResult, 409), summary="Enroll a username and password")
def enroll_updb(token: str, raw: RawBody, db: DbSession, now: Now, runtime: RuntimeDep, settings: SettingsDep):
    try:
        credentials = UpdbCredentials.model_validate_json(raw or b"{}")
    except ValidationError as exc:
        first = exc.errors()[0]
        raise CouldNotValidate.for_field(".".join(map(str, first["loc"])) or "(root)", first["msg"]) from None
    with journal.failures_recorded(runtime.sessions, db, "enroll", detail={"method": "updb"}):
        username = service.enroll_updb(db, token, credentials.username, credentials.password, method="updb", now=now,
                                       hash_cost=settings.effective_password_hash_cost)
    return ok({"username": username})


@management.get("/enrollments", operation_id="listEnrollments", **answers(EnrollmentDetail, many=True))
def list_enrollments(db: DbSession, _admin: AdminSession, page: ListPage):
    rows, total = paginate(db, select(Enrollment), page, repository.FILTERABLE, Enrollment.created_at)
    names = {i.id: i for i in db.query(Identity).filter(Identity.id.in_({r.identity_id for r in rows if r.identity_id}))}
    routers = {r.id: r for r in db.query(EdgeRouter).filter(EdgeRouter.id.in_({r.edge_router_id for r in rows if r.edge_router_id}))}
    return listing([service.to_wire(r, names.get(r.identity_id), routers.get(r.edge_router_id)) for r in rows],
                   limit=page.limit, offset=page.offset, total=total)


@management.post("/enrollments", operation_id="createEnrollment", **answers(Created, 409), status_code=201)
def create_enrollment(body: EnrollmentCreate, db: DbSession, now: Now, runtime: RuntimeDep, settings: SettingsDep, _admin: AdminSession):
    identity = db.get(Identity, body.identity_id)
    if identity is None:
        raise CouldNotValidate.for_field("identityId", "no identity with this id", body.identity_id)
    enrollment = service.create(db, identity, body.method, now=now, expires_at=body.expires_at, settings=settings,
                                pki=runtime.pki, username=body.username, ca_id=body.ca_id)
    return created(enrollment.id, "enrollments")


@management.get("/enrollments/{id}", operation_id="detailEnrollment", **answers(EnrollmentDetail))
def detail_enrollment(id: str, db: DbSession, _admin: AdminSession):
    return ok(service.to_wire_any(db, service.get(db, id)))


@management.delete("/enrollments/{id}", operation_id="deleteEnrollment", **answers(Empty))
def delete_enrollment(id: str, db: DbSession, _admin: AdminSession):
    db.delete(service.get(db, id))
    return empty()


@management.post("/enrollments/{id}/refresh", operation_id="refreshEnrollment", **answers(Created, 409), status_code=200)
def refresh_enrollment(id: str, body: EnrollmentRefresh, db: DbSession, now: Now, runtime: RuntimeDep, settings: SettingsDep, _admin: AdminSession):
    enrollment = service.refresh(db, service.get(db, id), now=now, expires_at=body.expires_at, settings=settings, pki=runtime.pki)
    return created(enrollment.id, "enrollments", status=200)
