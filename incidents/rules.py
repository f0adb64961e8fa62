"""Routing after classification: ordered rules from config, a pure decision, a reason for it.

Theory of operation: the call-taker classifies a call (`Classified`); `RuleSet.decide` walks the
configured rules in order and the first whose conditions all hold picks the route (R9 fraud to the
anti-fraud centre first, R10 non-police to 12345 and unclear jurisdiction to the local station,
police to the nearest officer). Independently of the rule, every incident is pushed to its station,
county and the city (R7), and major or sensitive ones to the city command as well. The last rule
must be a catch-all, so every classification gets exactly one `Decision`, and each decision names
its rule and says why in one sentence, which the incident's audit trail stores as it is.
Loading (`load_rules`) is the only I/O here; every config mistake is reported as file:line key.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal, TypeAlias, cast

from engine.errors import ConfigError
from engine.tomlpos import locate, read_toml

Route: TypeAlias = Literal["dispatch", "anti-fraud", "12345", "local-station"]
ROUTES: Final[tuple[Route, ...]] = ("dispatch", "anti-fraud", "12345", "local-station")
CITY_COMMAND: Final = "city-command"
"""The target added for major or sensitive incidents (R7)."""
Key: TypeAlias = tuple[str | int, ...]


class RulesError(ConfigError):
    """The routing rules file is wrong; the message names the file, line and key."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Classified:
    """What the call-taker's classification says about a call: the input of routing."""

    category: str
    """'police', 'fraud', 'non-police', 'unclear', or a finer category named in the rules."""
    type: str = ""
    """Free incident type, e.g. 'robbery', 'telecom-fraud', 'noise-complaint'."""
    severity: int = 1
    """1 (least) .. 5 (most severe)."""
    keywords: tuple[str, ...] = ()
    """Keywords found in the summary, in the order found."""
    grid: str | None = None
    """Grid cell of the location, when known."""
    station: str | None = None
    """Station whose jurisdiction the location is in, when known."""
    county: str | None = None
    """County of the location, when known."""
    caller_on_line: bool = True
    """Whether the caller is still connected (a transfer or a bridge needs them)."""

    def __post_init__(self) -> None:
        if isinstance(self.severity, bool) or not 1 <= self.severity <= 5:
            raise ValueError(f"severity must be 1..5, not {self.severity!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision:
    """Where a classified incident goes, and why."""

    route: Route
    """The primary route: 'dispatch', 'anti-fraud', '12345' or 'local-station'."""
    station: str
    """The station the incident belongs to: the location's, or the configured default."""
    targets: tuple[str, ...]
    """Levels to push to: 'station:<id>', 'county:<id>' (when known), 'city', 'city-command'."""
    rule: str
    """Name of the rule that matched."""
    explanation: str
    """One sentence for the audit trail: the rule, why it matched, what follows."""
    also: tuple[Route, ...] = ()
    """Secondary routes taken as well (e.g. fraud with violence also dispatches)."""
    push_topic: str | None = None
    """Anti-fraud centre: topic of the push carrying caller, numbers and accounts."""
    bridge_uri: str | None = None
    """Anti-fraud desk to bridge into the call (configured, and the caller still on the line)."""
    transfer_uri: str | None = None
    """12345 hotline: where the call is transferred (REFER or bridge), caller on the line."""
    webhook_url: str | None = None
    """12345 hotline: where the ticket is pushed; a receipt is expected back."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Rule:
    """One routing rule: conditions (all must hold; a list holds when any item does) and a route."""

    name: str
    route: Route
    also: tuple[Route, ...] = ()
    note: str = ""
    """Appended to the explanation in parentheses, e.g. the requirement ('R9')."""
    category: frozenset[str] | None = None
    type: frozenset[str] | None = None
    severity_at_least: int | None = None
    keyword_any: frozenset[str] | None = None
    station: frozenset[str] | None = None
    county: frozenset[str] | None = None
    caller_on_line: bool | None = None

    @property
    def catch_all(self) -> bool:
        """True when the rule has no condition, so it matches everything."""
        return all(getattr(self, name) is None for name in _CONDITIONS)

    def reasons(self, c: Classified) -> tuple[str, ...] | None:
        """Why each condition holds for `c` (in words), or None when one does not."""
        out: list[str] = []
        for name, value in (("category", c.category), ("type", c.type)):
            wanted: frozenset[str] | None = getattr(self, name)
            if wanted is not None:
                if _norm(value) not in wanted:
                    return None
                out.append(f"{name} {value}")
        if self.severity_at_least is not None:
            if c.severity < self.severity_at_least:
                return None
            out.append(f"severity {c.severity} ≥ {self.severity_at_least}")
        if self.keyword_any is not None:
            found = _first_in(c.keywords, self.keyword_any)
            if found is None:
                return None
            out.append(f"keyword '{found}'")
        for name, place in (("station", c.station), ("county", c.county)):
            wanted = getattr(self, name)
            if wanted is not None:
                if place is None or _norm(place) not in wanted:
                    return None
                out.append(f"{name} {place}")
        if self.caller_on_line is not None:
            if c.caller_on_line != self.caller_on_line:
                return None
            out.append("caller on the line" if c.caller_on_line else "caller gone")
        return tuple(out)


_LISTS: Final = ("category", "type", "keyword_any", "station", "county")
_CONDITIONS: Final = (*_LISTS, "severity_at_least", "caller_on_line")


@dataclass(frozen=True, slots=True, kw_only=True)
class RuleSet:
    """The routing table and its settings, checked at load time; `decide` is pure."""

    rules: tuple[Rule, ...]
    default_station: str
    """Station responsible when the location is unknown."""
    push_topic: str
    """Anti-fraud centre push topic."""
    bridge_uri: str | None
    """Anti-fraud desk bridged into the call, or None."""
    transfer_uri: str
    """12345 hotline transfer target."""
    webhook_url: str
    """12345 hotline ticket endpoint."""
    city_command_severity: int = 4
    sensitive_types: frozenset[str] = frozenset()
    sensitive_keywords: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if not self.rules or not self.rules[-1].catch_all:
            raise ValueError("the last rule must be a catch-all (no conditions)")

    def decide(self, c: Classified) -> Decision:
        """The one decision for `c`: the first matching rule, its route, targets and reason."""
        for rule in self.rules:
            reasons = rule.reasons(c)
            if reasons is not None:
                return self._decision(rule, reasons, c)
        raise AssertionError("unreachable: the last rule is a catch-all")

    def _decision(self, rule: Rule, reasons: tuple[str, ...], c: Classified) -> Decision:
        station = c.station or self.default_station
        targets = [f"station:{station}", *([f"county:{c.county}"] if c.county else []), "city"]
        major = self._city_command_reason(c)
        if major:
            targets.append(CITY_COMMAND)
        routes = (rule.route, *rule.also)
        fraud, hotline = "anti-fraud" in routes, "12345" in routes
        bridge = self.bridge_uri if fraud and c.caller_on_line else None
        transfer = self.transfer_uri if hotline and c.caller_on_line else None
        what = _describe(rule.route, c, station, self.push_topic, bridge, transfer)
        text = f"rule '{rule.name}': {', '.join(reasons) or 'no earlier rule matched'} → {what}"
        if rule.also:
            text += "; also " + " and ".join(_SHORT[r].format(station=station) for r in rule.also)
        if major:
            text += f"; city command notified ({major})"
        if rule.note:
            text += f" ({rule.note})"
        return Decision(
            route=rule.route,
            station=station,
            targets=tuple(targets),
            rule=rule.name,
            explanation=text,
            also=rule.also,
            push_topic=self.push_topic if fraud else None,
            bridge_uri=bridge,
            transfer_uri=transfer,
            webhook_url=self.webhook_url if hotline else None,
        )

    def _city_command_reason(self, c: Classified) -> str | None:
        if c.severity >= self.city_command_severity:
            return f"severity {c.severity} ≥ {self.city_command_severity}"
        if _norm(c.type) in self.sensitive_types:
            return f"type '{c.type}' is sensitive"
        found = _first_in(c.keywords, self.sensitive_keywords)
        return f"keyword '{found}' is sensitive" if found is not None else None


_SHORT: Final[dict[Route, str]] = {
    "dispatch": "dispatch the nearest officer",
    "anti-fraud": "the anti-fraud centre",
    "12345": "the 12345 hotline",
    "local-station": "local station {station}",
}


def _describe(
    route: Route, c: Classified, station: str, topic: str, bridge: str | None, transfer: str | None
) -> str:
    if route == "dispatch":
        how = "three-way bridge" if c.caller_on_line else "caller gone, no bridge"
        return f"dispatch the nearest officer ({how})"
    if route == "anti-fraud":
        desk = ", its desk bridged into the call" if bridge else ""
        return f"anti-fraud centre first: push on {topic}{desk}"
    if route == "12345":
        how = f"call transferred to {transfer}" if transfer else "caller gone, no transfer"
        return f"12345 government hotline: {how}, ticket pushed with a receipt expected"
    if c.station:
        return f"local station {station}"
    return f"default station {station}, the location being unknown"


def _norm(text: str) -> str:
    return text.strip().casefold()


def _first_in(keywords: tuple[str, ...], wanted: frozenset[str]) -> str | None:
    return next((k for k in keywords if _norm(k) in wanted), None)


# -- loading -------------------------------------------------------------------------------------

_SETTINGS: Final = ("default_station", "city_command_severity", "sensitive_types")
_TOP: Final = (*_SETTINGS, "sensitive_keywords", "anti_fraud", "hotline_12345", "rules")
_RULE_KEYS: Final = ("name", "route", "also", "note", *_CONDITIONS)


def load_rules(path: str | Path) -> RuleSet:
    """Read and check a routing rules TOML file; raise RulesError naming file, line and key."""
    data, text = read_toml(path, RulesError)
    return _Loader(str(path), text).ruleset(data)


class _Loader:
    def __init__(self, file: str, text: str) -> None:
        self.file, self.text = file, text

    def error(self, keypath: Key, problem: str) -> RulesError:
        key = ".".join(map(str, keypath))
        return RulesError(self.file, locate(self.text, keypath), key, problem)

    def ruleset(self, data: dict[str, Any]) -> RuleSet:
        self.known(data, (), _TOP)
        fraud = self.table(data, "anti_fraud", ("push_topic", "bridge_uri"))
        hotline = self.table(data, "hotline_12345", ("transfer_uri", "webhook_url"))
        raw = data.get("rules")
        if not isinstance(raw, list) or not raw or not all(isinstance(r, dict) for r in raw):
            raise self.error(("rules",), "must be a non-empty array of tables ([[rules]])")
        rules = tuple(self.rule(r, i) for i, r in enumerate(raw))
        self.check_order(rules)
        return RuleSet(
            rules=rules,
            default_station=self.text_of(data, ("default_station",)),
            push_topic=self.text_of(fraud, ("anti_fraud", "push_topic")),
            bridge_uri=self.text_of(fraud, ("anti_fraud", "bridge_uri"), required=False) or None,
            transfer_uri=self.text_of(hotline, ("hotline_12345", "transfer_uri")),
            webhook_url=self.text_of(hotline, ("hotline_12345", "webhook_url")),
            city_command_severity=self.severity(data, ("city_command_severity",)) or 4,
            sensitive_types=self.words(data, ("sensitive_types",)) or frozenset(),
            sensitive_keywords=self.words(data, ("sensitive_keywords",)) or frozenset(),
        )

    def rule(self, raw: dict[str, Any], i: int) -> Rule:
        at: Key = ("rules", i)
        self.known(raw, at, _RULE_KEYS)
        also = self.routes(raw, (*at, "also"))
        route = self.routes(raw, (*at, "route"))[0]
        if route in also or len(set(also)) != len(also):
            raise self.error((*at, "also"), "must not repeat the route or itself")
        lists = {name: self.words(raw, (*at, name)) for name in _LISTS}
        on_line = raw.get("caller_on_line")
        if on_line is not None and not isinstance(on_line, bool):
            raise self.error((*at, "caller_on_line"), f"must be true or false, not {on_line!r}")
        return Rule(
            name=self.text_of(raw, (*at, "name")),
            route=route,
            also=also,
            note=self.text_of(raw, (*at, "note"), required=False),
            severity_at_least=self.severity(raw, (*at, "severity_at_least")),
            caller_on_line=on_line,
            **lists,
        )

    def check_order(self, rules: tuple[Rule, ...]) -> None:
        seen: dict[str, int] = {}
        for i, rule in enumerate(rules):
            if rule.name in seen:
                raise self.error(
                    ("rules", i, "name"), f"duplicate rule name (rules.{seen[rule.name]})"
                )
            seen[rule.name] = i
            if rule.catch_all and i != len(rules) - 1:
                problem = f"rule '{rule.name}' has no conditions, so the rules after it never match"
                raise self.error(("rules", i, "name"), problem)
        if not rules[-1].catch_all:
            problem = f"the last rule ('{rules[-1].name}') must be a catch-all (no conditions)"
            raise self.error(("rules", len(rules) - 1, "name"), problem)

    def known(self, table: dict[str, Any], at: Key, allowed: tuple[str, ...]) -> None:
        for key in table:
            if key not in allowed:
                raise self.error((*at, key), f"unknown key (known: {', '.join(allowed)})")

    def table(self, data: dict[str, Any], key: str, allowed: tuple[str, ...]) -> dict[str, Any]:
        value = data.get(key)
        if not isinstance(value, dict):
            raise self.error((key,), "must be a table" if key in data else "is required")
        self.known(value, (key,), allowed)
        return value

    def text_of(self, table: dict[str, Any], at: Key, required: bool = True) -> str:
        value = table.get(cast(str, at[-1]))
        if value is None and not required:
            return ""
        if value is None:
            raise self.error(at, "is required")
        if not isinstance(value, str) or (required and not value.strip()):
            raise self.error(at, f"must be a non-empty string, not {value!r}")
        return value

    def severity(self, table: dict[str, Any], at: Key) -> int | None:
        value = table.get(cast(str, at[-1]))
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            raise self.error(at, f"must be an integer 1..5, not {value!r}")
        if value is not None and not 1 <= value <= 5:
            raise self.error(at, f"must be 1..5, not {value}")
        return value

    def words(self, table: dict[str, Any], at: Key) -> frozenset[str] | None:
        value = table.get(cast(str, at[-1]))
        if value is None:
            return None
        if not isinstance(value, list) or not value:
            raise self.error(at, f"must be a non-empty list of strings, not {value!r}")
        if not all(isinstance(v, str) and v.strip() for v in value):
            raise self.error(at, f"must hold only non-empty strings, not {value!r}")
        return frozenset(_norm(v) for v in value)

    def routes(self, table: dict[str, Any], at: Key) -> tuple[Route, ...]:
        key = cast(str, at[-1])
        value = table.get(key, [] if key == "also" else None)
        if value is None:
            raise self.error(at, "is required")
        if key == "also" and not isinstance(value, list):
            raise self.error(at, f"must be a list of routes, not {value!r}")
        items = value if key == "also" else [value]
        for item in items:
            if item not in ROUTES:
                raise self.error(at, f"must be one of {', '.join(ROUTES)}, not {item!r}")
        return tuple(cast(Route, item) for item in items)
