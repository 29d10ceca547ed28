"""Human durations ("10s", "5m", "8d", "1y", or plain seconds) used by settings, the CLI and the sim API."""

from __future__ import annotations

import re
from datetime import timedelta

_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "y": 365 * 86400}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)")


def parse_duration(value: str | int | float | timedelta) -> timedelta:
    """Parse '90', '90s', '1h30m', '8d' or a timedelta; a year is 365 days, as `AddDate(1,0,0)` is close to it."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, (int, float)):
        return timedelta(seconds=value)
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
    return timedelta(seconds=-seconds if negative else seconds)
