"""A throwaway external PKI for labs and tests: a root CA, an optional intermediate, client certificates,
and the certificate that proves possession of a CA key to `POST /cas/{id}/verify`. Keys are written 0600.

Layout of a directory: `root-ca.cert.pem`/`root-ca.key.pem`, optionally `intermediate-ca.cert.pem`/
`intermediate-ca.key.pem`, and per client `<name>.cert.pem` (leaf + intermediate) and `<name>.key.pem`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from controller.atomic import write_private
from controller.pki.certs import cert_pem, certs_pem, load_certs_pem
from controller.pki.issuing import BACKDATE, Issuer, _build, issue_ca, leaf_key_usage
from controller.pki.keys import PrivateKey, generate_private_key, load_private_key_pem, private_key_pem

CA_LIFETIME = timedelta(days=3650)
CLIENT_LIFETIME = timedelta(days=365)


@dataclass(frozen=True)
class ExternalCa:
    root: Issuer
    intermediate: Issuer | None
    directory: Path

    @property
    def signer(self) -> Issuer:
        """What signs client certificates: the intermediate when there is one."""
        return self.intermediate or self.root

    @property
    def root_pem(self) -> str:
        return cert_pem(self.root.cert)


@dataclass(frozen=True)
class ExternalCert:
    cert: x509.Certificate
    key: PrivateKey
    chain: list[x509.Certificate]  # leaf + intermediate (no root): what a client presents

    @property
    def chain_pem(self) -> str:
        return certs_pem(self.chain)

    @property
    def key_pem(self) -> str:
        return private_key_pem(self.key).decode()


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "External PKI"), x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def create_external_ca(
    directory: Path, *, name: str = "External Root CA", intermediate: bool = False, key_type: str = "ec-p256",
    now: datetime | None = None,
) -> ExternalCa:
    now = now or _utcnow()
    directory.mkdir(parents=True, exist_ok=True)
    root_key = generate_private_key(key_type)
    root = Issuer(issue_ca(subject=_name(name), key=root_key, issuer=None, not_before=now - BACKDATE, lifetime=CA_LIFETIME,
                           path_length=None), root_key)
    _save(directory, "root-ca", root)
    inter = None
    if intermediate:
        inter_key = generate_private_key(key_type)
        inter = Issuer(issue_ca(subject=_name(f"{name} Intermediate"), key=inter_key, issuer=root, not_before=now - BACKDATE,
                                lifetime=CA_LIFETIME, path_length=0), inter_key)
        _save(directory, "intermediate-ca", inter)
    return ExternalCa(root, inter, directory)


def _save(directory: Path, name: str, issuer: Issuer) -> None:
    (directory / f"{name}.cert.pem").write_text(cert_pem(issuer.cert))
    write_private(directory / f"{name}.key.pem", private_key_pem(issuer.key))


def _load(directory: Path, name: str) -> Issuer | None:
    cert_path = directory / f"{name}.cert.pem"
    if not cert_path.exists():
        return None
    return Issuer(load_certs_pem(cert_path.read_bytes())[0], load_private_key_pem((directory / f"{name}.key.pem").read_bytes()))


def load_external_ca(directory: Path) -> ExternalCa:
    root = _load(directory, "root-ca")
    if root is None:
        raise FileNotFoundError(f"no external CA in {directory} (root-ca.cert.pem missing)")
    return ExternalCa(root, _load(directory, "intermediate-ca"), directory)


def issue_external_cert(
    ca: ExternalCa, common_name: str, *, uris: list[str] | None = None, emails: list[str] | None = None,
    key_type: str = "ec-p256", now: datetime | None = None, lifetime: timedelta = CLIENT_LIFETIME,
) -> ExternalCert:
    """A client certificate (EKU clientAuth) signed by the CA's signer, with optional URI and email SANs."""
    now = now or _utcnow()
    key = generate_private_key(key_type)
    sans: list[x509.GeneralName] = [x509.UniformResourceIdentifier(u) for u in uris or []]
    sans += [x509.RFC822Name(e) for e in emails or []]
    cert = _build(
        subject=_name(common_name), public_key=key.public_key(), issuer=ca.signer, signing_key=ca.signer.key,
        not_before=now - BACKDATE, not_after=now + lifetime, key_usage=leaf_key_usage(key.public_key()),
        extended_key_usage=[ExtendedKeyUsageOID.CLIENT_AUTH], sans=sans or None,
    )
    chain = [cert] + ([ca.intermediate.cert] if ca.intermediate else [])
    return ExternalCert(cert, key, chain)


def save_external_cert(cert: ExternalCert, directory: Path, name: str) -> tuple[Path, Path]:
    cert_path, key_path = directory / f"{name}.cert.pem", directory / f"{name}.key.pem"
    cert_path.write_text(cert.chain_pem)
    write_private(key_path, private_key_pem(cert.key))
    return cert_path, key_path


def verification_cert(ca: Issuer, token: str, *, now: datetime | None = None) -> x509.Certificate:
    """The proof for `POST /cas/{id}/verify`: signed by the CA, common name = the CA's verificationToken."""
    now = now or _utcnow()
    key = generate_private_key("ec-p256")
    return _build(
        subject=x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, token)]), public_key=key.public_key(), issuer=ca,
        signing_key=ca.key, not_before=now - BACKDATE, not_after=now + timedelta(hours=1),
        key_usage=leaf_key_usage(key.public_key()), extended_key_usage=[ExtendedKeyUsageOID.CLIENT_AUTH],
    )
