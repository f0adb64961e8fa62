"""The `[texts]` section of the settings: citizens' text conversations and the SMS gateway.

Kept beside `engine.settings` (which includes it as `Settings.texts`) so that module stays one
screenful per concern; `check` is called from its cross-field checks and names the key.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field


def _doc(text: str) -> dict[str, str]:
    return {"doc": text}


@dataclass(frozen=True, slots=True, kw_only=True)
class TextSettings:
    offer_timeout: float = field(
        default=20.0, metadata=_doc("A text offered to a seat and not accepted this long goes to "
                                    "another seat, s.")
    )  # fmt: skip
    per_seat: int = field(
        default=3, metadata=_doc("Conversations one seat holds at most before no more are offered.")
    )
    console_gone: float = field(
        default=60.0, metadata=_doc("A seat whose console (the live stream) has been gone this "
                                    "long loses its taken texts back to the line, with an "
                                    "alert, s.")
    )  # fmt: skip
    unanswered_alert: float = field(
        default=120.0, metadata=_doc("A citizen's message with no reply this long raises an "
                                     "alert, s.")
    )  # fmt: skip
    messages_per_minute: int = field(
        default=20, metadata=_doc("Messages a citizen may post to one conversation a minute.")
    )
    sms_gateway: str = field(
        default="",
        metadata=_doc("The carrier's SMS gateway, 'sip:host:port': SIP MESSAGE on the trunk "
                      "becomes a text, replies go there ('' = SMS off: MESSAGE gets 405)."),
    )  # fmt: skip
    sms_sender: str = field(default="110", metadata=_doc("The number replies are sent from."))
    evapi_port: int = field(
        default=5074, metadata=_doc("The front's evapi socket (TCP, on front.rpc_address) that "
                                    "hands SMS to the engine.")
    )  # fmt: skip


def check(texts: TextSettings, fail: Callable[[tuple[str | int, ...], str], None]) -> None:
    """Cross-field rules; `fail(keypath, problem)` raises ConfigError naming the key."""
    if texts.offer_timeout <= 0:
        fail(("texts", "offer_timeout"), "must be positive")
    for name in ("console_gone", "unanswered_alert"):
        if getattr(texts, name) <= 0:
            fail(("texts", name), "must be positive")
    if texts.per_seat < 1:
        fail(("texts", "per_seat"), "must be at least 1")
    if texts.messages_per_minute < 1:
        fail(("texts", "messages_per_minute"), "must be at least 1")
    if not 1 <= texts.evapi_port <= 65535:
        fail(("texts", "evapi_port"), f"{texts.evapi_port} is not a port number")
    if not (texts.sms_sender.lstrip("+").isdigit() and len(texts.sms_sender) <= 20):
        fail(("texts", "sms_sender"), "must be a phone number (digits, optional +)")
    if texts.sms_gateway:
        host, _, port = texts.sms_gateway.removeprefix("sip:").partition(":")
        try:
            if not texts.sms_gateway.startswith("sip:"):
                raise ValueError("must start with sip:")
            ipaddress.ip_address(host)
            if port and not 1 <= int(port) <= 65535:
                raise ValueError(f"{port} is not a port number")
        except ValueError as exc:
            fail(("texts", "sms_gateway"), f"must be 'sip:<ip address>[:port]' ({exc})")
