"""Channel adapters: how a citizen's text comes in and how the call-taker's reply goes back (R5).

Every channel is one adapter with the same two sides, so a new messaging app is a new adapter,
not a redesign:

* inbound, the adapter turns what its network delivers into `Desk.receive(channel, address,
  text, ...)`: one call, awaited, that returns only once the text is filed durably with its
  incident (an adapter acknowledges to its network after that, never before: an SMS gateway
  gets its 200 only when the message is on disk);
* outbound, the desk calls the adapter's `send(address, text)` with a call-taker's reply and
  files the `Delivery` it returns (delivered or not, and why).

`address` is whatever identifies the citizen on that channel: a phone number for SMS, the
conversation itself for the 110 web page (the page fetches its replies).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class Delivery:
    """What became of one reply on its channel."""

    ok: bool
    """The channel took it (an SMS gateway answered 2xx; the web page's reply is kept)."""
    detail: str
    """For people: '202 Accepted', 'kept for the citizen's page', '408 Request Timeout'."""
    status: int = 0
    """The channel's own status code, when it has one (SIP)."""


@dataclass(frozen=True, slots=True)
class Received:
    """Where an inbound text was filed."""

    conversation: str
    """The conversation it joined or opened."""
    incident: str
    """The incident the conversation is filed under."""
    seq: int
    """Its number in the conversation."""
    token: str = ""
    """The citizen's secret for a conversation just opened on a channel that needs one."""
    opened: bool = False
    """True when this text opened the conversation (and its incident)."""
    location: dict[str, Any] | None = field(default=None, compare=False)
    """The incident's location as filed (web reports)."""


class Channel(Protocol):
    """The outbound side of an adapter."""

    name: str
    """The channel's name, filed with every conversation ('sms', 'web-app')."""

    async def send(self, address: str, text: str) -> Delivery:
        """Send a reply to `address`; never raises for a network failure (Delivery.ok False)."""
        ...


class Desk(Protocol):
    """The one place inbound adapters hand texts to (engine.texts.TextService)."""

    async def receive(
        self,
        channel: str,
        address: str,
        text: str,
        *,
        caller: str = "",
        new_conversation: bool = False,
    ) -> Received:
        """File the text: a new message of the open conversation of (channel, address), or a
        new conversation with an incident of its own. TextError (4xx) for a text refused."""
        ...


class WebAppChannel:
    """The 110 web page: the citizen's page asks for new replies; nothing is pushed."""

    name = "web-app"

    async def send(self, address: str, text: str) -> Delivery:
        return Delivery(ok=True, detail="kept for the citizen's page")
