"""Chain verification the way the controller does it: expiry of the leaf is ignored (the real controller
verifies a copy of the leaf whose validity is moved around `now`), EKU clientAuth is required."""

from __future__ import annotations

import threading
from collections import OrderedDict
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError


class ChainError(Exception):
    pass


def verify_client_chain(
    leaf: x509.Certificate, intermediates: list[x509.Certificate], roots: list[x509.Certificate], *, now: datetime
) -> list[x509.Certificate]:
    """Return the verified chain (leaf first) or raise ChainError. Verification happens at a moment inside
    the leaf's validity, so an expired or not-yet-valid leaf still verifies."""
    at = min(max(now, leaf.not_valid_before_utc), leaf.not_valid_after_utc)
    try:
        verifier = PolicyBuilder().store(Store(roots)).time(at).build_client_verifier()
        return list(verifier.verify(leaf, intermediates).chain)
    except (VerificationError, ValueError) as exc:
        raise ChainError(str(exc)) from None


_verified: OrderedDict[tuple[bytes, tuple[bytes, ...], tuple[bytes, ...]], str | None] = OrderedDict()
_verified_lock = threading.Lock()
_VERIFIED_MAX = 4096


def verify_client_chain_cached(
    leaf: x509.Certificate, intermediates: list[x509.Certificate], roots: list[x509.Certificate], *, now: datetime
) -> None:
    """`verify_client_chain` for the request path, remembering outcomes. Time is ignored for the leaf, so the
    outcome depends only on the certificates themselves (the key below: their DER, intermediates and roots
    included); three signature checks (~280 µs) are paid once per certificate, not once per request. The
    CAs' own validity is judged when first seen, a simplification for certificates that outlive a CA."""
    der = lambda certs: tuple(c.public_bytes(Encoding.DER) for c in certs)  # noqa: E731
    key = (leaf.public_bytes(Encoding.DER), der(intermediates), der(roots))
    with _verified_lock:
        if key in _verified:
            _verified.move_to_end(key)
            error = _verified[key]
            if error is not None:
                raise ChainError(error)
            return
    try:
        verify_client_chain(leaf, intermediates, roots, now=now)
        error = None
    except ChainError as exc:
        error = str(exc)
    with _verified_lock:
        _verified[key] = error
        if len(_verified) > _VERIFIED_MAX:
            _verified.popitem(last=False)
    if error is not None:
        raise ChainError(error)


def is_within_validity(cert: x509.Certificate, now: datetime) -> bool:
    return cert.not_valid_before_utc <= now <= cert.not_valid_after_utc
