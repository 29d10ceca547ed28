"""Annotated dependencies: the request's database transaction, the simulated `now`, the TLS peer
certificate, the runtime, and the authenticated API session (any identity, or an admin).

FastAPI runs every sync dependency (and each side of a sync generator) on the thread pool, a hop that costs
more than most of these functions. So: pure ones are `async def`; the transaction opens and reads the sim
row (clock + policy) in one hop; only what waits on the database stays sync.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from time import monotonic
from typing import Annotated, TypeVar

import anyio

from cryptography import x509
from fastapi import Depends, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from controller.api.listing import DEFAULT_LIMIT, MAX_LIMIT, MAX_OFFSET, MAX_QUERY_INTEGER, Page
from controller.errors import ApiError, NotFound, Unauthorized
from controller.runtime import Runtime
from controller.sessions import repository as session_repository
from controller.sessions.service import SessionContext, SessionNeedsWrite, require_admin, resolve
from controller.settings import Settings
from controller.core import clock, policy
from controller.sim.faults import FAULT_GATE
from controller.store.db import READ_ONLY, reads_without_waiting
from controller.store.models import SimClock


async def get_runtime(request: Request) -> Runtime:
    return request.app.state.runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


@dataclass(frozen=True)
class Transaction:
    db: Session
    sim: SimClock  # the clock and the policy overrides, read once (a read-only record: controller.store.records)
    # The API session named by the zt-session header, resolved in the same thread hop as the rest (or the
    # error that resolving it gave, raised only by routes that need a session).
    session: SessionContext | None = None
    session_error: ApiError | None = None


READ_METHODS = frozenset({"GET", "HEAD"})
T = TypeVar("T")


def _open(runtime: Runtime, request: Request, *, read_only: bool) -> tuple[Session, SimClock, SessionContext | None, ApiError | None]:
    """Begin the transaction, read the sim row and resolve the API session. Nothing has been written yet,
    so a connection found dropped (PostgreSQL restarted: no ping on checkout) is retried once."""
    for attempt in (1, 2):
        db = runtime.sessions()
        if read_only:
            db.connection(execution_options={READ_ONLY: True})
        try:
            token = request.headers.get("zt-session") or None
            session, session_error = None, None
            read_at = monotonic()
            loaded, found = session_repository.clock_and_session(db, token)  # one statement, with or without a token
            sim = loaded if loaded is not None else clock.row(db)
            _admit_by_fault_rules(request, sim, read_at)
            if token:
                settings = policy.effective(runtime.settings, sim)
                try:
                    session = resolve(db, found, now=clock.now_of(sim), timeout=settings.session_timeout, read_only=read_only)
                except ApiError as error:
                    session_error = error
            return db, sim, session, session_error
        except DBAPIError as error:
            db.close()
            if attempt == 2 or not error.connection_invalidated:
                raise
        except BaseException:
            db.close()
            raise
    raise AssertionError("unreachable")


def _admit_by_fault_rules(request: Request, sim: SimClock, read_at: float) -> None:
    """The sim row counts the fault rules: a request let through because this process believed there were
    none stops here if there are (nothing written yet), and the fault middleware replays it once it has
    decided its fault (controller.sim.faults). No gate: the simulation API is off."""
    gate = request.scope.get(FAULT_GATE)
    if gate is not None:
        gate.admit(sim.fault_rules, read_at)


def _begin(runtime: Runtime, request: Request, *, on_loop: bool = False,
           ) -> tuple[Session, SimClock, SessionContext | None, ApiError | None]:
    """`_open` for this request: a GET or HEAD reads only (on SQLite: no write lock), unless resolving its API
    session must write (see controller.sessions.service). Notes the identity for the access log.
    `on_loop`: the caller is the event loop, which must not wait for the write lock (SessionNeedsWrite)."""
    try:
        db, sim, session, session_error = _open(runtime, request, read_only=request.method in READ_METHODS)
    except SessionNeedsWrite:
        if on_loop:
            raise
        db, sim, session, session_error = _open(runtime, request, read_only=False)
    if session is not None:
        request.state.identity_id = session.identity.id
    return db, sim, session, session_error


def get_transaction(request: Request, runtime: RuntimeDep) -> Iterator[Transaction]:
    """The request owns the transaction: commit after the route returns (before the answer is sent),
    roll back on any error, so every state change is all or nothing."""
    db, sim, session, session_error = _begin(runtime, request)
    try:
        yield Transaction(db, sim, session, session_error)
        db.commit()
    except BaseException:
        db.rollback()
        raise
    finally:
        db.close()


TransactionDep = Annotated[Transaction, Depends(get_transaction, scope="function")]


@dataclass(frozen=True)
class RequestContext:
    """What a hot route needs, in one object instead of 8-9 injected parameters (see `in_transaction`)."""

    db: Session
    sim: SimClock
    session: SessionContext | None
    runtime: Runtime
    request: Request

    @property
    def now(self) -> datetime:
        return clock.now_of(self.sim)

    @property
    def settings(self) -> Settings:
        return policy.effective(self.runtime.settings, self.sim)

    @property
    def identity_session(self) -> SessionContext:
        assert self.session is not None  # in_transaction(require_session=True) guarantees it
        return self.session

    @property
    def peer(self) -> PeerCertificates:
        return peer_certs_of(self.request)


async def in_transaction(request: Request, work: Callable[[RequestContext], T], *, require_session: bool = True) -> T:
    """The hot routes (extend, extend-verify, cert login, the session detail): open the transaction, resolve
    the API session, run `work` and commit, all in ONE thread hop (the dependency path takes three: the
    transaction's setup, the sync route, the teardown). Same rules as `get_transaction`: one transaction,
    rolled back on any error; GET/HEAD read only.

    A read-only one on SQLite (settings.sqlite_on_loop) runs on the event loop itself: WAL readers never wait
    for a lock, and the hop (a worker thread woken, then the loop woken by it, each taking the GIL) cost more
    CPU than the whole read. Writes keep the hop: run on the loop, they were cheaper under concurrency but
    starved the worker threads holding SQLite's write queue (p99 at 32 clients went from 0.6 s to 2-3 s)."""
    runtime: Runtime = request.app.state.runtime

    if request.method in READ_METHODS and runtime.settings.sqlite_on_loop and reads_without_waiting(runtime.engine):
        try:
            return run_transaction(runtime, request, work, require_session=require_session, on_loop=True)
        except SessionNeedsWrite:
            pass  # its sliding expiry must be written: on a worker thread, like any write
    return await anyio.to_thread.run_sync(
        functools.partial(run_transaction, runtime, request, work, require_session=require_session))


def run_transaction(runtime: Runtime, request: Request, work: Callable[[RequestContext], T], *,
                    require_session: bool, on_loop: bool = False) -> T:
    """`in_transaction`'s body: begin, resolve the session, run `work`, commit (roll back on any error)."""
    db, sim, session, session_error = _begin(runtime, request, on_loop=on_loop)
    try:
        if session is None and require_session:
            raise session_error or Unauthorized()
        result = work(RequestContext(db, sim, session, runtime, request))
        db.commit()
        return result
    except BaseException:
        db.rollback()
        raise
    finally:
        db.close()


def _session_error(runtime: Runtime, request: Request) -> ApiError | None:
    """Why the request has no valid API session (None if it has one), reading only."""
    try:
        db, _sim, session, error = _open(runtime, request, read_only=True)
    except SessionNeedsWrite as needs:
        return Unauthorized() if needs.expired else None
    db.close()
    return None if session is not None else (error or Unauthorized())


class SessionFirstRoute(APIRoute):
    """For routers whose every route needs a session, some of them hot (`in_transaction` resolves the session
    inside the route, after FastAPI validated the body): a request with an invalid body AND no valid session
    is answered 401, as the real controller checks the session first. Costs a thread hop on that path only."""

    def get_route_handler(self) -> Callable:
        handler = super().get_route_handler()

        async def session_first(request: Request):  # noqa: ANN202
            try:
                return await handler(request)
            except RequestValidationError:
                error = await anyio.to_thread.run_sync(_session_error, request.app.state.runtime, request)
                if error is not None:
                    raise error from None
                raise

        return session_first


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


def peer_certs_of(request: Request) -> PeerCertificates:
    tls = request.scope.get("extensions", {}).get("tls") or {}
    return PeerCertificates(list(tls.get("ziti.peer_certs") or []), bool(tls.get("ziti.chain_complete")))


async def get_peer_certs(request: Request) -> PeerCertificates:
    return peer_certs_of(request)


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


async def get_list_page(
    limit: Annotated[int | None, Query(ge=0, le=MAX_QUERY_INTEGER, description=f"page size; 0 or absent means {DEFAULT_LIMIT}, at most {MAX_LIMIT} are returned")] = None,
    offset: Annotated[int | None, Query(ge=0, le=MAX_QUERY_INTEGER, description=f"entities to skip (capped at {MAX_OFFSET})")] = None,
    filter: Annotated[str | None, Query(description='a ZitiQL filter, e.g. name contains "x" and tags.app != null')] = None,  # noqa: A002
    sort: Annotated[str | None, Query(description="sort fields, e.g. name desc, id (a sort by in the filter wins)")] = None,
    roleFilter: Annotated[list[str] | None, Query(description="roles the entity must match (#attribute, @id)")] = None,  # noqa: N803
    roleSemantic: Annotated[str | None, Query(description="AllOf (default) or AnyOf")] = None,  # noqa: N803
) -> Page:
    """The list parameters, documented as the real API documents them. A bad limit or offset is 400
    INVALID_PAGINATION (see controller.api.envelope); a bad filter or sort 400 INVALID_FILTER/INVALID_SORT_IDENTIFIER."""
    # The bounds above are checked once, by FastAPI; the filter and sort are parsed once, by Page.
    return Page(limit=min(limit or DEFAULT_LIMIT, MAX_LIMIT), offset=offset or 0, filter=filter or None, sort=sort or None,
                role_filter=tuple(roleFilter or ()), role_semantic=roleSemantic or None)


ID_MAX_LENGTH = 40  # every id column is varchar(40)


async def known_path_ids(request: Request) -> None:
    """Included with every router: an `id` no entity can have (longer than any stored id) is simply not
    found, before a service looks it up or the journal tries to store it."""
    value = request.path_params.get("id")
    if value is not None and len(value) > ID_MAX_LENGTH:
        raise NotFound.for_id(value[:ID_MAX_LENGTH] + "...")


CurrentSession = Annotated[SessionContext, Depends(get_current_session)]
AdminSession = Annotated[SessionContext, Depends(get_admin_session)]
ListPage = Annotated[Page, Depends(get_list_page)]
