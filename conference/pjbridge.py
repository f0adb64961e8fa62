"""Worker-side media plumbing: one leg's audio port in the member's pjsua2 conference bridge.

Runs on the member's pj thread only. The pure `conference.bridge.Bridge` decides what is
routed to what (the member's shell carries it out with `AudioMedia.startTransmit`); this module
finds a leg's audio port, keeps the Python reference pjsua2 needs kept alive until the leg is
over, and reads its RTP counters.
"""

from __future__ import annotations

from typing import Any

import pjsua2 as pj


class LegMedia:
    """The audio side of one call leg."""

    def __init__(self) -> None:
        self.audio: Any = None
        self.index = -1
        self.stats: dict[str, Any] | None = None

    def attach(self, call: Any) -> bool:
        """Find the leg's active audio stream; True when it newly became available."""
        info = call.getInfo()
        for index, media in enumerate(info.media):
            if media.type == pj.PJMEDIA_TYPE_AUDIO and media.status == pj.PJSUA_CALL_MEDIA_ACTIVE:
                fresh = self.audio is None
                self.audio = call.getAudioMedia(index)
                self.index = index
                return fresh
        return False

    def capture_stats(self, call: Any, stream_index: int) -> None:
        """Read RTP counters while the stream still exists (onStreamDestroyed)."""
        try:
            stat = call.getStreamStat(stream_index)
            info = call.getStreamInfo(stream_index)
        except pj.Error:
            return
        rtcp = stat.rtcp
        self.stats = {
            "codec": f"{info.codecName}/{info.codecClockRate}",
            "rx_packets": int(rtcp.rxStat.pkt),
            "tx_packets": int(rtcp.txStat.pkt),
            "rx_lost": int(rtcp.rxStat.loss),
            "rx_jitter_ms": float(rtcp.rxStat.jitterUsec.mean) / 1000.0,
        }

    def rx_packets(self, call: Any) -> int | None:
        """RTP packets received so far on the leg's audio stream (None: no stream)."""
        if self.audio is None or self.index < 0:
            return None
        try:
            stat = call.getStreamStat(self.index)  # kept alive while its members are read
        except pj.Error:
            return None
        return int(stat.rtcp.rxStat.pkt)

    def release(self) -> None:
        self.audio = None
