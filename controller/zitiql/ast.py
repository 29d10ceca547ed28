"""The filter's syntax tree. Literals are Python values: str, int, float, bool, datetime, or NULL."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Union


class _Null:
    def __repr__(self) -> str:
        return "null"


NULL = _Null()
Literal = Union[str, int, float, bool, datetime, _Null]


@dataclass(frozen=True)
class Field:
    name: str


@dataclass(frozen=True)
class SubQuery:
    """`from <set> where <query>`: accepted by the grammar inside count() and isEmpty()."""

    name: str
    query: "Query"


@dataclass(frozen=True)
class SetFunction:
    function: str  # "anyOf" | "allOf"
    name: str


@dataclass(frozen=True)
class Count:
    ref: Union[Field, SubQuery]


Operand = Union[Field, SetFunction, Count]


@dataclass(frozen=True)
class Compare:
    """= != < <= > >= against one literal."""

    left: Operand
    op: str
    value: Literal


@dataclass(frozen=True)
class InList:
    left: Operand
    values: tuple[Literal, ...]
    negated: bool = False


@dataclass(frozen=True)
class Between:
    """Half-open: lower <= x < upper."""

    left: Operand
    lower: Literal
    upper: Literal
    negated: bool = False


@dataclass(frozen=True)
class Contains:
    left: Operand
    value: Literal
    negated: bool = False
    ignore_case: bool = False


@dataclass(frozen=True)
class BoolConst:
    value: bool


@dataclass(frozen=True)
class BareField:
    """A boolean field used as a predicate by itself, e.g. `isAdmin`."""

    name: str


@dataclass(frozen=True)
class IsEmpty:
    ref: Union[Field, SubQuery]


@dataclass(frozen=True)
class Not:
    expr: "Predicate"


@dataclass(frozen=True)
class And:
    left: "Predicate"
    right: "Predicate"


@dataclass(frozen=True)
class Or:
    left: "Predicate"
    right: "Predicate"


Predicate = Union[Compare, InList, Between, Contains, BoolConst, BareField, IsEmpty, Not, And, Or]


@dataclass(frozen=True)
class SortField:
    name: str
    descending: bool = False


@dataclass(frozen=True)
class Query:
    predicate: Predicate = field(default_factory=lambda: BoolConst(True))
    sort: tuple[SortField, ...] = ()
    skip: int | None = None
    limit: int | None = None  # -1 for `limit none`
