"""The pytest plugin as an SDK author uses it: a test file in its own pytest run (a subprocess, so the plugin
loads through its `pytest11` entry point and nothing of this suite's conftest applies)."""

from __future__ import annotations

import os
import socket

import pytest

from conftest import _postgres_database

pytest_plugins = ["pytester"]

INNER = '''
import json

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

SEEN = {}


def test_enrolled_identity(ziti_controller, ziti_identity):
    ident = ziti_identity(name="x", key="ec-p384")
    for path in (ident.cert_path, ident.key_path, ident.ca_path, ident.json_path):
        assert path.is_file(), path
    cert = x509.load_pem_x509_certificate(ident.cert_path.read_bytes())
    assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)
    assert cert.public_key().curve.name == "secp384r1"
    data = json.loads(ident.json_path.read_text())
    assert data["ztAPI"] == ziti_controller.url
    assert set(data["id"]) == {"cert", "key", "ca"}

    with ident.connect() as conn:
        session = conn.login_cert()
    assert session["identity"]["name"] == "x"
    assert session["identity"]["id"] == ident.id

    # leave traces for the next test to not find
    ziti_controller.clock.advance("3d")
    ziti_controller.faults.add("/nowhere", status=500, code="LEFT_OVER")
    ziti_controller.admin.data("POST", "/edge/management/v1/services", json_body={"name": "left-over", "encryptionRequired": True})
    SEEN["x"] = ident.id


def test_state_is_reset_between_tests(ziti_controller, ziti_identity):
    assert "x" in SEEN  # the first test ran before, in this process
    names = [i["name"] for i in ziti_controller.admin.data("GET", "/edge/management/v1/identities")]
    assert names == ["Default Admin"]
    assert ziti_controller.faults.list() == []
    assert ziti_controller.admin.data("GET", "/edge/management/v1/services") == []
    assert ziti_controller.admin.data("GET", "/sim/v1/clock")["offsetSeconds"] == 0
    assert ziti_controller.journal.events() == []
    again = ziti_identity(name="x")  # the name is free again
    assert again.id != SEEN["x"]
    with again.connect() as conn:
        assert conn.login_cert()["identity"]["id"] == again.id
'''


def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("ZITI_SIM_"):
            monkeypatch.delenv(name)


def test_plugin_fixtures_in_an_sdk_test_suite(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch):
    _clean_env(monkeypatch)
    pytester.makepyfile(test_sdk=INNER)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:randomly")
    result.assert_outcomes(passed=2)


def test_inner_failures_are_reported(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch):
    """The outcome check above can fail: a wrong expectation inside fails the inner run."""
    _clean_env(monkeypatch)
    pytester.makepyfile(test_wrong='''
def test_wrong(ziti_controller, ziti_identity):
    ident = ziti_identity(name="y")
    assert ziti_controller.journal.events(kind="enroll") == []
''')
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)


def test_plugin_on_postgresql_without_its_driver_says_what_to_install(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch):
    _clean_env(monkeypatch)
    pytester.makeconftest("import sys\nsys.modules['psycopg'] = None\nsys.modules['psycopg2'] = None\n")
    pytester.makepyfile(test_pg='def test_x(ziti_controller):\n    pass\n')
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--ziti-database-url=postgresql+psycopg://u:s3cret@127.0.0.1:1/x")
    result.assert_outcomes(errors=1)
    out = result.stdout.str()
    assert "driver is not installed: pip install 'ziti-controller-sim[postgres]'" in out
    assert "ModuleNotFoundError" not in out and "halted" not in out and "s3cret" not in out


def test_plugin_on_an_unreachable_postgresql_says_so_in_one_line(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch):
    _clean_env(monkeypatch)
    pytester.makepyfile(test_pg='def test_x(ziti_controller):\n    pass\n')
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens there
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", f"--ziti-database-url=postgresql+psycopg://u:s3cret@127.0.0.1:{port}/x")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([f"*cannot create the session's database on postgresql+psycopg://u:***@127.0.0.1:{port}/x*"])
    assert "s3cret" not in result.stdout.str() and "Traceback" not in result.stdout.str()


def test_plugin_option_is_registered(pytester: pytest.Pytester):
    result = pytester.runpytest_subprocess("--help")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*--ziti-database-url*"])


def test_plugin_with_xdist_runs_one_controller_per_worker(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch):
    pytest.importorskip("xdist")
    _clean_env(monkeypatch)
    urls = pytester.path / "urls"
    urls.mkdir()
    pytester.makepyfile(test_workers=f'''
import os
from pathlib import Path


def test_controller_of_this_worker(ziti_controller, ziti_identity):
    ident = ziti_identity(name="w")
    with ident.connect() as conn:
        assert conn.login_cert()["identity"]["name"] == "w"
    Path({str(urls)!r}, os.environ["PYTEST_XDIST_WORKER"]).write_text(ziti_controller.url)
''')
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2", "--dist", "each")
    result.assert_outcomes(passed=2)
    seen = {path.name: path.read_text() for path in urls.iterdir()}
    assert sorted(seen) == ["gw0", "gw1"]
    assert len(set(seen.values())) == 2


def test_plugin_on_postgresql(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, worker_id: str):
    _clean_env(monkeypatch)
    database = _postgres_database(f"{worker_id}_plugin")
    url = next(database)  # skips (or fails when PostgreSQL is required) if the server is unreachable
    try:
        pytester.makepyfile(test_sdk=INNER)
        result = pytester.runpytest_subprocess("-p", "no:cacheprovider", f"--ziti-database-url={url}")
        result.assert_outcomes(passed=2)
    finally:
        database.close()


def test_plugin_on_postgresql_with_xdist_isolates_the_workers(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, worker_id: str):
    """Two workers on one PostgreSQL server: each gets a database of its own (created and dropped by the
    plugin); sharing one, a worker's start reset the other's admin password (401 INVALID_AUTH in relogin)."""
    pytest.importorskip("xdist")
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    _clean_env(monkeypatch)
    database = _postgres_database(f"{worker_id}_plugin_xdist")
    url = next(database)
    base = make_url(url).database
    try:
        tests = "\n".join(f"def test_{n}(ziti_controller, ziti_identity):\n    _work(ziti_controller, ziti_identity, {n})\n" for n in range(8))
        pytester.makepyfile(test_pg_workers=f'''
import os
from pathlib import Path


def _work(ziti_controller, ziti_identity, n):
    ident = ziti_identity(name=f"w{{n}}")
    with ident.connect() as conn:
        assert conn.login_cert()["identity"]["name"] == f"w{{n}}"
    ziti_controller.clock.advance("2h")  # past the admin session's timeout: the harness logs in again
    names = [i["name"] for i in ziti_controller.admin.data("GET", "/edge/management/v1/identities")]
    assert sorted(names) == ["Default Admin", f"w{{n}}"]
    database = ziti_controller.runtime.settings.database_url
    assert database.rsplit("/", 1)[1].startswith({base!r} + "_ziti_" + os.environ["PYTEST_XDIST_WORKER"])
    Path(os.environ["PYTEST_XDIST_WORKER"] + "-" + str(n)).write_text(database)

{tests}''')
        result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:randomly", "-n", "2", f"--ziti-database-url={url}")
        result.assert_outcomes(passed=8)
        used = {path.read_text() for path in pytester.path.glob("gw*-*")}
        assert len(used) == 2  # one database per worker
        admin = create_engine(url, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                left = conn.execute(text("SELECT datname FROM pg_database WHERE datname LIKE :p"), {"p": f"{base}_ziti_%"}).scalars().all()
        finally:
            admin.dispose()
        assert left == []  # dropped at the end of each worker's session
    finally:
        database.close()
