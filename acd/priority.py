"""Who is served first: caller priority from what the centre remembers of recent calls.

A caller who rings again shortly after a call that was cut off or abandoned is owed a call
back: they go to the head of the queue. One who rings again after an answered call likely has
news about the same emergency: they go before first-time callers. A caller whose call-taker
was lost mid-call (a broken seat leg) is re-offered before everyone.
"""

from __future__ import annotations

from typing import Final

REPEAT: Final = 1
CALLBACK: Final = 2
REOFFER: Final = 3
ANONYMOUS: Final = frozenset({"", "anonymous", "unknown", "unavailable", "restricted"})
PRUNE_AT: Final = 10_000


class RecentCallers:
    """The last outcome per calling number, for `repeat_window` seconds."""

    def __init__(self, window: float) -> None:
        self.window = window
        self._last: dict[str, tuple[float, str]] = {}

    def remember(self, caller: str, at: float, outcome: str) -> None:
        if caller.lower() in ANONYMOUS or self.window <= 0:
            return
        self._last[caller] = (at, outcome)
        if len(self._last) > PRUNE_AT:
            self._last = {
                number: seen for number, seen in self._last.items() if at - seen[0] <= self.window
            }

    def boost(self, caller: str, now: float) -> tuple[int, str]:
        """Extra priority for `caller` now, and why ('' = none)."""
        seen = self._last.get(caller)
        if seen is None or now - seen[0] > self.window:
            return 0, ""
        if seen[1] in ("abandoned", "failed"):
            return CALLBACK, "callback"
        return REPEAT, "repeat-caller"
