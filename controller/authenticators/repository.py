from __future__ import annotations

from sqlalchemy import null, select
from sqlalchemy.orm import Session

from controller.store.models import Authenticator
from controller.zitiql.symbols import entity_symbols, scalar

# The real authenticator store's public symbols (management-model.md 1.8). `updbSalt` has no column of its
# own here (the salt lives inside the password hash), so it reads as missing.
FILTERABLE = entity_symbols(
    Authenticator, method=Authenticator.method, identity=Authenticator.identity_id,
    certFingerprint=Authenticator.fingerprint, certPem=Authenticator.cert_pem,
    isIssuedByNetwork=Authenticator.is_issued_by_network, isExtendRequested=Authenticator.is_extend_requested,
    isKeyRollRequested=Authenticator.is_key_roll_requested, extendRequestedAt=Authenticator.extend_requested_at,
    publicKeyPrint=Authenticator.public_key_print, lastAuthResolvedToRoot=Authenticator.last_auth_resolved_to_root,
    lastExtendRolledKeys=Authenticator.last_extend_rolled_keys, updbUsername=Authenticator.username,
    updbPassword=Authenticator.password_hash, updbSalt=scalar(null(), "string", nullable=True, sortable=False),
)


def get(db: Session, authenticator_id: str, *, for_update: bool = False) -> Authenticator | None:
    """With `for_update`, the row is locked (PostgreSQL) so concurrent extends and verifies serialise."""
    stmt = select(Authenticator).where(Authenticator.id == authenticator_id)
    if for_update:
        stmt = stmt.with_for_update()
    return db.scalars(stmt).one_or_none()


def of_identity_method(db: Session, identity_id: str, method: str) -> Authenticator | None:
    return db.scalars(select(Authenticator).where(Authenticator.identity_id == identity_id, Authenticator.method == method)).one_or_none()


def by_username(db: Session, username: str) -> Authenticator | None:
    return db.scalars(select(Authenticator).where(Authenticator.username == username)).one_or_none()


def by_fingerprint(db: Session, fp: str) -> Authenticator | None:
    return db.scalars(select(Authenticator).where(Authenticator.fingerprint == fp)).one_or_none()
