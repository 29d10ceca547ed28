"""Hardening of shared state: atomic read-modify-write on the shared rows (clock, policy, fault counters,
network state) without deadlocks, replicas starting together on a fresh database, atomic files, file
modes, the lab password rule and the fixture's template cache key."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Iterator

import pytest

from controller.client.errors import ControllerError
from controller.client.http import Connection
from controller.testing.harness import ControllerHarness

SIM = "/sim/v1"
MGMT = "/edge/management/v1"


@pytest.fixture
def two_replicas(isolated_database_url, tmp_path) -> Iterator[tuple[ControllerHarness, ControllerHarness]]:
    """Two controllers on one database (PostgreSQL, or one SQLite file in a shared data directory)."""
    password = secrets.token_urlsafe(16)
    first = ControllerHarness.start(database_url=isolated_database_url, workdir=tmp_path, admin_password=password)
    second = ControllerHarness.start(database_url=isolated_database_url, workdir=tmp_path, admin_password=password)
    first.reset()
    yield first, second
    second.stop()
    first.stop()


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


def test_concurrent_clock_advances_through_two_replicas_sum_exactly(two_replicas):
    a, b = two_replicas
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


def test_concurrent_clock_writes_mixed_with_reset_policy_and_services_never_fail(two_replicas):
    """Every route that writes a shared row (clock, policy, network state), with one shared admin session:
    no deadlock, no lost update, no 500."""
    a, b = two_replicas
    token = a.admin.session_token

    def mixed(conn: Connection, i: int) -> None:
        kind = i % 4
        if kind == 0:
            conn.data("POST", f"{SIM}/clock/advance", json_body={"by": "1s"})
        elif kind == 1:
            conn.data("PUT", f"{SIM}/policy", json_body={"sessionTimeout": f"{30 + i}m"})
        elif kind == 2:
            conn.data("POST", f"{MGMT}/services", json_body={"name": f"svc-{secrets.token_hex(6)}"})
        else:
            conn.data("PUT", f"{SIM}/clock", json_body={"frozen": i % 8 == 3})

    errors = _hammer((a, b), token, 4, 12, mixed)
    assert errors == []


def test_concurrent_first_service_creations_all_succeed(two_replicas):
    """The network_state row does not exist after a reset: the first service creations race to make it."""
    a, b = two_replicas
    for round_ in range(3):
        a.reset()
        errors = _hammer((a, b), a.admin.session_token, 4, 1,
                         lambda conn, _i: conn.data("POST", f"{MGMT}/services", json_body={"name": f"s-{secrets.token_hex(6)}"}))
        assert errors == [], round_
        assert len(a.admin.data("GET", f"{MGMT}/services?limit=100")) == 4


def test_fault_counters_count_every_match_exactly_once_across_replicas(two_replicas):
    a, b = two_replicas
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
