"""CA auto-enrollment (`method=ca`): the client presents a certificate from a verified CA that allows
auto-enrollment, and an identity is created for it (named by the CA's format, with its roles), mapped either
by the certificate's fingerprint (a cert authenticator not issued by the network) or by `externalId`."""

from __future__ import annotations

from datetime import datetime

from cryptography import x509
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from controller.cas import repository, trust
from controller.errors import CertFailedValidation, CertInUse, CouldNotValidate, EnrollmentNoValidCas, MissingCertClaim
from controller.ids import new_id
from controller.pki.certs import cert_pem, fingerprint, public_key_print
from controller.pki.external import common_name, extract_external_id
from controller.core import journal
from controller.store.models import Authenticator, Ca, Identity

COUNTER_DIGITS = 6


def identity_name(db: Session, ca: Ca, *, common: str, requested: str | None, identity_id: str) -> str:
    """The CA's `identityNameFormat` with its symbols filled in; on a collision a 6-digit counter is appended,
    cumulatively (`name000001`, then `name000001000002`), as the real controller does."""
    name = (ca.identity_name_format or "[caName]-[commonName]")
    for symbol, value in (("[caName]", ca.name), ("[caId]", ca.id), ("[commonName]", common),
                          ("[requestedName]", requested or identity_id), ("[identityId]", identity_id)):
        name = name.replace(symbol, value)
    counter = 0
    while db.scalar(select(Identity.id).where(Identity.name == name)) is not None:
        counter += 1
        name = f"{name}{counter:0{COUNTER_DIGITS}d}"
    return name


def enroll(db: Session, peer_certs: list[x509.Certificate], *, requested_name: str | None, now: datetime) -> Identity:
    """The real steps and codes: some CA exists (ENROLLMENT_NO_VALID_CAS); a client certificate that verifies,
    time checked, against a verified auto-enrollment CA (CERT_FAILED_VALIDATION); the CA's claim, when it has
    one (MISSING_CERT_CLAIM); an unused fingerprint (CERT_IN_USE)."""
    rows = repository.all_cas(db)
    if not rows:
        raise EnrollmentNoValidCas()
    if not peer_certs:
        raise CertFailedValidation.with_reason("no client certificate was presented")
    usable = [r for r in rows if r.is_auto_ca_enrollment_enabled and r.is_verified]
    found = trust.enrollment_match(peer_certs, usable, now=now)
    if found is None:
        raise CertFailedValidation.with_reason("the client certificate does not verify against a verified CA with auto-enrollment enabled")
    ca, chain = found
    leaf = chain[0]
    external_id = None
    if ca.external_id_claim:
        external_id = extract_external_id(leaf, ca.external_id_claim)
        if external_id is None:
            raise MissingCertClaim.with_reason(f"no value found at {ca.external_id_claim.get('location')}")
        if db.scalar(select(Identity.id).where(Identity.external_id == external_id)) is not None:
            raise CouldNotValidate.for_field("externalId", "an identity with this externalId already exists", external_id)
    fp = fingerprint(leaf)
    if external_id is None and db.scalar(select(Authenticator.id).where(Authenticator.fingerprint == fp)) is not None:
        raise CertInUse()
    identity_id = new_id()
    identity = Identity(
        id=identity_id, name=identity_name(db, ca, common=common_name(leaf), requested=requested_name, identity_id=identity_id),
        type_id="Default", is_admin=False, is_default_admin=False, external_id=external_id, auth_policy_id="default",
        default_hosting_cost=0, role_attributes=list(ca.identity_roles or []), tags={}, app_data={}, sdk_info={},
        env_info={}, created_at=now, updated_at=now,
    )
    db.add(identity)
    try:
        db.flush()  # the identity row first: the authenticator refers to it
    except IntegrityError as exc:
        raise CouldNotValidate.for_field("name", f"could not create the identity: {exc.orig}", identity.name) from None
    authenticator_id = None
    if external_id is None:
        authenticator_id = new_id()
        db.add(Authenticator(
            id=authenticator_id, identity_id=identity_id, method="cert", cert_pem=cert_pem(leaf), fingerprint=fp,
            public_key_print=public_key_print(leaf), is_issued_by_network=False, ca_id=ca.id, created_at=now,
            updated_at=now, tags={},
        ))
    try:
        db.flush()
    except IntegrityError:
        raise CertInUse() from None
    journal.record(db, kind="ca-enroll", at=now, identity_id=identity_id, authenticator_id=authenticator_id,
                   new_fingerprint=fp, detail={"caId": ca.id, "name": identity.name, "externalId": external_id})
    return identity
