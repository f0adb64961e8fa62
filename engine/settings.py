"""The engine's configuration: a frozen dataclass tree, read from TOML and checked once.

Every field has a default (the embedded defaults: everything on 127.0.0.1, a simulated city);
a config file only names what differs. Any unknown key, wrong type or impossible value is
reported as `file:line key: problem` (ConfigError) and the CLI exits with status 2.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from acd.config import MAX_OUTGOING
from acd.strategy import STRATEGIES
from engine.clientaddr import check_proxies
from engine.errors import ConfigError
from engine.settings_texts import TextSettings, check as check_texts
from engine.settings_webrtc import WebrtcSettings, check as check_webrtc
from engine.tomlpos import locate, read_toml

PACKAGE_ROOT = Path(__file__).resolve().parent.parent


def _doc(text: str) -> dict[str, str]:
    return {"doc": text}


@dataclass(frozen=True, slots=True, kw_only=True)
class TrunkSettings:
    name: str = field(default="carrier", metadata=_doc("Trunk name, used in metrics labels."))
    address: str = field(default="127.0.0.1", metadata=_doc("Front address the carrier sends to."))
    port: int = field(default=5060, metadata=_doc("Trunk port, UDP and TCP."))
    allow: tuple[str, ...] = field(
        default=("127.0.0.1/32",), metadata=_doc("Source networks allowed to send to the trunk.")
    )
    media_allow: tuple[str, ...] = field(
        default=("127.0.0.1/32",),
        metadata=_doc("Networks of the carrier's media gateways (SDP addresses); others get 488."),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class FrontSettings:
    mode: str = field(
        default="embedded", metadata=_doc("'embedded' (we run Kamailio) or 'external'.")
    )
    kamailio: str = field(default="/usr/sbin/kamailio", metadata=_doc("Kamailio binary."))
    module_path: str = field(
        default="/usr/lib/x86_64-linux-gnu/kamailio/modules", metadata=_doc("Kamailio modules.")
    )
    internal_address: str = field(default="127.0.0.1", metadata=_doc("Members/seats side."))
    internal_port: int = field(default=5070, metadata=_doc("Members/seats side UDP port."))
    internal_allow: tuple[str, ...] = field(
        default=("127.0.0.0/8",), metadata=_doc("Networks of members and seat phones.")
    )
    rpc_address: str = field(default="127.0.0.1", metadata=_doc("JSON-RPC (HTTP) address."))
    rpc_port: int = field(default=5072, metadata=_doc("JSON-RPC (HTTP) port."))
    rpc_url: str = field(default="", metadata=_doc("External mode: the front's JSON-RPC URL."))
    member_timeout_ms: int = field(
        default=800, metadata=_doc("No reply from a member: try the next.")
    )
    seat_timeout_ms: int = field(default=2000, metadata=_doc("No reply from a seat phone."))
    ping_interval: int = field(default=5, metadata=_doc("OPTIONS probing of silent members, s."))
    per_source_rate: int = field(default=150, metadata=_doc("pike: requests/s from one source."))
    invite_rate: int = field(default=100, metadata=_doc("ratelimit: trunk INVITEs/s in all."))
    retry_after: int = field(default=10, metadata=_doc("Retry-After on the front's 503s, s."))
    udp_children: int = field(default=4, metadata=_doc("Kamailio UDP worker processes."))
    tcp_children: int = field(default=2, metadata=_doc("Kamailio TCP worker processes."))
    log_level: int = field(default=1, metadata=_doc("Kamailio debug level (-1..3)."))


@dataclass(frozen=True, slots=True, kw_only=True)
class PoolSettings:
    size: int = field(default=160, metadata=_doc("Slots: the most calls held at once."))
    warm: int = field(default=16, metadata=_doc("Idle members kept started and ready."))
    address: str = field(default="127.0.0.1", metadata=_doc("Members' SIP/RTP address."))
    sip_port_base: int = field(default=21000, metadata=_doc("Slot i listens on base+i."))
    rtp_port_base: int = field(default=23000, metadata=_doc("Slot i uses base+i*span..."))
    rtp_ports_per_member: int = field(default=10, metadata=_doc("RTP+RTCP ports per member."))
    codecs: tuple[str, ...] = field(
        default=("PCMU/8000/1", "PCMA/8000/1", "G722/16000/1"),
        metadata=_doc("Codecs in order of preference; all others are disabled."),
    )
    clock_rate: int = field(default=8000, metadata=_doc("Conference bridge clock, Hz."))
    announcement: str = field(
        default="config/sounds/queue-announcement.wav", metadata=_doc("Queue announcement WAV.")
    )
    restart_backoff: float = field(default=1.0, metadata=_doc("First wait after a crash loop, s."))
    drain_timeout: float = field(
        default=600.0, metadata=_doc("On Ctrl-C/SIGTERM: how long calls in progress may go on, s.")
    )
    pj_log_level: int = field(default=1, metadata=_doc("pjsua2 log level in members."))
    seat_media_timeout: float = field(
        default=10.0,
        metadata=_doc("No RTP from a connected seat phone this long: the leg is dead, s (0=off)."),
    )
    hold_announcement: str = field(
        default="", metadata=_doc("What a caller on hold hears ('' = the queue announcement).")
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueSettings:
    name: str = field(metadata=_doc("Queue (seat group) name."))
    strategy: str = field(
        default="longest-idle",
        metadata=_doc(
            "longest-idle, round-robin, fewest-calls, least-talk-time, random or skills."
        ),
    )
    called: tuple[str, ...] = field(
        default=(), metadata=_doc("Called numbers routed to this queue (the first queue: all).")
    )
    relax_skills_after: float = field(
        default=2.0, metadata=_doc("A call's skills are required this long, then preferred, s.")
    )
    max_wait: float = field(default=0.0, metadata=_doc("Overflow after this long, s (0 = never)."))
    overflow: str = field(
        default="", metadata=_doc("'queue:<name>' or a SIP URI (neighbouring centre); '' = none.")
    )
    overflow_retry: float = field(default=30.0, metadata=_doc("Retry a failed overflow after, s."))
    max_expected_wait: float = field(
        default=90.0, metadata=_doc("Admission: longer expected wait -> overflow or 503, s.")
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class AcdSettings:
    ring_timeout: float = field(default=8.0, metadata=_doc("Ring-no-answer after this many s."))
    announce_after: float = field(default=2.0, metadata=_doc("Answer with the announcement, s."))
    wrap_up: float = field(default=3.0, metadata=_doc("Wrap-up after a call, s."))
    max_waiting: int = field(default=50, metadata=_doc("Waiting calls before refusing with 503."))
    retry_after: int = field(default=10, metadata=_doc("Retry-After on refusal, s."))
    max_no_answer: int = field(default=2, metadata=_doc("Misses before a seat goes not-ready."))
    busy_delay: float = field(default=5.0, metadata=_doc("A seat that was busy rests this long."))
    reject_delay: float = field(default=10.0, metadata=_doc("A seat that declined rests, s."))
    parallel_after: float = field(
        default=1.5, metadata=_doc("3 s guard: ring spare seats too once a call is this old, s.")
    )
    parallel_max: int = field(default=2, metadata=_doc("Seats rung at once by the guard (1-3)."))
    check_interval: float = field(
        default=15.0, metadata=_doc("Verify a talking seat's leg with its member every, s.")
    )
    check_grace: float = field(default=5.0, metadata=_doc("No answer to a check: call lost, s."))
    default_handle_time: float = field(
        default=60.0, metadata=_doc("Handle time assumed before seats have history, s.")
    )
    repeat_window: float = field(
        default=600.0, metadata=_doc("Repeat caller / callback priority window, s.")
    )
    queues: tuple[QueueSettings, ...] = field(
        default=(QueueSettings(name="main"),), metadata=_doc("Seat groups; the first is default.")
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class SeatSettings:
    id: str = field(metadata=_doc("Seat id (with {n} when count > 1)."))
    contact: str = field(default="", metadata=_doc("Static SIP URI of the seat phone."))
    registered: str = field(default="", metadata=_doc("AOR user the phone registers at the front."))
    agent: str = field(default="", metadata=_doc("Agent logged in at start ('' = nobody)."))
    ready: bool = field(default=False, metadata=_doc("Put the agent ready at start."))
    first: int = field(default=1, metadata=_doc("First {n}."))
    count: int = field(default=1, metadata=_doc("How many seats this entry describes."))
    queues: tuple[str, ...] = field(default=(), metadata=_doc("Queues served (() = the first)."))
    skills: dict[str, int] = field(
        default_factory=dict, metadata=_doc('Skill -> level 1..100, e.g. {"lang:yue" = 8}.')
    )
    wrap_up: float | None = field(default=None, metadata=_doc("This seat's wrap-up, s."))


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordingSettings:
    enabled: bool = field(default=True, metadata=_doc("Record every call (the conference mix)."))
    dir: str = field(default="", metadata=_doc("Where WAV files go ('' = <state_dir>/recordings)."))


@dataclass(frozen=True, slots=True, kw_only=True)
class DispatchSettings:
    city: str = field(
        default="config/city",
        metadata=_doc("Directory with grid.geojson, stations.geojson and force.toml."),
    )
    ring_timeout: float = field(
        default=10.0, metadata=_doc("An officer's phone rings this long before the next, s.")
    )
    max_officers: int = field(
        default=3,
        metadata=_doc("Officers tried before the unit's duty phone, then its superior's."),
    )
    bridge_target: float = field(
        default=30.0, metadata=_doc("No officer bridged this long after the INVITE: alert, s.")
    )
    gateway: str = field(
        default="", metadata=_doc("host[:port] officer phone numbers are dialled through.")
    )
    stale_after: float = field(
        default=120.0, metadata=_doc("A position older than this is stale, ranked down, s.")
    )
    road_factor: float = field(default=1.4, metadata=_doc("Road distance / great-circle distance."))
    min_speed: float = field(
        default=8.3, metadata=_doc("ETA speed floor, m/s (a parked car still drives to a call).")
    )
    same_grid_bonus: float = field(
        default=120.0,
        metadata=_doc("An officer of the incident's own grid cell ranks this much earlier, s."),
    )
    mqtt_host: str = field(default="", metadata=_doc("Broker for officer positions ('' = none)."))
    mqtt_port: int = field(default=1883, metadata=_doc("Broker port."))
    mqtt_prefix: str = field(
        default="hotline110", metadata=_doc("Positions arrive on <prefix>/officers/<id>/position.")
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class IncidentSettings:
    store: str = field(
        default="",
        metadata=_doc(
            "'sqlite:///path' or 'postgresql://user@host:port/db' ('' = SQLite in state_dir)."
        ),
    )
    city_code: str = field(default="HZ", metadata=_doc("First part of every incident number."))
    domain: str = field(
        default="hotline110.invalid", metadata=_doc("Domain of the NG911 call and incident URNs.")
    )
    rules: str = field(
        default="config/routing.toml", metadata=_doc("Routing rules after classification.")
    )
    mqtt_host: str = field(
        default="", metadata=_doc("Broker for the incident push ('' = in-process only).")
    )
    mqtt_port: int = field(default=1883, metadata=_doc("Broker port."))
    mqtt_prefix: str = field(
        default="hotline110",
        metadata=_doc("Topics: <prefix>/<city>/<county>/<station>/incidents/..."),
    )
    major_severity: int = field(
        default=4, metadata=_doc("Incidents this severe also go to the city command topic.")
    )
    webhooks: dict[str, str] = field(
        default_factory=dict,
        metadata=_doc(
            "Agency -> URL that incident events for it are POSTed to (12345: the rules')."
        ),
    )
    webhook_attempts: int = field(
        default=8, metadata=_doc("Failed deliveries before a webhook event is a dead letter.")
    )
    agency_ring_timeout: float = field(
        default=30.0,
        metadata=_doc(
            "Seconds an agency's desk (anti-fraud, 12345) may ring before it is withdrawn."
        ),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class IntakeSettings:
    media_dir: str = field(
        default="", metadata=_doc("Where citizens' pictures go ('' = <state_dir>/media).")
    )
    max_picture_mb: int = field(default=10, metadata=_doc("Largest picture taken, MiB."))
    max_pictures: int = field(default=5, metadata=_doc("Pictures in one report, at most."))
    reports_per_minute: int = field(
        default=6, metadata=_doc("Reports one source address may send a minute (then 429).")
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class AccessSettings:
    users: str = field(
        default="",
        metadata=_doc(
            "Users and service tokens (TOML, hashes only; `hotline110 add-user` writes it). "
            "'' = nobody: the REST API refuses every request but health and metrics."
        ),
    )
    session_idle: float = field(
        default=12 * 3600.0, metadata=_doc("A session unused this long ends, s (a shift).")
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpSettings:
    address: str = field(default="127.0.0.1", metadata=_doc("REST API and /metrics address."))
    port: int = field(default=8110, metadata=_doc("REST API and /metrics port."))
    trusted_proxies: tuple[str, ...] = field(
        default=(),
        metadata=_doc("Networks of the TLS proxies in front: from them, the client is the "
                      "right-most X-Forwarded-For address not a proxy (engine.clientaddr)."),
    )  # fmt: skip


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    centre: str = field(default="hotline110", metadata=_doc("Name of the call centre."))
    state_dir: str = field(default="var", metadata=_doc("Run-time files (front config, sockets)."))
    log_level: str = field(default="INFO", metadata=_doc("Engine log level."))
    trunk: TrunkSettings = field(default_factory=TrunkSettings)
    front: FrontSettings = field(default_factory=FrontSettings)
    pool: PoolSettings = field(default_factory=PoolSettings)
    acd: AcdSettings = field(default_factory=AcdSettings)
    http: HttpSettings = field(default_factory=HttpSettings)
    access: AccessSettings = field(default_factory=AccessSettings)
    intake: IntakeSettings = field(default_factory=IntakeSettings)
    texts: TextSettings = field(default_factory=TextSettings)
    webrtc: WebrtcSettings = field(default_factory=WebrtcSettings)
    recording: RecordingSettings = field(default_factory=RecordingSettings)
    dispatch: DispatchSettings = field(default_factory=DispatchSettings)
    incidents: IncidentSettings = field(default_factory=IncidentSettings)
    seats: tuple[SeatSettings, ...] = ()
    source: str = field(default="", metadata=_doc("The file this was read from (set by load)."))


def load(path: str | Path) -> Settings:
    """Read and check a TOML config file; raise ConfigError naming file, line and key."""
    path = Path(path)
    data, text = read_toml(path)
    built: Settings = _build(Settings, data, (), str(path), text)
    settings = dataclasses.replace(built, source=str(path))
    _check(settings, str(path), text)
    return settings


def resolve(settings: Settings, value: str) -> Path:
    """A path from the config: absolute, or relative to the config file (else the package)."""
    candidate = Path(value)
    if candidate.is_absolute():
        return candidate
    if settings.source:
        beside = Path(settings.source).resolve().parent / candidate
        if beside.exists():
            return beside
        above = Path(settings.source).resolve().parent.parent / candidate
        if above.exists():
            return above
    return PACKAGE_ROOT / candidate


def _build(cls: type, data: Any, keypath: tuple[str | int, ...], file: str, text: str) -> Any:
    dotted = ".".join(str(part) for part in keypath) or "(top level)"
    if not isinstance(data, dict):
        raise ConfigError(file, locate(text, keypath), dotted, "must be a table")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.name != "source"}
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        here = (*keypath, key)
        if key not in fields:
            known = ", ".join(sorted(fields))
            raise ConfigError(
                file, locate(text, here), ".".join(map(str, here)), f"unknown key (known: {known})"
            )
        kwargs[key] = _convert(hints[key], value, here, file, text)
    for name, f in fields.items():
        if (
            name not in kwargs
            and f.default is dataclasses.MISSING
            and (f.default_factory is dataclasses.MISSING)
        ):
            raise ConfigError(file, locate(text, keypath), f"{dotted}.{name}", "is required")
    return cls(**kwargs)


def _convert(hint: Any, value: Any, keypath: tuple[str | int, ...], file: str, text: str) -> Any:
    dotted = ".".join(str(part) for part in keypath)

    def bad(expected: str) -> ConfigError:
        return ConfigError(
            file, locate(text, keypath), dotted, f"must be {expected}, not {value!r}"
        )

    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _build(hint, value, keypath, file, text)
    if isinstance(hint, types.UnionType):  # `X | None`: a value given is an X
        (inner,) = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        return _convert(inner, value, keypath, file, text)
    origin = typing.get_origin(hint)
    if origin is dict:
        key_type, value_type = typing.get_args(hint)
        if not isinstance(value, dict):
            raise bad("a table")
        return {
            _convert(key_type, key, (*keypath, key), file, text): _convert(
                value_type, entry, (*keypath, key), file, text
            )
            for key, entry in value.items()
        }
    if origin is tuple:
        (item,) = {a for a in typing.get_args(hint) if a is not Ellipsis}
        if not isinstance(value, list):
            raise bad("a list")
        return tuple(
            _convert(item, entry, (*keypath, index), file, text)
            for index, entry in enumerate(value)
        )
    if hint is bool:
        if not isinstance(value, bool):
            raise bad("true or false")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad("an integer")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise bad("a number")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise bad("a string")
        return value
    raise bad(str(hint))


def _check(settings: Settings, file: str, text: str) -> None:
    """Cross-field rules that types alone cannot say."""

    def fail(keypath: tuple[str | int, ...], problem: str) -> None:
        raise ConfigError(file, locate(text, keypath), ".".join(map(str, keypath)), problem)

    for section, names in (
        ("trunk", ("port",)),
        ("front", ("internal_port", "rpc_port")),
        ("http", ("port",)),
        ("pool", ("sip_port_base", "rtp_port_base")),
    ):
        for name in names:
            port = getattr(getattr(settings, section), name)
            if not 1 <= port <= 65535:
                fail((section, name), f"{port} is not a port number")
    if settings.front.mode not in ("embedded", "external"):
        fail(("front", "mode"), "must be 'embedded' or 'external'")
    if settings.front.mode == "external" and not settings.front.rpc_url:
        fail(("front", "rpc_url"), "is required when front.mode is 'external'")
    for section, name in (
        ("trunk", "allow"),
        ("trunk", "media_allow"),
        ("front", "internal_allow"),
    ):
        for index, net in enumerate(getattr(getattr(settings, section), name)):
            try:
                ipaddress.ip_network(net, strict=False)
            except ValueError:
                fail((section, name, index), f"{net!r} is not a network (a.b.c.d/len)")
    check_proxies(settings.http.trusted_proxies, fail)
    check_webrtc(settings.webrtc, fail)
    pool = settings.pool
    if pool.size < 1 or not 0 <= pool.warm <= pool.size:
        fail(("pool", "warm"), "needs 1 <= pool.size and 0 <= warm <= size")
    if pool.sip_port_base + pool.size > 65535:
        fail(("pool", "sip_port_base"), "the pool's SIP ports run past 65535")
    if pool.rtp_ports_per_member < 2 or pool.rtp_ports_per_member % 2:
        fail(("pool", "rtp_ports_per_member"), "must be an even number >= 2")
    if pool.rtp_port_base + pool.size * pool.rtp_ports_per_member > 65535:
        fail(("pool", "rtp_port_base"), "the pool's RTP ports run past 65535")
    for name in ("ring_timeout", "announce_after", "wrap_up"):
        if getattr(settings.acd, name) < 0:
            fail(("acd", name), "must not be negative")
    if settings.acd.max_waiting < 0 or settings.acd.max_no_answer < 1:
        fail(("acd", "max_no_answer"), "max_waiting >= 0 and max_no_answer >= 1")
    if not 1 <= settings.acd.parallel_max <= MAX_OUTGOING:
        fail(("acd", "parallel_max"), f"must be 1..{MAX_OUTGOING} (4 legs per pool member)")
    d = settings.dispatch
    for name in ("ring_timeout", "bridge_target", "stale_after", "min_speed"):
        if getattr(d, name) <= 0:
            fail(("dispatch", name), "must be positive")
    if d.max_officers < 1:
        fail(("dispatch", "max_officers"), "must be at least 1")
    if d.road_factor < 1.0:
        fail(("dispatch", "road_factor"), "must be at least 1 (roads are never shorter)")
    if not 1 <= d.mqtt_port <= 65535:
        fail(("dispatch", "mqtt_port"), f"{d.mqtt_port} is not a port number")
    inc = settings.incidents
    if not (inc.city_code.isalnum() and inc.city_code.isupper() and len(inc.city_code) <= 8):
        fail(("incidents", "city_code"), "1-8 capital letters or digits")
    if inc.store and not inc.store.startswith(("sqlite:///", "postgresql://", "postgres://")):
        fail(("incidents", "store"), "must start with sqlite:/// or postgresql://")
    if not 1 <= inc.mqtt_port <= 65535:
        fail(("incidents", "mqtt_port"), f"{inc.mqtt_port} is not a port number")
    intake = settings.intake
    if intake.max_picture_mb < 1 or intake.max_pictures < 0 or intake.reports_per_minute < 1:
        fail(("intake", "max_picture_mb"), "limits must be positive (max_pictures may be 0)")
    check_texts(settings.texts, fail)
    if settings.access.session_idle <= 0:
        fail(("access", "session_idle"), "must be positive")
    if inc.agency_ring_timeout <= 0:
        fail(("incidents", "agency_ring_timeout"), "must be positive")
    queue_names = [queue.name for queue in settings.acd.queues]
    if not queue_names:
        fail(("acd", "queues"), "at least one queue is needed")
    for index, queue in enumerate(settings.acd.queues):
        if queue_names.count(queue.name) > 1 or not queue.name:
            fail(("acd", "queues", index, "name"), f"queue name {queue.name!r} empty or repeated")
        if queue.strategy not in STRATEGIES:
            known = ", ".join(STRATEGIES)
            fail(("acd", "queues", index, "strategy"), f"unknown strategy (known: {known})")
        target = queue.overflow.removeprefix("queue:")
        if queue.overflow.startswith("queue:") and (
            target not in queue_names or target == queue.name
        ):
            fail(("acd", "queues", index, "overflow"), f"no other queue named {target!r}")
        if queue.overflow and not queue.overflow.startswith(("queue:", "sip:", "sips:", "tel:")):
            fail(("acd", "queues", index, "overflow"), "must be 'queue:<name>' or a SIP URI")
    if not resolve(settings, pool.announcement).is_file():
        fail(("pool", "announcement"), f"no such file: {pool.announcement}")
    seen: set[str] = set()
    for index, seat in enumerate(settings.seats):
        if bool(seat.contact) == bool(seat.registered):
            fail(("seats", index, "contact"), "give exactly one of contact or registered")
        if seat.count < 1:
            fail(("seats", index, "count"), "must be at least 1")
        if seat.count > 1 and "{n}" not in seat.id:
            fail(("seats", index, "id"), "needs {n} when count > 1")
        for name in seat.queues:
            if name not in queue_names:
                fail(("seats", index, "queues"), f"no queue named {name!r}")
        for skill, level in seat.skills.items():
            if not 1 <= level <= 100:
                fail(("seats", index, "skills", skill), "a skill level is 1..100")
        for seat_id in (s.seat_id for s in expand_seats((seat,), settings.front)):
            if seat_id in seen:
                fail(("seats", index, "id"), f"seat {seat_id!r} is defined twice")
            seen.add(seat_id)


@dataclass(frozen=True, slots=True, kw_only=True)
class SeatSpec:
    """One concrete seat after expanding {n} ranges."""

    seat_id: str
    contact: str
    agent: str
    ready: bool
    queues: tuple[str, ...] = ()
    skills: dict[str, int] = field(default_factory=dict)
    wrap_up: float | None = None
    aor: str = ""
    """The AOR its phone registers at the front ('' for a static contact)."""


def expand_seats(seats: tuple[SeatSettings, ...], front: FrontSettings) -> list[SeatSpec]:
    """Concrete seats: {n} filled in; registered seats are rung through the front."""
    result: list[SeatSpec] = []
    for seat in seats:
        for n in range(seat.first, seat.first + seat.count):

            def fill(template: str, n: int = n) -> str:
                return template.replace("{n}", str(n))

            if seat.registered:
                contact = (
                    f"sip:{fill(seat.registered)}@{front.internal_address}:{front.internal_port}"
                )
            else:
                contact = fill(seat.contact)
            result.append(
                SeatSpec(
                    seat_id=fill(seat.id),
                    contact=contact,
                    agent=fill(seat.agent),
                    ready=seat.ready,
                    queues=seat.queues,
                    skills=dict(seat.skills),
                    wrap_up=seat.wrap_up,
                    aor=fill(seat.registered) if seat.registered else "",
                )
            )
    return result
