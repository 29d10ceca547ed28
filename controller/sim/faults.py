"""Fault rules: make the controller fail on purpose, reproducibly.

A rule matches on method and a glob over the request path (plus, optionally, the identity behind the
`zt-session`). When it fires it can delay, answer with a status and error code in the real envelope,
or drop the connection. `probability` decides with a generator seeded by (seed, match number), so a run
is reproducible; `remaining` fires only for the next N matching requests. Rules live in the database
so that every replica applies them; /sim/v1 itself is never faulted.
"""

from __future__ import annotations

import asyncio
import fnmatch
import json
import random
from dataclasses import dataclass
from typing import Any

import anyio
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from controller.api.envelope import error_body
from controller.errors import ApiError
from controller.core import journal
from controller.store.models import ApiSession, SimFaultRule

SIM_PATH_PREFIX = "/sim/"


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


def decide(db: Session, method: str, path: str, session_token: str | None) -> Firing | None:
    """Find the first rule that matches and fires; count the match and the firing in this transaction."""
    rules = [r for r in db.scalars(select(SimFaultRule).order_by(SimFaultRule.created_at, SimFaultRule.id)) if _matches(r, method, path)]
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


class FaultInjectionMiddleware:
    def __init__(self, app: Any, runtime: Any, limiter: Any):
        self.app = app
        self.runtime = runtime
        self.limiter = limiter  # the decision is database work: it counts against the in-flight limit
        self._probe = _RuleProbe(runtime.engine)
        runtime.on_close(self._probe.close)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"].startswith(SIM_PATH_PREFIX):
            await self.app(scope, receive, send)
            return
        if not self._probe.any_rule():
            await self.app(scope, receive, send)
            return
        token = next((v.decode() for k, v in scope["headers"] if k == b"zt-session"), None)
        async with self.limiter:
            firing = await anyio.to_thread.run_sync(_decide_in_transaction, self.runtime, scope["method"], scope["path"], token)
        if firing is None:
            await self.app(scope, receive, send)
            return
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
        await self.app(scope, receive, send)


class _RuleProbe:
    """Answers the common case, no rule at all, with one autocommit read on a connection of its own: no
    transaction, no write lock, no thread hop (the probe costs tens of microseconds, less than a hop). On
    PostgreSQL that is still one round trip per request (a cached answer would let a rule created through
    another replica miss that replica's next request; see the README's performance notes).

    It runs on the event loop's thread only, one call at a time, so one dedicated connection is enough and
    the loop never waits for the pool, whose connections belong to requests that need the loop to finish.
    """

    def __init__(self, engine: Any):
        self.engine = engine
        self._connection: Any = None

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def any_rule(self) -> bool:
        for attempt in (1, 2):
            if self._connection is None:
                if self.engine.dialect.name == "postgresql":
                    # A connection of its own, straight from the driver: never a pooled one the server may have
                    # dropped (the pool does not ping on checkout). Autocommit: no implicit transaction to end,
                    # so one round trip per probe instead of SELECT + ROLLBACK.
                    cargs, cparams = self.engine.dialect.create_connect_args(self.engine.url)
                    self._connection = self.engine.dialect.connect(*cargs, **cparams)
                    self._connection.autocommit = True
                else:
                    pooled = self.engine.raw_connection()
                    self._connection = pooled.dbapi_connection
                    pooled.detach()  # ours for good, outside the pool
            try:
                cursor = self._connection.cursor()
                cursor.execute("SELECT 1 FROM sim_fault_rules LIMIT 1")
                found = cursor.fetchone() is not None
                cursor.close()
                return found
            except Exception:
                self._connection, broken = None, self._connection
                try:
                    broken.close()
                except Exception:  # noqa: BLE001 - already broken
                    pass
                if attempt == 2:
                    raise
        return False


def _decide_in_transaction(runtime: Any, method: str, path: str, token: str | None) -> Firing | None:
    with runtime.sessions.begin() as db:
        return decide(db, method, path, token)
