"""Signing an edge router's two certificates from its two CSRs, as the real erott module does (enrollment
and /enroll/extend/router alike): the client CSR's CN must be the router id."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.x509.oid import NameOID

from controller.errors import CouldNotProcessCsr
from controller.pki.csr import parse_csr_pem
from controller.pki.hierarchy import Pki
from controller.pki.issuing import issue_client_cert, issue_router_server_cert
from controller.settings import Settings

_SAN_TYPES = (x509.DNSName, x509.IPAddress, x509.RFC822Name, x509.UniformResourceIdentifier)


@dataclass(frozen=True)
class RouterCerts:
    client: x509.Certificate
    server: x509.Certificate


def _csr_sans(csr: x509.CertificateSigningRequest) -> list[x509.GeneralName]:
    try:
        names = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [name for name in names if isinstance(name, _SAN_TYPES)]


def sign(router_id: str, cert_csr: str, server_cert_csr: str, *, now: datetime, settings: Settings, pki: Pki) -> RouterCerts:
    """400 COULD_NOT_PROCESS_CSR for a bad CSR, or (with the nested cause EDGE_ROUTER_ENROLL_COMMON_NAME_INVALID)
    for a client CSR whose CN is not the router id."""
    strict = settings.compat_strict_csr_trailing_data
    client_csr = parse_csr_pem(cert_csr, strict_trailing_data=strict)
    common_names = [a.value for a in client_csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    if common_names != [router_id]:
        raise CouldNotProcessCsr(cause={
            "code": "EDGE_ROUTER_ENROLL_COMMON_NAME_INVALID", "status": 400,
            "message": "The edge router CSR enrollment must have a common name that matches the edge router's id",
            "cause": {"field": "commonName", "reason": f"expected {router_id}", "value": ", ".join(map(str, common_names))},
        })
    server_csr = parse_csr_pem(server_cert_csr, strict_trailing_data=strict)
    lifetime, compat = settings.router_cert_lifetime, settings.compat_ec_key_encipherment
    client = issue_client_cert(
        signer=pki.signer, public_key=client_csr.public_key(), subject=client_csr.subject, sans=_csr_sans(client_csr),
        now=now, lifetime=lifetime, compat_ec_key_encipherment=compat,
    )
    server = issue_router_server_cert(
        signer=pki.signer, public_key=server_csr.public_key(), subject=server_csr.subject, sans=_csr_sans(server_csr),
        now=now, lifetime=lifetime, compat_ec_key_encipherment=compat,
    )
    return RouterCerts(client, server)
