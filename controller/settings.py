"""The one settings object. Every field can come from the environment with the prefix ZITI_SIM_."""

from __future__ import annotations

import enum
from datetime import timedelta
from pathlib import Path
from typing import Annotated

from pydantic import BeforeValidator, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from controller.durations import parse_duration

Duration = Annotated[timedelta, BeforeValidator(parse_duration)]

KEY_TYPES = ("ec-p256", "ec-p384", "rsa-2048", "rsa-3072", "rsa-4096")


class Mode(str, enum.Enum):
    mock = "mock"  # local mock controller: sim API on, persistent data directory
    fixture = "fixture"  # test fixture: sim API on, ephemeral data directory, JSON ready line
    lab = "lab"  # staging: sim API off, unsafe defaults refused


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ZITI_SIM_", extra="ignore")

    mode: Mode = Mode.mock
    data_dir: Path = Path("ziti-sim-data")
    address: str = Field("127.0.0.1:1280", description="advertised host:port (JWT iss, /version); also bound unless `bind` is set")
    bind: str | None = Field(None, description="host:port to bind when it differs from the advertised address")
    database_url: str | None = Field(None, description="SQLAlchemy URL; default: SQLite file in the data directory")

    admin_username: str = "admin"
    admin_password: SecretStr | None = None

    ca_key_type: str = "ec-p256"
    server_key_type: str = "ec-p256"
    trust_domain: str | None = None

    identity_cert_lifetime: Duration = timedelta(days=365)
    router_cert_lifetime: Duration = Field(timedelta(days=365), description="lifetime of both edge router certificates (client and server)")
    enrollment_lifetime: Duration = timedelta(minutes=180)
    session_timeout: Duration = timedelta(minutes=30)
    allow_expired_certs: bool = True

    # Bug-compatible switches (off by default; see README "Faithfulness").
    compat_ec_key_encipherment: bool = False
    compat_strict_csr_trailing_data: bool = False
    compat_enrollment_duration_floor: bool = False
    compat_duplicate_key_roll_header: bool = True
    # The real go-openapi layer answers a body that fails schema validation with its error code as the HTTP
    # status (601 type, 602 required, 606 enum; openziti/ziti#3462); off: 400, the status clients expect.
    compat_openapi_validation_status: bool = False

    password_hash_cost: int | None = Field(
        None, ge=10, le=20, description="log2 of scrypt's N for updb passwords; default 14, or 10 in fixture mode"
    )

    max_requests_in_flight: int = Field(
        16, ge=1, le=32, description="requests processed at once; more wait (must stay under the 40-thread pool)"
    )

    log_level: str = "info"

    @field_validator("ca_key_type", "server_key_type")
    @classmethod
    def _known_key_type(cls, value: str) -> str:
        if value not in KEY_TYPES:
            raise ValueError(f"unsupported key type {value!r}; choose one of {', '.join(KEY_TYPES)}")
        return value

    @field_validator("address", "bind")
    @classmethod
    def _host_port(cls, value: str | None) -> str | None:
        if value is not None:
            split_host_port(value)
        return value

    @property
    def advertised_host(self) -> str:
        return split_host_port(self.address)[0]

    @property
    def advertised_port(self) -> int:
        return split_host_port(self.address)[1]

    @property
    def bind_address(self) -> tuple[str, int]:
        return split_host_port(self.bind or self.address)

    @property
    def api_url(self) -> str:
        host, port = split_host_port(self.address)
        return f"https://{format_host(host)}:{port}"

    @property
    def effective_password_hash_cost(self) -> int:
        """Fixture credentials are throwaway and every test logs in: a cheaper hash keeps tests fast."""
        if self.password_hash_cost is not None:
            return self.password_hash_cost
        return 10 if self.mode is Mode.fixture else 14

    @property
    def sim_enabled(self) -> bool:
        return self.mode is not Mode.lab

    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'controller.db').resolve()}"


def split_host_port(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise ValueError(f"expected HOST:PORT, got {value!r}")
    return host.strip("[]"), int(port)


def format_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
