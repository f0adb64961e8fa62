"""A service level counted per minute: calls answered within 3 s (R1), officers bridged within
30 s (R6). The dashboard asks for the share over the last minutes ("live") and since the city's
midnight ("today"); minute buckets keep that cheap for any number of calls, for two days."""

from __future__ import annotations

from collections import deque
from typing import Any

KEEP_MINUTES = 48 * 60


class SlaWindow:
    """Per-minute counts of (met, total) for the last KEEP_MINUTES minutes."""

    def __init__(self, keep_minutes: int = KEEP_MINUTES) -> None:
        self._buckets: deque[list[int]] = deque(maxlen=keep_minutes)  # [minute, met, total]

    def count(self, wall: float, met: bool) -> None:
        minute = int(wall // 60)
        if not self._buckets or self._buckets[-1][0] < minute:
            self._buckets.append([minute, 0, 0])
        bucket = self._buckets[-1] if self._buckets[-1][0] == minute else self._find(minute)
        if bucket is None:
            return  # older than the window: nobody will ask for it
        bucket[1] += int(met)
        bucket[2] += 1

    def since(self, wall: float) -> dict[str, Any]:
        """met, total and share (None when nothing was counted) from `wall` on (minute-exact)."""
        first = int(wall // 60)
        met = sum(b[1] for b in self._buckets if b[0] >= first)
        total = sum(b[2] for b in self._buckets if b[0] >= first)
        return {"met": met, "total": total, "share": round(met / total, 4) if total else None}

    def _find(self, minute: int) -> list[int] | None:
        return next((b for b in reversed(self._buckets) if b[0] == minute), None)
