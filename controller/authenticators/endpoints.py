"""Self-service authenticators (both APIs), extend and extend-verify, and the admin authenticator routes."""

from __future__ import annotations

from fastapi import APIRouter, Request

from controller.api.contract import Created, Empty, answers
from controller.api.deps import (
    AdminSession, CurrentSession, DbSession, ListPage, Now, RequestContext, RuntimeDep, SessionFirstRoute, SettingsDep,
    in_transaction,
)
from controller.api.envelope import created, empty, listing, ok
from controller.api.routing import deferred_router
from controller.authenticators import service
from controller.authenticators.schemas import (
    AuthenticatorCreate, AuthenticatorDetail, AuthenticatorPatch, AuthenticatorPatchWithCurrent, AuthenticatorUpdate,
    AuthenticatorUpdateWithCurrent, ExtendRequest, ExtendResult, ExtendVerifyRequest, ReEnroll, RequestExtend,
)
from controller.core import journal

current = APIRouter(route_class=SessionFirstRoute)
management = deferred_router()


@current.get("/current-identity/authenticators", operation_id="listCurrentIdentityAuthenticators", **answers(AuthenticatorDetail, many=True))
def list_current_identity_authenticators(db: DbSession, context: CurrentSession, page: ListPage):
    rows, total = service.list_page(db, page, identity_id=context.identity.id)
    return listing(service.to_wire_many(db, rows), limit=page.limit, offset=page.offset, total=total)


@current.get("/current-identity/authenticators/{id}", operation_id="detailCurrentIdentityAuthenticator", **answers(AuthenticatorDetail))
def detail_current_identity_authenticator(id: str, db: DbSession, context: CurrentSession):
    authenticator = service.get_own(db, context.identity, id)
    return ok(service.to_wire(authenticator, context.identity.name))


@current.put("/current-identity/authenticators/{id}", operation_id="updateCurrentIdentityAuthenticator", **answers(Empty, 409))
def update_current_identity_authenticator(
    id: str, body: AuthenticatorUpdateWithCurrent, db: DbSession, now: Now, settings: SettingsDep, context: CurrentSession,
):
    service.update_own_password(db, context.identity, id, current_password=body.current_password, username=body.username,
                                password=body.password, tags=body.tags, now=now,
                                hash_cost=settings.effective_password_hash_cost)
    return empty()


@current.patch("/current-identity/authenticators/{id}", operation_id="patchCurrentIdentityAuthenticator", **answers(Empty, 409))
def patch_current_identity_authenticator(
    id: str, body: AuthenticatorPatchWithCurrent, db: DbSession, now: Now, settings: SettingsDep, context: CurrentSession,
):
    service.update_own_password(db, context.identity, id, current_password=body.current_password, username=body.username,
                                password=body.password, tags=body.tags, now=now,
                                hash_cost=settings.effective_password_hash_cost)
    return empty()


@current.post(
    "/current-identity/authenticators/{id}/extend", operation_id="extendCurrentIdentityAuthenticator", **answers(ExtendResult, 401, 409),
    summary="Sign a CSR for a new certificate; it stays pending until extend-verify",
)
async def extend_current_identity_authenticator(id: str, body: ExtendRequest, request: Request):
    def work(tx: RequestContext) -> service.Extension:  # a hot route: one thread hop (see in_transaction)
        identity = tx.identity_session.identity
        with journal.failures_recorded(tx.runtime.sessions, tx.db, "extend", identity_id=identity.id, authenticator_id=id) as op:
            return service.extend(tx.db, identity, id, body.client_cert_csr, peer_certs=tx.peer.certs, now=tx.now,
                                  settings=tx.settings, pki=tx.runtime.pki, op=op)

    result = await in_transaction(request, work)
    return ok({"clientCert": result.client_cert, "ca": result.ca})


@current.post(
    "/current-identity/authenticators/{id}/extend-verify", operation_id="extendVerifyCurrentIdentityAuthenticator", **answers(Empty, 401, 409),
    summary="Confirm receipt of the extended certificate; it replaces the old one at once",
)
async def extend_verify_current_identity_authenticator(id: str, body: ExtendVerifyRequest, request: Request):
    def work(tx: RequestContext) -> None:  # a hot route: one thread hop (see in_transaction)
        identity = tx.identity_session.identity
        with journal.failures_recorded(tx.runtime.sessions, tx.db, "extend-verify", identity_id=identity.id, authenticator_id=id) as op:
            service.verify_extension(tx.db, identity, id, body.client_cert, now=tx.now, op=op)

    await in_transaction(request, work)
    return empty()


@management.get("/authenticators", operation_id="listAuthenticators", **answers(AuthenticatorDetail, many=True))
def list_authenticators(db: DbSession, _admin: AdminSession, page: ListPage):
    rows, total = service.list_page(db, page)
    return listing(service.to_wire_many(db, rows), limit=page.limit, offset=page.offset, total=total)


@management.post("/authenticators", operation_id="createAuthenticator", **answers(Created, 409), status_code=201)
def create_authenticator(body: AuthenticatorCreate, db: DbSession, now: Now, runtime: RuntimeDep, _admin: AdminSession):
    authenticator = service.create(db, body, now=now, pki=runtime.pki, hash_cost=runtime.settings.effective_password_hash_cost)
    return created(authenticator.id, "authenticators")


@management.get("/authenticators/{id}", operation_id="detailAuthenticator", **answers(AuthenticatorDetail))
def detail_authenticator(id: str, db: DbSession, _admin: AdminSession):
    return ok(service.to_wire_many(db, [service.get(db, id)])[0])


@management.put("/authenticators/{id}", operation_id="updateAuthenticator", **answers(Empty, 409))
def update_authenticator(id: str, body: AuthenticatorUpdate, db: DbSession, now: Now, settings: SettingsDep, _admin: AdminSession):
    service.update(db, service.get(db, id), body, now=now, hash_cost=settings.effective_password_hash_cost)
    return empty()


@management.patch("/authenticators/{id}", operation_id="patchAuthenticator", **answers(Empty, 409))
def patch_authenticator(id: str, body: AuthenticatorPatch, db: DbSession, now: Now, settings: SettingsDep, _admin: AdminSession):
    service.update(db, service.get(db, id), body, now=now, hash_cost=settings.effective_password_hash_cost)
    return empty()


@management.delete("/authenticators/{id}", operation_id="deleteAuthenticator", **answers(Empty, 409))
def delete_authenticator(id: str, db: DbSession, _admin: AdminSession):
    service.delete(db, service.get(db, id))
    return empty()


@management.post("/authenticators/{id}/request-extend", operation_id="requestExtendAuthenticator", **answers(Empty, 409))
def request_extend_authenticator(id: str, body: RequestExtend, db: DbSession, now: Now, runtime: RuntimeDep, _admin: AdminSession):
    with journal.failures_recorded(runtime.sessions, db, "request-extend", authenticator_id=id):
        service.request_extend(db, id, roll_keys=body.roll_keys, now=now)
    return empty()


@management.post("/authenticators/{id}/re-enroll", operation_id="reEnrollAuthenticator", **answers(Created, 409), status_code=201)
def re_enroll_authenticator(id: str, body: ReEnroll, db: DbSession, now: Now, runtime: RuntimeDep, settings: SettingsDep, _admin: AdminSession):
    enrollment = service.re_enroll(db, id, expires_at=body.expires_at, now=now, settings=settings, pki=runtime.pki)
    return created(enrollment.id, "enrollments")
