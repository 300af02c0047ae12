"""Moved to tests/support/upstreams.py; this name stays for tests written before the move."""

from tests.support.upstreams import ANSWER_EVENT, ODD_EVENTS, SLOW_SECONDS, FaultyServer, HeldStream

__all__ = ["ANSWER_EVENT", "ODD_EVENTS", "SLOW_SECONDS", "FaultyServer", "HeldStream"]
