"""What the command says when something goes wrong: one line (what is wrong, what to do), a non-zero exit.

Commands raise `CliError` for what they detect themselves; `explain` turns the errors of the layers below
(settings, client, database driver, sockets, files) into the same kind of line. `main` is the one place that
prints them; anything not recognised here is a bug and keeps its traceback.
"""

from __future__ import annotations

import errno
from typing import Any


class CliError(Exception):
    """A failure the user can fix; `exit_code` 2 for a usage error, 1 otherwise."""

    def __init__(self, message: str, *, exit_code: int = 1):
        super().__init__(message)
        self.exit_code = exit_code


class UsageError(CliError):
    def __init__(self, message: str):
        super().__init__(message, exit_code=2)


_SECRET_FIELDS = ("admin_password", "database_url")  # a database URL may carry a password


def _settings_error(error: Any, flags: dict[str, str]) -> CliError:
    """pydantic's report (one block per field, with URLs) as one line naming the variable or flag to fix."""
    problems = []
    for item in error.errors(include_url=False):
        field = str(item["loc"][0]) if item.get("loc") else "?"
        where = flags.get(field) or f"ZITI_SIM_{field.upper()}"
        message = str(item.get("msg", "invalid")).removeprefix("Value error, ")
        value = item.get("input")
        shown = f"={value!r}" if isinstance(value, (str, int, float)) and not isinstance(value, bool) and field not in _SECRET_FIELDS else ""
        problems.append(f"{where}{shown}: {message}")
    return CliError("invalid setting " + "; ".join(problems), exit_code=2)


def _database_error(error: BaseException) -> CliError | None:
    from sqlalchemy import exc

    if isinstance(error, exc.ArgumentError) and "URL" in str(error):
        return CliError("the database URL could not be parsed: pass --database-url (or ZITI_SIM_DATABASE_URL) as "
                        "postgresql+psycopg://USER@HOST:5432/DB or sqlite:///PATH", exit_code=2)
    if isinstance(error, exc.NoSuchModuleError):
        return CliError(f"unsupported database URL ({error}): use postgresql+psycopg:// or sqlite:///", exit_code=2)
    if isinstance(error, (exc.OperationalError, exc.InterfaceError)):
        # the driver's own message, never the statement or its parameters
        reason = (str(error.orig) if error.orig is not None else str(error)).strip().splitlines()[0]
        return CliError(f"cannot use the database: {reason}; check --database-url (or ZITI_SIM_DATABASE_URL) and that "
                        "the database server is up")
    return None


def explain(error: BaseException, *, flags: dict[str, str] | None = None) -> CliError | None:
    """The one-line form of an error from below the CLI, or None when it is not one a user can fix."""
    from pydantic import ValidationError

    from controller.client.errors import ConnectionLost, ControllerError, ExtensionInterrupted, IdentityFileError
    from controller.client.enroll import EnrollmentError

    from controller.runtime import UnsafeSettings

    if isinstance(error, CliError):
        return error
    if isinstance(error, UnsafeSettings):
        return CliError(str(error), exit_code=2)
    if isinstance(error, ValidationError):
        return _settings_error(error, flags or {})
    if isinstance(error, (IdentityFileError, EnrollmentError, ExtensionInterrupted, ConnectionLost)):
        return CliError(str(error))
    if isinstance(error, ControllerError):
        return CliError(f"the controller refused: {error}")
    if isinstance(error, ModuleNotFoundError) and (error.name or "").split(".")[0] in ("psycopg", "psycopg2"):
        return CliError("the PostgreSQL driver is not installed: pip install 'ziti-controller-sim[postgres]'")
    database = _database_error(error)
    if database is not None:
        return database
    if isinstance(error, ConnectionRefusedError):
        return CliError(f"{error.strerror or error}: is the controller running at that address?")
    if isinstance(error, OSError):
        import ssl

        if isinstance(error, ssl.SSLCertVerificationError):
            return CliError(f"the controller's TLS certificate did not verify ({error.verify_message}): pass --ca with the "
                            "CA bundle of this controller (<data-dir>/pki/ca-bundle.pem)")
        where = f" {error.filename}" if error.filename else ""
        reason = error.strerror or str(error)
        if error.errno == errno.EROFS:
            return CliError(f"cannot write{where}: read-only file system; pick a writable place (--data-dir, --out)")
        return CliError(f"{reason}{':' + where if where else ''}")
    return None
