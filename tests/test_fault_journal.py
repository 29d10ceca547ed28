"""An injected fault that fired leaves a journal entry (issue 7): kind "fault", the rule, the request, what it
did and, when the request carried a session, the identity. Both databases."""

from __future__ import annotations

import http.client
import ssl

import pytest
from conftest import error_of

from controller.client import ControllerError

CLIENT = "/edge/client/v1"


def test_a_status_fault_is_journaled_with_the_identity(ctl, alice_session):
    rule = ctl.faults.add("*/current-api-session", method="GET", status=503, code="SERVICE_UNAVAILABLE", times=1)
    with pytest.raises(ControllerError) as excinfo:
        alice_session.conn.data("GET", f"{CLIENT}/current-api-session")
    assert error_of(excinfo) == (503, "SERVICE_UNAVAILABLE")
    [event] = ctl.journal.events(kind="fault")
    assert event["outcome"] == "injected"
    assert event["identityId"] == alice_session.identity.id
    assert event["errorCode"] == "SERVICE_UNAVAILABLE"
    assert event["detail"] == {"ruleId": rule, "method": "GET", "path": f"{CLIENT}/current-api-session", "action": "status",
                               "status": 503, "delayMs": 0, "dropConnection": False}
    # the rule is spent: the next request passes and journals nothing more
    alice_session.conn.data("GET", f"{CLIENT}/current-api-session")
    assert len(ctl.journal.events(kind="fault")) == 1
    assert ctl.journal.events(identity_id=alice_session.identity.id, kind="fault") == [event]


def test_a_dropped_connection_is_journaled(ctl, alice_session):
    rule = ctl.faults.add("*/current-api-session", method="GET", drop_connection=True, delay_ms=10, times=1)
    raw = http.client.HTTPSConnection(alice_session.conn.host, alice_session.conn.port, context=alice_session.conn.context, timeout=10)
    try:
        with pytest.raises((http.client.RemoteDisconnected, ConnectionError, ssl.SSLError, http.client.IncompleteRead)):
            raw.request("GET", f"{CLIENT}/current-api-session", headers={"zt-session": alice_session.session["token"]})
            raw.getresponse().read()
    finally:
        raw.close()
    [event] = ctl.journal.wait_for(kind="fault", timeout=5)
    assert (event["detail"]["ruleId"], event["detail"]["action"], event["errorCode"]) == (rule, "delay+drop", None)
    assert event["identityId"] == alice_session.identity.id


def test_an_anonymous_delay_is_journaled_and_a_fault_that_did_not_fire_is_not(ctl, anon):
    delay = ctl.faults.add("*/version", method="GET", delay_ms=5, times=1)
    never = ctl.faults.add("*/services", status=500, probability=0.0)
    anon.data("GET", f"{CLIENT}/version")
    with pytest.raises(ControllerError):
        anon.data("GET", f"{CLIENT}/services")  # no session: 401 from the API, the fault rule matched but did not fire
    [event] = ctl.journal.events(kind="fault")
    assert event["identityId"] is None
    assert (event["detail"]["ruleId"], event["detail"]["action"], event["detail"]["path"]) == (delay, "delay+pass", f"{CLIENT}/version")
    assert [r["fired"] for r in ctl.faults.list() if r["id"] == never] == [0]
