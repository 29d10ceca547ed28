from __future__ import annotations

from typing import Any


class ControllerError(Exception):
    """An error answer from the controller, read from its error envelope."""

    def __init__(self, status: int, code: str, message: str, cause: Any = None):
        self.status, self.code, self.message, self.cause = status, code, message, cause
        detail = f": {cause.get('reason') or cause.get('message')}" if isinstance(cause, dict) and (cause.get("reason") or cause.get("message")) else ""
        super().__init__(f"{status} {code}: {message}{detail}")


class ConnectionLost(ConnectionError):
    """The connection dropped after a non-idempotent request was sent and before its answer arrived: the
    controller may or may not have applied it, so it is not sent again."""

    def __init__(self, url: str, method: str, path: str):
        self.url, self.method, self.path = url, method, path
        super().__init__(f"the connection to {url} dropped before the answer to {method} {path.split('?')[0]}; "
                         "the controller may or may not have applied it")


class IdentityFileError(ValueError):
    """An identity file that cannot be used: missing, not JSON, or without the fields an SDK needs."""


class ExtensionInterrupted(Exception):
    """An extension whose outcome is not known yet; its pending certificate and key are kept on disk and the
    next `extend_identity` on the same file finishes it."""
