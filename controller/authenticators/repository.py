from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, null, select, update
from sqlalchemy.orm import Session

from controller.store.models import Authenticator
from controller.store.records import RecordType
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


# The extension's own statements (extend and extend-verify run once per certificate renewal on every client):
# built once, read as a record and written with explicit UPDATEs instead of through the ORM unit of work.
RECORD = RecordType(Authenticator)
_LOCKED = select(*RECORD.columns).where(Authenticator.id == bindparam("authenticator_id")).with_for_update()
_STORE_PENDING = update(Authenticator).where(Authenticator.id == bindparam("authenticator_id")).values(
    unverified_cert_pem=bindparam("new_cert_pem"), unverified_fingerprint=bindparam("new_fingerprint"),
    updated_at=bindparam("now"))
_PROMOTE_PENDING = update(Authenticator).where(Authenticator.id == bindparam("authenticator_id")).values(
    cert_pem=bindparam("new_cert_pem"), fingerprint=bindparam("new_fingerprint"),
    unverified_cert_pem=None, unverified_fingerprint=None, public_key_print=bindparam("new_key_print"),
    last_extend_rolled_keys=bindparam("rolled_keys"), is_extend_requested=False, is_key_roll_requested=False,
    updated_at=bindparam("now"))


def locked_record(db: Session, authenticator_id: str) -> Any | None:
    """The authenticator as a read-only record, its row locked (PostgreSQL) until the transaction ends, so
    that concurrent extends and verifies of it serialise."""
    row = db.connection().execute(_LOCKED, {"authenticator_id": authenticator_id}).first()
    return None if row is None else RECORD.make(row)


def store_pending(db: Session, authenticator_id: str, *, cert_pem: str, fingerprint: str, now: datetime) -> None:
    """Extend: keep the new certificate pending; the current one still authenticates."""
    db.connection().execute(_STORE_PENDING, {"authenticator_id": authenticator_id, "new_cert_pem": cert_pem,
                                             "new_fingerprint": fingerprint, "now": now})


def promote_pending(db: Session, authenticator_id: str, *, cert_pem: str, fingerprint: str, key_print: str,
                    rolled_keys: bool, now: datetime) -> None:
    """Extend-verify: the pending certificate replaces the current one; the extend request flags clear."""
    db.connection().execute(_PROMOTE_PENDING, {
        "authenticator_id": authenticator_id, "new_cert_pem": cert_pem, "new_fingerprint": fingerprint,
        "new_key_print": key_print, "rolled_keys": rolled_keys, "now": now})
