"""Runtime overrides of the time-related policy (identity and router certificate and enrollment lifetimes,
session timeout, the expired-certificate rule), so that a test against a long-running controller can ask for
10-second certificates without restarting it. Stored on the one sim_clock row; cleared by reset."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from controller.settings import Settings
from controller.core import clock
from controller.store.models import SimClock

# setting name -> column on the sim_clock row
LIFETIMES = {
    "identity_cert_lifetime": "identity_cert_lifetime_s",
    "router_cert_lifetime": "router_cert_lifetime_s",
    "enrollment_lifetime": "enrollment_lifetime_s",
    "session_timeout": "session_timeout_s",
}


def effective(settings: Settings, row: SimClock) -> Settings:
    """The settings with the row's overrides applied (only where the simulation API is enabled)."""
    if not settings.sim_enabled:
        return settings
    updates: dict[str, Any] = {
        name: timedelta(seconds=getattr(row, column)) for name, column in LIFETIMES.items() if getattr(row, column) is not None
    }
    if row.allow_expired_certs is not None:
        updates["allow_expired_certs"] = row.allow_expired_certs
    return settings.model_copy(update=updates) if updates else settings


def update(db: Session, **values: Any) -> SimClock:
    """Set overrides on the sim row, locked and re-read first (see `clock.lock`): concurrent updates of
    different overrides, through any replica, all land."""
    row = clock.lock(db)
    set_overrides(row, **values)
    return row


def set_overrides(row: SimClock, **values: Any) -> None:
    """On a row locked with `clock.lock`: `values` maps setting names to a timedelta/bool, or None to go back to
    the configured setting."""
    for name, value in values.items():
        if name in LIFETIMES:
            setattr(row, LIFETIMES[name], None if value is None else value.total_seconds())
        elif name == "allow_expired_certs":
            row.allow_expired_certs = value
        else:  # pragma: no cover - guarded by the request model
            raise KeyError(name)


def clear(row: SimClock) -> None:
    set_overrides(row, **{name: None for name in (*LIFETIMES, "allow_expired_certs")})
