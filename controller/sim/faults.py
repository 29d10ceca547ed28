"""Fault rules: make the controller fail on purpose, reproducibly.

A rule matches on method and a glob over the request path (plus, optionally, the identity behind the
`zt-session`). When it fires it can delay, answer with a status and error code in the real envelope,
or drop the connection. `probability` decides with a generator seeded by (seed, match number), so a run
is reproducible; `remaining` fires only for the next N matching requests. Rules live in the database
so that every replica applies them; /sim/v1 itself is never faulted.

Knowing that no rule exists costs no query of its own. The sim row, which every request that uses the
database reads first thing, counts the rules (written in the transaction that changes them). The middleware
lets a request through undecided while this process believes there is no rule; if that request's first read
then counts rules (created through another replica), the read raises `RulesAppeared` before anything is
written, and the middleware decides the fault and replays the request from the start. Requests that never
read the database (GET /version, the specs) go by this process's last sight of the count, kept current by
`RuleWatch` (see there for what that costs and how current it is).
"""

from __future__ import annotations

import asyncio
import fnmatch
import json
import random
import threading
import time
from dataclasses import dataclass
from typing import Any

import anyio
from sqlalchemy import event, func, select, text, update
from sqlalchemy.orm import Session

from controller.api.envelope import error_body
from controller.errors import ApiError
from controller.core import clock, journal
from controller.store.models import ApiSession, SimFaultRule

SIM_PATH_PREFIX = "/sim/"
FAULT_GATE = "ziti.fault_gate"  # ASGI scope key: the request's RequestGate, read by controller.api.deps
NOTIFY_CHANNEL = "ziti_sim_fault_rules"  # PostgreSQL: every change of the rules is announced here at commit
# PostgreSQL: the listening connection proves itself alive with a round trip at least this often, so a
# connection lost without a word (no FIN from a partitioned server) hides a change for at most this long.
MAX_SILENCE_S = 1.0


@dataclass(frozen=True)
class Firing:
    rule_id: str
    status: int | None
    code: str | None
    message: str | None
    delay_ms: int
    drop_connection: bool
    drop_message: bool  # control channel only: withhold the message (controller.ctrl)


def _matches(rule: SimFaultRule, method: str, path: str) -> bool:
    return rule.method in ("*", method) and fnmatch.fnmatchcase(path, rule.path_pattern)


def decide(db: Session, method: str, path: str, session_token: str | None, *,
           sighting: RuleSighting | None = None, read_at: float = 0.0) -> Firing | None:
    """Find the first rule that matches and fires; count the match and the firing in this transaction.
    All rules are read: their number is a sight of the count too (rules deleted elsewhere are noticed)."""
    every = db.scalars(select(SimFaultRule).order_by(SimFaultRule.created_at, SimFaultRule.id)).all()
    if sighting is not None:
        sighting.saw(len(every), read_at)
    rules = [r for r in every if _matches(r, method, path)]
    if not rules:
        return None
    looked_up: list[str | None] = []

    def identity_id() -> str | None:
        """The caller's identity, read once and only if a rule or the journal needs it."""
        if not looked_up:
            looked_up.append(db.scalar(select(ApiSession.identity_id).where(ApiSession.token == session_token))
                             if session_token else None)
        return looked_up[0]

    for rule in rules:
        if rule.identity_id and rule.identity_id != identity_id():
            continue
        # Count atomically, so replicas and concurrent requests agree on the match number.
        matched = db.execute(
            update(SimFaultRule).where(SimFaultRule.id == rule.id).values(matched=SimFaultRule.matched + 1)
            .returning(SimFaultRule.matched)
        ).scalar_one()
        if rule.probability < 1.0 and random.Random(f"{rule.seed}:{matched}").random() >= rule.probability:
            continue
        if rule.remaining is not None:
            taken = db.execute(
                update(SimFaultRule).where(SimFaultRule.id == rule.id, SimFaultRule.remaining > 0)
                .values(remaining=SimFaultRule.remaining - 1, fired=SimFaultRule.fired + 1).returning(SimFaultRule.id)
            ).scalar_one_or_none()
            if taken is None:
                continue
        else:
            db.execute(update(SimFaultRule).where(SimFaultRule.id == rule.id).values(fired=SimFaultRule.fired + 1))
        journal.record_fault(db, rule_id=rule.id, method=method, path=path, identity_id=identity_id(), status=rule.status,
                             code=rule.code, delay_ms=rule.delay_ms, drop_connection=rule.drop_connection)
        return Firing(rule.id, rule.status, rule.code, rule.message, rule.delay_ms, rule.drop_connection, bool(rule.drop_message))
    return None


def rule_count(db: Session) -> int:
    """Write the number of rules into the sim row after a change of the rules, and announce it to the other
    replicas at commit (PostgreSQL). The sim row is locked first (lock order: before anything else this
    transaction writes is flushed), which also serializes every change of the rules, so the count is exact."""
    row = clock.lock(db)
    count = db.scalar(select(func.count()).select_from(SimFaultRule))
    row.fault_rules = count
    if db.get_bind().dialect.name == "postgresql":
        db.execute(text(f"NOTIFY {NOTIFY_CHANNEL}"))  # sent at commit, and only if the transaction commits
    return count


def rules_changed(db: Session, scope: dict[str, Any]) -> None:
    """`rule_count`, then `known_at_commit` with the new count."""
    known_at_commit(db, scope, rule_count(db))


def known_at_commit(db: Session, scope: dict[str, Any], count: int) -> None:
    """Once the transaction commits, this process knows `count` (written by `rule_count` in it) at once: a
    request that never reads the database (GET /version) and comes right after the change must see it."""
    seen_at = time.monotonic()  # the sim row is locked: no other change of the rules can commit before ours
    gate = scope.get(FAULT_GATE)
    if gate is not None:
        event.listen(db, "after_commit", lambda _db: gate.sighting.saw(count, seen_at), once=True)


class RulesAppeared(BaseException):
    """The request's first read counted fault rules that this process believed absent (created through
    another replica): nothing is written, the middleware decides the fault and replays the request.

    A BaseException, as a cancellation is: it is no error, and the handlers between the read and the
    middleware that answer any Exception with 500 UNHANDLED must let it through (they all re-raise it)."""


class RuleSighting:
    """This process's last sight of the number of rules, and when the read that gave it began: a later read
    may finish first, so the sight taken latest wins, whatever the order in which threads report."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.count = 0
        self.read_at = float("-inf")  # time.monotonic() before the read

    def saw(self, count: int, read_at: float) -> None:
        with self._lock:
            if read_at >= self.read_at:
                self.count, self.read_at = count, read_at


class RequestGate:
    """One request's check of the sim row it reads first (controller.api.deps calls `admit`)."""

    __slots__ = ("sighting", "decided", "admitted")

    def __init__(self, sighting: RuleSighting, *, decided: bool):
        self.sighting = sighting
        self.decided = decided  # the middleware has already decided this request's fault (or never faults it)
        self.admitted = False

    def admit(self, fault_rules: int, read_at: float) -> None:
        self.sighting.saw(fault_rules, read_at)
        if self.admitted:
            return  # a later transaction of the same request: the first one may have written, no replay now
        self.admitted = True
        if fault_rules and not self.decided:
            raise RulesAppeared()


class _RecordedReceive:
    """Passes the request's messages through and keeps them, so that the request can be replayed (the body
    is read before the transaction opens)."""

    __slots__ = ("receive", "messages")

    def __init__(self, receive: Any):
        self.receive = receive
        self.messages: list[dict[str, Any]] = []

    async def __call__(self) -> dict[str, Any]:
        message = await self.receive()
        if message["type"] == "http.request":
            self.messages.append(message)
        return message

    def replay(self) -> Any:
        pending = list(self.messages)

        async def receive() -> dict[str, Any]:
            return pending.pop(0) if pending else await self.receive()

        return receive


class _HeldResponse:
    """Sends the response on, except for a request that read nothing from the database and finds, when its
    answer starts, that rules exist: that answer is held until its fault is decided."""

    __slots__ = ("send", "gate", "watch", "held")

    def __init__(self, send: Any, gate: RequestGate, watch: RuleWatch):
        self.send, self.gate, self.watch = send, gate, watch
        self.held: list[dict[str, Any]] | None = None

    async def __call__(self, message: dict[str, Any]) -> None:
        if self.held is not None:
            self.held.append(message)
        elif message["type"] == "http.response.start" and not self.gate.admitted and self.watch.current():
            self.held = [message]
        else:
            await self.send(message)

    async def release(self) -> None:
        for message in self.held or ():
            await self.send(message)


class FaultInjectionMiddleware:
    """Decides each request's fault before the request runs while this process knows of rules. While it
    knows of none the request runs at once: its first read of the sim row tells whether that was right
    (`RequestGate`: if not, the request is replayed after its fault is decided), and a request that reads
    nothing from the database checks with `RuleWatch` when its answer starts (`_HeldResponse`)."""

    def __init__(self, app: Any, runtime: Any, limiter: Any):
        self.app = app
        self.runtime = runtime
        self.limiter = limiter  # the decision is database work: it counts against the in-flight limit
        self.watch = RuleWatch(runtime.engine)
        runtime.on_close(self.watch.close)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"].startswith(SIM_PATH_PREFIX):  # never faulted; its reads keep the sight current
            scope[FAULT_GATE] = RequestGate(self.watch.sighting, decided=True)
            await self.app(scope, receive, send)
            return
        if self.watch.sighting.count == 0:
            gate = RequestGate(self.watch.sighting, decided=False)
            scope[FAULT_GATE] = gate
            recorded, answer = _RecordedReceive(receive), _HeldResponse(send, gate, self.watch)
            try:
                await self.app(scope, recorded, answer)
            except RulesAppeared:
                receive = recorded.replay()  # nothing was written or sent: decide, then run it from the start
            else:
                if answer.held is not None:
                    await self._apply(await self._decide(scope), scope, send, proceed=answer.release)
                return
        scope[FAULT_GATE] = RequestGate(self.watch.sighting, decided=True)
        await self._apply(await self._decide(scope), scope, send, proceed=lambda: self.app(scope, receive, send))

    async def _decide(self, scope: dict[str, Any]) -> Firing | None:
        token = next((v.decode() for k, v in scope["headers"] if k == b"zt-session"), None)
        async with self.limiter:
            return await anyio.to_thread.run_sync(_decide_in_transaction, self.runtime, self.watch.sighting,
                                                  scope["method"], scope["path"], token)

    async def _apply(self, firing: Firing | None, scope: dict[str, Any], send: Any, *, proceed: Any) -> None:
        if firing is not None:
            if firing.delay_ms:
                await asyncio.sleep(firing.delay_ms / 1000)
            if firing.drop_connection:
                abort = scope.get("extensions", {}).get("ziti.abort")
                if abort is not None:
                    abort()
                    return
            if firing.status:
                error = ApiError(firing.message or f"fault injected by rule {firing.rule_id}", status=firing.status)
                error.code = firing.code or "SIMULATED_FAULT"
                body = json.dumps(error_body(error)).encode()
                await send({"type": "http.response.start", "status": firing.status,
                            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
                await send({"type": "http.response.body", "body": body})
                return
        await proceed()


class RuleWatch:
    """The number of rules, for a request that read nothing from the database and is about to answer
    (GET /version, the specs, /ops probes). Requests that do read the sim row, which counts the rules, need
    no watch, and what they read keeps `sighting` current.

    On PostgreSQL a connection of its own LISTENs for the NOTIFY that every change of the rules sends at
    commit; per such request it only looks, without a round trip, whether one came (a read of the socket
    that does not block). It reads the count again after a notification, on (re)connecting, when the last
    sight predates its LISTEN, and at least every MAX_SILENCE_S. So a change committed through any replica
    applies to such a request once the notification is delivered (microseconds: the listening server
    process must run). On SQLite the count is read each time on that connection, as cheap as a look at a
    socket (no network), and replicas sharing one SQLite file are covered too.

    It runs on the event loop's thread only, one call at a time, so one dedicated connection is enough and
    the loop never waits for the pool, whose connections belong to requests that need the loop to finish.
    """

    def __init__(self, engine: Any):
        self.engine = engine
        self.sighting = RuleSighting()
        self._postgres = engine.dialect.name == "postgresql"
        self._connection: Any = None
        self._listening_since = float("inf")  # monotonic time before the LISTEN of the current connection
        self._notified = False
        self._round_trip_at = float("-inf")

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def current(self) -> int:
        now = time.monotonic()
        if self._postgres and self._connection is not None and not self._notified_since_last_look() \
                and self.sighting.read_at >= self._listening_since and now - self._round_trip_at < MAX_SILENCE_S:
            return self.sighting.count
        return self._read()

    def _notified_since_last_look(self) -> bool:
        try:
            pgconn = self._connection.pgconn
            pgconn.consume_input()  # libpq's socket does not block: only what has already arrived
            while pgconn.notifies() is not None:
                self._notified = True
        except Exception:  # noqa: BLE001 - a lost connection: read again on a new one
            self._drop()
            return True
        notified, self._notified = self._notified, False
        return notified

    def _connect(self) -> None:
        if self._postgres:
            # A connection of its own, straight from the driver: never a pooled one the server may have dropped
            # (the pool does not ping on checkout). Autocommit: no transaction to end, one round trip per read.
            cargs, cparams = self.engine.dialect.create_connect_args(self.engine.url)
            connection = self.engine.dialect.connect(*cargs, **cparams)
            connection.autocommit = True
            # A notification that comes with a query's results is handed to handlers, not left for notifies().
            connection.add_notify_handler(self._on_notify)
            connection.execute(f"LISTEN {NOTIFY_CHANNEL}")
            self._listening_since = time.monotonic()  # every commit from now on is announced to us
            self._connection = connection
        else:
            pooled = self.engine.raw_connection()
            self._connection = pooled.dbapi_connection
            pooled.detach()  # ours for good, outside the pool

    def _on_notify(self, _notification: Any) -> None:
        self._notified = True

    def _drop(self) -> None:
        self._connection, broken = None, self._connection
        try:
            broken.close()
        except Exception:  # noqa: BLE001 - already broken
            pass

    def _read(self) -> int:
        for attempt in (1, 2):
            try:
                if self._connection is None:
                    self._connect()
                read_at = time.monotonic()
                cursor = self._connection.cursor()
                # The sim row's count; the table's when a database restored from elsewhere lacks the row.
                cursor.execute("SELECT COALESCE((SELECT fault_rules FROM sim_clock WHERE id = 1),"
                               " (SELECT count(*) FROM sim_fault_rules))")
                count = int(cursor.fetchone()[0])
                cursor.close()
                self._round_trip_at = read_at
                self.sighting.saw(count, read_at)
                return count
            except Exception:
                if self._connection is not None:
                    self._drop()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")


def _decide_in_transaction(runtime: Any, sighting: RuleSighting, method: str, path: str, token: str | None) -> Firing | None:
    with runtime.sessions.begin() as db:
        read_at = time.monotonic()
        return decide(db, method, path, token, sighting=sighting, read_at=read_at)
