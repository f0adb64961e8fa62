"""Errors of the engine's own making (configuration, start-up)."""

from __future__ import annotations


class ConfigError(Exception):
    """A configuration file is wrong; the message names the file, line and key."""

    def __init__(self, path: str, line: int, key: str, problem: str) -> None:
        self.path = path
        self.line = line
        self.key = key
        self.problem = problem
        where = f"{path}:{line}" if line else path
        super().__init__(f"{where}: {key}: {problem}" if key else f"{where}: {problem}")


class StartupError(Exception):
    """A part of the engine could not start (a port taken, Kamailio missing, ...)."""
