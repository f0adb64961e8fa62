"""A pool member process: the asyncio side that talks to the engine, plus the one pj thread.

The member is forked from the pool's fork server (which has already imported this module and
pjsua2, so a fork costs milliseconds and shares those pages). It connects to the engine's Unix
socket, starts the `UserAgent` thread, then only relays: commands from the socket go to the
agent's queue, events from the agent (handed over with `call_soon_threadsafe`) go to the socket.
When the agent's thread ends (its call is over, or it was told to stop) the member exits; if the
engine goes away, the member hangs up and exits too.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import sys
import threading

from sip import messages as msg
from sip.lifetime import die_with_parent
from sip.useragent import MemberSpec, UserAgent
from sip.webdesk import WebDesk

log = logging.getLogger(__name__)


def member_main(spec: MemberSpec, log_level: int = logging.WARNING) -> None:
    """Process entry point (runs in the forked child)."""
    die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the engine decides when members stop
    # pjlib prints its start-up banner on stdout before our log settings apply
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)
    logging.basicConfig(
        level=log_level,
        stream=sys.stderr,
        format=f"%(asctime)s member[{spec.slot}] %(name)s %(levelname)s %(message)s",
    )
    # A pj object collected on the asyncio thread would call pjsua2 from an unregistered
    # thread; the agent collects garbage itself, on its own thread, before libDestroy.
    gc.disable()
    asyncio.run(_serve(spec))


async def _serve(spec: MemberSpec) -> None:
    loop = asyncio.get_running_loop()
    reader, writer = await asyncio.open_unix_connection(spec.socket_path, limit=msg.MAX_LINE)
    outbox: asyncio.Queue[msg.Message | None] = asyncio.Queue()

    def emit(event: msg.Message) -> None:
        loop.call_soon_threadsafe(outbox.put_nowait, event)

    web = WebDesk(spec, emit, loop)
    agent = UserAgent(spec, emit=emit, end_web=web.end_soon)
    web.agent = agent
    thread = threading.Thread(target=agent.run, name=f"pj-{spec.slot}", daemon=True)
    thread.start()

    async def send() -> None:
        while (event := await outbox.get()) is not None:
            writer.write(msg.encode(event))
            with contextlib.suppress(ConnectionError):
                await writer.drain()

    async def receive() -> None:
        try:
            while line := await reader.readline():
                try:
                    command = msg.decode(line)
                except msg.MessageError as exc:
                    log.warning("bad command from the engine: %s", exc)
                    continue
                if not web.take(command):  # WebRTC commands are served on this thread
                    agent.commands.put(command)
        except (ConnectionError, asyncio.LimitOverrunError, ValueError):
            pass
        agent.commands.put(msg.Stop())  # engine gone: hang up and exit

    sender = asyncio.create_task(send())
    receiver = asyncio.create_task(receive())
    await asyncio.to_thread(thread.join)
    await web.close()  # after the call's end: the video recording is reported last
    await asyncio.sleep(0)  # emit() hands over with call_soon: let those run before the end
    outbox.put_nowait(None)
    await sender
    receiver.cancel()
    writer.close()
    with contextlib.suppress(ConnectionError):
        await writer.wait_closed()
