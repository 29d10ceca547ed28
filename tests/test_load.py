"""Many concurrent clients: more than the in-flight limit, the connection pool and the thread pool.

A regression test for a stall found by the benchmark: with the SQLite write lock held across thread hops,
or the event loop waiting for a pooled connection, 32 concurrent clients froze the server until timeouts.
Every request here must complete (no timing is asserted; a stall shows up as a client timeout)."""

from __future__ import annotations

import threading
import time

from cryptography.hazmat.primitives.serialization import load_pem_private_key

from conftest import make_csr

CLIENTS = 48
ROUNDS = 3


def run_together(identities, client, *, timeout: float) -> list[BaseException]:
    """Run `client(identity, ready)` on one thread per identity; each calls `ready()` once set up, and all go on
    together. Bounded: a client that fails breaks the barrier, so nobody waits for it forever, and every join
    shares one deadline. Returns the failures."""
    failures: list[BaseException] = []
    start = threading.Barrier(len(identities))

    def ready() -> None:
        start.wait(timeout)

    def run(identity) -> None:  # noqa: ANN001
        try:
            client(identity, ready)
        except BaseException as error:  # noqa: BLE001 - collected and reported by the caller
            failures.append(error)
            start.abort()

    threads = [threading.Thread(target=run, args=(identity,), daemon=True) for identity in identities]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    assert not any(t.is_alive() for t in threads), f"clients still running after {timeout:g} s"
    return failures


def test_more_clients_than_threads_and_connections_all_complete(ctl):
    identities = [ctl.enroll_identity(f"load-{i}") for i in range(CLIENTS)]
    ctl.faults.add("/nothing/matches/this", status=500)  # exercise the fault path's transaction as well
    done = []

    def client(identity, ready):  # noqa: ANN001
        conn = identity.connect()
        conn.timeout = 20
        session = conn.login_cert()
        csr, _ = make_csr(key=load_pem_private_key(identity.identity.key.encode(), None))
        base = f"/edge/client/v1/current-identity/authenticators/{session['authenticatorId']}"
        ready()
        for _ in range(ROUNDS):
            conn.data("GET", "/current-api-session")
            extended = conn.data("POST", f"{base}/extend", json_body={"clientCertCsr": csr})
        conn.data("POST", f"{base}/extend-verify", json_body={"clientCert": extended["clientCert"]})
        conn.close()
        done.append(identity.id)

    failures = run_together(identities, client, timeout=240)
    assert not failures, f"{len(failures)} clients failed, first: {failures[0]!r}"
    assert len(done) == CLIENTS
    assert len(ctl.journal.events(kind="extend-verify", outcome="success", limit=1000)) == CLIENTS


def test_requests_sleeping_in_a_delay_fault_do_not_block_the_others(ctl, alice):
    """A delay fault holds no thread and no lock, so it must not take the in-flight slots that other
    requests need. Ordering, not timing: the unrelated request must finish while every delayed one waits."""
    ctl.faults.add("*/version", delay_ms=5000)
    finished: list[int] = []
    delayed = 20  # more than the default limit of 16 requests in flight

    def slow(index):
        with ctl.connect() as conn:
            conn.timeout = 30
            conn.raw("GET", "/version")
            finished.append(index)

    threads = [threading.Thread(target=slow, args=(i,)) for i in range(delayed)]
    for thread in threads:
        thread.start()
    ctl.faults.list()  # the sim API is never faulted; give the delayed requests time to reach the fault
    time.sleep(0.5)
    with alice.connect() as conn:
        conn.timeout = 30
        assert conn.login_cert()["identityId"] == alice.id
    assert finished == [], "the unrelated request waited for the delayed ones"
    for thread in threads:
        thread.join(60)
    assert len(finished) == delayed


EXTEND_CLIENTS = 32
EXTEND_CYCLES = 3


def test_32_clients_extend_and_verify_with_zero_errors(ctl):
    """Issue 11's load test: 32 concurrent clients, each through EXTEND_CYCLES extend + extend-verify cycles,
    every cycle on a new mTLS connection presenting the certificate the previous cycle verified (as SDKs do).
    Every request must succeed; timing is for bench/extend.py, not asserted here."""
    from controller.client.http import Connection, tls_context

    identities = [ctl.enroll_identity(f"extend-load-{i}") for i in range(EXTEND_CLIENTS)]
    verified: list[str] = []

    def client(identity, ready):  # noqa: ANN001
        ident = identity.identity
        csr, _ = make_csr(key=load_pem_private_key(ident.key.encode(), None))
        cert = ident.cert
        ready()
        for _ in range(EXTEND_CYCLES):
            with Connection(ident.zt_api, tls_context(ca_pem=ident.ca, cert_pem=cert, key_pem=ident.key)) as conn:
                conn.timeout = 60
                session = conn.login_cert()
                base = f"/edge/client/v1/current-identity/authenticators/{session['authenticatorId']}"
                extended = conn.data("POST", f"{base}/extend", json_body={"clientCertCsr": csr})
                conn.data("POST", f"{base}/extend-verify", json_body={"clientCert": extended["clientCert"]})
                cert = extended["clientCert"]
                verified.append(identity.id)

    failures = run_together(identities, client, timeout=480)
    assert not failures, f"{len(failures)} clients failed, first: {failures[0]!r}"
    assert len(verified) == EXTEND_CLIENTS * EXTEND_CYCLES
    events = ctl.journal.events(kind="extend-verify", outcome="success", limit=1000)
    assert len([e for e in events if e.get("identityId") in {i.id for i in identities}]) == EXTEND_CLIENTS * EXTEND_CYCLES
