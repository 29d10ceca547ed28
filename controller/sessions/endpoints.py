"""POST /authenticate, GET and DELETE /current-api-session."""

from __future__ import annotations

from typing import Literal

from fastapi import Request

from controller.api.contract import Empty, answers
from controller.api.deps import CurrentSession, DbSession, RequestContext, client_ip, in_transaction
from controller.api.envelope import empty, ok
from controller.api.routing import deferred_router
from controller.errors import InvalidAuthMethod
from controller.pki.certs import fingerprint
from controller.sessions import service
from controller.sessions.schemas import ApiSessionDetail, AuthenticateRequest
from controller.core import journal

router = deferred_router()

EXTEND_REQUESTED_HEADER = "ziti-authenticator-extend-requested"


@router.post("/authenticate", operation_id="authenticate", **answers(ApiSessionDetail, 401), summary="Log in by password or client certificate")
async def authenticate(request: Request, method: Literal["password", "cert", "ext-jwt"], body: AuthenticateRequest | None = None):
    client = service.ClientInfo(client_ip(request), body.model_dump(by_alias=True, exclude_none=True) if body else {})
    return await in_transaction(request, lambda tx: _authenticate(tx, method, client), require_session=False)


def _authenticate(tx: RequestContext, method: str, client: service.ClientInfo):
    """A hot route (cert login): one thread hop, see in_transaction."""
    db, now, runtime, settings, peer = tx.db, tx.now, tx.runtime, tx.settings, tx.peer
    with journal.failures_recorded(runtime.sessions, db, "authenticate", detail={"method": method}) as op:
        if method == "password":
            login = service.authenticate_password(db, client.body, client, now=now, timeout=settings.session_timeout)
        elif method == "cert":
            if peer.leaf is not None:
                op.old_fingerprint = fingerprint(peer.leaf)
            login = service.authenticate_cert(
                db, peer.certs, peer.chain_complete, client, pki=runtime.pki, now=now,
                timeout=settings.session_timeout, allow_expired=settings.allow_expired_certs,
            )
        else:
            raise InvalidAuthMethod.with_reason("ext-jwt authentication is not simulated")
    context, authenticator = login.context, login.authenticator
    journal.record(db, kind="authenticate", at=now, identity_id=context.identity.id,
                   authenticator_id=authenticator.id if authenticator else context.session.authenticator_id,
                   old_fingerprint=authenticator.fingerprint if authenticator and method == "cert" else None,
                   detail={"method": method, "sessionId": context.session.id})
    response = ok(service.detail(db, context), headers={"zt-session": context.session.token})
    if authenticator is not None and method == "cert":
        if authenticator.is_extend_requested:
            response.headers.append(EXTEND_REQUESTED_HEADER, "true")
        if authenticator.is_key_roll_requested and settings.compat_duplicate_key_roll_header:
            # The real key-roll header constant has the same name as the extend one, so it appears twice.
            response.headers.append(EXTEND_REQUESTED_HEADER, "true")
    return response


@router.get("/current-api-session", operation_id="getCurrentAPISession", **answers(ApiSessionDetail, 401), summary="The caller's API session")
async def get_current_api_session(request: Request):
    return ok(await in_transaction(request, lambda tx: service.detail(tx.db, tx.identity_session)))


@router.delete("/current-api-session", operation_id="deleteCurrentApiSession", **answers(Empty), summary="Log out")
def delete_current_api_session(db: DbSession, context: CurrentSession):
    service.logout(db, context)
    return empty()
