"""What the SDKs' helper functions do: extend an identity's certificate, verify it, save the new identity.

Crash safety. Between `extend` and `extend-verify` the new certificate (and, on a key roll, the new key) is
the only thing that will authenticate once the verify commits, so it is written to '<file>.pending'
(atomically, 0600) before the verify is sent. The verify is never re-sent blindly (see `Connection`). A run
that finds a '.pending' file first finishes the interrupted extension:

- the current certificate still logs in: the swap did not happen; verify the pending certificate again
  (if the controller no longer holds it as pending, it is stale: drop it and extend afresh);
- the current certificate gets 401 and the pending one logs in: the swap happened but its answer was lost;
  write the identity file with the pending certificate;
- neither logs in: stop, keep every file, and say so.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from controller.client.errors import ControllerError, ExtensionInterrupted, IdentityFileError
from controller.client.http import Connection, tls_context
from controller.atomic import write_private
from controller.client.identity_file import IdentityFile
from controller.pki.certs import fingerprint, load_certs_pem
from controller.pki.keys import generate_private_key, hash_for_key, load_private_key_pem, private_key_pem


@dataclass(frozen=True)
class ExtendResult:
    authenticator_id: str
    old_fingerprint: str
    new_fingerprint: str
    rolled_key: bool
    not_after: str
    backup: Path | None
    recovered: bool = False  # finished an extension that an earlier run left pending


@dataclass(frozen=True)
class _Pending:
    identity: IdentityFile
    authenticator_id: str
    old_fingerprint: str
    rolled_key: bool


def pending_path(path: str | Path) -> Path:
    path = Path(path)
    return path.with_name(path.name + ".pending")


def _key_type(key) -> str:  # noqa: ANN001
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return f"ec-p{key.curve.key_size}"
    if isinstance(key, rsa.RSAPrivateKey):
        return f"rsa-{key.key_size}"
    return "ec-p256"


def _connect(identity: IdentityFile) -> Connection:
    return Connection(identity.zt_api, tls_context(ca_pem=identity.ca, cert_pem=identity.cert, key_pem=identity.key))


def _verify_path(authenticator_id: str) -> str:
    return f"/edge/client/v1/current-identity/authenticators/{authenticator_id}/extend-verify"


def _write_pending(path: Path, pending: _Pending) -> None:
    data = {**pending.identity.to_json(), "pendingExtension": {
        "authenticatorId": pending.authenticator_id, "oldFingerprint": pending.old_fingerprint, "rolledKey": pending.rolled_key}}
    write_private(pending_path(path), (json.dumps(data, indent=2) + "\n").encode())


def _read_pending(path: Path) -> _Pending | None:
    source = pending_path(path)
    if not source.exists():
        return None
    try:
        data = json.loads(source.read_text())
        meta = data["pendingExtension"]
        return _Pending(IdentityFile.from_json(data, source=str(source)), meta["authenticatorId"], meta["oldFingerprint"],
                        bool(meta.get("rolledKey")))
    except (ValueError, KeyError, TypeError, IdentityFileError):
        # atomic writes leave either a whole file or none; an unreadable one was not written by us
        raise IdentityFileError(f"{source} is not a pending extension this helper wrote; move it away and run again") from None


def _finish(path: Path, pending: _Pending, *, recovered: bool) -> ExtendResult:
    """The verify committed: the pending identity becomes the identity file (the old one kept as .bak)."""
    backup = pending.identity.save(path, backup=True)
    pending_path(path).unlink(missing_ok=True)
    leaf = load_certs_pem(pending.identity.cert)[0]
    return ExtendResult(pending.authenticator_id, pending.old_fingerprint, fingerprint(leaf), pending.rolled_key,
                        leaf.not_valid_after_utc.isoformat(), backup, recovered)


def _logs_in(identity: IdentityFile) -> Connection | None:
    """A connection logged in with this identity's certificate, or None when the controller answers 401."""
    conn = _connect(identity)
    try:
        conn.login_cert()
    except ControllerError as error:
        conn.close()
        if error.status == 401:
            return None
        raise
    except BaseException:
        conn.close()
        raise
    return conn


def _recover(path: Path, identity: IdentityFile, pending: _Pending) -> ExtendResult | None:
    """Finish what an interrupted run left; None when the pending extension is stale (extend afresh)."""
    if pending.identity.cert.strip() == identity.cert.strip():
        pending_path(path).unlink(missing_ok=True)  # the file was already rewritten; only the clean-up was lost
        return None
    conn = _logs_in(identity)
    if conn is not None:
        with conn:  # the swap did not happen: the verify is still to be done
            try:
                conn.data("POST", _verify_path(pending.authenticator_id), json_body={"clientCert": pending.identity.cert})
            except ControllerError as error:
                if error.status >= 500:
                    raise
                pending_path(path).unlink(missing_ok=True)  # the controller no longer holds it as pending
                return None
            except OSError:
                raise ExtensionInterrupted(_interrupted(path)) from None
        return _finish(path, pending, recovered=True)
    probe = _logs_in(pending.identity)
    if probe is None:
        raise ExtensionInterrupted(
            f"neither the certificate in {path} nor the pending one in {pending_path(path)} is accepted by "
            f"{identity.zt_api}; the identity needs a re-enrollment by an admin (files left as they are)")
    probe.close()
    return _finish(path, pending, recovered=True)  # the swap happened; its answer was lost


def _interrupted(path: Path) -> str:
    return (f"the connection dropped before the controller confirmed the new certificate; it is kept in "
            f"{pending_path(path)}: run the extension again to finish it")


def extend_identity(path: str | Path, *, roll_key: bool = False) -> ExtendResult:
    """Log in with the identity file's certificate, extend its cert authenticator with a CSR (same key, or a
    new one of the same type with `roll_key`), keep the new certificate and key in '<file>.pending', verify,
    then rewrite the identity file atomically, keeping the previous one as '<file>.bak'. An earlier run's
    interrupted extension is finished first (see the module doc). Raises ControllerError with the
    controller's code on refusal, ExtensionInterrupted when the outcome of the verify is unknown."""
    path = Path(path)
    identity = IdentityFile.load(path)
    pending = _read_pending(path)
    if pending is not None:
        result = _recover(path, identity, pending)
        if result is not None:
            return result
    old_leaf = load_certs_pem(identity.cert)[0]
    old_key = load_private_key_pem(identity.key.encode())
    with _connect(identity) as conn:
        session = conn.login_cert()
        authenticator_id = session.get("authenticatorId")
        if not authenticator_id:
            mine = conn.data("GET", "/edge/client/v1/current-identity/authenticators")
            authenticator_id = next(a["id"] for a in mine if a["method"] == "cert")
        key = generate_private_key(_key_type(old_key)) if roll_key else old_key
        subject = x509.Name([
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "OpenZiti"),
            x509.NameAttribute(NameOID.COMMON_NAME, session.get("identityId") or session["identity"]["id"]),
        ])
        csr = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hash_for_key(key))
        csr_pem = csr.public_bytes(serialization.Encoding.PEM).decode()
        base = f"/edge/client/v1/current-identity/authenticators/{authenticator_id}"
        certs = conn.data("POST", f"{base}/extend", json_body={"clientCertCsr": csr_pem})
        # Until the verify commits, the old certificate authenticates; from then on only this one does.
        pending = _Pending(IdentityFile(identity.zt_api, certs["clientCert"], private_key_pem(key).decode(), certs["ca"]),
                           authenticator_id, fingerprint(old_leaf), roll_key)
        _write_pending(path, pending)
        try:
            conn.data("POST", f"{base}/extend-verify", json_body={"clientCert": certs["clientCert"]})
        except OSError:  # dropped, timed out or refused: the verify may or may not have committed
            raise ExtensionInterrupted(_interrupted(path)) from None
        except ControllerError as error:
            if error.status < 500:
                pending_path(path).unlink(missing_ok=True)  # refused: nothing changed, the old certificate stays
            raise
    return _finish(path, pending, recovered=False)
