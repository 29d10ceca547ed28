"""Pure ASGI middleware (no per-request object churn): the `ziti-instance-id` header on every answer."""

from __future__ import annotations

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
