"""Enrollment as the SDKs do it: trust on first use of the JWT's signature, then the EST CA bundle."""

from __future__ import annotations

import base64
import ssl
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding, pkcs7
from cryptography.x509.oid import NameOID

from controller.client.http import Connection, tls_context
from controller.client.identity_file import IdentityFile
from controller.pki.certs import certs_pem
from controller.pki.jwt import decode_unverified
from controller.pki.keys import generate_private_key, private_key_pem

# X509_V_FLAG_PARTIAL_CHAIN: trust the server's leaf itself, as the Go SDK's pool of one certificate does.
_PARTIAL_CHAIN = 0x80000
_HASHES = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}


class EnrollmentError(Exception):
    pass


def fetch_server_certificate(url: str) -> x509.Certificate:
    parts = urlsplit(url)
    pem = ssl.get_server_certificate((parts.hostname, parts.port or 443), timeout=10)
    return x509.load_pem_x509_certificate(pem.encode())


def verify_jwt_signature(token: str, cert: x509.Certificate) -> None:
    header, _ = decode_unverified(token)
    alg = header.get("alg", "")
    signing_input, _, signature_b64 = token.strip().rpartition(".")
    signature = base64.urlsafe_b64decode(signature_b64 + "=" * (-len(signature_b64) % 4))
    key = cert.public_key()
    digest_class = _HASHES.get(alg[2:])
    if digest_class is None or not alg.startswith(("ES", "RS")):
        raise EnrollmentError(f"unsupported JWT algorithm {alg!r}")
    try:
        if alg.startswith("ES") and isinstance(key, ec.EllipticCurvePublicKey):
            half = len(signature) // 2
            der = encode_dss_signature(int.from_bytes(signature[:half], "big"), int.from_bytes(signature[half:], "big"))
            key.verify(der, signing_input.encode(), ec.ECDSA(digest_class()))
        elif alg.startswith("RS") and isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, signing_input.encode(), padding.PKCS1v15(), digest_class())
        else:
            raise EnrollmentError(f"JWT algorithm {alg!r} does not fit the server's {type(key).__name__}")
    except InvalidSignature:
        raise EnrollmentError("the enrollment JWT was not signed by the controller's TLS server key") from None


def fetch_ca_bundle(conn: Connection) -> list[x509.Certificate]:
    status, _headers, body = conn.raw("GET", "/edge/client/v1/.well-known/est/cacerts", headers={"Accept": "application/pkcs7-mime"})
    if status != 200:
        raise EnrollmentError(f"cacerts answered {status}")
    return pkcs7.load_der_pkcs7_certificates(base64.b64decode(body))


def read_jwt_file(path: Path) -> str:
    """The enrollment JWT in a file, checked to be one: three base64url parts with a JSON header and claims."""
    try:
        text = path.read_bytes().decode("ascii").strip()
    except FileNotFoundError:
        raise EnrollmentError(f"enrollment JWT file {path} does not exist") from None
    except UnicodeDecodeError:
        text = ""
    if not text:
        raise EnrollmentError(f"{path} holds no enrollment JWT: it is {'empty' if path.stat().st_size == 0 else 'not text'}; "
                              "pass the file `identity create --jwt-out` wrote")
    _claims(text, source=str(path))
    return text


def _claims(jwt_text: str, *, source: str = "the enrollment JWT") -> dict:
    try:
        _header, claims = decode_unverified(jwt_text)
    except Exception:  # noqa: BLE001 - any decoding failure means the same thing to the user
        raise EnrollmentError(f"{source} is not an enrollment JWT (expected header.claims.signature in base64url); "
                              "pass the file `identity create --jwt-out` wrote") from None
    if not isinstance(claims, dict):
        raise EnrollmentError(f"{source} is not an enrollment JWT: its claims are not a JSON object")
    missing = [name for name in ("iss", "sub", "jti", "em") if not isinstance(claims.get(name), str)]
    if missing:
        raise EnrollmentError(f"{source} is not an enrollment JWT: it lacks the claim(s) {', '.join(missing)}")
    return claims


def bootstrap(jwt_text: str, method: str) -> tuple[dict[str, Any], str]:
    """What every SDK-style enrollment does first: check the JWT is for `method`, check its signature against
    the certificate its issuer presents, and fetch the CA bundle trusting that certificate alone. Returns the
    claims and the CA bundle (PEM)."""
    claims = _claims(jwt_text)
    if claims.get("em") != method:
        raise EnrollmentError(f"this is not an {method} enrollment JWT (method {claims.get('em')!r})")
    iss = claims["iss"]
    try:
        server_cert = fetch_server_certificate(iss)
    except ConnectionRefusedError as error:
        raise ConnectionRefusedError(error.errno, f"connection refused by {iss} (the JWT's issuer)") from None
    verify_jwt_signature(jwt_text, server_cert)
    leaf_trust = tls_context(ca_pem=server_cert.public_bytes(Encoding.PEM).decode())
    leaf_trust.verify_flags |= _PARTIAL_CHAIN
    with Connection(iss, leaf_trust) as conn:
        return claims, certs_pem(fetch_ca_bundle(conn))


def enroll_ott(jwt_text: str, *, key_type: str = "ec-p256") -> IdentityFile:
    """Enroll with a one-time-token JWT; return the identity (certificate chain, new private key, CA bundle)."""
    claims, ca_pem = bootstrap(jwt_text, "ott")
    iss = claims["iss"]
    key = generate_private_key(key_type)
    subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "OpenZiti"), x509.NameAttribute(NameOID.COMMON_NAME, claims["sub"])])
    csr = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
    with Connection(iss, tls_context(ca_pem=ca_pem)) as conn:
        data = conn.data("POST", f"/edge/client/v1/enroll?method=ott&token={claims['jti']}",
                         body=csr.public_bytes(Encoding.PEM), content_type="text/plain")
    return IdentityFile(iss, data["cert"], private_key_pem(key).decode(), ca_pem)
