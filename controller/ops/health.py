"""The health-checks API: `GET /health-checks` (the real controller's shape: `data.healthy` and
`data.checks`, each with id, healthy, lastCheckTime, lastCheckDuration, consecutiveFailures, and details
when it fails), plus `/health-checks/live` and `/health-checks/ready` for balancers and orchestrators.

No session and no secret: a check reports what failed (an exception type and a short reason), never a URL,
a password or a path's content. Adding a check is one line: `registry.add("id", callable)` where the
callable raises (or returns a string reason) when unhealthy.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import text

from controller.pki.certs import load_certs_pem
from controller.store.db import SCHEMA_HEAD, current_revision, reading

# A check returns None (healthy) or a short reason; an exception also means unhealthy.
Check = Callable[[], "str | None"]


@dataclass
class _State:
    consecutive_failures: int = 0
    failing_since: datetime | None = None


@dataclass
class HealthRegistry:
    checks: dict[str, Check] = field(default_factory=dict)
    _states: dict[str, _State] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, check_id: str, check: Check) -> None:
        self.checks[check_id] = check

    def run(self) -> dict[str, Any]:
        results = [self._run_one(check_id, check) for check_id, check in list(self.checks.items())]
        return {"healthy": all(r["healthy"] for r in results), "checks": results}

    def _run_one(self, check_id: str, check: Check) -> dict[str, Any]:
        started, at = time.perf_counter(), datetime.now(timezone.utc)
        try:
            reason = check()
        except Exception as exc:  # noqa: BLE001 - any failure is the check's answer
            reason = f"{type(exc).__name__}: {_short(exc)}"
        elapsed = time.perf_counter() - started
        with self._lock:
            state = self._states.setdefault(check_id, _State())
            if reason is None:
                state.consecutive_failures, state.failing_since = 0, None
            else:
                state.consecutive_failures += 1
                state.failing_since = state.failing_since or at
            result: dict[str, Any] = {
                "id": check_id, "healthy": reason is None, "lastCheckTime": _fmt(at),
                "lastCheckDuration": f"{elapsed * 1000:.3f}ms", "consecutiveFailures": state.consecutive_failures,
            }
            if reason is not None:
                result["details"] = reason
                result["timeOfFirstFailure"] = _fmt(state.failing_since)
        return result


def _fmt(at: datetime | None) -> str | None:
    return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ") if at else None


def _short(exc: Exception) -> str:
    """The first line of the message, without anything that looks like a connection string."""
    line = (str(exc).splitlines() or [""])[0]
    return "connection failed" if "://" in line or "@" in line else line[:200]


class Lifecycle:
    """Ready once the server serves (migrations and admin seeding are done before it starts), not ready again
    from the moment it is asked to stop. `attach` is given the uvicorn server."""

    def __init__(self) -> None:
        self.server: Any = None
        self.stopping = False

    def attach(self, server: Any) -> None:
        self.server = server

    @property
    def phase(self) -> str:
        if self.stopping or (self.server is not None and self.server.should_exit):
            return "stopping"
        if self.server is not None and not self.server.started:
            return "starting"
        return "serving"


def database_check(runtime: Any) -> Check:
    def check() -> str | None:
        with reading(runtime.sessions) as db:
            db.execute(text("SELECT 1")).scalar_one()
        return None

    return check


def schema_check(runtime: Any) -> Check:
    """Migrations are done: the database is at this build's schema head."""

    def check() -> str | None:
        revision = current_revision(runtime.engine)
        return None if revision == SCHEMA_HEAD else f"schema at {revision}, expected {SCHEMA_HEAD}"

    return check


def pki_check(runtime: Any) -> Check:
    """The CA bundle and the server certificate and key are there, readable, and the bundle parses."""

    def check() -> str | None:
        directory = runtime.pki.directory
        missing = [name for name in ("ca-bundle.pem", "server.cert.pem", "server.key.pem") if not (directory / name).is_file()]
        if missing:
            return f"missing PKI files: {', '.join(missing)}"
        load_certs_pem((directory / "ca-bundle.pem").read_bytes())
        (directory / "server.key.pem").open("rb").close()
        return None

    return check


def default_registry(runtime: Any) -> HealthRegistry:
    """Checks read the runtime when they run (the OpenAPI export builds the app around a stand-in)."""
    registry = HealthRegistry()
    registry.add("database.roundtrip", database_check(runtime))
    registry.add("database.schema", schema_check(runtime))
    registry.add("pki.files", pki_check(runtime))
    return registry
