"""Tokens the way the real ANTLR lexer cuts them: at each position the longest match wins, and on a tie the
rule listed first (keywords before identifiers). Characters no rule matches are dropped, as the real lexer
does (its errors are not collected); the parser then sees what is left."""

from __future__ import annotations

import re
from dataclasses import dataclass

_WS = "[ \t\r\n]"
_IDENT = r"[A-Za-z][A-Za-z_]*(?:\.[A-Za-z][A-Za-z_-]*)*"

# (kind, pattern, case-insensitive)
_RULES: list[tuple[str, str, bool]] = [
    ("WS", f"{_WS}+", False),
    ("LPAREN", r"\(", False), ("RPAREN", r"\)", False), ("LBRACK", r"\[", False), ("RBRACK", r"\]", False),
    ("COMMA", ",", False),
    ("OP", r"!=|<=|>=|=|<|>", False),
    ("AND", "and", True), ("OR", "or", True), ("NOT", "not", True),
    ("IN", f"in|not{_WS}in", True),
    ("BETWEEN", f"(?:not{_WS}+)?between", True),
    ("CONTAINS", f"(?:not{_WS}+)?contains", True),
    ("ICONTAINS", f"(?:not{_WS}+)?icontains", True),
    ("ALLOF", "allOf", True), ("ANYOF", "anyOf", True), ("COUNT", "count", True), ("ISEMPTY", "isEmpty", True),
    ("SORT", "sort", True), ("BY", "by", True), ("ASC", "asc", True), ("DESC", "desc", True),
    ("SKIP", "skip", True), ("LIMIT", "limit", True), ("NONE", "none", True),
    ("FROM", "from", True), ("WHERE", "where", True),
    ("NULL", "null", True), ("BOOL", "true|false", True),
    ("STRING", r'"(?:[^"\\\x00-\x1f]|\\["\\fnrt])*"', False),
    ("NUMBER", r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?", False),
    ("DATETIME", rf"datetime\({_WS}*[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}[Tt][0-9]{{2}}:[0-9]{{2}}:[0-9]{{2}}"
                 rf"(?:\.[0-9]+)?(?:[Zz]|[+-][0-9]{{2}}:[0-9]{{2}}){_WS}*\)", False),
    ("IDENT", _IDENT, False),
    ("QIDENT", f"'{_IDENT}'", False),
]
_COMPILED = [(kind, re.compile(pattern, re.IGNORECASE if ci else 0)) for kind, pattern, ci in _RULES]


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    line: int
    column: int

    @property
    def negated(self) -> bool:
        return self.kind in ("IN", "BETWEEN", "CONTAINS", "ICONTAINS") and self.text[:3].lower() == "not"


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    pos, line, line_start = 0, 1, 0
    while pos < len(text):
        best_kind, best_len = None, 0
        for kind, pattern in _COMPILED:
            match = pattern.match(text, pos)
            if match and len(match.group()) > best_len:
                best_kind, best_len = kind, len(match.group())
        if best_kind is None:
            chunk = text[pos]
            pos += 1
        else:
            chunk = text[pos:pos + best_len]
            if best_kind == "WS" and tokens and tokens[-1].kind == "WS":  # whitespace around a dropped char
                previous = tokens.pop()
                tokens.append(Token("WS", previous.text + chunk, previous.line, previous.column))
            else:
                tokens.append(Token(best_kind, chunk, line, pos - line_start))
            pos += best_len
        newlines = chunk.count("\n")
        if newlines:
            line += newlines
            line_start = pos - (len(chunk) - chunk.rindex("\n") - 1)
    tokens.append(Token("EOF", "<EOF>", line, pos - line_start))
    return tokens
