"""An SDK-style test of certificate extension, written with the ziti-controller-sim pytest plugin.

The plugin (loaded through its `pytest11` entry point once ziti-controller-sim is installed) gives:
- `ziti_controller`: a controller on an ephemeral port with real TLS, reset before each test, with handles
  for the simulated clock, fault rules, the event journal and an admin client;
- `ziti_identity(name=..., key=...)`: creates and enrolls an identity, with paths to its files.

`SdkClient` below stands for the SDK under test: it does what OpenZiti SDKs do when their certificate is
about to expire. In a real SDK's suite, that part is the SDK itself (in any language); the test only
points it at `ziti_controller.url` / the identity file and asserts on the journal.

Run: `python -m pytest examples/`
"""

from __future__ import annotations

import http.client
import json
import ssl
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

CLIENT = "/edge/client/v1"
EXTEND_WITHIN = timedelta(days=30)  # the SDK extends when its certificate expires sooner than this


def sha1(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA1()).hex()


def unpem(value: str) -> str:
    return value.removeprefix("pem:")


class SdkClient:
    """One keep-alive mTLS connection and one API session, as an SDK holds them."""

    def __init__(self, identity_file: Path, workdir: Path):
        self.identity_file, self.workdir = identity_file, workdir
        self.config = json.loads(identity_file.read_text())
        self.cert_pem, self.key_pem, self.ca_pem = (unpem(self.config["id"][k]) for k in ("cert", "key", "ca"))
        cert_file, key_file = workdir / "sdk.cert.pem", workdir / "sdk.key.pem"
        cert_file.write_text(self.cert_pem)
        key_file.touch(0o600)
        key_file.write_text(self.key_pem)
        context = ssl.create_default_context(cadata=self.ca_pem)
        context.load_cert_chain(cert_file, key_file)
        url = urlsplit(self.config["ztAPI"])
        self.conn = http.client.HTTPSConnection(url.hostname, url.port, context=context, timeout=30)
        self.token: str | None = None

    def close(self) -> None:
        self.conn.close()

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, dict]:
        headers = {"Accept": "application/json"}
        payload = None
        if body is not None:
            payload, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
        if self.token:
            headers["zt-session"] = self.token
        self.conn.request(method, path, body=payload, headers=headers)
        response = self.conn.getresponse()
        return response.status, json.loads(response.read() or b"{}")

    def login(self) -> int:
        status, body = self.call("POST", f"{CLIENT}/authenticate?method=cert", {})
        if status == 200:
            self.token = body["data"]["token"]
        return status

    def extend_if_needed(self, now_of_controller, retries: int = 3) -> bool:  # noqa: ANN001
        """Extend the certificate when it is close to expiry: extend with a CSR from the same key, verify
        with the returned chain, then persist the identity. Retries a 5xx answer, as SDKs do."""
        leaf = x509.load_pem_x509_certificate(self.cert_pem.encode())
        if leaf.not_valid_after_utc - now_of_controller() > EXTEND_WITHIN:
            return False
        status, session = self.call("GET", f"{CLIENT}/current-api-session")
        assert status == 200, session
        if not session["data"]["isCertExtendable"]:
            return False
        base = f"{CLIENT}/current-identity/authenticators/{session['data']['authenticatorId']}"

        key = serialization.load_pem_private_key(self.key_pem.encode(), None)
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, session["data"]["identity"]["id"])])
        csr = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
        csr_pem = csr.public_bytes(serialization.Encoding.PEM).decode()
        for _ in range(retries):
            status, extended = self.call("POST", f"{base}/extend", {"clientCertCsr": csr_pem})
            if status < 500:
                break
        assert status == 200, extended
        new_chain, new_ca = extended["data"]["clientCert"], extended["data"]["ca"]

        status, verified = self.call("POST", f"{base}/extend-verify", {"clientCert": new_chain})
        assert status == 200, verified

        # persist: the identity file now holds the new certificate (same key) and CA bundle
        self.config["id"]["cert"], self.config["id"]["ca"] = f"pem:{new_chain}", f"pem:{new_ca}"
        self.identity_file.write_text(json.dumps(self.config, indent=2))
        self.cert_pem, self.ca_pem = new_chain, new_ca
        return True


def fresh_login(identity_file: Path, workdir: Path) -> int:
    sdk = SdkClient(identity_file, workdir)
    try:
        return sdk.login()
    finally:
        sdk.close()


def test_sdk_extends_its_certificate_a_week_before_expiry(ziti_controller, ziti_identity, tmp_path):
    ident = ziti_identity(name="sdk-under-test")
    old_cert = x509.load_pem_x509_certificate(ident.cert_path.read_bytes())
    old_identity_file = tmp_path / "before-extension.json"
    old_identity_file.write_text(ident.json_path.read_text())

    # One week before the certificate expires, on the controller's clock.
    ziti_controller.clock.set(old_cert.not_valid_after_utc - timedelta(days=7))
    assert old_cert.not_valid_after_utc - ziti_controller.clock.now() <= timedelta(days=7)

    sdk = SdkClient(ident.json_path, tmp_path)
    try:
        assert sdk.login() == 200
        assert sdk.extend_if_needed(ziti_controller.clock.now) is True
    finally:
        sdk.close()

    new_cert = x509.load_pem_x509_certificate(unpem(json.loads(ident.json_path.read_text())["id"]["cert"]).encode())
    assert new_cert.not_valid_after_utc > old_cert.not_valid_after_utc
    assert new_cert.public_key() == old_cert.public_key()  # same key, new certificate

    # The persisted identity logs in; the one from before the extension no longer does.
    assert fresh_login(ident.json_path, tmp_path) == 200
    assert fresh_login(old_identity_file, tmp_path) == 401

    # The journal saw the extension as a pair, with the right fingerprints.
    [verify] = ziti_controller.journal.wait_for(kind="extend-verify", identity_id=ident.id)
    [extend] = ziti_controller.journal.events(kind="extend", identity_id=ident.id)
    for event in (extend, verify):
        assert event["outcome"] == "success"
        assert (event["oldFingerprint"], event["newFingerprint"]) == (sha1(old_cert), sha1(new_cert))
    assert extend["seq"] < verify["seq"]


def test_sdk_leaves_a_young_certificate_alone(ziti_controller, ziti_identity, tmp_path):
    ident = ziti_identity(name="young")
    sdk = SdkClient(ident.json_path, tmp_path)
    try:
        assert sdk.login() == 200
        assert sdk.extend_if_needed(ziti_controller.clock.now) is False
    finally:
        sdk.close()
    assert ziti_controller.journal.events(kind="extend") == []


def test_sdk_retries_an_extension_the_controller_refused(ziti_controller, ziti_identity, tmp_path):
    ident = ziti_identity(name="retrying")
    cert = x509.load_pem_x509_certificate(ident.cert_path.read_bytes())
    ziti_controller.clock.set(cert.not_valid_after_utc - timedelta(days=1))
    ziti_controller.faults.add("*/current-identity/authenticators/*/extend", status=503, code="SERVICE_UNAVAILABLE", times=2)

    sdk = SdkClient(ident.json_path, tmp_path)
    try:
        assert sdk.login() == 200
        assert sdk.extend_if_needed(ziti_controller.clock.now) is True
    finally:
        sdk.close()

    [rule] = ziti_controller.faults.list()
    assert rule["fired"] == 2
    assert [e["outcome"] for e in ziti_controller.journal.events(kind="extend-verify", identity_id=ident.id)] == ["success"]
    assert fresh_login(ident.json_path, tmp_path) == 200
