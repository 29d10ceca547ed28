"""Reaching a running controller as its admin, from the CLI."""

from __future__ import annotations

import os
from pathlib import Path

from controller.client.http import Connection, tls_context
from controller.settings import Settings


def admin_password(settings: Settings, explicit: str | None) -> str:
    if explicit:
        return explicit
    if settings.admin_password is not None:
        return settings.admin_password.get_secret_value()
    path = settings.data_dir / "admin-password"
    if path.exists():
        return path.read_text().strip()
    raise SystemExit(f"no admin password: set ZITI_SIM_ADMIN_PASSWORD or pass --password (looked in {path})")


def connect_admin(settings: Settings, *, controller: str | None, ca: str | None, username: str | None, password: str | None) -> Connection:
    ca_file = Path(ca) if ca else settings.data_dir / "pki" / "ca-bundle.pem"
    if not ca_file.exists():
        raise SystemExit(f"CA bundle not found at {ca_file}: pass --ca or --data-dir of the running controller")
    conn = Connection(controller or os.environ.get("ZITI_SIM_CONTROLLER") or settings.api_url, tls_context(ca_file=ca_file))
    conn.login_password(username or settings.admin_username, admin_password(settings, password))
    return conn
