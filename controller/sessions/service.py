"""API sessions: authenticating by password or certificate, resolving `zt-session`, logging out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography import x509
from sqlalchemy import select
from sqlalchemy.orm import Session

from controller.api.render import entity_ref, fmt_time
from controller.cas import trust as ca_trust
from controller.errors import CouldNotValidate, InvalidAuth, Unauthorized
from controller.ids import new_id, new_token
from controller.passwords import verify_password
from controller.pki.certs import fingerprint, public_key_print
from controller.pki.external import extract_external_id
from controller.pki.hierarchy import Pki
from controller.pki.verify import ChainError, is_within_validity, verify_client_chain_cached
from controller.sessions import repository
from controller.store.models import ApiSession, Authenticator, Identity

# Sliding expiry. The real controller keeps an API session's last activity in memory and writes it to its
# store in the background, so an authenticated request does not write. Here the database is the only
# shared memory (replicas), so the row is written, but only when the expiry would move by more than
# ACTIVITY_FRACTION of the timeout (at least ACTIVITY_MIN): with the default 30 minutes, once in 18 s per
# session. Between writes, lastActivityAt and expiresAt lag by at most that much, and a session may expire
# that much earlier than one whose every request was written. A GET then reads only (no write lock).
ACTIVITY_FRACTION = 100
ACTIVITY_MIN = timedelta(seconds=1)


def activity_resolution(timeout: timedelta) -> timedelta:
    return max(ACTIVITY_MIN, timeout / ACTIVITY_FRACTION)


class SessionNeedsWrite(Exception):
    """Resolving the session must write (slide its expiry, or delete it once expired): the caller reopens its
    transaction for writing and resolves again."""

    def __init__(self, *, expired: bool):
        super().__init__("expired" if expired else "slide")
        self.expired = expired


@dataclass(frozen=True)
class SessionContext:
    """The caller's API session and identity: ORM entities after a login, read-only records
    (controller.store.records) when resolved from a zt-session token. Either way, only read them; a change
    to the session goes through repository.slide / repository.delete_by_id."""

    session: ApiSession  # or its record
    identity: Identity  # or its record
    now: datetime
    timeout: timedelta

    @property
    def expires_at(self) -> datetime:
        return self.session.last_activity_at + self.timeout


@dataclass(frozen=True)
class Login:
    context: SessionContext
    authenticator: Authenticator | None


@dataclass(frozen=True)
class ClientInfo:
    ip_address: str
    body: dict[str, Any]


def resolve(
    db: Session, found: tuple[ApiSession, Identity] | None, *, now: datetime, timeout: timedelta, read_only: bool = False,
) -> SessionContext:
    """The session a `zt-session` token named, with its expiry slid forward; 401 UNAUTHORIZED otherwise.
    `found`: the (session, identity) records read with the clock (repository.clock_and_session), or None.
    `read_only`: raise SessionNeedsWrite instead of changing anything."""
    if found is None:
        raise Unauthorized()
    session, identity = found
    if now > session.last_activity_at + timeout:
        if read_only:
            raise SessionNeedsWrite(expired=True)
        repository.delete_by_id(db, session.id)
        raise Unauthorized()
    if now - session.last_activity_at >= activity_resolution(timeout) or now < session.last_activity_at:
        if read_only:
            raise SessionNeedsWrite(expired=False)
        repository.slide(db, session.id, now)
        session = session._replace(last_activity_at=now, updated_at=now)
    return SessionContext(session, identity, now, timeout)


def require_admin(context: SessionContext) -> SessionContext:
    if not context.identity.is_admin:
        raise Unauthorized()
    return context


def authenticate_password(db: Session, body: dict[str, Any], client: ClientInfo, *, now: datetime, timeout: timedelta) -> Login:
    username, password = body.get("username"), body.get("password")
    if not isinstance(username, str) or not username:
        raise CouldNotValidate.for_field("username", "username is required")
    if not isinstance(password, str) or not password:
        raise CouldNotValidate.for_field("password", "password is required")
    authenticator = repository.updb_by_username(db, username)
    if authenticator is None or not verify_password(password, authenticator.password_hash):
        raise InvalidAuth()
    identity = db.get(Identity, authenticator.identity_id)
    if identity is None or identity.disabled:
        raise InvalidAuth()
    return Login(_open(db, identity, authenticator.id, "password", client, now=now, timeout=timeout, extendable=False, improper=False), authenticator)


# The authenticator id of a session opened through a CA's externalIdClaim: the real controller's synthetic
# authenticator, which cannot be read (so extending it is 404).
EXTERNAL_ID_AUTHENTICATOR = "internal"


def authenticate_cert(
    db: Session, peer_certs: list[x509.Certificate], chain_complete: bool, client: ClientInfo, *, pki: Pki,
    now: datetime, timeout: timedelta, allow_expired: bool,
) -> Login:
    """The real pools in order: the edge roots with the client's intermediates, then every edge CA (the client
    left out its intermediates: improper chain), then verified third-party CAs with auth enabled (read from the
    database on each login). A third-party CA with an externalIdClaim maps by `externalId`, anything else by
    the leaf's fingerprint. No pool, no mapping, a disabled identity or (by policy) an expired leaf: 401."""
    if not peer_certs:
        raise InvalidAuth.with_reason("no client certificate was presented")
    leaf, presented_intermediates = peer_certs[0], peer_certs[1:]
    improper = _verify_against_edge_pki(leaf, presented_intermediates, chain_complete, pki, now)
    third_party = None
    if improper is None:
        third_party = ca_trust.auth_match(db, peer_certs, now=now)
        if third_party is None:
            raise InvalidAuth.with_reason("certificate did not verify against the network's CAs or a verified third-party CA")
        improper = False
    if third_party is not None and third_party.external_id_claim:
        return _login_by_external_id(db, leaf, third_party.external_id_claim, client, now=now, timeout=timeout,
                                     allow_expired=allow_expired)
    authenticator, identity = repository.cert_login_by_fingerprint(db, fingerprint(leaf))  # records
    if authenticator is None or authenticator.method != "cert":
        raise InvalidAuth.with_reason("failed to find authenticator by fingerprint")
    if identity is None or identity.disabled:
        raise InvalidAuth()
    if not allow_expired and not is_within_validity(leaf, now):
        raise InvalidAuth.with_reason("the client certificate is expired or not yet valid")
    facts = {"last_auth_resolved_to_root": not improper, "public_key_print": authenticator.public_key_print or public_key_print(leaf)}
    if any(getattr(authenticator, name) != value for name, value in facts.items()):  # most logins change nothing
        authenticator = authenticator._replace(**facts)
        repository.record_login_facts(db, authenticator.id, resolved_to_root=authenticator.last_auth_resolved_to_root,
                                      key_print=authenticator.public_key_print)
    context = _open(
        db, identity, authenticator.id, "cert", client, now=now, timeout=timeout,
        extendable=authenticator.is_issued_by_network, improper=improper,
    )
    return Login(context, authenticator)


def _login_by_external_id(
    db: Session, leaf: x509.Certificate, claim: dict[str, Any], client: ClientInfo, *, now: datetime,
    timeout: timedelta, allow_expired: bool,
) -> Login:
    external_id = extract_external_id(leaf, claim)
    if external_id is None:
        raise InvalidAuth.with_reason("the certificate does not hold the CA's externalIdClaim")
    identity = db.scalars(select(Identity).where(Identity.external_id == external_id).limit(1)).first()
    if identity is None or identity.disabled:
        raise InvalidAuth.with_reason("failed to find an identity by externalId")
    if not allow_expired and not is_within_validity(leaf, now):
        raise InvalidAuth.with_reason("the client certificate is expired or not yet valid")
    context = _open(db, identity, EXTERNAL_ID_AUTHENTICATOR, "cert", client, now=now, timeout=timeout,
                    extendable=False, improper=False)
    return Login(context, None)


def _verify_against_edge_pki(
    leaf: x509.Certificate, intermediates: list[x509.Certificate], chain_complete: bool, pki: Pki, now: datetime
) -> bool | None:
    """Verify (time ignored) against the edge PKI; return whether the chain was improper, None if it does
    not verify at all.

    As the real controller: first with the self-signed roots only, using the intermediates the client sent;
    if only the full trust-anchor pool works, the client left out its intermediates (improper chain).
    Where the runtime cannot see the intermediates the client sent (CPython < 3.13 exposes only the leaf),
    the chain is never reported improper: a false 'improper' would make SDKs extend on every login.
    """
    if chain_complete:
        try:
            verify_client_chain_cached(leaf, intermediates, [pki.root.cert], now=now)
            return False
        except ChainError:
            pass
    try:
        verify_client_chain_cached(leaf, [], pki.ca_certs, now=now)
    except ChainError:
        return None
    return chain_complete


def _open(
    db: Session, identity: Identity, authenticator_id: str, method: str, client: ClientInfo, *,
    now: datetime, timeout: timedelta, extendable: bool, improper: bool,
) -> SessionContext:
    config_types = client.body.get("configTypes") if isinstance(client.body.get("configTypes"), list) else []
    session = repository.insert_session(
        db, id=new_id(), token=new_token(), identity_id=identity.id, authenticator_id=authenticator_id, auth_method=method,
        is_cert_extendable=extendable, improper_client_cert_chain=improper, ip_address=client.ip_address,
        config_types=[str(c) for c in config_types], last_activity_at=now, created_at=now, updated_at=now,
    )
    infos = {column: client.body[key] for key, column in (("sdkInfo", "sdk_info"), ("envInfo", "env_info"))
             if isinstance(client.body.get(key), dict)}
    if infos:
        repository.update_identity_info(db, identity.id, **infos)
    return SessionContext(session, identity, now, timeout)


def logout(db: Session, context: SessionContext) -> None:
    repository.delete_by_id(db, context.session.id)


def detail(db: Session, context: SessionContext) -> dict[str, Any]:
    """The currentApiSessionDetail. The extend flags are read live from the authenticator, as the real one."""
    session, identity = context.session, context.identity
    extend_requested, key_roll_requested = (
        repository.extend_flags(db, session.authenticator_id) if session.authenticator_id else (False, False))
    expires_at = context.expires_at
    return {
        "id": session.id,
        "createdAt": fmt_time(session.created_at),
        "updatedAt": fmt_time(session.updated_at),
        "_links": {"self": {"href": "./current-api-session"}},
        "tags": {},
        "token": session.token,
        "identity": entity_ref("identities", identity.id, identity.name),
        "identityId": identity.id,
        "ipAddress": session.ip_address,
        "configTypes": session.config_types,
        "authQueries": [],
        "isMfaRequired": False,
        "isMfaComplete": False,
        "authenticatorId": session.authenticator_id,
        "isCertExtendable": session.is_cert_extendable,
        "isCertExtendRequested": extend_requested,
        "isCertKeyRollRequested": key_roll_requested,
        "improperClientCertChain": session.improper_client_cert_chain,
        "lastActivityAt": fmt_time(session.last_activity_at),
        "cachedLastActivityAt": fmt_time(session.last_activity_at),
        "expiresAt": fmt_time(expires_at),
        "expirationSeconds": int(context.timeout.total_seconds()),
    }
