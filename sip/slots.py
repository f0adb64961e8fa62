"""The pool's bookkeeping: which slot runs which member, and which to start or stop next.

Theory of operation
-------------------
The pool has `size` slots; slot i owns SIP port `base + i` and its own RTP range, and Kamailio's
dispatcher lists every slot. A slot runs at most one member process at a time:

    COLD --start--> STARTING --ready--> WARM --call offered--> BUSY --call ended--> DRAINING
      ^                 |                 |                      |                     |
      +-----------------+----- exit ------+--------- exit -------+------- exit --------+
                        (abnormal exits go to DEAD and are restarted, with a growing back-off
                         when a slot keeps failing before it ever serves a call)

Only WARM members are active in the dispatcher: a member is deactivated the moment it takes a
call (a race is harmless: a busy member answers 486 and Kamailio tries the next). After each
call the member exits and the slot is refilled, so nothing leaks from one call to the next.
`plan` keeps `warm` members WARM or STARTING whenever free slots allow, and stops surplus idle
members. A member that dies while BUSY loses its own call: `CallLost` says so, once.

Pure: events in, actions out, time passed in.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

START_TIMEOUT = 10.0
"""A member not ready this long after its fork is killed and its slot restarted."""
MAX_BACKOFF = 30.0


class SlotState(enum.Enum):
    COLD = "cold"
    STARTING = "starting"
    WARM = "warm"
    BUSY = "busy"
    DRAINING = "draining"
    DEAD = "dead"


@dataclass(frozen=True, slots=True, kw_only=True)
class SlotAction:
    """Base of the pool shell's work items."""


@dataclass(frozen=True, slots=True, kw_only=True)
class StartMember(SlotAction):
    """Fork a member for a slot."""

    slot: int
    member_id: int


@dataclass(frozen=True, slots=True, kw_only=True)
class StopMember(SlotAction):
    """Ask an idle member to exit (surplus), or kill one that never became ready."""

    slot: int
    member_id: int
    kill: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class SetFrontState(SlotAction):
    """Make a slot active or inactive in the front's dispatcher."""

    slot: int
    active: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class CallLost(SlotAction):
    """A member died while it held a call: that call is lost (its legs must be ended)."""

    slot: int
    member_id: int
    call_id: str
    reason: str


@dataclass(slots=True)
class Slot:
    index: int
    state: SlotState = SlotState.COLD
    member_id: int = 0
    call_id: str = ""
    since: float = 0.0
    failures: int = 0
    retry_at: float | None = None


class Slots:
    """Slot states for a pool of one-call members (see the module docstring)."""

    def __init__(self, size: int, warm: int, backoff: float) -> None:
        self.slots = [Slot(index) for index in range(size)]
        self.warm = warm
        self.backoff = backoff
        self.restarts = 0
        self.stopping = False
        self._next_id = 0

    # -- queries ----------------------------------------------------------------------------

    def count(self, state: SlotState) -> int:
        return sum(1 for slot in self.slots if slot.state is state)

    def counts(self) -> dict[SlotState, int]:
        return {state: self.count(state) for state in SlotState}

    def by_member(self, member_id: int) -> Slot | None:
        for slot in self.slots:
            if slot.member_id == member_id and slot.state is not SlotState.COLD:
                return slot
        return None

    def next_deadline(self) -> float | None:
        times = [slot.retry_at for slot in self.slots if slot.retry_at is not None]
        times += [
            slot.since + START_TIMEOUT for slot in self.slots if slot.state is SlotState.STARTING
        ]
        return min(times) if times else None

    # -- events -----------------------------------------------------------------------------

    def plan(self, now: float) -> list[SlotAction]:
        """Start members until `warm` are WARM or STARTING; stop a surplus of idle ones."""
        if self.stopping:
            return []
        actions: list[SlotAction] = []
        ready_or_coming = self.count(SlotState.WARM) + self.count(SlotState.STARTING)
        for slot in self.slots:
            if ready_or_coming >= self.warm:
                break
            if slot.state is SlotState.COLD or (
                slot.state is SlotState.DEAD and slot.retry_at is not None and slot.retry_at <= now
            ):
                actions.append(self._start(slot, now))
                ready_or_coming += 1
        surplus = self.count(SlotState.WARM) - (self.warm + max(2, self.warm // 2))
        for slot in reversed(self.slots):
            if surplus <= 0:
                break
            if slot.state is SlotState.WARM:
                actions += self._leave_warm(slot, SlotState.DRAINING, now)
                actions.append(StopMember(slot=slot.index, member_id=slot.member_id))
                surplus -= 1
        return actions

    def member_ready(self, member_id: int, now: float) -> list[SlotAction]:
        slot = self.by_member(member_id)
        if slot is None or slot.state is not SlotState.STARTING:
            return []
        if self.stopping:  # it was asked to stop while it started
            return [StopMember(slot=slot.index, member_id=member_id)]
        slot.state, slot.since = SlotState.WARM, now
        return [SetFrontState(slot=slot.index, active=True)]

    def spawn_failed(self, member_id: int, now: float) -> list[SlotAction]:
        slot = self.by_member(member_id)
        if slot is None:
            return []
        return self._died(slot, now, "the fork server could not start it") + self.plan(now)

    def call_taken(self, member_id: int, call_id: str, now: float) -> list[SlotAction]:
        slot = self.by_member(member_id)
        if slot is None or slot.state not in (SlotState.WARM, SlotState.STARTING):
            return []
        actions = self._leave_warm(slot, SlotState.BUSY, now)
        slot.call_id = call_id
        slot.failures = 0
        return actions + self.plan(now)

    def call_finished(self, member_id: int, now: float) -> list[SlotAction]:
        slot = self.by_member(member_id)
        if slot is None or slot.state is not SlotState.BUSY:
            return []
        slot.state, slot.since, slot.call_id = SlotState.DRAINING, now, ""
        return []

    def member_exited(self, member_id: int, code: int, signal: int, now: float) -> list[SlotAction]:
        """The process is gone (and its IPC connection closed)."""
        slot = self.by_member(member_id)
        if slot is None:
            return []
        if slot.state is SlotState.DRAINING and code == 0 and signal == 0:
            slot.state, slot.since, slot.member_id = SlotState.COLD, now, 0
            return self.plan(now)
        how = f"killed by signal {signal}" if signal else f"exited with status {code}"
        return self._died(slot, now, how) + self.plan(now)

    def drain(self) -> list[SlotAction]:
        """Take no new calls (idle members stop, none start); calls in progress go on."""
        self.stopping = True
        actions: list[SlotAction] = []
        for slot in self.slots:
            if slot.state is SlotState.WARM:
                actions += self._leave_warm(slot, SlotState.DRAINING, slot.since)
                actions.append(StopMember(slot=slot.index, member_id=slot.member_id))
            elif slot.state is SlotState.STARTING:
                actions.append(StopMember(slot=slot.index, member_id=slot.member_id))
        return actions

    def stop_all(self) -> list[SlotAction]:
        """Drain, and end the calls in progress too."""
        actions = self.drain()
        for slot in self.slots:
            if slot.state is SlotState.BUSY:
                actions.append(StopMember(slot=slot.index, member_id=slot.member_id))
        return actions

    def front_restarted(self) -> list[SlotAction]:
        """A fresh front lists every slot inactive: activate the WARM ones again."""
        if self.stopping:
            return []
        return [
            SetFrontState(slot=slot.index, active=True)
            for slot in self.slots
            if slot.state is SlotState.WARM
        ]

    def on_deadline(self, now: float) -> list[SlotAction]:
        actions: list[SlotAction] = []
        for slot in self.slots:
            if slot.state is SlotState.STARTING and slot.since + START_TIMEOUT <= now:
                actions.append(StopMember(slot=slot.index, member_id=slot.member_id, kill=True))
                slot.since = now  # its exit will come; do not kill it twice
            if slot.retry_at is not None and slot.retry_at <= now and slot.state is SlotState.DEAD:
                slot.retry_at = None
                slot.state = SlotState.COLD
                slot.member_id = 0
        return actions + self.plan(now)

    # -- internals --------------------------------------------------------------------------

    def _start(self, slot: Slot, now: float) -> StartMember:
        self._next_id += 1
        slot.state, slot.since, slot.member_id = SlotState.STARTING, now, self._next_id
        slot.retry_at = None
        return StartMember(slot=slot.index, member_id=slot.member_id)

    def _leave_warm(self, slot: Slot, state: SlotState, now: float) -> list[SlotAction]:
        was_warm = slot.state is SlotState.WARM
        slot.state, slot.since = state, now
        return [SetFrontState(slot=slot.index, active=False)] if was_warm else []

    def _died(self, slot: Slot, now: float, how: str) -> list[SlotAction]:
        actions: list[SlotAction] = []
        if slot.state is SlotState.WARM:
            actions.append(SetFrontState(slot=slot.index, active=False))
        if slot.state is SlotState.BUSY and slot.call_id:
            actions.append(
                CallLost(
                    slot=slot.index,
                    member_id=slot.member_id,
                    call_id=slot.call_id,
                    reason=f"pool member {how}",
                )
            )
        if slot.state in (SlotState.STARTING, SlotState.WARM):
            slot.failures += 1  # never served a call: maybe a crash loop
        self.restarts += 1
        delay = (
            0.0 if slot.failures <= 1 else min(MAX_BACKOFF, self.backoff * 2 ** (slot.failures - 2))
        )
        if self.stopping:
            slot.state, slot.member_id, slot.retry_at = SlotState.COLD, 0, None
        else:
            slot.state, slot.since, slot.call_id = SlotState.DEAD, now, ""
            slot.retry_at = now + delay
        return actions
