"""GET /current-identity (both APIs) and the management identity routes."""

from __future__ import annotations

from controller.api.contract import Created, Empty, answers
from controller.api.routing import deferred_router
from controller.authenticators.schemas import AuthenticatorDetail
from controller.enrollments.schemas import EnrollmentDetail
from controller.api.deps import AdminSession, CurrentSession, DbSession, ListPage, Now, RuntimeDep, SettingsDep
from controller.api.envelope import created, empty, listing, ok
from controller.authenticators import service as authenticators
from controller.enrollments import service as enrollments
from controller.identities import service
from controller.identities.schemas import IdentityCreate, IdentityDetail, IdentityPatch, IdentityUpdate
from controller.store.models import Enrollment

current = deferred_router()
management = deferred_router()


@current.get("/current-identity", operation_id="getCurrentIdentity", **answers(IdentityDetail), summary="The caller's identity")
def get_current_identity(db: DbSession, context: CurrentSession):
    return ok(service.to_wire(db, context.identity))


@management.get("/identities", operation_id="listIdentities", **answers(IdentityDetail, many=True))
def list_identities(db: DbSession, _admin: AdminSession, page: ListPage):
    rows, total = service.list_page(db, page)
    return listing(service.to_wire_many(db, rows), limit=page.limit, offset=page.offset, total=total)


@management.post("/identities", operation_id="createIdentity", **answers(Created, 409), status_code=201)
def create_identity(body: IdentityCreate, db: DbSession, now: Now, runtime: RuntimeDep, settings: SettingsDep, _admin: AdminSession):
    identity = service.create(db, body, now=now, settings=settings, pki=runtime.pki)
    return created(identity.id, "identities")


@management.get("/identities/{id}", operation_id="detailIdentity", **answers(IdentityDetail))
def detail_identity(id: str, db: DbSession, _admin: AdminSession):
    return ok(service.to_wire(db, service.get(db, id)))


@management.put("/identities/{id}", operation_id="updateIdentity", **answers(Empty, 409))
def update_identity(id: str, body: IdentityUpdate, db: DbSession, now: Now, _admin: AdminSession):
    service.update(db, service.get(db, id), body, now=now, partial=False)
    return empty()


@management.patch("/identities/{id}", operation_id="patchIdentity", **answers(Empty, 409))
def patch_identity(id: str, body: IdentityPatch, db: DbSession, now: Now, _admin: AdminSession):
    service.update(db, service.get(db, id), body, now=now, partial=True)
    return empty()


@management.delete("/identities/{id}", operation_id="deleteIdentity", **answers(Empty, 409))
def delete_identity(id: str, db: DbSession, _admin: AdminSession):
    service.delete(db, service.get(db, id))
    return empty()


@management.get("/identities/{id}/authenticators", operation_id="getIdentityAuthenticators", **answers(AuthenticatorDetail, many=True))
def get_identity_authenticators(id: str, db: DbSession, _admin: AdminSession, page: ListPage):
    identity = service.get(db, id)
    rows, total = authenticators.list_page(db, page, identity_id=identity.id)
    return listing(authenticators.to_wire_many(db, rows), limit=page.limit, offset=page.offset, total=total)


@management.get("/identities/{id}/enrollments", operation_id="getIdentityEnrollments", **answers(EnrollmentDetail, many=True))
def get_identity_enrollments(id: str, db: DbSession, _admin: AdminSession):
    identity = service.get(db, id)
    rows = list(db.query(Enrollment).filter(Enrollment.identity_id == identity.id).order_by(Enrollment.created_at))
    return listing([enrollments.to_wire(e, identity) for e in rows], limit=len(rows) or 10, offset=0, total=len(rows))
