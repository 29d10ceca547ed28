"""Edge routers: CRUD, re-enroll, their wire detail, and /enroll/extend/router (a router replaces its two
certificates with its current client certificate; no verify step, the old certificate is invalid at once)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography import x509
from sqlalchemy import exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from controller.api.listing import Page, paginate
from controller.api.render import base_entity, fmt_time
from controller.zitiql.symbols import entity_symbols, scalar, set_of
from controller.enrollments import service as enrollments
from controller.errors import CouldNotValidate, NotFound, Unauthorized
from controller.ids import new_id
from controller.pki.certs import cert_pem, certs_pem, fingerprint, is_ca
from controller.pki.hierarchy import Pki
from controller.routers import signing
from controller.routers.schemas import EdgeRouterCreate, EdgeRouterPatch, EdgeRouterUpdate
from controller.settings import Settings
from controller.core import journal
from controller.policies.roles import remove_references, validate_role_attributes
from controller.core.clock import wall_clock
from controller.store.models import EdgeRouter, Enrollment, RouterConnection

# The real edge-router store's public symbols (management-model.md 1.8). `connected` and `online` are true for a
# router with a control-channel connection row (a row a dead replica left behind counts until it is replaced).
_HAS_CHANNEL = scalar(exists().where(RouterConnection.router_id == EdgeRouter.id), "bool", nullable=False, sortable=False)
FILTERABLE = entity_symbols(
    EdgeRouter, name=EdgeRouter.name, fingerprint=EdgeRouter.fingerprint, cost=EdgeRouter.cost,
    noTraversal=EdgeRouter.no_traversal, disabled=EdgeRouter.disabled, isVerified=EdgeRouter.is_verified,
    isTunnelerEnabled=EdgeRouter.is_tunneler_enabled, connected=_HAS_CHANNEL, online=_HAS_CHANNEL,
    roleAttributes=set_of(EdgeRouter.role_attributes),
)
_FIELDS = {"name": "name", "role_attributes": "role_attributes", "tags": "tags", "app_data": "app_data",
           "is_tunneler_enabled": "is_tunneler_enabled", "disabled": "disabled", "no_traversal": "no_traversal", "cost": "cost"}
_DEFAULTS = {"role_attributes": [], "tags": {}, "app_data": {}, "is_tunneler_enabled": False, "disabled": False,
             "no_traversal": False, "cost": 0}


def get(db: Session, router_id: str, *, for_update: bool = False) -> EdgeRouter:
    stmt = select(EdgeRouter).where(EdgeRouter.id == router_id)
    router = db.scalars(stmt.with_for_update() if for_update else stmt).one_or_none()
    if router is None:
        raise NotFound.for_id(router_id)
    return router


def list_page(db: Session, page: Page) -> tuple[list[EdgeRouter], int]:
    return paginate(db, select(EdgeRouter), page, FILTERABLE, EdgeRouter.name)


def _check_name_free(db: Session, name: str, own_id: str | None = None) -> None:
    existing = db.scalars(select(EdgeRouter).where(EdgeRouter.name == name)).one_or_none()
    if existing is not None and existing.id != own_id:
        raise CouldNotValidate.for_field("name", "name is must be unique", name)


def create(db: Session, body: EdgeRouterCreate, *, now: datetime, settings: Settings, pki: Pki) -> EdgeRouter:
    """A new, unverified router with an erott enrollment."""
    _check_name_free(db, body.name)
    validate_role_attributes("roleAttributes", body.role_attributes)
    values = {column: _DEFAULTS.get(field) for field, column in _FIELDS.items()}
    values.update({_FIELDS[k]: v for k, v in body.model_dump(by_alias=False).items() if v is not None})
    router = EdgeRouter(id=new_id(), is_verified=False, created_at=now, updated_at=now, **values)
    db.add(router)
    try:
        db.flush()
    except IntegrityError:
        raise CouldNotValidate.for_field("name", "name is must be unique", body.name) from None
    enrollments.create_for_router(db, router, now=now, settings=settings, pki=pki)
    return router


def update(db: Session, router: EdgeRouter, body: EdgeRouterUpdate | EdgeRouterPatch, *, now: datetime, partial: bool) -> None:
    fields = body.model_dump(exclude_unset=partial, by_alias=False)
    if fields.get("name") is not None:
        _check_name_free(db, fields["name"], router.id)
    validate_role_attributes("roleAttributes", fields.get("role_attributes"))
    for field, column in _FIELDS.items():
        if field not in fields:
            continue
        value = fields[field]
        if value is None and field == "name":
            continue
        setattr(router, column, _DEFAULTS.get(field) if value is None else value)
    router.updated_at = now


def delete(db: Session, router: EdgeRouter) -> None:
    remove_references(db, "edge-routers", router.id)
    db.delete(router)  # its enrollment goes with it (ON DELETE CASCADE)


def _enrollment_of(db: Session, router_id: str) -> Enrollment | None:
    return db.scalars(select(Enrollment).where(Enrollment.edge_router_id == router_id, Enrollment.method == "erott")).one_or_none()


def re_enroll(db: Session, router_id: str, *, now: datetime, settings: Settings, pki: Pki) -> Enrollment:
    """Back to unenrolled: certificates and fingerprint cleared, any outstanding enrollment replaced by a new one."""
    router = get(db, router_id, for_update=True)
    old_fingerprint = router.fingerprint
    existing = _enrollment_of(db, router.id)
    if existing is not None:
        db.delete(existing)
        db.flush()
    router.is_verified = False
    router.fingerprint = router.cert_pem = router.server_cert_pem = None
    router.unverified_fingerprint = router.unverified_cert_pem = None
    router.updated_at = now
    enrollment = enrollments.create_for_router(db, router, now=now, settings=settings, pki=pki)
    journal.record(db, kind="router-re-enroll", at=now, old_fingerprint=old_fingerprint,
                   detail={"edgeRouterId": router.id, "enrollmentId": enrollment.id})
    return enrollment


# --- /enroll/extend/router ----------------------------------------------------------------------------

@dataclass(frozen=True)
class RouterExtension:
    cert: str  # new client leaf + intermediates, no root
    server_cert: str  # new server leaf + intermediates, no root


def extend(
    db: Session, cert_csr: str, server_cert_csr: str, *, peer_certs: list[x509.Certificate], now: datetime,
    settings: Settings, pki: Pki, op: journal.Operation,
) -> RouterExtension:
    """The router is the one whose fingerprint is that of the last non-CA certificate on this TLS connection
    (no chain or expiry check, as in the real controller); otherwise 401. Both certificates are replaced at once."""
    leaf = next((c for c in reversed(peer_certs) if not is_ca(c)), None)
    if leaf is None:
        raise Unauthorized.with_reason("a router client certificate is required on the TLS connection")
    presented = fingerprint(leaf)
    op.old_fingerprint = presented
    router = db.scalars(select(EdgeRouter).where(EdgeRouter.fingerprint == presented).with_for_update()).one_or_none()
    if router is None:
        raise Unauthorized.with_reason("the client certificate is not the current certificate of any router")
    op.detail["edgeRouterId"] = router.id
    certs = signing.sign(router.id, cert_csr, server_cert_csr, now=now, settings=settings, pki=pki)
    new_fp = fingerprint(certs.client)
    # As in the real controller, certPem then holds the leaf only (enrollment stored the chain).
    router.fingerprint, router.cert_pem = new_fp, cert_pem(certs.client)
    server_chain = certs_pem(pki.chain_minus_root(certs.server))
    router.server_cert_pem, router.updated_at = server_chain, now
    journal.record(db, kind="router-extend", at=now, old_fingerprint=presented, new_fingerprint=new_fp,
                   detail={"edgeRouterId": router.id})
    return RouterExtension(certs_pem(pki.chain_minus_root(certs.client)), server_chain)


# --- wire ---------------------------------------------------------------------------------------------

def online_ids(db: Session, ids: list[str]) -> set[str]:
    """Routers with a live control channel on any replica (a row kept alive by the replica holding it)."""
    if not ids:
        return set()
    stmt = select(RouterConnection.router_id).where(RouterConnection.router_id.in_(ids), RouterConnection.alive_until > wall_clock())
    return set(db.scalars(stmt))


def _detail(router: EdgeRouter, enrollment: Enrollment | None, online: bool = False) -> dict[str, Any]:
    return {
        **base_entity(router, "edge-routers", **{
            "edge-router-policies": f"./edge-routers/{router.id}/edge-router-policies",
        }),
        "name": router.name,
        "roleAttributes": router.role_attributes,
        "appData": router.app_data,
        "isVerified": router.is_verified,
        "fingerprint": router.fingerprint,
        "certPem": router.cert_pem,
        "unverifiedFingerprint": router.unverified_fingerprint,
        "unverifiedCertPem": router.unverified_cert_pem,
        "isOnline": online,
        "hostname": "",
        "supportedProtocols": {},
        "syncStatus": "SYNC_UNKNOWN",
        "isTunnelerEnabled": router.is_tunneler_enabled,
        "disabled": router.disabled,
        "noTraversal": router.no_traversal,
        "cost": router.cost,
        "configs": [],
        "ctrlChanListeners": {},
        "interfaces": [],
        "enrollmentJwt": enrollment.jwt if enrollment else None,
        "enrollmentToken": enrollment.token if enrollment else None,
        "enrollmentCreatedAt": fmt_time(enrollment.created_at) if enrollment else None,
        "enrollmentExpiresAt": fmt_time(enrollment.expires_at) if enrollment else None,
    }


def to_wire_many(db: Session, routers: list[EdgeRouter]) -> list[dict[str, Any]]:
    ids = [r.id for r in routers]
    pending = {e.edge_router_id: e for e in db.scalars(
        select(Enrollment).where(Enrollment.edge_router_id.in_(ids), Enrollment.method == "erott"))} if ids else {}
    online = online_ids(db, ids)
    return [_detail(r, pending.get(r.id), r.id in online) for r in routers]


def to_wire(db: Session, router: EdgeRouter) -> dict[str, Any]:
    return to_wire_many(db, [router])[0]
