"""Annotated dependencies: the request's database transaction, the simulated `now`, the TLS peer
certificate, the runtime, and the authenticated API session (any identity, or an admin).

FastAPI runs every sync dependency (and each side of a sync generator) on the thread pool, a hop that costs
more than most of these functions. So: pure ones are `async def`; the transaction opens and reads the sim
row (clock + policy) in one hop; only what waits on the database stays sync.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from cryptography import x509
from fastapi import Depends, Request
from sqlalchemy.orm import Session

from controller.api.listing import Page, page_from_query, with_roles
from controller.errors import ApiError, Unauthorized
from controller.runtime import Runtime
from controller.sessions.service import SessionContext, require_admin, resolve
from controller.settings import Settings
from controller.sim import clock, policy
from controller.store.models import SimClock


async def get_runtime(request: Request) -> Runtime:
    return request.app.state.runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


@dataclass(frozen=True)
class Transaction:
    db: Session
    sim: SimClock  # the clock and the policy overrides, read once
    # The API session named by the zt-session header, resolved in the same thread hop as the rest (or the
    # error that resolving it gave, raised only by routes that need a session).
    session: SessionContext | None = None
    session_error: ApiError | None = None


def get_transaction(request: Request, runtime: RuntimeDep) -> Iterator[Transaction]:
    """The request owns the transaction: commit after the route returns (before the answer is sent),
    roll back on any error, so every state change is all or nothing."""
    db = runtime.sessions()
    try:
        sim = clock.row(db)
        token = request.headers.get("zt-session")
        session, session_error = None, None
        if token:
            settings = policy.effective(runtime.settings, sim)
            try:
                session = resolve(db, token, now=clock.now_of(sim), timeout=settings.session_timeout)
                request.state.identity_id = session.identity.id  # for the access log
            except ApiError as error:
                session_error = error
        yield Transaction(db, sim, session, session_error)
        db.commit()
    except BaseException:
        db.rollback()
        raise
    finally:
        db.close()


TransactionDep = Annotated[Transaction, Depends(get_transaction, scope="function")]


async def get_db(tx: TransactionDep) -> Session:
    return tx.db


DbSession = Annotated[Session, Depends(get_db)]


async def get_now(tx: TransactionDep) -> datetime:
    return clock.now_of(tx.sim)


Now = Annotated[datetime, Depends(get_now)]


async def get_settings(runtime: RuntimeDep, tx: TransactionDep) -> Settings:
    """The configured settings with the simulation's policy overrides (lifetimes, expired-cert rule)."""
    return policy.effective(runtime.settings, tx.sim)


SettingsDep = Annotated[Settings, Depends(get_settings)]


@dataclass(frozen=True)
class PeerCertificates:
    """The certificates the client presented on this request's own TLS connection (leaf first)."""

    certs: list[x509.Certificate]
    chain_complete: bool

    @property
    def leaf(self) -> x509.Certificate | None:
        return self.certs[0] if self.certs else None


async def get_peer_certs(request: Request) -> PeerCertificates:
    tls = request.scope.get("extensions", {}).get("tls") or {}
    return PeerCertificates(list(tls.get("ziti.peer_certs") or []), bool(tls.get("ziti.chain_complete")))


PeerCerts = Annotated[PeerCertificates, Depends(get_peer_certs)]


def client_ip(request: Request) -> str:
    return request.client.host if request.client else ""


async def get_current_session(tx: TransactionDep) -> SessionContext:
    """401 UNAUTHORIZED without a valid session (resolved by the transaction; no thread hop of its own)."""
    if tx.session_error is not None:
        raise tx.session_error
    if tx.session is None:
        raise Unauthorized()
    return tx.session


async def get_admin_session(context: Annotated[SessionContext, Depends(get_current_session)]) -> SessionContext:
    return require_admin(context)


async def get_list_page(request: Request) -> Page:
    page = page_from_query(dict(request.query_params))
    return with_roles(page, request.query_params.getlist("roleFilter"), request.query_params.get("roleSemantic"))


CurrentSession = Annotated[SessionContext, Depends(get_current_session)]
AdminSession = Annotated[SessionContext, Depends(get_admin_session)]
ListPage = Annotated[Page, Depends(get_list_page)]
