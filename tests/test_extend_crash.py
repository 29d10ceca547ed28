"""`identity extend` survives a controller that dies mid-extension (issue 7, item 3).

The controller here drops the connection at chosen moments: after the extend-verify committed but before its
answer left (as a kill -9 between commit and answer does), or before the verify reached the API at all. The
helper is run as a user types it (`main(argv)`), twice: the first run is interrupted, the second must leave
a working identity file. Both databases.
"""

from __future__ import annotations

import json
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from controller.cli.main import main
from controller.client import ControllerError
from controller.client.identity_file import IdentityFile
from controller.testing.harness import ControllerHarness

VERIFY_SUFFIX = "/extend-verify"


class DropAfterCommit:
    """ASGI wrapper: while armed, an extend-verify runs to its end (its transaction commits) and then the
    connection is cut instead of answering, as a controller killed at that instant would leave it."""

    def __init__(self, app: Any):
        self.app, self.armed, self.verifies = app, False, 0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope["path"].endswith(VERIFY_SUFFIX):
            await self.app(scope, receive, send)
            return
        self.verifies += 1
        if not self.armed:
            await self.app(scope, receive, send)
            return

        async def swallow(message: dict[str, Any]) -> None:
            pass

        await self.app(scope, receive, swallow)
        scope["extensions"]["ziti.abort"]()


@pytest.fixture
def crashy(isolated_database_url: str | None) -> Iterator[tuple[ControllerHarness, DropAfterCommit]]:
    from controller.api.app import create_app
    from controller.runtime import Runtime
    from controller.server.run import BackgroundServer, bind_socket
    from controller.settings import Settings

    workdir = Path(tempfile.mkdtemp(prefix="ziti-sim-crash-"))
    sock = bind_socket("127.0.0.1", 0)
    settings = Settings(mode="fixture", data_dir=workdir / "data", address=f"127.0.0.1:{sock.getsockname()[1]}",
                        database_url=isolated_database_url, admin_password=secrets.token_urlsafe(16), log_level="warning")
    runtime = Runtime.start(settings)
    wrapper = DropAfterCommit(create_app(runtime))
    server = BackgroundServer(runtime, wrapper, sock).start()
    harness = ControllerHarness(runtime, server, workdir, True)
    try:
        yield harness, wrapper
    finally:
        harness.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def login_status(ctl: ControllerHarness, identity: IdentityFile) -> int:
    try:
        with ctl.connect(cert_pem=identity.cert, key_pem=identity.key) as conn:
            conn.login_cert()
    except ControllerError as error:
        return error.status
    return 200


def sha1(pem: str) -> str:
    return x509.load_pem_x509_certificates(pem.encode())[0].fingerprint(hashes.SHA1()).hex()


@pytest.mark.parametrize("roll_key", [False, True], ids=["same-key", "roll-key"])
def test_verify_committed_but_answer_lost_then_next_run_finishes(crashy, tmp_path, capsys, roll_key):
    ctl, wrapper = crashy
    ident = ctl.enroll_identity("storm")
    path = ident.json_path
    before = IdentityFile.load(path)
    roll = ["--roll-key"] if roll_key else []

    wrapper.armed = True
    assert main(["identity", "extend", "--identity", str(path), *roll]) == 1
    err = capsys.readouterr().err
    assert wrapper.verifies == 1, "the verify must not be re-sent blindly after the connection dropped"
    assert "run the extension again" in err and "Traceback" not in err
    # The verify committed: the old certificate is dead; the new one and its key are on disk, 0600.
    assert login_status(ctl, before) == 401
    pending_file = path.with_name(path.name + ".pending")
    assert pending_file.stat().st_mode & 0o777 == 0o600
    verified = [e for e in ctl.journal.events(kind="extend-verify") if e["outcome"] == "success"]
    assert len(verified) == 1
    assert IdentityFile.load(path).cert == before.cert  # not rewritten yet

    wrapper.armed = False
    assert main(["identity", "extend", "--identity", str(path), *roll]) == 0
    result = json.loads(capsys.readouterr().out)
    after = IdentityFile.load(path)
    assert login_status(ctl, after) == 200
    assert sha1(after.cert) == verified[0]["newFingerprint"] == result["newFingerprint"]
    assert result["oldFingerprint"] == sha1(before.cert)
    assert result["recovered"] is True
    assert (after.key != before.key) is roll_key
    assert not pending_file.exists()
    assert path.stat().st_mode & 0o777 == 0o600
    assert wrapper.verifies == 1  # the swap was detected, not verified a second time
    # the .bak holds the previous identity
    assert IdentityFile.load(path.with_name(path.name + ".bak")).cert == before.cert


def test_verify_never_reached_the_controller_then_next_run_verifies_the_pending_cert(crashy, capsys):
    ctl, wrapper = crashy
    ident = ctl.enroll_identity("half")
    path = ident.json_path
    before = IdentityFile.load(path)
    ctl.faults.add(f"*{VERIFY_SUFFIX}", method="POST", drop_connection=True)

    assert main(["identity", "extend", "--identity", str(path), "--roll-key"]) == 1
    assert "run the extension again" in capsys.readouterr().err
    assert wrapper.verifies == 1  # not re-sent after the drop
    assert ctl.journal.events(kind="extend-verify") == []  # the fault dropped it before the API
    pending = json.loads(path.with_name(path.name + ".pending").read_text())
    assert login_status(ctl, before) == 200  # nothing swapped yet
    issued = [e for e in ctl.journal.events(kind="extend") if e["outcome"] == "success"]
    assert len(issued) == 1 and sha1(pending["id"]["cert"].removeprefix("pem:")) == issued[0]["newFingerprint"]

    ctl.faults.clear()
    assert main(["identity", "extend", "--identity", str(path), "--roll-key"]) == 0
    result = json.loads(capsys.readouterr().out)
    after = IdentityFile.load(path)
    # the run finished the pending extension (its certificate and key), it did not start another one
    assert sha1(after.cert) == issued[0]["newFingerprint"] == result["newFingerprint"]
    assert len(ctl.journal.events(kind="extend")) == 1
    assert login_status(ctl, after) == 200
    assert login_status(ctl, before) == 401
    assert not path.with_name(path.name + ".pending").exists()


def test_a_stale_pending_extension_is_dropped_and_the_extension_runs_afresh(crashy, capsys):
    """The controller no longer holds the pending certificate (another extension replaced it): the helper
    neither locks the identity out nor gives up; it extends again."""
    ctl, wrapper = crashy
    ident = ctl.enroll_identity("stale")
    path = ident.json_path
    ctl.faults.add(f"*{VERIFY_SUFFIX}", method="POST", drop_connection=True, times=1)
    assert main(["identity", "extend", "--identity", str(path)]) == 1
    capsys.readouterr()
    # another client extends the same authenticator: the server's pending certificate is now another one
    with ident.connect() as conn:
        session = conn.login_cert()
        from conftest import make_csr

        csr, _key = make_csr(common_name=ident.id)
        conn.data("POST", f"/edge/client/v1/current-identity/authenticators/{session['authenticatorId']}/extend",
                  json_body={"clientCertCsr": csr})
    assert main(["identity", "extend", "--identity", str(path)]) == 0
    assert login_status(ctl, IdentityFile.load(path)) == 200
    assert not path.with_name(path.name + ".pending").exists()
