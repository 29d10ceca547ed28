"""Reaching a running controller as its admin, from the CLI."""

from __future__ import annotations

import http.client
import os
import ssl
from pathlib import Path
from typing import Any

from controller.cli.errors import CliError
from controller.client.errors import ControllerError
from controller.client.http import Connection, tls_context
from controller.settings import Settings


def admin_password(settings: Settings, explicit: str | None) -> tuple[str, str]:
    """The admin password and where it came from (said when the controller refuses it)."""
    if explicit:
        return explicit, "--password"
    if settings.admin_password is not None:
        return settings.admin_password.get_secret_value(), "ZITI_SIM_ADMIN_PASSWORD"
    path = settings.data_dir / "admin-password"
    if path.exists():
        return path.read_text().strip(), str(path)
    raise CliError(f"no admin password: set ZITI_SIM_ADMIN_PASSWORD or pass --password (looked in {path})")


class AdminConnection(Connection):
    """The CLI's admin connection: it ends its API session when the command is done (logout), so commands run
    from a script or a cron job leave no live sessions behind."""

    def data(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            return super().data(method, path, **kwargs)
        except ControllerError as error:
            if error.status == 404 and path.startswith("/sim/v1/") and not error.cause and not self._serves_sim():
                raise CliError(f"{self.base_url} does not serve the simulation API (/sim/v1): it runs in lab mode "
                               "(or is not ziti-controller-sim)") from None
            raise

    def _serves_sim(self) -> bool:
        try:
            super().data("GET", "/sim/v1/clock")
        except ControllerError as error:
            return error.status != 404
        return True

    def __exit__(self, *exc: object) -> None:
        try:
            if self.session_token:
                self.raw("DELETE", "/edge/management/v1/current-api-session")
        except (OSError, http.client.HTTPException, ControllerError):
            pass  # best effort: the session expires anyway
        finally:
            self.session_token = None
            self.close()


def connect_admin(settings: Settings, *, controller: str | None, ca: str | None, username: str | None, password: str | None) -> Connection:
    ca_file = Path(ca) if ca else settings.data_dir / "pki" / "ca-bundle.pem"
    if not ca_file.exists():
        raise CliError(f"CA bundle not found at {ca_file}: pass --ca or --data-dir of the running controller")
    url = controller or os.environ.get("ZITI_SIM_CONTROLLER") or settings.api_url
    try:
        context = tls_context(ca_file=ca_file)
    except ssl.SSLError:
        raise CliError(f"{ca_file} holds no PEM CA certificate: pass --ca the controller's <data-dir>/pki/ca-bundle.pem") from None
    conn = AdminConnection(url, context)
    username = username or settings.admin_username
    secret, source = admin_password(settings, password)
    try:
        conn.login_password(username, secret)
    except ControllerError as error:
        conn.close()
        if error.status != 401:
            raise
        raise CliError(f"{url} refused the login of {username!r} ({error.code}): the password came from {source}; "
                       "pass --password, set ZITI_SIM_ADMIN_PASSWORD, or --data-dir of this controller "
                       "(its admin-password file)") from None
    except BaseException:
        conn.close()
        raise
    return conn
