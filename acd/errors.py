"""Errors of the ACD core."""

from __future__ import annotations


class AcdError(Exception):
    """An agent request the ACD refuses; `status_hint` is the HTTP status the API answers."""

    def __init__(self, message: str, status_hint: int) -> None:
        super().__init__(message)
        self.status_hint = status_hint


class SeatTableError(RuntimeError):
    """A seat transition missing from the table: a bug in the core, not bad input."""
