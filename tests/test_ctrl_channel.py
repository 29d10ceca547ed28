"""The control-channel listener, byte by byte, with the frame-level client of tests/ctrlwire.py (written from
control-channel.md §12, apart from the controller's and the agent's code). Real mTLS, SQLite and PostgreSQL."""

from __future__ import annotations

import struct
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from controller.testing.harness import ControllerHarness, wait_until
from ctrlwire import Wire, pack, pb_fields, pb_string

MINUS_ONE = b"\xff\xff\xff\xff"


@pytest.fixture
def router(ctl):
    return ctl.make_router("wire-router", run=False)


def wire_for(ctl, files, **kw) -> Wire:
    return Wire(ctl.ctrl_address, cert=str(files.cert_path), key=str(files.key_path), ca=str(files.ca_path), **kw)


def connected(ctl, router) -> Wire:
    w = wire_for(ctl, router.files)
    w.hello(router.id)
    result = w.recv()
    assert result.ct == 2 and result.headers[2] == b"\x01", result
    return w


def csr_pem(key, cn: str, *, sans=("localhost",)) -> bytes:
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "OpenZiti"), x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
    builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(s) for s in sans]), critical=False)
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def extend_request(router, cn: str | None = None) -> bytes:
    client_key = serialization.load_pem_private_key(router.files.key_path.read_bytes(), None)
    server_key = serialization.load_pem_private_key(router.files.server_key_path.read_bytes(), None)
    cn = cn or router.id
    return pb_string(1, csr_pem(client_key, cn)) + pb_string(2, csr_pem(server_key, cn)) + b"\x18\x01"


def refusals(ctl, router_id):
    return [e for e in ctl.journal.events(kind="router-refused") if e["detail"]["edgeRouterId"] == router_id]


def test_hello_result_is_the_real_frame(ctl, router):
    w = wire_for(ctl, router.files)
    assert w.sock.selected_alpn_protocol() == "ziti-ctrl"
    w.hello(router.id)
    result = w.recv()
    assert result.raw[:4] == bytes([3, 6, 9, 12])
    assert result.raw[4:8] == struct.pack("<i", 2) and result.raw[8:12] == MINUS_ONE  # ct 2, seq -1
    assert result.body == b"" and struct.unpack("<I", result.raw[16:20])[0] == 0
    assert result.headers[1] == MINUS_ONE and result.headers[2] == b"\x01"
    assert result.headers[0] and result.headers[8]
    assert len(result.headers[4].split(b"|")) == 5
    assert result.headers[12] == b"\x0e"
    assert b"edge-client" in result.headers[13]
    assert 5 not in result.headers or len(result.headers[5]) == 8
    # Online on the management API and in /sim/v1.
    assert wait_until(lambda: ctl.admin.data("GET", f"/edge/management/v1/edge-routers/{router.id}")["isOnline"])
    [conn] = ctl.router_connections()
    assert conn["routerId"] == router.id and conn["connectionId"] == result.headers[0].decode()
    assert [e["detail"]["edgeRouterId"] for e in ctl.journal.events(kind="router-connect")] == [router.id]
    w.close()
    assert wait_until(lambda: not ctl.admin.data("GET", f"/edge/management/v1/edge-routers/{router.id}")["isOnline"])
    assert ctl.router_connections() == []


def test_no_alpn_is_accepted_too(ctl, router):
    w = wire_for(ctl, router.files, alpn=None)
    assert w.sock.selected_alpn_protocol() is None
    w.hello(router.id)
    assert w.recv().ct == 2
    w.close()


def test_a_client_certificate_is_required(ctl, router):
    import socket
    import ssl

    host, port = ctl.ctrl_address.removeprefix("tls:").rsplit(":", 1)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(cafile=str(router.files.ca_path))
    with pytest.raises((ssl.SSLError, ConnectionError)):
        with context.wrap_socket(socket.create_connection((host, int(port)), timeout=5), server_hostname=host) as sock:
            sock.sendall(b"\x03\x06\x09\x0c" + bytes(16))
            assert sock.recv(1) == b""
            raise ConnectionError("closed")


def test_bad_magic_gets_the_unknown_version_answer_then_close(ctl, router):
    w = wire_for(ctl, router.files)
    w.send_raw(bytes([3, 6, 9, 13]) + bytes(16))
    assert w._exactly(16) == bytes([3, 6, 9, 10, 2, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0])
    assert w.closed_without_data()


def test_heartbeat_is_echoed_with_the_same_bytes_and_ping_answered(ctl, router):
    w = connected(ctl, router)
    w.send_raw(pack(5, 7, {5: bytes.fromhex("154dfd27ccda5d18")}))
    echo = w.recv()
    assert echo.ct == 5 and echo.headers[6] == bytes.fromhex("154dfd27ccda5d18") and 1 not in echo.headers
    seq = w.send(1, {200: b"copied", 90: b"not copied"})
    reply = w.recv_type(2)
    assert reply.headers[1] == struct.pack("<i", seq) and reply.headers[2] == b"\x01" and reply.body == b"ok"
    assert reply.headers[200] == b"copied" and 90 not in reply.headers
    assert reply.seq >= 1  # the controller numbers its own frames from 1 upward
    # Unknown content types (-33, 1007) are ignored; the channel stays open.
    w.send(-33)
    w.send(1007, {}, b"\x00")
    seq = w.send(1)
    assert w.recv_type(2).headers[1] == struct.pack("<i", seq)
    w.close()


def _self_signed(tmp_path, router):
    """A certificate of the router's own key, but issued by itself: untrusted."""
    import datetime

    from controller.router_agent.files import RouterFiles

    key = serialization.load_pem_private_key(router.files.key_path.read_bytes(), None)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, router.id)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=1))
            .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    files = RouterFiles(tmp_path / "untrusted")
    files.directory.mkdir()
    files.cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.key_path.write_bytes(router.files.key_path.read_bytes())
    files.ca_path.write_bytes(router.files.ca_path.read_bytes())
    return files


@pytest.mark.parametrize("case", ["unknown-id", "other-routers-cert", "disabled", "expired", "untrusted"])
def test_refused_hellos_are_closed_without_a_byte(ctl, router, case, tmp_path):
    router_id, files = router.id, router.files
    if case == "untrusted":
        files = _self_signed(tmp_path, router)
    elif case == "unknown-id":
        router_id = "no-such-router"
    elif case == "other-routers-cert":
        files = ctl.make_router("other", run=False).files
    elif case == "disabled":
        ctl.admin.data("PATCH", f"/edge/management/v1/edge-routers/{router.id}", json_body={"disabled": True})
    elif case == "expired":
        ctl.clock.advance("366d")
    w = wire_for(ctl, files)  # the TLS handshake completes: the certificate is judged after the hello
    w.hello(router_id)
    assert w.closed_without_data()
    [refused] = refusals(ctl, router_id)
    reason = refused["detail"]["reason"]
    expected = {"unknown-id": "unknown/unenrolled router", "other-routers-cert": "incorrect fingerprint",
                "disabled": "router disabld", "expired": "leaf certificate not trusted",
                "untrusted": "leaf certificate not trusted"}[case]
    assert expected in reason, reason


def test_missing_version_header_gets_a_result_then_a_close(ctl, router):
    w = wire_for(ctl, router.files)
    w.hello(router.id, version=None)
    assert w.recv().ct == 2
    assert w.closed_without_data()
    assert "no version info header" in refusals(ctl, router.id)[0]["detail"]["reason"]


def test_extension_over_crafted_frames(ctl, router):
    old_fp = router.detail()["fingerprint"]
    w = connected(ctl, router)
    w.send(20302, {}, extend_request(router))
    certs = w.recv_type(20301)
    assert 1 not in certs.headers  # one-way, not a reply
    fields = pb_fields(certs.body)
    assert set(fields) == {1, 2}  # caCertsPem stays empty
    client_chain = fields[1].decode()
    assert client_chain.count("BEGIN CERTIFICATE") == 3  # leaf + signer + intermediate, no root
    pending = router.detail()
    assert pending["fingerprint"] == old_fp and pending["unverifiedFingerprint"] and pending["unverifiedCertPem"]
    seq = w.send(20303, {}, pb_string(1, client_chain.encode()))
    reply = w.recv_type(20002)
    assert reply.headers[1] == struct.pack("<i", seq) and reply.body == b""
    swapped = router.detail()
    assert swapped["fingerprint"] == pending["unverifiedFingerprint"] and swapped["unverifiedFingerprint"] is None
    # The channel stays open.
    ping = w.send(1)
    assert w.recv_type(2).headers[1] == struct.pack("<i", ping)
    kinds = [(e["kind"], e["outcome"]) for e in router.events() if e["kind"].startswith("router-extend")]
    assert kinds == [("router-extend", "success"), ("router-extend-verify", "success")]
    w.close()


@pytest.mark.parametrize("case", ["cn-mismatch", "garbage", "missing-server-csr"])
def test_a_bad_20302_gets_no_answer_at_all(ctl, router, case):
    w = connected(ctl, router)
    body = {"cn-mismatch": extend_request(router, cn="someone-else"), "garbage": b"\x0a\xff\xff\xff",
            "missing-server-csr": extend_request(router)[: extend_request(router).index(b"\x12")]}[case]
    w.send(20302, {}, body)
    ping = w.send(1)  # handled after the 20302: its answer proves nothing came before it
    reply = w.recv_type(2)
    assert reply.headers[1] == struct.pack("<i", ping)
    with pytest.raises(TimeoutError):
        w.recv_type(20301, timeout=0.5)
    assert router.detail()["unverifiedFingerprint"] is None
    failures = [e for e in router.events("router-extend") if e["outcome"] == "failure"]
    assert len(failures) == 1 and failures[0]["detail"]["path"] == "ctrl"
    w.close()


def _verify(w, body: bytes) -> tuple[str, str]:
    seq = w.send(20303, {}, body)
    reply = w.recv_type(20002)
    assert reply.headers[1] == struct.pack("<i", seq)
    fields = pb_fields(reply.body)
    return fields.get(1, b"").decode(), fields.get(2, b"").decode()


def test_every_20303_error(ctl, router):
    w = connected(ctl, router)
    assert _verify(w, b"\x0a\xff")[0] == "COULD_NOT_UNMARSHAL"
    assert _verify(w, b"") == ("MISSING_CLIENT_PEM", "request did not contain a client certificate PEM")
    assert _verify(w, pb_string(1, router.files.cert_path.read_bytes()))[0] == "INVALID_ROUTER_STATE"
    w.send(20302, {}, extend_request(router))
    new_chain = pb_fields(w.recv_type(20301).body)[1]
    assert _verify(w, pb_string(1, b"-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n")) == (
        "INVALID_CLIENT_PEM", "request did not contain a parsable PEM certificate")
    assert _verify(w, pb_string(1, router.files.cert_path.read_bytes())) == (
        "INVALID_CLIENT_PEM", "request did not contain a matching client pem")
    ctl.faults.add_ctrl(20303, router_id=router.id, code="VERIFY_ERROR", message="injected", times=1)
    assert _verify(w, pb_string(1, new_chain)) == ("VERIFY_ERROR", "injected")
    assert router.detail()["unverifiedFingerprint"]  # nothing swapped by the injected answer
    assert _verify(w, pb_string(1, new_chain)) == ("", "")  # the rule fired once; now it verifies
    # ROUTER_NOT_FOUND: the router (looked up by the hello's id) is gone.
    ctl.admin.data("DELETE", f"/edge/management/v1/edge-routers/{router.id}")
    assert _verify(w, pb_string(1, new_chain))[0] == "ROUTER_NOT_FOUND"
    codes = [e["errorCode"] for e in ctl.journal.events(kind="router-extend-verify")]
    assert codes == ["COULD_NOT_UNMARSHAL", "MISSING_CLIENT_PEM", "INVALID_ROUTER_STATE", "INVALID_CLIENT_PEM",
                     "INVALID_CLIENT_PEM", "VERIFY_ERROR", None, "ROUTER_NOT_FOUND"]
    w.close()


def test_faults_close_after_hello_drop_20301_and_delay(ctl, router):
    ctl.faults.add_ctrl(0, router_id=router.id, drop_connection=True, times=1)
    w = wire_for(ctl, router.files)
    w.hello(router.id)
    assert w.recv().ct == 2 and w.closed_without_data()
    # Reconnect once the controller has registered the disconnect (else: the churn rule, within a minute).
    assert wait_until(lambda: ctl.router_connections() == [])
    w = connected(ctl, router)
    ctl.faults.add_ctrl(20301, drop_message=True, times=1)
    w.send(20302, {}, extend_request(router))
    ping = w.send(1)
    assert w.recv_type(2).headers[1] == struct.pack("<i", ping)
    with pytest.raises(TimeoutError):
        w.recv_type(20301, timeout=0.5)
    assert router.detail()["unverifiedFingerprint"]  # signed and stored, just never sent
    ctl.faults.add_ctrl(1, delay_ms=400, times=1)
    started = time.monotonic()
    w.send(1)
    w.recv_type(2)
    assert time.monotonic() - started >= 0.4
    w.close()


def test_a_channel_that_never_echoes_is_closed_after_the_grace_period(isolated_database_url, tmp_path):
    with ControllerHarness.start(database_url=isolated_database_url, workdir=tmp_path, ctrl_heartbeat_timeout="1s") as ctl:
        router = ctl.make_router("silent", run=False)
        quiet = connected(ctl, router)
        started = time.monotonic()
        # Heartbeats arrive and go unanswered, then the close: about 3 timeouts after connect (2 of grace, 1 of silence).
        quiet.sock.settimeout(10)
        while quiet.sock.recv(4096):
            pass
        elapsed = time.monotonic() - started
        assert 2.5 <= elapsed <= 8, elapsed
        assert wait_until(lambda: ctl.journal.events(kind="router-disconnect"))
        assert "heartbeat not received in time" in ctl.journal.events(kind="router-disconnect")[-1]["detail"]["reason"]
        assert not router.detail()["isOnline"]
        # One that echoes stays connected well past that.
        time.sleep(0.2)
        lively = connected(ctl, router)
        deadline = time.monotonic() + 4.5
        while time.monotonic() < deadline:
            msg = lively.recv(timeout=5)
            if 5 in msg.headers:
                lively.send(5, {6: msg.headers[5]})
        ping = lively.send(1)
        assert lively.recv_type(2).headers[1] == struct.pack("<i", ping)
        lively.close()


def test_enrollment_jwt_names_the_control_channel(ctl):
    from controller.pki.jwt import decode_unverified

    created = ctl.admin.data("POST", "/edge/management/v1/edge-routers", json_body={"name": "jwt-router"})
    jwt = ctl.admin.data("GET", f"/edge/management/v1/edge-routers/{created['id']}")["enrollmentJwt"]
    assert decode_unverified(jwt)[1]["ctrls"] == [ctl.ctrl_address]
    assert ctl.ctrl_address.startswith("tls:127.0.0.1:")


def test_serve_fixture_announces_the_control_channel(tmp_path):
    import json
    import os
    import socket
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("ZITI_SIM_")}
    proc = subprocess.Popen([sys.executable, "-m", "controller", "serve", "--mode", "fixture"], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        ready = json.loads(proc.stdout.readline())
        ctrl = ready["ctrlAddress"]
        host, port = ctrl.removeprefix("tls:").rsplit(":", 1)
        assert ctrl.startswith("tls:127.0.0.1:") and port != "6262"  # fixture mode: an ephemeral port
        socket.create_connection((host, int(port)), timeout=5).close()
    finally:
        proc.terminate()
        proc.wait(20)
    env["ZITI_SIM_CTRL_ADDRESS"] = "off"
    proc = subprocess.Popen([sys.executable, "-m", "controller", "serve", "--mode", "fixture"], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert json.loads(proc.stdout.readline())["ctrlAddress"] is None
    finally:
        proc.terminate()
        proc.wait(20)


def test_reset_closes_open_channels(ctl, router):
    w = connected(ctl, router)
    ctl.reset()  # the router and its connection row are gone: the channel closes within a heartbeat interval
    w.sock.settimeout(15)
    while True:
        try:
            if not w.sock.recv(4096):
                break
        except (ConnectionResetError, OSError):
            break
    assert ctl.router_connections() == []


def test_the_ziti_router_fixture(ziti_router, ctl):
    router = ziti_router("from-fixture")
    assert router.running and router.detail()["isOnline"]
    assert [c["name"] for c in ctl.router_connections()] == ["from-fixture"]
    assert [e["kind"] for e in router.events()] == ["router-enroll", "router-connect"]
    router.stop()
    assert wait_until(lambda: not router.detail()["isOnline"])


def test_online_and_connected_filters_follow_the_channel(ctl, router):
    def names(flt):
        return [r["name"] for r in ctl.admin.data("GET", f"/edge/management/v1/edge-routers?filter={flt}")]

    ctl.make_router("offline", run=False)
    assert names("online") == [] and names("connected%20%3D%20false") == ["offline", "wire-router"]
    w = connected(ctl, router)
    assert names("online") == ["wire-router"] and names("connected") == ["wire-router"]
    w.close()
    assert wait_until(lambda: names("online") == [])
