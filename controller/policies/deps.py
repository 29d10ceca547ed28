"""The `roleFilter` (repeated) and `roleSemantic` query parameters of the identity, service and edge-router lists."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Query
from sqlalchemy.orm import Session

from controller.policies import roles


@dataclass(frozen=True)
class RoleQuery:
    role_filter: list[str] | None
    semantic: str | None

    def ids(self, db: Session, kind: roles.EntityKind) -> list[str] | None:
        """The matching ids, or None when no role filter was given."""
        return roles.role_filter_ids(db, kind, self.role_filter, self.semantic)


async def get_role_query(role_filter: Annotated[list[str] | None, Query(alias="roleFilter")] = None,
                         role_semantic: Annotated[str | None, Query(alias="roleSemantic")] = None) -> RoleQuery:
    return RoleQuery(role_filter, role_semantic)


RoleQueryDep = Annotated[RoleQuery, Depends(get_role_query)]
