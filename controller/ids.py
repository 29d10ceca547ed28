"""Entity ids and tokens."""

from __future__ import annotations

import secrets
import string
import uuid

_ALPHABET = string.ascii_letters + string.digits


def new_id() -> str:
    """A short random id, the shape of the real controller's shortids (e.g. 'xJ3kQ9zT1a')."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(10))


def new_token() -> str:
    """Session and enrollment tokens are UUIDs, as in the real controller."""
    return str(uuid.uuid4())
