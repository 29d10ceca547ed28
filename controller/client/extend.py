"""What the SDKs' helper functions do: extend an identity's certificate, verify it, save the new identity."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from controller.client.http import Connection, tls_context
from controller.client.identity_file import IdentityFile
from controller.pki.certs import fingerprint, load_certs_pem
from controller.pki.keys import generate_private_key, hash_for_key, load_private_key_pem, private_key_pem


@dataclass(frozen=True)
class ExtendResult:
    authenticator_id: str
    old_fingerprint: str
    new_fingerprint: str
    rolled_key: bool
    not_after: str
    backup: Path | None


def _key_type(key) -> str:  # noqa: ANN001
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return f"ec-p{key.curve.key_size}"
    if isinstance(key, rsa.RSAPrivateKey):
        return f"rsa-{key.key_size}"
    return "ec-p256"


def extend_identity(path: str | Path, *, roll_key: bool = False) -> ExtendResult:
    """Log in with the identity file's certificate, extend its cert authenticator with a CSR (same key, or a
    new one of the same type with `roll_key`), verify, then rewrite the identity file atomically, keeping the
    previous one as '<file>.bak'. Raises ControllerError with the controller's code on refusal."""
    path = Path(path)
    identity = IdentityFile.load(path)
    old_leaf = load_certs_pem(identity.cert)[0]
    old_key = load_private_key_pem(identity.key.encode())
    context = tls_context(ca_pem=identity.ca, cert_pem=identity.cert, key_pem=identity.key)
    with Connection(identity.zt_api, context) as conn:
        session = conn.login_cert()
        authenticator_id = session.get("authenticatorId")
        if not authenticator_id:
            mine = conn.data("GET", "/edge/client/v1/current-identity/authenticators")
            authenticator_id = next(a["id"] for a in mine if a["method"] == "cert")
        key = generate_private_key(_key_type(old_key)) if roll_key else old_key
        subject = x509.Name([
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "OpenZiti"),
            x509.NameAttribute(NameOID.COMMON_NAME, session.get("identityId") or session["identity"]["id"]),
        ])
        csr = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hash_for_key(key))
        csr_pem = csr.public_bytes(serialization.Encoding.PEM).decode()
        base = f"/edge/client/v1/current-identity/authenticators/{authenticator_id}"
        certs = conn.data("POST", f"{base}/extend", json_body={"clientCertCsr": csr_pem})
        conn.data("POST", f"{base}/extend-verify", json_body={"clientCert": certs["clientCert"]})
    new_leaf = load_certs_pem(certs["clientCert"])[0]
    updated = IdentityFile(identity.zt_api, certs["clientCert"], private_key_pem(key).decode(), certs["ca"])
    backup = updated.save(path, backup=True)
    return ExtendResult(authenticator_id, fingerprint(old_leaf), fingerprint(new_leaf), roll_key,
                        new_leaf.not_valid_after_utc.isoformat(), backup)
