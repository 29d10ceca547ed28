"""The SDKs' identity file: {"ztAPI": url, "ztAPIs": [url], "id": {"cert", "key", "ca"}} with "pem:" values."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from controller.atomic import write_private
from controller.client.errors import IdentityFileError


def _unpem(value: str) -> str:
    if value.startswith("pem:"):
        return value[4:]
    if value.startswith("file://"):
        return Path(value[7:]).read_text()
    return value


@dataclass
class IdentityFile:
    zt_api: str
    cert: str
    key: str
    ca: str

    @classmethod
    def load(cls, path: str | Path) -> "IdentityFile":
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise IdentityFileError(f"identity file {path} does not exist") from None
        except IsADirectoryError:
            raise IdentityFileError(f"identity file {path} is a directory") from None
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise IdentityFileError(f"identity file {path} is not JSON; expected an SDK identity file as written by `identity enroll`") from None
        return cls.from_json(data, source=str(path))

    @classmethod
    def from_json(cls, data: object, *, source: str = "identity") -> "IdentityFile":
        ident = data.get("id") if isinstance(data, dict) else None
        if not isinstance(data, dict) or not isinstance(data.get("ztAPI"), str) or not isinstance(ident, dict) \
                or not all(isinstance(ident.get(k), str) and ident.get(k) for k in ("cert", "key")):
            raise IdentityFileError(f"{source} is not an SDK identity file: it needs \"ztAPI\" and \"id\" with \"cert\" and \"key\"")
        try:
            return cls(data["ztAPI"], _unpem(ident["cert"]), _unpem(ident["key"]), _unpem(ident.get("ca") or ""))
        except OSError as error:
            raise IdentityFileError(f"{source}: cannot read a file it refers to: {error}") from None

    def to_json(self) -> dict:
        return {"ztAPI": self.zt_api, "ztAPIs": [self.zt_api],
                "id": {"cert": f"pem:{self.cert}", "key": f"pem:{self.key}", "ca": f"pem:{self.ca}"}}

    def save(self, path: str | Path, *, backup: bool = False) -> Path | None:
        """Write atomically (temporary file + rename), 0600 since the file holds the private key.
        With `backup`, the previous file is kept as '<name>.bak' first; returns the backup path."""
        path = Path(path)
        backup_path = None
        if backup and path.exists():
            backup_path = path.with_name(path.name + ".bak")
            write_private(backup_path, path.read_bytes())
        write_private(path, (json.dumps(self.to_json(), indent=2) + "\n").encode())
        return backup_path

