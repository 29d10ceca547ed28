"""Everything a running controller holds: settings, database, PKI, and the TLS trust store.

Built once at start (`Runtime.start`) and shared by the API through `app.state.runtime`.
"""

from __future__ import annotations

import fcntl
import logging
import os
import secrets
import shutil
import uuid
from dataclasses import dataclass, field
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from controller.identities.service import ensure_default_admin
from controller.pki.hierarchy import Pki, load_or_create
from controller.pki.keys import write_private_file
from controller.settings import Mode, Settings
from controller.sim.clock import wall_clock
from controller.store.db import ensure_schema, make_engine, make_session_factory, sqlite_template
from controller.tls import ClientCertMode, TlsServerConfig

log = logging.getLogger("controller")


WELL_KNOWN_PASSWORDS = {"admin", "password", "changeme", "ziti", "secret", "admin123", "12345678"}


class UnsafeSettings(Exception):
    pass


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    pki: Pki
    admin_password: str
    admin_password_generated: bool
    instance_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    _closers: list[Callable[[], None]] = field(default_factory=list)

    @classmethod
    def start(cls, settings: Settings) -> "Runtime":
        if settings.mode is Mode.lab:
            _refuse_unsafe_lab_settings(settings)
        # The database holds password hashes and session tokens: keep the directory private.
        settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        pki = load_or_create(
            settings.data_dir / "pki", ca_key_type=settings.ca_key_type, server_key_type=settings.server_key_type,
            advertised_host=settings.advertised_host, trust_domain=settings.trust_domain, now=wall_clock(),
        )
        if settings.mode is Mode.fixture:
            _seed_sqlite_from_template(settings)
        engine = make_engine(settings.resolved_database_url(), pool_size=settings.max_requests_in_flight + 4)
        ensure_schema(engine)
        password, generated = _admin_password(settings)
        runtime = cls(settings, engine, make_session_factory(engine), pki, password, generated)
        with runtime.sessions.begin() as db:
            ensure_default_admin(db, settings.admin_username, password, hash_cost=settings.effective_password_hash_cost)
        return runtime

    def tls_server_config(self, *, alpn: tuple[str, ...] = (), client_cert: ClientCertMode = "optional") -> TlsServerConfig:
        """The server certificate (with its intermediates) for a listener. Client certificates are requested
        (or required) but never judged at the handshake: not their issuer, not their time. The identity check
        happens in code, as in the real controller."""
        directory = self.pki.directory
        return TlsServerConfig(
            cert_chain_pem=(directory / "server.cert.pem").read_bytes(),
            key_pem=(directory / "server.key.pem").read_bytes(),
            alpn=alpn,
            client_cert=client_cert,
        )

    def on_close(self, closer: Callable[[], None]) -> None:
        """Register a clean-up for resources made outside the pool (e.g. the fault probe's connection)."""
        self._closers.append(closer)

    def close(self) -> None:
        for closer in reversed(self._closers):
            closer()
        self.engine.dispose()


def _seed_sqlite_from_template(settings: Settings) -> None:
    """A fixture's fresh SQLite file starts as a copy of the cached, already migrated template."""
    url = settings.resolved_database_url()
    if not url.startswith("sqlite:///") or url == "sqlite:///:memory:":
        return
    target = Path(url.removeprefix("sqlite:///"))
    if target.exists():
        return
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "ziti-controller-sim"
    try:
        template = sqlite_template(cache)
    except OSError:  # read-only home: fall back to migrating in place
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template, target)


def _admin_password(settings: Settings) -> tuple[str, bool]:
    """The configured password, else the one generated on first start and kept in the data directory (0600)."""
    if settings.admin_password is not None:
        return settings.admin_password.get_secret_value(), False
    path: Path = settings.data_dir / "admin-password"
    with open(settings.data_dir / ".admin-password.lock", "w") as lock:  # replicas sharing the directory
        fcntl.flock(lock, fcntl.LOCK_EX)
        if path.exists():
            return path.read_text().strip(), False
        password = secrets.token_urlsafe(18)
        write_private_file(path, password.encode() + b"\n")
        return password, True


def _refuse_unsafe_lab_settings(settings: Settings) -> None:
    password = settings.admin_password.get_secret_value() if settings.admin_password else None
    if password is not None and (password.lower() in WELL_KNOWN_PASSWORDS or len(password) < 12):
        raise UnsafeSettings(
            "lab mode refuses a well-known or short admin password (under 12 characters); "
            "unset ZITI_SIM_ADMIN_PASSWORD to have a strong one generated"
        )
    if settings.database_url is None:
        log.warning("lab mode on SQLite: fine for one replica; use PostgreSQL to run several")
