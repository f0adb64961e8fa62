"""engine.access: password hashes, the access file (mistakes named by file:line key), sessions
that end when idle, and the lock after repeated wrong passwords."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.access import (
    LOCK_S,
    MAX_FAILURES,
    Access,
    AccessError,
    hash_password,
    load_directory,
    token_hash,
    verify_password,
)
from engine.errors import ConfigError
from tests.access import TOKEN, access_file, directory


def test_passwords_are_salted_scrypt_hashes_that_verify() -> None:
    one, two = hash_password("correct horse"), hash_password("correct horse")
    assert one != two and one.startswith("scrypt$16384$8$1$")
    assert verify_password("correct horse", one) and verify_password("correct horse", two)
    assert not verify_password("correct hors", one)
    assert not verify_password("x", "plain-text") and not verify_password("x", "md5$1$2$3$4$5")


def test_the_access_file_round_trips(tmp_path: Path) -> None:
    path = access_file(
        tmp_path / "a.toml", {"li": ("call-taker", "pw-li-123"), "wu": ("admin", "pw")}
    )
    loaded = load_directory(path)
    assert {u.name: u.role for u in loaded.users.values()} == {"li": "call-taker", "wu": "admin"}
    assert loaded.tokens[token_hash(TOKEN)].service


@pytest.mark.parametrize(
    ("text", "line", "key", "words"),
    [
        ('[[users]]\nname = "a"\nrole = "boss"\npassword = "scrypt$1$2$3$4$5"\n', 3,
         "users.0.role", "one of call-taker"),
        ('[[users]]\nname = "a"\nrole = "admin"\npassword = "hunter2"\n', 4,
         "users.0.password", "a hash"),
        ('[[users]]\nrole = "admin"\npassword = "scrypt$1$2$3$4$5"\n', 1, "users.0.name",
         "required"),
        ('[[tokens]]\nname = "t"\nrole = "admin"\nsha256 = "abc"\n', 4, "tokens.0.sha256",
         "64 hex"),
        ('[[users]]\nname = "a"\nrole = "admin"\npassword = "scrypt$1$2$3$4$5"\nseat = "1"\n',
         5, "users.0.seat", "unknown key"),
        ('[people]\nname = "a"\n', 1, "people", "unknown section"),
        ('users = "x"\n', 1, "users", "array of tables"),
        ('[[users]]\nname = "a"\nrole = \n', 3, "", "not TOML"),
    ],
)  # fmt: skip
def test_mistakes_in_the_access_file_name_file_line_and_key(
    tmp_path: Path, text: str, line: int, key: str, words: str
) -> None:
    path = tmp_path / "users.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as error:
        load_directory(path)
    assert (error.value.line, error.value.key) == (line, key), error.value
    assert words in error.value.problem


def test_sessions_end_when_idle_or_at_log_out_and_tokens_are_services() -> None:
    now = [0.0]
    access = Access(directory({"li": ("call-taker", "pw-li-123")}), idle=60, clock=lambda: now[0])
    with pytest.raises(AccessError) as no_seat:
        access.log_in("li", "pw-li-123")
    assert no_seat.value.status_hint == 400
    token, who = access.log_in("li", "pw-li-123", seat="s7")
    assert (who.name, who.role, who.seat, who.actor) == ("li", "call-taker", "s7", "user:li")
    now[0] = 59.0
    assert access.session(token) == who  # used: the idle clock starts again
    now[0] = 118.0
    assert access.session(token) == who
    now[0] = 179.0
    assert access.session(token) is None
    token, _ = access.log_in("li", "pw-li-123", seat="s7")
    assert access.log_out(token) == who and access.session(token) is None
    service = access.service(TOKEN)
    assert service is not None and service.service and service.actor == "service:rest"
    assert access.service("guess") is None


def test_a_name_is_locked_for_a_minute_after_five_wrong_passwords() -> None:
    now = [0.0]
    access = Access(directory({"li": ("supervisor", "pw-li-123")}), clock=lambda: now[0])
    for _ in range(MAX_FAILURES):
        with pytest.raises(AccessError) as wrong:
            access.log_in("li", "nope")
        assert wrong.value.status_hint == 401
    with pytest.raises(AccessError) as locked:
        access.log_in("li", "pw-li-123")  # even the right password, while locked
    assert locked.value.status_hint == 429
    now[0] = LOCK_S + 1
    access.log_in("li", "pw-li-123")
    with pytest.raises(AccessError) as unknown:
        access.log_in("nobody", "pw")
    assert unknown.value.status_hint == 401 and "wrong user name or password" in str(unknown.value)
