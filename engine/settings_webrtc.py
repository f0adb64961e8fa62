"""The `[webrtc]` section of the settings: callers from the 110 web app (engine.webcalls).

Kept beside `engine.settings` (which includes it as `Settings.webrtc`); `check` is called from
its cross-field checks and names the key. The capacity defaults are what bench/webrtc_calls.py
measured this 2-core machine to hold with clean audio (bench/RESULTS.md): measure the
production hardware and set them from that.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field


def _doc(text: str) -> dict[str, str]:
    return {"doc": text}


@dataclass(frozen=True, slots=True, kw_only=True)
class WebrtcSettings:
    addresses: tuple[str, ...] = field(
        default=("127.0.0.1",),
        metadata=_doc(
            "Addresses the pool offers WebRTC callers' ICE candidates on: ones the citizens' "
            "browsers can reach (() = every interface)."
        ),
    )
    port_base: int = field(
        default=25000,
        metadata=_doc("Slot i's WebRTC media (ICE) sockets use UDP base+i*ports_per_member.... "
                      "(0 = the kernel's ephemeral ports)."),
    )  # fmt: skip
    ports_per_member: int = field(
        default=4, metadata=_doc("The caller's, and one per console watching its video.")
    )
    max_calls: int = field(
        default=6,
        metadata=_doc("WebRTC calls at once; beyond, 503 with Retry-After (a phone call still "
                      "gets through)."),
    )  # fmt: skip
    max_video: int = field(
        default=4,
        metadata=_doc("Of them, with the caller's video taken (recorded, shown live); beyond, "
                      "the call is audio only."),
    )  # fmt: skip
    calls_per_minute: int = field(
        default=20,
        metadata=_doc("Calls one address may start a minute, then 429 (one address may be a "
                      "whole carrier-grade NAT)."),
    )  # fmt: skip


def check(webrtc: WebrtcSettings, fail: Callable[[tuple[str | int, ...], str], None]) -> None:
    if webrtc.max_calls < 0 or not 0 <= webrtc.max_video <= webrtc.max_calls:
        fail(("webrtc", "max_video"), "needs 0 <= max_video <= max_calls")
    if webrtc.port_base and not (1024 <= webrtc.port_base <= 65535):
        fail(("webrtc", "port_base"), f"{webrtc.port_base} is not a port number (or 0)")
    if webrtc.ports_per_member < 1:
        fail(("webrtc", "ports_per_member"), "must be at least 1")
    if webrtc.calls_per_minute < 1:
        fail(("webrtc", "calls_per_minute"), "must be positive")
    for index, address in enumerate(webrtc.addresses):
        try:
            ipaddress.ip_address(address)
        except ValueError:
            fail(("webrtc", "addresses", index), f"{address!r} is not an IP address")
