"""The SDKs' identity file: {"ztAPI": url, "ztAPIs": [url], "id": {"cert", "key", "ca"}} with "pem:" values."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path


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
        data = json.loads(Path(path).read_text())
        ident = data["id"]
        return cls(data["ztAPI"], _unpem(ident["cert"]), _unpem(ident["key"]), _unpem(ident.get("ca", "")))

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
            _atomic_write(backup_path, path.read_bytes())
        _atomic_write(path, (json.dumps(self.to_json(), indent=2) + "\n").encode())
        return backup_path


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
