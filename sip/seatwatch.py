"""A seat phone that went silent: the connected seat leg's RTP counter, watched (pj thread).

A seat phone that crashed or lost its network sends no BYE: its leg would stay "connected" for
ever while the caller hears nothing. No RTP from it for `timeout` s means the leg is dead (seat
phones must not suppress silence). Only a stream the far end sends on counts: a seat leg on
hold or inactive is not expected to send.
"""

from __future__ import annotations

from typing import Any

import pjsua2 as pj

CHECK_S = 0.5
"""How often the connected seat leg's RTP counter is read."""


class SeatMediaWatch:
    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._seen: tuple[str, int, float] | None = None  # leg, packets, since
        self._next = 0.0

    def dead(self, name: str | None, leg: Any, now: float) -> str:
        """Why the connected seat leg `name` is dead ('' while it is alive or not judged)."""
        if self.timeout <= 0 or now < self._next:
            return ""
        self._next = now + CHECK_S
        packets = leg.media.rx_packets(leg) if leg is not None else None
        if name is None or packets is None or not receiving(leg):
            self._seen = None
            return ""
        if self._seen is None or self._seen[:2] != (name, packets):
            self._seen = (name, packets, now)
            return ""
        if now - self._seen[2] < self.timeout:
            return ""
        self._seen = None
        return f"no RTP from the seat phone for {self.timeout:g} s"


def receiving(leg: Any) -> bool:
    """Whether the leg's audio stream is one the far end sends on (not on hold, inactive)."""
    try:
        info = leg.getInfo()  # kept: SWIG members of a temporary dangle once it is freed
        media = info.media[leg.media.index]
    except (pj.Error, IndexError):
        return False
    return bool(media.dir & pj.PJMEDIA_DIR_DECODING) and media.status == pj.PJSUA_CALL_MEDIA_ACTIVE
