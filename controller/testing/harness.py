"""An in-process controller on an ephemeral port with real TLS, and handles on what a test controls:
the clock, faults, the journal, reset and snapshots, identities. Everything goes over HTTPS, exactly as
an SDK under test would talk to the controller."""

from __future__ import annotations

import secrets
import shutil
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from controller.atomic import forget_throwaway_directory, throwaway_directory
from controller.client.enroll import enroll_ott
from controller.client.http import Connection, tls_context
from controller.client.identity_file import IdentityFile


@dataclass
class EnrolledIdentity:
    id: str
    name: str
    directory: Path
    identity: IdentityFile

    @property
    def json_path(self) -> Path:
        return self.directory / f"{self.name}.json"

    @property
    def cert_path(self) -> Path:
        return self.directory / f"{self.name}.cert.pem"

    @property
    def key_path(self) -> Path:
        return self.directory / f"{self.name}.key.pem"

    @property
    def ca_path(self) -> Path:
        return self.directory / f"{self.name}.ca.pem"

    def reload(self) -> "EnrolledIdentity":
        """Re-read the identity JSON (after an extension rewrote it) and refresh the PEM files."""
        self.identity = IdentityFile.load(self.json_path)
        self._write_pems()
        return self

    def _write_pems(self) -> None:
        self.cert_path.write_text(self.identity.cert)
        self.key_path.touch(0o600)
        self.key_path.write_text(self.identity.key)
        self.ca_path.write_text(self.identity.ca)

    def connect(self, *, present_cert: bool = True) -> Connection:
        """A keep-alive connection that trusts the network's CAs and presents this identity's certificate."""
        ident = self.identity
        context = tls_context(ca_pem=ident.ca, cert_pem=ident.cert if present_cert else None, key_pem=ident.key if present_cert else None)
        return Connection(ident.zt_api, context)


class Clock:
    def __init__(self, admin: Connection):
        self._admin = admin

    def now(self) -> datetime:
        return datetime.fromisoformat(self._admin.data("GET", "/sim/v1/clock")["now"].replace("Z", "+00:00"))

    def advance(self, by: str | float) -> dict[str, Any]:
        return self._admin.data("POST", "/sim/v1/clock/advance", json_body={"by": by})

    def set(self, when: datetime | str) -> dict[str, Any]:
        return self._admin.data("PUT", "/sim/v1/clock", json_body={"now": when if isinstance(when, str) else when.isoformat()})

    def freeze(self) -> dict[str, Any]:
        return self._admin.data("POST", "/sim/v1/clock/freeze")

    def unfreeze(self) -> dict[str, Any]:
        return self._admin.data("POST", "/sim/v1/clock/unfreeze")


class Faults:
    def __init__(self, admin: Connection):
        self._admin = admin

    def add(self, path: str, *, method: str = "*", status: int | None = None, code: str | None = None,
            message: str | None = None, delay_ms: int = 0, drop_connection: bool = False, probability: float = 1.0,
            times: int | None = None, seed: int = 0, identity_id: str | None = None, drop_message: bool = False) -> str:
        body = {"path": path, "method": method, "status": status, "code": code, "message": message, "delayMs": delay_ms,
                "dropConnection": drop_connection, "dropMessage": drop_message, "probability": probability,
                "times": times, "seed": seed, "identityId": identity_id}
        return self._admin.data("POST", "/sim/v1/faults", json_body={k: v for k, v in body.items() if v is not None})["id"]

    def add_ctrl(self, content_type: int | str, *, router_id: str = "*", code: str | None = None, message: str | None = None,
                 drop_message: bool = False, drop_connection: bool = False, delay_ms: int = 0, times: int | None = None) -> str:
        """A control-channel rule: content type 0 (the hello: dropConnection closes after the result), 20302,
        20301 (outgoing: dropMessage withholds it), 20303 (code: answered with that error code), ..."""
        return self.add(f"ctrl/{router_id}/{content_type}", method="CTRL", code=code, message=message,
                        drop_message=drop_message, drop_connection=drop_connection, delay_ms=delay_ms, times=times)

    def list(self) -> list[dict[str, Any]]:
        return self._admin.data("GET", "/sim/v1/faults")

    def clear(self) -> None:
        self._admin.data("DELETE", "/sim/v1/faults")


class Journal:
    def __init__(self, admin: Connection):
        self._admin = admin

    @staticmethod
    def _query(**filters: Any) -> str:
        names = {"identity_id": "identityId", "after_seq": "afterSeq"}
        return "&".join(f"{names.get(k, k)}={v}" for k, v in filters.items() if v is not None)

    def events(self, **filters: Any) -> list[dict[str, Any]]:
        return self._admin.data("GET", f"/sim/v1/events?{self._query(**filters)}")

    def wait_for(self, *, timeout: float = 10.0, **filters: Any) -> list[dict[str, Any]]:
        events = self._admin.data("GET", f"/sim/v1/events/wait?{self._query(timeout=timeout, **filters)}")
        if not events:
            raise TimeoutError(f"no event matching {filters} within {timeout}s")
        return events


class ControllerHarness:
    """Start with `ControllerHarness.start()`, stop with `.stop()` (or use it as a context manager)."""

    def __init__(self, runtime: Any, server: Any, workdir: Path, owns_workdir: bool):
        self.runtime, self._server, self.workdir, self._owns_workdir = runtime, server, workdir, owns_workdir
        settings = runtime.settings
        self.url: str = settings.api_url
        self.ctrl_address: str | None = settings.ctrl_url  # "tls:host:port" (the JWT ctrls), None when disabled
        self.ca_bundle: Path = runtime.pki.ca_bundle_path
        self.admin_username: str = settings.admin_username
        self.admin_password: str = runtime.admin_password
        self.admin = self.connect()
        self.admin.relogin = lambda: self.admin.login_password(self.admin_username, self.admin_password)
        self.admin.relogin()
        self.clock, self.faults, self.journal = Clock(self.admin), Faults(self.admin), Journal(self.admin)
        self._identity_dir = workdir / "identities"
        self._identity_dir.mkdir(exist_ok=True)

    @classmethod
    def start(cls, *, database_url: str | None = None, workdir: Path | None = None, **settings: Any) -> "ControllerHarness":
        from controller.api.app import create_app
        from controller.runtime import Runtime
        from controller.server.run import BackgroundServer, bind_ctrl_socket, bind_socket
        from controller.settings import Settings

        owns = workdir is None
        workdir = Path(tempfile.mkdtemp(prefix="ziti-sim-")) if workdir is None else workdir
        if owns:
            throwaway_directory(workdir)  # removed by stop(): its files need no fsync
        sock = bind_socket("127.0.0.1", 0)
        port = sock.getsockname()[1]
        settings.setdefault("ctrl_address", "127.0.0.1:0")
        config = Settings(mode="fixture", data_dir=workdir / "data", address=f"127.0.0.1:{port}", database_url=database_url,
                          admin_password=settings.pop("admin_password", secrets.token_urlsafe(16)), log_level="warning", **settings)
        config, ctrl_sock = bind_ctrl_socket(config)
        runtime = Runtime.start(config)
        server = BackgroundServer(runtime, create_app(runtime), sock, ctrl_sock).start()
        return cls(runtime, server, workdir, owns)

    def stop(self) -> None:
        self.admin.close()
        self._server.stop()
        self.runtime.close()
        if self._owns_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
            forget_throwaway_directory(self.workdir)

    def __enter__(self) -> "ControllerHarness":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def connect(self, **tls: Any) -> Connection:
        """A new connection trusting the network's CAs; pass cert_pem/key_pem to present a certificate."""
        return Connection(self.url, tls_context(ca_file=self.ca_bundle, **tls))

    def reset(self) -> None:
        self.admin.data("POST", "/sim/v1/reset")

    def snapshot(self, name: str) -> None:
        self.admin.data("POST", "/sim/v1/snapshots", json_body={"name": name})

    def restore(self, name: str) -> None:
        self.admin.data("POST", f"/sim/v1/snapshots/{name}/restore")

    def create_identity(self, name: str, *, admin: bool = False) -> tuple[str, str]:
        """Create an identity with an OTT enrollment; return (id, enrollment JWT)."""
        created = self.admin.data("POST", "/edge/management/v1/identities",
                                  json_body={"name": name, "type": "Default", "isAdmin": admin, "enrollment": {"ott": True}})
        detail = self.admin.data("GET", f"/edge/management/v1/identities/{created['id']}")
        return created["id"], detail["enrollment"]["ott"]["jwt"]

    def router_connections(self) -> list[dict[str, Any]]:
        """Routers with an open control channel (any replica)."""
        return self.admin.data("GET", "/sim/v1/router-connections")

    def make_router(self, name: str | None = None, *, run: bool = True, **options: Any) -> Any:
        """An enrolled simulated router (see controller.testing.routers.RouterHandle)."""
        from controller.testing.routers import make_router

        return make_router(self, name, run=run, **options)

    def enroll_identity(self, name: str | None = None, *, admin: bool = False, key: str = "ec-p256") -> EnrolledIdentity:
        """Create and enroll an identity as an SDK would (JWT checked against the TLS key, CSR, enroll)."""
        name = name or f"identity-{secrets.token_hex(4)}"
        identity_id, jwt = self.create_identity(name, admin=admin)
        enrolled = EnrolledIdentity(identity_id, name, self._identity_dir, enroll_ott(jwt, key_type=key))
        enrolled.identity.save(enrolled.json_path)
        enrolled._write_pems()
        return enrolled


def wait_until(predicate: Any, timeout: float = 5.0, interval: float = 0.01) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)
