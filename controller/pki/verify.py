"""Chain verification the way the controller does it: expiry of the leaf is ignored (the real controller
verifies a copy of the leaf whose validity is moved around `now`), EKU clientAuth is required."""

from __future__ import annotations

from datetime import datetime

from cryptography import x509
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


def is_within_validity(cert: x509.Certificate, now: datetime) -> bool:
    return cert.not_valid_before_utc <= now <= cert.not_valid_after_utc
