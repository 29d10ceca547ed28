"""pytest plugin (entry point `pytest11`): fixtures for SDK authors.

- `ziti_controller`: a controller on an ephemeral port with real TLS, started once per session (per xdist
  worker), reset before every test that uses it. Handles: `.clock`, `.faults`, `.journal`, `.admin`,
  `.reset()`, `.snapshot()`, `.restore()`, `.url`, `.ca_bundle`.
- `ziti_identity`: a factory, `ziti_identity(name=None, admin=False, key="ec-p256")`, returning an enrolled
  identity with paths to its cert, key, CA bundle and SDK identity JSON.

Options: `--ziti-database-url` (or ZITI_SIM_DATABASE_URL) to run on PostgreSQL instead of SQLite. The URL names
a server and a database to connect to; the plugin creates a database of its own there for each session (each
xdist worker), `<database>_ziti_<worker>_<random>`, and drops it at the end, so workers never share state and
the named database is never touched (the role needs CREATEDB). A SQLite file URL gets one file per worker.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from controller.testing.external_ca import ziti_external_ca  # noqa: F401 - registers the fixture
from controller.testing.harness import ControllerHarness, EnrolledIdentity
from controller.testing.network import ziti_network  # noqa: F401  (the `ziti_network` fixture)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ziti-controller-sim")
    group.addoption("--ziti-database-url", default=None, help="database for the ziti_controller fixture (default: SQLite)")


def _worker() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


@contextmanager
def _own_database(url: str | None) -> Iterator[str | None]:
    """A database (PostgreSQL) or file (SQLite) for this session alone, created here and removed after."""
    if url is None:
        yield None
        return
    from sqlalchemy import create_engine, exc, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.pool import NullPool

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database in (None, "", ":memory:"):
            yield url
            return
        base, dot, ext = parsed.database.rpartition(".")
        yield parsed.set(database=f"{base}-{_worker()}.{ext}" if dot else f"{parsed.database}-{_worker()}").render_as_string(hide_password=False)
        return
    if parsed.get_backend_name() != "postgresql":
        yield url
        return
    name = f"{parsed.database or 'postgres'}_ziti_{_worker()}_{secrets.token_hex(4)}"[-63:].lstrip("_")
    problem = None  # one line instead of a driver traceback repeated for every test
    try:
        admin = create_engine(parsed, isolation_level="AUTOCOMMIT", poolclass=NullPool)  # no connection held meanwhile
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except ModuleNotFoundError as missing:
        if (missing.name or "").split(".")[0] not in ("psycopg", "psycopg2"):
            raise
        problem = "--ziti-database-url names PostgreSQL but its driver is not installed: pip install 'ziti-controller-sim[postgres]'"
    except exc.DBAPIError as error:  # the driver's reason only: never a statement, never the password
        reason = (str(error.orig) if error.orig is not None else str(error)).strip().splitlines()[0]
        problem = (f"cannot create the session's database on {parsed.render_as_string(hide_password=True)} ({reason}): "
                   "check --ziti-database-url (or ZITI_SIM_DATABASE_URL), that the server is up and that the role may "
                   "CREATE DATABASE")
    if problem is not None:
        pytest.fail(problem, pytrace=False)
    try:
        yield parsed.set(database=name).render_as_string(hide_password=False)
    finally:
        try:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        finally:
            admin.dispose()


@pytest.fixture(scope="session")
def ziti_controller_session(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControllerHarness]:
    url = request.config.getoption("--ziti-database-url") or os.environ.get("ZITI_SIM_DATABASE_URL")
    with _own_database(url) as own_url:
        harness = ControllerHarness.start(database_url=own_url, workdir=tmp_path_factory.mktemp("ziti-controller"))
        try:
            yield harness
        finally:
            harness.stop()


@pytest.fixture
def ziti_controller(ziti_controller_session: ControllerHarness) -> ControllerHarness:
    ziti_controller_session.reset()
    return ziti_controller_session


@pytest.fixture
def ziti_identity(ziti_controller: ControllerHarness) -> Callable[..., EnrolledIdentity]:
    def make(name: str | None = None, *, admin: bool = False, key: str = "ec-p256") -> EnrolledIdentity:
        return ziti_controller.enroll_identity(name, admin=admin, key=key)

    return make


@pytest.fixture
def ziti_router(ziti_controller: ControllerHarness) -> Iterator[Callable[..., "RouterHandle"]]:
    """`ziti_router(name=None, run=True)`: an enrolled simulated router (files, start/stop, journal events)."""
    from controller.testing.routers import RouterHandle, make_router

    made: list[RouterHandle] = []

    def make(name: str | None = None, *, run: bool = True, **options: object) -> RouterHandle:
        made.append(make_router(ziti_controller, name, run=run, **options))
        return made[-1]

    yield make
    for handle in made:
        handle.stop()
