"""incidents.rules: the routing table, case by case; the shipped config; file:line:key errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, strategies as st

from engine.errors import ConfigError
from engine.settings import PACKAGE_ROOT
from incidents.rules import (
    CITY_COMMAND,
    ROUTES,
    Classified,
    Decision,
    Rule,
    RulesError,
    RuleSet,
    load_rules,
)

SHIPPED = PACKAGE_ROOT / "config" / "routing.toml"
RULES = load_rules(SHIPPED)

MINIMAL = """\
default_station = "S-nw"
[anti_fraud]
push_topic = "af"
[hotline_12345]
transfer_uri = "sip:12345@x"
webhook_url = "http://x/t"
[[rules]]
name = "police"
category = ["police"]
route = "dispatch"
[[rules]]
name = "rest"
route = "local-station"
"""


def decide(**fields: Any) -> Decision:
    return RULES.decide(Classified(**fields))


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "routing.toml"
    path.write_text(text, encoding="utf-8")
    return path


# -- the routing table, case by case ------------------------------------------------------------


def test_police_goes_to_dispatch() -> None:
    d = decide(category="police", type="theft", severity=2, station="S-se", county="C-east")
    assert d == Decision(
        route="dispatch",
        station="S-se",
        targets=("station:S-se", "county:C-east", "city"),
        rule="police",
        explanation="rule 'police': category police → dispatch the nearest officer"
        " (three-way bridge) (R6)",
    )


def test_fraud_goes_to_the_anti_fraud_centre_first_with_its_desk() -> None:
    d = decide(category="fraud", type="telecom-fraud", severity=3, station="S-ne")
    assert (d.route, d.rule, d.also) == ("anti-fraud", "fraud-first", ())
    assert d.push_topic == "hotline110/anti-fraud/cases"
    assert d.bridge_uri == "sip:anti-fraud-desk@127.0.0.1"
    assert d.transfer_uri is None and d.webhook_url is None
    assert "anti-fraud centre first" in d.explanation and "(R9)" in d.explanation


def test_fraud_with_violence_also_dispatches() -> None:
    d = decide(category="fraud", severity=3, keywords=("transfer", "Knife"), station="S-ne")
    assert (d.route, d.also, d.rule) == ("anti-fraud", ("dispatch",), "fraud-with-violence")
    assert "keyword 'Knife'" in d.explanation and "also dispatch" in d.explanation


def test_fraud_by_type_under_another_category() -> None:
    d = decide(category="police", type="Investment-Scam", severity=2)
    assert (d.route, d.rule) == ("anti-fraud", "fraud-by-type")


def test_fraud_with_the_caller_gone_pushes_without_a_bridge() -> None:
    d = decide(category="fraud", severity=2, caller_on_line=False)
    assert d.push_topic == "hotline110/anti-fraud/cases" and d.bridge_uri is None


def test_non_police_goes_to_12345_with_transfer_and_ticket() -> None:
    d = decide(category="non-police", type="noise-complaint", severity=1, station="S-sw")
    assert (d.route, d.rule) == ("12345", "non-police")
    assert d.transfer_uri == "sip:12345@127.0.0.1"
    assert d.webhook_url == "http://127.0.0.1:8345/tickets"
    assert "call transferred to sip:12345@127.0.0.1" in d.explanation


def test_non_police_with_the_caller_gone_is_a_ticket_only() -> None:
    d = decide(category="non-police", caller_on_line=False)
    assert d.route == "12345" and d.transfer_uri is None and d.webhook_url is not None


def test_unclear_goes_to_the_station_of_the_location() -> None:
    d = decide(category="unclear", severity=2, grid="G-7-7", station="S-se", county="C-east")
    assert (d.route, d.station, d.rule) == ("local-station", "S-se", "unclear-jurisdiction")
    assert d.targets == ("station:S-se", "county:C-east", "city")
    assert "local station S-se" in d.explanation


def test_unclear_without_a_location_goes_to_the_default_station() -> None:
    d = decide(category="unclear", severity=2)
    assert (d.route, d.station, d.targets) == ("local-station", "S-nw", ("station:S-nw", "city"))
    assert "default station S-nw" in d.explanation


def test_an_unknown_category_falls_to_the_catch_all() -> None:
    d = decide(category="lost-property", severity=1, station="S-ne")
    assert (d.route, d.rule, d.station) == ("local-station", "anything-else", "S-ne")
    assert "no earlier rule matched" in d.explanation


def test_an_unknown_but_severe_category_is_dispatched() -> None:
    assert decide(category="lost-property", severity=4).rule == "severe-unknown"


@pytest.mark.parametrize(
    ("fields", "why"),
    [
        ({"category": "police", "severity": 4}, "severity 4 ≥ 4"),
        ({"category": "police", "severity": 2, "type": "Robbery"}, "type 'Robbery' is sensitive"),
        ({"category": "unclear", "keywords": ("bomb",)}, "keyword 'bomb' is sensitive"),
        ({"category": "police", "keywords": ("抢劫",)}, "keyword '抢劫' is sensitive"),
    ],
)
def test_major_or_sensitive_incidents_reach_the_city_command(
    fields: dict[str, Any], why: str
) -> None:
    d = decide(**fields)
    assert d.targets[-1] == CITY_COMMAND
    assert f"city command notified ({why})" in d.explanation


def test_an_ordinary_incident_stays_off_the_city_command() -> None:
    assert CITY_COMMAND not in decide(category="police", severity=3, type="theft").targets


def test_rule_conditions_on_place_severity_and_caller() -> None:
    ruleset = RuleSet(
        rules=(
            Rule(name="airport", route="dispatch", station=frozenset({"s-ap"})),
            Rule(
                name="east-severe",
                route="dispatch",
                county=frozenset({"c-east"}),
                severity_at_least=3,
            ),
            Rule(name="gone", route="12345", caller_on_line=False),
            Rule(name="rest", route="local-station"),
        ),
        default_station="S-nw",
        push_topic="af",
        bridge_uri=None,
        transfer_uri="sip:12345@x",
        webhook_url="http://x/t",
    )
    assert ruleset.decide(Classified(category="x", station="S-AP")).rule == "airport"
    east = Classified(category="x", county="C-east", severity=3)
    assert ruleset.decide(east).explanation.startswith(
        "rule 'east-severe': severity 3 ≥ 3, county C-east → dispatch"
    )
    assert ruleset.decide(Classified(category="x", county="C-east")).rule == "rest"
    assert ruleset.decide(Classified(category="x", caller_on_line=False)).rule == "gone"
    assert ruleset.decide(Classified(category="x")).rule == "rest"


def test_a_ruleset_without_a_final_catch_all_cannot_be_built() -> None:
    with pytest.raises(ValueError, match="catch-all"):
        RuleSet(
            rules=(Rule(name="p", route="dispatch", category=frozenset({"police"})),),
            default_station="S",
            push_topic="t",
            bridge_uri=None,
            transfer_uri="u",
            webhook_url="w",
        )


def test_severity_outside_1_to_5_is_refused() -> None:
    with pytest.raises(ValueError, match="severity"):
        Classified(category="police", severity=0)


# -- loading -------------------------------------------------------------------------------------


def test_the_shipped_config_loads() -> None:
    assert [r.name for r in RULES.rules][-1] == "anything-else"
    assert RULES.rules[-1].catch_all and not any(r.catch_all for r in RULES.rules[:-1])
    assert RULES.city_command_severity == 4 and "kidnapping" in RULES.sensitive_types
    assert RULES.default_station == "S-nw"


def test_a_minimal_config_loads_without_a_desk(tmp_path: Path) -> None:
    ruleset = load_rules(write(tmp_path, MINIMAL))
    assert ruleset.bridge_uri is None and ruleset.sensitive_keywords == frozenset()
    assert ruleset.decide(Classified(category="Police")).route == "dispatch"


@pytest.mark.parametrize(
    ("old", "new", "line", "key", "problem"),
    [
        ('route = "dispatch"', 'route = "dispatch"\nroute_to = "x"', 11, "rules.0.route_to",
         "unknown key"),
        ('route = "dispatch"', 'route = "dispatsch"', 10, "rules.0.route",
         "must be one of dispatch, anti-fraud, 12345, local-station, not 'dispatsch'"),
        ('route = "dispatch"', 'route = "dispatch"\nalso = ["123456"]', 11, "rules.0.also",
         "not '123456'"),
        ('route = "dispatch"', 'route = "dispatch"\nalso = "dispatch"', 11, "rules.0.also",
         "must be a list of routes"),
        ('route = "local-station"', 'route = "local-station"\nseverity_at_least = 5', 12,
         "rules.1.name", "the last rule ('rest') must be a catch-all"),
        ('name = "police"\ncategory = ["police"]', 'name = "police"', 8, "rules.0.name",
         "has no conditions, so the rules after it never match"),
        ('category = ["police"]', 'category = "police"', 9, "rules.0.category",
         "must be a non-empty list of strings"),
        ('category = ["police"]', "category = []", 9, "rules.0.category", "must be a non-empty"),
        ('category = ["police"]', "severity_at_least = 9", 9, "rules.0.severity_at_least",
         "must be 1..5, not 9"),
        ('category = ["police"]', 'severity_at_least = "4"', 9, "rules.0.severity_at_least",
         "must be an integer"),
        ('category = ["police"]', "caller_on_line = 1", 9, "rules.0.caller_on_line",
         "must be true or false"),
        ('name = "rest"', 'name = "police"', 12, "rules.1.name", "duplicate rule name (rules.0)"),
        ('push_topic = "af"', "push_topic = 7", 3, "anti_fraud.push_topic",
         "must be a non-empty string, not 7"),
        ('webhook_url = "http://x/t"\n', "", 4, "hotline_12345.webhook_url", "is required"),
        ('default_station = "S-nw"', 'default_station = "S-nw"\ndefault_stations = 1', 2,
         "default_stations", "unknown key"),
        ('[anti_fraud]\npush_topic = "af"', 'anti_fraud = "af"', 2, "anti_fraud",
         "must be a table"),
    ],
)  # fmt: skip
def test_bad_configs_name_file_line_and_key(
    tmp_path: Path, old: str, new: str, line: int, key: str, problem: str
) -> None:
    assert old in MINIMAL
    path = write(tmp_path, MINIMAL.replace(old, new, 1))
    with pytest.raises(RulesError) as info:
        load_rules(path)
    assert (info.value.path, info.value.line, info.value.key) == (str(path), line, key)
    assert problem in info.value.problem
    assert str(info.value).startswith(f"{path}:{line}: {key}: ")


def test_not_toml_and_missing_files_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"routing.toml:2: not TOML"):
        load_rules(write(tmp_path, 'default_station = "S"\nrules = = 1\n'))
    with pytest.raises(ConfigError, match="cannot read"):
        load_rules(tmp_path / "missing.toml")


# -- every classification gets exactly one decision --------------------------------------------

words = st.sampled_from(["police", "fraud", "non-police", "unclear", "Knife", "bomb", "抢劫"])
texts = st.one_of(words, st.text(max_size=12))
places = st.one_of(st.none(), st.sampled_from(["S-nw", "S-se", "C-east"]), st.text(max_size=6))
classified = st.builds(
    Classified,
    category=texts,
    type=texts,
    severity=st.integers(1, 5),
    keywords=st.lists(texts, max_size=4).map(tuple),
    grid=places,
    station=places,
    county=places,
    caller_on_line=st.booleans(),
)


@given(classified)
def test_every_classification_gets_exactly_one_explained_decision(c: Classified) -> None:
    d = RULES.decide(c)
    first = next(r for r in RULES.rules if r.reasons(c) is not None)
    assert d.rule == first.name and d.route == first.route and d.route in ROUTES
    assert d.explanation.startswith(f"rule '{d.rule}': ") and len(d.explanation) > 20
    assert d.station == (c.station or RULES.default_station)
    assert d.targets[0] == f"station:{d.station}" and "city" in d.targets
    assert RULES.decide(c) == d  # deterministic
