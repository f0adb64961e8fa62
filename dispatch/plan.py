"""Who the ladder calls, in order: the ranked officers, then duty phones up the chain.

R16: an officer who cannot be reached → "immediately call their unit, then the unit's
superior". The plan is the nearest `max_officers` available officers (from `Force.rank`),
then the duty phone of the first-ranked officer's unit, then the duty phones of the units
above it, all the way up (a city command desk is better than nobody). With no officer
available, the unit is the one whose officers patrol the incident's grid cell.
"""

from __future__ import annotations

from collections import Counter

from dispatch.force import Candidate, Force
from dispatch.ladder import Kind, Target


class DialError(ValueError):
    """An officer or unit phone cannot be turned into a SIP URI."""


def dial_uri(phone: str, gateway: str) -> str:
    """A SIP URI for an officer's or a duty phone: SIP URIs as they are; numbers through the
    configured gateway (the carrier trunk or a PSTN/radio gateway)."""
    phone = phone.strip()
    if phone.startswith(("sip:", "sips:")):
        return phone
    digits = phone.removeprefix("+")
    if not digits or not all(ch.isdigit() or ch in "*#" for ch in digits):
        raise DialError(f"{phone!r} is neither a SIP URI nor a phone number")
    if not gateway:
        raise DialError(f"{phone!r} is a number and no dispatch.gateway is configured")
    return f"sip:{phone}@{gateway}"


def officer_rungs(candidates: list[Candidate], max_officers: int, gateway: str) -> list[Target]:
    """The nearest `max_officers` officers, in rank."""
    return [
        Target(
            kind=Kind.OFFICER,
            ident=c.officer_id,
            name=c.name,
            uri=dial_uri(c.phone, gateway),
            distance_m=c.distance_m,
            eta_s=c.eta_s,
        )
        for c in candidates[:max_officers]
    ]


def chosen_rung(officer_id: str, name: str, phone: str, gateway: str) -> Target:
    """A rung for an officer the call-taker picked by name."""
    return Target(kind=Kind.OFFICER, ident=officer_id, name=name, uri=dial_uri(phone, gateway))


def duty_rungs(force: Force, unit_id: str | None, gateway: str) -> list[Target]:
    """The unit's duty phone, then those up its chain of command."""
    if unit_id is None:
        return []
    targets = []
    for step, unit in enumerate(force.duty_chain(unit_id)):
        if unit.duty_phone:
            targets.append(
                Target(
                    kind=Kind.DUTY_PHONE if step == 0 else Kind.SUPERIOR,
                    ident=unit.id,
                    name=f"{unit.name} duty phone",
                    uri=dial_uri(unit.duty_phone, gateway),
                )
            )
    return targets


def unit_of_cell(force: Force, grid: str | None, now: float) -> str | None:
    """With no officer to rank: the unit most of whose officers are assigned to the cell."""
    if grid is None:
        return None
    units = Counter(view.unit for view in force.officers(now) if view.grid == grid)
    return units.most_common(1)[0][0] if units else None
