"""Enrollment JWTs signed with the TLS server certificate's key, because SDKs verify the JWT against the
certificate the controller presents at `iss` (trust on first use)."""

from __future__ import annotations

import base64
import json
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from controller.pki.certs import fingerprint
from controller.pki.keys import PrivateKey, hash_for_key


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt_algorithm(key: PrivateKey) -> str:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return {256: "ES256", 384: "ES384", 521: "ES512"}[key.curve.key_size]
    return "RS256"


def sign_jwt(claims: dict[str, Any], *, key: PrivateKey, cert: x509.Certificate) -> str:
    header = {"alg": jwt_algorithm(key), "kid": fingerprint(cert), "typ": "JWT"}
    signing_input = f"{_b64(json.dumps(header, separators=(',', ':')).encode())}.{_b64(json.dumps(claims, separators=(',', ':')).encode())}"
    digest = hash_for_key(key)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        r, s = decode_dss_signature(key.sign(signing_input.encode(), ec.ECDSA(digest)))
        size = (key.curve.key_size + 7) // 8
        signature = r.to_bytes(size, "big") + s.to_bytes(size, "big")  # JWS wants raw r||s, not DER
    elif isinstance(key, rsa.RSAPrivateKey):
        signature = key.sign(signing_input.encode(), padding.PKCS1v15(), digest)
    else:  # pragma: no cover - keys.load_private_key_pem refuses other types
        raise TypeError(f"cannot sign a JWT with {type(key).__name__}")
    return f"{signing_input}.{_b64(signature)}"


def decode_unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(header, claims) of a compact JWS, without checking the signature."""
    try:
        header, claims, _ = token.strip().split(".")
        pad = lambda s: s + "=" * (-len(s) % 4)  # noqa: E731
        return json.loads(base64.urlsafe_b64decode(pad(header))), json.loads(base64.urlsafe_b64decode(pad(claims)))
    except ValueError as exc:
        raise ValueError(f"not a JWT: {exc}") from None
