"""The one settings object. Every field can come from the environment with the prefix ZITI_SIM_."""

from __future__ import annotations

import enum
import importlib.util
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from controller.durations import parse_duration

Duration = Annotated[timedelta, BeforeValidator(parse_duration)]

LOG_LEVELS = ("critical", "error", "warning", "info", "debug")
DATABASE_DIALECTS = ("sqlite", "postgresql")  # the dialects the migrations and the store are written for

KEY_TYPES = ("ec-p256", "ec-p384", "rsa-2048", "rsa-3072", "rsa-4096")

# Lab-mode admin password rule: zxcvbn's estimate (dictionaries of common passwords, names and words,
# repeats, sequences, keyboard patterns, l33t) must reach "safely unguessable" (score 3 of 4, about 10^8
# guesses), with words of this project counted as known, and at least 12 characters.
ADMIN_PASSWORD_MIN_LENGTH = 12
ADMIN_PASSWORD_MIN_SCORE = 3
_PROJECT_WORDS = ("admin", "administrator", "ziti", "openziti", "controller", "sim", "ziti-controller-sim",
                  "admin-password", "lab", "staging")


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

    admin_username: str = Field("admin", min_length=1)
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

    max_body_bytes: int = Field(
        1024 * 1024, ge=1024, le=64 * 1024 * 1024, description="largest request body accepted; larger ones get 413 before they are read"
    )
    ctrl_address: str = Field("127.0.0.1:6262", description="router control channel HOST:PORT (advertised and bound); 0 or off disables it")
    ctrl_heartbeat_timeout: Duration = Field(
        timedelta(seconds=30), description="close a control channel whose heartbeats go unanswered this long (after twice as long at connect)")

    event_loop: Literal["auto", "uvloop", "asyncio"] = Field(
        "auto", description="the server's event loop; auto: uvloop when installed (a cheaper wake-up from worker threads), else asyncio")
    sqlite_on_loop: bool = Field(
        True, description="SQLite: the event loop itself runs a hot GET's read-only transaction (it never waits for a lock) instead of a worker thread")
    http: Literal["auto", "httptools", "h11"] = Field(
        "auto", description="the HTTP/1.1 parser; auto: httptools when installed, else h11")

    log_level: str = Field("info", description="critical, error, warning, info or debug (any case)")
    log_format: Literal["text", "json"] = Field("text", description="json: one JSON object per line (operators' logs)")
    metrics: bool | None = Field(None, description="serve GET /metrics; default: on in lab mode, off otherwise")

    @field_validator("event_loop", "http")
    @classmethod
    def _installed(cls, value: str) -> str:
        # Named explicitly, it must be there: refused at start rather than silently replaced by the fallback.
        if value in ("uvloop", "httptools") and importlib.util.find_spec(value) is None:
            raise ValueError(f"{value} is not installed (pip install {value}), or choose auto")
        return value

    @field_validator("ca_key_type", "server_key_type")
    @classmethod
    def _known_key_type(cls, value: str) -> str:
        if value not in KEY_TYPES:
            raise ValueError(f"unsupported key type {value!r}; choose one of {', '.join(KEY_TYPES)}")
        return value

    @field_validator("identity_cert_lifetime", "router_cert_lifetime", "enrollment_lifetime", "session_timeout")
    @classmethod
    def _positive_duration(cls, value: timedelta) -> timedelta:
        # parse_duration already bounds the length (at most 100y); an issued certificate must not start expired.
        if value.total_seconds() <= 0:
            raise ValueError("must be a positive duration, e.g. 30s, 10m, 8d, 1y")
        return value

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        if value.lower() not in LOG_LEVELS:
            raise ValueError(f"unknown log level; choose one of {', '.join(LOG_LEVELS)}")
        return value.lower()

    @field_validator("database_url")
    @classmethod
    def _supported_dialect(cls, value: str | None) -> str | None:
        scheme = (value or "").partition("://")[0]
        dialect = scheme.partition("+")[0].lower()
        if value is not None and "://" in value and dialect not in DATABASE_DIALECTS:
            raise ValueError(f"unsupported database {dialect!r}: use postgresql+psycopg://USER@HOST:5432/DB or sqlite:///PATH")
        return value

    @field_validator("address", "bind")
    @classmethod
    def _host_port(cls, value: str | None) -> str | None:
        if value is not None:
            split_host_port(value)
        return value

    @field_validator("ctrl_address")
    @classmethod
    def _ctrl_host_port(cls, value: str) -> str:
        if value not in ("0", "off", ""):
            split_host_port(value)
        return value

    @property
    def ctrl_enabled(self) -> bool:
        return self.ctrl_address not in ("0", "off", "")

    @property
    def ctrl_host_port(self) -> tuple[str, int]:
        return split_host_port(self.ctrl_address)

    @property
    def ctrl_url(self) -> str | None:
        """The control channel as routers are told it (JWT `ctrls`), or None when disabled."""
        if not self.ctrl_enabled:
            return None
        host, port = self.ctrl_host_port
        return f"tls:{format_host(host)}:{port}"

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

    @property
    def metrics_enabled(self) -> bool:
        return self.mode is Mode.lab if self.metrics is None else self.metrics

    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'controller.db').resolve()}"


def admin_password_weakness(password: str, username: str = "admin") -> str | None:
    """Why `password` is too weak for a lab's admin (one phrase), or None when it is strong enough."""
    if len(password) < ADMIN_PASSWORD_MIN_LENGTH:
        return f"shorter than {ADMIN_PASSWORD_MIN_LENGTH} characters"
    from zxcvbn import zxcvbn  # imported only when a lab is configured with a password

    result = zxcvbn(password[:128], user_inputs=[username, *_PROJECT_WORDS])  # it is slow on very long input
    if result["score"] >= ADMIN_PASSWORD_MIN_SCORE:
        return None
    warning = (result.get("feedback") or {}).get("warning") or "it is easy to guess"
    return f"{warning.rstrip('.').lower()} (strength {result['score']} of 4, {ADMIN_PASSWORD_MIN_SCORE} needed)"


def split_host_port(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise ValueError(f"expected HOST:PORT, got {value!r}")
    return host.strip("[]"), int(port)


def format_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
