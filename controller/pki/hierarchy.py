"""The CA hierarchy on disk: root CA -> intermediate CA -> edge signer, plus the TLS server certificate.

Created on first start under `<data dir>/pki/`, reused afterwards. Private keys are written 0600 and never
leave this process. The edge signer is a CA (pathlen 0) that signs identity certificates; the server
certificate (issued by the intermediate) is what TLS presents and what signs enrollment JWTs.
"""

from __future__ import annotations

import fcntl
import ipaddress
import secrets
from dataclasses import dataclass
from functools import cached_property
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import NameOID

from controller.pki.bundle import cacerts_body
from controller.pki.certs import certs_pem, fingerprint, load_certs_pem
from controller.pki.issuing import Issuer, issue_ca, issue_server_cert
from controller.pki.keys import PrivateKey, generate_private_key, load_private_key_pem, private_key_pem, write_private_file

CA_LIFETIME = timedelta(days=3650)
SERVER_LIFETIME = timedelta(days=365)
SERVER_RENEW_BEFORE = timedelta(days=30)
ORG = "ziti-controller-sim"


@dataclass(frozen=True)
class Pki:
    root: Issuer
    intermediate: Issuer
    signer: Issuer
    server_cert: x509.Certificate
    server_key: PrivateKey
    trust_domain: str
    directory: Path

    @property
    def ca_certs(self) -> list[x509.Certificate]:
        """The edge CA bundle: every CA certificate, de-duplicated, in a stable order (root first)."""
        return [self.root.cert, self.intermediate.cert, self.signer.cert]

    @cached_property
    def ca_bundle_pem(self) -> str:
        return certs_pem(self.ca_certs)

    @cached_property
    def cacerts_body(self) -> bytes:
        """What /.well-known/est/cacerts serves; the bundle does not change while the process runs."""
        return cacerts_body(self.ca_certs)

    @property
    def ca_bundle_path(self) -> Path:
        return self.directory / "ca-bundle.pem"

    def chain_minus_root(self, leaf: x509.Certificate) -> list[x509.Certificate]:
        """What clients get back for an identity certificate: the leaf and every intermediate, no root."""
        return [leaf, self.signer.cert, self.intermediate.cert]

    @property
    def server_chain(self) -> list[x509.Certificate]:
        return [self.server_cert, self.intermediate.cert]

    def spiffe_identity_uri(self, identity_id: str) -> str:
        return f"spiffe://{self.trust_domain}/identity/{identity_id}"


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORG), x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _trust_domain_of(root: x509.Certificate) -> str | None:
    try:
        sans = root.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None
    for uri in sans.get_values_for_type(x509.UniformResourceIdentifier):
        if uri.startswith("spiffe://"):
            return uri.removeprefix("spiffe://").split("/", 1)[0]
    return None


class _Files:
    def __init__(self, directory: Path):
        self.directory = directory

    def exists(self, name: str) -> bool:
        return (self.directory / f"{name}.cert.pem").exists() and (self.directory / f"{name}.key.pem").exists()

    def load(self, name: str) -> tuple[list[x509.Certificate], PrivateKey]:
        certs = load_certs_pem((self.directory / f"{name}.cert.pem").read_bytes())
        return certs, load_private_key_pem((self.directory / f"{name}.key.pem").read_bytes())

    def save(self, name: str, certs: list[x509.Certificate], key: PrivateKey) -> None:
        write_private_file(self.directory / f"{name}.key.pem", private_key_pem(key))
        (self.directory / f"{name}.cert.pem").write_text(certs_pem(certs))


def load_or_create(
    directory: Path, *, ca_key_type: str, server_key_type: str, advertised_host: str,
    trust_domain: str | None, now: datetime,
) -> Pki:
    """Load the hierarchy from `directory`, creating what is missing. `now` is the wall clock: these
    certificates are judged by real clients' clocks, not by the simulated one."""
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    # Replicas sharing a data volume start together: only one may create the hierarchy.
    with open(directory / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _load_or_create_locked(directory, ca_key_type=ca_key_type, server_key_type=server_key_type,
                                      advertised_host=advertised_host, trust_domain=trust_domain, now=now)


def _load_or_create_locked(
    directory: Path, *, ca_key_type: str, server_key_type: str, advertised_host: str,
    trust_domain: str | None, now: datetime,
) -> Pki:
    files = _Files(directory)
    not_before = now - timedelta(hours=1)

    if files.exists("root-ca"):
        (root_cert, *_), root_key = files.load("root-ca")
        (inter_cert, *_), inter_key = files.load("intermediate-ca")
        (signer_cert, *_), signer_key = files.load("edge-signer")
    else:
        domain = trust_domain or f"ziti-sim-{secrets.token_hex(4)}"
        root_key = generate_private_key(ca_key_type)
        root_cert = issue_ca(
            subject=_name("ziti-controller-sim Root CA"), key=root_key, issuer=None, not_before=not_before,
            lifetime=CA_LIFETIME, path_length=None, sans=[x509.UniformResourceIdentifier(f"spiffe://{domain}")],
        )
        inter_key = generate_private_key(ca_key_type)
        inter_cert = issue_ca(
            subject=_name("ziti-controller-sim Intermediate CA"), key=inter_key, issuer=Issuer(root_cert, root_key),
            not_before=not_before, lifetime=CA_LIFETIME, path_length=1,
        )
        signer_key = generate_private_key(ca_key_type)
        signer_cert = issue_ca(
            subject=_name("ziti-controller-sim Edge Signer"), key=signer_key, issuer=Issuer(inter_cert, inter_key),
            not_before=not_before, lifetime=CA_LIFETIME, path_length=0,
        )
        files.save("root-ca", [root_cert], root_key)
        files.save("intermediate-ca", [inter_cert], inter_key)
        files.save("edge-signer", [signer_cert, inter_cert], signer_key)

    domain = _trust_domain_of(root_cert) or trust_domain or fingerprint(root_cert)
    intermediate = Issuer(inter_cert, inter_key)
    hosts = ["localhost", "127.0.0.1", "::1", advertised_host]

    server_cert = server_key = None
    if files.exists("server"):
        (server_cert, *_), server_key = files.load("server")
        if not _server_cert_usable(server_cert, intermediate, hosts, now, server_key_type, server_key):
            server_cert = None
    if server_cert is None:
        if server_key is None or _key_type_of(server_key) != server_key_type:
            server_key = generate_private_key(server_key_type)
        server_cert = issue_server_cert(
            issuer=intermediate, key=server_key, subject=_name(advertised_host), hosts=hosts,
            uris=[f"spiffe://{domain}/controller/ziti-controller-sim"], not_before=not_before, lifetime=SERVER_LIFETIME,
        )
        files.save("server", [server_cert, inter_cert], server_key)

    pki = Pki(
        root=Issuer(root_cert, root_key), intermediate=intermediate, signer=Issuer(signer_cert, signer_key),
        server_cert=server_cert, server_key=server_key, trust_domain=domain, directory=directory,
    )
    if not pki.ca_bundle_path.exists() or pki.ca_bundle_path.read_text() != pki.ca_bundle_pem:
        pki.ca_bundle_path.write_text(pki.ca_bundle_pem)
    return pki


def _key_type_of(key: PrivateKey) -> str:
    from cryptography.hazmat.primitives.asymmetric import ec

    if isinstance(key, ec.EllipticCurvePrivateKey):
        return f"ec-p{key.curve.key_size}"
    return f"rsa-{key.key_size}"


def _server_cert_usable(
    cert: x509.Certificate, issuer: Issuer, hosts: list[str], now: datetime, key_type: str, key: PrivateKey
) -> bool:
    """Re-issue the server certificate when the advertised host, the key type or the issuer changed, or
    when it is about to expire, so that a restart with other settings still serves a matching certificate."""
    if cert.issuer != issuer.cert.subject or _key_type_of(key) != key_type:
        return False
    if cert.not_valid_after_utc - SERVER_RENEW_BEFORE < now:
        return False
    try:
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    present = {str(v) for v in sans.get_values_for_type(x509.IPAddress)} | set(sans.get_values_for_type(x509.DNSName))
    for host in hosts:
        try:
            host = str(ipaddress.ip_address(host))
        except ValueError:
            pass
        if host not in present:
            return False
    return True
