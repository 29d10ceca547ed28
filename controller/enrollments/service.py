"""Enrollments: creating them (with their JWT), and redeeming them: ott and updb for an authenticator, erott
for an edge router's two certificates."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from cryptography import x509
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from controller.api.render import base_entity, entity_ref, fmt_time
from controller.authenticators import repository as authenticator_repository
from controller.enrollments import repository
from controller.errors import (
    CertificateFailedValidation, CertInUse, CouldNotValidate, EnrollmentCaNotValid, EnrollmentExists, EnrollmentExpired,
    EnrollmentIdentityAlreadyEnrolled, InvalidEnrollMethod, InvalidEnrollmentToken, MissingOrInvalidCsr, NotFound,
)
from controller.ids import new_id, new_token
from controller.passwords import hash_password
from controller.pki.certs import certs_pem, fingerprint, public_key_print
from controller.pki.csr import parse_csr_pem
from controller.pki.hierarchy import Pki
from controller.pki.issuing import issue_client_cert
from controller.pki.jwt import sign_jwt
from controller.routers import signing as router_signing
from controller.settings import Settings
from controller.core import journal
from controller.cas import trust as ca_trust
from controller.store.models import Authenticator, Ca, EdgeRouter, Enrollment, Identity

# The real controller turns an enrollment duration under 5 minutes into 180 minutes (a quirk).
_FLOOR, _FLOOR_REPLACEMENT = timedelta(minutes=5), timedelta(minutes=180)
IDENTITY_METHODS = ("ott", "ottca", "updb")


def default_expiry(settings: Settings, now: datetime) -> datetime:
    lifetime = settings.enrollment_lifetime
    if settings.compat_enrollment_duration_floor and lifetime < _FLOOR:
        lifetime = _FLOOR_REPLACEMENT
    return now + lifetime


def _jwt(enrollment: Enrollment, *, settings: Settings, pki: Pki) -> str:
    claims: dict[str, Any] = {
        "iss": settings.api_url,
        "sub": enrollment.identity_id or enrollment.edge_router_id,
        "aud": [""],
        "exp": int(enrollment.expires_at.timestamp()),
        "jti": enrollment.token,
        "em": enrollment.method,
        "ctrls": [settings.ctrl_url] if settings.ctrl_url else None,
    }
    return sign_jwt(claims, key=pki.server_key, cert=pki.server_cert)


def create(
    db: Session, identity: Identity, method: str, *, now: datetime, expires_at: datetime | None, settings: Settings,
    pki: Pki, username: str | None = None, ca_id: str | None = None, new_identity: bool = False,
) -> Enrollment:
    """`new_identity`: the identity was created in this transaction, so it has no enrollment to look up (the
    unique (identity, method) index still guards the insert)."""
    if method not in IDENTITY_METHODS:
        raise CouldNotValidate.for_field("method", f"must be one of {', '.join(IDENTITY_METHODS)}", method)
    if method == "ottca" and (not ca_id or db.get(Ca, ca_id) is None):
        raise CouldNotValidate.for_field("caId", "no certificate authority with this id", ca_id)
    if method == "updb" and not username:
        raise CouldNotValidate.for_field("username", "username is required for updb enrollments")
    expires_at = expires_at or default_expiry(settings, now)
    if expires_at <= now:
        raise CouldNotValidate.for_field("expiresAt", "must be in the future", fmt_time(expires_at))
    if not new_identity and repository.for_identity_method(db, identity.id, method) is not None:
        raise EnrollmentExists()
    enrollment = Enrollment(identity_id=identity.id, method=method, expires_at=expires_at, username=username,
                            ca_id=ca_id if method == "ottca" else None)
    return _persist(db, enrollment, now=now, settings=settings, pki=pki)


def create_for_router(db: Session, router: EdgeRouter, *, now: datetime, settings: Settings, pki: Pki) -> Enrollment:
    """The router's erott enrollment (its JWT's `sub` is the router id), with the configured lifetime."""
    return _persist(db, Enrollment(edge_router_id=router.id, method="erott", expires_at=default_expiry(settings, now)),
                    now=now, settings=settings, pki=pki)


def _persist(db: Session, enrollment: Enrollment, *, now: datetime, settings: Settings, pki: Pki) -> Enrollment:
    """Give a new enrollment its id, token and signed JWT, and store it (one per method per owner)."""
    enrollment.id, enrollment.token, enrollment.created_at, enrollment.updated_at = new_id(), new_token(), now, now
    enrollment.jwt = _jwt(enrollment, settings=settings, pki=pki)
    db.add(enrollment)
    try:
        db.flush()
    except IntegrityError:
        raise EnrollmentExists() from None
    return enrollment


def refresh(db: Session, enrollment: Enrollment, *, now: datetime, expires_at: datetime, settings: Settings, pki: Pki) -> Enrollment:
    if expires_at <= now:
        raise CouldNotValidate.for_field("expiresAt", "must be in the future", fmt_time(expires_at))
    enrollment.token = new_token()
    enrollment.expires_at = expires_at
    enrollment.updated_at = now
    enrollment.jwt = _jwt(enrollment, settings=settings, pki=pki)
    return enrollment


def _redeemable_enrollment(db: Session, token: str | None, method: str | None, *, now: datetime) -> Enrollment:
    """Token lookup, then the method check, then expiry: the real order."""
    enrollment = repository.by_token_for_update(db, token) if token else None
    if enrollment is None:
        raise InvalidEnrollmentToken()
    if method and method != enrollment.method:
        raise InvalidEnrollMethod(cause={"field": "method", "reason": f"token is for method {enrollment.method}", "value": method})
    if enrollment.expires_at <= now:
        raise EnrollmentExpired()
    return enrollment


def _redeemable(db: Session, token: str | None, method: str | None, *, now: datetime) -> tuple[Enrollment, Identity]:
    enrollment = _redeemable_enrollment(db, token, method, now=now)
    identity = db.get(Identity, enrollment.identity_id) if enrollment.identity_id else None
    if identity is None:
        raise InvalidEnrollmentToken()
    return enrollment, identity


def enroll_ott(
    db: Session, token: str | None, csr_pem: str | bytes | None, *, method: str | None, now: datetime, settings: Settings, pki: Pki,
) -> str:
    """Redeem an OTT token for a certificate: the enrollment is replaced by a cert authenticator in this one
    transaction. Returns the chain PEM (leaf + intermediates, no root)."""
    enrollment, identity = _redeemable(db, token, method, now=now)
    if enrollment.method != "ott":
        raise InvalidEnrollMethod(cause={"field": "method", "reason": f"token is for method {enrollment.method}", "value": "ott"})
    csr = parse_csr_pem(csr_pem or "", strict_trailing_data=settings.compat_strict_csr_trailing_data)
    leaf = issue_client_cert(
        signer=pki.signer, public_key=csr.public_key(), subject=csr.subject,
        sans=[x509.UniformResourceIdentifier(pki.spiffe_identity_uri(identity.id))],
        now=now, lifetime=settings.identity_cert_lifetime, compat_ec_key_encipherment=settings.compat_ec_key_encipherment,
    )
    chain = certs_pem(pki.chain_minus_root(leaf))
    _replace_with_authenticator(db, enrollment, Authenticator(
        id=new_id(), identity_id=identity.id, method="cert", cert_pem=chain, fingerprint=fingerprint(leaf),
        public_key_print=public_key_print(leaf), is_issued_by_network=True, created_at=now, updated_at=now, tags={},
    ))
    journal.record(db, kind="enroll", at=now, identity_id=identity.id, new_fingerprint=fingerprint(leaf), detail={"method": "ott"})
    return chain


def enroll_updb(
    db: Session, token: str | None, username: str | None, password: str, *, method: str | None, now: datetime, hash_cost: int,
) -> str:
    enrollment, identity = _redeemable(db, token, method, now=now)
    if enrollment.method != "updb":
        raise InvalidEnrollMethod(cause={"field": "method", "reason": f"token is for method {enrollment.method}", "value": "updb"})
    username = enrollment.username or username
    if not username:
        raise CouldNotValidate.for_field("username", "username is required")
    _replace_with_authenticator(db, enrollment, Authenticator(
        id=new_id(), identity_id=identity.id, method="updb", username=username, password_hash=hash_password(password, cost=hash_cost),
        created_at=now, updated_at=now, tags={},
    ))
    journal.record(db, kind="enroll", at=now, identity_id=identity.id, detail={"method": "updb", "username": username})
    return username


def enroll_ottca(
    db: Session, token: str | None, peer_certs: list[x509.Certificate], *, method: str | None, now: datetime,
) -> Authenticator:
    """Redeem an ottca token with a third-party certificate presented in the TLS handshake (no CSR, nothing
    issued): the enrollment's CA must allow ottca (ENROLLMENT_CA_NOT_VALID; its isVerified is not checked, as
    the real one), the certificate must verify against it, time checked (CERTIFICATE_FAILED_VALIDATION), and
    its fingerprint must be free (CERT_IN_USE). The authenticator stores the verified chain minus the CA."""
    enrollment, identity = _redeemable(db, token, method, now=now)
    if enrollment.method != "ottca":
        raise InvalidEnrollMethod(cause={"field": "method", "reason": f"token is for method {enrollment.method}", "value": "ottca"})
    ca = db.get(Ca, enrollment.ca_id) if enrollment.ca_id else None
    if ca is None or not ca.is_ott_ca_enrollment_enabled:
        raise EnrollmentCaNotValid()
    found = ca_trust.enrollment_match(peer_certs, [ca], now=now) if peer_certs else None
    if found is None:
        raise CertificateFailedValidation.with_reason("the client certificate does not verify against the enrollment's CA")
    chain = found[1]
    leaf = chain[0]
    fp = fingerprint(leaf)
    if authenticator_repository.by_fingerprint(db, fp) is not None:
        raise CertInUse()
    authenticator = Authenticator(
        id=new_id(), identity_id=identity.id, method="cert", cert_pem=certs_pem(chain[:-1]), fingerprint=fp,
        public_key_print=public_key_print(leaf), is_issued_by_network=False, ca_id=ca.id, created_at=now,
        updated_at=now, tags={},
    )
    _replace_with_authenticator(db, enrollment, authenticator)
    journal.record(db, kind="ottca-enroll", at=now, identity_id=identity.id, authenticator_id=authenticator.id,
                   new_fingerprint=fp, detail={"method": "ottca", "caId": ca.id})
    return authenticator


def enroll_erott(
    db: Session, token: str | None, cert_csr: Any, server_cert_csr: Any, *, method: str | None, now: datetime,
    settings: Settings, pki: Pki,
) -> dict[str, str]:
    """Redeem an edge router's token for its client and server certificates: the router becomes verified
    with the new client fingerprint and the enrollment is deleted, in this one transaction."""
    enrollment = _redeemable_enrollment(db, token, method, now=now)
    if enrollment.method != "erott":
        raise InvalidEnrollMethod(cause={"field": "method", "reason": f"token is for method {enrollment.method}", "value": "erott"})
    router = db.scalars(select(EdgeRouter).where(EdgeRouter.id == enrollment.edge_router_id).with_for_update()).one_or_none()
    if router is None:
        raise InvalidEnrollmentToken()
    for field, value in (("certCsr", cert_csr), ("serverCertCsr", server_cert_csr)):
        if not isinstance(value, str) or not value.strip():
            raise MissingOrInvalidCsr(cause={"field": field, "reason": "a PEM CSR is required", "value": None})
    certs = router_signing.sign(router.id, cert_csr, server_cert_csr, now=now, settings=settings, pki=pki)
    client_chain = certs_pem(pki.chain_minus_root(certs.client))
    server_chain = certs_pem(pki.chain_minus_root(certs.server))
    new_fp = fingerprint(certs.client)
    old_fp = router.fingerprint
    router.fingerprint, router.cert_pem, router.server_cert_pem = new_fp, client_chain, server_chain
    router.is_verified, router.updated_at = True, now
    db.delete(enrollment)
    try:
        db.flush()
    except IntegrityError:
        raise InvalidEnrollmentToken() from None
    journal.record(db, kind="router-enroll", at=now, old_fingerprint=old_fp, new_fingerprint=new_fp,
                   detail={"method": "erott", "edgeRouterId": router.id})
    return {"ca": pki.ca_bundle_pem, "cert": client_chain, "serverCert": server_chain}


def _replace_with_authenticator(db: Session, enrollment: Enrollment, authenticator: Authenticator) -> None:
    db.delete(enrollment)
    db.add(authenticator)
    try:
        db.flush()
    except IntegrityError:
        raise EnrollmentIdentityAlreadyEnrolled() from None


def get(db: Session, enrollment_id: str) -> Enrollment:
    enrollment = db.get(Enrollment, enrollment_id)
    if enrollment is None:
        raise NotFound.for_id(enrollment_id)
    return enrollment


def to_wire(enrollment: Enrollment, identity: Identity | None, router: EdgeRouter | None = None) -> dict[str, Any]:
    data = {
        **base_entity(enrollment, "enrollments"),
        "method": enrollment.method,
        "token": enrollment.token,
        "jwt": enrollment.jwt,
        "expiresAt": fmt_time(enrollment.expires_at),
        "identityId": enrollment.identity_id,
        "identity": entity_ref("identities", enrollment.identity_id, identity.name if identity else None) if enrollment.identity_id else None,
        "username": enrollment.username,
        "caId": enrollment.ca_id,
    }
    if enrollment.ca_id:
        data["ca"] = entity_ref("cas", enrollment.ca_id, None)
    if enrollment.edge_router_id:
        data["edgeRouterId"] = enrollment.edge_router_id
        data["edgeRouter"] = entity_ref("edge-routers", enrollment.edge_router_id, router.name if router else None)
    return data


def to_wire_any(db: Session, enrollment: Enrollment) -> dict[str, Any]:
    """The detail of one enrollment, whoever owns it."""
    identity = db.get(Identity, enrollment.identity_id) if enrollment.identity_id else None
    router = db.get(EdgeRouter, enrollment.edge_router_id) if enrollment.edge_router_id else None
    return to_wire(enrollment, identity, router)


def to_identity_summary(enrollment: Enrollment) -> dict[str, Any]:
    summary = {"id": enrollment.id, "token": enrollment.token, "jwt": enrollment.jwt, "expiresAt": fmt_time(enrollment.expires_at)}
    if enrollment.ca_id:
        summary["caId"] = enrollment.ca_id
        summary["ca"] = entity_ref("cas", enrollment.ca_id, None)
    return summary


def redeem(
    db: Session, *, method: str | None, token: str | None, body: dict[str, Any], csr_pem: bytes | None,
    now: datetime, settings: Settings, pki: Pki, peer_certs: list[x509.Certificate] | None = None,
) -> dict[str, Any]:
    """The generic POST /enroll: the method comes from the query or, when absent, from the token's
    enrollment. Returns the answer's `data`."""
    if method == "ca":
        from controller.cas import enrollment as ca_enrollment  # the CA package builds on this module

        name = body.get("name") if isinstance(body.get("name"), str) else None
        ca_enrollment.enroll(db, peer_certs or [], requested_name=name, now=now)
        return {}
    if method not in (None, "", "ott", "updb", "ottca", "erott", "trott"):
        raise InvalidEnrollMethod(cause={"field": "method", "reason": "unknown enrollment method", "value": method})
    if not method:
        enrollment = repository.by_token_for_update(db, token) if token else None
        if enrollment is None:
            raise InvalidEnrollmentToken()
        method = enrollment.method
    if method == "ott":
        csr = csr_pem if csr_pem is not None else body.get("clientCsr")
        return {"cert": enroll_ott(db, token, csr, method="ott", now=now, settings=settings, pki=pki)}
    if method == "updb":
        password = body.get("password")
        if not isinstance(password, str) or not password:
            _redeemable(db, token, "updb", now=now)  # token problems are reported first
            raise CouldNotValidate.for_field("password", "password is required")
        username = enroll_updb(db, token, body.get("username"), password, method="updb", now=now,
                               hash_cost=settings.effective_password_hash_cost)
        return {"username": username}
    if method == "erott":
        return enroll_erott(db, token, body.get("certCsr"), body.get("serverCertCsr"), method="erott", now=now,
                            settings=settings, pki=pki)
    if method == "ottca":
        # No certificate in the answer: the client keeps the one it presented (the C SDK would save a `cert`).
        enroll_ottca(db, token, peer_certs or [], method="ottca", now=now)
        return {}
    # trott: the token must name an enrollment of that method, and none can exist here.
    _redeemable(db, token, method, now=now)
    raise InvalidEnrollMethod(cause={"field": "method", "reason": f"{method} enrollment is not simulated", "value": method})
