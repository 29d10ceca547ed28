"""Hardening of shared state: atomic read-modify-write on the shared rows (clock, policy, fault counters,
network state) without deadlocks, replicas starting together on a fresh database, atomic files, file
modes, the lab password rule and the fixture's template cache key."""

from __future__ import annotations

import re
import secrets
import threading
from collections.abc import Callable, Iterator

import pytest

from controller.client.errors import ControllerError
from controller.client.http import Connection
from controller.testing.harness import ControllerHarness

SIM = "/sim/v1"
MGMT = "/edge/management/v1"



def _hammer(replicas: tuple[ControllerHarness, ...], token: str, threads: int, calls: int,
            request: Callable[[Connection, int], object]) -> list[BaseException]:
    """`threads` threads, alternating between the replicas, each sending `calls` requests with one shared
    admin session token; returns the errors."""
    errors: list[BaseException] = []
    start = threading.Barrier(threads)

    def worker(n: int) -> None:
        with replicas[n % len(replicas)].connect() as conn:
            conn.session_token = token
            start.wait()
            for i in range(calls):
                try:
                    request(conn, i)
                except BaseException as error:  # noqa: BLE001 - collected and asserted on
                    errors.append(error)

    pool = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return errors


def test_concurrent_clock_advances_through_two_replicas_sum_exactly(replicas):
    a, b = replicas
    token = a.admin.session_token
    before = a.clock.now()
    start_offset = a.admin.data("GET", f"{SIM}/clock")["offsetSeconds"]
    threads, calls = 4, 10
    errors = _hammer((a, b), token, threads, calls,
                     lambda conn, _i: conn.data("POST", f"{SIM}/clock/advance", json_body={"by": "1m"}))
    assert errors == []
    offset = b.admin.data("GET", f"{SIM}/clock")["offsetSeconds"]
    assert round(offset - start_offset) == threads * calls * 60
    assert (a.clock.now() - before).total_seconds() >= threads * calls * 60


def test_concurrent_clock_advances_through_one_controller_sum_exactly(ctl):
    start_offset = ctl.admin.data("GET", f"{SIM}/clock")["offsetSeconds"]
    errors = _hammer((ctl,), ctl.admin.session_token, 4, 10,
                     lambda conn, _i: conn.data("POST", f"{SIM}/clock/advance", json_body={"by": "1h"}))
    assert errors == []
    assert round(ctl.admin.data("GET", f"{SIM}/clock")["offsetSeconds"] - start_offset) == 40 * 3600


def test_concurrent_clock_writes_mixed_with_reset_policy_and_services_never_fail(replicas):
    """Every route that writes a shared row (clock, policy, network state), with one shared admin session:
    no deadlock, no lost update, no 500."""
    a, b = replicas
    token = a.admin.session_token

    def mixed(conn: Connection, i: int) -> None:
        kind = i % 4
        if kind == 0:
            conn.data("POST", f"{SIM}/clock/advance", json_body={"by": "1s"})
        elif kind == 1:
            conn.data("PUT", f"{SIM}/policy", json_body={"sessionTimeout": f"{30 + i}m"})
        elif kind == 2:
            conn.data("POST", f"{MGMT}/services", json_body={"name": f"svc-{secrets.token_hex(6)}", "encryptionRequired": True})
        else:
            conn.data("PUT", f"{SIM}/clock", json_body={"frozen": i % 8 == 3})

    errors = _hammer((a, b), token, 4, 12, mixed)
    assert errors == []


def test_resets_concurrent_with_writes_through_two_replicas_leave_a_consistent_network(replicas):
    """Resets through both replicas while identities (each with its enrollment) and services are created
    through both: no request fails, every identity that survives a reset still has its enrollment (no half
    of a creation is deleted), and the last reset, seen from the other replica, leaves the admin alone."""
    a, b = replicas
    token = a.admin.session_token

    def mixed(conn: Connection, i: int) -> None:
        if i % 3 == 0:
            conn.data("POST", f"{SIM}/reset")
        elif i % 3 == 1:
            conn.data("POST", f"{MGMT}/identities", json_body={
                "name": f"id-{secrets.token_hex(6)}", "type": "Default", "isAdmin": False, "enrollment": {"ott": True}})
        else:
            conn.data("POST", f"{MGMT}/services", json_body={"name": f"svc-{secrets.token_hex(6)}", "encryptionRequired": True})

    errors = _hammer((a, b), token, 4, 12, mixed)
    assert errors == []
    identities = b.admin.data("GET", f"{MGMT}/identities?limit=500")
    enrolled = {e["identityId"] for e in b.admin.data("GET", f"{MGMT}/enrollments?limit=500")}
    assert {i["id"] for i in identities if not i["isDefaultAdmin"]} <= enrolled
    b.reset()
    assert [i["name"] for i in a.admin.data("GET", f"{MGMT}/identities?limit=500")] == ["Default Admin"]
    assert a.admin.data("GET", f"{MGMT}/services?limit=500") == []
    assert a.admin.data("GET", f"{MGMT}/enrollments?limit=500") == []
    assert a.admin.data("GET", f"{SIM}/clock")["offsetSeconds"] == 0


def test_concurrent_first_service_creations_all_succeed(replicas):
    """The network_state row does not exist after a reset: the first service creations race to make it."""
    a, b = replicas
    for round_ in range(3):
        a.reset()
        errors = _hammer((a, b), a.admin.session_token, 4, 1,
                         lambda conn, _i: conn.data("POST", f"{MGMT}/services", json_body={"name": f"s-{secrets.token_hex(6)}", "encryptionRequired": True}))
        assert errors == [], round_
        assert len(a.admin.data("GET", f"{MGMT}/services?limit=100")) == 4


def test_fault_counters_count_every_match_exactly_once_across_replicas(replicas):
    a, b = replicas
    rule = a.faults.add("*/version", status=503, code="SERVICE_UNAVAILABLE", times=7)
    answers: list[int] = []

    def call(conn: Connection, _i: int) -> None:
        try:
            conn.data("GET", "/version")
            answers.append(200)
        except ControllerError as error:
            answers.append(error.status)

    errors = _hammer((a, b), a.admin.session_token, 4, 5, call)
    assert errors == []
    assert sorted(answers).count(503) == 7 and answers.count(200) == 13
    (found,) = [r for r in a.faults.list() if r["id"] == rule]
    assert (found["matched"], found["fired"], found["remaining"]) == (20, 7, 0)


# --- replicas starting together on a fresh database --------------------------------------------------------

def _fresh_database(database_url: str | None, worker_id: str, tmp) -> Iterator[str | None]:  # noqa: ANN001
    if database_url is None:
        yield None  # SQLite: the file in the shared data directory is new for each trial
    else:
        from conftest import _postgres_database

        yield from _postgres_database(f"{worker_id}_start")


def _start_together(count: int, settings: dict) -> list:
    """`count` runtimes started at the same moment, each on its own thread (as replicas on one host)."""
    from controller.runtime import Runtime
    from controller.settings import Settings

    barrier = threading.Barrier(count)
    results: list = [None] * count

    def start(n: int) -> None:
        barrier.wait()
        try:
            results[n] = Runtime.start(Settings(**settings))
        except BaseException as error:  # noqa: BLE001 - asserted on below
            results[n] = error

    pool = [threading.Thread(target=start, args=(n,)) for n in range(count)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return results


def test_three_replicas_starting_together_on_a_fresh_database_all_come_up_and_agree(database_url, worker_id, tmp_path):
    from sqlalchemy import func, select

    from controller.passwords import verify_password
    from controller.store.models import Authenticator, Identity

    for trial in range(10):
        data_dir = tmp_path / f"trial-{trial}"
        fresh = _fresh_database(database_url, worker_id, tmp_path)
        url = next(fresh)
        try:
            runtimes = _start_together(3, {"mode": "mock", "data_dir": data_dir, "database_url": url,
                                           "address": "127.0.0.1:1280", "password_hash_cost": 10})
            try:
                failures = [r for r in runtimes if isinstance(r, BaseException)]
                assert failures == [], f"trial {trial}: {failures!r}"
                assert len({r.admin_password for r in runtimes}) == 1
                assert len({r.pki.root.cert for r in runtimes}) == 1
                assert len({r.pki.server_cert for r in runtimes}) == 1
                with runtimes[0].sessions() as db:
                    assert db.scalar(select(func.count()).select_from(Identity).where(Identity.is_default_admin.is_(True))) == 1
                    (updb,) = db.scalars(select(Authenticator).where(Authenticator.method == "updb")).all()
                    assert verify_password(runtimes[0].admin_password, updb.password_hash)
            finally:
                for r in runtimes:
                    if not isinstance(r, BaseException) and r is not None:
                        r.close()
        finally:
            fresh.close()


# --- atomic files and a half-written PKI ----------------------------------------------------------------

def _settings(data_dir, **values):  # noqa: ANN001, ANN202
    from controller.settings import Settings

    return Settings(**{"mode": "mock", "data_dir": data_dir, "address": "127.0.0.1:1280", "password_hash_cost": 10, **values})


def _start_and_close(settings) -> None:  # noqa: ANN001
    from controller.runtime import Runtime

    Runtime.start(settings).close()


def test_an_interrupted_write_leaves_no_half_written_file(tmp_path, monkeypatch):
    """Every write dies half way (as a crash would): no key, certificate or password file may be left
    partly written; the next start then completes."""
    import os

    from controller.pki.certs import load_certs_pem
    from controller.pki.keys import load_private_key_pem

    real_write = os.write

    def crash_half_way(fd: int, data) -> int:  # noqa: ANN001
        real_write(fd, bytes(data)[: max(1, len(data) // 2)])
        raise OSError(28, "simulated crash while writing")

    data_dir = tmp_path / "data"
    monkeypatch.setattr(os, "write", crash_half_way)
    with pytest.raises(OSError):
        _start_and_close(_settings(data_dir))
    monkeypatch.setattr(os, "write", real_write)
    leftovers = [p for p in data_dir.rglob("*") if p.is_file() and not p.name.endswith(".lock") and p.suffix != ".db"]
    for path in leftovers:
        assert not path.name.endswith(".tmp"), f"temporary file left behind: {path.name}"
        if path.name.endswith(".key.pem"):
            load_private_key_pem(path.read_bytes())
        elif path.name.endswith(".pem"):
            load_certs_pem(path.read_bytes())
    _start_and_close(_settings(data_dir))


def test_files_are_written_with_their_final_modes(tmp_path):
    import os
    import stat

    old = os.umask(0o022)
    try:
        data_dir = tmp_path / "data"
        _start_and_close(_settings(data_dir))
    finally:
        os.umask(old)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in data_dir.rglob("*") if p.is_file() and not p.name.startswith(".")}
    assert modes["admin-password"] == 0o600
    assert modes["controller.db"] == 0o600
    for name in ("root-ca", "intermediate-ca", "edge-signer", "server"):
        assert modes[f"{name}.key.pem"] == 0o600 and modes[f"{name}.cert.pem"] == 0o644
    assert modes["ca-bundle.pem"] == 0o644
    assert all(mode == 0o600 for name, mode in modes.items() if name.startswith("controller.db"))
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700


def _damage_empty_key(pki):  # noqa: ANN001, ANN202
    (pki / "intermediate-ca.key.pem").write_bytes(b"")
    return "intermediate-ca.key.pem is empty"


def _damage_missing_intermediate(pki):  # noqa: ANN001, ANN202
    (pki / "intermediate-ca.cert.pem").unlink()
    return "intermediate-ca.cert.pem is missing"


def _damage_key_mismatch(pki):  # noqa: ANN001, ANN202
    (pki / "edge-signer.key.pem").write_bytes((pki / "root-ca.key.pem").read_bytes())
    return "edge-signer.key.pem does not match edge-signer.cert.pem"


def _damage_garbage_cert(pki):  # noqa: ANN001, ANN202
    (pki / "root-ca.cert.pem").write_text("not a certificate\n")
    return "root-ca.cert.pem holds no readable certificate"


def _damage_only_root_left(pki):  # noqa: ANN001, ANN202
    for name in ("intermediate-ca", "edge-signer"):
        (pki / f"{name}.cert.pem").unlink()
        (pki / f"{name}.key.pem").unlink()
    return "intermediate-ca.cert.pem is missing"


@pytest.mark.parametrize("damage", [_damage_empty_key, _damage_missing_intermediate, _damage_key_mismatch,
                                    _damage_garbage_cert, _damage_only_root_left])
def test_a_damaged_pki_stops_the_start_with_one_line_saying_what_to_do(tmp_path, damage):
    from controller.runtime import StartupError

    data_dir = tmp_path / "data"
    _start_and_close(_settings(data_dir))
    expected = damage(data_dir / "pki")
    damaged = {p.name: p.read_bytes() for p in (data_dir / "pki").iterdir() if p.is_file()}
    with pytest.raises(StartupError) as excinfo:
        _start_and_close(_settings(data_dir))
    message = str(excinfo.value)
    assert "\n" not in message and expected in message
    assert "delete it to create a new PKI" in message and "backup" in message
    # Nothing was "repaired" behind the operator's back: the files are as the damage left them.
    assert {p.name: p.read_bytes() for p in (data_dir / "pki").iterdir() if p.is_file()} == damaged


def test_a_damaged_server_certificate_is_issued_again(tmp_path):
    from controller.runtime import Runtime

    data_dir = tmp_path / "data"
    _start_and_close(_settings(data_dir))
    (data_dir / "pki" / "server.key.pem").write_bytes(b"")
    runtime = Runtime.start(_settings(data_dir))
    try:
        runtime.tls_server_config().context()  # the files on disk are a matching pair again
    finally:
        runtime.close()


def test_serve_with_a_damaged_pki_prints_one_line_and_no_traceback(tmp_path):
    import os
    import subprocess
    import sys

    data_dir = tmp_path / "data"
    _start_and_close(_settings(data_dir))
    (data_dir / "pki" / "intermediate-ca.key.pem").write_bytes(b"")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZITI_SIM_")}
    result = subprocess.run([sys.executable, "-m", "controller", "serve", "--data-dir", str(data_dir), "--address", "127.0.0.1:0"],
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "intermediate-ca.key.pem is empty" in lines[0], result.stderr


def test_an_empty_admin_password_file_stops_the_start(tmp_path):
    from controller.runtime import StartupError

    data_dir = tmp_path / "data"
    _start_and_close(_settings(data_dir))
    (data_dir / "admin-password").write_text("\n")
    with pytest.raises(StartupError) as excinfo:
        _start_and_close(_settings(data_dir))
    assert "admin-password is empty" in str(excinfo.value) and "\n" not in str(excinfo.value)
    (data_dir / "admin-password").unlink()  # what the message says to do
    _start_and_close(_settings(data_dir))
    assert len((data_dir / "admin-password").read_text().strip()) >= 16


# --- secrets and file modes --------------------------------------------------------------------------------

def test_an_existing_data_directory_open_to_others_is_tightened(tmp_path):
    import stat

    data_dir = tmp_path / "data"
    data_dir.mkdir(mode=0o755)
    data_dir.chmod(0o755)
    _start_and_close(_settings(data_dir))
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700


def test_an_existing_sqlite_database_open_to_others_is_tightened(tmp_path):
    import stat

    data_dir = tmp_path / "data"
    _start_and_close(_settings(data_dir))
    for suffix in ("", "-wal", "-shm"):
        path = data_dir / f"controller.db{suffix}"
        if path.exists():
            path.chmod(0o644)
    _start_and_close(_settings(data_dir))
    assert stat.S_IMODE((data_dir / "controller.db").stat().st_mode) == 0o600


def test_database_errors_never_carry_statement_parameters(isolated_database_url, tmp_path):
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    from controller.runtime import Runtime

    secret = f"enrollment-token-{secrets.token_hex(8)}"
    runtime = Runtime.start(_settings(tmp_path / "data", database_url=isolated_database_url))
    try:
        with runtime.engine.connect() as conn, pytest.raises(DBAPIError) as excinfo:
            conn.execute(text("SELECT token FROM no_such_table WHERE token = :token"), {"token": secret})
    finally:
        runtime.close()
    assert secret not in str(excinfo.value)


@pytest.mark.parametrize("password", ["password1234", "aaaaaaaaaaaa", "123456789012", "admin-password", "Sh0rt!"])
def test_lab_mode_refuses_a_guessable_admin_password_with_one_line(tmp_path, password):
    from controller.runtime import StartupError

    with pytest.raises(StartupError) as excinfo:
        _start_and_close(_settings(tmp_path / "lab", mode="lab", admin_password=password))
    message = str(excinfo.value)
    assert "\n" not in message and "lab mode refuses" in message and "ZITI_SIM_ADMIN_PASSWORD" in message
    assert password not in message  # never echo a secret
    assert not (tmp_path / "lab").exists()  # refused before anything was created


@pytest.mark.parametrize("password", ["a-long-secret-password", "Kyt_gBvF3kq9xZ1mN0pQ", "correct horse battery staple"])
def test_lab_mode_password_rule_accepts_strong_passwords(password):
    from controller.settings import admin_password_weakness

    assert admin_password_weakness(password) is None


# --- fixture template cache key -----------------------------------------------------------------------------

def test_sqlite_template_is_keyed_by_the_migrations_contents(tmp_path, monkeypatch):
    import shutil

    from controller.store import db

    cache = tmp_path / "cache"
    original = db.sqlite_template(cache)
    copy = tmp_path / "migrations"
    shutil.copytree(db._migrations_dir(), copy, ignore=shutil.ignore_patterns("__pycache__"))
    (script,) = [path for path in copy.glob("versions/*.py")
                 if re.search(rf"^revision\b.*[\"']{re.escape(db.SCHEMA_HEAD)}[\"']", path.read_text(), re.M)]
    script.write_text(script.read_text() + "\n# changed under the same revision id\n")
    monkeypatch.setattr(db, "_migrations_dir", lambda: copy)
    changed = db.sqlite_template(cache)
    assert changed != original and changed.exists() and original.exists()
