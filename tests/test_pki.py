"""The internal PKI: hierarchy, persistence, key protection, certificate profiles, CSR policy."""

from __future__ import annotations

import stat
from datetime import datetime, timedelta, timezone

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from controller.errors import CouldNotProcessCsr
from controller.pki.bundle import cacerts_body
from controller.pki.certs import fingerprint
from controller.pki.csr import parse_csr_pem
from controller.pki.hierarchy import load_or_create
from controller.pki.issuing import issue_client_cert
from controller.pki.keys import generate_private_key
from controller.pki.verify import verify_client_chain

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=timezone.utc)


def _pki(tmp_path, **kwargs):
    options = {"ca_key_type": "ec-p256", "server_key_type": "ec-p256", "advertised_host": "ctrl.example.test", "trust_domain": None, "now": NOW}
    options.update(kwargs)
    return load_or_create(tmp_path / "pki", **options)


def _ext(cert, cls):
    return cert.extensions.get_extension_for_class(cls).value


def test_hierarchy_is_root_intermediate_signer_and_server(tmp_path):
    pki = _pki(tmp_path)
    assert pki.root.cert.issuer == pki.root.cert.subject
    assert pki.intermediate.cert.issuer == pki.root.cert.subject
    assert pki.signer.cert.issuer == pki.intermediate.cert.subject
    assert _ext(pki.signer.cert, x509.BasicConstraints) == x509.BasicConstraints(ca=True, path_length=0)
    assert _ext(pki.intermediate.cert, x509.BasicConstraints).path_length == 1
    assert pki.server_cert.issuer == pki.intermediate.cert.subject
    sans = _ext(pki.server_cert, x509.SubjectAlternativeName)
    assert set(sans.get_values_for_type(x509.DNSName)) >= {"localhost", "ctrl.example.test"}
    assert {str(ip) for ip in sans.get_values_for_type(x509.IPAddress)} >= {"127.0.0.1", "::1"}
    assert _ext(pki.server_cert, x509.ExtendedKeyUsage) == x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH])


def test_private_keys_are_0600_and_reused_on_the_next_start(tmp_path):
    first = _pki(tmp_path)
    keys = sorted((tmp_path / "pki").glob("*.key.pem"))
    assert [k.name for k in keys] == ["edge-signer.key.pem", "intermediate-ca.key.pem", "root-ca.key.pem", "server.key.pem"]
    assert all(stat.S_IMODE(k.stat().st_mode) == 0o600 for k in keys)
    second = _pki(tmp_path)
    assert fingerprint(second.root.cert) == fingerprint(first.root.cert)
    assert fingerprint(second.server_cert) == fingerprint(first.server_cert)
    assert second.trust_domain == first.trust_domain


def test_server_certificate_is_reissued_for_a_new_advertised_host(tmp_path):
    first = _pki(tmp_path)
    second = _pki(tmp_path, advertised_host="10.1.2.3")
    assert fingerprint(second.root.cert) == fingerprint(first.root.cert)
    ips = {str(ip) for ip in _ext(second.server_cert, x509.SubjectAlternativeName).get_values_for_type(x509.IPAddress)}
    assert "10.1.2.3" in ips


@pytest.mark.parametrize("key_type, expected", [
    ("ec-p256", (ec.EllipticCurvePublicKey, 256)),
    ("ec-p384", (ec.EllipticCurvePublicKey, 384)),
    ("rsa-2048", (rsa.RSAPublicKey, 2048)),
])
def test_ca_and_server_key_types_are_selectable(tmp_path, key_type, expected):
    pki = _pki(tmp_path, ca_key_type=key_type, server_key_type=key_type)
    for cert in (pki.root.cert, pki.signer.cert, pki.server_cert):
        key = cert.public_key()
        assert isinstance(key, expected[0])
        assert (key.curve.key_size if isinstance(key, ec.EllipticCurvePublicKey) else key.key_size) == expected[1]


@pytest.mark.parametrize("client_key", ["ec-p256", "rsa-2048"])
def test_identity_certificates_are_rfc5280_clean(tmp_path, client_key):
    pki = _pki(tmp_path)
    key = generate_private_key(client_key)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "id-1")])
    uri = x509.UniformResourceIdentifier(pki.spiffe_identity_uri("id-1"))
    leaf = issue_client_cert(signer=pki.signer, public_key=key.public_key(), subject=subject, sans=[uri], now=NOW, lifetime=timedelta(days=365))
    assert leaf.not_valid_before_utc == NOW - timedelta(minutes=1)
    assert leaf.not_valid_after_utc == NOW + timedelta(days=365)
    assert 0 < leaf.serial_number < 2**159
    assert _ext(leaf, x509.ExtendedKeyUsage) == x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH])
    assert list(_ext(leaf, x509.SubjectAlternativeName)) == [uri]
    assert _ext(leaf, x509.AuthorityKeyIdentifier).key_identifier == _ext(pki.signer.cert, x509.SubjectKeyIdentifier).digest
    assert _ext(leaf, x509.SubjectKeyIdentifier).digest
    usage = _ext(leaf, x509.KeyUsage)
    assert usage.digital_signature and not usage.data_encipherment
    assert usage.key_encipherment is (client_key.startswith("rsa"))  # RFC 8813: never on EC keys
    chain = verify_client_chain(leaf, [pki.signer.cert, pki.intermediate.cert], [pki.root.cert], now=NOW)
    assert chain[-1] == pki.root.cert


def test_real_controllers_ec_key_encipherment_only_under_its_compat_switch(tmp_path):
    pki = _pki(tmp_path)
    key = generate_private_key("ec-p256")
    leaf = issue_client_cert(signer=pki.signer, public_key=key.public_key(), subject=x509.Name([]),
                             sans=[x509.UniformResourceIdentifier("spiffe://x/identity/y")], now=NOW,
                             lifetime=timedelta(days=1), compat_ec_key_encipherment=True)
    usage = _ext(leaf, x509.KeyUsage)
    assert usage.key_encipherment and usage.data_encipherment
    # An empty subject makes the SAN critical (RFC 5280 4.2.1.6).
    assert leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).critical


def test_expired_leaf_still_verifies_because_time_is_ignored(tmp_path):
    pki = _pki(tmp_path)
    key = generate_private_key("ec-p256")
    leaf = issue_client_cert(signer=pki.signer, public_key=key.public_key(), subject=x509.Name([]),
                             sans=[x509.UniformResourceIdentifier("spiffe://x/identity/y")], now=NOW, lifetime=timedelta(seconds=10))
    verify_client_chain(leaf, [pki.signer.cert, pki.intermediate.cert], [pki.root.cert], now=NOW + timedelta(days=30))


def _csr(key, *, sign_with=None):
    builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "c")]))
    return builder.sign(sign_with or key, None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256())


def rsa_768_key():
    """Too small for Go to verify its signature (and too small for cryptography to generate)."""
    return serialization.load_pem_private_key(RSA_768_PEM.encode(), None)


RSA_768_PEM = """-----BEGIN PRIVATE KEY-----
MIIB5AIBADANBgkqhkiG9w0BAQEFAASCAc4wggHKAgEAAmEAmUL3vtCoV2BBE2El
iTz+J/Cb/uQZSMeVU+XKM/R9qVOwBSVoyV2E0DWDDWcEYTeBlbc2kJdUbosesoXS
7lZxNHqhv93JSLfMKVs6ZBmTVojRk18Y4dvu+lzz/JcptPFNAgMBAAECYEJUDDpl
vWVLP/6uHXuejPQmGq0edJ7d2Y+ctHz1w+ijUlt3zDjRo2gksJn9SpT0WxI/401D
ohteniEh+lnVJz972l0DhR/Q+JDc9xT+Jfly8txRnZXsgv24ozrhWSWn9QIxAMnu
VjqgaNyGxQOYf5gLOJUkSuCVeE5bfNjrB8dpBIIFHvX2kSeKJksKgzXhKcpczwIx
AMJMg2UzY9b3yCch3FCjnExOv/9VlUO0J6f5onzfGsCc95/CgCsWZQdF8K+QPovv
IwIxAL0ih5GR/aXQdWfQxnHa0LygqaGBXpXGC0IBod+c9aPyt/UZZQvr0cInro4g
v8vS8QIwJU7bzAraGOTrIdh2nWVNFbnpU/Xy+1UUaESe1qtgT6vUQHDwe1WJgKQF
WzCvUd9RAjBrs8+eVv4wRYAfzD36LSRNH6fVU/KliqrZ9QWfGJYJqXOcEivevy7s
WI29x8cNGi0=
-----END PRIVATE KEY-----
"""


def _pem(csr):
    return csr.public_bytes(Encoding.PEM).decode()


@pytest.mark.parametrize("key", [
    ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP384R1()), ec.generate_private_key(ec.SECP521R1()),
    rsa.generate_private_key(public_exponent=65537, key_size=2048), ec.generate_private_key(ec.SECP224R1()),
    rsa.generate_private_key(public_exponent=65537, key_size=1024), ed25519.Ed25519PrivateKey.generate(),
], ids=["p256", "p384", "p521", "rsa2048", "p224", "rsa1024", "ed25519"])
def test_csr_policy_accepts_the_supported_keys(key):
    csr = parse_csr_pem(_pem(_csr(key)))
    assert csr.is_signature_valid


@pytest.mark.parametrize("make_pem, reason", [
    (lambda: "", "empty"),
    (lambda: "not a csr", "no PEM"),
    (lambda: _pem(_csr(rsa_768_key())), "RSA 768"),
    (lambda: _pem(_csr(ec.generate_private_key(ec.SECP256K1()))), "EC"),
    (lambda: _pem(_csr(dsa.generate_private_key(key_size=2048))), "DSA"),
    (lambda: _pem(_csr(ec.generate_private_key(ec.SECP256R1()))) + "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n", "unexpected"),
], ids=["empty", "garbage", "rsa768", "secp256k1", "dsa", "two-blocks"])
def test_csr_policy_refuses_with_could_not_process_csr(make_pem, reason):
    with pytest.raises(CouldNotProcessCsr) as excinfo:
        parse_csr_pem(make_pem())
    assert excinfo.value.status == 400 and excinfo.value.code == "COULD_NOT_PROCESS_CSR"
    assert excinfo.value.cause and "message" in excinfo.value.cause


def test_csr_with_a_broken_signature_is_refused():
    key = ec.generate_private_key(ec.SECP256R1())
    der = bytearray(_csr(key).public_bytes(Encoding.DER))
    der[-3] ^= 0x55  # inside the signature
    import base64

    pem = "-----BEGIN CERTIFICATE REQUEST-----\n" + base64.encodebytes(bytes(der)).decode() + "-----END CERTIFICATE REQUEST-----\n"
    with pytest.raises(CouldNotProcessCsr):
        parse_csr_pem(pem)


def test_trailing_newlines_are_tolerated_unless_the_strict_switch_is_on():
    pem = _pem(_csr(ec.generate_private_key(ec.SECP256R1()))) + "\n"
    parse_csr_pem(pem)
    with pytest.raises(CouldNotProcessCsr):
        parse_csr_pem(pem, strict_trailing_data=True)


def test_new_certificate_request_block_type_is_accepted():
    pem = _pem(_csr(ec.generate_private_key(ec.SECP256R1()))).replace("CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST")
    parse_csr_pem(pem)


def test_cacerts_body_deduplicates_and_drops_non_cas(tmp_path):
    pki = _pki(tmp_path)
    body = cacerts_body([pki.root.cert, pki.root.cert, pki.server_cert, pki.signer.cert])
    import base64

    from cryptography.hazmat.primitives.serialization import pkcs7

    certs = pkcs7.load_der_pkcs7_certificates(base64.b64decode(body))
    # A PKCS#7 SET OF is sorted by its DER encoding: compare as a set, with no duplicate left.
    assert sorted(fingerprint(c) for c in certs) == sorted([fingerprint(pki.root.cert), fingerprint(pki.signer.cert)])


def _der_len(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def _with_null_signature_parameters(der: bytes) -> bytes:
    """Re-encode a CSR the way libziti 0.29.3 does: ecdsa-with-SHA256 followed by an explicit NULL."""
    def tlv(data: bytes, pos: int) -> tuple[int, int, int]:
        length, start = data[pos + 1], pos + 2
        if length & 0x80:
            count = length & 0x7F
            length, start = int.from_bytes(data[start:start + count], "big"), start + count
        return data[pos], start, start + length

    _, outer_start, _ = tlv(der, 0)
    _, _, info_end = tlv(der, outer_start)
    _, alg_start, alg_end = tlv(der, info_end)
    algorithm = der[alg_start:alg_end] + b"\x05\x00"
    rebuilt = der[outer_start:info_end] + b"\x30" + _der_len(len(algorithm)) + algorithm + der[alg_end:]
    return b"\x30" + _der_len(len(rebuilt)) + rebuilt


def test_csr_with_null_ecdsa_parameters_from_old_c_sdks_is_accepted():
    import base64

    key = ec.generate_private_key(ec.SECP256R1())
    der = _with_null_signature_parameters(_csr(key).public_bytes(Encoding.DER))
    pem = "-----BEGIN CERTIFICATE REQUEST-----\n" + base64.encodebytes(der).decode() + "-----END CERTIFICATE REQUEST-----\n"
    with pytest.raises(ValueError):
        x509.load_pem_x509_csr(pem.encode())  # what cryptography alone says
    csr = parse_csr_pem(pem)
    assert csr.public_key() == key.public_key() and csr.is_signature_valid
