"""The third-party trust pools, read from the database on every use (so a CA created, verified, disabled or
deleted through any replica counts at once), and the CA a client certificate chains to."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache

from cryptography import x509
from sqlalchemy.orm import Session

from controller.cas import repository
from controller.pki.certs import load_certs_pem
from controller.pki.external import TrustedCa, matching_ca
from controller.store.models import Ca


@lru_cache(maxsize=256)
def _parse(cert_pem: str) -> x509.Certificate:
    """Parsing is pure, so it is cached by the PEM text (never by the CA id, whose row may change)."""
    return load_certs_pem(cert_pem)[0]


def trusted(ca: Ca) -> TrustedCa:
    return TrustedCa(ca.id, _parse(ca.cert_pem))


def ca_cert(ca: Ca) -> x509.Certificate:
    return _parse(ca.cert_pem)


def auth_match(db: Session, peer_certs: list[x509.Certificate], *, now: datetime) -> Ca | None:
    """The verified, auth-enabled CA the client's chain verifies to (time ignored), or None."""
    rows = repository.auth_enabled(db)
    found = matching_ca(peer_certs, [trusted(r) for r in rows], now=now, check_time=False)
    if found is None:
        return None
    return next(r for r in rows if r.id == found[0].id)


def enrollment_match(
    peer_certs: list[x509.Certificate], rows: list[Ca], *, now: datetime,
) -> tuple[Ca, list[x509.Certificate]] | None:
    """The CA among `rows` the client's chain verifies to with time checked, and the verified chain."""
    found = matching_ca(peer_certs, [trusted(r) for r in rows], now=now, check_time=True)
    if found is None:
        return None
    return next(r for r in rows if r.id == found[0].id), found[1]


def ca_of_cert(db: Session, cert_pem: str | None, *, now: datetime) -> Ca | None:
    """The registered CA (any state) an authenticator's certificate chains to: what re-enroll asks."""
    if not cert_pem:
        return None
    rows = repository.all_cas(db)
    found = matching_ca(load_certs_pem(cert_pem), [trusted(r) for r in rows], now=now, check_time=False)
    return next(r for r in rows if r.id == found[0].id) if found else None
