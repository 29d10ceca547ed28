"""Fault rules apply on every replica to the very next request, though no request probes for them (issue 11):
each process acts on the last count of rules it saw, the sim row every request reads first carries the
count, and a request that finds rules it did not expect is decided and replayed from the start. Both
databases, two replicas on one database."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from sqlalchemy import insert

from conftest import error_of, make_csr
from controller.client.errors import ControllerError
from controller.store.db import _alembic_config, make_engine
from controller.store.models import SimFaultRule
from controller.testing.harness import ControllerHarness

CLIENT, MANAGEMENT = "/edge/client/v1", "/edge/management/v1"



def test_a_rule_created_through_one_replica_fires_on_the_other_replicas_next_extend(replicas):
    a, b = replicas
    identity = a.enroll_identity("extender")
    with identity.connect() as on_a:  # log in on A, use the session on B
        token = on_a.login_cert()["token"]
        auth_id = on_a.data("GET", f"{CLIENT}/current-api-session")["authenticatorId"]
    with b.connect() as on_b:
        on_b.session_token = token
        assert on_b.data("GET", f"{CLIENT}/current-api-session")["id"]  # B has just seen no rule
        rule = a.faults.add("*/authenticators/*/extend", method="POST", status=503, code="SERVICE_UNAVAILABLE", times=1)
        csr, _ = make_csr()
        with pytest.raises(ControllerError) as excinfo:
            on_b.data("POST", f"{CLIENT}/current-identity/authenticators/{auth_id}/extend", json_body={"clientCertCsr": csr})
        assert error_of(excinfo) == (503, "SERVICE_UNAVAILABLE")
    [event] = a.journal.events(kind="fault")
    assert event["detail"]["ruleId"] == rule and event["identityId"] == identity.id
    # The rule is spent; nothing of the faulted request was written: no extension is pending.
    assert [r["fired"] for r in a.faults.list()] == [1]
    assert not a.journal.events(kind="extend")


def test_a_rule_created_through_one_replica_fires_on_the_other_replicas_next_list(replicas):
    a, b = replicas
    assert b.admin.data("GET", f"{MANAGEMENT}/identities")  # B has just seen no rule
    a.faults.add("*/identities", method="GET", status=500, code="UNHANDLED")
    with pytest.raises(ControllerError) as excinfo:
        b.admin.data("GET", f"{MANAGEMENT}/identities")
    assert error_of(excinfo) == (500, "UNHANDLED")
    with pytest.raises(ControllerError):  # and on every request after it, as long as the rule lasts
        b.admin.data("GET", f"{MANAGEMENT}/identities")


def test_a_post_let_through_before_its_rule_was_seen_is_replayed_with_its_body_intact(replicas):
    a, b = replicas
    b.admin.data("GET", f"{MANAGEMENT}/identities")  # B has just seen no rule
    rule = a.faults.add("*/identities", method="POST", delay_ms=1, times=1)  # fires, then lets the request pass
    # A body larger than one TLS record, so that it reaches the server in several messages.
    tags = {f"tag{i}": "x" * 1000 for i in range(40)}
    body = {"name": "replayed", "type": "Default", "isAdmin": False, "roleAttributes": ["one", "two"], "tags": tags}
    status, _headers, payload = b.admin.raw("POST", f"{MANAGEMENT}/identities", body=json.dumps(body).encode(),
                                            headers={"Content-Type": "application/json"})
    assert status == 201, payload
    created = a.admin.data("GET", f"{MANAGEMENT}/identities/{json.loads(payload)['data']['id']}")
    assert (created["name"], sorted(created["roleAttributes"]), created["tags"]) == ("replayed", ["one", "two"], tags)
    [event] = a.journal.events(kind="fault")
    assert (event["detail"]["ruleId"], event["detail"]["action"]) == (rule, "delay+pass")
    assert [i["name"] for i in a.admin.data("GET", f"{MANAGEMENT}/identities?filter=name%3D%22replayed%22")] == ["replayed"]


def test_a_request_that_reads_no_database_sees_a_rule_created_through_the_other_replica(replicas):
    a, b = replicas
    with b.connect() as anon_b:
        b.admin.data("GET", f"{MANAGEMENT}/identities")  # B has just seen no rule
        assert anon_b.data("GET", "/version")
        a.faults.add("*/version", method="GET", status=503, code="SERVICE_UNAVAILABLE")
        with pytest.raises(ControllerError) as excinfo:
            anon_b.data("GET", "/version")
        assert error_of(excinfo) == (503, "SERVICE_UNAVAILABLE")
        a.faults.clear()
        assert anon_b.data("GET", "/version")


def test_rules_deleted_through_one_replica_stop_firing_on_the_other(replicas):
    a, b = replicas
    first = a.faults.add("*/identities", method="GET", status=503, code="SERVICE_UNAVAILABLE")
    with pytest.raises(ControllerError):
        b.admin.data("GET", f"{MANAGEMENT}/identities")  # B now knows of a rule
    a.admin.data("DELETE", f"/sim/v1/faults/{first}")
    assert b.admin.data("GET", f"{MANAGEMENT}/identities")
    with b.connect() as anon_b:
        assert anon_b.data("GET", "/version")
    # Deleting all of them too.
    a.faults.add("*/identities", method="GET", status=503, code="SERVICE_UNAVAILABLE")
    a.faults.add("*/version", method="GET", status=503, code="SERVICE_UNAVAILABLE")
    with pytest.raises(ControllerError):
        b.admin.data("GET", f"{MANAGEMENT}/identities")
    a.faults.clear()
    assert b.admin.data("GET", f"{MANAGEMENT}/identities")
    with b.connect() as anon_b:
        assert anon_b.data("GET", "/version")


def test_reset_clears_the_rules_and_a_restored_snapshot_brings_them_back(replicas):
    a, b = replicas
    a.faults.add("*/version", method="GET", status=503, code="SERVICE_UNAVAILABLE")
    a.snapshot("with-a-rule")
    with b.connect() as anon_b:
        with pytest.raises(ControllerError):
            anon_b.data("GET", "/version")
        a.reset()
        assert anon_b.data("GET", "/version")
        assert b.admin.data("GET", f"{MANAGEMENT}/identities") is not None
        assert a.faults.list() == []
        b.admin.data("GET", f"{MANAGEMENT}/identities")  # B has just seen no rule
        a.restore("with-a-rule")
        with pytest.raises(ControllerError) as excinfo:
            anon_b.data("GET", "/version")
        assert error_of(excinfo) == (503, "SERVICE_UNAVAILABLE")
        # Restored and reset through B itself: B's own next request knows at once.
        b.reset()
        assert anon_b.data("GET", "/version")
        b.restore("with-a-rule")
        with pytest.raises(ControllerError):
            anon_b.data("GET", "/version")


def test_rules_of_a_database_migrated_from_before_the_rule_count_keep_firing(isolated_database_url, tmp_path):
    from alembic import command

    url = isolated_database_url or f"sqlite:///{tmp_path / 'data' / 'controller.db'}"
    (tmp_path / "data").mkdir()
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            config = _alembic_config(url)
            config.attributes["connection"] = conn
            command.upgrade(config, "0009_perf")
            conn.execute(insert(SimFaultRule.__table__).values(
                id="old-rule", method="GET", path_pattern="*/version", status=503, code="SERVICE_UNAVAILABLE", delay_ms=0,
                drop_connection=False, drop_message=False, probability=1.0, remaining=None, seed=0, matched=0, fired=0,
                created_at=datetime(2026, 1, 1, tzinfo=timezone.utc)))
    finally:
        engine.dispose()
    with ControllerHarness.start(database_url=isolated_database_url, workdir=tmp_path) as harness, harness.connect() as anon:
        with pytest.raises(ControllerError) as excinfo:
            anon.data("GET", "/version")
        assert error_of(excinfo) == (503, "SERVICE_UNAVAILABLE")
        assert [(r["id"], r["fired"]) for r in harness.faults.list()] == [("old-rule", 1)]
