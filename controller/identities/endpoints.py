"""GET /current-identity (both APIs) and the management identity routes."""

from __future__ import annotations

from fastapi import APIRouter

from controller.api.deps import AdminSession, CurrentSession, DbSession, ListPage, Now, RuntimeDep, SettingsDep
from controller.api.envelope import created, empty, listing, ok
from controller.authenticators import service as authenticators
from controller.enrollments import service as enrollments
from controller.identities import service
from controller.policies.deps import RoleQueryDep
from controller.policies.roles import IDENTITIES
from controller.identities.schemas import IdentityCreate, IdentityPatch, IdentityUpdate
from controller.store.models import Enrollment

current = APIRouter()
management = APIRouter()


@current.get("/current-identity", operation_id="getCurrentIdentity", summary="The caller's identity")
def get_current_identity(db: DbSession, context: CurrentSession):
    return ok(service.to_wire(db, context.identity))


@management.get("/identities", operation_id="listIdentities")
def list_identities(db: DbSession, _admin: AdminSession, page: ListPage, role_query: RoleQueryDep):
    rows, total = service.list_page(db, page, ids=role_query.ids(db, IDENTITIES))
    return listing(service.to_wire_many(db, rows), limit=page.limit, offset=page.offset, total=total)


@management.post("/identities", operation_id="createIdentity", status_code=201)
def create_identity(body: IdentityCreate, db: DbSession, now: Now, runtime: RuntimeDep, settings: SettingsDep, _admin: AdminSession):
    identity = service.create(db, body, now=now, settings=settings, pki=runtime.pki)
    return created(identity.id, "identities")


@management.get("/identities/{id}", operation_id="detailIdentity")
def detail_identity(id: str, db: DbSession, _admin: AdminSession):
    return ok(service.to_wire(db, service.get(db, id)))


@management.put("/identities/{id}", operation_id="updateIdentity")
def update_identity(id: str, body: IdentityUpdate, db: DbSession, now: Now, _admin: AdminSession):
    service.update(db, service.get(db, id), body, now=now, partial=False)
    return empty()


@management.patch("/identities/{id}", operation_id="patchIdentity")
def patch_identity(id: str, body: IdentityPatch, db: DbSession, now: Now, _admin: AdminSession):
    service.update(db, service.get(db, id), body, now=now, partial=True)
    return empty()


@management.delete("/identities/{id}", operation_id="deleteIdentity")
def delete_identity(id: str, db: DbSession, _admin: AdminSession):
    service.delete(db, service.get(db, id))
    return empty()


@management.get("/identities/{id}/authenticators", operation_id="getIdentityAuthenticators")
def get_identity_authenticators(id: str, db: DbSession, _admin: AdminSession, page: ListPage):
    identity = service.get(db, id)
    rows, total = authenticators.list_page(db, page, identity_id=identity.id)
    return listing(authenticators.to_wire_many(db, rows), limit=page.limit, offset=page.offset, total=total)


@management.get("/identities/{id}/enrollments", operation_id="getIdentityEnrollments")
def get_identity_enrollments(id: str, db: DbSession, _admin: AdminSession):
    identity = service.get(db, id)
    rows = list(db.query(Enrollment).filter(Enrollment.identity_id == identity.id).order_by(Enrollment.created_at))
    return listing([enrollments.to_wire(e, identity) for e in rows], limit=len(rows) or 10, offset=0, total=len(rows))
