"""Wire formatting shared by every domain: timestamps, links, entity references."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any


def fmt_time(value: datetime | None) -> str | None:
    """RFC 3339 with milliseconds and 'Z', as go-openapi's strfmt.DateTime renders it."""
    if value is None:
        return None
    value = value.astimezone(timezone.utc)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def links(collection: str, entity_id: str, **extra: str) -> dict[str, Any]:
    result = {"self": {"href": f"./{collection}/{entity_id}"}}
    for name, href in extra.items():
        result[name] = {"href": href}
    return result


def entity_ref(collection: str, entity_id: str, name: str | None) -> dict[str, Any]:
    return {"entity": collection, "id": entity_id, "name": name, "_links": links(collection, entity_id)}


def base_entity(row: Any, collection: str, **extra_links: str) -> dict[str, Any]:
    return {
        "id": row.id,
        "createdAt": fmt_time(row.created_at),
        "updatedAt": fmt_time(row.updated_at),
        "_links": links(collection, row.id, **extra_links),
        "tags": getattr(row, "tags", None) or {},
    }
