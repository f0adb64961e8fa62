"""The peer tests' fixtures, for the browser tests (each test its own block of ports)."""

from tests.peers.conftest import ports as ports
