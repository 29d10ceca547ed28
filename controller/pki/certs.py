"""Certificate helpers shared by the whole PKI: fingerprints, PEM (de)serialisation, chains."""

from __future__ import annotations

import hashlib
import re

from cryptography import x509
from cryptography.hazmat.primitives import serialization

_PEM_CERT = re.compile(rb"-----BEGIN CERTIFICATE-----\r?\n.+?-----END CERTIFICATE-----", re.DOTALL)


def fingerprint(cert: x509.Certificate) -> str:
    """Lower-case hex SHA-1 of the DER, the key the real controller maps certificates to identities by."""
    return hashlib.sha1(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def public_key_print(cert: x509.Certificate) -> str:
    """Hex SHA-256 of the SubjectPublicKeyInfo: tells whether an extension rolled the key."""
    spki = cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(spki).hexdigest()


def cert_pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def certs_pem(certs: list[x509.Certificate]) -> str:
    return "".join(cert_pem(c) for c in certs)


def load_certs_pem(text: str | bytes) -> list[x509.Certificate]:
    """Every CERTIFICATE block in `text`, in order; raises ValueError when there is none or one is bad."""
    data = text.encode() if isinstance(text, str) else text
    blocks = _PEM_CERT.findall(data)
    if not blocks:
        raise ValueError("no PEM CERTIFICATE block found")
    return [x509.load_pem_x509_certificate(block) for block in blocks]


def is_ca(cert: x509.Certificate) -> bool:
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False