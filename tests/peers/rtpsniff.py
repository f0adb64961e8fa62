"""Capture the RTP that arrives at a UDP port on loopback (raw AF_PACKET socket; root only).

SIPp plays the caller's voice but cannot say what it heard. To prove audio reached the caller
we capture, on the wire, the RTP packets sent to SIPp's media port and decode their payload.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from dataclasses import dataclass, field

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4


@dataclass
class Capture:
    port: int
    packets: int = 0
    payload: dict[int, bytearray] = field(default_factory=dict)  # by RTP payload type
    streams: dict[tuple[int, int], bytearray] = field(default_factory=dict)  # (source port, type)
    sources: set[tuple[str, int]] = field(default_factory=set)
    destinations: set[int] = field(default_factory=set)


class RtpSniffer:
    """`with RtpSniffer(port, span) as capture:` collects RTP sent to ports port..port+span-1."""

    def __init__(self, port: int, span: int = 10) -> None:
        self.capture = Capture(port)
        self.ports = range(port, port + span)
        self._stop = threading.Event()
        self._sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.ntohs(ETH_P_ALL))
        self._sock.bind(("lo", 0))
        self._sock.settimeout(0.2)
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Capture:
        self._thread.start()
        return self.capture

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(2.0)
        self._sock.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                frame, address = self._sock.recvfrom(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            if address[2] == PACKET_OUTGOING:
                continue  # loopback shows each packet twice; keep the incoming copy
            with contextlib.suppress(struct.error, IndexError):
                self._packet(frame[14:])  # lo frames carry a zeroed Ethernet header

    def _packet(self, ip: bytes) -> None:
        if ip[0] >> 4 != 4 or ip[9] != 17:
            return
        header = (ip[0] & 0x0F) * 4
        src = socket.inet_ntoa(ip[12:16])
        sport, dport = struct.unpack("!HH", ip[header : header + 4])
        if dport not in self.ports:
            return
        rtp = ip[header + 8 :]
        if len(rtp) < 12 or rtp[0] >> 6 != 2 or 200 <= rtp[1] <= 204:
            return  # not RTP, or RTCP (its packet types 200-204 sit where RTP has M+PT)
        payload_type = rtp[1] & 0x7F
        self.capture.packets += 1
        self.capture.sources.add((src, sport))
        self.capture.destinations.add(dport)
        self.capture.payload.setdefault(payload_type, bytearray()).extend(rtp[12:])
        self.capture.streams.setdefault((sport, payload_type), bytearray()).extend(rtp[12:])


def wait_for(predicate: object, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False
