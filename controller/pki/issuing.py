"""Signing profiles: CAs, the TLS server certificate, identity (client) and edge router certificates.

Every certificate carries subject and authority key identifiers and a KeyUsage that RFC 5280 / RFC 8813
allow for its key type, so a linter such as pkilint finds nothing to object to.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID

from controller.pki.keys import PrivateKey, hash_for_key

BACKDATE = timedelta(minutes=1)  # the real controller's NotBefore = now - 1 minute


@dataclass(frozen=True)
class Issuer:
    cert: x509.Certificate
    key: PrivateKey


def _key_usage(*, digital_signature=False, key_encipherment=False, data_encipherment=False, cert_sign=False) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature, content_commitment=False, key_encipherment=key_encipherment,
        data_encipherment=data_encipherment, key_agreement=False, key_cert_sign=cert_sign, crl_sign=cert_sign,
        encipher_only=False, decipher_only=False,
    )


def leaf_key_usage(public_key: CertificatePublicKeyTypes, *, compat_ec_key_encipherment: bool = False) -> x509.KeyUsage:
    """digitalSignature, plus keyEncipherment for RSA. The real controller also sets keyEncipherment and
    dataEncipherment on EC keys, which RFC 8813 forbids; that is reproduced only when asked for."""
    if compat_ec_key_encipherment:
        return _key_usage(digital_signature=True, key_encipherment=True, data_encipherment=True)
    return _key_usage(digital_signature=True, key_encipherment=isinstance(public_key, rsa.RSAPublicKey))


def _build(
    *,
    subject: x509.Name,
    public_key: CertificatePublicKeyTypes,
    issuer: Issuer | None,
    signing_key: PrivateKey,
    not_before: datetime,
    not_after: datetime,
    key_usage: x509.KeyUsage,
    ca_path_length: int | None | bool = False,
    extended_key_usage: list[x509.ObjectIdentifier] | None = None,
    sans: list[x509.GeneralName] | None = None,
) -> x509.Certificate:
    issuer_name = issuer.cert.subject if issuer else subject
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())  # positive, at most 159 bits, as the real signer
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(key_usage, critical=True)
    )
    authority_key = issuer.cert.public_key() if issuer else public_key
    builder = builder.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(authority_key), critical=False)
    if ca_path_length is not False:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=ca_path_length), critical=True)
    else:
        builder = builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
    if extended_key_usage:
        builder = builder.add_extension(x509.ExtendedKeyUsage(extended_key_usage), critical=False)
    if sans:
        # RFC 5280 4.2.1.6: with an empty subject the SAN extension must be critical.
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=len(subject) == 0)
    return builder.sign(signing_key, hash_for_key(signing_key))


def issue_ca(
    *, subject: x509.Name, key: PrivateKey, issuer: Issuer | None, not_before: datetime, lifetime: timedelta,
    path_length: int | None, sans: list[x509.GeneralName] | None = None,
) -> x509.Certificate:
    return _build(
        subject=subject, public_key=key.public_key(), issuer=issuer, signing_key=issuer.key if issuer else key,
        not_before=not_before, not_after=not_before + lifetime, key_usage=_key_usage(cert_sign=True),
        ca_path_length=path_length, sans=sans,
    )


def issue_server_cert(
    *, issuer: Issuer, key: PrivateKey, subject: x509.Name, hosts: list[str], uris: list[str],
    not_before: datetime, lifetime: timedelta,
) -> x509.Certificate:
    sans: list[x509.GeneralName] = []
    for host in dict.fromkeys(hosts):
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            sans.append(x509.DNSName(host))
    sans += [x509.UniformResourceIdentifier(u) for u in uris]
    public_key = key.public_key()
    return _build(
        subject=subject, public_key=public_key, issuer=issuer, signing_key=issuer.key,
        not_before=not_before, not_after=not_before + lifetime,
        key_usage=leaf_key_usage(public_key), extended_key_usage=[ExtendedKeyUsageOID.SERVER_AUTH], sans=sans,
    )


def issue_client_cert(
    *, signer: Issuer, public_key: CertificatePublicKeyTypes, subject: x509.Name, sans: list[x509.GeneralName],
    now: datetime, lifetime: timedelta, compat_ec_key_encipherment: bool = False,
) -> x509.Certificate:
    """The identity certificate profile: subject as given (from the CSR), the SANs the caller chose, EKU
    clientAuth only, NotBefore now - 1 min, NotAfter now + lifetime (not capped to the signer's expiry)."""
    return _build(
        subject=subject, public_key=public_key, issuer=signer, signing_key=signer.key,
        not_before=now - BACKDATE, not_after=now + lifetime,
        key_usage=leaf_key_usage(public_key, compat_ec_key_encipherment=compat_ec_key_encipherment),
        extended_key_usage=[ExtendedKeyUsageOID.CLIENT_AUTH], sans=sans,
    )


def issue_router_server_cert(
    *, signer: Issuer, public_key: CertificatePublicKeyTypes, subject: x509.Name, sans: list[x509.GeneralName],
    now: datetime, lifetime: timedelta, compat_ec_key_encipherment: bool = False,
) -> x509.Certificate:
    """The edge router server certificate profile: subject and SANs (DNS, IP, email, URI) as the router's
    server CSR asks, EKU serverAuth only, NotBefore now - 1 min, NotAfter now + lifetime."""
    return _build(
        subject=subject, public_key=public_key, issuer=signer, signing_key=signer.key,
        not_before=now - BACKDATE, not_after=now + lifetime,
        key_usage=leaf_key_usage(public_key, compat_ec_key_encipherment=compat_ec_key_encipherment),
        extended_key_usage=[ExtendedKeyUsageOID.SERVER_AUTH], sans=sans,
    )
