"""Third-party (external) CAs as the real controller treats them: which registered CA a client chain
belongs to, the verification certificate's proof of possession, and the `externalIdClaim` that maps a
certificate to an identity's `externalId`. Pure library: no SQL, no wall clock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.x509.oid import NameOID
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from controller.pki.certs import fingerprint, is_ca
from controller.pki.verify import ChainError

try:  # cryptography >= 45: third-party leaves often carry no SAN (a CN only), which the Web PKI profile demands
    from cryptography.x509.verification import Criticality, ExtensionPolicy

    _EE_POLICY = ExtensionPolicy.webpki_defaults_ee().may_be_present(x509.SubjectAlternativeName, Criticality.AGNOSTIC, None)
except ImportError:  # pragma: no cover - older cryptography: leaves need a SAN
    _EE_POLICY = None


def _builder(roots: list[x509.Certificate], at: datetime) -> PolicyBuilder:
    builder = PolicyBuilder().store(Store(roots)).time(at)
    if _EE_POLICY is not None:
        builder = builder.extension_policies(ca_policy=ExtensionPolicy.webpki_defaults_ca(), ee_policy=_EE_POLICY)
    return builder


@dataclass(frozen=True)
class TrustedCa:
    """A registered CA as the verifier needs it: its id and its certificate."""

    id: str
    cert: x509.Certificate


def verify_chain_at(
    leaf: x509.Certificate, intermediates: list[x509.Certificate], roots: list[x509.Certificate], *, at: datetime,
) -> list[x509.Certificate]:
    """Verify at `at`, EKU clientAuth (SAN optional); the chain, leaf first, or ChainError."""
    try:
        verifier = _builder(roots, at).build_client_verifier()
        return list(verifier.verify(leaf, intermediates).chain)
    except (VerificationError, ValueError) as exc:
        raise ChainError(str(exc)) from None


def matching_ca(
    peer_certs: list[x509.Certificate], cas: list[TrustedCa], *, now: datetime, check_time: bool,
) -> tuple[TrustedCa, list[x509.Certificate]] | None:
    """The registered CA the client's chain verifies to, and the verified chain; None if it verifies to none.

    Every registered CA certificate is a trust anchor (an intermediate CA can be registered on its own), and
    the client's other certificates are intermediates. Login ignores time (`check_time` False: the leaf is
    judged inside its own validity); enrollment checks it. The CA is the first certificate of the verified
    chain, from the leaf up, that is a registered CA (the real `getCaByChain`)."""
    if not peer_certs or not cas:
        return None
    leaf, presented = peer_certs[0], peer_certs[1:]
    roots = [ca.cert for ca in cas]
    try:
        # Login ignores time: the leaf is judged at a moment inside its own validity, as the real controller.
        at = now if check_time else min(max(now, leaf.not_valid_before_utc), leaf.not_valid_after_utc)
        chain = verify_chain_at(leaf, presented, roots, at=at)
    except ChainError:
        return None
    by_fingerprint = {fingerprint(ca.cert): ca for ca in cas}
    for cert in chain[1:]:
        found = by_fingerprint.get(fingerprint(cert))
        if found is not None:
            return found, chain
    return None


def check_verification_cert(cert: x509.Certificate, ca: x509.Certificate, *, now: datetime) -> None:
    """The CA verification proof: `cert` is signed by `ca` and valid now (EKU any). ChainError otherwise."""
    try:
        cert.verify_directly_issued_by(ca)
    except (InvalidSignature, ValueError, TypeError) as exc:  # bad signature, other issuer name, unusable key
        raise ChainError(f"the certificate is not signed by the CA: {exc or type(exc).__name__}") from None
    if not (cert.not_valid_before_utc <= now <= cert.not_valid_after_utc):
        raise ChainError("the certificate is expired or not yet valid")


def first_is_ca(certs: list[x509.Certificate]) -> bool:
    return bool(certs) and is_ca(certs[0])


def common_name(cert: x509.Certificate) -> str:
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    value = names[0].value if names else ""
    return value.decode() if isinstance(value, bytes) else value


# --- externalIdClaim ----------------------------------------------------------------------------------

LOCATIONS = ("COMMON_NAME", "SAN_URI", "SAN_EMAIL")
MATCHERS = ("ALL", "PREFIX", "SUFFIX", "SCHEME")
PARSERS = ("NONE", "SPLIT")


def _values_at(cert: x509.Certificate, location: str) -> list[str]:
    if location == "COMMON_NAME":
        name = common_name(cert)
        return [name] if name else []
    try:
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    kind = x509.UniformResourceIdentifier if location == "SAN_URI" else x509.RFC822Name
    return list(sans.get_values_for_type(kind))


def _matches(value: str, matcher: str, criteria: str) -> bool:
    if matcher == "PREFIX":
        return value.startswith(criteria)
    if matcher == "SUFFIX":
        return value.endswith(criteria)
    if matcher == "SCHEME":
        scheme, sep, _ = value.partition(":")
        return bool(sep) and scheme.lower() == criteria.lower()
    return True  # ALL


def extract_external_id(cert: x509.Certificate, claim: dict[str, Any]) -> str | None:
    """The certificate's `externalId` under the CA's claim rules, or None when the claim is not found.

    location picks the candidate values (subject CN, URI SANs, email SANs) in certificate order; matcher keeps
    those that match (ALL, PREFIX/SUFFIX of matcherCriteria, SCHEME of a URI); parser NONE keeps each value,
    SPLIT splits each on parserCriteria; index picks one of the results (default 0)."""
    location = claim.get("location") or "COMMON_NAME"
    matcher = claim.get("matcher") or "ALL"
    criteria = claim.get("matcherCriteria") or ""
    values = [v for v in _values_at(cert, location) if _matches(v, matcher, criteria)]
    if (claim.get("parser") or "NONE") == "SPLIT" and claim.get("parserCriteria"):
        values = [part for v in values for part in v.split(claim["parserCriteria"])]
    index = claim.get("index") or 0
    if not 0 <= index < len(values) or not values[index]:
        return None
    return values[index]
