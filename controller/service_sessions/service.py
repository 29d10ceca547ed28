"""Client sessions (`POST /sessions`): the real ordered checks, reuse per (API session, type, service), the
201 shape with the session's edge routers, and the caller-scoped reads and deletes.

Edge routers have no data plane here. A router is advertised at `tls://<first DNS SAN of its server
certificate>:3022` (the edge listener's usual port) and reported offline; an SDK that dials finds nothing
listening there and, after its connect timeout, reports a timeout (the C SDK: ZITI_TIMEOUT).
"""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime
from typing import Any

from cryptography import x509
from sqlalchemy import select
from sqlalchemy.orm import Session

from controller.api.listing import Page, paginate
from controller.api.render import base_entity, entity_ref, links
from controller.errors import ApiError, CouldNotValidate, NotFound
from controller.ids import new_id
from controller.policies import roles
from controller.sessions.service import SessionContext
from controller.store.models import EdgeRouter, Identity, Service, ServicePolicy, ServiceSession

EDGE_PORT = 3022
MAX_SESSION_ROUTERS = 25
FILTERABLE = {"id": ServiceSession.id, "token": ServiceSession.token, "apiSession": ServiceSession.api_session_id,
              "service": ServiceSession.service_id, "type": ServiceSession.session_type,
              "createdAt": ServiceSession.created_at, "updatedAt": ServiceSession.updated_at, "tags": ServiceSession.tags}

NoEdgeRoutersAvailable = type("NoEdgeRoutersAvailable", (ApiError,), {
    "code": "NO_EDGE_ROUTERS_AVAILABLE", "status": 400,
    "message": "No edge routers are assigned and online to handle the requested connection"})


def router_hostname(router: EdgeRouter) -> str:
    if not router.server_cert_pem:
        return ""
    try:
        cert = x509.load_pem_x509_certificate(router.server_cert_pem.encode())
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
    except (ValueError, x509.ExtensionNotFound):
        return ""
    return names[0] if names else ""


def common_router(router: EdgeRouter) -> dict[str, Any]:
    hostname = router_hostname(router)
    protocols = {"tls": f"tls://{hostname}:{EDGE_PORT}"} if hostname else {}
    return {"name": router.name, "hostname": hostname, "isOnline": False, "supportedProtocols": protocols,
            "syncStatus": "SYNC_UNKNOWN", "cost": router.cost, "noTraversal": router.no_traversal,
            "disabled": router.disabled, "urls": dict(protocols)}


def current_identity_router(router: EdgeRouter) -> dict[str, Any]:
    data = {**base_entity(router, "edge-routers"), **common_router(router), "appData": router.app_data or {}}
    data.pop("urls")
    return data


def session_routers(db: Session, identity: Identity, service: Service, *, limit: int | None = MAX_SESSION_ROUTERS
                    ) -> list[EdgeRouter]:
    """The routers `identity` may use for `service` (edge-router-policies ∩ service-edge-router-policies), by
    name; a session lists at most MAX_SESSION_ROUTERS of them."""
    ids = roles.session_router_ids(db, identity, service)
    if not ids:
        return []
    return list(db.scalars(select(EdgeRouter).where(EdgeRouter.id.in_(sorted(ids))).order_by(EdgeRouter.name).limit(limit)))


def create(db: Session, context: SessionContext, *, service_id: str | None, session_type: str | None,
           tags: dict[str, Any] | None, now: datetime) -> ServiceSession:
    """The real order: reuse, service visible (404), permission for the type (400), posture (none are
    simulated, so it passes), a shared edge router (400 NO_EDGE_ROUTERS_AVAILABLE), create."""
    session_type = session_type or "Dial"
    identity = context.identity
    existing = db.scalars(select(ServiceSession).where(
        ServiceSession.api_session_id == context.session.id, ServiceSession.session_type == session_type,
        ServiceSession.service_id == (service_id or ""))).one_or_none()
    if existing is not None:
        return existing
    service = db.get(Service, service_id) if service_id else None
    if service is None:
        raise NotFound.with_reason(f"service with id {service_id} not found")
    dial = roles.granting_policies(db, identity, service, roles.DIAL)
    bind = roles.granting_policies(db, identity, service, roles.BIND)
    if not (dial or bind or identity.is_admin):
        raise NotFound.with_reason(f"service with id {service_id} not found")
    granting = {"Dial": dial, "Bind": bind}.get(session_type, [])
    if not granting:
        raise CouldNotValidate(cause={"field": "ServiceId", "reason": "service not found", "value": service_id})
    if not roles.session_router_ids(db, identity, service):
        raise NoEdgeRoutersAvailable()
    row = ServiceSession(id=new_id(), token=str(uuid.UUID(bytes=secrets.token_bytes(16), version=4)),
                         api_session_id=context.session.id, identity_id=identity.id, service_id=service.id,
                         session_type=session_type, service_policies=[p.id for p in granting], tags=tags or {},
                         created_at=now, updated_at=now)
    db.add(row)
    db.flush()
    return row


def _scoped(stmt: Any, identity: Identity) -> Any:
    return stmt if identity.is_admin else stmt.where(ServiceSession.identity_id == identity.id)


def get(db: Session, identity: Identity, session_id: str) -> ServiceSession:
    row = db.scalars(_scoped(select(ServiceSession).where(ServiceSession.id == session_id), identity)).one_or_none()
    if row is None:
        raise NotFound.for_id(session_id)
    return row


def list_page(db: Session, identity: Identity, page: Page) -> tuple[list[ServiceSession], int]:
    return paginate(db, _scoped(select(ServiceSession), identity), page, FILTERABLE, ServiceSession.id)


def delete(db: Session, row: ServiceSession) -> None:
    db.delete(row)


def to_wire(db: Session, row: ServiceSession) -> dict[str, Any]:
    service = db.get(Service, row.service_id)
    identity = db.get(Identity, row.identity_id)
    policy_names = dict(db.execute(select(ServicePolicy.id, ServicePolicy.name)
                                   .where(ServicePolicy.id.in_(list(row.service_policies or [])))).all())
    api_session = entity_ref("api-sessions", row.api_session_id, "")
    data = {
        **base_entity(row, "sessions"),
        "type": row.session_type,
        "token": row.token,
        "apiSessionId": row.api_session_id,
        "apiSession": api_session,
        "serviceId": row.service_id,
        "service": entity_ref("services", row.service_id, service.name if service else None),
        "identityId": row.identity_id,
        "servicePolicies": [entity_ref("service-policies", pid, policy_names.get(pid)) for pid in row.service_policies or []
                            if pid in policy_names],
        "edgeRouters": [common_router(r) for r in session_routers(db, identity, service)] if service and identity else [],
    }
    data["_links"] = {**links("sessions", row.id), "route-path": {"href": f"./sessions/{row.id}/route-path"}}
    return data

