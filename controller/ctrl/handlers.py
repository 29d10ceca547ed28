"""What the control channel does with the database: authorise a hello, keep the connection row alive, and the
extension exchange (20302 -> 20301, 20303 -> 20002). Synchronous: the listener runs each call on a worker thread,
and each call is one transaction (the failure journal of 20302 is the only second one, as on the REST path)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography import x509
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from controller.ctrl import messages
from controller.errors import ApiError
from controller.pki.certs import cert_pem, certs_pem, fingerprint
from controller.pki.verify import ChainError, is_within_validity, verify_client_chain
from controller.routers import signing
from controller.core import clock, journal, policy
from controller.sim import faults
from controller.core.clock import wall_clock
from controller.store.db import reading
from controller.store.models import EdgeRouter, RouterConnection, SimFaultRule

CHURN_LIMIT = timedelta(minutes=1)  # network.routerConnectChurnLimit


class Refused(Exception):
    """The hello is refused: the connection is closed without a word; the reason goes to the journal only."""


class RefusedAfterResult(Refused):
    """Refused by the bind step, which runs after a successful result was sent (no usable version header)."""


@dataclass(frozen=True)
class Hello:
    router_id: str
    version: str | None
    peer_certs: list[x509.Certificate]
    connection_id: str
    replica_id: str
    ctrl_address: str
    remote_address: str


@dataclass(frozen=True)
class Admitted:
    fingerprint: str
    sim_now: datetime
    replaced: str | None  # the connection id this one replaces, if any


@dataclass(frozen=True)
class ChannelFault:
    rule_id: str
    code: str | None
    message: str | None
    delay_ms: int
    drop_connection: bool
    drop_message: bool


def _refuse(db: Session, now: datetime, hello: Hello, reason: str, presented: str | None) -> None:
    journal.record(db, kind="router-refused", at=now, outcome="failure", old_fingerprint=presented,
                   detail={"edgeRouterId": hello.router_id, "reason": reason, "remoteAddress": hello.remote_address,
                           "ctrlAddress": hello.ctrl_address})


def admit(sessions: Any, pki: Any, hello: Hello, *, alive_for: timedelta) -> Admitted:
    """The connect handler's checks (control-channel.md §3.3), in order, plus the version header the real bind
    insists on. On success the router's connection row is written (replacing an older one)."""
    with sessions.begin() as db:
        now = clock.now(db)
        presented = fingerprint(hello.peer_certs[0]) if hello.peer_certs else None
        refusal: Refused | None = None
        try:
            _check(db, now, hello, pki, presented)
        except Refused as refused:
            _refuse(db, now, hello, str(refused), presented)  # committed with this transaction
            refusal = refused
        if refusal is None:
            return _register(db, now, hello, presented, alive_for)
    raise refusal


def _register(db: Session, now: datetime, hello: Hello, presented: str | None, alive_for: timedelta) -> Admitted:
    wall = wall_clock()
    old = db.get(RouterConnection, hello.router_id)
    replaced = None
    if old is not None:
        replaced = old.connection_id
        db.delete(old)
        db.flush()
    db.add(RouterConnection(
        router_id=hello.router_id, connection_id=hello.connection_id, replica_id=hello.replica_id,
        ctrl_address=hello.ctrl_address, remote_address=hello.remote_address, fingerprint=presented,
        version=hello.version or "", connected_at=now, alive_until=wall + alive_for,
    ))
    journal.record(db, kind="router-connect", at=now, old_fingerprint=presented,
                   detail={"edgeRouterId": hello.router_id, "connectionId": hello.connection_id,
                           "replicaId": hello.replica_id, "ctrlAddress": hello.ctrl_address,
                           "remoteAddress": hello.remote_address, "version": hello.version,
                           **({"replacedConnectionId": replaced} if replaced else {})})
    return Admitted(presented, now, replaced)


def _check(db: Session, now: datetime, hello: Hello, pki: Any, presented: str | None) -> None:
    if not hello.peer_certs:
        raise Refused("no certificates provided, unable to verify dialer")
    leaf, others = hello.peer_certs[0], hello.peer_certs[1:]
    if not is_within_validity(leaf, now):
        raise Refused(f"unable to verify dialer, routerId: {hello.router_id}: leaf certificate not trusted: "
                      f"certificate has expired or is not yet valid (now {now.isoformat()})")
    try:
        verify_client_chain(leaf, others, pki.ca_certs, now=now)
    except ChainError as error:
        raise Refused(f"unable to verify dialer, routerId: {hello.router_id}: leaf certificate not trusted: {error}") from None
    existing = db.get(RouterConnection, hello.router_id)
    if existing is not None and existing.alive_until > wall_clock() and now - existing.connected_at < CHURN_LIMIT:
        raise Refused(f"router already connected id: {hello.router_id}")
    router = db.get(EdgeRouter, hello.router_id)
    if router is None:
        raise Refused("unknown/unenrolled router")
    if router.fingerprint is None:
        raise Refused("router enrollment incomplete")
    if router.fingerprint != presented:
        raise Refused(f"incorrect fingerprint/unenrolled router, routerId: {hello.router_id}, given fingerprint: {presented}")
    if router.disabled:
        raise Refused("router disabld")
    if not hello.version:
        raise RefusedAfterResult("no version info header, not accepting router connection")
    if len(hello.version.split("|")) != 5:
        raise RefusedAfterResult(f"could not parse version info {hello.version!r}, not accepting router connection")


def keep_alive(sessions: Any, connections: dict[str, str], *, alive_for: timedelta) -> set[str]:
    """Move `alive_until` on for this replica's connections (router id -> connection id); return the router ids
    whose row is gone or belongs to another connection now (reset, router deleted, replaced through another
    replica): those channels are closed."""
    if not connections:
        return set()
    with sessions.begin() as db:
        rows = {r.router_id: r for r in db.scalars(select(RouterConnection).where(RouterConnection.router_id.in_(list(connections))))}
        lost = {rid for rid, cid in connections.items() if rid not in rows or rows[rid].connection_id != cid}
        alive = [rid for rid in connections if rid not in lost]
        if alive:
            db.execute(update(RouterConnection).where(RouterConnection.router_id.in_(alive))
                       .values(alive_until=wall_clock() + alive_for))
        return lost


def disconnected(sessions: Any, router_id: str, connection_id: str, reason: str) -> None:
    with sessions.begin() as db:
        gone = db.execute(delete(RouterConnection).where(RouterConnection.router_id == router_id,
                                                         RouterConnection.connection_id == connection_id)).rowcount
        if gone:
            journal.record(db, kind="router-disconnect", at=clock.now(db),
                           detail={"edgeRouterId": router_id, "connectionId": connection_id, "reason": reason})


def sim_now(sessions: Any) -> datetime:
    with reading(sessions) as db:
        return clock.now(db)


def fault_for(sessions: Any, router_id: str, content_type: int | str) -> ChannelFault | None:
    """Fault rules with method CTRL and a path glob over `ctrl/<routerId>/<contentType>` (0 = the hello)."""
    with reading(sessions) as db:  # the common case, no rule at all: one read, no write transaction
        if db.scalar(select(SimFaultRule.id).limit(1)) is None:
            return None
    with sessions.begin() as db:
        firing = faults.decide(db, "CTRL", f"ctrl/{router_id}/{content_type}", None)
        if firing is None:
            return None
        return ChannelFault(firing.rule_id, firing.code, firing.message, firing.delay_ms, firing.drop_connection,
                            firing.drop_message)


# --- 20302 -> 20301 -----------------------------------------------------------------------------------

class ExtendFailed(Exception):
    pass


def extend(sessions: Any, settings: Any, pki: Any, *, router_id: str, connection_fingerprint: str, body: bytes) -> messages.CertsResponse:
    """EnrollmentExtendRouterRequest: the router is the one whose live fingerprint is this connection's TLS
    leaf; both CSRs are signed, the client leaf becomes the pending (unverified) pair. Any failure raises
    ExtendFailed, journaled in a transaction of its own (the caller sends nothing, as the real controller)."""
    try:
        with sessions.begin() as db:
            return _extend(db, settings, pki, connection_fingerprint, body)
    except ExtendFailed as failed:
        with sessions.begin() as db:
            journal.record(db, kind="router-extend", at=clock.now(db), outcome="failure", old_fingerprint=connection_fingerprint,
                           error_code="EXTEND_FAILED", detail={"edgeRouterId": router_id, "path": "ctrl", "message": str(failed)})
        raise


def _extend(db: Session, settings: Any, pki: Any, connection_fingerprint: str, body: bytes) -> messages.CertsResponse:
    row = clock.row(db)
    now = clock.now_of(row)
    try:
        request = messages.ExtendRequest.decode(body)
    except messages.DecodeError as error:
        raise ExtendFailed(f"could not convert message as enroll extend: {error}") from None
    router = db.scalars(select(EdgeRouter).where(EdgeRouter.fingerprint == connection_fingerprint).with_for_update()).one_or_none()
    if router is None:
        raise ExtendFailed("router not found by fingerprint")
    if not request.client_cert_csr or not request.server_cert_csr:
        raise ExtendFailed("request to extend edge router enrollment failed: a CSR is missing")
    try:
        certs = signing.sign(router.id, request.client_cert_csr, request.server_cert_csr, now=now,
                             settings=policy.effective(settings, row), pki=pki)
    except ApiError as error:
        cause = error.cause.get("code") if isinstance(error.cause, dict) else None
        raise ExtendFailed(f"request to extend edge router enrollment failed: {error.code}"
                           + (f" ({cause})" if cause else "") + f": {error.message}") from None
    new_fp = fingerprint(certs.client)
    if request.require_verification:
        router.unverified_fingerprint, router.unverified_cert_pem = new_fp, cert_pem(certs.client)
    else:  # a legacy router: the swap happens at once
        router.fingerprint, router.cert_pem = new_fp, cert_pem(certs.client)
        router.unverified_fingerprint = router.unverified_cert_pem = None
    server_chain = certs_pem(pki.chain_minus_root(certs.server))
    router.server_cert_pem, router.updated_at = server_chain, now
    journal.record(db, kind="router-extend", at=now, old_fingerprint=connection_fingerprint, new_fingerprint=new_fp,
                   detail={"edgeRouterId": router.id, "path": "ctrl", "requireVerification": request.require_verification})
    return messages.CertsResponse(certs_pem(pki.chain_minus_root(certs.client)), server_chain)


# --- 20303 -> 20002 -----------------------------------------------------------------------------------

def verify(sessions: Any, *, router_id: str, body: bytes, forced: ChannelFault | None = None) -> messages.Error:
    """EnrollmentExtendRouterVerifyRequest, checked in the real order (control-channel.md §4.4); the router is
    the hello's id. A fault rule with a code answers that code instead (nothing is swapped)."""
    with sessions.begin() as db:
        now = clock.now(db)
        error = _verify(db, router_id, body) if forced is None else messages.Error(
            forced.code or "VERIFY_ERROR", forced.message or f"fault injected by rule {forced.rule_id}")
        router = db.get(EdgeRouter, router_id)
        journal.record(db, kind="router-extend-verify", at=now, outcome="failure" if error.code else "success",
                       error_code=error.code or None, new_fingerprint=router.fingerprint if router and not error.code else None,
                       detail={"edgeRouterId": router_id, "path": "ctrl", **({"message": error.message} if error.code else {})})
        return error


def _verify(db: Session, router_id: str, body: bytes) -> messages.Error:
    try:
        request = messages.VerifyRequest.decode(body)
    except messages.DecodeError as error:
        return messages.Error("COULD_NOT_UNMARSHAL", f"request could not be unmarhsalled: {error}")
    if not request.client_cert_pem:
        return messages.Error("MISSING_CLIENT_PEM", "request did not contain a client certificate PEM")
    router = db.scalars(select(EdgeRouter).where(EdgeRouter.id == router_id).with_for_update()).one_or_none()
    if router is None:
        return messages.Error("ROUTER_NOT_FOUND", f"router with id {router_id} not found")
    if not router.unverified_cert_pem:
        return messages.Error("INVALID_ROUTER_STATE", "request is not possible as the router has no outstanding enrollment requests")
    submitted = _parsable_certs(request.client_cert_pem)
    if not submitted:
        return messages.Error("INVALID_CLIENT_PEM", "request did not contain a parsable PEM certificate")
    stored = _parsable_certs(router.unverified_cert_pem)
    if not stored:
        return messages.Error("INVALID_CLIENT_PEM", "internal error, target PEM did not parse to a certificate")
    if submitted[0] != stored[0]:
        return messages.Error("INVALID_CLIENT_PEM", "request did not contain a matching client pem")
    try:
        with db.begin_nested():
            router.fingerprint, router.cert_pem = router.unverified_fingerprint, router.unverified_cert_pem
            router.unverified_fingerprint = router.unverified_cert_pem = None
            router.updated_at = clock.now(db)
            db.flush()
    except IntegrityError as error:
        return messages.Error("VERIFY_ERROR", f"enrollment extension error: {error.orig}")
    return messages.Error()


def _parsable_certs(text: str) -> list[bytes]:
    """DER of every certificate block that parses; unparsable blocks are skipped (as the real PEM decoder)."""
    from cryptography.hazmat.primitives.serialization import Encoding
    import re

    out = []
    for block in re.findall(r"-----BEGIN [A-Z ]+-----.+?-----END [A-Z ]+-----", text, re.DOTALL):
        try:
            out.append(x509.load_pem_x509_certificate(block.encode()).public_bytes(Encoding.DER))
        except ValueError:
            continue
    return out
