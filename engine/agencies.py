"""An agency's desk in a call: the anti-fraud centre bridged in beside the call-taker (R9), the
caller handed over to the 12345 government hotline (R10).

Both are a leg that the call's pool member dials into its conference (`msg.DialAgency`). A
'bridge' keeps the call-taker in the call. A 'transfer' is a warm transfer by bridge: once the
desk's audio is linked with the caller's, the call-taker leaves, the seat is free for the next
call, and caller and desk talk on. A SIP REFER would instead hand the caller back to the
carrier, and if 12345 were busy or did not answer, a caller of the emergency number would be
left with nobody on the line; the bridge keeps the call, its recording and its record here,
and a desk that fails leaves the call-taker with the caller. A desk that does not answer in
`ring_timeout` seconds is withdrawn. Every step is an 'agency/<step>' event, which the incident
service files in the incident's audit trail.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dispatch.errors import DispatchError
from engine.alerts import Events
from engine.calls import CallRecord, CallRouter, after
from metrics.registry import Metrics
from sip import messages as msg

log = logging.getLogger(__name__)
AGENCIES = ("anti-fraud", "12345")
PURPOSES = ("bridge", "transfer")
OUTCOMES = (
    "completed",  # bridged, then the desk hung up or the call ended
    "no-answer",
    "busy",
    "rejected",
    "failed",
    "withdrawn",  # taken back by the call-taker before the desk answered
    "released",  # taken out of the conference by the call-taker after it was bridged
    "call-ended",  # the call ended before the desk answered
)


@dataclass(slots=True)
class AgencyLink:
    """One attempt to bring an agency's desk into a call (kept in the call's record)."""

    agency: str
    uri: str
    purpose: str
    """'bridge' (the call-taker stays) or 'transfer' (the call-taker leaves once bridged)."""
    actor: str
    started_at: float
    ringing_at: float | None = None
    bridged_at: float | None = None
    ended_at: float | None = None
    outcome: str = ""
    status: int = 0
    reason: str = ""

    def view(self, since: float) -> dict[str, Any]:
        def rel(t: float | None) -> float | None:
            return after(t, since)

        return {
            "agency": self.agency,
            "uri": self.uri,
            "purpose": self.purpose,
            "actor": self.actor,
            "started": rel(self.started_at),
            "ringing": rel(self.ringing_at),
            "bridged": rel(self.bridged_at),
            "ended": rel(self.ended_at),
            "outcome": self.outcome or None,
            "status": self.status or None,
            "reason": self.reason,
        }


def outcome_of(status: int) -> str:
    """The outcome of a desk leg that ended before it was answered, from its SIP status."""
    if status in (486, 600):
        return "busy"
    if status in (403, 603):
        return "rejected"
    if status in (408, 480, 487):
        return "no-answer"
    return "failed"


class AgencyLinks:
    """See the module docstring."""

    def __init__(
        self,
        router: CallRouter,
        send: Callable[[str, msg.Message], bool],
        events: Events,
        metrics: Metrics,
        ring_timeout: float,
        uris: dict[str, str],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.uris = uris
        """Each agency's desk as configured (routing rules: anti_fraud.bridge_uri,
        hotline_12345.transfer_uri)."""
        self.router = router
        self.send = send
        self.events = events
        self.metrics = metrics
        self.ring_timeout = ring_timeout
        self.clock = clock
        self._timers: dict[tuple[str, str], asyncio.TimerHandle] = {}
        for agency in AGENCIES:  # every series from the start: dashboards see 0, not a gap
            for outcome in OUTCOMES:
                metrics.agency_links.labels(agency, outcome)

    # -- the call-taker's (and the routing rules') requests ------------------------------------

    def link(
        self, call_id: str, agency: str, uri: str = "", *, purpose: str = "", actor: str
    ) -> AgencyLink:
        """Dial the agency's desk (`uri`, else the configured one) into the call's conference;
        the purpose defaults to a bridge for the anti-fraud centre, a transfer for 12345."""
        if agency not in AGENCIES:
            raise DispatchError(f"unknown agency {agency!r} (one of {', '.join(AGENCIES)})", 404)
        uri = uri or self.uris.get(agency, "")
        purpose = purpose or ("transfer" if agency == "12345" else "bridge")
        if purpose not in PURPOSES:
            raise DispatchError(f"purpose must be one of {', '.join(PURPOSES)}", 400)
        if not uri:
            raise DispatchError(f"no SIP URI is configured for the {agency} desk", 409)
        record = self.router.calls.get(call_id)
        if record is None:
            raise DispatchError(f"no active call {call_id!r}", 404)
        if record.answered_at is None:
            raise DispatchError("the call is not answered yet", 409)
        busy = next((link for link in record.agencies if link.ended_at is None), None)
        if busy is not None:
            raise DispatchError(f"the {busy.agency} desk is already in this call", 409)
        if not self.send(call_id, msg.DialAgency(agency=agency, uri=uri)):
            raise DispatchError("the call's pool member is gone", 409)
        link = AgencyLink(
            agency=agency, uri=uri, purpose=purpose, actor=actor, started_at=self.clock()
        )
        record.agencies.append(link)
        log.info("[call %s] %s desk dialled for a %s (%s)", call_id, agency, purpose, uri)
        self._publish("dialing", call_id, link, uri=uri, actor=actor)
        self._arm(call_id, agency)
        return link

    def unlink(self, call_id: str, agency: str, actor: str) -> AgencyLink:
        """Stop ringing the desk, or take it out of the conference."""
        record = self.router.calls.get(call_id)
        link = self._open(record, agency)
        if record is None or link is None:
            raise DispatchError(f"the {agency} desk is not in call {call_id!r}", 404)
        seat_gone = record.handed_off and not record.rejoined_seat
        officer = record.dispatch is not None and record.dispatch.officer_in_call
        if link.bridged_at is not None and seat_gone and not officer:
            raise DispatchError("the caller would be left alone: rejoin the call-taker first", 409)
        self.send(call_id, msg.CancelAgency(agency=agency))
        outcome = "released" if link.bridged_at is not None else "withdrawn"
        self._close(call_id, link, outcome, 0, f"taken out by {actor}")
        return link

    # -- the member's events ---------------------------------------------------------------------

    def on_member_event(self, event: msg.Message) -> None:
        try:
            self._on_member_event(event)
        except Exception:  # one bad event must not stop the other calls' links
            log.exception("agency links failed on %r", event)

    def _on_member_event(self, event: msg.Message) -> None:
        call_id = getattr(event, "call_id", "")
        record = self.router.calls.get(call_id) or self.router.find(call_id)
        if isinstance(event, msg.AgencyLeg):
            link = self._open(record, event.agency)
            if record is not None and link is not None:
                self._step(record, link, event)
        elif (isinstance(event, msg.CallEnded) or type(event).__name__ == "MemberLost") and record:
            for link in record.agencies:
                if link.ended_at is None:
                    outcome = "completed" if link.bridged_at is not None else "call-ended"
                    self._close(call_id, link, outcome, 0, "the call ended")

    def _step(self, record: CallRecord, link: AgencyLink, event: msg.AgencyLeg) -> None:
        call_id = record.call_id
        if event.state == "ringing":
            link.ringing_at = event.at
            self._publish("ringing", call_id, link)
        elif event.state == "answered":
            self._disarm(call_id, link.agency)
            self._publish("answered", call_id, link)
        elif event.state == "bridged":
            link.bridged_at = event.at
            seconds = round(event.at - link.started_at, 3)
            log.info("[call %s] %s desk bridged after %.1f s", call_id, link.agency, seconds)
            self._publish("bridged", call_id, link, seconds=seconds)
            seat_in_call = not record.handed_off or bool(record.rejoined_seat)
            if link.purpose == "transfer" and seat_in_call:
                # the hand-over: the call-taker leaves, the caller talks on with the desk
                self.send(call_id, msg.LeaveSeat())
        elif event.state == "failed":
            self._close(call_id, link, outcome_of(event.status), event.status, event.reason)
        elif event.state == "left":
            self._close(call_id, link, "completed", event.status, event.reason or "hung up")

    # -- internals -------------------------------------------------------------------------------

    def _open(self, record: CallRecord | None, agency: str) -> AgencyLink | None:
        if record is None:
            return None
        return next(
            (k for k in reversed(record.agencies) if k.agency == agency and k.ended_at is None),
            None,
        )

    def _close(self, call_id: str, link: AgencyLink, outcome: str, status: int, why: str) -> None:
        self._disarm(call_id, link.agency)
        link.ended_at = self.clock()
        link.outcome, link.status, link.reason = outcome, status, why
        self.metrics.agency_links.labels(link.agency, outcome).inc()
        if link.bridged_at is None and outcome != "call-ended":
            # the caller is still with the call-taker, who must know at once
            log.warning(
                "[call %s] %s desk not reached: %s (%s %s)",
                call_id, link.agency, outcome, status or "", why,
            )  # fmt: skip
        step = "failed" if link.bridged_at is None else "ended"
        self._publish(step, call_id, link, outcome=outcome, status=status, reason=why)

    def _publish(self, step: str, call_id: str, link: AgencyLink, **data: Any) -> None:
        self.events.publish(
            f"agency/{step}", call_id=call_id, agency=link.agency, purpose=link.purpose, **data
        )

    def _arm(self, call_id: str, agency: str) -> None:
        loop = asyncio.get_running_loop()
        self._timers[(call_id, agency)] = loop.call_later(
            self.ring_timeout, self._no_answer, call_id, agency
        )

    def _disarm(self, call_id: str, agency: str) -> None:
        timer = self._timers.pop((call_id, agency), None)
        if timer is not None:
            timer.cancel()

    def _no_answer(self, call_id: str, agency: str) -> None:
        self._timers.pop((call_id, agency), None)
        record = self.router.calls.get(call_id)
        link = self._open(record, agency)
        if link is None or link.bridged_at is not None:
            return
        self.send(call_id, msg.CancelAgency(agency=agency))
        why = f"no answer in {self.ring_timeout:g} s"
        self._close(call_id, link, "no-answer", 0, why)

    def stop(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
