from __future__ import annotations


class ZitiQLError(Exception):
    """A filter that does not parse, names an unknown symbol or mixes types. `message` is the text the real
    controller puts in `cause.message`."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def unexpected(text: str, line: int, column: int) -> ZitiQLError:
    return ZitiQLError(f'Unexpected symbol: "{text}" at line: {line} column: {column}. '
                       f"line: {line}, column: {column}, symbol: {text}")


def unknown_symbol(name: str) -> ZitiQLError:
    return ZitiQLError(f"unknown symbol '{name}'")
