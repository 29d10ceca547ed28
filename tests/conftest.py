"""The suite runs every controller test on SQLite and on PostgreSQL.

PostgreSQL: ZITI_SIM_TEST_POSTGRES_URL (default postgresql+psycopg://postgres@127.0.0.1:5432/test) is used to
create a database for this run (one per xdist worker) and to drop it afterwards. When the server is not
reachable the PostgreSQL leg is skipped with a clear reason, unless ZITI_SIM_REQUIRE_POSTGRES=1 (CI), where
that is an error.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from controller.client.http import Connection
from controller.testing.harness import ControllerHarness, EnrolledIdentity

POSTGRES_ADMIN_URL = os.environ.get("ZITI_SIM_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REQUIRE_POSTGRES = os.environ.get("ZITI_SIM_REQUIRE_POSTGRES") == "1"


def _postgres_database(worker: str) -> Iterator[str]:
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import OperationalError

    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"ziti_sim_test_{worker}_{secrets.token_hex(4)}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as exc:
        admin.dispose()
        message = f"PostgreSQL leg skipped: cannot reach {POSTGRES_ADMIN_URL.split('@')[-1]} ({exc.orig})"
        if REQUIRE_POSTGRES:
            pytest.fail(message.replace("skipped", "REQUIRED but unavailable"))
        pytest.skip(message)
    try:
        yield POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, worker_id: str) -> Iterator[str | None]:
    if request.param == "sqlite":
        yield None
    else:
        yield from _postgres_database(worker_id)


@pytest.fixture
def isolated_database_url(database_url: str | None, worker_id: str) -> Iterator[str | None]:
    """For a test that starts controllers of its own: a database of its own on the current backend (None on
    SQLite, where each controller gets a file in its work directory). Sharing the session controller's
    database would reset its admin password and break the tests after it."""
    if database_url is None:
        yield None
    else:
        yield from _postgres_database(f"{worker_id}_own")


@pytest.fixture
def replicas(isolated_database_url: str | None, tmp_path: Path) -> Iterator[tuple[ControllerHarness, ControllerHarness]]:
    """Two controllers on one database of their own (PostgreSQL, or one SQLite file in a shared data
    directory), one admin password, a clean network."""
    password = secrets.token_urlsafe(16)
    first = ControllerHarness.start(database_url=isolated_database_url, workdir=tmp_path, admin_password=password)
    second = ControllerHarness.start(database_url=isolated_database_url, workdir=tmp_path, admin_password=password)
    first.reset()
    yield first, second
    second.stop()
    first.stop()


@pytest.fixture(scope="session")
def ziti_controller_session(database_url: str | None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControllerHarness]:
    """Overrides the plugin's session controller so that every test runs on both databases."""
    harness = ControllerHarness.start(database_url=database_url, workdir=tmp_path_factory.mktemp("controller"))
    yield harness
    harness.stop()


@pytest.fixture
def ctl(ziti_controller: ControllerHarness) -> ControllerHarness:
    """Short name for the reset controller of the current backend."""
    return ziti_controller


@pytest.fixture
def anon(ctl: ControllerHarness) -> Iterator[Connection]:
    """A connection that trusts the network but presents no certificate and has no session."""
    with ctl.connect() as conn:
        yield conn


@pytest.fixture
def alice(ctl: ControllerHarness) -> EnrolledIdentity:
    return ctl.enroll_identity("alice")


@pytest.fixture
def bob(ctl: ControllerHarness) -> EnrolledIdentity:
    return ctl.enroll_identity("bob")


@dataclass
class LoggedIn:
    """An enrolled identity with an open mTLS connection and an API session on it."""

    identity: EnrolledIdentity
    conn: Connection
    session: dict

    @property
    def authenticator_id(self) -> str:
        return self.session["authenticatorId"]


@pytest.fixture
def alice_session(alice: EnrolledIdentity) -> Iterator[LoggedIn]:
    conn = alice.connect()
    session = conn.login_cert()
    yield LoggedIn(alice, conn, session)
    conn.close()


def make_csr(key=None, common_name: str = "extend-test") -> tuple[str, object]:  # noqa: ANN001
    """A PEM CSR (exactly one newline after END, as the C SDK sends it) and its key."""
    key = key or ec.generate_private_key(ec.SECP256R1())
    csr = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "OpenZiti"), x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    ).sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM).decode(), key


def error_of(excinfo: pytest.ExceptionInfo) -> tuple[int, str]:
    return excinfo.value.status, excinfo.value.code


@pytest.fixture
def tmp_dir(tmp_path: Path) -> Path:
    return tmp_path
