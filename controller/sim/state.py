"""Reset and snapshot/restore of the network's state. The PKI, the default admin and the admin's API
sessions are kept, so the test that asks keeps its login."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, inspect, or_, select
from sqlalchemy.orm import Session

from controller.errors import NotFound
from controller.core import clock, policy
from controller.sim import faults
from controller.store.types import UtcDateTime
from controller.store.models import (
    ApiSession, Authenticator, Enrollment, Identity, RouterConnection, STATE_TABLES, SimClock, SimEvent, SimSnapshot,
)


# The journal is a log, not state: a snapshot does not carry it, and restoring one clears it. Open control
# channels are live connections: restoring clears them and their channels close (the routers reconnect).
SNAPSHOT_TABLES = [m for m in STATE_TABLES if m not in (SimEvent, RouterConnection)]


def _admin_id(db: Session) -> str | None:
    return db.scalar(select(Identity.id).where(Identity.is_default_admin.is_(True)))


def _clear(db: Session, admin_id: str | None) -> None:
    """Delete everything but the default admin (its identity, authenticators and sessions), children first."""
    for model in reversed(STATE_TABLES):
        stmt = delete(model)
        if admin_id is not None:
            if model is Identity:
                stmt = stmt.where(Identity.id != admin_id)
            elif model is Enrollment:  # router enrollments have no identity
                stmt = stmt.where(or_(Enrollment.identity_id.is_(None), Enrollment.identity_id != admin_id))
            elif model in (Authenticator, ApiSession):
                stmt = stmt.where(model.identity_id != admin_id)
        db.execute(stmt)


def _truncation() -> list[Any]:
    """Reset's DELETE statements, children first, on the tables (Core: no ORM bulk-delete machinery). Without WHERE wherever
    nothing survives, which on SQLite is its truncate optimisation. The default admin's rows survive through
    a sub-select instead of a separate look-up; with no default admin, NOT IN an empty set deletes every row.
    Not TRUNCATE on PostgreSQL: it takes ACCESS EXCLUSIVE locks after reset holds the sim row, while a
    concurrent request holds ACCESS SHARE on the same tables and waits for the sim row: a deadlock."""
    admins = select(Identity.__table__.c.id).where(Identity.__table__.c.is_default_admin.is_(True)).scalar_subquery()
    statements = []
    for model in reversed(STATE_TABLES):
        table = model.__table__
        stmt = delete(table)
        if model is Identity:
            stmt = stmt.where(table.c.is_default_admin.is_not(True))
        elif model is Enrollment:  # router enrollments have no identity
            stmt = stmt.where(or_(table.c.identity_id.is_(None), table.c.identity_id.not_in(admins)))
        elif model in (Authenticator, ApiSession):
            stmt = stmt.where(table.c.identity_id.not_in(admins))
        statements.append(stmt)
    return statements


_TRUNCATION_SQL: dict[str, list[str]] = {}


def _truncation_sql(dialect: Any) -> list[str]:
    """The statements rendered once per dialect (they take no parameters) and sent as they are: no statement
    building, cache-key or compile work per reset. PostgreSQL gets them as one script: one round trip."""
    sql = _TRUNCATION_SQL.get(dialect.name)
    if sql is None:
        sql = [str(stmt.compile(dialect=dialect, compile_kwargs={"literal_binds": True})) for stmt in _truncation()]
        if dialect.name == "postgresql":
            sql = [";\n".join(sql)]
        _TRUNCATION_SQL[dialect.name] = sql
    return sql


def _forget_deleted(db: Session) -> None:
    """Expunge what this session holds of the rows the DELETEs removed (a caller that is not the default admin
    removes its own API session and identity), so that nothing flushes an UPDATE to a row that is gone."""
    held = [obj for obj in db.identity_map.values() if type(obj) in _STATE_MODELS]
    if not held:
        return
    loaded = lambda obj, key: inspect(obj).dict.get(key)  # noqa: E731 - what was loaded: never a lazy load of a deleted row
    admins = {loaded(obj, "id") for obj in held if isinstance(obj, Identity) and loaded(obj, "is_default_admin")}
    if not admins and any(isinstance(obj, _ADMIN_KEEPS) for obj in held):
        admin_id = _admin_id(db)
        admins = {admin_id} if admin_id else set()
    for obj in held:
        if isinstance(obj, Identity):
            kept = loaded(obj, "id") in admins
        elif isinstance(obj, _ADMIN_KEEPS):
            kept = loaded(obj, "identity_id") in admins
        else:
            kept = False
        if not kept:
            db.expunge(obj)


_STATE_MODELS = frozenset(STATE_TABLES)
_ADMIN_KEEPS = (ApiSession, Authenticator, Enrollment)  # the default admin's rows of these survive a reset


def reset(db: Session) -> clock.ClockState:
    """Back to a clean network in this one transaction: every replica sees it at commit, as nothing of the
    network is cached in a process. Returns the clock as reset."""
    row = clock.lock(db)  # the shared row first, before anything else is written (lock order)
    connection = db.connection()
    with db.no_autoflush:  # the sim row's change is written at commit, after the deletes
        for sql in _truncation_sql(connection.dialect):
            connection.exec_driver_sql(sql)
    _forget_deleted(db)
    # Everything the sim row holds for the network goes back to its start here (the clock, the run-time
    # policy, the fault-rules count).
    policy.clear(row)
    faults.rule_count(db)  # none are left: this process and the others learn it from the sim row
    return clock.reset_row(row)


def _row_to_json(row: Any) -> dict[str, Any]:
    values = {}
    for attr in inspect(row).mapper.column_attrs:
        value = getattr(row, attr.key)
        values[attr.key] = value.isoformat() if isinstance(value, datetime) else value
    return values


def _row_from_json(model: Any, values: dict[str, Any]) -> Any:
    mapper = inspect(model)
    kwargs = {}
    for attr in mapper.column_attrs:
        value = values.get(attr.key)
        column = attr.columns[0]
        if value is not None and isinstance(column.type, UtcDateTime):
            value = datetime.fromisoformat(value)
        kwargs[attr.key] = value
    return model(**kwargs)


def snapshot(db: Session, name: str, *, now: datetime) -> SimSnapshot:
    admin_id = _admin_id(db)
    data: dict[str, Any] = {}
    for model in SNAPSHOT_TABLES:
        rows = db.scalars(select(model)).all()
        if model is ApiSession:
            rows = [r for r in rows if r.identity_id != admin_id]
        data[model.__tablename__] = [_row_to_json(r) for r in rows]
    data["sim_clock"] = [_row_to_json(r) for r in db.scalars(select(SimClock))]
    existing = db.get(SimSnapshot, name)
    if existing is not None:
        existing.data, existing.created_at = data, now
        return existing
    snap = SimSnapshot(name=name, data=data, created_at=now)
    db.add(snap)
    return snap


def restore(db: Session, name: str) -> int:
    """Back to snapshot `name`; returns the number of fault rules it brought back."""
    snap = db.get(SimSnapshot, name)
    if snap is None:
        raise NotFound(cause={"field": "name", "reason": "no snapshot with this name", "value": name})
    clock.lock(db)  # the shared row first, before anything else is written (lock order)
    admin_id = _admin_id(db)
    _clear(db, admin_id)
    # The admin itself is replaced by the snapshot's copy (same id: the PKI and admin never change).
    db.execute(delete(Authenticator).where(Authenticator.identity_id == admin_id))
    db.execute(delete(Enrollment).where(Enrollment.identity_id == admin_id))
    db.flush()
    for model in SNAPSHOT_TABLES:
        for values in snap.data.get(model.__tablename__, []):
            if model is Identity and values["id"] == admin_id:
                db.merge(_row_from_json(model, values))
                continue
            db.add(_row_from_json(model, values))
        db.flush()
    for values in snap.data.get("sim_clock", []):
        db.merge(_row_from_json(SimClock, values))
    return faults.rule_count(db)  # the rules restored, whatever count the snapshot's sim row carried (or none)
