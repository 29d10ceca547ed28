"""The request path's locking (issue 11): on SQLite a GET whose API session needs no write takes no write
lock, writers of one process queue first come first served, and the sliding expiry writes only when it
moves by more than a fraction of the timeout."""

from __future__ import annotations

import sqlite3
import threading
from datetime import timedelta

import pytest

from controller.sessions.service import activity_resolution
from controller.store.db import WriteQueue


def test_a_get_reads_while_another_connection_holds_the_sqlite_write_lock(ctl, alice_session):
    if ctl.runtime.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's write lock")
    path = ctl.runtime.engine.url.database
    blocker = sqlite3.connect(path, isolation_level=None, timeout=1)
    blocker.execute("BEGIN IMMEDIATE")  # what another writer (process) holding the lock looks like
    try:
        # Without read-only GETs this waits for the 30 s busy timeout and the client gives up first.
        alice_session.conn.timeout = 10
        detail = alice_session.conn.data("GET", "/current-api-session")
        listed = alice_session.conn.data("GET", "/current-identity/authenticators")
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert detail["identityId"] == alice_session.identity.id
    assert [a["id"] for a in listed] == [alice_session.authenticator_id]


def test_the_sliding_expiry_moves_only_by_more_than_a_fraction_of_the_timeout(ctl, alice_session):
    first = alice_session.conn.data("GET", "/current-api-session")
    again = alice_session.conn.data("GET", "/current-api-session")
    assert again["lastActivityAt"] == first["lastActivityAt"]  # read only: nothing written
    ctl.clock.advance(activity_resolution(timedelta(minutes=30)).total_seconds() + 1)
    moved = alice_session.conn.data("GET", "/current-api-session")  # reopened for writing, slid
    assert moved["lastActivityAt"] > first["lastActivityAt"] and moved["expiresAt"] > first["expiresAt"]


def test_the_write_queue_hands_the_lock_over_in_arrival_order():
    queue = WriteQueue()
    assert queue.acquire(1)
    order: list[int] = []
    arrived = []
    threads = []
    for index in range(5):
        def wait(index=index):
            arrived.append(index)
            assert queue.acquire(10)
            order.append(index)
            queue.release()

        thread = threading.Thread(target=wait)
        thread.start()
        threads.append(thread)
        while len(arrived) <= index or len(queue._waiters) <= index:  # each one queued before the next starts
            threading.Event().wait(0.005)
    queue.release()
    for thread in threads:
        thread.join(10)
    assert order == [0, 1, 2, 3, 4]
    assert queue.acquire(0)  # free again


def test_a_waiter_that_times_out_leaves_the_queue():
    queue = WriteQueue()
    assert queue.acquire(1)
    assert queue.acquire(0.05) is False
    queue.release()
    assert queue.acquire(0.05) is True


def test_requests_survive_postgresql_dropping_every_connection(ctl, alice_session):
    """No ping on checkout: a pooled connection that the server dropped is found by the request's first read,
    which is retried once on a fresh connection (and the fault probe reconnects likewise)."""
    if ctl.runtime.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL connections")
    from sqlalchemy import create_engine, text

    for _ in range(3):  # several pooled connections exist after a few requests
        alice_session.conn.data("GET", "/current-api-session")
    killer = create_engine(ctl.runtime.engine.url, isolation_level="AUTOCOMMIT")
    try:
        with killer.connect() as conn:
            killed = conn.execute(text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()")).scalar()
    finally:
        killer.dispose()
    assert killed >= 1
    assert alice_session.conn.data("GET", "/current-api-session")["identityId"] == alice_session.identity.id
    assert [a["id"] for a in alice_session.conn.data("GET", "/current-identity/authenticators")] == [alice_session.authenticator_id]
    assert ctl.admin.data("GET", "/edge/management/v1/identities?limit=1")
