"""The one way this project starts a pjsua2 Endpoint (pool members and simulated seat phones).

The settings that matter here, learned on this machine: one thread owns the library
(`threadCnt=0`, `mainThreadOnly`, the owner polls `libHandleEvents`); RTP shares the SIP
ioqueue, so there is no media thread burning CPU while idle; silence is still sent as RTP
(`noVad`); no echo canceller (there are no loudspeakers); no sound card (`setNoDev`, or the
null device when a conference clock is needed); only the codecs asked for, in that order.
Must be called on the thread that will poll the endpoint.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pjsua2 as pj

MAX_LEGS = 4
"""The installable pjsua2 allows 4 call legs per process."""


def start_endpoint(
    *,
    address: str,
    sip_port: int,
    codecs: Sequence[str],
    log_level: int = 1,
    clock_rate: int = 0,
    clocked: bool = False,
) -> Any:
    """A started Endpoint with one UDP transport on address:sip_port."""
    ep = pj.Endpoint()
    ep.libCreate()
    cfg = pj.EpConfig()
    cfg.uaConfig.threadCnt = 0
    cfg.uaConfig.mainThreadOnly = True
    cfg.uaConfig.maxCalls = MAX_LEGS
    cfg.uaConfig.userAgent = "hotline110"
    cfg.logConfig.level = cfg.logConfig.consoleLevel = log_level
    cfg.medConfig.noVad = True
    cfg.medConfig.ecTailLen = 0
    cfg.medConfig.threadCnt = 0
    cfg.medConfig.hasIoqueue = False
    if clock_rate:
        cfg.medConfig.clockRate = cfg.medConfig.sndClockRate = clock_rate
    ep.libInit(cfg)
    transport = pj.TransportConfig()
    transport.port = sip_port
    transport.boundAddress = transport.publicAddress = address
    ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, transport)
    ep.libStart()
    if clocked:
        ep.audDevManager().setNullDev()
    else:
        ep.audDevManager().setNoDev()
    wanted = {codec: 255 - index for index, codec in enumerate(codecs)}
    for codec in ep.codecEnum2():
        ep.codecSetPriority(codec.codecId, wanted.get(codec.codecId, 0))
    return ep


def account_config(uri: str, address: str, rtp_port: int, rtp_span: int, proxy: str = "") -> Any:
    """An account without registration whose RTP stays in its own port range."""
    acfg = pj.AccountConfig()
    acfg.idUri = uri
    if proxy:
        acfg.sipConfig.proxies.append(proxy)
    media = acfg.mediaConfig.transportConfig
    media.port, media.portRange = rtp_port, rtp_span
    media.boundAddress = media.publicAddress = address
    return acfg
