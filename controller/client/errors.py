from __future__ import annotations

from typing import Any


class ControllerError(Exception):
    """An error answer from the controller, read from its error envelope."""

    def __init__(self, status: int, code: str, message: str, cause: Any = None):
        self.status, self.code, self.message, self.cause = status, code, message, cause
        detail = f": {cause.get('reason') or cause.get('message')}" if isinstance(cause, dict) and (cause.get("reason") or cause.get("message")) else ""
        super().__init__(f"{status} {code}: {message}{detail}")
