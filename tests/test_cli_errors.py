"""The command's failures a user can fix: one line that says what is wrong and what to do, a non-zero exit, no
traceback (issue 7, "Clear errors instead of tracebacks" and the CLI items of "Fixture and plugin defects").
The command runs as a user types it: a subprocess, or `main(argv)` against the suite's controller."""

from __future__ import annotations

import base64
import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from controller.cli.main import main
from test_cli import START_TIMEOUT, clean_env, cli, free_port, https, stop


def one_line_error(result: subprocess.CompletedProcess, *needles: str, code: int | None = None) -> str:
    assert result.returncode != 0, result
    if code is not None:
        assert result.returncode == code, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def main_error(capsys: pytest.CaptureFixture, argv: list[str], *needles: str, code: int = 1) -> str:
    assert main(argv) == code
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    for needle in needles:
        assert needle in err[0], err[0]
    return err[0]


# --- identity files and JWTs ---------------------------------------------------------------------------

def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.mark.parametrize("content", [
    pytest.param(b"", id="empty"),
    pytest.param(b"\x00\xff\xfe garbage \x80", id="binary"),
    pytest.param(b"hello world\n", id="text"),
    pytest.param(b"a.b.c\n", id="three-parts-not-base64-json"),
    pytest.param(f"{_b64(b'{}')}.{_b64(b'[1,2]')}.sig".encode(), id="claims-not-an-object"),
    pytest.param(f"{_b64(b'{}')}.{_b64(json.dumps({'em': 'ott'}).encode())}.sig".encode(), id="no-issuer"),
])
def test_enroll_with_a_file_that_is_not_an_enrollment_jwt(tmp_path, content):
    jwt = tmp_path / "x.jwt"
    jwt.write_bytes(content)
    result = cli("identity", "enroll", "--jwt", str(jwt), "--out", str(tmp_path / "x.json"), cwd=tmp_path)
    one_line_error(result, str(jwt), code=1)
    assert not (tmp_path / "x.json").exists()


def test_enroll_with_a_missing_jwt_file(tmp_path):
    result = cli("identity", "enroll", "--jwt", str(tmp_path / "nope.jwt"), "--out", str(tmp_path / "x.json"), cwd=tmp_path)
    one_line_error(result, "does not exist", code=1)


@pytest.mark.parametrize("content", ["{}", "not json at all", "[]", '{"ztAPI": "https://x:1", "id": {}}', ""])
def test_extend_with_an_identity_file_that_is_not_one(tmp_path, content):
    path = tmp_path / "id.json"
    path.write_text(content)
    result = cli("identity", "extend", "--identity", str(path), cwd=tmp_path)
    one_line_error(result, str(path), code=1)


# --- settings ------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "value"), [
    ("ZITI_SIM_IDENTITY_CERT_LIFETIME", "10x"),
    ("ZITI_SIM_MODE", "production"),
    ("ZITI_SIM_ADDRESS", "no-port"),
    ("ZITI_SIM_MAX_REQUESTS_IN_FLIGHT", "many"),
    ("ZITI_SIM_LOG_LEVEL", "loud"),
    ("ZITI_SIM_IDENTITY_CERT_LIFETIME", "-5s"),
    ("ZITI_SIM_ROUTER_CERT_LIFETIME", "0"),
    ("ZITI_SIM_ENROLLMENT_LIFETIME", "-1h"),
    ("ZITI_SIM_SESSION_TIMEOUT", "0s"),
    ("ZITI_SIM_ADMIN_USERNAME", ""),
    ("ZITI_SIM_EVENT_LOOP", "trio"),
    ("ZITI_SIM_HTTP", "h2"),
])
def test_a_malformed_setting_is_one_line_naming_the_variable(tmp_path, name, value):
    address = [] if name == "ZITI_SIM_ADDRESS" else ["--address", f"127.0.0.1:{free_port()}"]  # never the default port
    result = cli("serve", "--data-dir", str(tmp_path / "data"), *address,
                 env=clean_env(**{name: value}), cwd=tmp_path, timeout=30)
    one_line_error(result, name, repr(value), code=2)
    assert not (tmp_path / "data").exists()


def test_a_malformed_flag_names_the_flag(tmp_path):
    result = cli("serve", "--data-dir", str(tmp_path / "data"), "--address", "nowhere", cwd=tmp_path)
    one_line_error(result, "--address", code=2)


def test_postgresql_without_its_driver_says_which_extra_to_install(tmp_path):
    code = ("import sys; sys.modules['psycopg'] = None; sys.modules['psycopg2'] = None\n"
            "from controller.cli.main import main\n"
            f"sys.exit(main(['serve', '--data-dir', {str(tmp_path / 'data')!r}, '--address', '127.0.0.1:{free_port()}',"
            " '--database-url', 'postgresql+psycopg://postgres@127.0.0.1:5432/test']))")
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=clean_env(), capture_output=True, text=True, timeout=120)
    one_line_error(result, "pip install 'ziti-controller-sim[postgres]'", code=1)


# --- serve: the address and the data directory -----------------------------------------------------------

def test_port_in_use_names_the_address_and_creates_nothing(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = cli("serve", "--data-dir", str(tmp_path / "data"), "--address", f"127.0.0.1:{port}", cwd=tmp_path)
    one_line_error(result, f"127.0.0.1:{port}", "already in use", code=1)
    assert list(tmp_path.iterdir()) == []


def test_a_data_dir_that_is_a_file(tmp_path):
    (tmp_path / "data").write_text("not a directory")
    result = cli("serve", "--data-dir", str(tmp_path / "data"), "--address", f"127.0.0.1:{free_port()}", cwd=tmp_path)
    one_line_error(result, str(tmp_path / "data"), "--data-dir", code=1)


def test_a_data_dir_on_a_special_filesystem(tmp_path):
    result = cli("serve", "--data-dir", "/sys/ziti-sim-data", "--address", f"127.0.0.1:{free_port()}", cwd=tmp_path)
    one_line_error(result, "/sys/ziti-sim-data", "--data-dir", code=1)


def test_fixture_mode_honours_the_default_looking_address(tmp_path):
    """`--address 127.0.0.1:1280` is the default's value, but it was asked for: it is used (or, when another
    process holds it, named in the error), never swapped for an ephemeral port."""
    proc = subprocess.Popen([sys.executable, "-m", "controller", "serve", "--mode", "fixture", "--address", "127.0.0.1:1280"],
                            cwd=tmp_path, env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        if line:
            info = json.loads(line)
            assert info["url"] == "https://127.0.0.1:1280"
            assert https(info["url"], "GET", "/version", ca_file=Path(info["caBundle"]))[0] == 200
        else:
            proc.wait(START_TIMEOUT)
            assert "127.0.0.1:1280" in proc.stderr.read() and proc.returncode == 1
    finally:
        stop(proc)
        proc.stdout.close()
        proc.stderr.close()


# --- talking to a controller -----------------------------------------------------------------------------

def _conn(ctl, *extra: str) -> list[str]:
    return ["--controller", ctl.url, "--ca", str(ctl.ca_bundle), *extra]


def test_a_refused_login_says_where_the_password_came_from(ctl, capsys, monkeypatch):
    monkeypatch.delenv("ZITI_SIM_ADMIN_PASSWORD", raising=False)
    main_error(capsys, ["sim", "clock", *_conn(ctl, "--password", "wrong-password")], ctl.url, "--password", "INVALID_AUTH")
    monkeypatch.setenv("ZITI_SIM_ADMIN_PASSWORD", "also-wrong")
    main_error(capsys, ["sim", "clock", *_conn(ctl)], "ZITI_SIM_ADMIN_PASSWORD")


def test_connection_refused_names_the_url(ctl, capsys):
    url = f"https://127.0.0.1:{free_port()}"
    main_error(capsys, ["sim", "clock", "--controller", url, "--ca", str(ctl.ca_bundle), "--password", "x"], url, "refused")


def test_faults_delete_without_an_id_is_a_usage_error(tmp_path):
    # no controller is needed to know that the command line is incomplete
    result = cli("sim", "faults", "delete", "--controller", f"https://127.0.0.1:{free_port()}", cwd=tmp_path)
    one_line_error(result, "--id", code=2)


def test_jwt_out_is_0600(ctl, tmp_path, capsys):
    target = tmp_path / "new.jwt"
    assert main(["identity", "create", "jwt-mode", "--jwt-out", str(target), *_conn(ctl, "--password", ctl.admin_password)]) == 0
    assert target.stat().st_mode & 0o777 == 0o600
    assert target.read_text().count(".") == 2


def test_openapi_without_out_dir_writes_to_the_current_directory(tmp_path):
    result = cli("openapi", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "openapi").iterdir()) == ["client.json", "management.json", "sim.json"]


@pytest.mark.parametrize(("url", "needle", "code"), [
    ("not a url", "could not be parsed", 2),
    ("postgresql+psycopg://nobody-here@127.0.0.1:{port}/x", "cannot use the database", 1),
    ("mysql://nobody:s3cret@127.0.0.1:{port}/x", "unsupported database", 2),
    ("oracle+cx_oracle://nobody@127.0.0.1:{port}/x", "unsupported database", 2),
], ids=["unparsable", "nothing-listening", "mysql", "oracle"])
def test_an_unusable_database_url(tmp_path, url, needle, code):
    url = url.format(port=free_port())
    result = cli("serve", "--data-dir", str(tmp_path / "data"), "--address", f"127.0.0.1:{free_port()}", "--database-url", url,
                 cwd=tmp_path)
    line = one_line_error(result, needle, "--database-url", code=code)
    assert "s3cret" not in line


def test_an_unsupported_database_in_the_environment_keeps_its_password_out(tmp_path):
    env = clean_env(ZITI_SIM_DATABASE_URL="mysql://user:s3cret@127.0.0.1/x")
    result = cli("serve", "--data-dir", str(tmp_path / "data"), "--address", f"127.0.0.1:{free_port()}", env=env, cwd=tmp_path,
                 timeout=30)
    line = one_line_error(result, "ZITI_SIM_DATABASE_URL", "unsupported database 'mysql'", code=2)
    assert "s3cret" not in line
    assert not (tmp_path / "data").exists()


def test_a_ca_file_that_is_not_pem(tmp_path):
    (tmp_path / "ca.pem").write_text("not a certificate")
    result = cli("sim", "clock", "--controller", f"https://127.0.0.1:{free_port()}", "--ca", str(tmp_path / "ca.pem"),
                 "--password", "x", cwd=tmp_path)
    one_line_error(result, str(tmp_path / "ca.pem"), "--ca", code=1)


def test_extend_when_the_controller_is_not_there_names_its_url(ctl, tmp_path, capsys):
    ident = ctl.enroll_identity()
    data = json.loads(ident.json_path.read_text())
    url = f"https://127.0.0.1:{free_port()}"
    data["ztAPI"], data["ztAPIs"] = url, [url]
    path = tmp_path / "gone.json"
    path.write_text(json.dumps(data))
    main_error(capsys, ["identity", "extend", "--identity", str(path)], url, "refused")
    assert json.loads(path.read_text()) == data


def test_a_reader_that_goes_away_is_not_an_error(tmp_path):
    """`ziti-controller-sim ... | head`: when the reader closes the pipe, the command's work is done; it ends
    quietly with 0 instead of printing `error: Broken pipe` and failing."""
    proc = subprocess.Popen([sys.executable, "-m", "controller", "pki", "external-ca", "--out", str(tmp_path / "ca")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path)
    proc.stdout.close()  # the reader is gone before the command prints
    stderr = proc.stderr.read().decode()
    assert proc.wait(60) == 0, stderr
    assert stderr == ""
    assert (tmp_path / "ca" / "root-ca.cert.pem").exists()
