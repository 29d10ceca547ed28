"""Third-party CAs for tests: a throwaway external CA registered and verified on the controller, and
identities enrolled from it through `ottca` or `ca` (auto-enrollment), all over HTTPS with the external
certificate presented in the TLS handshake, as an SDK does.

    def test_corporate_identity(ziti_external_ca):
        bob = ziti_external_ca.enroll_ottca("bob")        # or .enroll_auto("bob")
        with bob.connect() as conn:
            session = conn.login_cert()                  # isCertExtendable: False
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from controller.client.http import Connection
from controller.pki.certs import cert_pem
from controller.pki.throwaway import (
    ExternalCa, ExternalCert, create_external_ca, issue_external_cert, save_external_cert, verification_cert,
)

CAS = "/edge/management/v1/cas"


@dataclass
class ExternalIdentity:
    """An identity whose certificate comes from the external CA (the client keeps it; nothing is issued)."""

    id: str | None
    name: str | None
    cert: ExternalCert
    cert_path: Path
    key_path: Path
    harness: Any

    def connect(self) -> Connection:
        return self.harness.connect(cert_pem=self.cert.chain_pem, key_pem=self.cert.key_pem)


class RegisteredExternalCa:
    """A throwaway external CA registered on a controller: `.id`, `.ca` (certificates and keys), `.detail()`."""

    def __init__(self, harness: Any, ca: ExternalCa, ca_id: str):
        self.harness, self.ca, self.id = harness, ca, ca_id

    @classmethod
    def register(cls, harness: Any, directory: Path, *, name: str | None = None, intermediate: bool = True,
                 verify: bool = True, **flags: Any) -> "RegisteredExternalCa":
        """Create the CA on disk, `POST /cas` (flags: isAuthEnabled, isAutoCaEnrollmentEnabled,
        isOttCaEnrollmentEnabled, identityRoles, identityNameFormat, externalIdClaim, all on by default) and
        verify it with a certificate signed by its key."""
        ca = create_external_ca(directory, intermediate=intermediate)
        body = {"name": name or f"external-{secrets.token_hex(3)}", "certPem": cert_pem(ca.root.cert),
                "isAuthEnabled": True, "isAutoCaEnrollmentEnabled": True, "isOttCaEnrollmentEnabled": True,
                "identityRoles": [], **flags}
        ca_id = harness.admin.data("POST", CAS, json_body=body)["id"]
        registered = cls(harness, ca, ca_id)
        if verify:
            registered.verify()
        return registered

    def detail(self) -> dict[str, Any]:
        return self.harness.admin.data("GET", f"{CAS}/{self.id}")

    def verify(self) -> None:
        token = self.detail()["verificationToken"]
        proof = cert_pem(verification_cert(self.ca.root, token))
        self.harness.admin.request("POST", f"{CAS}/{self.id}/verify", body=proof.encode(), content_type="text/plain")

    def patch(self, **fields: Any) -> None:
        self.harness.admin.data("PATCH", f"{CAS}/{self.id}", json_body=fields)

    def issue(self, common_name: str, **kwargs: Any) -> ExternalIdentity:
        """A client certificate from this CA, not yet known to the controller."""
        cert = issue_external_cert(self.ca, common_name, **kwargs)
        cert_path, key_path = save_external_cert(cert, self.ca.directory, f"client-{common_name}-{secrets.token_hex(3)}")
        return ExternalIdentity(None, None, cert, cert_path, key_path, self.harness)

    def enroll_ottca(self, name: str | None = None, **cert_options: Any) -> ExternalIdentity:
        """Create an identity with an ottca enrollment for this CA and redeem it as the C SDK does:
        `POST /enroll?method=ottca&token=<jti>`, JSON content type, empty body, the certificate in TLS."""
        name = name or f"ottca-{secrets.token_hex(4)}"
        admin = self.harness.admin
        identity_id = admin.data("POST", "/edge/management/v1/identities", json_body={
            "name": name, "type": "Default", "isAdmin": False, "enrollment": {"ottca": self.id}})["id"]
        token = admin.data("GET", f"/edge/management/v1/identities/{identity_id}")["enrollment"]["ottca"]["token"]
        identity = self.issue(name, **cert_options)
        with identity.connect() as conn:
            conn.request("POST", f"/edge/client/v1/enroll?method=ottca&token={token}", body=b"", content_type="application/json")
        identity.id, identity.name = identity_id, name
        return identity

    def enroll_auto(self, common_name: str | None = None, *, requested_name: str | None = None, **cert_options: Any) -> ExternalIdentity:
        """Auto-enroll (`POST /enroll?method=ca`) with a new certificate from this CA; the identity is looked
        up afterwards by its certificate's fingerprint or by its externalId."""
        identity = self.issue(common_name or f"auto-{secrets.token_hex(4)}", **cert_options)
        with identity.connect() as conn:
            body = {"name": requested_name} if requested_name else {}
            conn.request("POST", "/edge/client/v1/enroll?method=ca", json_body=body)
            session = conn.login_cert()
        identity.id, identity.name = session["identityId"], session["identity"]["name"]
        return identity


@pytest.fixture
def ziti_external_ca(ziti_controller: Any, tmp_path_factory: pytest.TempPathFactory) -> RegisteredExternalCa:
    """A registered and verified third-party CA (root + intermediate) with auth, auto and ottca enrollment on."""
    return RegisteredExternalCa.register(ziti_controller, tmp_path_factory.mktemp("external-ca"))
