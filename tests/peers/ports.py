"""Free port blocks below 32768 for peer tests (the ephemeral range here starts at 32768).

Every test that starts peers takes its own block, so tests never share or assume a port, and
never touch a default like 5060. A block is checked by binding each of its ports (UDP and TCP).
"""

from __future__ import annotations

import random
import socket
from dataclasses import dataclass

LOW, HIGH = 10000, 32000
SPAN = 1600


def _free(port: int) -> bool:
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        with socket.socket(socket.AF_INET, kind) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


@dataclass(frozen=True, slots=True)
class PortBlock:
    """A block of SPAN free ports and the layout tests use inside it."""

    base: int

    @property
    def trunk(self) -> int:
        return self.base

    @property
    def internal(self) -> int:
        return self.base + 2

    @property
    def rpc(self) -> int:
        return self.base + 4

    @property
    def http(self) -> int:
        return self.base + 6

    @property
    def pool_sip(self) -> int:
        return self.base + 10  # up to 40 slots

    @property
    def seats_sip(self) -> int:
        return self.base + 60  # up to 20 seat workers

    def sipp(self, n: int) -> tuple[int, int, int]:
        """SIP, control and media port of SIPp instance n (0..9)."""
        return self.base + 90 + 2 * n, self.base + 91 + 2 * n, self.base + 110 + 10 * n

    @property
    def baresip(self) -> tuple[int, int, tuple[int, int]]:
        """SIP port (it also takes +1), ctrl_tcp port, RTP range."""
        return self.base + 220, self.base + 222, (self.base + 230, self.base + 249)

    @property
    def pool_rtp(self) -> int:
        return self.base + 300  # up to 40 slots x 10

    @property
    def seats_rtp(self) -> int:
        return self.base + 800  # up to 20 workers x 12

    @property
    def officers_sip(self) -> int:
        return self.base + 1100  # up to 15 officer-phone workers

    @property
    def officers_rtp(self) -> int:
        return self.base + 1200  # up to 15 workers x 12 (a Mosquitto may take base+1390)

    @property
    def webrtc(self) -> int:
        return self.base + 1400  # up to 40 slots x 4 (the members' ICE sockets)

    @property
    def browsers(self) -> int:
        return self.base + 1560  # 40 for test browsers (aiortc peers)

    @property
    def agency_http(self) -> int:
        return self.base + 1385  # an agency's webhook intake (the 12345 ticket)


def allocate(rng: random.Random | None = None, span: int = SPAN) -> PortBlock:
    rng = rng or random.Random()
    for _ in range(200):
        base = rng.randrange(LOW, HIGH - span) // 10 * 10
        if all(_free(port) for port in range(base, base + span)):
            return PortBlock(base)
    raise RuntimeError("no free block of ports below 32768")
