"""Credentials for test engines: a service token (named 'rest', an admin) and users with known
passwords, as an `engine.access.Access` or written as the access file of a settings file."""

from __future__ import annotations

from pathlib import Path

from engine.access import Access, Directory, Principal, User, hash_password, token_hash

TOKEN = "hotline110-test-service-token"
"""Only for throwaway test engines."""
AUTH = {"Authorization": f"Bearer {TOKEN}"}
Users = dict[str, tuple[str, str]]
"""name -> (role, password)."""


def directory(users: Users | None = None) -> Directory:
    return Directory(
        users={
            name: User(name=name, role=role, password=hash_password(password))
            for name, (role, password) in (users or {}).items()
        },
        tokens={token_hash(TOKEN): Principal(name="rest", role="admin", service=True)},
    )


def access(users: Users | None = None) -> Access:
    return Access(directory(users))


def access_file(path: Path, users: Users | None = None) -> Path:
    lines = [f'[[tokens]]\nname = "rest"\nrole = "admin"\nsha256 = "{token_hash(TOKEN)}"\n']
    for name, (role, password) in (users or {}).items():
        lines.append(
            f'[[users]]\nname = "{name}"\nrole = "{role}"\npassword = "{hash_password(password)}"\n'
        )
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
