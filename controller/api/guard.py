"""Input the controller refuses before any route sees it, in one place for every route:

* request bodies over the configured size (413, before they are read into memory: the Content-Length is
  checked first, and streamed chunks are counted);
* a NUL character or a lone UTF-16 surrogate in any JSON string or query value (400 COULD_NOT_VALIDATE,
  field named). PostgreSQL cannot store NUL in text, and a lone surrogate cannot be encoded as UTF-8, so
  both would otherwise fail deep inside a service on one database and not the other.

A pure ASGI middleware: a request that passes costs one scan of the (already bounded) body.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qsl

from controller.api.envelope import error_response
from controller.errors import ApiError, CouldNotValidate, RequestBodyTooLarge

# A JSON escape that can decode to NUL or to a surrogate; only bodies that contain one are parsed here.
_SUSPECT_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")


def bad_text(value: str) -> str | None:
    """Why a string cannot be accepted, or None."""
    if "\x00" in value:
        return "must not contain a NUL character"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "must be valid Unicode (a lone surrogate is not)"
    return None


def _find_bad_string(value: Any, path: str) -> tuple[str, str] | None:
    if isinstance(value, str):
        reason = bad_text(value)
        return (path or "(root)", reason) if reason else None
    if isinstance(value, dict):
        for key, item in value.items():
            child = f"{path}.{key}" if path else str(key)
            reason = bad_text(key)
            if reason:
                return child.encode("utf-8", "backslashreplace").decode(), "keys " + reason
            found = _find_bad_string(item, child)
            if found:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = _find_bad_string(item, f"{path}[{index}]")
            if found:
                return found
    return None


def check_json_body(body: bytes) -> ApiError | None:
    if not _SUSPECT_ESCAPE.search(body):
        return None
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return None  # not JSON: the route's own parsing answers
    found = _find_bad_string(document, "")
    if found is None:
        return None
    return CouldNotValidate(cause={"field": found[0], "reason": found[1], "value": None})


def check_query(query_string: bytes) -> ApiError | None:
    try:
        pairs = parse_qsl(query_string.decode("latin-1"), keep_blank_values=True, encoding="utf-8", errors="replace")
    except ValueError:
        return None
    for name, value in pairs:
        reason = bad_text(name) or bad_text(value)
        if reason:
            field = name if bad_text(name) is None else "(query)"
            return CouldNotValidate(cause={"field": field, "reason": reason, "value": None})
    return None


class RequestGuardMiddleware:
    def __init__(self, app: Any, max_body_bytes: int):
        self.app, self.max_body_bytes = app, max_body_bytes

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        error = check_query(scope.get("query_string", b""))
        if error is None and "\x00" in scope["path"]:
            error = CouldNotValidate(cause={"field": "(path)", "reason": "must not contain a NUL character", "value": None})
        if error is None:
            error = self._declared_too_large(scope)
        if error is not None:
            await error_response(error)(scope, receive, send)
            return
        if scope["method"] in ("GET", "HEAD", "DELETE", "OPTIONS"):
            await self.app(scope, self._bounded(receive), send)
            return
        body, error = await self._read(receive)
        if error is None and _is_json(scope):
            error = check_json_body(body)
        if error is not None:
            await error_response(error)(scope, receive, send)
            return
        await self.app(scope, _replay(body, receive), send)

    def _declared_too_large(self, scope: dict[str, Any]) -> ApiError | None:
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    if int(value) > self.max_body_bytes:
                        return self._too_large()
                except ValueError:
                    return None
        return None

    def _too_large(self) -> ApiError:
        return RequestBodyTooLarge(cause={"field": "body", "reason": f"at most {self.max_body_bytes} bytes", "value": None})

    async def _read(self, receive: Any) -> tuple[bytes, ApiError | None]:
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return b"", None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                return b"", self._too_large()
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks), None

    def _bounded(self, receive: Any) -> Any:
        size = 0

        async def bounded_receive() -> dict[str, Any]:
            nonlocal size
            message = await receive()
            if message["type"] == "http.request":
                size += len(message.get("body", b""))
                if size > self.max_body_bytes:
                    raise self._too_large()
            return message

        return bounded_receive


def _is_json(scope: dict[str, Any]) -> bool:
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            return b"json" in value.lower()
    return True  # FastAPI parses an untyped body as JSON too


def _replay(body: bytes, receive: Any) -> Any:
    sent = False

    async def replay_receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay_receive
