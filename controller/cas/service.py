"""Third-party CAs: register (a CA certificate, once), read, update (never `isVerified`), delete (with the
authenticators and enrollments it backs), verify (proof of the CA's key), and the CA enrollment JWT."""

from __future__ import annotations

import base64
import re
from datetime import datetime
from typing import Any

from cryptography import x509

from sqlalchemy import delete as sql_delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from controller.api.listing import Page, paginate
from controller.api.render import base_entity
from controller.cas import repository, trust
from controller.cas.schemas import CaCreate, CaPatch, CaUpdate
from controller.errors import (
    CaAlreadyVerified, CertificateFailedValidation, CouldNotParseDerBlock, CouldNotParsePemBlock, CouldNotValidate,
    ExpectedPemCertificate, InvalidCommonName, NotFound,
)
from controller.ids import new_id, new_token
from controller.pki.certs import cert_pem, fingerprint, load_certs_pem
from controller.pki.external import check_verification_cert, common_name, first_is_ca
from controller.pki.hierarchy import Pki
from controller.pki.jwt import sign_jwt
from controller.pki.verify import ChainError
from controller.settings import Settings
from controller.core import journal
from controller.store.models import Authenticator, Ca, Enrollment

DEFAULT_NAME_FORMAT = "[caName]-[commonName]"
_CLAIM_FIELDS = ("location", "matcher", "matcherCriteria", "parser", "parserCriteria", "index")


def get(db: Session, ca_id: str, *, for_update: bool = False) -> Ca:
    ca = repository.get(db, ca_id, for_update=for_update)
    if ca is None:
        raise NotFound.for_id(ca_id)
    return ca


def list_page(db: Session, page: Page) -> tuple[list[Ca], int]:
    return paginate(db, select(Ca), page, repository.FILTERABLE, Ca.name)


def _check_name_free(db: Session, name: str, own_id: str | None = None) -> None:
    existing = repository.by_name(db, name)
    if existing is not None and existing.id != own_id:
        raise CouldNotValidate.for_field("name", "name is must be unique", name)


def _claim(value: Any) -> dict[str, Any] | None:
    return None if value is None else {k: v for k, v in value.model_dump(by_alias=True).items() if k in _CLAIM_FIELDS}


def create(db: Session, body: CaCreate, *, now: datetime) -> Ca:
    """A new CA starts unverified with a random verification token; its first certificate must be a CA."""
    try:
        certs = load_certs_pem(body.cert_pem)
    except ValueError as exc:
        raise CouldNotValidate.for_field("certPem", f"could not parse the certificate: {exc}") from None
    if not first_is_ca(certs):
        raise CouldNotValidate.for_field("certPem", "certificate is not a CA")
    ca_cert = certs[0]
    fp = fingerprint(ca_cert)
    if repository.by_fingerprint(db, fp) is not None:
        raise CouldNotValidate.for_field("certPem", "a CA with this certificate is already registered", fp)
    _check_name_free(db, body.name)
    ca = Ca(
        id=new_id(), name=body.name, fingerprint=fp, cert_pem=cert_pem(ca_cert), is_verified=False,
        verification_token=new_token(), is_auth_enabled=body.is_auth_enabled,
        is_auto_ca_enrollment_enabled=body.is_auto_ca_enrollment_enabled,
        is_ott_ca_enrollment_enabled=body.is_ott_ca_enrollment_enabled, identity_roles=list(body.identity_roles),
        identity_name_format=body.identity_name_format or DEFAULT_NAME_FORMAT,
        external_id_claim=_claim(body.external_id_claim), tags=body.tags or {}, created_at=now, updated_at=now,
    )
    db.add(ca)
    try:
        db.flush()
    except IntegrityError:
        raise CouldNotValidate.for_field("certPem", "a CA with this certificate or name is already registered") from None
    journal.record(db, kind="ca-create", at=now, new_fingerprint=fp, detail={"caId": ca.id, "name": ca.name})
    return ca


def update(db: Session, ca: Ca, body: CaUpdate | CaPatch, *, now: datetime, partial: bool) -> None:
    """PUT replaces every updatable field, PATCH only those sent. `certPem`, `fingerprint`, `isVerified` and
    `verificationToken` never change here (the real update paths strip them)."""
    fields = body.model_fields_set if partial else set(type(body).model_fields)
    if "name" in fields and body.name is not None:
        _check_name_free(db, body.name, ca.id)
        ca.name = body.name
    for field in ("is_auto_ca_enrollment_enabled", "is_ott_ca_enrollment_enabled", "is_auth_enabled"):
        if field in fields and getattr(body, field) is not None:
            setattr(ca, field, getattr(body, field))
    if "identity_roles" in fields:
        ca.identity_roles = list(body.identity_roles or [])
    if "identity_name_format" in fields:
        ca.identity_name_format = body.identity_name_format or DEFAULT_NAME_FORMAT
    if "tags" in fields:
        ca.tags = body.tags or {}
    if "external_id_claim" in fields:
        claim = body.external_id_claim
        if claim is None:
            ca.external_id_claim = None
        elif partial:
            sent = {k: v for k, v in claim.model_dump(by_alias=True, exclude_unset=True).items() if k in _CLAIM_FIELDS}
            ca.external_id_claim = {**{k: None for k in _CLAIM_FIELDS}, **(ca.external_id_claim or {}), **sent}
        else:
            ca.external_id_claim = _claim(claim)
    ca.updated_at = now
    try:
        db.flush()
    except IntegrityError:
        raise CouldNotValidate.for_field("name", "name is must be unique", ca.name) from None


def delete(db: Session, ca: Ca) -> None:
    """Deleting a CA deletes the certificate authenticators and ottca enrollments it backs: its certificates
    stop logging in at once."""
    db.execute(sql_delete(Authenticator).where(Authenticator.ca_id == ca.id))
    db.execute(sql_delete(Enrollment).where(Enrollment.ca_id == ca.id))
    db.delete(ca)


def verify(db: Session, ca_id: str, body: bytes, *, now: datetime) -> Ca:
    """Proof of possession of the CA's key: a certificate it signed whose CN is the verification token."""
    ca = get(db, ca_id, for_update=True)
    if ca.is_verified:
        raise CaAlreadyVerified()
    cert = _parse_verification_cert(body)
    if common_name(cert) != ca.verification_token:
        raise InvalidCommonName(cause={"field": "certificate", "reason": "the common name must be the CA's verificationToken",
                                       "value": common_name(cert)})
    try:
        check_verification_cert(cert, trust.ca_cert(ca), now=now)
    except ChainError as exc:
        raise CertificateFailedValidation.with_reason(str(exc)) from None
    ca.is_verified, ca.updated_at = True, now
    journal.record(db, kind="ca-verify", at=now, new_fingerprint=ca.fingerprint, detail={"caId": ca.id, "name": ca.name})
    return ca


def _parse_verification_cert(body: bytes) -> x509.Certificate:
    text = body.decode(errors="replace")
    match = re.search(r"-----BEGIN ([A-Z0-9 ]+)-----\s*(.*?)\s*-----END \1-----", text, re.DOTALL)
    if match is None:
        raise CouldNotParsePemBlock.with_reason("the body holds no PEM block")
    if match.group(1) != "CERTIFICATE":
        raise ExpectedPemCertificate.with_reason(f"expected a CERTIFICATE block, got {match.group(1)}")
    try:
        der = base64.b64decode("".join(match.group(2).split()), validate=True)
        return x509.load_der_x509_certificate(der)
    except ValueError as exc:
        raise CouldNotParseDerBlock.with_reason(str(exc)) from None


def enrollment_jwt(ca: Ca, *, settings: Settings, pki: Pki) -> str:
    """The CA auto-enrollment JWT: em "ca", sub = jti = the CA id, aud ["openziti-enroller"], the issuer with a
    trailing slash, no exp; signed by the TLS server certificate's key like every enrollment JWT."""
    claims = {"iss": settings.api_url.rstrip("/") + "/", "sub": ca.id, "aud": ["openziti-enroller"], "jti": ca.id, "em": "ca"}
    return sign_jwt(claims, key=pki.server_key, cert=pki.server_cert)


def to_wire(ca: Ca) -> dict[str, Any]:
    return {
        **base_entity(ca, "cas", **{"jwt": f"./cas/{ca.id}/jwt", "verify": f"./cas/{ca.id}/verify"}),
        "name": ca.name,
        "fingerprint": ca.fingerprint,
        "certPem": ca.cert_pem,
        "isVerified": ca.is_verified,
        "verificationToken": ca.verification_token,
        "isAutoCaEnrollmentEnabled": ca.is_auto_ca_enrollment_enabled,
        "isOttCaEnrollmentEnabled": ca.is_ott_ca_enrollment_enabled,
        "isAuthEnabled": ca.is_auth_enabled,
        "identityRoles": ca.identity_roles,
        "identityNameFormat": ca.identity_name_format,
        "externalIdClaim": ca.external_id_claim,
    }
