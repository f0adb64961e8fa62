"""The escalation ladder of one dispatch: who is called, in which order, until somebody answers.

Theory of operation
-------------------
A dispatch is a list of rungs (`Target`s, from `dispatch.plan`): the nearest officers in
rank, then the first officer's unit duty phone, then the duty phones up its chain of
command. The ladder calls one rung at a time, inside the caller's pool member. A rung that
is busy, rejects, is unreachable, or does not answer within `ring_timeout` is closed with that
outcome and the next rung is called at once. The first rung that answers is bridged into the
caller's conference and the ladder is done. When every rung failed the ladder is exhausted and
says so (an alert: nobody was reached).

Independently, `bridge_deadline` (the trunk INVITE + 30 s) raises one alert when no officer is
bridged by then: the 30 s target of R6 is missed, whatever the ladder is doing.

Same shape as the other cores: `start`, `handle(event, now)`, `next_deadline()`,
`on_deadline(now)`, each returning actions; time is a value; no I/O.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

NO_ANSWER = "no-answer"
BUSY = "busy"
REJECTED = "rejected"
UNREACHABLE = "unreachable"
FAILED = "failed"
ANSWERED = "answered"
CANCELLED = "cancelled"
RINGING = "ringing"
DIALLING = "dialling"
LEFT = "left"


def outcome_of(status: int) -> str:
    """What a final SIP status on an officer leg means for the ladder."""
    if status in (486, 600):
        return BUSY
    if status in (603, 403, 607):
        return REJECTED
    if status in (0, 404, 408, 410, 480, 502, 503, 504) or status >= 700:
        return UNREACHABLE  # no response, not registered, no route: the phone cannot be had
    return FAILED


class Kind(enum.Enum):
    OFFICER = "officer"
    DUTY_PHONE = "duty-phone"
    """The duty phone of the first officer's unit."""
    SUPERIOR = "superior"
    """A duty phone further up the chain of command."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    """One rung of the ladder."""

    kind: Kind
    """Officer, unit duty phone, or a superior unit's duty phone."""
    ident: str
    """Officer id, or unit id for duty phones."""
    name: str
    """Display name."""
    uri: str
    """SIP URI to call."""
    distance_m: float | None = None
    """Officer's great-circle distance to the incident (None for duty phones)."""
    eta_s: float | None = None
    """Officer's estimated arrival (None for duty phones)."""

    @property
    def key(self) -> str:
        """Name of the attempt inside the call (the member's leg is 'officer:<key>')."""
        return self.ident if self.kind is Kind.OFFICER else f"unit:{self.ident}"


@dataclass(slots=True)
class Attempt:
    """One rung called: who, when, and how it ended."""

    step: int
    """1-based position on the ladder."""
    target: Target
    """Who was called."""
    started_at: float
    """When the call was placed."""
    ringing_at: float | None = None
    ended_at: float | None = None
    outcome: str = DIALLING
    status: int = 0
    reason: str = ""


# -- events ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class LadderEvent:
    """Base of what the ladder is told."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TargetRinging(LadderEvent):
    """180/183 on the attempt's leg."""

    key: str
    """Target.key."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TargetAnswered(LadderEvent):
    """200 OK on the attempt's leg."""

    key: str
    """Target.key."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TargetFailed(LadderEvent):
    """The attempt's leg ended before an answer."""

    key: str
    """Target.key."""
    status: int
    """Final SIP status (0: none)."""
    reason: str
    """Reason phrase or local error."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Withdrawn(LadderEvent):
    """The dispatch is called off (the call ended)."""

    reason: str
    """Why."""


# -- actions --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class LadderAction:
    """Base of what the ladder asks for."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Dial(LadderAction):
    """Call this rung into the caller's conference."""

    attempt: Attempt
    """The attempt just opened."""


@dataclass(frozen=True, slots=True, kw_only=True)
class HangUpTarget(LadderAction):
    """Stop ringing this rung (no answer in time, or withdrawn)."""

    key: str
    """Target.key."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AttemptClosed(LadderAction):
    """An attempt has its outcome (to record, publish and count)."""

    attempt: Attempt
    """The closed attempt."""
    escalates_to: Kind | None
    """The kind of the next rung called because of it (None: none)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Reached(LadderAction):
    """A rung answered: it is joined to the conference."""

    attempt: Attempt
    """The answered attempt."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Alert(LadderAction):
    """Something a supervisor must see now."""

    kind: str
    """'bridge-late' (30 s passed) or 'ladder-exhausted' (nobody could be reached)."""
    message: str
    """For people."""


@dataclass(slots=True)
class Ladder:
    """One dispatch's escalation (see the module docstring)."""

    targets: list[Target]
    ring_timeout: float
    bridge_deadline: float
    attempts: list[Attempt] = field(default_factory=list)
    done: bool = False
    reached: Attempt | None = None
    _ring_until: float | None = None
    _late_alerted: bool = False

    def start(self, now: float) -> list[LadderAction]:
        """Call the first rung (or say at once that there is nobody to call)."""
        return self._next(now, None)

    def handle(self, event: LadderEvent, now: float) -> list[LadderAction]:
        current = self._current()
        if isinstance(event, Withdrawn):
            self._late_alerted = True  # nobody left to bridge: no 30 s alert either
            if current is None or self.done:
                self.done = True
                return []
            self.done = True
            self._ring_until = None
            closed = self._close(current, CANCELLED, 0, event.reason, now)
            return [
                HangUpTarget(key=current.target.key),
                AttemptClosed(attempt=closed, escalates_to=None),
            ]
        key = event.key if isinstance(event, TargetRinging | TargetAnswered | TargetFailed) else ""
        if current is None or self.done or key != current.target.key:
            return []  # about an attempt already closed (a late 180, a CANCEL's 487)
        if isinstance(event, TargetRinging):
            if current.ringing_at is None:
                current.ringing_at = now
                current.outcome = RINGING
            return []
        if isinstance(event, TargetAnswered):
            self.done = True
            self._ring_until = None
            self.reached = self._close(current, ANSWERED, 200, "", now)
            return [Reached(attempt=self.reached)]
        if isinstance(event, TargetFailed):
            closed = self._close(current, outcome_of(event.status), event.status, event.reason, now)
            return self._next(now, closed)
        return []

    def next_deadline(self) -> float | None:
        times = [t for t in (self._ring_until,) if t is not None]
        if self.reached is None and not self._late_alerted:
            times.append(self.bridge_deadline)
        return min(times, default=None)

    def on_deadline(self, now: float) -> list[LadderAction]:
        actions: list[LadderAction] = []
        if self.reached is None and not self._late_alerted and now >= self.bridge_deadline:
            self._late_alerted = True
            tried = ", ".join(f"{a.target.name} ({a.outcome})" for a in self.attempts) or "nobody"
            actions.append(
                Alert(kind="bridge-late", message=f"no officer bridged in time; tried {tried}")
            )
        current = self._current()
        if (
            current is not None
            and not self.done
            and self._ring_until is not None
            and now >= self._ring_until
        ):
            self._close(current, NO_ANSWER, 0, f"no answer in {self.ring_timeout:g} s", now)
            actions.append(HangUpTarget(key=current.target.key))
            actions += self._next(now, current)
        return actions

    # -- internals ---------------------------------------------------------------------------

    def _current(self) -> Attempt | None:
        if not self.attempts or self.attempts[-1].ended_at is not None:
            return None
        return self.attempts[-1]

    def _close(
        self, attempt: Attempt, outcome: str, status: int, reason: str, now: float
    ) -> Attempt:
        attempt.ended_at = now
        attempt.outcome = outcome
        attempt.status = status
        attempt.reason = reason
        return attempt

    def _next(self, now: float, closed: Attempt | None) -> list[LadderAction]:
        step = len(self.attempts)
        actions: list[LadderAction] = []
        if step >= len(self.targets):
            self.done = True
            self._ring_until = None
            if closed is not None:
                actions.append(AttemptClosed(attempt=closed, escalates_to=None))
            who = ", ".join(f"{a.target.name} ({a.outcome})" for a in self.attempts)
            actions.append(
                Alert(
                    kind="ladder-exhausted",
                    message=f"nobody could be reached: {who}"
                    if who
                    else "no officer or duty phone to call for this location",
                )
            )
            return actions
        target = self.targets[step]
        if closed is not None:
            actions.append(AttemptClosed(attempt=closed, escalates_to=target.kind))
        attempt = Attempt(step=step + 1, target=target, started_at=now)
        self.attempts.append(attempt)
        self._ring_until = now + self.ring_timeout
        actions.append(Dial(attempt=attempt))
        return actions
