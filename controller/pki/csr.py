"""CSR parsing and policy: what the controller accepts before it signs anything."""

from __future__ import annotations

import base64
import re

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from controller.errors import CouldNotProcessCsr
from controller.pki.der import drop_null_signature_parameters
from controller.pki.keys import describe_public_key

# What the real controller's Go crypto takes in a CSR (x509.ParseCertificateRequest, then CheckSignature):
# RSA (Go >= 1.24 refuses to verify signatures of keys under 1024 bits), ECDSA on the four NIST curves Go
# implements (P-224, P-256, P-384, P-521; secp256k1 and Brainpool are "unsupported elliptic curve"), and
# Ed25519. DSA parses but its signatures cannot be checked, and Ed448/X25519/X448 are unknown to Go.
GO_CURVES = (ec.SECP224R1, ec.SECP256R1, ec.SECP384R1, ec.SECP521R1)
MIN_RSA_BITS = 1024
ACCEPTED_KEYS = "RSA of at least 1024 bits, EC P-224, P-256, P-384, P-521 or Ed25519"


def is_accepted_public_key(key: object) -> bool:
    if isinstance(key, ec.EllipticCurvePublicKey):
        return isinstance(key.curve, GO_CURVES)
    if isinstance(key, rsa.RSAPublicKey):
        return key.key_size >= MIN_RSA_BITS
    return isinstance(key, ed25519.Ed25519PublicKey)

_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n(.+?)\r?\n-----END \1-----(\r?\n)?", re.DOTALL)


def parse_csr_pem(text: str | bytes, *, strict_trailing_data: bool = False) -> x509.CertificateSigningRequest:
    """Parse one PEM CSR and apply the policy: the signature must verify, and the key must be one the real
    controller's Go crypto takes (see ACCEPTED_KEYS). Any failure is 400 COULD_NOT_PROCESS_CSR with the reason as its cause.

    The real parser rejects any byte after the first PEM block (so two trailing newlines fail);
    `strict_trailing_data` reproduces that, otherwise trailing whitespace is tolerated.
    The block type is not checked (NEW CERTIFICATE REQUEST is accepted), as in the real controller.
    """
    data = text.encode() if isinstance(text, str) else text
    if not data.strip():
        raise CouldNotProcessCsr.with_reason("csr is empty")
    match = _PEM_BLOCK.search(data)
    if match is None:
        raise CouldNotProcessCsr.with_reason("could not decode csr: no PEM block found")
    rest = data[match.end():]
    if (rest if strict_trailing_data else rest.strip()):
        raise CouldNotProcessCsr.with_reason("unexpected PEM blocks at end of CSR")
    body = b"-----BEGIN CERTIFICATE REQUEST-----\n" + match.group(2) + b"\n-----END CERTIFICATE REQUEST-----\n"
    try:
        csr = x509.load_pem_x509_csr(body)
    except ValueError as exc:
        csr = _parse_normalised(match.group(2))
        if csr is None:
            raise CouldNotProcessCsr.with_reason(f"could not parse csr: {exc}") from None
    try:
        public_key = csr.public_key()
    except (ValueError, x509.UnsupportedGeneralNameType) as exc:
        raise CouldNotProcessCsr.with_reason(f"unsupported CSR public key: {exc}") from None
    if not is_accepted_public_key(public_key):
        raise CouldNotProcessCsr.with_reason(f"unsupported CSR key {describe_public_key(public_key)}: use {ACCEPTED_KEYS}")
    if not csr.is_signature_valid:
        raise CouldNotProcessCsr.with_reason("CSR signature validation failed: signature does not verify with the CSR's public key")
    return csr


def _parse_normalised(base64_body: bytes) -> x509.CertificateSigningRequest | None:
    """A second chance for CSRs that only carry an explicit NULL in their ECDSA signature algorithm."""
    try:
        fixed = drop_null_signature_parameters(base64.b64decode(base64_body))
        return x509.load_der_x509_csr(fixed) if fixed else None
    except ValueError:
        return None
