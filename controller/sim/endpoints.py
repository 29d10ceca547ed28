"""/sim/v1: the simulation API (admin only; off in lab mode)."""

from __future__ import annotations

from typing import Annotated, Any

import anyio
from fastapi import Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from controller.api.contract import Created, Empty, Wire, answers
from controller.api.deps import AdminSession, DbSession, Now, RuntimeDep
from controller.api.envelope import created, empty, ok
from controller.api.render import fmt_time
from controller.api.routing import deferred_router
from controller.durations import Timestamp, check_time, parse_duration
from controller.errors import CouldNotValidate, NotFound
from controller.ids import new_id
from controller.sessions import repository as session_repository
from controller.sessions.service import SessionContext
from controller.core import clock, journal, policy
from controller.sim import faults, state
from controller.store.models import SimEvent, SimFaultRule, SimSnapshot

router = deferred_router()


class ClockWire(Wire):
    now: str
    offset_seconds: float
    frozen: bool


class FaultWire(Wire):
    id: str
    method: str
    path: str
    identity_id: str | None
    status: int | None
    code: str | None
    message: str | None
    delay_ms: int
    drop_connection: bool
    probability: float
    remaining: int | None
    seed: int
    matched: int
    fired: int
    created_at: str


class EventWire(Wire):
    seq: int
    at: str
    kind: str
    outcome: str
    identity_id: str | None
    authenticator_id: str | None
    old_fingerprint: str | None
    new_fingerprint: str | None
    error_code: str | None
    detail: dict[str, Any] | None


class SnapshotWire(Wire):
    name: str
    created_at: str


class PolicyWire(Wire):
    identity_cert_lifetime_seconds: float
    router_cert_lifetime_seconds: float
    enrollment_lifetime_seconds: float
    session_timeout_seconds: float
    allow_expired_certs: bool
    overridden: list[str]


def _clock_wire(s: clock.ClockState) -> dict[str, Any]:
    return {"now": fmt_time(s.now), "offsetSeconds": round(s.offset.total_seconds(), 3), "frozen": s.frozen}


def _keep_alive(db: Session, admin: SessionContext, s: clock.ClockState) -> clock.ClockState:
    """The admin session that moves the clock follows it, so that moving time does not log the caller out."""
    session_repository.slide(db, admin.session.id, s.now)
    return s


class ClockSet(BaseModel):
    now: Timestamp | None = None
    frozen: bool | None = None


def _in_range(s: clock.ClockState, field: str) -> clock.ClockState:
    """The clock must stay where certificates and sessions can still be dated (the request rolls back)."""
    try:
        check_time(s.now)
    except ValueError as exc:
        raise CouldNotValidate.for_field(field, str(exc)) from None
    return s


class ClockAdvance(BaseModel):
    by: str | float = Field(description="seconds, or a duration such as '10s', '5m', '8d'")

    @field_validator("by")
    @classmethod
    def _duration(cls, value: str | float) -> str | float:
        parse_duration(value)
        return value


@router.get("/clock", operation_id="simGetClock", **answers(ClockWire), summary="The simulated time")
def get_clock(db: DbSession, _admin: AdminSession):
    return ok(_clock_wire(clock.state(db)))


@router.put("/clock", operation_id="simSetClock", **answers(ClockWire), summary="Set the time and/or freeze or unfreeze it")
def set_clock(body: ClockSet, db: DbSession, admin: AdminSession):
    if body.frozen is True:
        clock.freeze(db)
    if body.now is not None:
        clock.set_time(db, body.now)
    if body.frozen is False:
        clock.unfreeze(db)
    return ok(_clock_wire(_keep_alive(db, admin, _in_range(clock.state(db), "now"))))


@router.post("/clock/advance", operation_id="simAdvanceClock", **answers(ClockWire), summary="Move the time forward (or back, with a negative duration)")
def advance_clock(body: ClockAdvance, db: DbSession, admin: AdminSession):
    return ok(_clock_wire(_keep_alive(db, admin, _in_range(clock.advance(db, parse_duration(body.by)), "by"))))


@router.post("/clock/freeze", operation_id="simFreezeClock", **answers(ClockWire))
def freeze_clock(db: DbSession, admin: AdminSession):
    return ok(_clock_wire(_keep_alive(db, admin, clock.freeze(db))))


@router.post("/clock/unfreeze", operation_id="simUnfreezeClock", **answers(ClockWire))
def unfreeze_clock(db: DbSession, admin: AdminSession):
    return ok(_clock_wire(_keep_alive(db, admin, clock.unfreeze(db))))


@router.post("/clock/reset", operation_id="simResetClock", **answers(ClockWire), summary="Back to the wall clock, running")
def reset_clock(db: DbSession, admin: AdminSession):
    return ok(_clock_wire(_keep_alive(db, admin, clock.reset(db))))


class FaultCreate(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="forbid")
    method: str = Field("*", max_length=10)
    path: str = Field(description="glob over the request path, e.g. '*/authenticators/*/extend'", max_length=255)
    identity_id: str | None = Field(None, alias="identityId", max_length=40)
    status: int | None = Field(None, ge=400, le=599)
    code: str | None = Field(None, max_length=64)
    message: str | None = Field(None, max_length=255)
    delay_ms: int = Field(0, alias="delayMs", ge=0, le=600_000)
    drop_connection: bool = Field(False, alias="dropConnection")
    drop_message: bool = Field(False, alias="dropMessage",
                               description="method CTRL only: the matched control-channel message is not handled or not sent")
    probability: float = Field(1.0, ge=0.0, le=1.0)
    times: int | None = Field(None, ge=1, le=2**31 - 1, description="fire for the next N matching requests only")
    seed: int = Field(0, ge=-(2**63), le=2**63 - 1)


def _fault_wire(rule: SimFaultRule) -> dict[str, Any]:
    return {
        "id": rule.id, "method": rule.method, "path": rule.path_pattern, "identityId": rule.identity_id,
        "status": rule.status, "code": rule.code, "message": rule.message, "delayMs": rule.delay_ms,
        "dropConnection": rule.drop_connection, "dropMessage": rule.drop_message, "probability": rule.probability, "remaining": rule.remaining,
        "seed": rule.seed, "matched": rule.matched, "fired": rule.fired, "createdAt": fmt_time(rule.created_at),
    }


@router.get("/faults", operation_id="simListFaults", **answers(list[FaultWire]))
def list_faults(db: DbSession, _admin: AdminSession):
    rules = db.scalars(select(SimFaultRule).order_by(SimFaultRule.created_at, SimFaultRule.id)).all()
    return ok([_fault_wire(r) for r in rules])


@router.post("/faults", operation_id="simCreateFault", **answers(Created), status_code=201)
def create_fault(body: FaultCreate, db: DbSession, now: Now, _admin: AdminSession, request: Request):
    channel = body.method.upper() == "CTRL"  # control-channel rules: path glob over ctrl/<routerId>/<contentType>
    if body.drop_message and not channel:
        raise CouldNotValidate.for_field("dropMessage", "only for control-channel rules (method CTRL)")
    if not (body.status or body.delay_ms or body.drop_connection or body.drop_message or (channel and body.code)):
        raise CouldNotValidate.for_field("status", "a fault needs a status, a delayMs or dropConnection")
    rule = SimFaultRule(
        id=new_id(), method=body.method.upper(), path_pattern=body.path, identity_id=body.identity_id, status=body.status,
        code=body.code, message=body.message, delay_ms=body.delay_ms, drop_connection=body.drop_connection,
        probability=body.probability, remaining=body.times, seed=body.seed, matched=0, fired=0, created_at=now,
        drop_message=body.drop_message,
    )
    clock.lock(db)  # the shared row first, before the rule is written (lock order)
    db.add(rule)
    faults.rules_changed(db, request.scope)
    return created(rule.id, "faults")


@router.get("/faults/{id}", operation_id="simDetailFault", **answers(FaultWire))
def detail_fault(id: str, db: DbSession, _admin: AdminSession):
    rule = db.get(SimFaultRule, id)
    if rule is None:
        raise NotFound()
    return ok(_fault_wire(rule))


@router.delete("/faults/{id}", operation_id="simDeleteFault", **answers(Empty))
def delete_fault(id: str, db: DbSession, _admin: AdminSession, request: Request):
    clock.lock(db)  # the shared row first (lock order); a concurrent delete of the same rule then finds none
    rule = db.get(SimFaultRule, id)
    if rule is None:
        raise NotFound()
    db.delete(rule)
    faults.rules_changed(db, request.scope)
    return empty()


@router.delete("/faults", operation_id="simDeleteAllFaults", **answers(Empty))
def delete_all_faults(db: DbSession, _admin: AdminSession, request: Request):
    clock.lock(db)  # the shared row first (lock order)
    for rule in db.scalars(select(SimFaultRule)):
        db.delete(rule)
    faults.rules_changed(db, request.scope)
    return empty()


EventFilters = dict[str, Any]


def _event_filters(
    kind: Annotated[str | None, Query()] = None,
    identity_id: Annotated[str | None, Query(alias="identityId")] = None,
    outcome: Annotated[str | None, Query()] = None,
    after_seq: Annotated[int, Query(alias="afterSeq", ge=0, le=2**63 - 1)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
) -> EventFilters:
    return {"kind": kind, "identity_id": identity_id, "outcome": outcome, "after_seq": after_seq, "limit": limit}


@router.get("/events", operation_id="simListEvents", **answers(list[EventWire]), summary="The event journal, oldest first")
def list_events(db: DbSession, _admin: AdminSession, filters: Annotated[EventFilters, Depends(_event_filters)]):
    events = journal.query(db, **filters)
    return ok([event_to_wire(e) for e in events])


@router.get("/events/wait", operation_id="simWaitEvents", **answers(list[EventWire]),
            summary="Long-poll until an event matches (or the timeout passes: then the list is empty)")
async def wait_events(
    runtime: RuntimeDep, db: DbSession, _admin: AdminSession, filters: Annotated[EventFilters, Depends(_event_filters)],
    timeout: Annotated[float, Query(ge=0, le=60)] = 10.0,
):
    # End the session check's transaction first: held open for the wait (a write lock on SQLite), it would
    # block the very requests whose events are awaited.
    await anyio.to_thread.run_sync(db.commit)
    events = await anyio.to_thread.run_sync(lambda: journal.wait_for(runtime.sessions, timeout=timeout, **filters))
    return ok([event_to_wire(e) for e in events])


@router.post("/reset", operation_id="simReset", **answers(Empty), summary="Back to a clean network: same PKI and admin, clock on the wall time")
def reset(db: DbSession, admin: AdminSession, request: Request):
    reset_clock = state.reset(db)  # deletes every fault rule and writes the count, 0
    faults.known_at_commit(db, request.scope, 0)
    _keep_alive(db, admin, reset_clock)
    return empty()


class SnapshotCreate(BaseModel):
    name: str = Field(min_length=1, max_length=128)


@router.get("/snapshots", operation_id="simListSnapshots", **answers(list[SnapshotWire]))
def list_snapshots(db: DbSession, _admin: AdminSession):
    rows = db.scalars(select(SimSnapshot).order_by(SimSnapshot.name)).all()
    return ok([{"name": r.name, "createdAt": fmt_time(r.created_at)} for r in rows])


@router.post("/snapshots", operation_id="simCreateSnapshot", **answers(Created, 409), status_code=201)
def create_snapshot(body: SnapshotCreate, db: DbSession, now: Now, _admin: AdminSession):
    state.snapshot(db, body.name, now=now)
    return created(body.name, "snapshots")


@router.post("/snapshots/{name}/restore", operation_id="simRestoreSnapshot", **answers(Empty))
def restore_snapshot(name: str, db: DbSession, admin: AdminSession, request: Request):
    faults.known_at_commit(db, request.scope, state.restore(db, name))
    _keep_alive(db, admin, clock.state(db))
    return empty()


@router.delete("/snapshots/{name}", operation_id="simDeleteSnapshot", **answers(Empty))
def delete_snapshot(name: str, db: DbSession, _admin: AdminSession):
    snap = db.get(SimSnapshot, name)
    if snap is None:
        raise NotFound()
    db.delete(snap)
    return empty()




class PolicyUpdate(BaseModel):
    """Durations as seconds or '10s', '5m', '8d'; null goes back to the configured setting."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")
    identity_cert_lifetime: str | float | None = Field(None, alias="identityCertLifetime")
    router_cert_lifetime: str | float | None = Field(None, alias="routerCertLifetime")
    enrollment_lifetime: str | float | None = Field(None, alias="enrollmentLifetime")
    session_timeout: str | float | None = Field(None, alias="sessionTimeout")
    allow_expired_certs: bool | None = Field(None, alias="allowExpiredCerts")

    @field_validator("identity_cert_lifetime", "router_cert_lifetime", "enrollment_lifetime", "session_timeout")
    @classmethod
    def _positive_duration(cls, value: str | float | None) -> str | float | None:
        if value is not None and parse_duration(value).total_seconds() <= 0:
            raise ValueError("must be a positive duration")
        return value


def _policy_wire(settings: Any, row: Any) -> dict[str, Any]:
    return {
        "identityCertLifetimeSeconds": settings.identity_cert_lifetime.total_seconds(),
        "routerCertLifetimeSeconds": settings.router_cert_lifetime.total_seconds(),
        "enrollmentLifetimeSeconds": settings.enrollment_lifetime.total_seconds(),
        "sessionTimeoutSeconds": settings.session_timeout.total_seconds(),
        "allowExpiredCerts": settings.allow_expired_certs,
        "overridden": sorted(
            [alias for alias, column in (("identityCertLifetime", "identity_cert_lifetime_s"), ("routerCertLifetime", "router_cert_lifetime_s"),
                                         ("enrollmentLifetime", "enrollment_lifetime_s"),
                                         ("sessionTimeout", "session_timeout_s"), ("allowExpiredCerts", "allow_expired_certs"))
             if getattr(row, column) is not None]
        ),
    }


@router.get("/policy", operation_id="simGetPolicy", **answers(PolicyWire), summary="Effective lifetimes and expired-certificate rule")
def get_policy(db: DbSession, runtime: RuntimeDep, _admin: AdminSession):
    row = clock.row(db)
    return ok(_policy_wire(policy.effective(runtime.settings, row), row))


@router.put("/policy", operation_id="simSetPolicy", **answers(PolicyWire),
            summary="Override lifetimes (down to seconds) and the expired-certificate rule at run time; reset clears")
def set_policy(body: PolicyUpdate, db: DbSession, runtime: RuntimeDep, _admin: AdminSession):
    given = body.model_dump(exclude_unset=True)
    row = policy.update(db, **{
        name: (value if name == "allow_expired_certs" or value is None else parse_duration(value)) for name, value in given.items()
    })
    return ok(_policy_wire(policy.effective(runtime.settings, row), row))


class RouterConnectionWire(Wire):
    router_id: str
    name: str
    connection_id: str
    replica_id: str
    ctrl_address: str
    remote_address: str
    fingerprint: str
    version: str
    connected_at: str


@router.get("/router-connections", operation_id="simListRouterConnections", **answers(list[RouterConnectionWire]),
            summary="Routers with an open control channel, on any replica")
def list_router_connections(db: DbSession, _admin: AdminSession):
    from controller.ctrl.status import connections_wire

    return ok(connections_wire(db))

def event_to_wire(event: SimEvent) -> dict[str, Any]:
    return {
        "seq": event.seq, "at": fmt_time(event.at), "kind": event.kind, "outcome": event.outcome,
        "identityId": event.identity_id, "authenticatorId": event.authenticator_id,
        "oldFingerprint": event.old_fingerprint, "newFingerprint": event.new_fingerprint,
        "errorCode": event.error_code, "detail": event.detail,
    }
