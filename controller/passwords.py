"""Salted password hashes for updb authenticators (scrypt; the stored string carries its parameters)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

_R, _P = 8, 1
DEFAULT_COST = 14  # log2 of scrypt's N


def hash_password(password: str, *, cost: int = DEFAULT_COST) -> str:
    salt = secrets.token_bytes(16)
    n = 2**cost
    digest = hashlib.scrypt(password.encode(), salt=salt, n=n, r=_R, p=_P, dklen=32)
    return f"scrypt${n}${_R}${_P}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def verify_password(password: str, stored: str | None) -> bool:
    if not stored:
        return False
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        actual = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p), dklen=32)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, base64.b64decode(digest))
