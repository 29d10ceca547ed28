"""Certificate-expiry insight: the admin list GET /ops/v1/expiring-certificates, the CLI
`certs expiring --within 30d [--json]` and the bulk `identity request-extend --expiring-within 30d`."""

from __future__ import annotations

import json

import pytest

from conftest import error_of, make_csr
from controller.client.errors import ControllerError
from test_cli import cli, clean_env
from test_routers import _enroll

MGMT = "/edge/management/v1"
OPS = "/ops/v1"


def _cli(ctl, tmp_path, *args: str):  # noqa: ANN001
    return cli(*args, "--controller", ctl.url, "--ca", str(ctl.ca_bundle), f"--password={ctl.admin_password}",
               cwd=tmp_path, env=clean_env())


def test_the_list_shows_identities_and_routers_expiring_within_the_window(ctl, anon):
    alice, bob = ctl.enroll_identity("alice"), ctl.enroll_identity("bob")
    router, _ = _enroll(ctl, anon, "er-expiry")
    assert ctl.admin.data("GET", f"{OPS}/expiring-certificates?within=30d") == []
    # A day later, extend alice's certificate: it then expires last and has a last extension time.
    ctl.clock.advance("1d")
    with alice.connect() as conn:
        auth_id = conn.login_cert()["authenticatorId"]
        extended = conn.data("POST", f"/edge/client/v1/current-identity/authenticators/{auth_id}/extend",
                             json_body={"clientCertCsr": make_csr()[0]})
        conn.data("POST", f"/edge/client/v1/current-identity/authenticators/{auth_id}/extend-verify",
                  json_body={"clientCert": extended["clientCert"]})
    ctl.clock.advance("339d")
    items = ctl.admin.data("GET", f"{OPS}/expiring-certificates?within=30d")
    assert [(i["type"], i["name"], i["certificate"]) for i in items] == [
        ("identity", "bob", "client"), ("router", "er-expiry", "client"), ("router", "er-expiry", "server"),
        ("identity", "alice", "client")]  # soonest first
    by_name = {(i["name"], i["certificate"]): i for i in items}
    assert by_name[("alice", "client")]["authenticatorId"] == auth_id and by_name[("alice", "client")]["lastExtendedAt"]
    assert by_name[("bob", "client")]["lastExtendedAt"] is None and by_name[("er-expiry", "client")]["id"] == router.id
    assert all(0 < i["expiresInSeconds"] <= 30 * 86400 and not i["expired"] for i in items)
    routers = ctl.admin.data("GET", f"{OPS}/expiring-certificates?within=30d&type=router")
    assert {i["type"] for i in routers} == {"router"} and len(routers) == 2
    page = ctl.admin.request("GET", f"{OPS}/expiring-certificates?within=30d&limit=1&offset=1")[0]
    assert len(page["data"]) == 1 and page["meta"]["pagination"]["totalCount"] == 4


@pytest.mark.parametrize("query", ["within=soon", "type=service"])
def test_bad_queries_are_refused(ctl, query):
    with pytest.raises(ControllerError) as excinfo:
        ctl.admin.data("GET", f"{OPS}/expiring-certificates?{query}")
    assert error_of(excinfo) == (400, "COULD_NOT_VALIDATE")


def test_the_list_needs_an_admin(ctl, alice, anon):
    with pytest.raises(ControllerError) as excinfo:
        anon.data("GET", f"{OPS}/expiring-certificates")
    assert error_of(excinfo)[0] == 401
    with alice.connect() as conn, pytest.raises(ControllerError) as excinfo:
        conn.login_cert(prefix=MGMT)
        conn.data("GET", f"{OPS}/expiring-certificates")
    assert error_of(excinfo)[0] in (401, 403)


def test_cli_lists_and_bulk_requests_extension(ctl, tmp_path):
    soon, later = ctl.enroll_identity("soon"), ctl.enroll_identity("later")
    ctl.clock.advance("300d")
    with later.connect() as conn:  # later's certificate is renewed: it leaves the window
        auth_id = conn.login_cert()["authenticatorId"]
        extended = conn.data("POST", f"/edge/client/v1/current-identity/authenticators/{auth_id}/extend",
                             json_body={"clientCertCsr": make_csr()[0]})
        conn.data("POST", f"/edge/client/v1/current-identity/authenticators/{auth_id}/extend-verify",
                  json_body={"clientCert": extended["clientCert"]})
    ctl.clock.advance("40d")
    listed = _cli(ctl, tmp_path, "certs", "expiring", "--within", "30d", "--json")
    assert listed.returncode == 0, listed.stderr
    items = json.loads(listed.stdout)
    assert [i["name"] for i in items] == ["soon"]
    table = _cli(ctl, tmp_path, "certs", "expiring", "--within", "30d")
    assert table.returncode == 0 and "soon" in table.stdout and "later" not in table.stdout and "NOT AFTER" in table.stdout
    dry = _cli(ctl, tmp_path, "identity", "request-extend", "--expiring-within", "30d", "--dry-run")
    assert json.loads(dry.stdout)["requested"] is False
    soon_auth = items[0]["authenticatorId"]
    assert ctl.admin.data("GET", f"{MGMT}/authenticators/{soon_auth}")["isExtendRequested"] is False
    done = _cli(ctl, tmp_path, "identity", "request-extend", "--expiring-within", "30d")
    assert done.returncode == 0, done.stderr
    assert [a["authenticatorId"] for a in json.loads(done.stdout)["authenticators"]] == [soon_auth]
    assert ctl.admin.data("GET", f"{MGMT}/authenticators/{soon_auth}")["isExtendRequested"] is True
    assert ctl.admin.data("GET", f"{MGMT}/authenticators/{auth_id}")["isExtendRequested"] is False
    assert _cli(ctl, tmp_path, "certs", "expiring", "--within", "1h").stderr.startswith("no certificate expires")


def test_bulk_request_extend_skips_certificates_the_network_did_not_issue(ctl, ziti_external_ca, tmp_path):
    # a third-party certificate cannot be extended (409 CAN_NOT_UPDATE_AUTHENTICATOR): flagging it would send
    # its SDK into an extension that always fails
    ours = ctl.enroll_identity("ours")
    theirs = ziti_external_ca.enroll_auto("theirs")
    with theirs.connect() as conn:
        theirs_auth = conn.login_cert()["authenticatorId"]
    listed = json.loads(_cli(ctl, tmp_path, "certs", "expiring", "--within", "36500d", "--json").stdout)
    assert theirs_auth in [i["authenticatorId"] for i in listed]  # the list still shows it: operators must know
    done = _cli(ctl, tmp_path, "identity", "request-extend", "--expiring-within", "36500d")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert [a["identityId"] for a in report["authenticators"]] == [ours.id]
    assert [a["authenticatorId"] for a in report["skipped"]] == [theirs_auth]
    assert "not issued by this network" in report["skipped"][0]["reason"]
    assert ctl.admin.data("GET", f"{MGMT}/authenticators/{theirs_auth}")["isExtendRequested"] is False
