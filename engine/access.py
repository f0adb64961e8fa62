"""Who may do what (R14, R20): users and their roles, sessions, service tokens.

Call-takers, supervisors and admins log in with a name and password (and a call-taker with the
seat they sit at) and get a session: a random token in an HttpOnly, SameSite=Strict cookie,
held here and dropped after `idle` seconds without use or at log-out. Machines (officer
terminals, the demo, test rigs) use a service token: `Authorization: Bearer <token>`. Users
and tokens live in a TOML file (`access.users`); only scrypt hashes of passwords and SHA-256
hashes of tokens are stored there. Five wrong passwords in a row lock the name for a minute.

This module knows nothing of HTTP: `engine.http_access` puts it in front of the REST API.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.errors import ConfigError
from engine.tomlpos import locate, read_toml

ROLES = ("call-taker", "supervisor", "admin")
_RANK = {role: rank for rank, role in enumerate(ROLES)}
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
MAX_FAILURES, LOCK_S = 5, 60.0


class AccessError(Exception):
    """A request the access rules refuse; `status_hint` is the HTTP status to answer."""

    def __init__(self, message: str, status_hint: int = 403) -> None:
        super().__init__(message)
        self.status_hint = status_hint


@dataclass(frozen=True, slots=True)
class User:
    name: str
    role: str
    password: str
    """scrypt$N$r$p$salt$hash (base64), from `hash_password`."""


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is asking: a logged-in person, or a service token."""

    name: str
    role: str
    seat: str = ""
    """The seat a call-taker logged in at ('' for supervisors, admins and services)."""
    service: bool = False

    def at_least(self, role: str) -> bool:
        return _RANK[self.role] >= _RANK[role]

    @property
    def actor(self) -> str:
        """How the audit trail names this principal."""
        return f"{'service' if self.service else 'user'}:{self.name}"


@dataclass(slots=True)
class _Session:
    principal: Principal
    last_seen: float


@dataclass(slots=True)
class _Failures:
    count: int = 0
    locked_until: float = 0.0


def hash_password(password: str, salt: bytes | None = None) -> str:
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32
    )
    b64 = base64.b64encode
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, encoded: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = encoded.split("$")
        if scheme != "scrypt":
            return False
        want = base64.b64decode(digest)
        got = hashlib.scrypt(
            password.encode(),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(want),
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, want)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(slots=True)
class Directory:
    """The users and service tokens of the access file."""

    users: dict[str, User] = field(default_factory=dict)
    tokens: dict[str, Principal] = field(default_factory=dict)
    """SHA-256 hex of the token -> the service it stands for."""


def load_directory(path: Path) -> Directory:
    """Read the access file; raise ConfigError naming file, line and key on any mistake."""
    data, text = read_toml(path)

    def fail(key: tuple[str | int, ...], message: str) -> ConfigError:
        dotted = ".".join(str(k) for k in key)
        return ConfigError(str(path), locate(text, key), dotted, message)

    directory = Directory()
    for section in data:
        if section not in ("users", "tokens"):
            raise fail((section,), "unknown section (users, tokens)")
    for index, entry in enumerate(_tables(data, "users", fail)):
        name, role, password = (_field(entry, k, ("users", index), fail) for k in _USER_KEYS)
        if role not in ROLES:
            raise fail(("users", index, "role"), f"must be one of {', '.join(ROLES)}")
        if not password.startswith("scrypt$") or password.count("$") != 5:
            raise fail(("users", index, "password"), "must be a hash from `hotline110 add-user`")
        if name in directory.users:
            raise fail(("users", index, "name"), f"user {name!r} appears twice")
        directory.users[name] = User(name=name, role=role, password=password)
    for index, entry in enumerate(_tables(data, "tokens", fail)):
        name, role, digest = (_field(entry, k, ("tokens", index), fail) for k in _TOKEN_KEYS)
        if role not in ROLES:
            raise fail(("tokens", index, "role"), f"must be one of {', '.join(ROLES)}")
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise fail(("tokens", index, "sha256"), "must be the token's SHA-256, 64 hex digits")
        directory.tokens[digest] = Principal(name=name, role=role, service=True)
    return directory


_USER_KEYS = ("name", "role", "password")
_TOKEN_KEYS = ("name", "role", "sha256")


def _tables(data: dict[str, Any], key: str, fail: Callable[..., ConfigError]) -> list[Any]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise fail((key,), f"must be an array of tables ([[{key}]])")
    return value


def _field(
    entry: dict[str, Any], key: str, where: tuple[str | int, ...], fail: Callable[..., ConfigError]
) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value.strip():
        raise fail((*where, key), "is required (a non-empty string)")
    unknown = set(entry) - {*_USER_KEYS, *_TOKEN_KEYS}
    if unknown:
        raise fail((*where, sorted(unknown)[0]), "unknown key")
    return value.strip()


class Access:
    """Sessions over a `Directory` (see the module docstring)."""

    def __init__(
        self,
        directory: Directory,
        *,
        idle: float = 12 * 3600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.directory = directory
        self.idle = idle
        self.clock = clock
        self._sessions: dict[str, _Session] = {}
        self._failures: dict[str, _Failures] = {}
        self._consoles: dict[str, int] = {}
        """Seat -> how many of its consoles have the live stream open now."""

    def log_in(self, name: str, password: str, seat: str = "") -> tuple[str, Principal]:
        """A new session for a person; AccessError 401 on a wrong name or password, 429 while
        the name is locked, 400 for a call-taker without a seat."""
        now = self.clock()
        failures = self._failures.setdefault(name, _Failures())
        if failures.locked_until > now:
            wait = failures.locked_until - now
            raise AccessError(f"too many failed log-ins: try again in {wait:.0f} s", 429)
        user = self.directory.users.get(name)
        if user is None or not verify_password(password, user.password):
            failures.count += 1
            if failures.count >= MAX_FAILURES:
                failures.count, failures.locked_until = 0, now + LOCK_S
            raise AccessError("wrong user name or password", 401)
        self._failures.pop(name, None)
        if user.role == "call-taker" and not seat:
            raise AccessError("a call-taker logs in at a seat: give 'seat'", 400)
        principal = Principal(name=name, role=user.role, seat=seat)
        token = secrets.token_urlsafe(32)
        self._sessions[token] = _Session(principal, now)
        return token, principal

    def log_out(self, token: str) -> Principal | None:
        session = self._sessions.pop(token, None)
        return None if session is None else session.principal

    def session(self, token: str) -> Principal | None:
        session = self._sessions.get(token)
        if session is None:
            return None
        now = self.clock()
        if now - session.last_seen > self.idle:
            del self._sessions[token]
            return None
        session.last_seen = now
        return session.principal

    def service(self, token: str) -> Principal | None:
        return self.directory.tokens.get(token_hash(token))

    def seats(self) -> set[str]:
        """Seats where a call-taker has a live session (the text desk offers texts there)."""
        now = self.clock()
        return {
            s.principal.seat
            for s in self._sessions.values()
            if s.principal.seat and now - s.last_seen <= self.idle
        }

    def console_opened(self, seat: str) -> None:
        """A console of `seat` opened the live stream (engine.http_stream): someone watches."""
        if seat:
            self._consoles[seat] = self._consoles.get(seat, 0) + 1

    def console_closed(self, seat: str) -> None:
        """That stream ended (the tab closed, the browser crashed or lost the network)."""
        left = self._consoles.get(seat, 0) - 1
        if left > 0:
            self._consoles[seat] = left
        else:
            self._consoles.pop(seat, None)

    def consoles(self) -> set[str]:
        """Seats with a console watching right now: the only ones offered texts. A session
        alone says nothing (it lives `idle` s after the last request, 12 h by default)."""
        return set(self._consoles)
