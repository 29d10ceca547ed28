"""Engine, session factory and migrations.

SQLite: one file in the data directory, WAL, foreign keys on. A transaction that may write begins
IMMEDIATE, after taking this process's write queue (`WriteQueue`: first come, first served), so that writers
of one process wait in line instead of polling in SQLite's busy handler; the busy timeout only matters
between processes. A transaction opened read-only (execution option `READ_ONLY`, used for GET requests)
begins DEFERRED and takes neither the queue nor SQLite's write lock: WAL readers never block, and a write
attempted in it is refused (`WriteInReadOnlyTransaction`) rather than risking a failed lock upgrade.
PostgreSQL: READ COMMITTED; services lock the rows they change with SELECT ... FOR UPDATE. No ping on
checkout: connections are recycled after `POOL_RECYCLE_S`, and a connection found dropped is invalidated by
SQLAlchemy and the request's first (read-only) statement is retried once (see controller.api.deps).
"""

from __future__ import annotations

import hashlib
import os
import threading
import weakref
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

def _migrations_dir() -> Path:
    import controller._migrations as migrations  # the project's migrations/, shipped inside the package

    return Path(migrations.__file__).resolve().parent

# The newest Alembic revision. Kept here so that a start on an up-to-date database never imports Alembic
# (its import alone costs ~150 ms); tests/test_migrations.py fails if it falls behind the migrations.
SCHEMA_HEAD = "0011_list_paging"
MIGRATION_LOCK_KEY = 0x5A171  # any constants shared by all replicas
FIRST_START_LOCK_KEY = 0x5A172


READ_ONLY = "ziti_read_only"  # execution option: this transaction only reads (SQLite: BEGIN DEFERRED, no queue)
POOL_RECYCLE_S = 1800
_HOLDS_QUEUE = "ziti_holds_write_queue"  # key in a pooled connection's info
_READS_ONLY = "ziti_reads_only"


class WriteInReadOnlyTransaction(RuntimeError):
    """A statement that writes, in a transaction opened read-only: a programming error (the route must open
    its transaction for writing), never a lock upgrade that could fail under load."""


class WriteQueue:
    """A lock handed to waiters in the order they asked (FIFO), releasable from any thread (FastAPI may run a
    dependency's setup and teardown on different threads)."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._waiters: deque[threading.Event] = deque()
        self._held = False

    def acquire(self, timeout: float) -> bool:
        with self._mutex:
            if not self._held and not self._waiters:
                self._held = True
                return True
            turn = threading.Event()
            self._waiters.append(turn)
        if turn.wait(timeout):
            return True
        with self._mutex:
            if turn.is_set():  # handed over just as the wait timed out
                return True
            self._waiters.remove(turn)
            return False

    def release(self) -> None:
        with self._mutex:
            if self._waiters:
                self._waiters.popleft().set()  # ownership passes directly: nobody can barge in
            else:
                self._held = False


_WRITE_VERBS = ("insert", "update", "delete", "replace", "create", "drop", "alter")


def _install_sqlite_write_queue(engine: Engine, timeout_s: float) -> WriteQueue:
    queue = WriteQueue()
    dialect = engine.dialect

    def _release(info: dict | None) -> None:
        if info is not None and info.pop(_HOLDS_QUEUE, False):
            queue.release()

    def _info_of(dbapi_connection) -> dict | None:  # noqa: ANN001
        try:
            return dbapi_connection.info  # a pooled connection's record info
        except (AttributeError, NotImplementedError):  # the dialect's first-connect probe: not pooled yet
            return None

    @event.listens_for(engine, "begin")
    def _sqlite_begin(conn):  # noqa: ANN001
        info = conn.connection.info
        info.pop(_READS_ONLY, None)
        if conn.get_execution_options().get(READ_ONLY):
            info[_READS_ONLY] = True
            conn.exec_driver_sql("BEGIN")
            return
        if not queue.acquire(timeout_s):
            raise TimeoutError(f"waited more than {timeout_s:g} s for the database write queue")
        info[_HOLDS_QUEUE] = True
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            _release(info)
            raise

    @event.listens_for(engine, "before_cursor_execute")
    def _refuse_writes_when_read_only(conn, _cursor, statement, _parameters, _context, _executemany):  # noqa: ANN001
        if conn.connection.info.get(_READS_ONLY) and statement.lstrip()[:7].lower().startswith(_WRITE_VERBS):
            raise WriteInReadOnlyTransaction(statement.split(None, 3)[:3])

    # Released after the COMMIT / ROLLBACK itself, so the next writer's BEGIN IMMEDIATE never meets the lock.
    original_commit, original_rollback = dialect.do_commit, dialect.do_rollback

    def _ended(dbapi_connection) -> None:  # noqa: ANN001
        info = _info_of(dbapi_connection)
        if info is not None:
            info.pop(_READS_ONLY, None)
        _release(info)

    def do_commit(dbapi_connection):  # noqa: ANN001
        original_commit(dbapi_connection)
        _ended(dbapi_connection)  # on a failed COMMIT the rollback that follows releases the queue

    def do_rollback(dbapi_connection):  # noqa: ANN001
        try:
            original_rollback(dbapi_connection)
        finally:
            _ended(dbapi_connection)

    dialect.do_commit, dialect.do_rollback = do_commit, do_rollback  # type: ignore[method-assign]
    _WRITE_QUEUES.add(engine)

    @event.listens_for(engine, "invalidate")
    @event.listens_for(engine, "close")
    def _connection_gone(_dbapi_connection, record, *_args):  # noqa: ANN001
        _release(record.info)

    return queue


_WRITE_QUEUES: weakref.WeakSet[Engine] = weakref.WeakSet()  # engines with a write queue: SQLite files in WAL mode


def reads_without_waiting(engine: Engine) -> bool:
    """A READ_ONLY transaction on this engine never waits for a lock (SQLite file in WAL mode: readers do not
    block and are not blocked), so the event loop may run one itself (see controller.api.deps)."""
    return engine in _WRITE_QUEUES


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

        if in_memory:  # one shared connection (tests): plain IMMEDIATE transactions
            @event.listens_for(engine, "begin")
            def _sqlite_begin(conn):  # noqa: ANN001
                conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            _install_sqlite_write_queue(engine, timeout_s=30.0)
        return engine
    return create_engine(url, pool_size=pool_size, max_overflow=4, pool_recycle=POOL_RECYCLE_S, hide_parameters=True)


def ensure_singleton(db: Session, model: type, **values: object) -> None:
    """Insert the one row (id 1) of a singleton table unless it exists, without racing another transaction
    or replica doing the same (INSERT ... ON CONFLICT DO NOTHING on both databases), and without flushing
    what the session holds (see the lock order in controller.core.clock.lock)."""
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


@contextmanager
def reading(sessions: sessionmaker[Session]) -> Iterator[Session]:
    """A session whose transaction only reads: on SQLite no write queue and no write lock (see READ_ONLY)."""
    with sessions() as db:
        db.connection(execution_options={READ_ONLY: True})
        yield db


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
