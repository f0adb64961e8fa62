"""What the pure `conference.bridge.Bridge` asks its pool member's shell to do.

Media/signalling work items for the pjsua2 shell (`sip.useragent`), plus `Notify`, which carries a
`sip.messages` event to the engine as it is sent.
"""

from __future__ import annotations

from dataclasses import dataclass

from sip import messages as msg

ANNOUNCEMENT = "announcement"
"""Pseudo-port: the looping queue announcement (a player)."""
HOLD = "hold"
"""Pseudo-port: what a caller on hold hears (a player)."""
RECORDER = "recorder"
"""Pseudo-port: the call's WAV recording (the conference mix of every party)."""
PSEUDO_PORTS = frozenset({ANNOUNCEMENT, HOLD, RECORDER})


@dataclass(frozen=True, slots=True, kw_only=True)
class BridgeAction:
    """Base of the shell's work items."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SendRinging(BridgeAction):
    """Send 180 Ringing to the caller."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AnswerCaller(BridgeAction):
    """Send 200 OK to the caller."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RefuseCaller(BridgeAction):
    """Send a final error response to the unanswered caller."""

    status: int
    """SIP status code."""
    reason: str
    """Reason phrase ('' for the default)."""
    retry_after: int
    """Retry-After seconds (0 = no header)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DialLeg(BridgeAction):
    """Place an outgoing call."""

    leg: str
    """Leg name ('seat:<id>' or 'officer:<target>')."""
    uri: str
    """Where to."""


@dataclass(frozen=True, slots=True, kw_only=True)
class EndLeg(BridgeAction):
    """CANCEL or BYE a leg."""

    leg: str
    """Leg name."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Route(BridgeAction):
    """Start or stop one direction of audio in the member's conference bridge."""

    src: str
    """Leg name or pseudo-port (ANNOUNCEMENT, HOLD) that is heard."""
    dst: str
    """Leg name or pseudo-port (RECORDER) that hears it."""
    on: bool
    """True: startTransmit; False: stopTransmit."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Notify(BridgeAction):
    """Send an event to the engine."""

    message: msg.Message
    """The event."""
