"""The third-party CA commands as a user types them, against a served controller (SQLite): a throwaway
external CA, `ca create`, `ca verify`, `ca list`, `ca jwt`, then a certificate from it auto-enrolls and logs
in over mTLS, and its extension is refused."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from test_cli import cli, clean_mock, https, mock, sim_json  # noqa: F401 - fixtures used by name

from controller.pki.certs import fingerprint, load_certs_pem


def run_json(*args: str, cwd: Path):
    result = cli(*args, cwd=cwd)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_external_ca_walkthrough(clean_mock, tmp_path):
    served = clean_mock
    made = run_json("pki", "external-ca", "--out", str(tmp_path / "corp"), "--intermediate", cwd=tmp_path)
    for key in ("root-ca.key.pem", "intermediate-ca.key.pem"):
        assert stat.S_IMODE((tmp_path / "corp" / key).stat().st_mode) == 0o600
    client = run_json("pki", "external-cert", "--ca", str(tmp_path / "corp"), "--cn", "pat",
                      "--uri", "spiffe://corp/user/pat", cwd=tmp_path)
    assert stat.S_IMODE(Path(client["key"]).stat().st_mode) == 0o600
    chain = load_certs_pem(Path(client["cert"]).read_bytes())
    assert len(chain) == 2 and chain[0].issuer == chain[1].subject

    ca = run_json("ca", "create", "--name", "corp", "--cert", made["caCert"], "--role", "staff", *served.conn_args(), cwd=tmp_path)
    assert ca["isVerified"] is False and ca["identityRoles"] == ["staff"]
    verified = run_json("ca", "verify", ca["id"], "--ca-key", made["caKey"], *served.conn_args(), cwd=tmp_path)
    assert verified["isVerified"] is True
    again = cli("ca", "verify", ca["id"], "--ca-key", made["caKey"], *served.conn_args(), cwd=tmp_path)
    assert again.returncode == 1 and "CA_ALREADY_VERIFIED" in again.stderr
    listed = run_json("ca", "list", "--filter", "isVerified = true", *served.conn_args(), cwd=tmp_path)
    assert [c["id"] for c in listed] == [ca["id"]]
    jwt = cli("ca", "jwt", ca["id"], *served.conn_args(), cwd=tmp_path)
    assert jwt.returncode == 0 and jwt.stdout.count(".") == 2

    cert = (Path(client["cert"]), Path(client["key"]))
    status, body = https(served.url, "POST", "/edge/client/v1/enroll?method=ca", ca_file=served.ca_bundle, body={}, cert=cert)
    assert (status, body["data"]) == (200, {})
    status, body = https(served.url, "POST", "/edge/client/v1/authenticate?method=cert", ca_file=served.ca_bundle, body={}, cert=cert)
    assert status == 200 and body["data"]["identity"]["name"] == "corp-pat" and body["data"]["isCertExtendable"] is False
    session = body["data"]
    status, body = https(served.url, "POST", f"/edge/client/v1/current-identity/authenticators/{session['authenticatorId']}/extend",
                         ca_file=served.ca_bundle, body={"clientCertCsr": "x"}, token=session["token"], cert=cert)
    assert (status, body["error"]["code"]) == (409, "CAN_NOT_UPDATE_AUTHENTICATOR")
    events = sim_json(served, tmp_path, "events", "--kind", "ca-enroll")
    assert events[0]["newFingerprint"] == fingerprint(chain[0])
