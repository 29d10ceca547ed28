"""Operators' logs: plain text or one JSON object per line (ZITI_SIM_LOG_FORMAT=json), and the access
middleware that gives every request an id, times it, logs it and counts it in the metrics."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone

# The only record attributes a JSON line carries besides time, level, logger and message: an allow-list, so
# that nothing passed along by accident (a request body, statement parameters) ever reaches the log.
FIELDS = ("requestId", "method", "route", "status", "durationMs", "identityId", "errorCode", "api")


class JsonFormatter(logging.Formatter):
    def __init__(self, instance_id: str):
        super().__init__()
        self.instance_id = instance_id

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "level": record.levelname.lower(), "logger": record.name, "replicaId": self.instance_id,
            "message": record.getMessage(),
        }
        for name in FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                line[name] = value
        if record.exc_info and record.exc_info[0] is not None:
            # The type and where it was raised; never the exception's message (it may quote a request).
            line["exception"] = record.exc_info[0].__name__
        return json.dumps(line, separators=(",", ":"), default=str)


def configure(*, level: str, fmt: str, instance_id: str) -> None:
    """Root logging for `serve`. In JSON mode uvicorn's own loggers are routed through the same handler."""
    handler = logging.StreamHandler()
    if fmt == "json":
        handler.setFormatter(JsonFormatter(instance_id))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("alembic").setLevel(logging.WARNING)
    if fmt == "json":
        for name in ("uvicorn", "uvicorn.error"):
            logger = logging.getLogger(name)
            logger.handlers[:] = []
            logger.propagate = True
        # controller.access replaces uvicorn's access lines, which carry the raw path (query strings hold
        # enrollment tokens).
        uvicorn_access = logging.getLogger("uvicorn.access")
        uvicorn_access.handlers[:], uvicorn_access.propagate, uvicorn_access.disabled = [], False, True
