"""sip.messages: every message survives the wire; garbage is refused with MessageError."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from sip import messages as msg

ALL = (*msg.MEMBER_EVENTS, *msg.ENGINE_COMMANDS)


def sample(cls: type[msg.Message], data: st.DataObject) -> msg.Message:
    values: dict[str, object] = {}
    for f in dataclasses.fields(cls):
        hint = str(f.type)
        if hint == "int":
            values[f.name] = data.draw(st.integers(-(2**31), 2**31))
        elif hint == "float":
            values[f.name] = data.draw(st.floats(allow_nan=False, allow_infinity=False))
        elif hint == "bool":
            values[f.name] = data.draw(st.booleans())
        elif hint == "str":
            values[f.name] = data.draw(st.text(max_size=40))
        else:  # location: an optional small JSON object
            values[f.name] = data.draw(
                st.none() | st.dictionaries(st.text(max_size=8), st.floats(-90, 90), max_size=3)
            )
    return cls(**values)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_roundtrip(data: st.DataObject) -> None:
    cls = data.draw(st.sampled_from(ALL))
    message = sample(cls, data)
    line = msg.encode(message)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert msg.decode(line) == message


@pytest.mark.parametrize(
    "line",
    [
        b"not json\n",
        b"[1, 2]\n",
        b'{"type": "Nope"}\n',
        b'{"type": "RingSeat", "seat_id": "1"}\n',
        b'{"type": "RingSeat", "seat_id": "1", "uri": "sip:x", "evil": 1}\n',
        b"\xff\xfe\n",
        b'{"type": "Stop"}' + b" " * msg.MAX_LINE + b"\n",
    ],
)
def test_garbage_is_refused(line: bytes) -> None:
    with pytest.raises(msg.MessageError):
        msg.decode(line)
