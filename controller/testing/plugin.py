"""pytest plugin (entry point `pytest11`): fixtures for SDK authors.

- `ziti_controller`: a controller on an ephemeral port with real TLS, started once per session (per xdist
  worker), reset before every test that uses it. Handles: `.clock`, `.faults`, `.journal`, `.admin`,
  `.reset()`, `.snapshot()`, `.restore()`, `.url`, `.ca_bundle`.
- `ziti_identity`: a factory, `ziti_identity(name=None, admin=False, key="ec-p256")`, returning an enrolled
  identity with paths to its cert, key, CA bundle and SDK identity JSON.

Options: `--ziti-database-url` (or ZITI_SIM_DATABASE_URL) to run on PostgreSQL instead of SQLite.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest

from controller.testing.harness import ControllerHarness, EnrolledIdentity
from controller.testing.network import ziti_network  # noqa: F401  (the `ziti_network` fixture)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ziti-controller-sim")
    group.addoption("--ziti-database-url", default=None, help="database for the ziti_controller fixture (default: SQLite)")


@pytest.fixture(scope="session")
def ziti_controller_session(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControllerHarness]:
    url = request.config.getoption("--ziti-database-url") or os.environ.get("ZITI_SIM_DATABASE_URL")
    harness = ControllerHarness.start(database_url=url, workdir=tmp_path_factory.mktemp("ziti-controller"))
    yield harness
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
