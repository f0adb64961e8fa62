"""Conference controls for the call-taker: leave, rejoin, hold and mute.

Checked here against what the engine knows (the call is active, an officer or an agency's
desk is bridged before the call-taker may leave, the seat is free before it is called back),
then sent to the pool member that owns the call, which carries them out in its conference. The
outcome comes back as member events (`SeatLeft(call_goes_on)`, `SeatRejoined`, ...), handled
by the router.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from acd import events as acd
from acd.distributor import Distributor
from acd.seats import SeatState
from dispatch.errors import DispatchError
from engine.calls import REJOIN_REASON, CallRecord, CallRouter
from sip import messages as msg


class CallControls:
    """See the module docstring."""

    def __init__(
        self,
        router: CallRouter,
        distributor: Distributor,
        send: Callable[[str, msg.Message], bool],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.router = router
        self.acd = distributor
        self.send = send
        self.clock = clock

    def leave(self, call_id: str) -> None:
        record = self._active(call_id)
        if record.handed_off and not record.rejoined_seat:
            raise DispatchError("the call-taker has already left this call", 409)
        if not record.guest_in_call:
            raise DispatchError(
                "the call-taker can leave only once an officer or an agency's desk is bridged",
                409,
            )
        self._send(call_id, msg.LeaveSeat())

    def rejoin(self, call_id: str, seat_id: str = "") -> str:
        record = self._active(call_id)
        if not record.handed_off or record.rejoined_seat:
            raise DispatchError("a call-taker is in this call's conference already", 409)
        seat_id = seat_id or record.seat_id
        view = self.acd.seat(seat_id)  # AcdError 404 when unknown
        if view.state is not SeatState.READY:
            raise DispatchError(
                f"seat {seat_id} is {view.state.value}: only a ready seat can rejoin", 409
            )
        # held back from the queue while its phone rings for the conference
        self.router.agent(
            acd.AgentWentNotReady(at=self.clock(), seat_id=seat_id, reason=REJOIN_REASON)
        )
        self._send(call_id, msg.RejoinSeat(seat_id=seat_id, uri=view.contact))
        return seat_id

    def hold(self, call_id: str, held: bool) -> None:
        record = self._active(call_id)
        self._send(call_id, msg.HoldCaller(held=held))
        record.held = held

    def mute(self, call_id: str, muted: bool) -> None:
        record = self._active(call_id)
        if record.handed_off and not record.rejoined_seat:
            raise DispatchError("the call-taker has left this call", 409)
        self._send(call_id, msg.MuteSeat(muted=muted))
        record.muted = muted

    def _active(self, call_id: str) -> CallRecord:
        record = self.router.calls.get(call_id)
        if record is None:
            raise DispatchError(f"no active call {call_id!r}", 404)
        if record.answered_at is None:
            raise DispatchError("the call is not answered yet", 409)
        return record

    def _send(self, call_id: str, command: msg.Message) -> None:
        if not self.send(call_id, command):
            raise DispatchError("the call's pool member is gone", 409)
