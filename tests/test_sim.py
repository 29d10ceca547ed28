"""The simulation API (/sim/v1) through real TLS, on SQLite and PostgreSQL: the movable clock and what it
drives (certificate, enrollment and session expiry), fault rules, the event journal, reset and snapshots."""

from __future__ import annotations

import http.client
import json
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from conftest import LoggedIn, _postgres_database, error_of, make_csr
from controller.client.errors import ControllerError
from controller.client.http import Connection
from controller.testing.harness import ControllerHarness, EnrolledIdentity

CLIENT = "/edge/client/v1"
MGMT = "/edge/management/v1"
SIM = "/sim/v1"


# --- helpers ----------------------------------------------------------------------------------------------

def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def wall() -> datetime:
    return datetime.now(timezone.utc)


def leaf(chain_pem: str) -> x509.Certificate:
    return x509.load_pem_x509_certificates(chain_pem.encode())[0]


def sha1(chain_pem: str) -> str:
    return leaf(chain_pem).fingerprint(hashes.SHA1()).hex()


def cert_login(ctl: ControllerHarness, cert_pem: str, key_pem: str) -> dict:
    """Log in by certificate on a fresh connection; raises ControllerError on refusal."""
    with ctl.connect(cert_pem=cert_pem, key_pem=key_pem) as conn:
        return conn.login_cert()


def login_identity(identity: EnrolledIdentity) -> Connection:
    conn = identity.connect()
    conn.login_cert()
    return conn


def extend_url(authenticator_id: str, step: str = "extend") -> str:
    return f"{CLIENT}/current-identity/authenticators/{authenticator_id}/{step}"


def extend(session: LoggedIn) -> dict:
    """extend with a CSR from the identity's own key; returns {clientCert, ca}."""
    key = serialization.load_pem_private_key(session.identity.identity.key.encode(), None)
    csr, _ = make_csr(key)
    return session.conn.data("POST", extend_url(session.authenticator_id), json_body={"clientCertCsr": csr})


def verify(session: LoggedIn, certs: dict) -> None:
    session.conn.data("POST", extend_url(session.authenticator_id, "extend-verify"), json_body={"clientCert": certs["clientCert"]})


def last_seq(ctl: ControllerHarness) -> int:
    events = ctl.journal.events(limit=1000)
    return events[-1]["seq"] if events else 0


@pytest.fixture
def start_controller(database_url: str | None, worker_id: str) -> Iterator[Callable[..., ControllerHarness]]:
    """Start another controller with other settings, on the current backend (its own PostgreSQL database, so
    it never shares state with the session's controller)."""
    started: list[ControllerHarness] = []
    databases: list[Iterator[str]] = []

    def start(**settings: object) -> ControllerHarness:
        url = None
        if database_url is not None:
            database = _postgres_database(f"{worker_id}_extra")
            url = next(database)
            databases.append(database)
        harness = ControllerHarness.start(database_url=url, **settings)
        started.append(harness)
        return harness

    yield start
    for harness in started:
        harness.stop()
    for database in databases:
        database.close()  # drops it


# --- clock ------------------------------------------------------------------------------------------------

def test_clock_starts_on_the_wall_clock(ctl):
    data = ctl.admin.data("GET", f"{SIM}/clock")
    assert set(data) == {"now", "offsetSeconds", "frozen"}
    assert data["offsetSeconds"] == 0
    assert data["frozen"] is False
    assert abs(parse_time(data["now"]) - wall()) < timedelta(minutes=1)


@pytest.mark.parametrize(("by", "seconds"), [("8d", 8 * 86400), (90, 90), ("90", 90), ("1h30m", 5400), ("-2h", -7200), (-45, -45)])
def test_clock_advance(ctl, by, seconds):
    data = ctl.admin.data("POST", f"{SIM}/clock/advance", json_body={"by": by})
    assert data["offsetSeconds"] == seconds
    assert data["frozen"] is False
    assert abs(parse_time(data["now"]) - wall() - timedelta(seconds=seconds)) < timedelta(minutes=1)
    assert ctl.admin.data("GET", f"{SIM}/clock")["offsetSeconds"] == seconds


def test_clock_advances_add_up(ctl):
    ctl.clock.advance("8d")
    ctl.clock.advance(90)
    assert ctl.clock.advance("-1h")["offsetSeconds"] == 8 * 86400 + 90 - 3600


def test_clock_set_to_an_rfc3339_time(ctl):
    target = datetime(2031, 2, 3, 4, 5, 6, tzinfo=timezone.utc)
    data = ctl.admin.data("PUT", f"{SIM}/clock", json_body={"now": "2031-02-03T04:05:06Z"})
    assert data["frozen"] is False
    assert target <= parse_time(data["now"]) < target + timedelta(minutes=1)
    assert target <= ctl.clock.now() < target + timedelta(minutes=1)
    # with an offset too
    ctl.admin.data("PUT", f"{SIM}/clock", json_body={"now": "2031-02-03T06:05:06+02:00"})
    assert target <= ctl.clock.now() < target + timedelta(minutes=1)


def test_clock_set_without_a_zone_is_refused(ctl):
    with pytest.raises(ControllerError) as excinfo:
        ctl.admin.data("PUT", f"{SIM}/clock", json_body={"now": "2031-02-03T04:05:06"})
    assert error_of(excinfo) == (400, "COULD_NOT_VALIDATE")


def test_clock_freeze_and_unfreeze(ctl):
    frozen = ctl.clock.freeze()
    assert frozen["frozen"] is True
    first = ctl.admin.data("GET", f"{SIM}/clock")
    time.sleep(0.05)
    second = ctl.admin.data("GET", f"{SIM}/clock")
    assert first["now"] == second["now"] == frozen["now"]
    assert second["frozen"] is True

    # advancing a frozen clock moves the frozen moment exactly
    moved = ctl.clock.advance("1d")
    assert parse_time(moved["now"]) == parse_time(frozen["now"]) + timedelta(days=1)
    assert moved["frozen"] is True

    # unfreezing continues from the frozen moment (not from the wall clock plus the old offset)
    resumed = ctl.clock.unfreeze()
    assert resumed["frozen"] is False
    stood_at = parse_time(moved["now"])
    assert stood_at <= parse_time(resumed["now"]) < stood_at + timedelta(minutes=1)
    time.sleep(0.05)
    assert parse_time(ctl.admin.data("GET", f"{SIM}/clock")["now"]) > parse_time(resumed["now"])


def test_clock_freeze_and_set_through_put(ctl):
    data = ctl.admin.data("PUT", f"{SIM}/clock", json_body={"now": "2030-01-01T00:00:00Z", "frozen": True})
    assert data == {"now": data["now"], "offsetSeconds": data["offsetSeconds"], "frozen": True}
    assert parse_time(data["now"]) == datetime(2030, 1, 1, tzinfo=timezone.utc)
    assert ctl.clock.now() == datetime(2030, 1, 1, tzinfo=timezone.utc)
    assert ctl.admin.data("PUT", f"{SIM}/clock", json_body={"frozen": False})["frozen"] is False


def test_clock_reset(ctl):
    ctl.clock.advance("3d")
    ctl.clock.freeze()
    data = ctl.admin.data("POST", f"{SIM}/clock/reset")
    assert data["offsetSeconds"] == 0
    assert data["frozen"] is False
    assert abs(parse_time(data["now"]) - wall()) < timedelta(minutes=1)


@pytest.mark.parametrize("by", ["soon", "8x", "", "1d-2h"])
def test_clock_advance_bad_duration(ctl, by):
    with pytest.raises(ControllerError) as excinfo:
        ctl.admin.data("POST", f"{SIM}/clock/advance", json_body={"by": by})
    assert error_of(excinfo) == (400, "COULD_NOT_VALIDATE")
    assert ctl.admin.data("GET", f"{SIM}/clock")["offsetSeconds"] == 0


@pytest.mark.parametrize(("method", "path", "body"), [
    ("GET", "/clock", None), ("POST", "/clock/advance", {"by": "1d"}), ("PUT", "/clock", {"frozen": True}),
    ("GET", "/faults", None), ("GET", "/events", None), ("POST", "/reset", None),
])
def test_sim_api_refuses_a_non_admin_session(ctl, alice_session, method, path, body):
    with pytest.raises(ControllerError) as excinfo:
        alice_session.conn.data(method, f"{SIM}{path}", json_body=body)
    assert error_of(excinfo) == (401, "UNAUTHORIZED")
    assert ctl.admin.data("GET", f"{SIM}/clock")["offsetSeconds"] == 0


@pytest.mark.parametrize(("method", "path"), [("GET", "/clock"), ("POST", "/clock/freeze"), ("GET", "/events"), ("POST", "/reset")])
def test_sim_api_refuses_no_session(ctl, anon, method, path):
    with pytest.raises(ControllerError) as excinfo:
        anon.data(method, f"{SIM}{path}")
    assert error_of(excinfo) == (401, "UNAUTHORIZED")
    assert ctl.admin.data("GET", f"{SIM}/clock")["frozen"] is False


def test_moving_the_clock_keeps_the_admin_session_that_moved_it(ctl):
    with ctl.connect() as admin:  # a plain connection: one login, never renewed
        session_id = admin.login_password(ctl.admin_username, ctl.admin_password)["id"]
        admin.data("POST", f"{SIM}/clock/advance", json_body={"by": "8d"})
        assert admin.data("POST", f"{SIM}/clock/advance", json_body={"by": "1y"})["offsetSeconds"] == 8 * 86400 + 365 * 86400
        admin.data("PUT", f"{SIM}/clock", json_body={"now": "2020-01-01T00:00:00Z"})
        assert admin.data("GET", f"{SIM}/clock")["now"].startswith("2020-01-01T")
        admin.data("POST", f"{SIM}/reset")
        assert admin.data("GET", f"{CLIENT}/current-api-session")["id"] == session_id


def test_moving_the_clock_ends_other_admin_sessions(ctl):
    with ctl.connect() as other:
        other.login_password(ctl.admin_username, ctl.admin_password)
        ctl.clock.advance("31m")
        with pytest.raises(ControllerError) as excinfo:
            other.data("GET", f"{SIM}/clock")
        assert error_of(excinfo) == (401, "UNAUTHORIZED")


# --- what the clock drives --------------------------------------------------------------------------------

def test_ten_second_certificate_expires_and_the_default_policy_still_logs_it_in(start_controller):
    ctl = start_controller(identity_cert_lifetime=10)
    alice = ctl.enroll_identity("alice")
    cert = leaf(alice.identity.cert)
    assert cert.not_valid_after_utc - ctl.clock.now() <= timedelta(seconds=10)

    ctl.clock.advance("30s")
    assert ctl.clock.now() > cert.not_valid_after_utc
    seq = last_seq(ctl)
    session = cert_login(ctl, alice.identity.cert, alice.identity.key)
    assert session["identity"]["id"] == alice.id

    logins = ctl.journal.events(kind="authenticate", after_seq=seq)
    assert [(e["outcome"], e["identityId"], e["oldFingerprint"]) for e in logins] == [("success", alice.id, sha1(alice.identity.cert))]
    assert parse_time(logins[0]["at"]) > cert.not_valid_after_utc


def test_ten_second_certificate_expires_when_expired_certs_are_refused(start_controller):
    ctl = start_controller(identity_cert_lifetime=10, allow_expired_certs=False)
    alice = ctl.enroll_identity("alice")
    assert cert_login(ctl, alice.identity.cert, alice.identity.key)["identity"]["id"] == alice.id

    ctl.clock.advance("30s")
    with pytest.raises(ControllerError) as excinfo:
        cert_login(ctl, alice.identity.cert, alice.identity.key)
    assert error_of(excinfo) == (401, "INVALID_AUTH")
    failures = ctl.journal.events(kind="authenticate", outcome="failure")
    assert [(e["errorCode"], e["oldFingerprint"]) for e in failures] == [("INVALID_AUTH", sha1(alice.identity.cert))]

    ctl.clock.advance("-30s")
    assert cert_login(ctl, alice.identity.cert, alice.identity.key)["identity"]["id"] == alice.id


def test_enrollment_expires_on_the_moved_clock(ctl, anon):
    def token_of(identity_id: str) -> str:
        return ctl.admin.data("GET", f"{MGMT}/identities/{identity_id}")["enrollment"]["ott"]["token"]

    early_id, _ = ctl.create_identity("early")
    late_id, _ = ctl.create_identity("late")
    early_token, late_token = token_of(early_id), token_of(late_id)

    ctl.clock.advance("179m")
    csr, _ = make_csr(common_name="early")
    enrolled = anon.data("POST", f"{CLIENT}/enroll?method=ott&token={early_token}", body=csr.encode(), content_type="text/plain")
    assert "BEGIN CERTIFICATE" in enrolled["cert"]

    ctl.clock.advance("2m")  # 181 minutes after creation: past the default 180
    csr, _ = make_csr(common_name="late")
    with pytest.raises(ControllerError) as excinfo:
        anon.data("POST", f"{CLIENT}/enroll?method=ott&token={late_token}", body=csr.encode(), content_type="text/plain")
    assert error_of(excinfo) == (400, "ENROLLMENT_EXPIRED")


def test_api_session_expires_on_the_moved_clock(ctl, alice_session):
    ctl.clock.advance("31m")
    with pytest.raises(ControllerError) as excinfo:
        alice_session.conn.data("GET", f"{CLIENT}/current-api-session")
    assert error_of(excinfo) == (401, "UNAUTHORIZED")


def test_api_session_expiry_slides_with_each_request(ctl, alice_session):
    ctl.clock.advance("20m")
    assert alice_session.conn.data("GET", f"{CLIENT}/current-api-session")["id"] == alice_session.session["id"]
    ctl.clock.advance("20m")  # 40 minutes after login, 20 after the last request
    assert alice_session.conn.data("GET", f"{CLIENT}/current-api-session")["id"] == alice_session.session["id"]
    ctl.clock.advance("31m")
    with pytest.raises(ControllerError) as excinfo:
        alice_session.conn.data("GET", f"{CLIENT}/current-api-session")
    assert error_of(excinfo) == (401, "UNAUTHORIZED")


# --- faults -----------------------------------------------------------------------------------------------

def test_extend_fails_exactly_n_times_then_succeeds(ctl, alice_session):
    rule_id = ctl.faults.add("*/current-identity/authenticators/*/extend", status=503, code="SERVICE_UNAVAILABLE", times=2)
    key = serialization.load_pem_private_key(alice_session.identity.identity.key.encode(), None)
    csr, _ = make_csr(key)
    body = json.dumps({"clientCertCsr": csr}).encode()
    headers = {"Content-Type": "application/json"}
    for _ in range(2):
        status, response_headers, payload = alice_session.conn.raw("POST", extend_url(alice_session.authenticator_id), body=body, headers=headers)
        assert status == 503
        assert response_headers.get_content_type() == "application/json"
        envelope = json.loads(payload)
        assert envelope["error"]["code"] == "SERVICE_UNAVAILABLE"
        assert envelope["error"]["requestId"]
        assert envelope["error"]["message"]
        assert "meta" in envelope

    certs = extend(alice_session)
    verify(alice_session, certs)
    assert cert_login(ctl, certs["clientCert"], alice_session.identity.identity.key)["identity"]["id"] == alice_session.identity.id

    [rule] = ctl.faults.list()
    assert rule["id"] == rule_id
    assert (rule["matched"], rule["fired"], rule["remaining"]) == (3, 2, 0)
    assert (rule["status"], rule["code"], rule["path"]) == (503, "SERVICE_UNAVAILABLE", "*/current-identity/authenticators/*/extend")


def test_fault_list_and_delete(ctl):
    first = ctl.faults.add("/version", status=500, code="A")
    second = ctl.faults.add("*/services", method="get", status=502, code="B", times=3, probability=0.25, seed=7)
    rules = ctl.faults.list()
    assert [r["id"] for r in rules] == [first, second]
    assert rules[1] | {"createdAt": None} == {
        "id": second, "method": "GET", "path": "*/services", "identityId": None, "status": 502, "code": "B", "message": None,
        "delayMs": 0, "dropConnection": False, "dropMessage": False, "probability": 0.25, "remaining": 3, "seed": 7, "matched": 0, "fired": 0,
        "createdAt": None,
    }
    assert ctl.admin.data("GET", f"{SIM}/faults/{second}")["id"] == second
    ctl.admin.data("DELETE", f"{SIM}/faults/{first}")
    assert [r["id"] for r in ctl.faults.list()] == [second]
    with pytest.raises(ControllerError) as excinfo:
        ctl.admin.data("DELETE", f"{SIM}/faults/{first}")
    assert error_of(excinfo) == (404, "NOT_FOUND")
    ctl.faults.clear()
    assert ctl.faults.list() == []


def test_fault_method_must_match(ctl, anon):
    ctl.faults.add("*/version", method="POST", status=500, code="BOOM")
    assert anon.data("GET", f"{CLIENT}/version")["apiVersions"]
    assert ctl.faults.list()[0]["matched"] == 0


def test_delay_rule_still_answers(ctl, alice_session):
    ctl.faults.add("*/current-api-session", method="GET", delay_ms=50)
    assert alice_session.conn.data("GET", f"{CLIENT}/current-api-session")["id"] == alice_session.session["id"]
    [rule] = ctl.faults.list()
    assert (rule["matched"], rule["fired"], rule["delayMs"]) == (1, 1, 50)


def test_delay_with_status(ctl, anon):
    ctl.faults.add("*/version", delay_ms=20, status=504, code="GATEWAY_TIMEOUT")
    with pytest.raises(ControllerError) as excinfo:
        anon.data("GET", "/version")
    assert error_of(excinfo) == (504, "GATEWAY_TIMEOUT")


def test_fault_without_code_uses_a_simulated_fault_code(ctl, anon):
    ctl.faults.add("*/version", status=500)
    with pytest.raises(ControllerError) as excinfo:
        anon.data("GET", "/version")
    assert error_of(excinfo) == (500, "SIMULATED_FAULT")


def test_drop_connection_rule(ctl, alice_session):
    ctl.faults.add("*/current-api-session", method="GET", drop_connection=True, times=1)
    host, port = alice_session.conn.host, alice_session.conn.port
    raw = http.client.HTTPSConnection(host, port, context=alice_session.conn.context, timeout=10)
    try:
        with pytest.raises((http.client.RemoteDisconnected, ConnectionError, ssl.SSLError, http.client.IncompleteRead)):
            raw.request("GET", f"{CLIENT}/current-api-session", headers={"zt-session": alice_session.session["token"]})
            raw.getresponse().read()
    finally:
        raw.close()
    # a new connection works afterwards
    fresh = http.client.HTTPSConnection(host, port, context=alice_session.conn.context, timeout=10)
    try:
        fresh.request("GET", f"{CLIENT}/current-api-session", headers={"zt-session": alice_session.session["token"]})
        response = fresh.getresponse()
        assert response.status == 200
        assert json.loads(response.read())["data"]["id"] == alice_session.session["id"]
    finally:
        fresh.close()
    [rule] = ctl.faults.list()
    assert (rule["fired"], rule["remaining"]) == (1, 0)


def _statuses(ctl: ControllerHarness, anon: Connection, seed: int, n: int = 24) -> list[int]:
    ctl.faults.add(f"{CLIENT}/version", status=503, code="FLAKY", probability=0.5, seed=seed)
    return [anon.raw("GET", f"{CLIENT}/version")[0] for _ in range(n)]


def test_probability_is_reproducible_with_a_seed(ctl, anon):
    first = _statuses(ctl, anon, seed=42)
    assert set(first) == {200, 503}
    [rule] = ctl.faults.list()
    assert (rule["matched"], rule["fired"]) == (len(first), first.count(503))

    ctl.reset()
    assert ctl.faults.list() == []
    assert _statuses(ctl, anon, seed=42) == first

    ctl.reset()
    assert _statuses(ctl, anon, seed=43) != first


def test_identity_scoped_rule(ctl, alice_session, bob):
    bob_conn = login_identity(bob)
    try:
        ctl.faults.add("*/current-api-session", method="GET", status=503, code="ONLY_ALICE", identity_id=alice_session.identity.id)
        with pytest.raises(ControllerError) as excinfo:
            alice_session.conn.data("GET", f"{CLIENT}/current-api-session")
        assert error_of(excinfo) == (503, "ONLY_ALICE")
        assert bob_conn.data("GET", f"{CLIENT}/current-api-session")["identity"]["id"] == bob.id
        assert ctl.admin.data("GET", f"{CLIENT}/current-api-session")["identity"]["name"] != "alice"
        [rule] = ctl.faults.list()
        assert rule["fired"] == 1
        assert rule["identityId"] == alice_session.identity.id
    finally:
        bob_conn.close()


def test_sim_paths_are_never_faulted(ctl, anon):
    ctl.faults.add("*", status=500, code="EVERYTHING")
    ctl.faults.add(f"{SIM}/*", drop_connection=True)
    with pytest.raises(ControllerError) as excinfo:
        anon.data("GET", "/version")
    assert error_of(excinfo) == (500, "EVERYTHING")
    assert ctl.admin.data("GET", f"{SIM}/clock")["frozen"] is False
    assert ctl.clock.advance("1s")["offsetSeconds"] == 1
    assert len(ctl.faults.list()) == 2
    ctl.faults.clear()
    assert anon.data("GET", "/version")["apiVersions"]


@pytest.mark.parametrize("body", [
    {"path": "*"},  # no status, delay or drop
    {"path": "*", "status": 503, "delayMs": -1},
    {"path": "*", "status": 200},
    {"path": "*", "status": 503, "probability": 1.5},
    {"path": "*", "status": 503, "times": 0},
    {"status": 503},
    {"path": "*", "status": 503, "bogus": True},
])
def test_invalid_fault_rule(ctl, body):
    with pytest.raises(ControllerError) as excinfo:
        ctl.admin.data("POST", f"{SIM}/faults", json_body=body)
    assert error_of(excinfo) == (400, "COULD_NOT_VALIDATE")
    assert ctl.faults.list() == []


# --- journal ----------------------------------------------------------------------------------------------

def test_journal_records_the_extend_and_verify_pair(ctl, alice_session):
    old_fp = sha1(alice_session.identity.identity.cert)
    certs = extend(alice_session)
    new_fp = sha1(certs["clientCert"])
    verify(alice_session, certs)
    assert old_fp != new_fp
    alice_id, authenticator_id = alice_session.identity.id, alice_session.authenticator_id

    [extended] = ctl.journal.events(kind="extend", identity_id=alice_id)
    [verified] = ctl.journal.events(kind="extend-verify", identity_id=alice_id)
    for event in (extended, verified):
        assert (event["outcome"], event["identityId"], event["authenticatorId"]) == ("success", alice_id, authenticator_id)
        assert (event["oldFingerprint"], event["newFingerprint"]) == (old_fp, new_fp)
        assert event["errorCode"] is None
    assert verified["seq"] > extended["seq"]


def test_journal_records_enroll_and_login(ctl):
    seq = last_seq(ctl)
    alice = ctl.enroll_identity("alice")
    conn = login_identity(alice)
    conn.close()
    events = ctl.journal.events(after_seq=seq, identity_id=alice.id)
    assert [(e["kind"], e["outcome"]) for e in events] == [("enroll", "success"), ("authenticate", "success")]
    assert events[1]["oldFingerprint"] == sha1(alice.identity.cert)
    assert parse_time(events[0]["at"]) <= parse_time(events[1]["at"])


def test_journal_records_failures_with_their_error_code(ctl, alice_session, anon):
    with pytest.raises(ControllerError) as excinfo:
        verify(alice_session, {"clientCert": alice_session.identity.identity.cert})  # nothing pending
    assert error_of(excinfo) == (409, "CAN_NOT_UPDATE_AUTHENTICATOR")
    [failure] = ctl.journal.events(kind="extend-verify")
    assert (failure["outcome"], failure["errorCode"], failure["identityId"]) == ("failure", "CAN_NOT_UPDATE_AUTHENTICATOR", alice_session.identity.id)
    assert failure["authenticatorId"] == alice_session.authenticator_id
    assert failure["newFingerprint"] is None

    with pytest.raises(ControllerError) as excinfo:
        anon.login_password("admin", "not-the-password")
    assert error_of(excinfo) == (401, "INVALID_AUTH")
    [login_failure] = ctl.journal.events(kind="authenticate", outcome="failure")
    assert login_failure["errorCode"] == "INVALID_AUTH"


def test_journal_filters(ctl):
    alice = ctl.enroll_identity("alice")
    bob = ctl.enroll_identity("bob")
    enrolls = ctl.journal.events(kind="enroll")
    assert [e["identityId"] for e in enrolls] == [alice.id, bob.id]
    assert all(e["kind"] == "enroll" for e in enrolls)

    conn = login_identity(alice)
    conn.close()
    mine = ctl.journal.events(identity_id=alice.id)
    assert [e["kind"] for e in mine] == ["enroll", "authenticate"]
    assert ctl.journal.events(identity_id=bob.id, kind="authenticate") == []

    after = ctl.journal.events(after_seq=enrolls[0]["seq"])
    assert enrolls[0]["seq"] not in [e["seq"] for e in after]
    assert [e["seq"] for e in after] == sorted(e["seq"] for e in after)
    assert {e["identityId"] for e in after} == {alice.id, bob.id}
    assert ctl.journal.events(kind="enroll", after_seq=enrolls[1]["seq"]) == []
    assert ctl.journal.events(limit=1) == ctl.journal.events()[:1]


def test_journal_rejects_a_bad_filter(ctl):
    with pytest.raises(ControllerError) as excinfo:
        ctl.admin.data("GET", f"{SIM}/events?afterSeq=-1")
    assert error_of(excinfo) == (400, "COULD_NOT_VALIDATE")


def test_wait_returns_when_an_event_arrives(ctl):
    seq = last_seq(ctl)
    enrolled: list[EnrolledIdentity] = []
    errors: list[BaseException] = []

    def enroll_later() -> None:
        try:
            time.sleep(0.3)
            enrolled.append(ctl.enroll_identity("latecomer"))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    waiter = ctl.connect()
    waiter.login_password(ctl.admin_username, ctl.admin_password)
    thread = threading.Thread(target=enroll_later)
    thread.start()
    try:
        events = waiter.data("GET", f"{SIM}/events/wait?kind=enroll&afterSeq={seq}&timeout=30")
    finally:
        thread.join()
        waiter.close()
    assert errors == []
    assert len(events) == 1
    assert events[0]["kind"] == "enroll"
    assert events[0]["identityId"] == enrolled[0].id


def test_wait_returns_an_empty_list_after_its_timeout(ctl):
    seq = last_seq(ctl)
    assert ctl.admin.data("GET", f"{SIM}/events/wait?afterSeq={seq}&timeout=0.2") == []
    with pytest.raises(TimeoutError):
        ctl.journal.wait_for(kind="extend", timeout=0.2)


def test_wait_returns_at_once_for_an_existing_event(ctl, alice):
    [event] = ctl.journal.wait_for(kind="enroll", identity_id=alice.id, timeout=30)
    assert event["identityId"] == alice.id


# --- reset and snapshots ----------------------------------------------------------------------------------

def _state(ctl: ControllerHarness) -> dict:
    """What a test could observe of the network's state, through the management and sim APIs."""
    def names(path: str) -> list:
        return sorted(item["name"] for item in ctl.admin.data("GET", f"{MGMT}/{path}?limit=500"))

    authenticators = ctl.admin.data("GET", f"{MGMT}/authenticators?limit=500")
    return {
        "identities": sorted((i["id"], i["name"]) for i in ctl.admin.data("GET", f"{MGMT}/identities?limit=500")),
        "authenticators": sorted((a["id"], a["identityId"], a["method"], a.get("fingerprint")) for a in authenticators),
        "enrollments": sorted(e["id"] for e in ctl.admin.data("GET", f"{MGMT}/enrollments?limit=500")),
        "services": names("services"),
        "faults": ctl.faults.list(),
        "offset": ctl.admin.data("GET", f"{SIM}/clock")["offsetSeconds"],
    }


def _dirty(ctl: ControllerHarness) -> EnrolledIdentity:
    """Change every kind of state; return the enrolled identity whose certificate was extended."""
    carol = ctl.enroll_identity("carol")
    ctl.create_identity("pending")
    ctl.admin.data("POST", f"{MGMT}/services", json_body={"name": "svc-dirty", "encryptionRequired": True})
    ctl.faults.add("/nowhere", status=500, code="NOPE")
    conn = login_identity(carol)
    try:
        session = conn.data("GET", f"{CLIENT}/current-api-session")
        certs = extend(LoggedIn(carol, conn, session))
        verify(LoggedIn(carol, conn, session), certs)
    finally:
        conn.close()
    ctl.clock.advance("2d")
    return carol


def test_reset_leaves_no_trace(ctl):
    clean = _state(ctl)
    carol = _dirty(ctl)
    assert _state(ctl) != clean
    ctl.clock.freeze()

    ctl.reset()
    assert ctl.journal.events() == []
    assert _state(ctl) == clean
    assert len(clean["identities"]) == 1  # the default admin only
    assert ctl.admin.data("GET", f"{SIM}/clock")["frozen"] is False
    with pytest.raises(ControllerError) as excinfo:
        cert_login(ctl, carol.identity.cert, carol.identity.key)
    assert error_of(excinfo) == (401, "INVALID_AUTH")
    # the admin session used by the test still works, and so does a fresh admin login
    assert ctl.admin.data("GET", f"{CLIENT}/current-api-session")["identity"]["id"]
    with ctl.connect() as conn:
        assert conn.login_password(ctl.admin_username, ctl.admin_password)["identity"]["id"]


def test_reset_ends_other_sessions(ctl, alice_session):
    ctl.reset()
    with pytest.raises(ControllerError) as excinfo:
        alice_session.conn.data("GET", f"{CLIENT}/current-api-session")
    assert error_of(excinfo) == (401, "UNAUTHORIZED")


def test_snapshot_and_restore(ctl, alice_session):
    alice = alice_session.identity
    ctl.clock.advance("10m")  # less than the session timeout: alice's session stays alive
    ctl.faults.add("/kept", status=500, code="KEPT")
    ctl.snapshot("base")
    base = _state(ctl)
    assert base["offset"] == 600

    # change things: new identities, an extended certificate, the clock, faults, services
    certs = extend(alice_session)
    verify(alice_session, certs)
    _dirty(ctl)
    with pytest.raises(ControllerError) as excinfo:
        cert_login(ctl, alice.identity.cert, alice.identity.key)
    assert error_of(excinfo) == (401, "INVALID_AUTH")
    assert _state(ctl) != base

    ctl.restore("base")
    assert _state(ctl) == base
    assert ctl.journal.events() == []  # the journal is a log, not state: restoring clears it
    # the pre-extension certificate logs in again, the extended one no longer
    assert cert_login(ctl, alice.identity.cert, alice.identity.key)["identity"]["id"] == alice.id
    with pytest.raises(ControllerError) as excinfo:
        cert_login(ctl, certs["clientCert"], alice.identity.key)
    assert error_of(excinfo) == (401, "INVALID_AUTH")
    # alice's API session from before the snapshot is back too; the admin's never went away
    assert alice_session.conn.data("GET", f"{CLIENT}/current-api-session")["id"] == alice_session.session["id"]
    assert ctl.admin.data("GET", f"{SIM}/clock")["offsetSeconds"] == 600

    # a snapshot can be restored more than once
    _dirty(ctl)
    ctl.restore("base")
    assert _state(ctl) == base
    assert "base" in [s["name"] for s in ctl.admin.data("GET", f"{SIM}/snapshots")]


def test_reset_keeps_snapshots(ctl, alice):
    """A suite can snapshot once in its setup and restore after every test's reset."""
    ctl.snapshot("with-alice")
    ctl.reset()
    assert [i["name"] for i in ctl.admin.data("GET", f"{MGMT}/identities") if i["id"] == alice.id] == []
    ctl.restore("with-alice")
    assert cert_login(ctl, alice.identity.cert, alice.identity.key)["identity"]["id"] == alice.id
    ctl.admin.data("DELETE", f"{SIM}/snapshots/with-alice")
    with pytest.raises(ControllerError) as excinfo:
        ctl.restore("with-alice")
    assert error_of(excinfo) == (404, "NOT_FOUND")


def test_restore_an_unknown_snapshot(ctl):
    with pytest.raises(ControllerError) as excinfo:
        ctl.restore("no-such-snapshot")
    assert error_of(excinfo) == (404, "NOT_FOUND")


def test_snapshot_name_is_required(ctl):
    with pytest.raises(ControllerError) as excinfo:
        ctl.admin.data("POST", f"{SIM}/snapshots", json_body={"name": ""})
    assert error_of(excinfo) == (400, "COULD_NOT_VALIDATE")


def test_reset_by_an_admin_other_than_the_default_one_ends_its_own_session(ctl):
    """Reset keeps only the default admin: another admin that asks for it removes its own identity and API
    session in the same transaction, and gets its answer (not a 500 from writing its session's expiry)."""
    other = ctl.enroll_identity("second-admin", admin=True)
    with other.connect() as conn:
        conn.login_cert()
        conn.data("POST", "/sim/v1/reset")
        status, _headers, _body = conn.raw("GET", "/edge/client/v1/current-identity")
    assert status == 401
    names = [i["name"] for i in ctl.admin.data("GET", "/edge/management/v1/identities?limit=100")]
    assert names == ["Default Admin"]
