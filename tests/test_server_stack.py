"""The server's event loop and HTTP parser (settings.event_loop, settings.http): uvloop and httptools by
default when installed (issue 11: less CPU per request), and plain asyncio and h11 still serve every request
the same way, so a machine without the optional C extensions works."""

from __future__ import annotations

import asyncio

import pytest
from conftest import make_csr
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from controller.server.protocol import PeerCertH11Protocol, http_protocol
from controller.server.run import event_loop_factory
from controller.testing.harness import ControllerHarness

STACKS = [
    pytest.param("asyncio", "h11", id="asyncio-h11"),
    pytest.param("asyncio", "httptools", id="asyncio-httptools"),
    pytest.param("uvloop", "h11", id="uvloop-h11"),
    pytest.param("uvloop", "httptools", id="uvloop-httptools"),
]


def _serving_loop(harness: ControllerHarness) -> asyncio.AbstractEventLoop:
    loop = harness._server.loop
    assert loop is not None and loop.is_running()
    return loop


@pytest.mark.parametrize(("event_loop", "http"), STACKS)
def test_every_stack_enrolls_logs_in_extends_and_verifies(tmp_path, event_loop, http):
    for module in {event_loop, http} - {"asyncio", "h11"}:
        pytest.importorskip(module)
    with ControllerHarness.start(workdir=tmp_path, event_loop=event_loop, http=http) as ctl:
        loop = _serving_loop(ctl)
        assert (type(loop).__module__.split(".")[0] == "uvloop") == (event_loop == "uvloop")
        alice = ctl.enroll_identity("alice")
        with alice.connect() as conn:
            session = conn.login_cert()
            authenticator = session["authenticatorId"]
            assert conn.data("GET", "/edge/client/v1/current-api-session")["identityId"] == alice.id
            csr, _key = make_csr(load_pem_private_key(alice.identity.key.encode(), None), "alice")
            extended = conn.data("POST", f"/edge/client/v1/current-identity/authenticators/{authenticator}/extend",
                                 json_body={"clientCertCsr": csr})
            conn.data("POST", f"/edge/client/v1/current-identity/authenticators/{authenticator}/extend-verify",
                      json_body={"clientCert": extended["clientCert"]})
            status, _headers, _body = conn.raw("GET", "/version")
            assert status == 200
        kinds = [e["kind"] for e in ctl.journal.events()]
        assert kinds[-3:] == ["authenticate", "extend", "extend-verify"]


def test_auto_takes_the_c_extensions_when_installed():
    uvloop = pytest.importorskip("uvloop")
    pytest.importorskip("httptools")
    assert event_loop_factory("auto") is uvloop.new_event_loop
    assert event_loop_factory("asyncio") is asyncio.new_event_loop
    assert http_protocol("auto") is not PeerCertH11Protocol
    assert http_protocol("h11") is PeerCertH11Protocol
