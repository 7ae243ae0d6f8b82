"""Errors raised for bad input. Each names the file, the line and what was expected."""

from __future__ import annotations


class TakeError(Exception):
    """A recording could not be read or is unusable.

    ``str(err)`` is one line meant for the user: ``FILE:LINE: what was wrong
    (expected ...)``.
    """

    def __init__(self, message: str, path: str | None = None, line: int | None = None,
                 expected: str | None = None):
        self.path = path
        self.line = line
        self.expected = expected
        self.detail = message
        where = ""
        if path:
            where = f"{path}:{line}: " if line is not None else f"{path}: "
        text = where + message
        if expected:
            text += f" (expected {expected})"
        super().__init__(text)


class FormatError(TakeError):
    """The file is not in the format its reader expects."""
