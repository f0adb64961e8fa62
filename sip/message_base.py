"""The base of the engine <-> pool member messages (`sip.messages`, `sip.commands`)."""

from __future__ import annotations

from dataclasses import dataclass


class MessageError(ValueError):
    """A line from the peer is not a valid message (the connection is then dropped)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Message:
    """Base of every message."""
