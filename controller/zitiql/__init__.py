"""ZitiQL, the real controller's filter language: a lexer and parser with the real grouping rules
(`not` reaches right; `and`/`or` nest right without precedence), and a compiler from the AST to SQLAlchemy
expressions that run as SQL on SQLite and PostgreSQL. See management-model.md section 1."""

from controller.zitiql.ast import Query
from controller.zitiql.errors import ZitiQLError
from controller.zitiql.parser import parse
from controller.zitiql.symbols import Symbols, entity_symbols, set_of, tags

__all__ = ["Query", "ZitiQLError", "parse", "Symbols", "entity_symbols", "set_of", "tags"]
