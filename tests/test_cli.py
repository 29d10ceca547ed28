"""The command line as a user types it: `ziti-controller-sim` (and `python -m controller`) in subprocesses,
talking to real controllers over TLS. SQLite only: these test the command, not the storage."""

from __future__ import annotations

import http.client
import json
import os
import secrets
import select
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

SCRIPT = Path(sys.executable).with_name("ziti-controller-sim")
START_TIMEOUT = 60.0


# --- helpers ----------------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without any ZITI_SIM_ setting of the machine running the tests."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZITI_SIM_")}
    env["ZITI_SIM_CTRL_ADDRESS"] = "127.0.0.1:0"  # the default 6262 would collide between parallel runs
    env.update(extra)
    return env


def cli(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "controller", *args], cwd=cwd, env=env or clean_env(),
                          capture_output=True, text=True, timeout=timeout)


def sha1_of_pem(pem: str) -> str:
    return x509.load_pem_x509_certificates(pem.encode())[0].fingerprint(hashes.SHA1()).hex()


def unpem(value: str) -> str:
    return value[4:] if value.startswith("pem:") else value


def https(url: str, method: str, path: str, *, ca_file: Path | None = None, ca_pem: str | None = None,
          body: Any = None, token: str | None = None, cert: tuple[Path, Path] | None = None) -> tuple[int, Any]:
    """One request on a new connection; returns (status, parsed JSON body)."""
    context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None, cadata=ca_pem)
    if cert:
        context.load_cert_chain(*cert)
    host, port = url.removeprefix("https://").rsplit(":", 1)
    conn = http.client.HTTPSConnection(host, int(port), context=context, timeout=30)
    try:
        headers = {"Accept": "application/json"}
        payload = None
        if body is not None:
            payload, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
        if token:
            headers["zt-session"] = token
        conn.request(method, path, body=payload, headers=headers)
        response = conn.getresponse()
        raw = response.read()
        return response.status, json.loads(raw) if raw else None
    finally:
        conn.close()


def admin_token(url: str, ca_file: Path, username: str, password: str) -> str:
    status, body = https(url, "POST", "/edge/management/v1/authenticate?method=password", ca_file=ca_file,
                         body={"username": username, "password": password})
    assert status == 200, body
    return body["data"]["token"]


def identity_login(identity_file: Path, tmp: Path) -> tuple[int, Any]:
    """Log in by certificate with an SDK identity file, as an SDK would."""
    data = json.loads(identity_file.read_text())
    cert_path, key_path = tmp / "login.cert.pem", tmp / "login.key.pem"
    cert_path.write_text(unpem(data["id"]["cert"]))
    key_path.touch(0o600)
    key_path.write_text(unpem(data["id"]["key"]))
    return https(data["ztAPI"], "POST", "/edge/client/v1/authenticate?method=cert", ca_pem=unpem(data["id"]["ca"]),
                 body={}, cert=(cert_path, key_path))


@dataclass
class Served:
    proc: subprocess.Popen
    url: str
    data_dir: Path
    stdout_path: Path
    stderr_path: Path

    @property
    def ca_bundle(self) -> Path:
        return self.data_dir / "pki" / "ca-bundle.pem"

    @property
    def stdout(self) -> str:
        return self.stdout_path.read_text()

    def conn_args(self) -> list[str]:
        return ["--data-dir", str(self.data_dir), "--controller", self.url]


def stop(proc: subprocess.Popen) -> int:
    """SIGTERM, then wait; kill if it does not exit."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise AssertionError("the controller did not exit on SIGTERM") from None
    return proc.returncode


def wait_ready(proc: subprocess.Popen, url: str, ca_bundle: Path, stderr_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if proc.poll() is not None:
            raise AssertionError(f"the controller exited with {proc.returncode}: {stderr_path.read_text()}")
        if ca_bundle.exists():
            try:
                if https(url, "GET", "/version", ca_file=ca_bundle)[0] == 200:
                    return
            except (OSError, ssl.SSLError, http.client.HTTPException):
                pass
        if time.monotonic() > deadline:
            raise AssertionError(f"the controller did not answer within {START_TIMEOUT}s: {stderr_path.read_text()}")
        time.sleep(0.05)


def start_serve(tmp: Path, *args: str, env: dict[str, str] | None = None, data_dir: Path, url: str, tag: str = "serve") -> Served:
    stdout_path, stderr_path = tmp / f"{tag}.out", tmp / f"{tag}.err"
    with stdout_path.open("w") as out, stderr_path.open("w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "controller", "serve", *args], cwd=tmp, env=env or clean_env(),
                                stdout=out, stderr=err)
    served = Served(proc, url, data_dir, stdout_path, stderr_path)
    try:
        wait_ready(proc, url, served.ca_bundle, stderr_path)
    except BaseException:
        stop(proc)
        raise
    return served


@pytest.fixture
def serve_mock(tmp_path: Path) -> Iterator[Any]:
    """Start mock-mode controllers; all are stopped at the end."""
    started: list[Served] = []

    def start(data_dir: Path | None = None, port: int | None = None, tag: str = "serve", env: dict[str, str] | None = None) -> Served:
        data_dir = data_dir or tmp_path / "data"
        port = port or free_port()
        served = start_serve(tmp_path, "--data-dir", str(data_dir), "--address", f"127.0.0.1:{port}", "--log-level", "warning",
                             data_dir=data_dir, url=f"https://127.0.0.1:{port}", tag=tag, env=env)
        started.append(served)
        return served

    yield start
    for served in started:
        stop(served.proc)


@pytest.fixture(scope="module")
def mock(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One mock-mode controller for the identity and sim command tests of this module."""
    tmp = tmp_path_factory.mktemp("mock")
    port = free_port()
    served = start_serve(tmp, "--data-dir", str(tmp / "data"), "--address", f"127.0.0.1:{port}", "--log-level", "warning",
                         data_dir=tmp / "data", url=f"https://127.0.0.1:{port}")
    try:
        yield served
    finally:
        stop(served.proc)


def sim(mock: Served, tmp: Path, *args: str) -> subprocess.CompletedProcess:
    if "--" in args:  # connection options must come before the "--" that ends the options
        at = args.index("--")
        args = (*args[:at], *mock.conn_args(), *args[at:])
        return cli("sim", *args, cwd=tmp)
    return cli("sim", *args, *mock.conn_args(), cwd=tmp)


def sim_json(mock: Served, tmp: Path, *args: str) -> Any:
    result = sim(mock, tmp, *args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture
def clean_mock(mock: Served, tmp_path: Path) -> Served:
    sim_json(mock, tmp_path, "reset")
    return mock


# --- the command ------------------------------------------------------------------------------------------

def test_console_script_and_module_print_the_version(tmp_path):
    from controller import __version__

    assert SCRIPT.exists()
    by_script = subprocess.run([str(SCRIPT), "--version"], capture_output=True, text=True, timeout=60, env=clean_env())
    by_module = cli("--version", cwd=tmp_path)
    assert by_script.returncode == by_module.returncode == 0
    assert __version__ in by_script.stdout
    assert by_script.stdout == by_module.stdout


def test_unknown_command_is_a_usage_error(tmp_path):
    result = cli("frobnicate", cwd=tmp_path)
    assert result.returncode == 2
    assert "invalid choice" in result.stderr


# --- serve --mode fixture ---------------------------------------------------------------------------------

def test_fixture_mode_prints_one_json_line_and_cleans_up(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "controller", "serve", "--mode", "fixture"], cwd=tmp_path, env=clean_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        ready, _, _ = select.select([proc.stdout], [], [], START_TIMEOUT)
        assert ready, "no ready line"
        line = proc.stdout.readline()
        info = json.loads(line)
        assert {"url", "caBundle", "admin", "simApi", "dataDir"} <= set(info)
        assert set(info["admin"]) == {"username", "password"}
        assert info["url"].startswith("https://127.0.0.1:")
        port = int(info["url"].rsplit(":", 1)[1])
        assert port not in (0, 1280)
        assert info["simApi"] == info["url"] + "/sim/v1"
        ca_bundle, data_dir = Path(info["caBundle"]), Path(info["dataDir"])
        assert ca_bundle.is_file() and data_dir.is_dir()
        assert not str(data_dir).startswith(str(tmp_path))  # ephemeral, not ./ziti-sim-data
        assert not (tmp_path / "ziti-sim-data").exists()

        status, body = https(info["url"], "GET", "/version", ca_file=ca_bundle)
        assert status == 200
        assert body["data"]["apiVersions"]
        token = admin_token(info["url"], ca_bundle, info["admin"]["username"], info["admin"]["password"])
        status, body = https(info["url"], "GET", "/sim/v1/clock", ca_file=ca_bundle, token=token)
        assert status == 200
        assert body["data"]["frozen"] is False
        status, body = https(info["url"], "GET", "/sim/v1/clock", ca_file=ca_bundle)
        assert (status, body["error"]["code"]) == (401, "UNAUTHORIZED")

        assert stop(proc) == 0
        assert proc.stdout.read() == ""  # exactly one line on stdout
        assert not data_dir.exists()
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        proc.stdout.close()


def test_fixture_mode_can_be_given_an_address(tmp_path):
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "controller", "serve", "--mode", "fixture", "--address", f"127.0.0.1:{port}"],
                            cwd=tmp_path, env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        ready, _, _ = select.select([proc.stdout], [], [], START_TIMEOUT)
        assert ready, "no ready line"
        info = json.loads(proc.stdout.readline())
        assert info["url"] == f"https://127.0.0.1:{port}"
        assert https(info["url"], "GET", "/version", ca_file=Path(info["caBundle"]))[0] == 200
    finally:
        stop(proc)
        proc.stdout.close()


# --- serve (mock mode) ------------------------------------------------------------------------------------

def test_mock_mode_first_and_second_start(tmp_path, serve_mock):
    data_dir = tmp_path / "data"
    first = serve_mock(data_dir)
    password_file = data_dir / "admin-password"
    password = password_file.read_text().strip()
    assert password_file.stat().st_mode & 0o777 == 0o600
    assert len(password) >= 16

    banner = first.stdout
    assert first.url in banner
    assert "mock mode" in banner
    assert f"admin / {password}" in banner
    assert str(first.ca_bundle.resolve()) in banner
    assert first.url + "/sim/v1" in banner

    keys = sorted((data_dir / "pki").glob("*.key.pem"))
    assert len(keys) >= 4  # root, intermediate, edge signer, server
    assert all(k.stat().st_mode & 0o777 == 0o600 for k in keys), [(k.name, oct(k.stat().st_mode)) for k in keys]
    root_fp = sha1_of_pem((data_dir / "pki" / "root-ca.cert.pem").read_text())
    admin_token(first.url, first.ca_bundle, "admin", password)

    assert stop(first.proc) == 0

    second = serve_mock(data_dir, tag="second")
    assert sha1_of_pem((data_dir / "pki" / "root-ca.cert.pem").read_text()) == root_fp
    assert password_file.read_text().strip() == password
    assert password not in second.stdout
    assert str(password_file) in second.stdout
    assert second.url in second.stdout
    admin_token(second.url, second.ca_bundle, "admin", password)


def test_mock_mode_with_a_password_from_the_environment(tmp_path, serve_mock):
    password = secrets.token_urlsafe(16)
    served = serve_mock(env=clean_env(ZITI_SIM_ADMIN_PASSWORD=password))
    assert password not in served.stdout
    assert "ZITI_SIM_ADMIN_PASSWORD" in served.stdout
    assert not (served.data_dir / "admin-password").exists()
    admin_token(served.url, served.ca_bundle, "admin", password)


def test_settings_from_the_environment(tmp_path):
    port = free_port()
    data_dir = tmp_path / "env-data"
    env = clean_env(ZITI_SIM_ADDRESS=f"127.0.0.1:{port}", ZITI_SIM_DATA_DIR=str(data_dir), ZITI_SIM_LOG_LEVEL="warning")
    served = start_serve(tmp_path, env=env, data_dir=data_dir, url=f"https://127.0.0.1:{port}")
    try:
        assert f"https://127.0.0.1:{port}" in served.stdout
        assert (data_dir / "admin-password").exists()
        assert not (tmp_path / "ziti-sim-data").exists()
        # the admin helpers read the same settings: no flags needed
        show = subprocess.run([sys.executable, "-m", "controller", "sim", "clock", "show"], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=120)
        assert show.returncode == 0, show.stderr
        assert json.loads(show.stdout)["offsetSeconds"] == 0
    finally:
        stop(served.proc)


# --- serve --mode lab -------------------------------------------------------------------------------------

@pytest.mark.parametrize("password", ["admin", "changeme", "Sh0rt!"])
def test_lab_mode_refuses_a_weak_admin_password(tmp_path, password):
    result = subprocess.run(
        [sys.executable, "-m", "controller", "serve", "--mode", "lab", "--data-dir", str(tmp_path / "lab"),
         "--address", f"127.0.0.1:{free_port()}"],
        cwd=tmp_path, env=clean_env(ZITI_SIM_ADMIN_PASSWORD=password), capture_output=True, text=True, timeout=120,
    )
    assert result.returncode != 0
    assert "error:" in result.stderr
    assert "lab mode" in result.stderr
    assert "admin password" in result.stderr
    assert not (tmp_path / "lab").exists()  # refused before anything is created, like any other bad setting


def test_lab_mode_with_a_strong_password_has_no_sim_api(tmp_path):
    port = free_port()
    password = secrets.token_urlsafe(18)
    data_dir = tmp_path / "lab"
    env = clean_env(ZITI_SIM_ADMIN_PASSWORD=password)
    served = start_serve(tmp_path, "--mode", "lab", "--data-dir", str(data_dir), "--address", f"127.0.0.1:{port}",
                         env=env, data_dir=data_dir, url=f"https://127.0.0.1:{port}")
    try:
        assert "lab mode" in served.stdout
        assert "/sim/v1" not in served.stdout
        token = admin_token(served.url, served.ca_bundle, "admin", password)
        for path in ("/sim/v1/clock", "/sim/v1/faults", "/sim/v1/events"):
            status, body = https(served.url, "GET", path, ca_file=served.ca_bundle, token=token)
            assert (status, body["error"]["code"]) == (404, "NOT_FOUND"), path
        status, body = https(served.url, "POST", "/sim/v1/reset", ca_file=served.ca_bundle, token=token)
        assert (status, body["error"]["code"]) == (404, "NOT_FOUND")

        shown = subprocess.run([sys.executable, "-m", "controller", "sim", "clock", "show", "--data-dir", str(data_dir),
                                "--controller", served.url], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
        assert shown.returncode == 1
        assert shown.stderr.startswith("error: ") and len(shown.stderr.strip().splitlines()) == 1
        assert "simulation API" in shown.stderr and "lab mode" in shown.stderr  # not a bare NOT_FOUND
    finally:
        stop(served.proc)


# --- identity helpers -------------------------------------------------------------------------------------

def test_identity_create_enroll_extend(clean_mock, tmp_path):
    mock = clean_mock
    jwt_file, identity_file = tmp_path / "alice.jwt", tmp_path / "alice.json"
    created = cli("identity", "create", "alice", "--jwt-out", str(jwt_file), *mock.conn_args(), cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    assert created.stdout == ""
    jwt = jwt_file.read_text().strip()
    assert jwt.count(".") == 2

    enrolled = cli("identity", "enroll", "--jwt", str(jwt_file), "--out", str(identity_file), cwd=tmp_path)
    assert enrolled.returncode == 0, enrolled.stderr
    data = json.loads(identity_file.read_text())
    assert data["ztAPI"] == mock.url
    assert data["ztAPIs"] == [mock.url]
    assert set(data["id"]) == {"cert", "key", "ca"}
    assert "BEGIN CERTIFICATE" in data["id"]["cert"] and "PRIVATE KEY" in data["id"]["key"] and "BEGIN CERTIFICATE" in data["id"]["ca"]
    assert identity_file.stat().st_mode & 0o777 == 0o600
    status, body = identity_login(identity_file, tmp_path)
    assert status == 200, body
    assert body["data"]["identity"]["name"] == "alice"

    old_fp = sha1_of_pem(unpem(data["id"]["cert"]))
    extended = cli("identity", "extend", "--identity", str(identity_file), cwd=tmp_path)
    assert extended.returncode == 0, extended.stderr
    result = json.loads(extended.stdout)
    new_data = json.loads(identity_file.read_text())
    assert result["oldFingerprint"] == old_fp
    assert result["newFingerprint"] == sha1_of_pem(unpem(new_data["id"]["cert"])) != old_fp
    assert result["rolledKey"] is False
    assert new_data["id"]["key"] == data["id"]["key"]
    backup = Path(result["backup"])
    assert backup == identity_file.with_name("alice.json.bak")
    assert json.loads(backup.read_text()) == data

    status, body = identity_login(identity_file, tmp_path)
    assert status == 200 and body["data"]["identity"]["name"] == "alice"
    status, body = identity_login(backup, tmp_path)
    assert (status, body["error"]["code"]) == (401, "INVALID_AUTH")

    rolled = cli("identity", "extend", "--identity", str(identity_file), "--roll-key", cwd=tmp_path)
    assert rolled.returncode == 0, rolled.stderr
    rolled_result = json.loads(rolled.stdout)
    rolled_data = json.loads(identity_file.read_text())
    assert rolled_result["rolledKey"] is True
    assert rolled_result["oldFingerprint"] == result["newFingerprint"]
    assert rolled_data["id"]["key"] != new_data["id"]["key"]
    assert identity_login(identity_file, tmp_path)[0] == 200

    events = sim_json(mock, tmp_path, "events", "--kind", "extend-verify")
    assert [(e["oldFingerprint"], e["newFingerprint"]) for e in events] == [
        (old_fp, result["newFingerprint"]), (result["newFingerprint"], rolled_result["newFingerprint"])]


def test_identity_create_prints_the_jwt(clean_mock, tmp_path):
    created = cli("identity", "create", "printed", *clean_mock.conn_args(), cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    assert created.stdout.strip().count(".") == 2


def test_refused_calls_print_the_error_envelope(clean_mock, tmp_path):
    mock = clean_mock
    jwt_file = tmp_path / "bob.jwt"
    assert cli("identity", "create", "bob", "--jwt-out", str(jwt_file), *mock.conn_args(), cwd=tmp_path).returncode == 0
    assert cli("identity", "enroll", "--jwt", str(jwt_file), "--out", str(tmp_path / "bob.json"), cwd=tmp_path).returncode == 0

    again = cli("identity", "enroll", "--jwt", str(jwt_file), "--out", str(tmp_path / "bob2.json"), cwd=tmp_path)
    assert again.returncode == 1
    assert again.stderr.startswith("error:")
    assert "INVALID_ENROLLMENT_TOKEN" in again.stderr
    assert "Traceback" not in again.stderr
    assert not (tmp_path / "bob2.json").exists()

    duplicate = cli("identity", "create", "bob", *mock.conn_args(), cwd=tmp_path)
    assert duplicate.returncode == 1
    assert duplicate.stderr.startswith("error:") and "Traceback" not in duplicate.stderr


def test_wrong_admin_password_is_a_clear_error(clean_mock, tmp_path):
    result = cli("sim", "clock", "show", *clean_mock.conn_args(), "--password", "wrong-password", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.startswith("error:")
    assert "INVALID_AUTH" in result.stderr


# --- sim commands -----------------------------------------------------------------------------------------

def test_sim_clock_commands(clean_mock, tmp_path):
    mock = clean_mock
    assert sim_json(mock, tmp_path, "clock", "advance", "8d")["offsetSeconds"] == 8 * 86400
    shown = sim_json(mock, tmp_path, "clock", "show")
    assert shown["offsetSeconds"] == 8 * 86400 and shown["frozen"] is False
    assert sim_json(mock, tmp_path, "clock")["offsetSeconds"] == 8 * 86400  # show is the default
    # a negative duration: after a "--" that precedes the operation, as argparse wants it
    assert sim_json(mock, tmp_path, "clock", "--", "advance", "-1h")["offsetSeconds"] == 8 * 86400 - 3600
    assert sim_json(mock, tmp_path, "clock", "freeze")["frozen"] is True
    assert sim_json(mock, tmp_path, "clock", "set", "2030-01-01T00:00:00Z")["now"].startswith("2030-01-01T00:00:00")
    assert sim_json(mock, tmp_path, "clock", "unfreeze")["frozen"] is False
    reset = sim_json(mock, tmp_path, "clock", "reset")
    assert (reset["offsetSeconds"], reset["frozen"]) == (0, False)

    bad = sim(mock, tmp_path, "clock", "advance", "soon")
    assert bad.returncode == 1
    assert bad.stderr.startswith("error:") and "COULD_NOT_VALIDATE" in bad.stderr


def test_sim_clock_advance_by_a_negative_duration_as_the_help_shows(clean_mock, tmp_path):
    assert sim_json(clean_mock, tmp_path, "clock", "advance", "-1h")["offsetSeconds"] == -3600


def test_sim_faults_commands(clean_mock, tmp_path):
    mock = clean_mock
    added = sim_json(mock, tmp_path, "faults", "add", "--path", "*/version", "--method", "GET", "--status", "503",
                     "--code", "SERVICE_UNAVAILABLE", "--times", "1")
    [rule] = sim_json(mock, tmp_path, "faults", "list")
    assert rule["id"] == added["id"]
    assert (rule["path"], rule["method"], rule["status"], rule["code"], rule["remaining"]) == ("*/version", "GET", 503, "SERVICE_UNAVAILABLE", 1)

    status, body = https(mock.url, "GET", "/version", ca_file=mock.ca_bundle)
    assert (status, body["error"]["code"]) == (503, "SERVICE_UNAVAILABLE")
    assert https(mock.url, "GET", "/version", ca_file=mock.ca_bundle)[0] == 200
    [rule] = sim_json(mock, tmp_path, "faults", "list")
    assert (rule["matched"], rule["fired"]) == (2, 1)

    sim_json(mock, tmp_path, "faults", "clear")
    assert sim_json(mock, tmp_path, "faults", "list") == []

    invalid = sim(mock, tmp_path, "faults", "add", "--path", "*")
    assert invalid.returncode == 1
    assert "COULD_NOT_VALIDATE" in invalid.stderr


def test_sim_events_and_reset_commands(clean_mock, tmp_path):
    mock = clean_mock
    jwt_file = tmp_path / "carol.jwt"
    assert cli("identity", "create", "carol", "--jwt-out", str(jwt_file), *mock.conn_args(), cwd=tmp_path).returncode == 0
    assert cli("identity", "enroll", "--jwt", str(jwt_file), "--out", str(tmp_path / "carol.json"), cwd=tmp_path).returncode == 0
    sim_json(mock, tmp_path, "clock", "advance", "1d")

    [enroll] = sim_json(mock, tmp_path, "events", "--kind", "enroll")
    assert enroll["outcome"] == "success"
    mine = sim_json(mock, tmp_path, "events", "--identity-id", enroll["identityId"])
    assert [e["kind"] for e in mine] == ["enroll"]
    assert any(e["kind"] == "authenticate" for e in sim_json(mock, tmp_path, "events"))  # the admin helpers' logins

    sim_json(mock, tmp_path, "reset")
    assert sim_json(mock, tmp_path, "events", "--kind", "enroll") == []
    assert sim_json(mock, tmp_path, "clock", "show")["offsetSeconds"] == 0
    status, body = identity_login(tmp_path / "carol.json", tmp_path)
    assert (status, body["error"]["code"]) == (401, "INVALID_AUTH")


def test_sim_commands_need_the_controller(tmp_path):
    result = cli("sim", "clock", "show", "--data-dir", str(tmp_path / "nothing-here"), cwd=tmp_path)
    assert result.returncode != 0
    assert "CA bundle not found" in result.stderr


def test_sim_snapshot_and_policy_commands(clean_mock, tmp_path):
    mock = clean_mock
    sim_json(mock, tmp_path, "clock", "advance", "2d")
    sim_json(mock, tmp_path, "snapshots", "save", "two-days")
    assert [s["name"] for s in sim_json(mock, tmp_path, "snapshots")] == ["two-days"]
    sim_json(mock, tmp_path, "clock", "advance", "5d")
    sim_json(mock, tmp_path, "snapshots", "restore", "two-days")
    assert sim_json(mock, tmp_path, "clock")["offsetSeconds"] == pytest.approx(2 * 86400, abs=5)
    sim_json(mock, tmp_path, "snapshots", "delete", "two-days")
    assert sim_json(mock, tmp_path, "snapshots") == []
    missing = sim(mock, tmp_path, "snapshots", "restore", "nope")
    assert missing.returncode == 1 and "NOT_FOUND" in missing.stderr

    policy = sim_json(mock, tmp_path, "policy", "set", "--identity-cert-lifetime", "10s", "--allow-expired-certs", "false")
    assert (policy["identityCertLifetimeSeconds"], policy["allowExpiredCerts"]) == (10, False)
    assert sorted(policy["overridden"]) == ["allowExpiredCerts", "identityCertLifetime"]
    policy = sim_json(mock, tmp_path, "policy", "set", "--identity-cert-lifetime", "default")
    assert policy["overridden"] == ["allowExpiredCerts"]
    assert sim_json(mock, tmp_path, "policy")["identityCertLifetimeSeconds"] == 365 * 86400
    bad = sim(mock, tmp_path, "policy", "set", "--session-timeout", "soon")
    assert bad.returncode == 1 and "COULD_NOT_VALIDATE" in bad.stderr
    # flags without the word "set" still set (they used to be ignored: the command only showed the policy)
    assert sim_json(mock, tmp_path, "policy", "--allow-expired-certs", "default")["overridden"] == []
    assert sim_json(mock, tmp_path, "policy", "--session-timeout", "2m")["sessionTimeoutSeconds"] == 120
    assert sim_json(mock, tmp_path, "policy", "show")["overridden"] == ["sessionTimeout"]
    empty = sim(mock, tmp_path, "policy", "set")
    assert empty.returncode == 2 and empty.stderr.startswith("error: ") and "--identity-cert-lifetime" in empty.stderr


def test_config_service_and_policy_commands(clean_mock, tmp_path):
    mock = clean_mock
    schema = tmp_path / "schema.json"
    schema.write_text(json.dumps({"type": "object", "required": ["port"], "properties": {"port": {"type": "integer"}}}))

    def run(*args: str) -> str:
        done = cli(*args, *mock.conn_args(), cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    type_id = run("config-type", "create", "host.v1", "--schema", f"@{schema}")
    run("config", "create", "ssh-host", "--type", "host.v1", "--data", '{"port": 22}')
    refused = cli("config", "create", "bad", "--type", type_id, "--data", '{"port": "x"}', *mock.conn_args(), cwd=tmp_path)
    assert refused.returncode == 1 and "COULD_NOT_VALIDATE" in refused.stderr
    service_id = run("service", "create", "ssh", "-a", "ssh", "-c", "ssh-host", "--tag", "app=demo")
    run("identity", "create", "alice", "--jwt-out", str(tmp_path / "alice.jwt"))
    policy_id = run("policy", "create", "dial", "alice-dials", "-i", "@alice", "-s", "#ssh")
    missing = cli("policy", "create", "bind", "x", "-i", "@nobody", *mock.conn_args(), cwd=tmp_path)
    assert missing.returncode != 0 and "nobody" in missing.stderr

    token = admin_token(mock.url, mock.ca_bundle, "admin", (mock.data_dir / "admin-password").read_text().strip())
    status, body = https(mock.url, "GET", f"/edge/management/v1/service-policies/{policy_id}", ca_file=mock.ca_bundle, token=token)
    assert status == 200 and body["data"]["serviceRoles"] == ["#ssh"]
    assert body["data"]["identityRolesDisplay"] == [{"role": body["data"]["identityRoles"][0], "name": "@alice"}]
    status, body = https(mock.url, "GET", f"/edge/management/v1/services/{service_id}", ca_file=mock.ca_bundle, token=token)
    assert body["data"]["tags"] == {"app": "demo"} and len(body["data"]["configs"]) == 1


def test_fixture_stopped_right_after_its_ready_line_exits_and_cleans_up(tmp_path):
    """A test suite in another language may stop the fixture the moment it has read the ready line, before
    uvicorn has taken over the signals. The SIGTERM handler used to raise SystemExit there; the exception once
    landed in a weakref callback, which swallowed it, and the process hung."""
    for _ in range(4):
        proc = subprocess.Popen([sys.executable, "-m", "controller", "serve", "--mode", "fixture"], cwd=tmp_path,
                                env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        ready = json.loads(proc.stdout.readline())
        assert stop(proc) == 0
        proc.stdout.close()
        assert not Path(ready["dataDir"]).exists()
