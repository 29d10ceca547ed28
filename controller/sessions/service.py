"""API sessions: authenticating by password or certificate, resolving `zt-session`, logging out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography import x509
from sqlalchemy.orm import Session

from controller.api.render import entity_ref, fmt_time
from controller.errors import CouldNotValidate, InvalidAuth, Unauthorized
from controller.ids import new_id, new_token
from controller.passwords import verify_password
from controller.pki.certs import fingerprint, public_key_print
from controller.pki.hierarchy import Pki
from controller.pki.verify import ChainError, is_within_validity, verify_client_chain_cached
from controller.sessions import repository
from controller.store.models import ApiSession, Authenticator, Identity

# Sliding expiry writes last activity at most this often, so reads do not all become writes.
ACTIVITY_RESOLUTION = timedelta(seconds=1)


@dataclass(frozen=True)
class SessionContext:
    session: ApiSession
    identity: Identity
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


def resolve(db: Session, token: str | None, *, now: datetime, timeout: timedelta) -> SessionContext:
    """The session behind a `zt-session` token, with its expiry slid forward; 401 UNAUTHORIZED otherwise."""
    if not token:
        raise Unauthorized()
    found = repository.by_token(db, token)
    if found is None:
        raise Unauthorized()
    session, identity = found
    if now > session.last_activity_at + timeout:
        db.delete(session)
        raise Unauthorized()
    if now - session.last_activity_at >= ACTIVITY_RESOLUTION or now < session.last_activity_at:
        session.last_activity_at = now
        session.updated_at = now
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
    return Login(_open(db, identity, authenticator, "password", client, now=now, timeout=timeout, extendable=False, improper=False), authenticator)


def authenticate_cert(
    db: Session, peer_certs: list[x509.Certificate], chain_complete: bool, client: ClientInfo, *, pki: Pki,
    now: datetime, timeout: timedelta, allow_expired: bool,
) -> Login:
    if not peer_certs:
        raise InvalidAuth.with_reason("no client certificate was presented")
    leaf, presented_intermediates = peer_certs[0], peer_certs[1:]
    improper = _verify_against_edge_pki(leaf, presented_intermediates, chain_complete, pki, now)
    authenticator = repository.authenticator_by_fingerprint(db, fingerprint(leaf))
    if authenticator is None or authenticator.method != "cert":
        raise InvalidAuth.with_reason("failed to find authenticator by fingerprint")
    identity = db.get(Identity, authenticator.identity_id)
    if identity is None or identity.disabled:
        raise InvalidAuth()
    if not allow_expired and not is_within_validity(leaf, now):
        raise InvalidAuth.with_reason("the client certificate is expired or not yet valid")
    authenticator.last_auth_resolved_to_root = not improper
    if not authenticator.public_key_print:
        authenticator.public_key_print = public_key_print(leaf)
    context = _open(
        db, identity, authenticator, "cert", client, now=now, timeout=timeout,
        extendable=authenticator.is_issued_by_network, improper=improper,
    )
    return Login(context, authenticator)


def _verify_against_edge_pki(
    leaf: x509.Certificate, intermediates: list[x509.Certificate], chain_complete: bool, pki: Pki, now: datetime
) -> bool:
    """Verify (time ignored) against the edge PKI; return whether the chain was improper.

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
    except ChainError as exc:
        raise InvalidAuth.with_reason(f"certificate did not verify against the network's CAs: {exc}") from None
    return chain_complete


def _open(
    db: Session, identity: Identity, authenticator: Authenticator, method: str, client: ClientInfo, *,
    now: datetime, timeout: timedelta, extendable: bool, improper: bool,
) -> SessionContext:
    config_types = client.body.get("configTypes") if isinstance(client.body.get("configTypes"), list) else []
    session = ApiSession(
        id=new_id(), token=new_token(), identity_id=identity.id, authenticator_id=authenticator.id, auth_method=method,
        is_cert_extendable=extendable, improper_client_cert_chain=improper, ip_address=client.ip_address,
        config_types=[str(c) for c in config_types], last_activity_at=now, created_at=now, updated_at=now,
    )
    db.add(session)
    for key, column in (("sdkInfo", "sdk_info"), ("envInfo", "env_info")):
        if isinstance(client.body.get(key), dict):
            setattr(identity, column, client.body[key])
    return SessionContext(session, identity, now, timeout)


def logout(db: Session, context: SessionContext) -> None:
    db.delete(context.session)


def detail(db: Session, context: SessionContext) -> dict[str, Any]:
    """The currentApiSessionDetail. The extend flags are read live from the authenticator, as the real one."""
    session, identity = context.session, context.identity
    authenticator = db.get(Authenticator, session.authenticator_id) if session.authenticator_id else None
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
        "isCertExtendRequested": bool(authenticator and authenticator.is_extend_requested),
        "isCertKeyRollRequested": bool(authenticator and authenticator.is_key_roll_requested),
        "improperClientCertChain": session.improper_client_cert_chain,
        "lastActivityAt": fmt_time(session.last_activity_at),
        "cachedLastActivityAt": fmt_time(session.last_activity_at),
        "expiresAt": fmt_time(expires_at),
        "expirationSeconds": int(context.timeout.total_seconds()),
    }
