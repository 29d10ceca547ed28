"""Authenticators: listing, self-service password change, admin CRUD, request-extend, re-enroll, and the
two-step certificate extension (extend, then extend-verify) with the real controller's ordered checks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography import x509
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from controller.api.listing import Page, paginate
from controller.api.render import base_entity, entity_ref, fmt_time
from controller.authenticators import repository
from controller.authenticators.schemas import AuthenticatorCreate, AuthenticatorPatch, AuthenticatorUpdate
from controller.cas import repository as ca_repository, trust as ca_trust
from controller.enrollments import service as enrollments
from controller.errors import (
    CanNotUpdateAuthenticator, CertInUse, CouldNotParsePemBlock, CouldNotValidate, InvalidClientCert,
    MaxAuthenticatorMethodsReached, NotFound, Unauthorized,
)
from controller.ids import new_id
from controller.passwords import hash_password, verify_password
from controller.pki.certs import cert_pem, certs_pem, fingerprint, is_ca, load_certs_pem, public_key_print
from controller.pki import facts as cert_facts
from controller.pki.csr import parse_csr_pem
from controller.pki.external import matching_ca
from controller.pki.hierarchy import Pki
from controller.pki.issuing import issue_client_cert
from controller.pki.verify import ChainError, verify_client_chain, verify_client_chain_cached
from controller.settings import Settings
from controller.core import journal
from controller.store.models import Authenticator, Enrollment, Identity

METHODS = ("updb", "cert")


def get(db: Session, authenticator_id: str) -> Authenticator:
    authenticator = repository.get(db, authenticator_id)
    if authenticator is None:
        raise NotFound.for_id(authenticator_id)
    return authenticator


def get_own(db: Session, identity: Identity, authenticator_id: str) -> Authenticator:
    """Another identity's authenticator is reported as not found on the self-service detail."""
    authenticator = repository.get(db, authenticator_id)
    if authenticator is None or authenticator.identity_id != identity.id:
        raise NotFound.for_id(authenticator_id)
    return authenticator


def list_page(db: Session, page: Page, *, identity_id: str | None = None) -> tuple[list[Authenticator], int]:
    stmt = select(Authenticator)
    if identity_id is not None:
        stmt = stmt.where(Authenticator.identity_id == identity_id)
    return paginate(db, stmt, page, repository.FILTERABLE, Authenticator.created_at)


# --- self service -------------------------------------------------------------------------------------

def update_own_password(
    db: Session, identity: Identity, authenticator_id: str, *, current_password: str, username: str | None,
    password: str | None, tags: dict[str, Any] | None, now: datetime, hash_cost: int,
) -> None:
    authenticator = get_own(db, identity, authenticator_id)
    if authenticator.method != "updb":
        raise CanNotUpdateAuthenticator.with_reason("only updb authenticators can be updated by their identity")
    if not verify_password(current_password, authenticator.password_hash):
        raise Unauthorized.with_reason("the current password is not correct")
    _apply_updb(db, authenticator, username=username, password=password, tags=tags, now=now, hash_cost=hash_cost)


def _apply_updb(db: Session, authenticator: Authenticator, *, username: str | None, password: str | None,
                tags: dict[str, Any] | None, now: datetime, hash_cost: int) -> None:
    if username is not None and username != authenticator.username:
        other = repository.by_username(db, username)
        if other is not None and other.id != authenticator.id:
            raise CouldNotValidate.for_field("username", "username is must be unique", username)
        authenticator.username = username
    if password is not None:
        authenticator.password_hash = hash_password(password, cost=hash_cost)
    if tags is not None:
        authenticator.tags = tags
    authenticator.updated_at = now


# --- administration -----------------------------------------------------------------------------------

def create(db: Session, body: AuthenticatorCreate, *, now: datetime, pki: Pki, hash_cost: int) -> Authenticator:
    if body.method not in METHODS:
        raise CouldNotValidate.for_field("method", "method must be updb or cert", body.method)
    if db.get(Identity, body.identity_id) is None:
        raise CouldNotValidate.for_field("identityId", "no identity with this id", body.identity_id)
    if repository.of_identity_method(db, body.identity_id, body.method) is not None:
        raise MaxAuthenticatorMethodsReached()
    authenticator = Authenticator(id=new_id(), identity_id=body.identity_id, method=body.method, created_at=now,
                                  updated_at=now, tags=body.tags or {}, is_issued_by_network=False)
    if body.method == "updb":
        if not body.username or not body.password:
            raise CouldNotValidate.for_field("username" if not body.username else "password", "username and password are required for updb")
        if repository.by_username(db, body.username) is not None:
            raise CouldNotValidate.for_field("username", "username is must be unique", body.username)
        authenticator.username, authenticator.password_hash = body.username, hash_password(body.password, cost=hash_cost)
    else:
        leaf, authenticator.ca_id = _admin_supplied_cert(db, body.cert_pem, pki, now=now)
        if repository.by_fingerprint(db, fingerprint(leaf)) is not None:
            raise CertInUse()
        authenticator.cert_pem, authenticator.fingerprint = cert_pem(leaf), fingerprint(leaf)
        authenticator.public_key_print = public_key_print(leaf)
    db.add(authenticator)
    try:
        db.flush()
    except IntegrityError:
        raise MaxAuthenticatorMethodsReached() from None
    return authenticator


def _admin_supplied_cert(db: Session, text: str | None, pki: Pki, *, now: datetime) -> tuple[x509.Certificate, str | None]:
    """Exactly one certificate, which must verify against the edge CAs as of its own NotBefore (so expired
    certificates are accepted), or against a verified third-party CA (then its id is returned too). Such an
    authenticator is never issued by the network: it cannot be extended."""
    try:
        certs = load_certs_pem(text or "")
    except ValueError as exc:
        raise CouldNotParsePemBlock.with_reason(str(exc)) from None
    if len(certs) != 1:
        raise CouldNotParsePemBlock.with_reason(f"expected exactly one certificate, got {len(certs)}")
    leaf = certs[0]
    try:
        verify_client_chain(leaf, [], pki.ca_certs, now=leaf.not_valid_before_utc)
        return leaf, None
    except ChainError as exc:
        verified = [ca for ca in ca_repository.all_cas(db) if ca.is_verified]
        found = matching_ca([leaf], [ca_trust.trusted(ca) for ca in verified], now=now, check_time=False)
        if found is None:
            raise CouldNotValidate.for_field("certPem", f"certificate does not verify against the network's CAs: {exc}") from None
        return leaf, found[0].id


def update(
    db: Session, authenticator: Authenticator, body: AuthenticatorUpdate | AuthenticatorPatch, *, now: datetime, hash_cost: int,
) -> None:
    """Admins change only a updb login (and tags); method and identity never change."""
    if authenticator.method == "updb":
        _apply_updb(db, authenticator, username=body.username, password=body.password, tags=body.tags, now=now,
                    hash_cost=hash_cost)
    elif body.tags is not None:
        authenticator.tags, authenticator.updated_at = body.tags, now


def delete(db: Session, authenticator: Authenticator) -> None:
    db.delete(authenticator)


def request_extend(db: Session, authenticator_id: str, *, roll_keys: bool, now: datetime) -> Authenticator:
    authenticator = repository.get(db, authenticator_id, for_update=True)
    if authenticator is None:
        raise NotFound.for_id(authenticator_id)
    if authenticator.method != "cert":
        # The real controller answers 401 here although its spec says 403.
        raise Unauthorized.with_reason("authenticator is not a certificate authenticator")
    authenticator.is_extend_requested = True
    authenticator.is_key_roll_requested = roll_keys
    authenticator.extend_requested_at = now
    authenticator.updated_at = now
    journal.record(db, kind="request-extend", at=now, identity_id=authenticator.identity_id,
                   authenticator_id=authenticator.id, old_fingerprint=authenticator.fingerprint, detail={"rollKeys": roll_keys})
    return authenticator


def re_enroll(db: Session, authenticator_id: str, *, expires_at: datetime, now: datetime, settings: Settings, pki: Pki) -> Enrollment:
    """Turn the authenticator back into an enrollment of the matching kind, then delete it."""
    authenticator = repository.get(db, authenticator_id, for_update=True)
    if authenticator is None:
        raise NotFound.for_id(authenticator_id)
    identity = db.get(Identity, authenticator.identity_id)
    assert identity is not None  # foreign key
    ca_id = None
    if authenticator.method == "cert":
        # A certificate that chains to a registered third-party CA goes back to an ottca enrollment with that CA.
        ca_id = authenticator.ca_id or getattr(ca_trust.ca_of_cert(db, authenticator.cert_pem, now=now), "id", None)
    method = "updb" if authenticator.method == "updb" else "ottca" if ca_id else "ott"
    old_fingerprint = authenticator.fingerprint
    db.delete(authenticator)
    db.flush()
    enrollment = enrollments.create(db, identity, method, now=now, expires_at=expires_at, settings=settings, pki=pki,
                                    username=authenticator.username if method == "updb" else None, ca_id=ca_id)
    journal.record(db, kind="re-enroll", at=now, identity_id=identity.id, authenticator_id=authenticator_id,
                   old_fingerprint=old_fingerprint, detail={"enrollmentId": enrollment.id, "method": method})
    return enrollment


# --- certificate extension ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Extension:
    client_cert: str  # new leaf + intermediates, no root
    ca: str  # the CA bundle
    new_fingerprint: str
    old_fingerprint: str


def _own_cert_authenticator_locked(db: Session, identity: Identity, authenticator_id: str, op: journal.Operation) -> Any:
    """The checks extend and extend-verify share, in the real order: it exists (404), it is a cert
    authenticator (409), it is the caller's (401). The row stays locked until the transaction ends; it is
    returned as a read-only record (the changes are repository.store_pending / promote_pending)."""
    authenticator = repository.locked_record(db, authenticator_id)
    if authenticator is None:
        raise NotFound.for_id(authenticator_id)
    op.authenticator_id, op.old_fingerprint = authenticator.id, authenticator.fingerprint
    if authenticator.method != "cert":
        raise CanNotUpdateAuthenticator.with_reason("authenticator is not a certificate authenticator")
    if authenticator.identity_id != identity.id:
        raise Unauthorized.with_reason("the authenticator belongs to another identity")
    return authenticator


def extend(
    db: Session, identity: Identity, authenticator_id: str, csr_pem: str, *, peer_certs: list[x509.Certificate],
    now: datetime, settings: Settings, pki: Pki, op: journal.Operation,
) -> Extension:
    """Sign a new certificate for the caller's own network-issued cert authenticator and keep it pending.

    The checks run in the real controller's order; the first that fails decides the answer.
    """
    # 1-2: a client certificate on this very connection, whose leaf is not a CA.
    leaf = next((c for c in peer_certs if not is_ca(c)), None)
    if not peer_certs or leaf is None:
        raise Unauthorized.with_reason("a client certificate is required on the TLS connection")
    # 4-8: the caller's own cert authenticator (locked for the rest of the transaction), network-issued.
    authenticator = _own_cert_authenticator_locked(db, identity, authenticator_id, op)
    if not authenticator.is_issued_by_network:
        raise CanNotUpdateAuthenticator.with_reason("the certificate was not issued by this network and cannot be extended")
    if not authenticator.cert_pem or not authenticator.fingerprint:
        raise CanNotUpdateAuthenticator.with_reason("the authenticator has no certificate")
    # 9: the TLS leaf is the authenticator's current certificate.
    if fingerprint(peer_certs[0]) != authenticator.fingerprint:
        raise Unauthorized.with_reason("the client certificate does not match the authenticator")
    # 10: it chains to the edge CAs (time ignored, so an expired certificate can still extend).
    try:
        verify_client_chain_cached(peer_certs[0], [pki.signer.cert, pki.intermediate.cert, *peer_certs[1:]], [pki.root.cert], now=now)
    except ChainError as exc:
        raise Unauthorized.with_reason(f"the client certificate did not verify: {exc}") from None
    # 11-12: the CSR parses, its signature and key are acceptable.
    csr = parse_csr_pem(csr_pem, strict_trailing_data=settings.compat_strict_csr_trailing_data)
    current = cert_facts.of_first_pem(authenticator.cert_pem)  # parsed once per certificate, then cached
    new_leaf = issue_client_cert(
        signer=pki.signer, public_key=csr.public_key(), subject=csr.subject, sans=list(current.sans), now=now,
        lifetime=settings.identity_cert_lifetime, compat_ec_key_encipherment=settings.compat_ec_key_encipherment,
    )
    new_pem = cert_pem(new_leaf)
    new_facts = cert_facts.remember(new_pem, new_leaf)  # its next extend (once verified) reads it from here
    client_cert = certs_pem(pki.chain_minus_root(new_leaf))
    cert_facts.remember(client_cert, new_leaf)  # what extend-verify receives back
    new_fp = new_facts.fingerprint
    # Only the pending pair changes: the live certificate keeps authenticating until verify.
    repository.store_pending(db, authenticator.id, cert_pem=new_pem, fingerprint=new_fp, now=now)
    journal.record(db, kind="extend", at=now, identity_id=identity.id, authenticator_id=authenticator.id,
                   old_fingerprint=authenticator.fingerprint, new_fingerprint=new_fp,
                   detail={"keyChanged": new_facts.key_print != current.key_print})
    return Extension(client_cert, pki.ca_bundle_pem, new_fp, authenticator.fingerprint)


def verify_extension(
    db: Session, identity: Identity, authenticator_id: str, client_cert: str, *, now: datetime, op: journal.Operation,
) -> None:
    """Promote the pending certificate: the old one stops authenticating at once, the new one starts."""
    authenticator = _own_cert_authenticator_locked(db, identity, authenticator_id, op)
    if not authenticator.cert_pem:
        raise CanNotUpdateAuthenticator.with_reason("the authenticator has no certificate")
    if not authenticator.unverified_cert_pem or not authenticator.unverified_fingerprint:
        raise CanNotUpdateAuthenticator.with_reason("no certificate extension is pending for this authenticator")
    try:
        submitted = cert_facts.of_first_pem(client_cert)  # usually the exact text extend returned: cached
    except ValueError as exc:
        raise InvalidClientCert.with_reason(f"could not parse clientCert: {exc}") from None
    if submitted.fingerprint != authenticator.unverified_fingerprint:
        raise InvalidClientCert.with_reason("clientCert is not the certificate issued by the pending extension")
    old_print = authenticator.public_key_print or cert_facts.of_first_pem(authenticator.cert_pem).key_print
    new_print = submitted.key_print
    rolled_keys = new_print != old_print
    repository.promote_pending(db, authenticator.id, cert_pem=authenticator.unverified_cert_pem,
                               fingerprint=authenticator.unverified_fingerprint, key_print=new_print,
                               rolled_keys=rolled_keys, now=now)
    journal.record(db, kind="extend-verify", at=now, identity_id=identity.id, authenticator_id=authenticator.id,
                   old_fingerprint=authenticator.fingerprint, new_fingerprint=authenticator.unverified_fingerprint,
                   detail={"rolledKeys": rolled_keys})


# --- wire ---------------------------------------------------------------------------------------------

def to_wire(authenticator: Authenticator, identity_name: str | None) -> dict[str, Any]:
    data: dict[str, Any] = {
        **base_entity(authenticator, "authenticators", identity=f"./identities/{authenticator.identity_id}"),
        "method": authenticator.method,
        "identityId": authenticator.identity_id,
        "identity": entity_ref("identities", authenticator.identity_id, identity_name),
    }
    if authenticator.method == "updb":
        data["username"] = authenticator.username
    else:
        data.update({
            "certPem": authenticator.cert_pem,
            "fingerprint": authenticator.fingerprint,
            "isIssuedByNetwork": authenticator.is_issued_by_network,
            "isExtendRequested": authenticator.is_extend_requested,
            "isKeyRollRequested": authenticator.is_key_roll_requested,
            "extendRequestedAt": fmt_time(authenticator.extend_requested_at),
            "lastAuthResolvedToRoot": authenticator.last_auth_resolved_to_root,
            "lastExtendRolledKeys": authenticator.last_extend_rolled_keys,
        })
    return data


def to_wire_many(db: Session, rows: list[Authenticator]) -> list[dict[str, Any]]:
    ids = {r.identity_id for r in rows}
    names = dict(db.execute(select(Identity.id, Identity.name).where(Identity.id.in_(ids))).all()) if ids else {}
    return [to_wire(r, names.get(r.identity_id)) for r in rows]
