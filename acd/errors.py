"""Errors with a stable code string: what the API answers and what logs and tests match on."""

from __future__ import annotations


class StableError(Exception):
    """`str(error)` is "<code>: <detail>"; `code` never changes between releases."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
