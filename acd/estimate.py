"""Expected wait of a new call, from the seats' recent handle times (for admission control).

The classic estimate: with `staffed` call-takers each freeing up every `handle` seconds on
average, the k-th call in line waits about k x handle / staffed. Calls already waiting with the
same or higher priority are ahead of the new call; a READY seat serves one of them at once.
"""

from __future__ import annotations

import math
from collections.abc import Iterable


def mean_handle_time(per_seat: Iterable[Iterable[float]], default: float) -> float:
    """Mean of every seat's recent handle times; `default` while there are none."""
    times = [t for seat in per_seat for t in seat]
    return sum(times) / len(times) if times else default


def expected_wait(ahead: int, free: int, staffed: int, handle: float) -> float:
    """Seconds a call with `ahead` calls before it should wait (inf: nobody to answer)."""
    if ahead < free:
        return 0.0
    if staffed <= 0:
        return math.inf
    return (ahead - free + 1) * handle / staffed
