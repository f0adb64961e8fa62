"""Child processes die with their parent (Linux PR_SET_PDEATHSIG).

Every process the engine starts (fork server, members, Kamailio, simulated seats) asks the
kernel for a signal when its parent dies, so a crashed or killed engine never leaves a pool of
orphans holding the trunk's ports.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal

_PR_SET_PDEATHSIG = 1


def die_with_parent(sig: int = signal.SIGKILL) -> None:
    """Ask for `sig` when the parent process dies (call it in the child)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, sig)


def own_group_dying_with_parent() -> None:
    """preexec_fn for a supervised daemon: its own process group, SIGTERM when we die."""
    die_with_parent(signal.SIGTERM)
    os.setpgrp()
