"""Errors of the dispatch core: bad requests about officers, and a wrong city configuration."""

from __future__ import annotations


class DispatchError(Exception):
    """A request about officers or units cannot be carried out.

    `status_hint` tells a shell how to answer (h11's Local/Remote split): 404 an unknown
    officer or unit, 400 an invalid value, 409 a conflict with the current state.
    """

    def __init__(self, message: str, status_hint: int = 400) -> None:
        super().__init__(message)
        self.status_hint = status_hint


class CityError(Exception):
    """The city configuration is wrong; the message names the file, line and key.

    Formatted exactly like `engine.errors.ConfigError`: ``path:line: key: problem`` (line 0
    gives just ``path``; an empty key is left out).
    """

    def __init__(self, path: str, line: int, key: str, problem: str) -> None:
        self.path = path
        self.line = line
        self.key = key
        self.problem = problem
        where = f"{path}:{line}" if line else path
        super().__init__(f"{where}: {key}: {problem}" if key else f"{where}: {problem}")


class AreaError(ValueError):
    """A GeoJSON feature is wrong. `dispatch.city` turns it into a `CityError` naming the file.

    `layer` is "grid" or "stations", `index` the feature's position in its collection (-1 for
    the collection itself), `key` a path such as ``features[3].properties.station``.
    """

    def __init__(self, layer: str, index: int, key: str, problem: str) -> None:
        self.layer = layer
        self.index = index
        self.key = key
        self.problem = problem
        super().__init__(f"{layer}: {key}: {problem}")
