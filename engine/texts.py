"""The text desk shell: citizens' texts filed, queued and offered to seats (issue 7, R3/R5).

It runs the `intake.texts.TextDesk` core: input -> `desk.handle()` -> file -> `_execute()`.
Every message and every step of a conversation is an event of its incident, written (awaited)
before anyone is told and before the channel is acknowledged: the SMS gateway's 200 and the
citizen's 201 come after the write, so the incident's timeline holds the whole conversation.
Requests of one conversation (and of one SMS sender) are taken one at a time, so message
numbers and the first-SMS-opens-the-incident step cannot race.

A step is filed before it takes effect: the core checks it and holds the conversation
(`TextDesk.begin`), the shell files it, then the core applies it and the actions go out
(`commit`); a write that fails leaves the desk as it was (`abort`) and the error goes to the
requester (the SMS gateway gets 503 and sends again). A citizen's first text files its incident
and the conversation's opening in one transaction. Each step runs to its end in a task of its
own, so a request that goes away half-way cannot leave the store and the desk disagreeing.

Which seats may be offered texts: those where a call-taker is logged in with a session, a
console of the seat has the live stream open (engine.http_stream tells engine.access) and the
ACD has them READY, looked at every SEAT_LOOK s and at once when an offer runs out. A seat whose
console is gone `console_gone` s loses its conversations back to the line, filed as
`text-requeued` with an alert; a citizen's message unanswered `unanswered_alert` s raises an
alert. Events go out on the bus as `text/offered`, `text/withdrawn`, `text/requeued`,
`text/taken`, `text/message`, `text/delivery` and `text/closed`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Callable, Coroutine
from dataclasses import replace
from typing import Any, TypeVar

from prometheus_client import Counter, Gauge, Histogram

from acd.distributor import Distributor
from acd.seats import SeatState
from engine.access import Access
from engine.alerts import Events
from engine.http_intake import IntakeDesk
from engine.incidents import IncidentService
from incidents.store import Incident, IncidentEvent
from intake import events as ev
from intake.channels import Channel, Delivery, Received, WebAppChannel
from intake.texts import Conversation, Message, Step, TextDesk, TextError, check_text
from metrics.registry import Metrics

log = logging.getLogger(__name__)
SEAT_LOOK = 0.5
"""Seconds between looks at which seats are signed in and ready."""
ACCEPT_BUCKETS = (5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0)
RECOVER_S = 24 * 3600.0
"""At start, conversations opened this long ago and not closed are read back from the store."""
PAGE = 500
T = TypeVar("T")


class TextService:
    """See the module docstring."""

    def __init__(
        self,
        incidents: IncidentService,
        events: Events,
        metrics: Metrics,
        acd: Distributor,
        access: Access,
        *,
        offer_timeout: float = 20.0,
        per_seat: int = 3,
        console_gone: float = 60.0,
        unanswered_alert: float = 120.0,
        rate: IntakeDesk | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.incidents = incidents
        self.events = events
        self.acd = acd
        self.access = access
        self.clock = clock
        self.rate = rate
        """Citizens' messages per conversation a minute (None: the reports' limit)."""
        self.desk = TextDesk(
            offer_timeout=offer_timeout, per_seat=per_seat, console_gone=console_gone,
            unanswered_alert=unanswered_alert,
        )  # fmt: skip
        self.channels: dict[str, Channel] = {}
        self.add_channel(WebAppChannel())  # always: the page is served by this engine
        self._locks: dict[str, asyncio.Lock] = {}
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Future[Any]] = set()
        """Steps being filed and filings queued: held, so none is collected half-way."""
        r = metrics.registry
        waiting = Gauge(
            "hotline110_texts_waiting",
            "Text conversations no call-taker has taken yet.",
            registry=r,
        )
        waiting.set_function(lambda: len(self.desk.waiting()))
        oldest = Gauge(
            "hotline110_texts_oldest_waiting_seconds",
            "How long the oldest untaken text conversation has waited.",
            registry=r,
        )
        oldest.set_function(self._oldest)
        self.m_accept = Histogram(
            "hotline110_text_accept_seconds",
            "First text to a call-taker accepting the conversation.",
            buckets=ACCEPT_BUCKETS,
            registry=r,
        )
        self.m_messages = Counter(
            "hotline110_text_messages_total",
            "Text messages by channel and who wrote them.",
            ["channel", "sender"],
            registry=r,
        )
        self.m_deliveries = Counter(
            "hotline110_text_deliveries_total",
            "Replies handed to a channel, by outcome.",
            ["channel", "outcome"],
            registry=r,
        )
        self.m_expired = Counter(
            "hotline110_text_offers_expired_total",
            "Text offers a seat did not accept in time.",
            registry=r,
        )

    def add_channel(self, channel: Channel) -> None:
        self.channels[channel.name] = channel

    def _oldest(self) -> float:
        line = self.desk.waiting()
        return max(0.0, self.clock() - line[0].opened_at) if line else 0.0

    def _lock(self, key: str) -> asyncio.Lock:
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
            if len(self._locks) > 10_000:  # forget idle locks: a flood of senders is bounded
                for name in [k for k, v in self._locks.items() if not v.locked()][:5000]:
                    del self._locks[name]
        return lock

    # -- the loop: seats and offers ----------------------------------------------------------

    async def run(self) -> None:
        """Take back the conversations of the last RECOVER_S, then look at the seats and let
        offers run out; until cancelled."""
        try:
            found = await self.recover(time.time() - RECOVER_S)
            if found:
                log.info("text desk: %d open conversations taken back from the store", found)
        except Exception:
            log.exception("text desk: conversations could not be read back from the store")
        while True:
            now = self.clock()
            try:
                self._execute(self.desk.handle(ev.SeatsSeen(at=now, seats=self._seats()), now))
                due = self.desk.next_deadline()
                if due is not None and due <= now:
                    self._execute(self.desk.on_deadline(now))
            except Exception:
                log.exception("text desk: a look at the seats failed")
            due = self.desk.next_deadline()
            wait = SEAT_LOOK if due is None else min(SEAT_LOOK, max(0.0, due - self.clock()))
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)

    async def recover(self, since: float) -> int:
        """Rebuild the open conversations from their incidents' text-* events (the store is
        the truth: a restarted engine goes on with them, the citizen's token still works).
        They wait again, first in line; a seat that still has one gets it back when its
        call-taker accepts it again."""
        store, wall, now, found = self.incidents.store, time.time(), self.clock(), 0
        offset = 0
        while True:
            page, total = await store.query(since=since, limit=PAGE, offset=offset)
            for incident in page:
                if incident.source != "text" or incident.status == "closed":
                    continue
                for conversation in _replay(await store.events(incident.number), wall, now):
                    if conversation.id not in self.desk.conversations:
                        self.desk.conversations[conversation.id] = conversation
                        found += 1
            offset += PAGE
            if offset >= total:
                return found

    def _seats(self) -> tuple[ev.SeatSeen, ...]:
        seen = []
        watched = self.access.consoles()
        for seat in sorted(self.access.seats()):
            try:
                view = self.acd.seat(seat)
            except Exception:  # a seat no longer configured
                continue
            if view.state is not SeatState.LOGGED_OUT:
                ready = view.state is SeatState.READY
                seen.append(ev.SeatSeen(seat_id=seat, ready=ready, console=seat in watched))
        return tuple(seen)

    def look_now(self) -> None:
        """Someone signed in or became ready: look at the seats without waiting."""
        self._wake.set()

    # -- citizens ----------------------------------------------------------------------------

    async def receive(
        self,
        channel: str,
        address: str,
        text: str,
        *,
        caller: str = "",
        new_conversation: bool = False,
    ) -> Received:
        """A citizen's text on a channel (intake.channels.Desk): the open conversation of
        this address, else a new one with an incident of its own."""
        return await self._settle(self._receive(channel, address, check_text(text), caller,
                                                new_conversation))  # fmt: skip

    async def _receive(
        self, channel: str, address: str, text: str, caller: str, new_conversation: bool
    ) -> Received:
        async with self._lock(f"{channel}\n{address}"):
            found = None if new_conversation else self.desk.open_for(channel, address)
            if found is not None:
                return await self.citizen_wrote(found.id, text)
            _, received = await self.open_report(
                channel, address, text, caller=caller, actor=f"citizen:{caller or address}",
                location=None, location_error=f"not given ({channel})",
            )  # fmt: skip
            return received

    async def open_report(
        self,
        channel: str,
        address: str,
        text: str,
        *,
        caller: str,
        actor: str,
        location: dict[str, Any] | None,
        location_error: str = "",
        attachments: tuple[dict[str, Any], ...] = (),
    ) -> tuple[Incident, Received]:
        """A citizen's first text: an incident of its own and the conversation's opening, filed
        in one transaction (both or neither: a failure leaves nothing, so a retry files it
        once), then a new secret for the citizen's page. `address` '' means the conversation
        itself (the web page)."""
        return await self._settle(self._open(channel, address, text, caller, actor, location,
                                             location_error, attachments))  # fmt: skip

    async def _open(
        self,
        channel: str,
        address: str,
        text: str,
        caller: str,
        actor: str,
        location: dict[str, Any] | None,
        location_error: str,
        attachments: tuple[dict[str, Any], ...],
    ) -> tuple[Incident, Received]:
        cid = "t" + secrets.token_hex(8)
        token = secrets.token_urlsafe(24)
        digest = hashlib.sha256(token.encode()).hexdigest()
        now = self.clock()
        step = self.desk.begin(
            ev.TextOpened(at=now, conversation_id=cid, channel=channel, address=address or cid,
                          incident="", text=text, wall=time.time(), token_sha256=digest), now,
        )  # fmt: skip
        try:
            incident = await self.incidents.report(
                source="text", channel=channel, caller=caller, summary=step.text, actor=actor,
                location=location, location_error=location_error, attachments=attachments,
                then=((step.kind, "system", step.data),),
            )  # fmt: skip
        except BaseException as exc:
            self._failed(step, exc)
            raise
        self._execute(self.desk.commit(replace(step, incident=incident.number), self.clock()))
        received = Received(conversation=cid, incident=incident.number, seq=1, token=token,
                            opened=True)  # fmt: skip
        return incident, received

    async def citizen_wrote(self, conversation_id: str, text: str) -> Received:
        def event(now: float) -> ev.IntakeEvent:
            return ev.CitizenWrote(at=now, conversation_id=conversation_id, text=text,
                                   wall=time.time())  # fmt: skip

        step, _ = await self._settle(self._step(conversation_id, event, "citizen"))
        return Received(conversation=conversation_id, incident=step.incident, seq=step.seq)

    def check_token(self, conversation_id: str, token: str) -> Conversation:
        """The conversation, if `token` is its citizen's secret: TextError 401 without a token,
        404 for an unknown conversation or a wrong token (which one is not said)."""
        if not token:
            raise TextError("send the conversation's token in X-Citizen-Token", 401)
        found = self.desk.conversations.get(conversation_id)
        digest = hashlib.sha256(token.encode()).hexdigest()
        if found is None or not hmac.compare_digest(digest, found.token_sha256 or "-" * 64):
            raise TextError(f"no conversation {conversation_id[:40]!r} with this token", 404)
        return found

    # -- call-takers ---------------------------------------------------------------------------

    async def accept(self, conversation_id: str, seat: str, actor: str) -> Conversation:
        def event(now: float) -> ev.IntakeEvent:
            return ev.TextAccepted(at=now, conversation_id=conversation_id, seat_id=seat)

        await self._settle(self._step(conversation_id, event, actor))
        return self.desk.get(conversation_id)

    async def reply(
        self, conversation_id: str, seat: str, actor: str, text: str
    ) -> tuple[int, Delivery]:
        """File the reply, then send it through the channel and file what became of it."""
        return await self._settle(self._reply(conversation_id, seat, actor, text))

    async def _reply(
        self, conversation_id: str, seat: str, actor: str, text: str
    ) -> tuple[int, Delivery]:
        def event(now: float) -> ev.IntakeEvent:
            return ev.CallTakerWrote(at=now, conversation_id=conversation_id, seat_id=seat,
                                     text=text, wall=time.time(), actor=actor)  # fmt: skip

        async with self._lock(conversation_id):  # the delivery is filed before the next step
            step, actions = await self._step(conversation_id, event, actor, locked=True)
            conversation = self.desk.get(conversation_id)
            out = next(a for a in actions if isinstance(a, ev.DeliverReply))
            channel = self.channels.get(out.channel)
            if channel is None:
                delivery = Delivery(ok=False, detail=f"channel {out.channel} is off")
            else:
                delivery = await channel.send(out.address, out.text)
            await self.incidents.file(conversation.incident, "text-delivery", "system", {
                "conversation": conversation_id, "seq": step.seq, "ok": delivery.ok,
                "detail": delivery.detail,
            })  # fmt: skip
            outcome = "delivered" if delivery.ok else "failed"
            self.m_deliveries.labels(out.channel, outcome).inc()
            self.events.publish("text/delivery", conversation=conversation_id,
                                incident=conversation.incident, message_seq=step.seq,
                                ok=delivery.ok, detail=delivery.detail)  # fmt: skip
            return step.seq, delivery

    async def close(self, conversation_id: str, seat: str, actor: str) -> Conversation:
        def event(now: float) -> ev.IntakeEvent:
            return ev.TextClosed(at=now, conversation_id=conversation_id, seat_id=seat,
                                 actor=actor)  # fmt: skip

        await self._settle(self._step(conversation_id, event, actor))
        return self.desk.get(conversation_id)

    # -- filing a step ---------------------------------------------------------------------------

    async def _step(
        self,
        conversation_id: str,
        event: Callable[[float], ev.IntakeEvent],
        actor: str,
        *,
        locked: bool = False,
    ) -> tuple[Step, list[ev.IntakeAction]]:
        """Check the request, file it, and only then let it take effect and tell everyone;
        if it cannot be filed, the desk is left exactly as it was (and the error goes up)."""
        async with contextlib.nullcontext() if locked else self._lock(conversation_id):
            now = self.clock()
            step = self.desk.begin(event(now), now)
            try:
                await self.incidents.file(step.incident, step.kind, actor, step.data)
            except BaseException as exc:
                self._failed(step, exc)
                raise
            actions = self.desk.commit(step, self.clock())
            self._execute(actions)
            return step, actions

    def _failed(self, step: Step, exc: BaseException) -> None:
        self.desk.abort(step)
        self.look_now()  # the conversation was held: its offers and timers go on
        log.error("text desk: %s of %s not filed, nothing changed: %r", step.kind,
                  step.conversation_id, exc)  # fmt: skip

    async def _settle(self, work: Coroutine[Any, Any, T]) -> T:
        """Run `work` to its end even if the request waiting for it goes away (a client gone,
        a shutdown): a step being filed is filed and takes effect, or neither; never filed in
        the store but missing from the desk."""
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return await asyncio.shield(task)

    # -- out -------------------------------------------------------------------------------------

    def _execute(self, actions: list[ev.IntakeAction]) -> None:
        for action in actions:
            conversation = self.desk.conversations.get(action.conversation_id)
            incident = conversation.incident if conversation else None
            base: dict[str, Any] = {"conversation": action.conversation_id, "incident": incident}
            if isinstance(action, ev.OfferText):
                self.events.publish("text/offered", **base, seat_id=action.seat_id,
                                    timeout=self.desk.offer_timeout)  # fmt: skip
            elif isinstance(action, ev.WithdrawOffer):
                if action.reason == "timeout":
                    self.m_expired.inc()
                self.events.publish("text/withdrawn", **base, seat_id=action.seat_id,
                                    reason=action.reason)  # fmt: skip
            elif isinstance(action, ev.RequeueText):
                self._requeued(action, incident)
            elif isinstance(action, ev.AlertUnanswered):
                self.incidents.alerts.raise_(
                    "text-unanswered",
                    f"a citizen's text in incident {incident} has waited "
                    f"{action.waited:.0f} s without a reply",
                    **base, seat_id=action.seat_id, message_seq=action.seq,
                    waited=round(action.waited, 1),
                )  # fmt: skip
            elif isinstance(action, ev.AnnounceTaken):
                self.m_accept.observe(action.waited)
                self.events.publish("text/taken", **base, seat_id=action.seat_id,
                                    waited=round(action.waited, 3))  # fmt: skip
            elif isinstance(action, ev.AnnounceMessage):
                channel = conversation.channel if conversation else ""
                self.m_messages.labels(channel, action.sender).inc()
                self.events.publish("text/message", **base, message_seq=action.seq,
                                    sender=action.sender, text=action.text, wall=action.wall,
                                    seat_id=conversation.seat if conversation else "")  # fmt: skip
            elif isinstance(action, ev.AnnounceClosed):
                self.events.publish("text/closed", **base, actor=action.actor)
            else:  # DeliverReply is carried out by reply(), awaited
                log.debug("text desk: %r left to its caller", action)

    def _requeued(self, action: ev.RequeueText, incident: str | None) -> None:
        """Back in line: on the bus, an alert, and filed in the incident (queued: the writer
        files it, retrying a failing store, and nothing here waits for it)."""
        why = "signed out" if action.reason == "signed-out" else "console gone"
        self.events.publish(
            "text/requeued", conversation=action.conversation_id, incident=incident,
            seat_id=action.seat_id, reason=action.reason,
        )  # fmt: skip
        self.incidents.alerts.raise_(
            "text-requeued",
            f"the text of incident {incident} went back in line: seat {action.seat_id} {why}",
            conversation=action.conversation_id, incident=incident, seat_id=action.seat_id,
            reason=action.reason,
        )  # fmt: skip
        if incident:
            data = {"conversation": action.conversation_id, "seat": action.seat_id,
                    "reason": action.reason}  # fmt: skip
            task = asyncio.ensure_future(self._file_quietly(incident, "text-requeued", data))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _file_quietly(self, incident: str, kind: str, data: dict[str, Any]) -> None:
        try:
            await self.incidents.file(incident, kind, "system", data)
        except Exception:
            log.exception("text desk: %s of incident %s not filed", kind, incident)


def _replay(events: list[IncidentEvent], wall: float, now: float) -> list[Conversation]:
    """The conversations an incident's text-* events describe that are not closed."""
    found: dict[str, Conversation] = {}
    for event in events:
        data, cid = event.data, str(event.data.get("conversation", ""))
        if event.kind == "text-opened":
            found[cid] = Conversation(
                id=cid, channel=str(data["channel"]), address=str(data["address"]),
                incident=event.number, token_sha256=str(data.get("token_sha256", "")),
                opened_at=now - max(0.0, wall - event.at),
            )  # fmt: skip
        conversation = found.get(cid)
        if conversation is None:
            continue
        if event.kind in ("text-opened", "text-in", "text-out"):
            actor = "citizen" if data.get("from") == "citizen" else event.actor
            conversation.messages.append(
                Message(int(data["seq"]), str(data["from"]), str(data["text"]), event.at, actor,
                        now - max(0.0, wall - event.at))
            )  # fmt: skip
        elif event.kind == "text-closed":
            del found[cid]
    return list(found.values())
