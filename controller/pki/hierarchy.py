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
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.x509.oid import NameOID

from controller.pki.bundle import cacerts_body
from controller.pki.certs import certs_pem, fingerprint, load_certs_pem
from controller.pki.issuing import Issuer, issue_ca, issue_server_cert
from controller.atomic import PRIVATE, PUBLIC, write_atomic
from controller.pki.keys import PrivateKey, generate_private_key, load_private_key_pem, private_key_pem

CA_LIFETIME = timedelta(days=3650)
SERVER_LIFETIME = timedelta(days=365)
SERVER_RENEW_BEFORE = timedelta(days=30)
ORG = "ziti-controller-sim"
CA_NAMES = ("root-ca", "intermediate-ca", "edge-signer")


class PkiDamaged(Exception):
    """The CA files on disk are incomplete or inconsistent (e.g. a first start interrupted while writing
    them). The message is one line: what is wrong and what to do."""


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

    def paths(self, name: str) -> tuple[Path, Path]:
        return self.directory / f"{name}.cert.pem", self.directory / f"{name}.key.pem"

    def any_exists(self, name: str) -> bool:
        return any(p.exists() for p in self.paths(name))

    def load(self, name: str) -> tuple[list[x509.Certificate], PrivateKey]:
        """The certificates and the key, checked: both present, parseable, and the key is the leaf's."""
        cert_path, key_path = self.paths(name)
        for path in (cert_path, key_path):
            if not path.exists():
                raise PkiDamaged(f"{path.name} is missing")
            if path.stat().st_size == 0:
                raise PkiDamaged(f"{path.name} is empty")
        try:
            certs = load_certs_pem(cert_path.read_bytes())
        except ValueError:
            raise PkiDamaged(f"{cert_path.name} holds no readable certificate") from None
        if not certs:
            raise PkiDamaged(f"{cert_path.name} holds no certificate")
        try:
            key = load_private_key_pem(key_path.read_bytes())
        except (ValueError, TypeError, UnsupportedAlgorithm):
            raise PkiDamaged(f"{key_path.name} holds no readable private key") from None
        if _public_der(key.public_key()) != _public_der(certs[0].public_key()):
            raise PkiDamaged(f"{key_path.name} does not match {cert_path.name}")
        return certs, key

    def save(self, name: str, certs: list[x509.Certificate], key: PrivateKey) -> None:
        cert_path, key_path = self.paths(name)
        write_atomic(key_path, private_key_pem(key), mode=PRIVATE)
        write_atomic(cert_path, certs_pem(certs), mode=PUBLIC)


def _public_der(public_key: object) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)  # type: ignore[attr-defined]


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

    if any(files.any_exists(name) for name in CA_NAMES):
        try:
            (root_cert, *_), root_key = files.load("root-ca")
            (inter_cert, *_), inter_key = files.load("intermediate-ca")
            (signer_cert, *_), signer_key = files.load("edge-signer")
            _check_chain(root_cert, inter_cert, signer_cert)
        except PkiDamaged as damage:
            raise PkiDamaged(
                f"the PKI in {directory} is damaged ({damage}), perhaps by an interrupted first start: restore the "
                f"directory from a backup, or delete it to create a new PKI (identities enrolled under the old one "
                f"must then enroll again)"
            ) from None
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
    if files.any_exists("server"):
        try:
            (server_cert, *_), server_key = files.load("server")
        except PkiDamaged:  # derived from the CAs: an unreadable one is simply issued again
            server_cert = server_key = None
        if server_cert is not None and not _server_cert_usable(server_cert, intermediate, hosts, now, server_key_type, server_key):
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
        write_atomic(pki.ca_bundle_path, pki.ca_bundle_pem, mode=PUBLIC)
    return pki


def _check_chain(root: x509.Certificate, intermediate: x509.Certificate, signer: x509.Certificate) -> None:
    for child, parent, names in ((intermediate, root, "intermediate-ca.cert.pem was not issued by root-ca.cert.pem"),
                                 (signer, intermediate, "edge-signer.cert.pem was not issued by intermediate-ca.cert.pem")):
        try:
            child.verify_directly_issued_by(parent)
        except (ValueError, TypeError, InvalidSignature):
            raise PkiDamaged(names) from None


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
