"""A router's directory: config.json (router id, control channel, API), client and server certificates and
keys, the CA bundle, and the last simulated time it learned (clock.json). Every file is 0600."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from cryptography import x509

from controller.atomic import write_private
from controller.pki.certs import load_certs_pem
from controller.pki.keys import load_private_key_pem




@dataclass
class RouterFiles:
    directory: Path

    def __post_init__(self) -> None:
        self.directory = Path(self.directory)

    config_path = property(lambda self: self.directory / "config.json")
    cert_path = property(lambda self: self.directory / "client.cert.pem")
    key_path = property(lambda self: self.directory / "client.key.pem")
    server_cert_path = property(lambda self: self.directory / "server.cert.pem")
    server_key_path = property(lambda self: self.directory / "server.key.pem")
    ca_path = property(lambda self: self.directory / "ca.pem")
    clock_path = property(lambda self: self.directory / "clock.json")

    def config(self) -> dict[str, Any]:
        return json.loads(self.config_path.read_text())

    @property
    def router_id(self) -> str:
        return self.config()["id"]

    def client_chain(self) -> list[x509.Certificate]:
        return load_certs_pem(self.cert_path.read_bytes())

    def server_chain(self) -> list[x509.Certificate]:
        return load_certs_pem(self.server_cert_path.read_bytes())

    def client_key(self):  # noqa: ANN201
        return load_private_key_pem(self.key_path.read_bytes())

    def server_key(self):  # noqa: ANN201
        return load_private_key_pem(self.server_key_path.read_bytes())

    def writable(self) -> str | None:
        """None when both certificate files can be opened read-write (a real router's IsCertSettable), else why not."""
        for path in (self.cert_path, self.server_cert_path):
            try:
                with open(path, "r+b"):
                    pass
            except OSError as error:
                return f"{path} is not writable: {error.strerror}"
            if not os.access(path.parent, os.W_OK):
                return f"{path.parent} is not writable"
        return None

    def save_clock(self, sim_now: datetime) -> None:
        offset = (sim_now - datetime.now(timezone.utc)).total_seconds()
        write_private(self.clock_path, json.dumps({"offsetSeconds": offset}).encode())

    def clock_offset(self) -> timedelta:
        try:
            return timedelta(seconds=float(json.loads(self.clock_path.read_text())["offsetSeconds"]))
        except (OSError, ValueError, KeyError):
            return timedelta(0)
