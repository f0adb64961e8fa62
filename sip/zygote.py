"""The pool's fork server: a small process that has imported pjsua2 and forks members on request.

Why not `multiprocessing`'s forkserver: it re-imports the parent's `__main__` in every child
(the CLI, or pytest), which costs start-up time and memory in each of a hundred members. This
server imports only what a member needs, freezes the heap (`gc.freeze`) so forked children keep
sharing those pages, and then forks in about a millisecond.

Protocol on the control socket (one JSON object per line):
  engine -> zygote  {"spawn": {<MemberSpec fields>}, "log_level": N}
  zygote -> engine  {"spawned": member_id, "pid": P}  |  {"failed": member_id, "error": "..."}
                    {"exited": P, "code": C, "signal": S}
When the engine's end of the socket closes, the zygote kills its members and exits.
"""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import os
import select
import signal
import socket
import sys
from typing import Any

import pjsua2  # noqa: F401  (imported here once, so every fork starts with it loaded)

from sip.member import member_main
from sip.useragent import MemberSpec

log = logging.getLogger(__name__)


def serve(control: socket.socket) -> None:
    """Fork members until the engine hangs up; report every member's exit."""
    children: set[int] = set()
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    buffer = b""
    gc.freeze()
    try:
        while True:
            readable, _, _ = select.select([control.fileno(), wake_r], [], [], 1.0)
            if wake_r in readable:
                os.read(wake_r, 512)
            _reap(control, children)
            if control.fileno() not in readable:
                continue
            data = control.recv(65536)
            if not data:
                return
            buffer += data
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                _handle(control, line, children, wake_r, wake_w)
    finally:
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _handle(
    control: socket.socket, line: bytes, children: set[int], wake_r: int, wake_w: int
) -> None:
    try:
        request = json.loads(line)
        fields = request["spawn"]
        spec = MemberSpec(
            **{
                **fields,
                "codecs": tuple(fields["codecs"]),
                "media_allow": tuple(fields["media_allow"]),
            }
        )
        level = int(request.get("log_level", logging.WARNING))
    except (ValueError, KeyError, TypeError) as exc:
        _send(control, {"failed": None, "error": f"bad request: {exc}"})
        return
    try:
        pid = os.fork()
    except OSError as exc:
        _send(control, {"failed": spec.member_id, "error": str(exc)})
        return
    if pid == 0:  # the member
        code = 1
        try:
            control.close()
            os.close(wake_r)
            os.close(wake_w)
            signal.set_wakeup_fd(-1)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            member_main(spec, level)
            code = 0
        except BaseException:
            logging.getLogger("sip.member").exception("member %s crashed", spec.member_id)
        finally:
            sys.stderr.flush()
            os._exit(code)
    children.add(pid)
    _send(control, {"spawned": spec.member_id, "pid": pid})


def _reap(control: socket.socket, children: set[int]) -> None:
    while children:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        children.discard(pid)
        code = os.waitstatus_to_exitcode(status)
        _send(control, {"exited": pid, "code": max(code, 0), "signal": max(-code, 0)})


def _send(control: socket.socket, reply: dict[str, Any]) -> None:
    control.sendall(json.dumps(reply).encode() + b"\n")


def main() -> None:
    """`python -m sip.zygote <fd>`: serve on the inherited control socket."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s zygote %(message)s")
    control = socket.socket(fileno=int(sys.argv[1]))
    serve(control)


if __name__ == "__main__":
    main()
