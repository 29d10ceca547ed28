"""Human durations ("10s", "5m", "8d", "1y", or plain seconds) used by settings, the CLI and the sim API,
and the bounds every duration and simulated time must stay within.

Why bounds: certificates carry NotAfter = now + lifetime, sessions expire at now + timeout. X.509 times end at
9999-12-31 (GeneralizedTime), Python's datetime at year 9999, and both databases store what those can say.
So a duration is at most MAX_DURATION (100 years), and the simulated clock stays between EARLIEST_TIME and
LATEST_TIME, which leaves room for any duration to be added to "now" (and a minute of backdating taken off).
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta, timezone
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime

_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "y": 365 * 86400}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)")

MAX_DURATION = timedelta(days=100 * 365)
# 1970: nothing before the Unix epoch (JWT times are epoch seconds); X.509 UTCTime covers 1950-2049.
EARLIEST_TIME = datetime(1970, 1, 1, tzinfo=timezone.utc)
# 9999-12-31 minus MAX_DURATION and a margin: now + any lifetime still fits an X.509 GeneralizedTime.
LATEST_TIME = datetime(9899, 1, 1, tzinfo=timezone.utc)


def parse_duration(value: str | int | float | timedelta) -> timedelta:
    """Parse '90', '90s', '1h30m', '8d' or a timedelta; a year is 365 days, as `AddDate(1,0,0)` is close to it.
    ValueError when it is malformed or longer than MAX_DURATION (either sign)."""
    if isinstance(value, timedelta):
        return _bounded(value.total_seconds(), value)
    if isinstance(value, bool):
        raise ValueError(f"invalid duration {value!r}: use seconds or e.g. 10s, 5m, 2h, 8d, 1y")
    if isinstance(value, (int, float)):
        return _bounded(float(value), value)
    text = value.strip().lower()
    negative = text.startswith("-")
    text = text.lstrip("+-")
    if re.fullmatch(r"\d+(\.\d+)?", text):
        seconds = float(text)
    else:
        pos, seconds = 0, 0.0
        for match in _PART.finditer(text):
            if match.start() != pos:
                break
            seconds += float(match.group(1)) * _UNITS[match.group(2)]
            pos = match.end()
        if pos != len(text) or not text:
            raise ValueError(f"invalid duration {value!r}: use seconds or e.g. 10s, 5m, 2h, 8d, 1y")
    return _bounded(-seconds if negative else seconds, value)


def _bounded(seconds: float, original: object) -> timedelta:
    if not math.isfinite(seconds) or abs(seconds) > MAX_DURATION.total_seconds():
        raise ValueError(f"duration {original!r} is out of range: at most 100y (either way)")
    return timedelta(seconds=seconds)


def check_time(value: datetime) -> datetime:
    """ValueError unless EARLIEST_TIME <= value <= LATEST_TIME (what the simulated clock may show)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    if not EARLIEST_TIME <= value <= LATEST_TIME:
        raise ValueError(f"time {value.isoformat()} is out of range: must be between "
                         f"{EARLIEST_TIME:%Y-%m-%d} and {LATEST_TIME:%Y-%m-%d}")
    return value


# A time a request may carry (clock, enrollment expiry): aware, and within EARLIEST_TIME..LATEST_TIME, so that
# converting it to UTC, adding a lifetime or writing it into a certificate or JWT cannot overflow.
Timestamp = Annotated[AwareDatetime, AfterValidator(check_time)]
