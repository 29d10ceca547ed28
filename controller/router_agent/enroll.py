"""`ziti router enroll`, simulated: check the JWT against the controller's TLS key, fetch the CA bundle, make
a client key and a server key, post both CSRs to `/enroll?method=erott`, write everything 0600."""

from __future__ import annotations

import ipaddress
import json
from datetime import timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from controller.client.enroll import EnrollmentError, bootstrap
from controller.client.http import Connection, tls_context
from controller.pki.certs import load_certs_pem
from controller.pki.jwt import decode_unverified
from controller.pki.keys import generate_private_key, hash_for_key, private_key_pem
from controller.atomic import write_private
from controller.router_agent.files import RouterFiles

DEFAULT_SANS = ("localhost", "127.0.0.1", "::1")  # the default edge.csr.sans of `ziti create config router edge`


def make_csr(key, subject: x509.Name, sans: tuple[str, ...] | list[str]) -> str:  # noqa: ANN001
    names: list[x509.GeneralName] = []
    for san in sans:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(san)))
        except ValueError:
            names.append(x509.DNSName(san))
    builder = x509.CertificateSigningRequestBuilder().subject_name(subject)
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(key, hash_for_key(key)).public_bytes(Encoding.PEM).decode()


def enroll_router(jwt_text: str, directory: str | Path, *, key_type: str = "ec-p256", sans: tuple[str, ...] = DEFAULT_SANS) -> RouterFiles:
    _header, claims = decode_unverified(jwt_text.strip())
    if claims.get("em") == "erott" and not claims.get("ctrls"):
        raise EnrollmentError("the enrollment JWT names no control channel (ctrls); is the controller's control channel off?")
    claims, ca_pem = bootstrap(jwt_text.strip(), "erott")
    ctrls, iss = claims["ctrls"], claims["iss"]
    client_key, server_key = generate_private_key(key_type), generate_private_key(key_type)
    subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "OpenZiti"), x509.NameAttribute(NameOID.COMMON_NAME, claims["sub"])])
    body = {"certCsr": make_csr(client_key, subject, sans), "serverCertCsr": make_csr(server_key, subject, sans)}
    with Connection(iss, tls_context(ca_pem=ca_pem)) as conn:
        data = conn.data("POST", f"/edge/client/v1/enroll?method=erott&token={claims['jti']}", json_body=body)
    files = RouterFiles(Path(directory))
    files.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    write_private(files.key_path, private_key_pem(client_key))
    write_private(files.server_key_path, private_key_pem(server_key))
    write_private(files.cert_path, data["cert"].encode())
    write_private(files.server_cert_path, data["serverCert"].encode())
    write_private(files.ca_path, (data.get("ca") or ca_pem).encode())
    write_private(files.config_path, json.dumps({"id": claims["sub"], "ctrl": ctrls[0], "api": iss, "sans": list(sans)}, indent=2).encode())
    # The controller signs with NotBefore = its (simulated) now - 1 minute: the first clue to its clock.
    files.save_clock(load_certs_pem(data["cert"])[0].not_valid_before_utc + timedelta(minutes=1))
    return files
