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
