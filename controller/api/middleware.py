"""Pure ASGI middleware (no per-request object churn): the `ziti-instance-id` header on every answer."""

from __future__ import annotations

import asyncio
from typing import Any


class InstanceIdMiddleware:
    def __init__(self, app: Any, instance_id: str):
        self.app = app
        self.header = (b"ziti-instance-id", instance_id.encode())

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_header(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), self.header]
            await send(message)

        await self.app(scope, receive, send_with_header)


LEGACY = "/edge/v1"


class RootAliasMiddleware:
    """Serve the client API at the root too, as the real controller does: every path outside /edge/ (and
    our own /sim/) is rewritten onto /edge/client/v1. SDKs send /version, /authenticate and
    /current-api-session to the root. The legacy `/edge/v1` is the client API as well."""

    def __init__(self, app: Any, prefix: str, passthrough: tuple[str, ...]):
        self.app, self.prefix, self.passthrough = app, prefix, passthrough
        self.raw_prefix = prefix.encode()
        self.own = tuple(p for p in passthrough if not p.startswith("/edge"))  # e.g. /sim/v1/: never rewritten

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            path, raw_path = scope["path"], scope.get("raw_path", b"")
            if not path.startswith(self.passthrough):
                path, raw_path = self.prefix + path, self.raw_prefix + raw_path
            if LEGACY in path and not path.startswith(self.own):
                # the legacy client API name: the first /edge/v1 anywhere becomes the client prefix (as real)
                path, raw_path = path.replace(LEGACY, self.prefix, 1), raw_path.replace(LEGACY.encode(), self.raw_prefix, 1)
            if path is not scope["path"]:
                scope = {**scope, "path": path, "raw_path": raw_path}
        await self.app(scope, receive, send)


class RequestLimiter:
    """At most `limit` requests doing database work at once; the others wait here, holding no thread.

    Why: a request's transaction spans several thread-pool hops (dependencies, route, commit). On SQLite it
    holds the write lock from its first hop, so if every pool thread were taken by requests waiting for that
    lock (or for a pooled connection), its holder could never get a thread to commit: a deadlock until the
    busy timeout. Keeping database work well under the pool size means the holder always finds a thread.
    The fault injector takes a slot only around its own database decision, not while it sleeps.
    """

    def __init__(self, limit: int):
        self.limit = limit
        self._semaphore: asyncio.Semaphore | None = None

    def _get(self) -> asyncio.Semaphore:
        if self._semaphore is None:  # created in the serving event loop
            self._semaphore = asyncio.Semaphore(self.limit)
        return self._semaphore

    async def __aenter__(self) -> None:
        await self._get().acquire()

    async def __aexit__(self, *exc: object) -> None:
        self._get().release()


class InFlightLimitMiddleware:
    """Runs the app under the shared RequestLimiter. Paths in `exempt` (long-polls that hold no lock across
    hops) bypass it."""

    def __init__(self, app: Any, limiter: RequestLimiter, exempt: tuple[str, ...] = ()):
        self.app, self.limiter, self.exempt = app, limiter, exempt

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"].endswith(self.exempt):
            await self.app(scope, receive, send)
            return
        async with self.limiter:
            await self.app(scope, receive, send)
