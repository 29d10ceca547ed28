"""Engine, session factory and migrations.

SQLite: one file in the data directory, WAL, foreign keys on, and every transaction begins IMMEDIATE so
that two concurrent writers queue on the lock instead of failing when a read transaction upgrades.
PostgreSQL: READ COMMITTED; services lock the rows they change with SELECT ... FOR UPDATE.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

def _migrations_dir() -> Path:
    import controller._migrations as migrations  # the project's migrations/, shipped inside the package

    return Path(migrations.__file__).resolve().parent

# The newest Alembic revision. Kept here so that a start on an up-to-date database never imports Alembic
# (its import alone costs ~150 ms); tests/test_migrations.py fails if it falls behind the migrations.
SCHEMA_HEAD = "0008_mgmt_model"
MIGRATION_LOCK_KEY = 0x5A171  # any constants shared by all replicas
FIRST_START_LOCK_KEY = 0x5A172


def make_engine(url: str, *, pool_size: int = 20) -> Engine:
    """`pool_size` must cover the requests in flight (see RequestLimiter), so that none waits for a
    connection while holding another resource. `hide_parameters`: statement parameters (tokens, JWTs,
    password hashes) never appear in an error's text, and so never in a log."""
    if url.startswith("sqlite"):
        in_memory = url in ("sqlite://", "sqlite:///:memory:")
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30}, hide_parameters=True,
            **({"poolclass": StaticPool} if in_memory else {"pool_size": pool_size, "max_overflow": 4}),
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):  # noqa: ANN001
            dbapi_connection.isolation_level = None  # let the "begin" hook below issue BEGIN itself
            cursor = dbapi_connection.cursor()
            if not in_memory:
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn):  # noqa: ANN001
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return create_engine(url, pool_size=pool_size, max_overflow=4, pool_pre_ping=True, hide_parameters=True)


def ensure_singleton(db: Session, model: type, **values: object) -> None:
    """Insert the one row (id 1) of a singleton table unless it exists, without racing another transaction
    or replica doing the same (INSERT ... ON CONFLICT DO NOTHING on both databases), and without flushing
    what the session holds (see the lock order in controller.sim.clock.lock)."""
    if db.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    with db.no_autoflush:
        db.connection().execute(insert(model.__table__).values(id=1, **values).on_conflict_do_nothing())


def serialize_first_start(db: Session) -> None:
    """Replicas starting together on one database: their start-up writes (default admin and its password)
    run one after the other. PostgreSQL: a transaction-scoped advisory lock; SQLite: the transaction
    already began IMMEDIATE, which holds the write lock."""
    if db.get_bind().dialect.name == "postgresql":
        db.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": FIRST_START_LOCK_KEY})


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=True)


def _alembic_config(url: str):
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_migrations_dir()))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def ensure_schema(engine: Engine) -> None:
    if current_revision(engine) != SCHEMA_HEAD:
        migrate(engine)


def migrations_digest(directory: Path | None = None) -> str:
    """A short hash of the migration scripts' contents: a migration edited under the same revision id
    (during development, or by a merge that re-chains them) gives another digest."""
    directory = directory or _migrations_dir()
    digest = hashlib.sha256()
    for path in sorted(directory.rglob("*")):
        if path.is_file() and path.suffix in (".py", ".mako", ".ini") and "__pycache__" not in path.parts:
            digest.update(path.relative_to(directory).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def sqlite_template(cache_dir: Path) -> Path:
    """A SQLite database migrated to head once and cached, so that ephemeral fixture databases start as a
    file copy instead of a migration run. Built by Alembic like any other database. Keyed by the head and
    the migrations' contents, so a changed migration never reuses a stale template."""
    path = cache_dir / f"schema-{SCHEMA_HEAD}-{migrations_digest()}.sqlite"
    if not path.exists():
        cache_dir.mkdir(parents=True, exist_ok=True)
        building = path.with_suffix(f".{os.getpid()}.{os.urandom(4).hex()}.tmp")
        engine = create_engine(f"sqlite:///{building}", hide_parameters=True)
        try:
            migrate(engine)
        finally:
            engine.dispose()
        os.replace(building, path)  # atomic: parallel workers may race to build it
    return path


def migrate(engine: Engine) -> None:
    """Bring the schema to head with Alembic, on the given engine's connection."""
    from alembic import command

    config = _alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # Replicas starting together: one migrates, the others wait here, then find nothing to do.
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
