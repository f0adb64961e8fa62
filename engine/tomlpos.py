"""Find the line of a key in TOML text, so configuration errors can say `file:line`.

tomllib gives values without positions. Config files are plain (tables, arrays of tables,
`key = value` lines), so a line scan that tracks the current table is enough; when a key
cannot be found the line of its table (or 0) is returned rather than a wrong guess.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from engine.errors import ConfigError

_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(?:#.*)?$")
_KEY = re.compile(r"""^\s*("?)([A-Za-z0-9_\-]+)\1\s*=""")


def read_toml(
    path: str | Path, error: type[ConfigError] = ConfigError
) -> tuple[dict[str, Any], str]:
    """A config file's data and text; `error` (file, line, '', problem) when it cannot be read,
    is not UTF-8, or is not TOML (with the line tomllib names)."""
    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise error(file, 0, "", f"cannot read: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise error(file, 0, "", f"not UTF-8: {exc.reason}") from None
    try:
        return tomllib.loads(text), text
    except tomllib.TOMLDecodeError as exc:
        found = re.search(r"at line (\d+)", str(exc))
        line = int(found.group(1)) if found else 0
        raise error(file, line, "", f"not TOML: {exc}") from None


def locate(text: str, keypath: tuple[str | int, ...]) -> int:
    """1-based line of `keypath` (names and array indexes), or of its table, or 0."""
    names = [part for part in keypath if isinstance(part, str)]
    if not names:
        return 0
    table_path, key = _split(keypath)
    want_index = _array_index(keypath)
    current: tuple[str, ...] = ()
    counts: dict[tuple[str, ...], int] = {}
    current_index = -1
    table_line = 0
    for number, line in enumerate(text.splitlines(), start=1):
        header = _HEADER.match(line)
        if header:
            current = tuple(part.strip().strip('"') for part in header.group(2).split("."))
            if header.group(1) == "[[":
                counts[current] = counts.get(current, -1) + 1
                current_index = counts[current]
            else:
                current_index = -1
            if current == table_path and (want_index is None or want_index == current_index):
                table_line = number
            if current == (*table_path, key):
                return number  # the key names a table of its own
            continue
        match = _KEY.match(line)
        if not match or current != table_path:
            continue
        if want_index is not None and want_index != current_index:
            continue
        if match.group(2) == key:
            return number
    if not table_line and len(keypath) > 1:
        # a key inside an inline table (skills = { video = 0 }): the line of its parent key
        return locate(text, keypath[:-1])
    return table_line


def _split(keypath: tuple[str | int, ...]) -> tuple[tuple[str, ...], str]:
    """Table path and final key; array indexes are dropped (they are matched separately)."""
    parts = [part for part in keypath if isinstance(part, str)]
    if keypath and isinstance(keypath[-1], int):
        # an item inside a list value: report the line of the list's key
        return tuple(parts[:-1]), parts[-1]
    return tuple(parts[:-1]), parts[-1]


def _array_index(keypath: tuple[str | int, ...]) -> int | None:
    """Index into an array of tables, when the path goes through one (e.g. seats.3.id)."""
    for position, part in enumerate(keypath[:-1]):
        if isinstance(part, int) and position > 0:
            return part
    return None
