"""Messages between the engine and a pool member for a WebRTC caller (the 110 web app).

A WebRTC call is offered to an idle member like a trunk INVITE, but by the engine: the browser's
SDP offer travels in `WebOffer`; the member answers it with aiortc and reports `WebAnswered`
(then `CallOffered`, so the call enters the ACD like any other) or `WebRefused`. The console's
live view of the caller's video and the snapshot for the officer are asked of the same member.
`sip.messages` names these with the rest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sip.message_base import Message

# -- engine -> member ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class WebOffer(Message):
    """Take a WebRTC caller: answer this SDP offer (non-trickle: it carries its candidates)."""

    offer: str
    caller: str
    """The call-back number the citizen typed ('' when none)."""
    session: str
    """The engine's id for this web session (the SIP Call-ID of its records)."""
    location: dict[str, Any] | None = None
    """The browser's position when it called: lat, lon, radius_m, method."""
    video: bool = True
    """Take the caller's video; False when the centre's video capacity is used up: the answer
    refuses the video stream (the browser stops sending it) and the call is audio only."""


@dataclass(frozen=True, slots=True, kw_only=True)
class WebCancel(Message):
    """The engine gave up on this offer (refused elsewhere, or no answer in time). A member
    with no call exits (`WebReleased`); one that took this caller ends the call; one that took
    a trunk call meanwhile ignores this: an emergency call is never hung up for a web offer."""

    session: str


@dataclass(frozen=True, slots=True, kw_only=True)
class WebHangUp(Message):
    """The citizen pressed hang up on the page."""

    reason: str = "caller hung up"


@dataclass(frozen=True, slots=True, kw_only=True)
class WatchVideo(Message):
    """A console wants the caller's live video: answer its SDP offer with the relayed track."""

    watch_id: str
    offer: str
    viewer: str = ""
    """Who watches (the console's user): a console that looks again replaces its own view."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TakeSnapshot(Message):
    """Write the caller's latest video frame as a JPEG to `path`."""

    request_id: str
    path: str


# -- member -> engine ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class WebAnswered(Message):
    """The member took the WebRTC caller; `answer` goes back to the browser."""

    member_id: int
    session: str
    call_id: str
    answer: str
    video: bool
    """Whether the caller sends video."""


@dataclass(frozen=True, slots=True, kw_only=True)
class WebRefused(Message):
    """The member could not take the WebRTC caller (it took a trunk call first, bad SDP...)."""

    member_id: int
    session: str
    reason: str
    busy: bool = False
    """This member has another call (a trunk INVITE came first): it is not released."""
    retry: bool = False
    """The offer may succeed on another member (a timeout, an internal error); False for an
    offer that is itself bad (400 to the page)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class WebReleased(Message):
    """The member took no call for the cancelled offer and exits; its slot is refilled."""

    member_id: int
    session: str


@dataclass(frozen=True, slots=True, kw_only=True)
class VideoAnswered(Message):
    call_id: str
    watch_id: str
    answer: str


@dataclass(frozen=True, slots=True, kw_only=True)
class VideoRefused(Message):
    call_id: str
    watch_id: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SnapshotTaken(Message):
    """The JPEG is at `path` ('' with `error` when there was no frame to take)."""

    call_id: str
    request_id: str
    path: str
    width: int = 0
    height: int = 0
    error: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class VideoRecorded(Message):
    """The caller's video is recorded and closed (or `error` says why not)."""

    call_id: str
    path: str
    size: int
    sha256: str
    frames: int
    seconds: float
    dropped: int = 0
    """Frames not recorded because the encoder fell behind."""
    width: int = 0
    height: int = 0
    error: str = ""


WEB_COMMANDS = (WebOffer, WebHangUp, WatchVideo, TakeSnapshot)
"""Served on the member's asyncio thread (sip.webdesk); WebCancel goes to the agent."""
WEB_EVENTS = (
    WebAnswered,
    WebRefused,
    WebReleased,
    VideoAnswered,
    VideoRefused,
    SnapshotTaken,
    VideoRecorded,
)
