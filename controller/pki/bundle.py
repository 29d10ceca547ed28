"""The CA bundle as the well-known EST endpoint serves it."""

from __future__ import annotations

import base64
import hashlib

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs7

from controller.pki.certs import is_ca

LINE = 64


def cacerts_body(certs: list[x509.Certificate]) -> bytes:
    """Base64 of a certs-only PKCS#7 of the CA certificates (de-duplicated by SHA-1), in 64-character lines
    joined by '\\n' with no trailing newline: the real layout. A body without any line break crashes the C SDK."""
    seen: set[bytes] = set()
    unique = []
    for cert in certs:
        if not is_ca(cert):
            continue
        digest = hashlib.sha1(cert.public_bytes(serialization.Encoding.DER)).digest()
        if digest not in seen:
            seen.add(digest)
            unique.append(cert)
    der = pkcs7.serialize_certificates(unique, serialization.Encoding.DER)
    text = base64.b64encode(der)
    return b"\n".join(text[i : i + LINE] for i in range(0, len(text), LINE))
