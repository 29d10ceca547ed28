"""Every certificate we issue or publish is RFC 5280-clean according to pkilint's PKIX linter.

pkilint checks URIs and DNS names with the `validators` library, which accepts only web URI schemes and
multi-label domain names. So it reports the SPIFFE URIs (`spiffe://...`, required by the real controller's
identity profile) and the `localhost` SAN (required on the TLS server certificate) although RFC 3986 and
RFC 5280 allow both. Exactly those findings are allowed here; anything else fails.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID

from controller.pki.certs import cert_pem
from controller.pki.hierarchy import load_or_create
from controller.pki.issuing import issue_client_cert
from controller.pki.keys import generate_private_key

pytest.importorskip("pkilint")

NOW = datetime.now(timezone.utc)


def _known_false_positive(code: str, message: str) -> bool:
    if code == "pkix.invalid_uri_syntax":
        return 'Invalid URI syntax: "spiffe://' in message
    if code == "pkix.invalid_domain_name_syntax":
        return message == 'Invalid domain name syntax: "localhost"'
    return False


def _lint(path: Path) -> list[tuple[str, str, str]]:
    tool = shutil.which("lint_pkix_cert") or str(Path(sys.executable).with_name("lint_pkix_cert"))
    result = subprocess.run([tool, "lint", "-s", "WARNING", "-f", "JSON", str(path)], capture_output=True, text=True, timeout=60)
    assert result.stdout.startswith("{"), result.stderr  # the exit code counts findings; the JSON lists them
    findings = []
    for entry in json.loads(result.stdout)["results"]:
        for finding in entry["finding_descriptions"]:
            findings.append((entry["node_path"], finding["code"], finding.get("message") or ""))
    return findings


@pytest.mark.parametrize("key_type", ["ec-p256", "ec-p384", "rsa-2048"])
def test_issued_and_published_certificates_have_no_lint_findings(tmp_path, key_type):
    pki = load_or_create(tmp_path / "pki", ca_key_type=key_type, server_key_type=key_type,
                         advertised_host="ctrl.example.test", trust_domain=None, now=NOW)
    client_key = generate_private_key(key_type)
    identity = issue_client_cert(
        signer=pki.signer, public_key=client_key.public_key(),
        subject=x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "OpenZiti"), x509.NameAttribute(NameOID.COMMON_NAME, "id1")]),
        sans=[x509.UniformResourceIdentifier(pki.spiffe_identity_uri("id1"))], now=NOW, lifetime=timedelta(days=365),
    )
    certificates = {"root": pki.root.cert, "intermediate": pki.intermediate.cert, "signer": pki.signer.cert,
                    "server": pki.server_cert, "identity": identity}
    unexpected = {}
    for name, cert in certificates.items():
        path = tmp_path / f"{name}.pem"
        path.write_text(cert_pem(cert))
        findings = [f for f in _lint(path) if not _known_false_positive(f[1], f[2])]
        if findings:
            unexpected[name] = findings
    assert unexpected == {}


def test_the_linter_is_not_blind(tmp_path):
    """A certificate without key identifiers and with keyEncipherment on an EC key must be reported."""
    key = generate_private_key("ec-p256")
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bad")])
    bad = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(NOW).not_valid_after(NOW + timedelta(days=1))
        .add_extension(x509.KeyUsage(True, False, True, False, False, False, False, False, False), critical=True)
        .sign(key, hashes.SHA256())
    )
    path = tmp_path / "bad.pem"
    path.write_text(cert_pem(bad))
    assert [f for f in _lint(path) if not _known_false_positive(f[1], f[2])]
