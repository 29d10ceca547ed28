"""Everything a running controller holds: settings, database, PKI, and the TLS trust store.

Built once at start (`Runtime.start`) and shared by the API through `app.state.runtime`.
"""

from __future__ import annotations

import fcntl
import logging
import os
import secrets
import shutil
import stat
import uuid
from dataclasses import dataclass, field
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from controller.identities.service import ensure_default_admin
from controller.atomic import PRIVATE, write_atomic
from controller.pki.hierarchy import Pki, PkiDamaged, load_or_create
from controller.settings import Mode, Settings, admin_password_weakness
from controller.core.clock import wall_clock
from controller.store.db import ensure_schema, make_engine, make_session_factory, serialize_first_start, sqlite_template
from controller.tls import ClientCertMode, TlsServerConfig

log = logging.getLogger("controller")




class StartupError(Exception):
    """Stops the start. The message is one line that says what is wrong and what to do; `serve` prints it
    instead of a traceback."""


UnsafeSettings = StartupError  # the name the CLI catches


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
        _private_data_dir(settings.data_dir)
        try:
            pki = load_or_create(
                settings.data_dir / "pki", ca_key_type=settings.ca_key_type, server_key_type=settings.server_key_type,
                advertised_host=settings.advertised_host, trust_domain=settings.trust_domain, now=wall_clock(),
            )
        except PkiDamaged as damage:
            raise StartupError(str(damage)) from None
        if settings.mode is Mode.fixture:
            _seed_sqlite_from_template(settings)
        _private_sqlite_files(settings.resolved_database_url())
        engine = make_engine(settings.resolved_database_url(), pool_size=settings.max_requests_in_flight + 4)
        ensure_schema(engine)
        password, generated = _admin_password(settings)
        runtime = cls(settings, engine, make_session_factory(engine), pki, password, generated)
        with runtime.sessions.begin() as db:
            serialize_first_start(db)
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
    # Copy beside it, then link into place: link never replaces a database another replica already opened.
    building = target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        shutil.copyfile(template, building)
        os.chmod(building, 0o600)
        try:
            os.link(building, target)
        except FileExistsError:
            pass
    finally:
        building.unlink(missing_ok=True)


def _private_data_dir(directory: Path) -> None:
    """The data directory holds keys, the admin password and (SQLite) session tokens and password hashes:
    created 0700; an existing one open to others is tightened to 0700 (or, if we may not, refused)."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    mode = stat.S_IMODE(directory.stat().st_mode)
    if mode & 0o077:
        try:
            directory.chmod(0o700)
        except PermissionError:
            raise StartupError(
                f"the data directory {directory} is open to other users (mode {mode:04o}) and not ours to change: "
                f"run `chmod 700 {directory}` or choose another ZITI_SIM_DATA_DIR"
            ) from None
        log.warning("data directory %s was mode %04o; tightened to 0700", directory, mode)


def _private_sqlite_files(url: str) -> None:
    """A SQLite database (and its -wal/-shm, which SQLite creates with the database file's mode) is 0600."""
    if not url.startswith("sqlite:///") or url == "sqlite:///:memory:":
        return
    path = Path(url.removeprefix("sqlite:///").split("?", 1)[0])
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))  # an empty file is an empty database
    except FileExistsError:
        pass
    for name in (path.name, f"{path.name}-wal", f"{path.name}-shm", f"{path.name}-journal"):
        candidate = path.with_name(name)
        try:
            if stat.S_IMODE(candidate.stat().st_mode) & 0o077:
                candidate.chmod(0o600)
        except FileNotFoundError:
            continue


def _admin_password(settings: Settings) -> tuple[str, bool]:
    """The configured password, else the one generated on first start and kept in the data directory (0600)."""
    if settings.admin_password is not None:
        return settings.admin_password.get_secret_value(), False
    path: Path = settings.data_dir / "admin-password"
    lock_fd = os.open(settings.data_dir / ".admin-password.lock", os.O_RDWR | os.O_CREAT, 0o600)
    with open(lock_fd, "w") as lock:  # replicas sharing the directory
        fcntl.flock(lock, fcntl.LOCK_EX)
        if path.exists():
            password = path.read_text().strip()
            if not password:
                raise StartupError(
                    f"{path} is empty (a start interrupted while writing it?): delete it to have a new admin password "
                    f"generated, or set ZITI_SIM_ADMIN_PASSWORD"
                )
            return password, False
        password = secrets.token_urlsafe(18)
        write_atomic(path, password + "\n", mode=PRIVATE)
        return password, True


def refuse_weak_lab_password(settings: Settings) -> None:
    """Lab mode only: raise UnsafeSettings for a guessable ZITI_SIM_ADMIN_PASSWORD (`serve` asks before it creates anything)."""
    password = settings.admin_password.get_secret_value() if settings.admin_password else None
    if settings.mode is not Mode.lab or password is None:
        return
    weakness = admin_password_weakness(password, settings.admin_username)
    if weakness is not None:
        raise UnsafeSettings(
            f"lab mode refuses this admin password (ZITI_SIM_ADMIN_PASSWORD): {weakness}; choose a long passphrase, "
            f"or unset it to have a strong one generated"
        )


def _refuse_unsafe_lab_settings(settings: Settings) -> None:
    refuse_weak_lab_password(settings)
    if settings.database_url is None:
        log.warning("lab mode on SQLite: fine for one replica; use PostgreSQL to run several")
