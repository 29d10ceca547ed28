"""Enrolled simulated routers for tests: `RouterHandle` (files, start/stop of its agent, its journal events),
made by `make_router(harness, name, run=True)` or the pytest fixture `ziti_router`."""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from controller.router_agent.agent import ReEnrollmentNeeded, RouterAgent, Timeouts
from controller.router_agent.enroll import enroll_router
from controller.router_agent.files import RouterFiles


@dataclass
class RouterHandle:
    harness: Any
    id: str
    name: str
    files: RouterFiles
    timeouts: Timeouts = field(default_factory=Timeouts)
    agent: RouterAgent | None = None
    error: BaseException | None = None
    _thread: threading.Thread | None = None
    _loop: asyncio.AbstractEventLoop | None = None

    @property
    def directory(self) -> Path:
        return self.files.directory

    def start(self, *, extend_now: bool = False) -> "RouterHandle":
        """Run the agent on a thread of its own. Its clock starts from the controller's simulated time (as a real
        router's host clock would be right) and then follows the channel."""
        if self.running:
            raise RuntimeError("the router is already running")
        self.files.save_clock(self.harness.clock.now())
        self.error = None
        self.agent = RouterAgent(self.files.directory, extend_now=extend_now, timeouts=self.timeouts)
        started = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            started.set()
            try:
                loop.run_until_complete(self.agent.run())
            except BaseException as exc:  # noqa: BLE001 - surfaced through .error
                self.error = exc
            finally:
                loop.close()

        self._thread = threading.Thread(target=run, name=f"router-{self.name}", daemon=True)
        self._thread.start()
        started.wait(5)
        return self

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self, timeout: float = 10.0) -> None:
        if self._thread is None:
            return
        if self._loop is not None and self.agent is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self.agent.request_stop)
        self._thread.join(timeout)
        self._thread = None

    def reconnect(self) -> None:
        """Drop the control channel; the agent redials with the certificate its files hold now."""
        if self._loop is not None and self.agent is not None:
            self._loop.call_soon_threadsafe(self.agent.drop_connection)

    @property
    def re_enrollment_needed(self) -> bool:
        return isinstance(self.error, ReEnrollmentNeeded)

    def agent_events(self, event: str | None = None) -> list[dict[str, Any]]:
        events = list(self.agent.events) if self.agent else []
        return [e for e in events if event is None or e["event"] == event]

    def wait_for_agent(self, event: str, *, count: int = 1, timeout: float = 15.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.agent_events(event)
            if len(found) >= count:
                return found[count - 1]
            if not self.running and self.error is not None and event != "re-enrollment-needed":
                raise AssertionError(f"the router stopped: {self.error}")
            time.sleep(0.02)
        raise TimeoutError(f"router {self.name}: no {event!r} (x{count}) within {timeout}s; saw {[e['event'] for e in self.agent_events()]}")

    def events(self, kind: str | None = None) -> list[dict[str, Any]]:
        """This router's journal events (router-connect, router-refused, router-extend, router-extend-verify, ...)."""
        return [e for e in self.harness.journal.events(kind=kind, limit=1000) if (e.get("detail") or {}).get("edgeRouterId") == self.id]

    def detail(self) -> dict[str, Any]:
        return self.harness.admin.data("GET", f"/edge/management/v1/edge-routers/{self.id}")

    def re_enroll(self) -> None:
        """Admin re-enroll, then `router enroll` again with the new JWT into the same directory."""
        self.harness.admin.data("POST", f"/edge/management/v1/edge-routers/{self.id}/re-enroll")
        enroll_router(self.detail()["enrollmentJwt"], self.files.directory)


def make_router(harness: Any, name: str | None = None, *, run: bool = True, directory: Path | None = None,
                timeouts: Timeouts | None = None, extend_now: bool = False) -> RouterHandle:
    name = name or f"router-{secrets.token_hex(4)}"
    created = harness.admin.data("POST", "/edge/management/v1/edge-routers", json_body={"name": name})
    jwt = harness.admin.data("GET", f"/edge/management/v1/edge-routers/{created['id']}")["enrollmentJwt"]
    directory = directory or harness.workdir / "routers" / name
    files = enroll_router(jwt, directory)
    handle = RouterHandle(harness, created["id"], name, files, timeouts or Timeouts())
    if run:
        handle.start(extend_now=extend_now)
        handle.wait_for_agent("connected")
    return handle
